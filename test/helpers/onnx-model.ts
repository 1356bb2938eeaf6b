/**
 * Small ONNX models built by hand in protobuf (onnx-proto) for the importer tests (onnx-import.test.ts,
 * onnx-import-hand-built.test.ts): tensors, value infos, attributes, a model around them, and two ready
 * models (one Relu at a given opset; Relu → LRN, an op naflow does not support).
 */
import onnxProto from 'onnx-proto';

const { onnx } = onnxProto;

/** ONNX tensor element type codes. */
export const T = onnx.TensorProto.DataType;

export function tensorProto(name: string, dims: number[], values: number[], dataType = T.FLOAT) {
  const p = onnx.TensorProto.create({ name, dims, dataType });
  if (dataType === T.FLOAT) p.floatData = values;
  else if (dataType === T.INT64) p.int64Data = values;
  else p.int32Data = values;
  return p;
}

export function valueInfo(name: string, dims: Array<number | string>) {
  return onnx.ValueInfoProto.create({
    name,
    type: {
      tensorType: {
        elemType: T.FLOAT,
        shape: { dim: dims.map((d) => (typeof d === 'number' ? { dimValue: d } : { dimParam: d })) },
      },
    },
  });
}

export function attr(name: string, v: number | number[] | string) {
  const A = onnx.AttributeProto.AttributeType;
  if (typeof v === 'string') return onnx.AttributeProto.create({ name, type: A.STRING, s: new TextEncoder().encode(v) });
  if (Array.isArray(v)) return onnx.AttributeProto.create({ name, type: A.INTS, ints: v });
  return Number.isInteger(v) ? onnx.AttributeProto.create({ name, type: A.INT, i: v }) : onnx.AttributeProto.create({ name, type: A.FLOAT, f: v });
}

export function encodeModel(opset: number, nodes: object[], inits: object[], inputs: object[], outputs: object[]): Uint8Array {
  const m = onnx.ModelProto.create({
    irVersion: 8,
    producerName: 'naflow-test',
    opsetImport: [{ domain: '', version: opset }],
    graph: { name: 'g', node: nodes, initializer: inits, input: inputs, output: outputs },
  });
  return onnx.ModelProto.encode(m).finish();
}

export function minimalModel(opset: number): Uint8Array {
  return encodeModel(
    opset,
    [onnx.NodeProto.create({ name: 'r', opType: 'Relu', input: ['x'], output: ['y'] })],
    [],
    [valueInfo('x', [1, 2, 4, 4])],
    [valueInfo('y', [1, 2, 4, 4])],
  );
}

export function lrnModel(): Uint8Array {
  return encodeModel(
    13,
    [
      onnx.NodeProto.create({ name: 'relu', opType: 'Relu', input: ['x'], output: ['r'] }),
      onnx.NodeProto.create({ name: 'my_lrn', opType: 'LRN', input: ['r'], output: ['y'], attribute: [attr('size', 3)] }),
    ],
    [],
    [valueInfo('x', [1, 4, 4, 4])],
    [valueInfo('y', [1, 4, 4, 4])],
  );
}

/**
 * `naflow explain`, spawned as a user would run it (`node bin/naflow.js explain …`): the output folder
 * (flow.json, raw .npy maps, per-layer PNGs, flow strip, GIF), `--json`, `--input-tensor`, and the
 * errors (unsupported ops, undecodable images, bad options) — which leave nothing in `--out`.
 */
import '../src/node/register.js'; // the Node adapters: onnxruntime-node, the wasm-threads shim, sharp
import test from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import onnxProto from 'onnx-proto';
import { PACKAGE_ROOT, DEFAULT_IMAGE, DEFAULT_MODEL } from '../src/defaults.js';
import { decodeImage } from '../src/node/decode-image.js';
import { normalisePixels } from '../src/image/preprocess.js';
import { encodeNpy } from '../src/util/npy.js';
import type { ModelCard } from '../src/model/card.js';
import { modelSha256 } from '../src/node/hash.js';
import { naflow, type Run } from './helpers/run-cli.js';

const { onnx } = onnxProto;

const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'naflow-explain-cli-'));
test.after(() => fs.rmSync(tmp, { recursive: true, force: true }));

const assertNoStack = (r: Run) => assert.doesNotMatch(r.stderr, /\n\s+at /, `no stack trace expected:\n${r.stderr}`);

/** A fresh, empty folder; `--out` goes inside it so that anything left beside it shows. */
function freshParent(name: string): string {
  const dir = path.join(tmp, name);
  fs.mkdirSync(dir);
  return dir;
}

/** Nothing written: the out folder does not exist and no `.partial-` folder remains beside it. */
function assertNothingLeft(parent: string, out: string): void {
  assert.equal(fs.existsSync(out), false, `${out} must not exist after a failure`);
  assert.deepEqual(fs.readdirSync(parent), [], `nothing left beside ${out} (e.g. a .partial- folder)`);
}

interface FlowJsonLayer {
  index: number;
  name: string;
  node: string;
  op: string;
  shape: [number, number, number];
  kept: number;
  npy: string;
  png: string | null;
  min: number;
  max: number;
}

interface FlowJson {
  mode: string;
  decision: { classIndex: number; label: string | null; id: string | null; score: number };
  image: { file: string | null };
  model: { file: string | null; sha256: string | null };
  trunkEnd: string;
  layers: FlowJsonLayer[];
}

/** Parse a .npy file's header by hand (independent of naflow's reader): dtype, shape and the values. */
function readNpyStrict(file: string): { descr: string; shape: number[]; values: Float32Array } {
  const buf = fs.readFileSync(file);
  assert.deepEqual([...buf.subarray(0, 6)], [0x93, 0x4e, 0x55, 0x4d, 0x50, 0x59], `${file}: .npy magic`);
  const major = buf[6];
  assert.ok(major >= 1 && major <= 3, `${file}: .npy version ${major}`);
  const headerLen = major === 1 ? buf.readUInt16LE(8) : buf.readUInt32LE(8);
  const start = (major === 1 ? 10 : 12) + headerLen;
  const header = buf.subarray(major === 1 ? 10 : 12, start).toString('latin1');
  assert.ok(header.endsWith('\n'), `${file}: header ends with a newline`);
  assert.equal(start % 16, 0, `${file}: data aligned`);
  const descr = /'descr':\s*'([^']+)'/.exec(header)?.[1];
  assert.match(header, /'fortran_order':\s*False/, `${file}: C order`);
  const shapeText = /'shape':\s*\(([^)]*)\)/.exec(header)?.[1];
  assert.ok(descr && shapeText !== undefined, `${file}: header ${header}`);
  const shape = shapeText
    .split(',')
    .map((s) => s.trim())
    .filter(Boolean)
    .map(Number);
  const n = shape.reduce((a, b) => a * b, 1);
  assert.equal(buf.length - start, 4 * n, `${file}: ${n} float32 values`);
  const values = new Float32Array(n);
  for (let i = 0; i < n; i++) values[i] = buf.readFloatLE(start + 4 * i);
  return { descr, shape, values };
}

const PNG_MAGIC = [0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a];

function pngSize(file: string): [number, number] {
  const b = fs.readFileSync(file);
  assert.deepEqual([...b.subarray(0, 8)], PNG_MAGIC, `${file}: PNG signature`);
  assert.equal(b.subarray(12, 16).toString('latin1'), 'IHDR');
  return [b.readUInt32BE(16), b.readUInt32BE(20)];
}

test('explain --out DIR on the bundled default: flow.json, a float32 H×W .npy per layer, PNGs, strip, GIF', async (t) => {
  const parent = freshParent('default');
  const out = path.join(parent, 'flow');
  const t0 = Date.now();
  const r = await naflow(['explain', '--out', out]);
  t.diagnostic(`naflow explain (paper mode, bundled default) in ${((Date.now() - t0) / 1000).toFixed(1)} s`);
  assert.equal(r.code, 0, r.stderr);
  assertNoStack(r);
  assert.match(r.stdout, /chelsea\.png: class \d+ \(.*\), score -?\d+\.\d+\n\d+ layer maps \(paper mode\)/);
  assert.deepEqual(fs.readdirSync(parent), ['flow'], 'no .partial- folder left beside the output');

  const json = JSON.parse(fs.readFileSync(path.join(out, 'flow.json'), 'utf8')) as FlowJson;
  assert.equal(json.mode, 'paper');
  assert.equal(path.resolve(json.image.file!), DEFAULT_IMAGE);
  assert.equal(path.resolve(json.model.file!), DEFAULT_MODEL);
  assert.equal(json.model.sha256, modelSha256(DEFAULT_MODEL), 'the same model hash as eval-config.json and the σ_max cache');
  assert.match(json.decision.id ?? '', /^n\d{8}$/);
  assert.ok(json.layers.length >= 30, `${json.layers.length} layers (≥ 30 expected)`);
  assert.equal(json.layers[json.layers.length - 1].name, json.trunkEnd, 'shallow → deep: the trunk end comes last');

  const npys = new Set<string>();
  const pngs = new Set<string>();
  for (const [i, l] of json.layers.entries()) {
    assert.equal(l.index, i);
    const [h, w, c] = l.shape;
    assert.ok(h > 0 && w > 0 && c > 0, `${l.name}: shape ${l.shape}`);
    assert.ok(l.kept > 0 && l.kept <= 1, `${l.name}: kept ${l.kept}`);
    const npy = readNpyStrict(path.join(out, l.npy));
    assert.equal(npy.descr, '<f4', `${l.npy}: float32`);
    assert.deepEqual(npy.shape, [h, w], `${l.npy}: shape [H, W] of ${l.name}`);
    let lo = Infinity;
    let hi = -Infinity;
    for (const v of npy.values) {
      assert.ok(Number.isFinite(v), `${l.npy}: finite`);
      lo = Math.min(lo, v);
      hi = Math.max(hi, v);
    }
    assert.equal(lo, l.min, `${l.name}: flow.json min = the .npy's`);
    assert.equal(hi, l.max, `${l.name}: flow.json max = the .npy's`);
    assert.ok(l.png, `${l.name}: has a PNG (all layers are shown by default)`);
    const [pw, ph] = pngSize(path.join(out, l.png));
    assert.ok(pw > 0 && ph > 0);
    npys.add(path.basename(l.npy));
    pngs.add(path.basename(l.png));
  }
  assert.deepEqual(new Set(fs.readdirSync(path.join(out, 'maps'))), npys, 'maps/ holds exactly the listed .npy files');
  assert.deepEqual(new Set(fs.readdirSync(path.join(out, 'layers'))), pngs, 'layers/ holds exactly the listed PNGs');
  const [sw, sh] = pngSize(path.join(out, 'flow-strip.png'));
  assert.ok(sw > 224 && sh > 224, `flow strip ${sw}×${sh} holds several tiles`);
  const gif = fs.readFileSync(path.join(out, 'flow.gif'));
  assert.match(gif.subarray(0, 6).toString('latin1'), /^GIF8[79]a$/, 'flow.gif is a GIF');
});

/** The bundled photo preprocessed as the bundled model's card says (its inputSize, resize, resizeShorter, interpolation; x/255), NHWC. */
async function chelseaTensor(): Promise<Float32Array> {
  const card = JSON.parse(fs.readFileSync(path.join(path.dirname(DEFAULT_MODEL), 'model.naflow.json'), 'utf8')) as ModelCard;
  assert.equal(card.preprocess, 'unit');
  const { inputSize, resize, resizeShorter, interpolation } = card;
  const rgb = await decodeImage(DEFAULT_IMAGE, { resize: { size: inputSize!, resize, interpolation, ...(resizeShorter ? { resizeShorter } : {}) } });
  return normalisePixels(rgb, 3, 'unit');
}

test('explain --mode reference --json prints valid JSON; --input-tensor x.npy ([1,224,224,3]) gives the same decision', async (t) => {
  const parent = freshParent('reference');
  const out = path.join(parent, 'ref');
  const r = await naflow(['explain', '--mode', 'reference', '--json', '--out', out]);
  assert.equal(r.code, 0, r.stderr);
  const printed = JSON.parse(r.stdout) as FlowJson; // the whole stdout is one JSON document
  assert.equal(printed.mode, 'reference');
  assert.ok(printed.layers.length >= 30);
  assert.deepEqual(printed, JSON.parse(fs.readFileSync(path.join(out, 'flow.json'), 'utf8')), 'stdout = flow.json');

  const npy = path.join(tmp, 'chelsea-nhwc.npy');
  fs.writeFileSync(npy, encodeNpy(await chelseaTensor(), [1, 224, 224, 3]));
  const out2 = path.join(parent, 'tensor');
  const q = await naflow(['explain', '--input-tensor', npy, '--mode', 'reference', '--json', '--out', out2]);
  assert.equal(q.code, 0, q.stderr);
  const fromTensor = JSON.parse(q.stdout) as FlowJson;
  assert.equal(fromTensor.image.file, npy);
  assert.equal(fromTensor.decision.classIndex, printed.decision.classIndex, 'same class as from the image');
  assert.equal(fromTensor.decision.id, printed.decision.id);
  const ds = Math.abs(fromTensor.decision.score - printed.decision.score);
  assert.ok(ds <= 1e-3 * Math.max(1, Math.abs(printed.decision.score)), `score ${fromTensor.decision.score} vs ${printed.decision.score}`);
  assert.deepEqual(
    fromTensor.layers.map((l) => [l.name, l.shape]),
    printed.layers.map((l) => [l.name, l.shape]),
  );
  for (const l of fromTensor.layers) {
    assert.equal(l.png, null, 'no image, no overlays');
    assert.deepEqual(readNpyStrict(path.join(out2, l.npy)).shape, l.shape.slice(0, 2));
  }
  t.diagnostic(
    `reference mode: class ${printed.decision.classIndex} (${printed.decision.label}), ${printed.layers.length} layers; from the tensor: score diff ${ds.toExponential(2)}`,
  );

  // a tensor of the wrong shape is a usage error
  const bad = path.join(tmp, 'small.npy');
  fs.writeFileSync(bad, encodeNpy(new Float32Array(2 * 2 * 3), [1, 2, 2, 3]));
  const badParent = freshParent('bad-tensor');
  const b = await naflow(['explain', '--input-tensor', bad, '--out', path.join(badParent, 'o')]);
  assert.equal(b.code, 1, b.stderr);
  assert.match(b.stderr, /small\.npy: the model expects an input of shape/);
  assertNoStack(b);
  assertNothingLeft(badParent, path.join(badParent, 'o'));
  // a file that is not a .npy, a missing one, and an image given as well: bad input (exit 1), not internal errors
  const text = path.join(tmp, 'not-a-tensor.npy');
  fs.writeFileSync(text, 'hello\n');
  const cases: Array<[string[], RegExp]> = [
    [['--input-tensor', text], /not-a-tensor\.npy: not a \.npy file/],
    [['--input-tensor', path.join(tmp, 'missing.npy')], /missing\.npy: no such file/],
    [[DEFAULT_IMAGE, '--input-tensor', npy], /either an image or --input-tensor, not both/],
  ];
  for (const [args, re] of cases) {
    const e = await naflow(['explain', ...args, '--out', path.join(badParent, 'o')]);
    assert.equal(e.code, 1, `${args.join(' ')}: ${e.stderr}`);
    assert.match(e.stderr, re);
    assert.doesNotMatch(e.stderr, /internal error/);
    assertNoStack(e);
    assertNothingLeft(badParent, path.join(badParent, 'o'));
  }
});

/* ---- a small ONNX model with an op that has no inverse rule inside the trunk ---- */

const T = onnx.TensorProto.DataType;

function tensorProto(name: string, dims: number[], seed: number) {
  const n = dims.reduce((a, b) => a * b, 1);
  const p = onnx.TensorProto.create({ name, dims, dataType: T.FLOAT });
  p.floatData = Array.from({ length: n }, (_, i) => Math.sin(seed * 7.1 + i * 1.3) * 0.5);
  return p;
}

function valueInfo(name: string, dims: number[]) {
  return onnx.ValueInfoProto.create({ name, type: { tensorType: { elemType: T.FLOAT, shape: { dim: dims.map((d) => ({ dimValue: d })) } } } });
}

function intsAttr(name: string, ints: number[]) {
  return onnx.AttributeProto.create({ name, type: onnx.AttributeProto.AttributeType.INTS, ints });
}

function intAttr(name: string, i: number) {
  return onnx.AttributeProto.create({ name, type: onnx.AttributeProto.AttributeType.INT, i });
}

/**
 * input [1,3,8,8] → Conv → Softmax over channels (`channel_softmax`: forward and VJP are supported,
 * but it has no NAFlow inverse) → Conv → Relu → GlobalAveragePool → Flatten → Gemm → logits [1,3].
 */
function softmaxInTrunkModel(): Uint8Array {
  const N = onnx.NodeProto;
  const nodes = [
    N.create({
      name: 'conv_a',
      opType: 'Conv',
      input: ['input', 'wa', 'ba'],
      output: ['a'],
      attribute: [intsAttr('pads', [1, 1, 1, 1]), intsAttr('kernel_shape', [3, 3])],
    }),
    N.create({ name: 'channel_softmax', opType: 'Softmax', input: ['a'], output: ['s'], attribute: [intAttr('axis', 1)] }),
    N.create({
      name: 'conv_b',
      opType: 'Conv',
      input: ['s', 'wb', 'bb'],
      output: ['b'],
      attribute: [intsAttr('pads', [1, 1, 1, 1]), intsAttr('kernel_shape', [3, 3])],
    }),
    N.create({ name: 'relu_b', opType: 'Relu', input: ['b'], output: ['r'] }),
    N.create({ name: 'gap', opType: 'GlobalAveragePool', input: ['r'], output: ['g'] }),
    N.create({ name: 'flat', opType: 'Flatten', input: ['g'], output: ['f'], attribute: [intAttr('axis', 1)] }),
    N.create({ name: 'fc', opType: 'Gemm', input: ['f', 'wf', 'bf'], output: ['logits'], attribute: [intAttr('transB', 1)] }),
  ];
  const inits = [
    tensorProto('wa', [4, 3, 3, 3], 1),
    tensorProto('ba', [4], 2),
    tensorProto('wb', [5, 4, 3, 3], 3),
    tensorProto('bb', [5], 4),
    tensorProto('wf', [3, 5], 5),
    tensorProto('bf', [3], 6),
  ];
  const m = onnx.ModelProto.create({
    irVersion: 8,
    producerName: 'naflow-test',
    opsetImport: [{ domain: '', version: 13 }],
    graph: { name: 'softmax_in_trunk', node: nodes, initializer: inits, input: [valueInfo('input', [1, 3, 8, 8])], output: [valueInfo('logits', [1, 3])] },
  });
  return onnx.ModelProto.encode(m).finish();
}

test('errors: unsupported ops (at import, and in the trunk without an inverse) exit 1 naming op and node; nothing left in --out', async (t) => {
  // an op naflow does not know at all: rejected when the model is loaded
  const unknown = path.join(PACKAGE_ROOT, 'test', 'fixtures', 'bad', 'unknown-op.onnx');
  const p1 = freshParent('unknown-op');
  const u = await naflow(['explain', unknown, '--out', path.join(p1, 'o')]);
  assert.equal(u.code, 1, u.stderr);
  assert.match(u.stderr, /^naflow: .*unknown-op\.onnx: naflow does not support this op: Einsum \(1 node: unsupported_einsum_node\)/);
  assertNoStack(u);
  assertNothingLeft(p1, path.join(p1, 'o'));

  // a known op without a NAFlow inverse, inside the trunk: rejected by the paper-mode cascade
  const model = path.join(tmp, 'softmax-in-trunk.onnx');
  fs.writeFileSync(model, softmaxInTrunkModel());
  const p2 = freshParent('softmax-in-trunk');
  const s = await naflow(['explain', model, DEFAULT_IMAGE, '--out', path.join(p2, 'o')]);
  assert.equal(s.code, 1, s.stderr);
  assert.match(s.stderr, /^naflow: .*softmax-in-trunk\.onnx.*'channel_softmax'.*Softmax/m);
  t.diagnostic(`unknown op: ${u.stderr.trim()}`);
  t.diagnostic(`no inverse: ${s.stderr.trim()}`);
  assertNoStack(s);
  assertNothingLeft(p2, path.join(p2, 'o'));
  // reference mode inverts nothing, so the same model explains fine there
  const ok = await naflow(['explain', model, DEFAULT_IMAGE, '--mode', 'reference', '--no-images', '--out', path.join(p2, 'ref')]);
  assert.equal(ok.code, 0, ok.stderr);
  const json = JSON.parse(fs.readFileSync(path.join(p2, 'ref', 'flow.json'), 'utf8')) as FlowJson;
  assert.ok(
    json.layers.some((l) => l.node === 'channel_softmax'),
    'the softmax output has a map in reference mode',
  );
});

test('errors: an undecodable image exits 1 naming its path and leaves nothing; a bad --mode or --class exits 1 with a usage message', async (t) => {
  const fake = path.join(tmp, 'x.png');
  fs.writeFileSync(fake, 'this is a text file, not a PNG\n');
  const parent = freshParent('undecodable');
  const out = path.join(parent, 'o');
  const r = await naflow(['explain', fake, '--out', out]);
  assert.equal(r.code, 1, r.stderr);
  assert.ok(r.stderr.includes(fake), `the message names ${fake}:\n${r.stderr}`);
  assert.match(r.stderr, /x\.png: not a decodable image/);
  assertNoStack(r);
  assertNothingLeft(parent, out);

  const m = await naflow(['explain', '--mode', 'fast', '--out', path.join(parent, 'm')]);
  assert.equal(m.code, 1, m.stderr);
  assert.match(m.stderr, /^naflow: .*--mode.*'fast'/m);
  assert.match(m.stderr, /paper/);
  assert.match(m.stderr, /reference/);
  assertNoStack(m);
  assertNothingLeft(parent, path.join(parent, 'm'));
  t.diagnostic(`undecodable image: ${r.stderr.trim()}`);
  t.diagnostic(`bad --mode: ${m.stderr.trim()}`);

  const c = await naflow(['explain', '--class', '1000', '--mode', 'reference', '--out', path.join(parent, 'c')]);
  assert.equal(c.code, 1, c.stderr);
  assert.match(c.stderr, /^naflow: .*class 1000 is out of range: the model scores 1000 classes/m);
  assertNoStack(c);
  assertNothingLeft(parent, path.join(parent, 'c'));
});

test('--out: an earlier naflow output is replaced; a folder holding anything else, or a file, is refused and left intact', async (t) => {
  const parent = freshParent('existing');
  const out = path.join(parent, 'flow');
  const first = await naflow(['explain', '--mode', 'reference', '--no-images', '--out', out]);
  assert.equal(first.code, 0, first.stderr);
  const stamp = fs.statSync(path.join(out, 'flow.json')).mtimeMs;
  // run again into the same folder: replaced (a stale map file from an earlier run is gone)
  fs.writeFileSync(path.join(out, 'maps', '99_stale.npy'), 'old');
  const again = await naflow(['explain', '--mode', 'reference', '--no-images', '--out', out]);
  assert.equal(again.code, 0, again.stderr);
  assert.equal(fs.existsSync(path.join(out, 'maps', '99_stale.npy')), false, 'the earlier output was replaced as a whole');
  assert.ok(fs.statSync(path.join(out, 'flow.json')).mtimeMs >= stamp);
  assert.deepEqual(fs.readdirSync(parent), ['flow'], 'no .partial- folder left');

  // a folder with the user's own files is never deleted
  const mine = path.join(parent, 'my-folder');
  fs.mkdirSync(path.join(mine, 'sub'), { recursive: true });
  fs.writeFileSync(path.join(mine, 'notes.txt'), 'precious\n');
  fs.writeFileSync(path.join(mine, 'sub', 'a.txt'), 'keep\n');
  const r = await naflow(['explain', '--mode', 'reference', '--no-images', '--out', mine]);
  assert.equal(r.code, 1, r.stderr);
  assert.match(r.stderr, /^naflow: .*my-folder: exists and is not a naflow output folder \(it holds 'notes\.txt', 'sub'\)/);
  assertNoStack(r);
  assert.equal(fs.readFileSync(path.join(mine, 'notes.txt'), 'utf8'), 'precious\n');
  assert.equal(fs.readFileSync(path.join(mine, 'sub', 'a.txt'), 'utf8'), 'keep\n');
  // nor a folder that has flow.json beside other things
  fs.writeFileSync(path.join(mine, 'flow.json'), '{}');
  const r2 = await naflow(['explain', '--mode', 'reference', '--no-images', '--out', mine]);
  assert.equal(r2.code, 1, r2.stderr);
  assert.ok(fs.existsSync(path.join(mine, 'notes.txt')));
  // nor a file
  const file = path.join(parent, 'a-file');
  fs.writeFileSync(file, 'data');
  const f = await naflow(['explain', '--mode', 'reference', '--no-images', '--out', file]);
  assert.equal(f.code, 1, f.stderr);
  assert.match(f.stderr, /a-file: exists and is not a folder/);
  assert.equal(fs.readFileSync(file, 'utf8'), 'data');
  assert.deepEqual(fs.readdirSync(parent).sort(), ['a-file', 'flow', 'my-folder']);
  t.diagnostic(`refused: ${r.stderr.trim()}`);
});

const RESNET20 = path.resolve(PACKAGE_ROOT, '..', 'shared', 'data', 'models', 'cifar-resnet', 'resnet20.onnx');
const CIFAR_CAT = path.resolve(PACKAGE_ROOT, '..', 'shared', 'data', 'cifar10-test', 'cat', '0000.jpg');

test('--input-tensor on an ONNX model reads the tensor as NCHW ([1,3,32,32]): same decision and maps as the image', {
  skip:
    fs.existsSync(RESNET20) && fs.existsSync(CIFAR_CAT)
      ? undefined
      : `shared data not found (${RESNET20}): this test needs ../shared/data beside the repository`,
}, async () => {
  // no model card: 32×32 from the input shape, squash, bilinear, x/255
  const rgb = await decodeImage(CIFAR_CAT, { resize: { size: [32, 32], resize: 'squash', interpolation: 'bilinear' } });
  const nhwc = normalisePixels(rgb, 3, 'unit');
  const nchw = new Float32Array(nhwc.length);
  for (let i = 0; i < 32 * 32; i++) for (let c = 0; c < 3; c++) nchw[c * 32 * 32 + i] = nhwc[3 * i + c];
  const npy = path.join(tmp, 'cat-nchw.npy');
  fs.writeFileSync(npy, encodeNpy(nchw, [1, 3, 32, 32]));
  const parent = freshParent('nchw');
  const a = await naflow(['explain', RESNET20, CIFAR_CAT, '--mode', 'reference', '--json', '--no-images', '--out', path.join(parent, 'img')]);
  assert.equal(a.code, 0, a.stderr);
  const b = await naflow(['explain', RESNET20, '--input-tensor', npy, '--mode', 'reference', '--json', '--out', path.join(parent, 'npy')]);
  assert.equal(b.code, 0, b.stderr);
  const fa = JSON.parse(a.stdout) as FlowJson;
  const fb = JSON.parse(b.stdout) as FlowJson;
  assert.equal(fb.decision.classIndex, fa.decision.classIndex);
  assert.ok(Math.abs(fb.decision.score - fa.decision.score) <= 1e-4 * Math.max(1, Math.abs(fa.decision.score)), `${fb.decision.score} vs ${fa.decision.score}`);
  assert.equal(fb.layers.length, fa.layers.length);
  for (const [i, l] of fb.layers.entries()) {
    const ma = readNpyStrict(path.join(parent, 'img', fa.layers[i].npy)).values;
    const mb = readNpyStrict(path.join(parent, 'npy', l.npy)).values;
    let diff = 0;
    let scale = 0;
    ma.forEach((v, k) => {
      diff = Math.max(diff, Math.abs(v - mb[k]));
      scale = Math.max(scale, Math.abs(v));
    });
    assert.ok(diff <= 1e-4 * scale + 1e-7, `${l.name}: map from the tensor differs by ${diff} (max ${scale})`);
  }
  // the same values given as NHWC do not fit an ONNX model's NCHW input
  const wrong = path.join(tmp, 'cat-nhwc.npy');
  fs.writeFileSync(wrong, encodeNpy(nhwc, [1, 32, 32, 3]));
  const w = await naflow(['explain', RESNET20, '--input-tensor', wrong, '--out', path.join(parent, 'wrong')]);
  assert.equal(w.code, 1, w.stderr);
  assert.match(w.stderr, /cat-nhwc\.npy: the model expects an input of shape .*read as NCHW/);
  assert.equal(fs.existsSync(path.join(parent, 'wrong')), false);
});

/**
 * Every error a user can cause — a bad model, bad weights, a bad image, a bad card, a bad option, a bad
 * data folder — exits 1 with one line that names the file or option, never "internal error" (exit 2) and
 * never a stack trace. One row per mistake, each run as a user would run it. The classification itself
 * is `instanceof InputError` (src/util/errors.ts), checked directly at the end.
 */
import test from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { PACKAGE_ROOT, DEFAULT_IMAGE } from '../src/defaults.js';
import { InputError, UsageError, isInputError } from '../src/util/errors.js';
import { GraphError } from '../src/ir/graph.js';
import { CardError } from '../src/model/card.js';
import { ImageError } from '../src/image/rgb.js';
import { ModelLoadError } from '../src/import/model.js';
import { TfjsWeightsError } from '../src/import/tfjs-weights.js';
import { EvalDataError } from '../src/eval/dataset.js';
import { MergeError } from '../src/eval/merge.js';
import { VariantError } from '../src/naflow/variant.js';
import { SimilarityError } from '../src/similarity/embed.js';
import { inputErrorTests, type Case } from './helpers/input-error-cases.js';
import { encodeNpy } from '../src/util/npy.js';
import onnxProto from 'onnx-proto';
import { encodeModel, T, tensorProto, valueInfo } from './helpers/onnx-model.js';

const TINY = path.join(PACKAGE_ROOT, 'models', 'tiny-darknet');
const SIMCLR = path.join(PACKAGE_ROOT, 'models', 'simclr-cifar10', 'simclr-cifar10.onnx');
const { onnx } = onnxProto;
const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'naflow-input-errors-'));
test.after(() => fs.rmSync(tmp, { recursive: true, force: true }));

/** A copy of the bundled tfjs model whose model.json is changed by `edit` (weights copied as they are). */
function tinyCopy(
  name: string,
  edit: (modelJson: { weightsManifest: Array<{ paths: string[]; weights: Array<{ name: string; dtype: string }> }> }) => void,
): string {
  const dir = path.join(tmp, name);
  fs.cpSync(TINY, dir, { recursive: true });
  const file = path.join(dir, 'model.json');
  const json = JSON.parse(fs.readFileSync(file, 'utf8'));
  edit(json);
  fs.writeFileSync(file, JSON.stringify(json));
  return file;
}

/** One image of the bundled cat in a class folder the bundled model knows: a one-image eval dataset. */
function oneImageData(name: string): string {
  const dir = path.join(tmp, name, 'Egyptian cat');
  fs.mkdirSync(dir, { recursive: true });
  fs.copyFileSync(DEFAULT_IMAGE, path.join(dir, 'chelsea.png'));
  return path.dirname(dir);
}

const cases: Case[] = [
  {
    what: 'a tfjs weight with a dtype naflow cannot read (float64)',
    args: () => ['predict', tinyCopy('float64', (j) => void (j.weightsManifest[0].weights[0].dtype = 'float64'))],
    names: /float64[\\/]model\.json: weight '.+' has dtype 'float64'/,
  },
  {
    what: 'a weightsManifest path leaving the model folder (../../etc/passwd)',
    args: () => ['predict', tinyCopy('escape', (j) => void (j.weightsManifest[0].paths = ['../../etc/passwd']))],
    names: /escape[\\/]model\.json: the weight file '\.\.\/\.\.\/etc\/passwd' is outside the model's folder/,
  },
  {
    what: 'an absolute weightsManifest path (/etc/passwd)',
    args: () => ['predict', tinyCopy('absolute', (j) => void (j.weightsManifest[0].paths = ['/etc/passwd']))],
    names: /the weight file '\/etc\/passwd' is outside the model's folder/,
  },
  {
    what: 'a weight shard longer than its manifest says',
    args: () => {
      const file = tinyCopy('long-shard', () => undefined);
      const shard = path.join(path.dirname(file), 'group2-shard1of1');
      fs.appendFileSync(shard, new Uint8Array(64));
      return ['predict', file];
    },
    names: /long-shard[\\/]model\.json: weight shards \[group2-shard1of1\] are longer than the manifest says/,
  },
  {
    what: 'a device given as the image (/dev/zero)',
    args: () => ['predict', path.join(TINY, 'model.json'), '/dev/zero'],
    names: /\/dev\/zero: not a regular file/,
  },
  {
    what: 'a device given as the model (/dev/zero)',
    args: () => ['inspect', '/dev/zero'],
    names: /\/dev\/zero: not a regular file \(a device or pipe\); give a model file/,
  },
  {
    what: 'weights holding NaN (a score that is not a number)',
    args: () => {
      const file = tinyCopy('nan-weights', () => undefined);
      const shard = path.join(path.dirname(file), 'group1-shard1of1');
      fs.writeFileSync(shard, new Uint8Array(fs.statSync(shard).size).fill(0xff)); // 0xffffffff is a float32 NaN
      return ['predict', file];
    },
    names: /the model's score is NaN: its weights or its input hold non-finite values/,
  },
  {
    what: 'an input tensor holding Infinity',
    args: () => {
      const file = path.join(tmp, 'inf.npy');
      const x = new Float32Array(224 * 224 * 3).fill(Number.POSITIVE_INFINITY);
      fs.writeFileSync(file, encodeNpy(x, [1, 224, 224, 3]));
      return ['explain', '--input-tensor', file, '--out', path.join(tmp, 'out-inf')];
    },
    names: /inf\.npy: holds non-finite values \(the first, Infinity, at flat index 0\); an input tensor must hold finite numbers/,
  },
  {
    what: 'a missing weight shard',
    args: () => {
      const file = tinyCopy('missing-shard', () => undefined);
      fs.rmSync(path.join(path.dirname(file), 'group3-shard1of1'));
      return ['predict', file];
    },
    names: /group3-shard1of1/,
  },
  {
    what: 'a truncated weight shard',
    args: () => {
      const file = tinyCopy('short-shard', () => undefined);
      const shard = path.join(path.dirname(file), 'group5-shard1of1');
      fs.writeFileSync(shard, new Uint8Array(fs.readFileSync(shard)).subarray(0, 10));
      return ['inspect', file];
    },
    names: /group5-shard1of1|short-shard[\\/]model\.json/,
  },
  {
    what: 'a model.json that is not JSON',
    args: () => {
      const file = path.join(tmp, 'broken', 'model.json');
      fs.mkdirSync(path.dirname(file), { recursive: true });
      fs.writeFileSync(file, '{"modelTopology": ');
      return ['predict', file];
    },
    names: /broken[\\/]model\.json/,
  },
  {
    what: 'an ONNX file of random bytes',
    args: () => {
      const file = path.join(tmp, 'noise.onnx');
      fs.writeFileSync(
        file,
        Uint8Array.from({ length: 4096 }, (_, i) => (i * 2654435761) >>> 24),
      );
      return ['inspect', file];
    },
    names: /noise\.onnx/,
  },
  {
    what: 'a model card that is not JSON',
    args: () => {
      const card = path.join(tmp, 'bad-card.naflow.json');
      fs.writeFileSync(card, 'preprocess: imagenet\n');
      return ['predict', '--card', card, path.join(TINY, 'model.json')];
    },
    names: /bad-card\.naflow\.json/,
  },
  {
    what: 'a model card with a wrong field',
    args: () => {
      const card = path.join(tmp, 'wrong-card.naflow.json');
      fs.writeFileSync(card, JSON.stringify({ inputSize: 'large' }));
      return ['predict', '--card', card, path.join(TINY, 'model.json')];
    },
    names: /wrong-card\.naflow\.json/,
  },
  {
    what: 'a PNG cut short',
    args: () => {
      const file = path.join(tmp, 'cut.png');
      fs.writeFileSync(file, new Uint8Array(fs.readFileSync(DEFAULT_IMAGE)).subarray(0, 200));
      return ['explain', file, '--out', path.join(tmp, 'out-cut')];
    },
    names: /cut\.png/,
  },
  {
    what: 'an unknown --mode',
    args: () => ['explain', '--mode', 'fast', '--out', path.join(tmp, 'out-mode')],
    names: /--mode/,
  },
  {
    what: 'an unknown --variant key',
    args: () => ['explain', '--variant', 'speed=11', '--out', path.join(tmp, 'out-variant')],
    names: /speed/,
  },
  {
    what: 'a malformed --input-tensor',
    args: () => {
      const file = path.join(tmp, 'x.npy');
      fs.writeFileSync(file, 'not numpy');
      return ['explain', '--input-tensor', file, '--out', path.join(tmp, 'out-npy')];
    },
    names: /x\.npy/,
  },
  {
    what: 'explain --layers naming no layer',
    args: () => ['explain', '--layers', '3,99,foo', '--out', path.join(tmp, 'out-layers')],
    names: /--layers: no layer '99', 'foo': this explanation has 50 layers, 0–49 .*naflow inspect --json/,
  },
  {
    what: 'explain --trunk-end naming no tensor',
    args: () => ['explain', '--trunk-end', 'no_such_tensor', '--out', path.join(tmp, 'out-trunk')],
    names: /no tensor named 'no_such_tensor' \(the trunk end\); see naflow inspect --json/,
  },
  {
    what: 'an unknown NAFLOW_BACKEND',
    args: () => ['predict'],
    env: { NAFLOW_BACKEND: 'gpu' },
    names: /NAFLOW_BACKEND must be 'wasm' or 'cpu', got 'gpu'/,
  },
  {
    what: 'a serve token too short to be a secret (NAFLOW_TOKEN)',
    args: () => ['serve', '--port', '0'],
    env: { NAFLOW_TOKEN: 'secret' },
    names: /NAFLOW_TOKEN must be 16 to 256 characters/,
  },
  {
    what: 'serve --allow-host with a port',
    args: () => ['serve', '--port', '0', '--allow-host', 'example.org:8080'],
    names: /--allow-host takes a host name or address without a port, got 'example\.org:8080'/,
  },
  {
    what: 'a similarity bank with its fields missing',
    args: () => {
      const bank = path.join(tmp, 'hollow-bank.json');
      fs.writeFileSync(bank, JSON.stringify({ format: 'naflow-bank/1' }));
      const model = path.join(PACKAGE_ROOT, 'models', 'simclr-cifar10', 'simclr-cifar10.onnx');
      return ['explain-similarity', model, '--query', DEFAULT_IMAGE, '--bank', bank, '--out', path.join(tmp, 'out-bank')];
    },
    names: /hollow-bank\.json: corrupt \(field 'embeddings'/,
  },
  {
    what: 'explain --rho Infinity (every map would be zero)',
    args: () => ['explain', '--rho', 'Infinity', '--out', path.join(tmp, 'out-rho-inf')],
    names: /--rho must be a finite number ≥ 0, got 'Infinity'/,
  },
  {
    what: 'predict --top in hexadecimal',
    args: () => ['predict', '--top', '0x10'],
    names: /--top must be a positive integer, got '0x10'/,
  },
  {
    what: 'explain --max-iter beyond its range',
    args: () => ['explain', '--max-iter', '1e9', '--out', path.join(tmp, 'out-max-iter')],
    names: /--max-iter must be an integer from 1 to 100000, got '1e9'/,
  },
  {
    what: 'explain --class negative',
    args: () => ['explain', '--class', '-1', '--out', path.join(tmp, 'out-class')],
    names: /--class must be an integer ≥ 0, got '-1'/,
  },
  {
    what: 'explain-similarity --temperature Infinity',
    args: () => [
      'explain-similarity',
      SIMCLR,
      '--query',
      DEFAULT_IMAGE,
      '--ref',
      DEFAULT_IMAGE,
      '--temperature',
      'Infinity',
      '--out',
      path.join(tmp, 'out-temp'),
    ],
    names: /--temperature must be a finite number > 0 and ≤ 1000000, got 'Infinity'/,
  },
  {
    what: 'serve --port empty (was any free port)',
    args: () => ['serve', '--port', ''],
    names: /--port must be an integer from 0 to 65535, got ''/,
  },
  {
    what: '--input-size 0',
    args: () => ['predict', '--input-size', '0'],
    names: /--input-size must be N or HxW with sides from 1 to 16384 pixels/,
  },
  {
    what: '--threads beyond any machine',
    args: () => ['predict', '--threads', '100000'],
    names: /--threads must be an integer from 1 to 1024, got '100000'/,
  },
  {
    what: 'explain --out . (the current folder)',
    args: () => ['explain', '--out', '.'],
    names: /\.: is the current folder; naflow replaces its output folder as a whole/,
  },
  {
    what: 'explain --out onto a regular file',
    args: () => {
      const file = path.join(tmp, 'a-file.txt');
      fs.writeFileSync(file, 'mine');
      return ['explain', '--out', file];
    },
    names: /a-file\.txt: exists and is not a folder; choose another output folder \(--out\)/,
  },
  {
    what: 'explain --out under a regular file',
    args: () => {
      const file = path.join(tmp, 'b-file.txt');
      fs.writeFileSync(file, 'mine');
      return ['explain', '--out', path.join(file, 'sub')];
    },
    names: /b-file\.txt[\\/]sub: cannot write the output \(--out\): .*b-file\.txt is a file, not a folder/,
  },
  {
    what: 'bank build -o onto a file naflow did not write',
    args: () => {
      const file = path.join(tmp, 'precious.json');
      fs.writeFileSync(file, '{"precious": true}');
      return ['bank', 'build', SIMCLR, oneImageData('bank-data'), '-o', file];
    },
    names: /precious\.json: exists and is not a naflow bank; naflow overwrites only a bank it wrote: choose another bank file \(-o\)/,
  },
  {
    what: 'an ONNX file cut short',
    args: () => {
      const file = path.join(tmp, 'cut.onnx');
      fs.writeFileSync(file, new Uint8Array(fs.readFileSync(SIMCLR)).subarray(0, 20000));
      return ['inspect', file];
    },
    names: /cut\.onnx: not a valid ONNX model: the file is truncated or is not ONNX/,
  },
  {
    what: 'an ONNX initializer declaring 1e12 elements',
    args: () => {
      const file = path.join(tmp, 'huge-init.onnx');
      const huge = onnx.TensorProto.create({ name: 'fc.weight', dims: [1000000, 1000000], dataType: T.FLOAT, rawData: new Uint8Array(16) });
      const add = onnx.NodeProto.create({ name: 'a', opType: 'Add', input: ['x', 'fc.weight'], output: ['y'] });
      fs.writeFileSync(file, encodeModel(13, [add], [huge], [valueInfo('x', [1, 2])], [valueInfo('y', [1, 2])]));
      return ['inspect', file];
    },
    names: /huge-init\.onnx: initializer 'fc\.weight' of shape \[1000000,1000000\] \(float32\) has 16 bytes of raw data, expected 4000000000000/,
  },
  {
    what: 'an ONNX model whose input is 100000×100000',
    args: () => {
      const file = path.join(tmp, 'huge-input.onnx');
      const w = tensorProto(
        'w',
        [4, 3, 3, 3],
        Array.from({ length: 108 }, (_, i) => Math.sin(i)),
      );
      const nodes = [
        onnx.NodeProto.create({ name: 'conv', opType: 'Conv', input: ['x', 'w'], output: ['c'] }),
        onnx.NodeProto.create({ name: 'gap', opType: 'GlobalAveragePool', input: ['c'], output: ['g'] }),
        onnx.NodeProto.create({ name: 'fl', opType: 'Flatten', input: ['g'], output: ['y'] }),
      ];
      fs.writeFileSync(file, encodeModel(13, nodes, [w], [valueInfo('x', [1, 3, 100000, 100000])], [valueInfo('y', [1, 4])]));
      return ['explain', file, '--out', path.join(tmp, 'out-huge-input')];
    },
    names: /huge-input\.onnx: model input 'x' is 100000×100000 pixels \(declared by the model\), more than naflow runs .*export the model again/,
  },
];

inputErrorTests(cases);

test('the hierarchy: every input error class is an InputError; plain errors and bugs are not', () => {
  const inputErrors = [
    UsageError,
    GraphError,
    CardError,
    ImageError,
    ModelLoadError,
    TfjsWeightsError,
    EvalDataError,
    MergeError,
    VariantError,
    SimilarityError,
  ];
  for (const E of inputErrors) {
    const e = new E('m');
    assert.ok(e instanceof InputError, E.name);
    assert.ok(isInputError(e), E.name);
    assert.equal(e.name, E.name, 'the class name, for stack traces');
  }
  assert.ok(new TfjsWeightsError('m') instanceof GraphError);
  assert.equal(isInputError(new Error('bug')), false);
  assert.equal(isInputError(new TypeError('x is undefined')), false);
  assert.equal(isInputError('a string'), false);
  // a missing path the user gave (the OS error's code), but not any coded error
  assert.ok(isInputError(Object.assign(new Error('open x'), { code: 'ENOENT' })));
  assert.equal(isInputError(Object.assign(new Error('x'), { code: 'ERR_WORKER_OUT_OF_MEMORY' })), false);
});

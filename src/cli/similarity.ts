/**
 * `naflow explain-similarity` (NAFlow for embedding models: retrieval, few-shot prototypes, k-NN over
 * a memory bank) and `naflow bank build` (the memory bank of a labelled folder).
 */
import path from 'node:path';
import type { Command } from 'commander';
import cliProgress from 'cli-progress';
import { displayImage, imageSpecFor } from '../image/preprocess.js';
import { outDirProblem, writeFlow } from '../node/write-flow.js';
import { checkWritable } from '../node/out-dir.js';
import type { Model } from '../engine/model.js';
import { DEFAULT_WEIGHTING, METRICS, WEIGHTINGS, type Metric, type Weighting } from '../metrics/embedding-metric.js';
import { embed, embeddingTensorOf, imageFiles, readLabelledFolder, SimilarityError } from '../similarity/embed.js';
import { knnTarget, prototypeTarget, retrievalTarget, type Reference, type SimilarityTarget } from '../similarity/targets.js';
import { bankFileProblem, buildBank, loadBank, saveBank } from '../similarity/bank.js';
import { explainSimilarity, type SimilarityResult } from '../similarity/explain-similarity.js';
import { cropBestFace, loadFaceDetector, type FaceBox } from '../similarity/faces.js';
import { addFlowOptions, parseFlowOptions, type FlowOptionValues, checkLayerSelection } from './flow-options.js';
import { compareOutput, parseCompare } from './compare-out.js';
import { listMethods } from '../methods/index.js';
import { EXIT, UsageError, checkModelPath, numberOption, startBackend, withModelName, type GlobalOptions, loadModelForCli } from './common.js';
import { formatSignificant } from '../util/format.js';

interface SimilarityOpts extends GlobalOptions, FlowOptionValues {
  query?: string;
  ref?: string;
  gallery?: string;
  support?: string;
  bank?: string;
  metric?: string;
  weighting?: string;
  embeddingNode?: string;
  k: string;
  temperature: string;
  explainRef?: boolean;
  faces?: boolean;
  compare?: string;
  out?: string;
}

type Run = (fn: () => Promise<number>) => Promise<void>;

export function registerSimilarity(program: Command, run: Run): void {
  addFlowOptions(
    program
      .command('explain-similarity')
      .summary('NAFlow for embedding models: retrieval, few-shot prototypes, k-NN over a memory bank')
      .description(
        'Explain why a query image is similar to its references, with a NAFlow map at every layer.\n\n' +
          'The decision comes from one of: --ref (one reference image), --gallery (the top-1 of a folder of images), ' +
          '--support (few-shot: one sub-folder of 1–5 images per class → prototypes; the nearest prototype wins) or ' +
          '--bank (weighted k-NN over a memory bank made by `naflow bank build`). The similarity is split per embedding ' +
          'dimension into channel contribution weights, which seed the cascade through the embedding head.\n\n' +
          'Writes the same files as `naflow explain`; flow.json adds `similarity`: the metric, the weighting, the value, the references, ' +
          'the candidates and the 10 dimensions with the largest weights.',
      )
      .argument('<model>', 'ONNX file or TensorFlow.js model.json / folder of an embedding model')
      .requiredOption('--query <image>', 'the image to explain')
      .option('--ref <image>', 'retrieval / verification: one reference image')
      .option('--gallery <dir>', 'retrieval: a folder of images; the most similar one is the reference')
      .option('--support <dir>', 'few-shot: a folder with one sub-folder of images per class')
      .option('--bank <file>', 'contrastive classification: a memory bank file (naflow bank build)')
      .option('--metric <name>', `similarity: ${METRICS.join(', ')} (default: the card's, else euclidean for --support and cosine otherwise)`)
      .option(
        '--weighting <name>',
        `channel weights from the similarity: ${WEIGHTINGS.join(', ')} (default ${DEFAULT_WEIGHTING}; docs/similarity-weights-study.md)`,
      )
      .option('--embedding-node <tensor>', "the embedding tensor (default: the card's 'embedding', else the only output; a feature map is average-pooled)")
      .option('--k <n>', 'k-NN: neighbours', '20')
      .option('--temperature <t>', 'k-NN: vote temperature τ (votes exp(s/τ))', '0.07')
      .option('--explain-ref', 'retrieval: also explain the reference against the query (written to <out>/reference/)')
      .option(
        '--compare <methods>',
        `also compute these baselines at every layer, explaining the same similarity (comma-separated: ${listMethods({ comparable: true })
          .map((m) => m.id)
          .join(', ')}), written to compare/<method>/*.npy`,
      )
      .option(
        '--faces',
        'face models: detect the face in every image (face-api TinyFaceDetector, needs @vladmandic/face-api) and explain the crop; an image without a face is an error',
      )
      .option('--out <dir>', 'output folder (default: naflow-out/<query name>-similarity)'),
  )
    .addHelpText(
      'after',
      '\nExamples:\n' +
        '  naflow explain-similarity models/protonet-omniglot/protonet-omniglot.onnx --query q.png --support runs/support/\n' +
        '  naflow explain-similarity face.onnx --query a.jpg --ref b.jpg --explain-ref\n' +
        '  naflow explain-similarity models/protonet-omniglot/protonet-omniglot.onnx --query q.png --support runs/support/ --compare layercam,gradcam\n' +
        '  naflow bank build models/simclr-cifar10/simclr-cifar10.onnx train/ -o bank.json\n' +
        '  naflow explain-similarity models/simclr-cifar10/simclr-cifar10.onnx --query cat.jpg --bank bank.json',
    )
    .action(async (model: string, _opts: SimilarityOpts, cmd: Command) => {
      await run(() => explainSimilarityCommand(model, cmd.optsWithGlobals() as SimilarityOpts));
    });

  const bank = program
    .command('bank')
    .summary('memory banks for k-NN explanations')
    .description('Memory banks: the embeddings and labels of a labelled folder, for `explain-similarity --bank`.');
  bank
    .command('build')
    .description('Embed every image of a labelled folder (one sub-folder per class) and save the bank; it records the model hash.')
    .argument('<model>', 'the embedding model')
    .argument('<labelled-dir>', 'folder with one sub-folder of images per class')
    .requiredOption('-o, --output <file>', 'the bank file to write (JSON)')
    .option('--embedding-node <tensor>', "the embedding tensor (default: the card's, else the only output)")
    .action(async (model: string, dir: string, _o: unknown, cmd: Command) => {
      await run(() => bankBuildCommand(model, dir, cmd.optsWithGlobals() as GlobalOptions & { output: string; embeddingNode?: string }));
    });
  bank.commands.forEach((c) => c.exitOverride().configureOutput(program.configureOutput()));
  bank.exitOverride().configureOutput(program.configureOutput());
}

async function openModel(file: string, g: GlobalOptions): Promise<Model> {
  checkModelPath(file);
  await startBackend(g);
  try {
    return await loadModelForCli(file, g);
  } catch (e) {
    throw withModelName(e, file);
  }
}

function progress(label: string, enabled: boolean): { tick: (done: number, total: number, what: string) => void; stop: () => void } {
  const bar =
    enabled && process.stderr.isTTY
      ? new cliProgress.SingleBar(
          { stream: process.stderr, format: `${label} [{bar}] {value}/{total}  {what}  ETA {eta_formatted}`, hideCursor: true },
          cliProgress.Presets.shades_classic,
        )
      : undefined;
  let started = false;
  return {
    tick(done, total, what) {
      if (!bar) return;
      if (!started) bar.start(total, 0, { what: '' }), (started = true);
      bar.update(done, { what: what.slice(-40) });
    },
    stop: () => bar?.stop(),
  };
}

/** An image as the model sees it: the file itself, or its face crop with --faces. */
type ImageSource = (file: string) => Promise<string | Uint8Array>;

async function embedFiles(model: Model, files: string[], embeddingNode: string, show: boolean, source: ImageSource): Promise<Float32Array[]> {
  const bar = progress('embed', show);
  const out: Float32Array[] = [];
  try {
    for (const f of files) {
      out.push(await embed(model, await source(f), { embeddingNode }));
      bar.tick(out.length, files.length, path.basename(f));
    }
  } finally {
    bar.stop();
  }
  return out;
}

/** What the query is compared with: the embedded --ref/--gallery images, the --support class prototypes, or the loaded --bank. */
async function similarityTarget(
  model: Model,
  modelFile: string,
  source: 'ref' | 'gallery' | 'support' | 'bank',
  opts: SimilarityOpts,
  ctx: { embeddingNode: string; metric: Metric; show: boolean; imageOf: ImageSource; k: number; temperature: number },
): Promise<SimilarityTarget> {
  const { embeddingNode, metric, show, imageOf } = ctx;
  if (source === 'ref' || source === 'gallery') {
    const files = source === 'ref' ? [opts.ref!] : imageFiles(opts.gallery!);
    if (!files.length) throw new SimilarityError(`gallery ${opts.gallery}: no images (JPEG, PNG or WebP) in the folder`);
    const embs = await embedFiles(model, files, embeddingNode, show && files.length > 1, imageOf);
    return retrievalTarget(
      files.map((file, i): Reference => ({ embedding: embs[i], file })),
      metric,
    );
  }
  if (source === 'support') {
    const classes = readLabelledFolder(opts.support!, 'support folder');
    const all = await embedFiles(
      model,
      classes.flatMap((c) => c.files),
      embeddingNode,
      show,
      imageOf,
    );
    let at = 0;
    return prototypeTarget(
      classes.map((c) => ({ label: c.label, embeddings: c.files.map(() => all[at++]) })),
      metric,
    );
  }
  const bank = loadBank(opts.bank!, { modelFile, embeddingTensor: embeddingNode });
  return knnTarget(bank, { k: ctx.k, temperature: ctx.temperature, metric });
}

/** The two-line human summary: the decision (or the most similar reference), then the maps written and where. */
function similaritySummary(query: string, result: SimilarityResult, mode: string, out: string): string {
  const s = result.similarity;
  const ref0 = s.references[0];
  const refs = s.references.length === 1 ? (ref0.file ?? ref0.label ?? 'the reference') : `${s.references.length} references`;
  const what = s.kind === 'retrieval' ? `most similar: ${refs}` : `${s.kind === 'knn' ? 'k-NN' : 'few-shot'} decision: ${result.decision.label} (vs ${refs})`;
  return (
    `${query}: ${what}; ${s.metric} similarity ${formatSignificant(s.similarity)}\n` +
    `${result.layers.length} layer maps (${mode} mode) in ${(result.elapsedMs / 1000).toFixed(2)} s → ${out}/\n`
  );
}

export async function explainSimilarityCommand(modelFile: string, opts: SimilarityOpts): Promise<number> {
  const sources = (['ref', 'gallery', 'support', 'bank'] as const).filter((s) => opts[s] !== undefined);
  if (sources.length !== 1)
    throw new UsageError(
      `give exactly one of --ref, --gallery, --support or --bank${sources.length ? ` (got ${sources.map((s) => `--${s}`).join(' and ')})` : ''}`,
    );
  const source = sources[0];
  if (opts.metric !== undefined && !METRICS.includes(opts.metric as Metric))
    throw new UsageError(`--metric must be one of ${METRICS.join(', ')}, got '${opts.metric}'`);
  if (opts.weighting !== undefined && !WEIGHTINGS.includes(opts.weighting as Weighting))
    throw new UsageError(`--weighting must be one of ${WEIGHTINGS.join(', ')}, got '${opts.weighting}'`);
  const weighting = (opts.weighting ?? DEFAULT_WEIGHTING) as Weighting;
  const { mode, normalize, colormap, variant, displaySize, layers } = parseFlowOptions(opts);
  if (opts.explainRef && source !== 'ref' && source !== 'gallery') throw new UsageError('--explain-ref applies to retrieval (--ref or --gallery) only');
  const compare = parseCompare(opts.compare);
  const k = numberOption(opts.k, '--k', { integer: true, min: 1, max: 100000 });
  const temperature = numberOption(opts.temperature, '--temperature', { min: 0, minExclusive: true, max: 1e6 });
  const query = opts.query!;
  const out = opts.out ?? path.join('naflow-out', `${path.basename(query).replace(/\.[^.]+$/, '')}-similarity`);
  const outProblem = outDirProblem(out);
  if (outProblem) throw new UsageError(outProblem);
  checkWritable(out, '--out'); // a read-only or full disk is found before the work, not after

  const model = await openModel(modelFile, opts);
  const show = !opts.json;
  const detector = opts.faces ? await loadFaceDetector() : undefined;
  const faceBoxes = new Map<string, FaceBox>();
  const imageOf: ImageSource = async (file) => {
    if (!detector) return file;
    const { png, box } = await cropBestFace(detector, file);
    faceBoxes.set(file, box);
    return png;
  };
  try {
    const embeddingNode = embeddingTensorOf(model, opts.embeddingNode);
    const metric = (opts.metric ?? model.card.metric ?? (source === 'support' ? 'euclidean' : 'cosine')) as Metric;
    const target = await similarityTarget(model, modelFile, source, opts, { embeddingNode, metric, show, imageOf, k, temperature });
    const bar = progress('explain', show);
    let result: SimilarityResult;
    const cascadeOpts = { mode, trunkEnd: opts.trunkEnd, variant, embeddingNode, weighting };
    try {
      result = await explainSimilarity(model, await imageOf(query), target, {
        ...cascadeOpts,
        compare: compare.map((m) => m.id),
        onLayer: (d, t, n) => bar.tick(d, t, n),
      });
    } finally {
      bar.stop();
    }
    const s = result.similarity;
    const writeOpts = {
      normalize,
      colormap,
      layers,
      modelFile,
      imageFile: query,
      preprocessing: imageSpecFor(model),
      noImages: opts.images === false,
    };
    const ref0 = s.references[0];
    const refResult =
      opts.explainRef && ref0?.file
        ? await explainSimilarity(model, await imageOf(ref0.file), retrievalTarget([{ embedding: s.query, file: query }], metric), cascadeOpts)
        : undefined;
    if (displaySize) {
      const spec = imageSpecFor(model);
      if (result.image) result.image = await displayImage(await imageOf(query), spec, displaySize);
      if (refResult?.image) refResult.image = await displayImage(await imageOf(ref0.file!), spec, displaySize);
    }
    checkLayerSelection(opts.layers, result.layers);
    const late = outDirProblem(out);
    if (late) throw new UsageError(late);
    const face = (f: string) => (faceBoxes.has(f) ? { face: faceBoxes.get(f) } : {});
    const compareOut = compareOutput(result, result.compare, result.decision.classIndex);
    const json = await writeFlow(
      result,
      out,
      { ...writeOpts, extra: { similarity: similarityJson(result), ...face(query), ...compareOut.extra } },
      async (tmp) => {
        compareOut.write(tmp);
        if (refResult)
          await writeFlow(refResult, path.join(tmp, 'reference'), {
            ...writeOpts,
            imageFile: ref0.file!,
            extra: { similarity: similarityJson(refResult), ...face(ref0.file!) },
          });
      },
    );
    if (opts.json) process.stdout.write(`${JSON.stringify(json, null, 2)}\n`);
    else process.stdout.write(similaritySummary(query, result, mode, out));
  } finally {
    model.dispose();
    detector?.dispose();
  }
  return EXIT.ok;
}

/** flow.json's `similarity` (weights and embeddings left out: they can be long). */
export function similarityJson(r: SimilarityResult): Record<string, unknown> {
  const s = r.similarity;
  return {
    kind: s.kind,
    metric: s.metric,
    weighting: s.weighting,
    embeddingTensor: s.embeddingTensor,
    value: s.similarity,
    decision: r.decision.label,
    references: s.references,
    candidates: s.candidates.slice(0, 10),
    topDimensions: s.topDimensions,
  };
}

export async function bankBuildCommand(modelFile: string, dir: string, opts: GlobalOptions & { output: string; embeddingNode?: string }): Promise<number> {
  const classes = readLabelledFolder(dir, 'bank folder'); // before the model loads: fail fast
  const problem = bankFileProblem(opts.output);
  if (problem) throw new UsageError(problem);
  checkWritable(opts.output, '-o');
  const model = await openModel(modelFile, opts);
  const bar = progress('bank', true);
  try {
    const bank = await buildBank(model, modelFile, dir, { embeddingNode: opts.embeddingNode, onProgress: (d, t, f) => bar.tick(d, t, path.basename(f)) });
    bar.stop();
    saveBank(bank, opts.output);
    process.stdout.write(
      `${opts.output}: ${bank.embeddings.length} images of ${classes.length} classes, ${bank.dim}-D embeddings of '${bank.embeddingTensor}'\n`,
    );
  } finally {
    bar.stop();
    model.dispose();
  }
  return EXIT.ok;
}

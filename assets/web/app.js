/*
 * The web app (dist/web/index.html): a model's files and an image chosen or dropped, the top-5 classes
 * predicted, then NAFlow computed in a Web Worker (naflow-worker.js) with a progress bar and a Cancel
 * button, and drawn with the report's viewer (viewer.js). Nothing leaves the page's origin.
 * The page's state is on <body data-state>: empty, ready, busy, done (the tests read it).
 */
import { NaflowWorker, CancelledError, viewerDataOf } from './naflow-client.js';

const $ = (id) => document.getElementById(id);
const form = $('app-form');
const modelFiles = $('app-model-files');
const imageFile = $('app-image-file');
const modeSel = $('app-mode');
const classSel = $('app-class');
const explainBtn = $('app-explain');
const cancelBtn = $('app-cancel');
const progress = $('app-progress');
const status = $('app-status');
const viewerRoot = $('naflow-viewer');
const worker = new NaflowWorker(new URL('./naflow-worker.js', import.meta.url));

let model = null; // File[]
let image = null; // File
let task = null;
let viewer = null;
let predicted = 0; // bumps so an older top-5 answer is ignored

function say(text, error) {
  status.textContent = text;
  status.classList.toggle('error', !!error);
}
function setState(s) {
  document.body.dataset.state = s;
  const busy = s === 'busy';
  explainBtn.disabled = busy || !model || !image;
  cancelBtn.disabled = !busy;
  modelFiles.disabled = imageFile.disabled = busy;
}
function ready() {
  setState(model && image ? 'ready' : 'empty');
}

function modelName(files) {
  const main = files.find((f) => /\.onnx$/i.test(f.name)) || files.find((f) => /^model\.json$/i.test(f.name)) || files[0];
  return main.name + (files.length > 1 ? ` (+${files.length - 1} files)` : '');
}

/** The top-5 classes for the chosen image, offered in the class menu. */
function fillClasses() {
  classSel.length = 1;
  if (!model || !image) return;
  const mine = ++predicted;
  say('predicting…');
  const t = worker.predict(image, 5);
  t.promise
    .then((top) => {
      if (mine !== predicted) return;
      for (const p of top) {
        const o = document.createElement('option');
        o.value = String(p.index);
        o.textContent = `${p.label ?? `class ${p.index}`} (${(100 * p.prob).toFixed(1)} %)`;
        classSel.appendChild(o);
      }
      say(`top class: ${top[0].label ?? top[0].index}. Press Explain.`);
    })
    .catch((e) => {
      if (!(e instanceof CancelledError) && mine === predicted) say(`cannot use this model or image: ${e.message}`, true);
    });
}

function chooseModel(files) {
  if (!files.length) return;
  model = [...files];
  worker.setModel(model);
  $('app-model-name').textContent = modelName(model);
  ready();
  fillClasses();
}
function chooseImage(f) {
  if (!f) return;
  image = f;
  const thumb = $('app-thumb');
  if (thumb.src) URL.revokeObjectURL(thumb.src);
  thumb.src = URL.createObjectURL(f);
  thumb.alt = `chosen image ${f.name}`;
  thumb.hidden = false;
  ready();
  fillClasses();
}

modelFiles.addEventListener('change', () => chooseModel(modelFiles.files));
imageFile.addEventListener('change', () => chooseImage(imageFile.files[0]));
for (const [zone, take] of [
  [$('app-model-drop'), (files) => chooseModel(files)],
  [$('app-image-drop'), (files) => chooseImage(files[0])],
]) {
  for (const ev of ['dragenter', 'dragover']) zone.addEventListener(ev, (e) => (e.preventDefault(), zone.classList.add('over')));
  for (const ev of ['dragleave', 'drop']) zone.addEventListener(ev, (e) => (e.preventDefault(), zone.classList.remove('over')));
  zone.addEventListener('drop', (e) => e.dataTransfer && e.dataTransfer.files.length && take(e.dataTransfer.files));
}
document.addEventListener('paste', (e) => {
  const f = [...(e.clipboardData?.files ?? [])].find((x) => x.type.startsWith('image/'));
  if (f) chooseImage(f);
});

form.addEventListener('submit', (e) => {
  e.preventDefault();
  if (!model || !image || task) return;
  if (viewer) viewer.destroy();
  viewer = null;
  viewerRoot.removeAttribute('data-layers');
  setState('busy');
  progress.value = 0;
  progress.dataset.done = '0';
  const mode = modeSel.value;
  const classIndex = classSel.value === '' ? undefined : Number(classSel.value);
  say(`loading ${modelName(model)}…`);
  task = worker.explain(image, {
    mode,
    classIndex,
    onProgress: (done, total, layer) => {
      progress.max = total;
      progress.value = done;
      progress.dataset.done = String(done);
      say(`NAFlow (${mode} mode): layer ${done} of ${total} (${layer})`);
    },
  });
  task.promise
    .then((result) => {
      const data = viewerDataOf(result, { modelName: modelName(model), imageFile: image.name });
      viewer = NaflowViewer.mount(viewerRoot, data);
      viewerRoot.dataset.layers = String(data.layers.length);
      return viewer.ready.then(() => {
        say(`done in ${(result.elapsedMs / 1000).toFixed(1)} s: ${result.decision.label ?? `class ${result.decision.classIndex}`} — move the slider or press ← →.`);
        task = null;
        setState('done');
      });
    })
    .catch((err) => {
      task = null;
      ready();
      if (err instanceof CancelledError) say('cancelled.');
      else say(`the explanation failed: ${err.message}`, true);
    });
});

cancelBtn.addEventListener('click', () => {
  // the worker is terminated (the only way to stop a running cascade); the next call starts a new one
  if (task) task.cancel();
  progress.value = 0;
});

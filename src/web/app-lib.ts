/**
 * What the web app's page script (assets/web/app.js) imports, bundled by `npm run build:web` into
 * dist/web/naflow-client.js: the worker client and the viewer's data builder. No engine here: the
 * engine runs in the worker (dist/web/naflow-worker.js).
 */
export { NaflowWorker, CancelledError, explainInWorker, defaultWorkerUrl } from './client.js';
export { viewerDataOf, rgbDataUrl } from './viewer-data.js';

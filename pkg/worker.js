// The worker side of `Cc2dWorker`: hosts one `Cc2d` off the page's main thread.
// Started by worker-client.js as a module worker; not imported directly.
import { Cc2d } from "./index.js";

let cc2d = null;
const aborts = new Map();

const methods = {
  async create(options) {
    cc2d = await Cc2d.create(options);
    return { backend: cc2d.backend, adapter: cc2d.adapter };
  },
  landmarkNames: () => cc2d.landmarkNames(),
  setTemplate: (image, landmarks, options) => cc2d.setTemplate(image, landmarks, options),
  match: (image, options) => cc2d.match(image, options),
  detect: (image, options) => cc2d.detect(image, options),
  pseudoLabel: (images, options, id) => cc2d.pseudoLabel(images, { ...options, ...hooks(id) }),
  fineTune: (images, options, id) => cc2d.fineTune(images, { ...options, ...hooks(id) }),
  async exportWeights() {
    const bytes = await cc2d.exportWeights();
    return bytes;
  },
  loadWeights: (source) => cc2d.loadWeights(source),
  async dispose() {
    await cc2d?.dispose();
    cc2d = null;
  },
};

/** Progress goes back as messages; an abort message from the page aborts the call. */
function hooks(id) {
  const controller = new AbortController();
  aborts.set(id, controller);
  return { signal: controller.signal, onProgress: (progress) => postMessage({ id, progress }) };
}

self.onmessage = async ({ data: { id, method, args = [] } }) => {
  if (method === "abort") {
    aborts.get(args[0])?.abort(new DOMException("cc2d: aborted", "AbortError"));
    return;
  }
  try {
    if (!methods[method]) throw new Error(`cc2d worker: unknown method ${method}`);
    if (method !== "create" && !cc2d) throw new Error("cc2d worker: not created yet");
    const result = await methods[method](...args, id);
    const transfer = result instanceof Uint8Array ? [result.buffer] : [];
    postMessage({ id, result }, transfer);
  } catch (e) {
    postMessage({ id, error: { name: e?.name ?? "Error", message: e?.message ?? String(e) } });
  } finally {
    aborts.delete(id);
  }
};

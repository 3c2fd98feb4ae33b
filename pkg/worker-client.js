// `Cc2dWorker`: the `Cc2d` API, run in a Web Worker so that a viewer stays responsive.
// Images are handed over without copies where the browser allows: ImageBitmaps are
// transferred, Blobs/Files are shared; <img> and canvas elements are turned into
// ImageBitmaps first (they cannot cross into a worker).

export class Cc2dWorker {
  #worker;
  #next = 1;
  #pending = new Map();
  /** The backend in use: "webgpu" or "cpu". */
  backend = null;
  /** The WebGPU adapter's info, or null on the CPU. */
  adapter = null;

  constructor(worker) {
    this.#worker = worker;
    worker.onmessage = ({ data }) => {
      const call = this.#pending.get(data.id);
      if (!call) return;
      if ("progress" in data) return call.onProgress?.(data.progress);
      this.#pending.delete(data.id);
      if (data.error) {
        const error = data.error.name === "AbortError" ? new DOMException(data.error.message, "AbortError") : new Error(data.error.message);
        call.reject(error);
      } else {
        call.resolve(data.result);
      }
    };
    worker.onerror = (event) => {
      const error = new Error(`cc2d worker failed: ${event.message ?? "unknown error"}`);
      for (const call of this.#pending.values()) call.reject(error);
      this.#pending.clear();
    };
  }

  /** Starts a worker and a `Cc2d` in it; options as `Cc2d.create` (weights as URLs or bytes). */
  static async create(options = {}) {
    const worker = new Worker(new URL("./worker.js", import.meta.url), { type: "module" });
    const client = new Cc2dWorker(worker);
    const resolved = { ...options };
    if (resolved.weights instanceof URL) resolved.weights = resolved.weights.href;
    const { backend, adapter } = await client.#call("create", [resolved]);
    client.backend = backend;
    client.adapter = adapter;
    return client;
  }

  landmarkNames() {
    return this.#call("landmarkNames", []);
  }

  async setTemplate(image, landmarks, options = {}) {
    const [img, transfer] = await portable(image);
    return this.#call("setTemplate", [img, landmarks, options], transfer);
  }

  async match(image, options = {}) {
    const [img, transfer] = await portable(image);
    return this.#call("match", [img, options], transfer);
  }

  async detect(image, options = {}) {
    const [img, transfer] = await portable(image);
    return this.#call("detect", [img, options], transfer);
  }

  async pseudoLabel(images, { onProgress, signal } = {}) {
    const [imgs, transfer] = await portableAll(images);
    return this.#call("pseudoLabel", [imgs, {}], transfer, onProgress, signal);
  }

  async fineTune(images = [], { onProgress, signal, ...options } = {}) {
    const [imgs, transfer] = await portableAll(images);
    return this.#call("fineTune", [imgs, options], transfer, onProgress, signal);
  }

  exportWeights() {
    return this.#call("exportWeights", []);
  }

  loadWeights(source) {
    return this.#call("loadWeights", [source instanceof URL ? source.href : source]);
  }

  /** Frees the engine and ends the worker. */
  async dispose() {
    await this.#call("dispose", []).catch(() => {});
    this.#worker.terminate();
  }

  #call(method, args, transfer = [], onProgress, signal) {
    const id = this.#next++;
    return new Promise((resolve, reject) => {
      if (signal?.aborted) return reject(signal.reason ?? new DOMException("cc2d: aborted", "AbortError"));
      this.#pending.set(id, { resolve, reject, onProgress });
      signal?.addEventListener("abort", () => this.#worker.postMessage({ method: "abort", args: [id] }), { once: true });
      this.#worker.postMessage({ id, method, args }, transfer);
    });
  }
}

/** What can cross into the worker: bytes, Blobs, ImageData and ImageBitmaps as they are; elements become ImageBitmaps (transferred). */
async function portable(image) {
  if (image instanceof ArrayBuffer || ArrayBuffer.isView(image) || image instanceof Blob || image instanceof ImageData) return [image, []];
  if (typeof ImageBitmap !== "undefined" && image instanceof ImageBitmap) return [image, []];
  const bitmap = await createImageBitmap(image);
  return [bitmap, [bitmap]];
}

async function portableAll(images) {
  const all = await Promise.all([...images].map(portable));
  return [all.map(([i]) => i), all.flatMap(([, t]) => t)];
}

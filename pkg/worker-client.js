// `Cc2dWorker`: the `Cc2d` API, run in a Web Worker so that a viewer stays responsive.
// Images are handed over without copies where the browser allows: ImageBitmaps are
// transferred, Blobs/Files are shared; <img> and canvas elements are turned into
// ImageBitmaps first (they cannot cross into a worker).

import { FORWARDED } from "./methods.js";

export class Cc2dWorker {
  #worker;
  #next = 1;
  #pending = new Map();
  /**
   * `create`'s `onProgress`: downloads go on after `create` resolves (the weights load in the background).
   * @type {((progress: import("./index.js").LoadProgress) => void) | null}
   */
  #onLoad = null;
  /** The backend in use: "webgpu" or "cpu". */
  backend = null;
  /** How many threads the CPU kernels run on in the worker (more than 1 where the page is cross-origin isolated). */
  threads = 1;
  /** The WebGPU adapter's info, or null on the CPU. */
  adapter = null;
  /** Why it runs on its backend (`Cc2d.backendReason`). */
  backendReason = "";
  /** What the model bundle it was created from says, or null. */
  model = null;

  constructor(worker) {
    this.#worker = worker;
    worker.onmessage = ({ data }) => {
      if ("loadProgress" in data) return this.#onLoad?.(data.loadProgress);
      const call = this.#pending.get(data.id);
      if (!call) return;
      if ("progress" in data) return call.onProgress?.(data.progress);
      this.#pending.delete(data.id);
      if (data.error) {
        const error = data.error.name === "AbortError" ? new DOMException(data.error.message, "AbortError") : new Error(data.error.message);
        call.reject(Object.defineProperty(error, "code", { value: data.error.code ?? "CC2D_INTERNAL", enumerable: true }));
      } else {
        call.resolve(data.result);
      }
    };
    worker.onerror = (event) => {
      const error = Object.assign(new Error(`cc2d worker failed: ${event.message ?? "unknown error"}`), { code: "CC2D_ENGINE_FAILED" });
      for (const call of this.#pending.values()) call.reject(error);
      this.#pending.clear();
    };
  }

  /**
   * Starts a worker (or takes `options.worker`) and a `Cc2d` in it; options as `Cc2d.create`
   * (weights as URLs or bytes).
   * @param {import("./index.js").WorkerCreateOptions} [options]
   */
  static async create(options = {}) {
    const { worker: given, ...createOptions } = options;
    const client = new Cc2dWorker(startWorker(given));
    // URLs cannot cross into a worker, and a relative string would resolve against
    // worker.js there: both become absolute strings against this page. Bytes and Blobs
    // cross as they are.
    const absolute = (v) => (v instanceof URL ? v.href : typeof v === "string" ? new URL(v, globalThis.location?.href).href : v);
    const { onProgress, ...rest } = createOptions;
    client.#onLoad = onProgress ?? null;
    const resolved = { ...rest, reportProgress: Boolean(onProgress) };
    for (const module of ["wasm", "cpuWasm", "threadedWasm", "trainingWasm"]) if (resolved[module] != null) resolved[module] = absolute(resolved[module]);
    if (resolved.model instanceof URL || typeof resolved.model === "string") resolved.model = absolute(resolved.model);
    const w = resolved.weights;
    if (w instanceof URL || typeof w === "string") resolved.weights = absolute(w);
    else if (w != null && typeof w === "object" && !ArrayBuffer.isView(w) && !(w instanceof ArrayBuffer) && !(w instanceof Blob)) {
      resolved.weights = Object.fromEntries(Object.entries(w).map(([k, v]) => [k, absolute(v)]));
    }
    const { backend, backendReason, threads, adapter, model } = await client.#call("create", [resolved]);
    client.backend = backend;
    client.backendReason = backendReason;
    client.threads = threads;
    client.adapter = adapter;
    client.model = model;
    return client;
  }

  /** Frees the engine and ends the worker. */
  async dispose() {
    await this.#call("dispose", []).catch(() => {});
    this.#worker.terminate();
  }

  // The forwarded methods (methods.js), each as `Cc2d`'s: images made transferable, URLs
  // sent as strings, progress and abort carried as messages.
  static {
    for (const [method, spec] of Object.entries(FORWARDED)) {
      this.prototype[method] = async function (...args) {
        let transfer = [];
        if (spec.image !== undefined) [args[spec.image], transfer] = await portable(args[spec.image]);
        if (spec.images !== undefined) [args[spec.images], transfer] = await portableAll(args[spec.images] ?? []);
        if (spec.url !== undefined && args[spec.url] instanceof URL) args[spec.url] = args[spec.url].href;
        if (!spec.progress) return this.#call(method, args, transfer);
        const last = spec.images !== undefined ? spec.images + 1 : args.length;
        const { onProgress, signal, ...options } = args[last] ?? {};
        args[last] = options;
        return this.#call(method, args, transfer, onProgress, signal);
      };
    }
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

/**
 * What can cross into the worker: bytes, Blobs, ImageData and ImageBitmaps as they are; elements become ImageBitmaps (transferred).
 * @returns {Promise<[unknown, Transferable[]]>}
 */
async function portable(image) {
  if (image instanceof ArrayBuffer || ArrayBuffer.isView(image) || image instanceof Blob || image instanceof ImageData) return [image, []];
  if (typeof ImageBitmap !== "undefined" && image instanceof ImageBitmap) return [image, []];
  const bitmap = await createImageBitmap(image);
  return [bitmap, [bitmap]];
}

/** @returns {Promise<[unknown[], Transferable[]]>} */
async function portableAll(images) {
  const all = await Promise.all([...images].map(portable));
  return [all.map(([i]) => i), all.flatMap(([, t]) => t)];
}

/**
 * The worker to run in: the one given, one started from the URL given, or the package's own
 * (a literal `new Worker(new URL(…, import.meta.url))`, the form bundlers look for).
 * @param {Worker | URL | string | undefined} given
 * @returns {Worker}
 */
function startWorker(given) {
  if (given === undefined) return attempt(new URL("./worker.js", import.meta.url), () => new Worker(new URL("./worker.js", import.meta.url), { type: "module" }));
  if (given instanceof Worker) return given;
  const where = new URL(given, globalThis.location?.href);
  return attempt(where, () => new Worker(where, { type: "module" }));
}

/**
 * @param {URL} where
 * @param {() => Worker} start
 */
function attempt(where, start) {
  try {
    return start();
  } catch (e) {
    // A browser starts no worker from another origin's script (a package served by a CDN).
    throw Object.assign(
      new Error(
        `cc2d: could not start a worker from ${where}: ${(e instanceof Error ? e.message : String(e)).replace(/\.+$/, "")}. ` +
          "If the package comes from another origin (a CDN), start a module worker from your own origin whose script imports cc2d/worker.js, and pass it as Cc2dWorker.create({ worker }) (cc2d's README: From a CDN)",
      ),
      { code: "CC2D_BAD_INPUT" },
    );
  }
}

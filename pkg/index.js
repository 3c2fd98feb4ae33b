// cc2d: one-shot landmark detection in the browser. This file wraps the wasm engine
// (wasm/cc2d.js, built from the Rust crate) in the documented `Cc2d` class: it converts
// images, fetches weights lazily, runs one call at a time, and reports progress. The engine
// comes in four modules, of which `create` loads one for inference (detection, matching,
// pseudo-labelling): with WebGPU (wasm/cc2d.js) when it is used; else the CPU alone, one
// thread (wasm/cc2d_cpu.js, a third of the size), or on CPU threads where threads can run
// (wasm/cc2d_mt.js: a cross-origin-isolated worker). The fourth, training (the engine plus
// fine-tuning, wasm/cc2d_train.js), is loaded on the first `fineTune`, which then takes over
// the engine's state.
import init, { Engine, Image, rankTemplates } from "./wasm/cc2d.js";
import { FILES, VERSION } from "./manifest.js";
import { fail } from "./errors.js";
import { adapterInfo, chooseBackend } from "./backend.js";
import { MODEL_FORMAT, packModel, unpackModel } from "./models.js";

export { Cc2dWorker } from "./worker-client.js";
export { saveModel, listModels, loadModel, deleteModel } from "./models.js";

// The declared API (index.d.ts), which `tsc` checks this file against in the tests.
/** @typedef {import("./index.js").Cc2dMethods} Cc2dMethods */
/** @typedef {import("./index.js").ImageSource} ImageSource */
/** @typedef {import("./index.js").FineTuneOptions} FineTuneOptions */

/** The shipped default model: CC2D-TPL detector and CC2D-SSL extractor, ISBI 2015 landmarks. */
export const DEFAULT_WEIGHTS = Object.freeze({
  detector: new URL("./weights/tpl-small.bpk", import.meta.url),
  extractor: new URL("./weights/ssl-small.bpk", import.meta.url),
});

/** Largest accepted image side, pixels (as the Rust side). */
export const MAX_SIDE = 16384;

/** The wasm instances' linear memories (for `wasmMemoryBytes`). @type {Set<WebAssembly.Memory>} */
const memories = new Set();
/**
 * The inference module's classes; the threaded and training modules' are the same, in their
 * own glue. `threads`: how many threads the module's CPU kernels run on.
 */
const INFERENCE = { Engine, Image, rankTemplates, threads: 1 };

/**
 * The WebAssembly module. Like the weights above, a literal `new URL("./…", import.meta.url)`,
 * so that bundlers (Vite, webpack 5) find the file, emit it and rewrite the URL.
 */
const WASM = new URL("./wasm/cc2d_bg.wasm", import.meta.url);
/** The training module, fetched on the first `fineTune` (a literal URL too, for bundlers). */
const TRAINING_WASM = new URL("./wasm/cc2d_train_bg.wasm", import.meta.url);
/** The threaded CPU module, fetched by `create` where threads can run. */
const THREADED_WASM = new URL("./wasm/cc2d_mt_bg.wasm", import.meta.url);
/** The CPU module (no WebGPU, one thread), fetched by `create` for the CPU elsewhere. */
const CPU_WASM = new URL("./wasm/cc2d_cpu_bg.wasm", import.meta.url);

/** The package's own files that are fetched at run time, by URL (as bundled) → their SHA-256 (manifest.js). */
const KNOWN = new Map([
  [WASM.href, FILES["wasm/cc2d_bg.wasm"]],
  [TRAINING_WASM.href, FILES["wasm/cc2d_train_bg.wasm"]],
  [THREADED_WASM.href, FILES["wasm/cc2d_mt_bg.wasm"]],
  [CPU_WASM.href, FILES["wasm/cc2d_cpu_bg.wasm"]],
  [DEFAULT_WEIGHTS.detector.href, FILES["weights/tpl-small.bpk"]],
  [DEFAULT_WEIGHTS.extractor.href, FILES["weights/ssl-small.bpk"]],
]);
/** Where downloads are kept across visits (Cache API), one cache per release. */
const CACHE = `cc2d-${VERSION}`;

/** @param {Uint8Array} bytes */
async function sha256(bytes) {
  const digest = new Uint8Array(await crypto.subtle.digest("SHA-256", /** @type {BufferSource} */ (bytes)));
  return btoa(String.fromCharCode(...digest));
}

/** @param {"wasm" | "threaded" | "training" | "detector" | "extractor"} file */
function fileLabel(file) {
  return file === "wasm" ? "WebAssembly module" : file === "threaded" ? "threaded module (WebAssembly)" : file === "training" ? "training module (WebAssembly)" : `${file} weights`;
}

/**
 * Fetches `url` with progress, through the Cache API when `cache` (and the context has it).
 * The package's own files are checked against their hash: a corrupted cached copy is
 * dropped and fetched again, a corrupted download refused.
 * @param {URL} url
 * @param {"wasm" | "threaded" | "training" | "detector" | "extractor"} file
 * @param {{ onProgress?: (p: import("./index.js").LoadProgress) => void, cache?: boolean }} options
 */
async function download(url, file, { onProgress, cache = true }) {
  const expected = KNOWN.get(url.href);
  const store = cache && typeof caches !== "undefined" ? await caches.open(CACHE).catch(() => null) : null;
  const hit = await store?.match(url.href);
  if (hit) {
    const bytes = new Uint8Array(await hit.arrayBuffer());
    if (!expected || (await sha256(bytes)) === expected) {
      onProgress?.({ file, loaded: bytes.byteLength, total: bytes.byteLength, cached: true });
      return bytes;
    }
    await store?.delete(url.href); // corrupted or another release's: fetch it again
  }
  let response;
  try {
    response = await fetch(url);
  } catch (e) {
    throw fail("CC2D_FETCH", `cc2d: could not fetch the ${fileLabel(file)} from ${url}: ${e instanceof Error ? e.message : e}`);
  }
  if (!response.ok) throw fail("CC2D_FETCH", `cc2d: could not fetch the ${fileLabel(file)} from ${url}: HTTP ${response.status}`);
  const length = Number(response.headers.get("content-length"));
  const total = Number.isFinite(length) && length > 0 ? length : null;
  const chunks = [];
  let loaded = 0;
  const reader = /** @type {ReadableStream<Uint8Array>} */ (response.body).getReader();
  for (;;) {
    const { done, value } = await reader.read();
    if (done) break;
    chunks.push(value);
    loaded += value.byteLength;
    onProgress?.({ file, loaded, total, cached: false });
  }
  const bytes = new Uint8Array(loaded);
  let at = 0;
  for (const c of chunks) {
    bytes.set(c, at);
    at += c.byteLength;
  }
  if (expected && (await sha256(bytes)) !== expected) {
    throw fail("CC2D_FETCH", `cc2d: the ${file} file from ${url} is not this release's (${VERSION}): corrupted download or a stale copy in between; reload, or clear the HTTP cache`);
  }
  onProgress?.({ file, loaded, total: loaded, cached: false });
  await store?.put(url.href, new Response(bytes, { headers: { "content-type": response.headers.get("content-type") ?? "application/octet-stream" } })).catch(() => {});
  return bytes;
}

/** A module's URL as given (`create`'s options), else the package's own. */
function moduleUrl(given, own) {
  return given instanceof URL ? given : given ? new URL(given, globalThis.location?.href) : own;
}

/**
 * Loads and instantiates a module's JS glue and wasm once per page or worker; a failed load
 * is forgotten, so that a later call tries again.
 * @param {() => Promise<any>} glue
 * @param {(glue: any) => Promise<number>} [start] after instantiation: gives the thread count
 */
function once(slot, glue, url, file, options, start = async () => 1) {
  loaded[slot] ??= Promise.all([glue(), download(url, file, options)])
    .then(async ([js, bytes]) => {
      const exports = await js.default({ module_or_path: bytes });
      const threads = await start(js);
      memories.add(exports.memory);
      return { Engine: js.Engine, Image: js.Image, rankTemplates: js.rankTemplates, threads };
    })
    .catch((e) => {
      loaded[slot] = null;
      throw e?.code ? e : fail("CC2D_FETCH", `cc2d: could not load the ${fileLabel(file)}: ${e.message ?? e}`);
    });
  return loaded[slot];
}
/** @type {Record<"inference" | "cpu" | "threaded" | "training", Promise<typeof INFERENCE> | null>} */
const loaded = { inference: null, cpu: null, threaded: null, training: null };

/** The inference module with WebGPU alone (no CPU backend: `inferenceEngine` moves to a CPU module should WebGPU fail to start). */
function loadWasm(wasmUrl, options) {
  return once("inference", async () => ({ default: init, Engine, Image, rankTemplates }), moduleUrl(wasmUrl, WASM), "wasm", options);
}

/** The inference module without WebGPU, one CPU thread (its progress reported as "wasm": it is the engine's inference module). */
function loadCpuWasm(wasmUrl, options) {
  return once("cpu", () => import("./wasm/cc2d_cpu.js"), moduleUrl(wasmUrl, CPU_WASM), "wasm", options);
}

/** The training module, fetched on the first `fineTune` (its glue a dynamic import, which bundlers split off). */
function loadTrainingWasm(wasmUrl, options) {
  return once("training", () => import("./wasm/cc2d_train.js"), moduleUrl(wasmUrl, TRAINING_WASM), "training", options);
}

/**
 * The threaded CPU module with its pool of `threads` Web Workers started (the first caller
 * sizes it, once per worker). A pool that does not start within a minute counts as a failure.
 */
function loadThreadedWasm(wasmUrl, threads, options) {
  return once("threaded", () => import("./wasm/cc2d_mt.js"), moduleUrl(wasmUrl, THREADED_WASM), "threaded", options, async (js) => {
    let timer;
    const timeout = new Promise((_, reject) => (timer = setTimeout(() => reject(new Error("its Web Workers did not start within 60 s")), 60_000)));
    await Promise.race([js.initThreadPool(threads), timeout]).finally(() => clearTimeout(timer));
    return threads;
  });
}

/**
 * Whether the threaded module can run here: shared memory (a cross-origin-isolated context)
 * in a worker, where a thread may block waiting for the pool (a page's main thread may not).
 */
export function threadsAvailable() {
  return globalThis.crossOriginIsolated === true && typeof SharedArrayBuffer === "function" && typeof (/** @type {any} */ (globalThis).WorkerGlobalScope) !== "undefined";
}

function isBytes(x) {
  return x instanceof ArrayBuffer || ArrayBuffer.isView(x);
}

function asUint8(x) {
  return x instanceof ArrayBuffer ? new Uint8Array(x) : new Uint8Array(x.buffer, x.byteOffset, x.byteLength);
}

/**
 * One model's weights as given: a URL or string (fetched), bytes, or a Blob/File.
 * @param {unknown} x
 * @returns {x is import("./index.js").WeightsSource}
 */
function isWeightsSource(x) {
  return isBytes(x) || typeof x === "string" || x instanceof URL || (typeof Blob !== "undefined" && x instanceof Blob);
}

/** Weights from a URL (downloaded with progress, kept in the Cache API), bytes or a Blob/File. */
async function weightBytes(source, what, options) {
  if (isBytes(source)) return asUint8(source);
  if (typeof Blob !== "undefined" && source instanceof Blob) return new Uint8Array(await source.arrayBuffer());
  return download(source instanceof URL ? source : new URL(String(source), globalThis.location?.href), what, options);
}

function checkSize(width, height, name) {
  if (!(width > 0 && height > 0 && width <= MAX_SIDE && height <= MAX_SIDE)) {
    throw fail("CC2D_BAD_IMAGE", `cc2d: ${name}: image is ${width}×${height}; sides must be between 1 and ${MAX_SIDE} pixels (is the image loaded?)`);
  }
}

/** Any supported image input → the engine's grey `Image`, in the engine's module (`wasm`). */
async function toImage(input, name, wasm) {
  const { Image } = wasm;
  if (input == null) throw fail("CC2D_BAD_IMAGE", "cc2d: no image given");
  if (isBytes(input)) return Image.fromEncoded(asUint8(input), name ?? "image");
  if (typeof Blob !== "undefined" && input instanceof Blob) {
    return Image.fromEncoded(new Uint8Array(await input.arrayBuffer()), name ?? (input instanceof File ? input.name : "image"));
  }
  if (typeof ImageData !== "undefined" && input instanceof ImageData) {
    checkSize(input.width, input.height, name ?? "ImageData");
    return Image.fromRgba(input.width, input.height, new Uint8Array(input.data.buffer, input.data.byteOffset, input.data.byteLength), name ?? "ImageData");
  }
  // ImageBitmap, HTMLImageElement, HTMLCanvasElement, OffscreenCanvas, VideoFrame: draw it.
  const width = input.naturalWidth ?? input.displayWidth ?? input.width;
  const height = input.naturalHeight ?? input.displayHeight ?? input.height;
  const label = name ?? (input.currentSrc ? input.currentSrc.split("/").pop() : input.constructor?.name ?? "image");
  if (width === undefined || height === undefined) {
    throw fail("CC2D_BAD_IMAGE", `cc2d: ${label}: unsupported image input; give encoded bytes (PNG/JPEG/BMP/TIFF), a Blob/File, ImageData, ImageBitmap, an <img> or a canvas`);
  }
  checkSize(width, height, label);
  const canvas = typeof OffscreenCanvas !== "undefined" ? new OffscreenCanvas(width, height) : Object.assign(document.createElement("canvas"), { width, height });
  const context = canvas.getContext("2d", { willReadFrequently: true });
  if (!context) throw fail("CC2D_BAD_IMAGE", `cc2d: ${label}: this browser gives no 2D canvas to read the image with`);
  context.drawImage(input, 0, 0, width, height);
  const data = context.getImageData(0, 0, width, height).data;
  return Image.fromRgba(width, height, new Uint8Array(data.buffer, data.byteOffset, data.byteLength), label);
}

/** An aborted call rejects with a DOMException named AbortError, `code` CC2D_ABORTED. */
function abortError(signal) {
  const reason = signal.reason;
  const error = reason instanceof DOMException && reason.name === "AbortError" ? reason : new DOMException(`cc2d: aborted${reason ? ` (${reason})` : ""}`, "AbortError");
  // DOMException's own `code` is a legacy number on its prototype: an own property shadows it.
  return Object.defineProperty(error, "code", { value: "CC2D_ABORTED", enumerable: true });
}

/**
 * Between the steps of a long call: lets the event loop deliver what is waiting (in a worker,
 * the page's abort message: the engine's CPU steps never yield by themselves), then stops if
 * the call was aborted.
 */
async function checkpoint(signal) {
  await new Promise((resolve) => setTimeout(resolve, 0));
  if (signal?.aborted) throw abortError(signal);
}

/** A trapped wasm instance cannot be used again: say so instead of failing obscurely later. */
function explain(e) {
  if (e instanceof RangeError && !("code" in e)) {
    return fail("CC2D_OUT_OF_MEMORY", `cc2d: the engine ran out of memory (${e.message}); use a smaller image or batch. Call dispose() and create a new Cc2d.`);
  }
  if (e instanceof WebAssembly.RuntimeError) {
    return fail("CC2D_ENGINE_FAILED", `cc2d: the engine failed (${e.message}); this is usually out of memory for a very large image or batch. Call dispose() and create a new Cc2d.`);
  }
  if (typeof e?.code === "string") return e;
  if (e instanceof DOMException) return Object.defineProperty(e, "code", { value: e.name === "AbortError" ? "CC2D_ABORTED" : "CC2D_INTERNAL", enumerable: true });
  if (e instanceof Error) return Object.assign(e, { code: "CC2D_INTERNAL" });
  return fail("CC2D_INTERNAL", String(e));
}

/** Why the threaded module could not start here (it is not tried again), or null. @type {Error | null} */
let threadedFailure = null;

/**
 * The inference engine for `create`, the module it lives in and why (`chooseBackend`:
 * "auto" takes a hardware WebGPU adapter, never a software one, else the CPU). WebGPU: the
 * WebGPU module, which has no CPU backend; should its device fail to start there ("auto"),
 * the CPU after all (the WebGPU module's download is then wasted, but every page that has an
 * adapter and no device is a rare one). The CPU: the threaded module where threads can run
 * (`threadsAvailable()`, `threads` > 1: by default the machine's cores, at most 8), else the
 * CPU module, a third of the WebGPU one's size. A threaded module that fails to start (its
 * workers blocked, say) leaves a warning and the CPU module.
 * @param {{ wasm?: URL | string, cpuWasm?: URL | string, threadedWasm?: URL | string }} urls
 */
async function inferenceEngine(backend, threads, urls, options) {
  if (!["auto", "webgpu", "cpu"].includes(backend)) throw fail("CC2D_BAD_INPUT", `cc2d: unknown backend ${JSON.stringify(backend)}; use "auto", "webgpu" or "cpu"`, TypeError);
  const wanted = threads ?? Math.min(globalThis.navigator?.hardwareConcurrency || 1, 8);
  if (!(Number.isInteger(wanted) && wanted >= 1)) throw fail("CC2D_BAD_INPUT", `cc2d: threads must be a whole number ≥ 1, got ${threads}`, TypeError);
  let choice = await chooseBackend(backend);
  if (choice.backend === "webgpu") {
    const module = await loadWasm(urls.wasm, options);
    try {
      return { module, engine: await module.Engine.create("webgpu"), choice };
    } catch (e) {
      if (backend === "webgpu" || /** @type {any} */ (e)?.code !== "CC2D_NO_WEBGPU") throw e;
      const message = e instanceof Error ? e.message : String(e);
      console.warn(`${message}; cc2d runs on the CPU`);
      choice = { backend: "cpu", reason: `the WebGPU adapter gave no device (${message})`, adapter: null };
    }
  }
  const module = await cpuModule(wanted, urls, options);
  return { module, engine: await module.Engine.create("cpu"), choice };
}

/** The CPU's module: threaded where threads can run and are wanted, else single-threaded. */
async function cpuModule(wanted, urls, options) {
  if (wanted > 1 && threadsAvailable() && !threadedFailure) {
    try {
      return await loadThreadedWasm(urls.threadedWasm, wanted, options);
    } catch (e) {
      threadedFailure = e instanceof Error ? e : new Error(String(e));
      console.warn(`${threadedFailure.message}; cc2d runs on one CPU thread`);
    }
  }
  return loadCpuWasm(urls.cpuWasm, options);
}

/**
 * The weights `create` loads: a model bundle's (exportModel: the detector's weights and what
 * describes them), else `weights`, else the shipped ones; the arguments checked.
 */
async function weightSources(weights, model, loading) {
  let bundle = null;
  if (model != null) {
    if (weights != null) throw fail("CC2D_BAD_INPUT", "cc2d: give `model` (a bundle) or `weights`, not both", TypeError);
    if (!isWeightsSource(model)) throw fail("CC2D_BAD_INPUT", "cc2d: model must be a URL, a string, bytes or a Blob/File holding a bundle from exportModel", TypeError);
    bundle = unpackModel(await weightBytes(model, "detector", loading), weightsName(model, "model"));
  }
  const single = weights !== undefined && isWeightsSource(weights);
  if (weights != null && !single && (typeof weights !== "object" || Object.keys(weights).some((k) => k !== "detector" && k !== "extractor"))) {
    throw fail("CC2D_BAD_INPUT", "cc2d: weights must be a URL, a string, bytes, a Blob/File, or { detector, extractor } of those", TypeError);
  }
  for (const which of ["detector", "extractor"]) {
    const w = single ? undefined : weights?.[which];
    if (w != null && !isWeightsSource(w)) throw fail("CC2D_BAD_INPUT", `cc2d: weights.${which} must be a URL, a string, bytes or a Blob/File`, TypeError);
  }
  const sources = {
    detector: bundle?.weights ?? (single ? weights : weights?.detector) ?? DEFAULT_WEIGHTS.detector,
    extractor: (single ? undefined : weights?.extractor) ?? DEFAULT_WEIGHTS.extractor,
  };
  return { bundle, sources };
}

/**
 * One-shot landmark detection. Create with `await Cc2d.create(options)`; every method is
 * async and calls run one at a time, in order (overlapping calls are queued).
 * Checked against the declared API (index.d.ts) by `tsc` in the tests.
 * @implements {Cc2dMethods}
 */
export class Cc2d {
  #engine;
  /** The module `#engine` belongs to: the inference module's, or the training module's once `fineTune` loaded it. */
  #wasm = INFERENCE;
  /** Where the training module is served (`create({ trainingWasm })`), else beside the package's files. @type {URL | string | undefined} */
  #trainingWasm;
  #queue = Promise.resolve();
  #weights;
  /** @type {Error | null} */
  #detectorError = null;
  #extractorLoaded = false;
  /** @type {Error | null} */
  #broken = null;
  #adapter;
  /** Why `create` chose the backend it runs on. */
  #backendReason;
  /** @type {{ onProgress?: (p: import("./index.js").LoadProgress) => void, cache?: boolean }} */
  #loading;
  /** Content keys of the images in the training set (so the same image is not added twice). */
  #labelled = new Set();
  /** The templates set (their JSON: names, points, size, spacing; not the images), for `exportModel`. */
  #templates = [];
  /** A fine-tuning cancelled part-way (its steps done, losses so far), for `fineTune({ resume: true })`. @type {any} */
  #cancelledRun = null;
  /** The bundle this engine was created from (`create({ model })`), else null. @type {import("./index.js").ModelInfo | null} */
  #model = null;

  constructor(engine, weights, adapter, backendReason, loading) {
    this.#engine = engine;
    this.#weights = weights;
    this.#adapter = adapter;
    this.#backendReason = backendReason;
    this.#loading = loading;
  }

  /**
   * `weights`: detector weights (or both models'), default the shipped model; `wasm`: where
   * the .wasm file is served, default beside this file.
   * @param {import("./index.js").CreateOptions} [options]
   */
  static async create({ backend = "auto", threads, weights, model, wasm, cpuWasm, threadedWasm, trainingWasm, onProgress, cache = true } = {}) {
    const loading = { onProgress, cache };
    const { module, engine, choice } = await inferenceEngine(backend, threads, { wasm, cpuWasm, threadedWasm }, loading);
    /** @type {Awaited<ReturnType<typeof weightSources>>} */
    let chosen;
    try {
      chosen = await weightSources(weights, model, loading);
    } catch (e) {
      engine.free();
      throw e;
    }
    const { bundle, sources } = chosen;
    const adapter = engine.backend === "webgpu" ? (choice.adapter ?? (await adapterInfo())) : null;
    const cc2d = new Cc2d(engine, sources, adapter, choice.reason, loading);
    cc2d.#wasm = module;
    cc2d.#trainingWasm = trainingWasm;
    if (bundle) {
      cc2d.#model = bundle.info;
      cc2d.#templates = bundle.info.templates.map((t) => ({ ...t }));
    }
    // The detector's weights load in the background; calls queue behind them.
    cc2d.#enqueue(() => cc2d.#loadDetector(sources.detector)).catch(() => {});
    return cc2d;
  }

  /** The backend in use: "webgpu" or "cpu". */
  get backend() {
    return this.#engine?.backend ?? "disposed";
  }

  /**
   * How many threads the CPU kernels run on: more than 1 with the threaded module (the CPU
   * backend in a cross-origin-isolated worker), else 1 (WebGPU, the page's main thread, a
   * page without cross-origin isolation, and after `fineTune` moved the engine into the
   * single-threaded training module).
   */
  get threads() {
    return this.#wasm.threads;
  }

  /**
   * Bytes of the wasm instances' memories (shared by every `Cc2d` of the page or worker; they
   * grow and never shrink): a diagnostic, e.g. to see that repeated calls do not leak.
   */
  get wasmMemoryBytes() {
    return [...memories].reduce((sum, memory) => sum + memory.buffer.byteLength, 0);
  }

  /** The WebGPU adapter's info ({ vendor, architecture, device, description, fallback }), or null on the CPU. */
  get adapter() {
    return this.#adapter;
  }

  /**
   * Why `create` runs on `backend`: asked for, no WebGPU adapter, a software adapter (slower
   * than the CPU path), a hardware adapter, or an adapter that gave no device.
   */
  get backendReason() {
    return this.#backendReason;
  }

  /** What the model bundle this engine was created from says (name, landmarks, templates, spacing), or null. */
  get model() {
    return this.#model;
  }

  /** The landmark names results carry (the template's, else the detector's). Async: waits for the weights. */
  landmarkNames() {
    return this.#enqueue(() => this.#engine.landmarkNames());
  }

  /**
   * The one annotated example. `landmarks`: [{ name, x, y }] in original pixels.
   * @param {ImageSource} image
   * @param {{name: string, x: number, y: number}[]} landmarks
   * @param {{spacingMm?: number, name?: string}} [options]
   */
  setTemplate(image, landmarks, { spacingMm, name } = {}) {
    return this.#enqueue(async () => {
      const img = await toImage(image, name ?? "template", this.#wasm);
      try {
        const json = templateJson(img, landmarks, name ?? "template", spacingMm);
        this.#engine.setTemplate(img, json);
        this.#templates = [JSON.parse(json)];
        this.#labelled.clear();
      } finally {
        img.free();
      }
    });
  }

  /**
   * Few-shot: another annotated image, with the template's landmarks in the same order. It
   * is matched against as a template and trained on with these labels (a corrected
   * pseudo-label: the image stops being pseudo-labelled).
   * @param {ImageSource} image
   * @param {{name: string, x: number, y: number}[]} landmarks
   * @param {{name?: string}} [options]
   */
  addTemplate(image, landmarks, { name } = {}) {
    return this.#enqueue(async () => {
      const key = await contentKey(image);
      const img = await toImage(image, name ?? "template", this.#wasm);
      try {
        const json = templateJson(img, landmarks, name ?? "template");
        this.#engine.addTemplate(img, json);
        this.#templates.push(JSON.parse(json));
        // It is in the training set now, with these labels: pseudoLabel will not add it again.
        if (key !== null) this.#labelled.add(key);
      } finally {
        img.free();
      }
    });
  }

  /** How many pseudo-labelled images `fineTune` trains on. */
  trainingSetSize() {
    return this.#enqueue(async () => this.#engine.trainingSetSize);
  }

  /** Forgets the pseudo-labelled images (the template stays). */
  clearTrainingSet() {
    return this.#enqueue(async () => {
      this.#engine.clearTrainingSet();
      this.#labelled.clear();
    });
  }

  /** CC2D-SSL matching against the template: landmarks in original pixels, a score each. */
  /** @param {ImageSource} image @param {{ name?: string, spacingMm?: number }} [options] */
  match(image, { name, spacingMm } = {}) {
    return this.#enqueue(async () => {
      await this.#loadExtractor();
      return this.#timed(image, { name, spacingMm }, (img) => this.#engine.match(img), "score");
    });
  }

  /**
   * The detector (CC2D-TPL): landmarks in original pixels with a confidence each (0–1).
   * `tta: true` adds test-time augmentation: four shifted copies in the same batch, the
   * median answer kept (about 5× the forward time). `spacingMm` (mm per pixel; e.g. from a
   * calibration; a DICOM file gives its own) shows the image to the detector at the scale it
   * was trained at, whatever the device's field of view.
   */
  /** @param {ImageSource} image @param {{ name?: string, tta?: boolean, spacingMm?: number }} [options] */
  detect(image, { name, tta = false, spacingMm } = {}) {
    return this.#enqueue(async () => {
      if (this.#detectorError) throw this.#detectorError;
      return this.#timed(image, { name, spacingMm }, (img) => this.#engine.detect(img, Boolean(tta)), "confidence");
    });
  }

  /**
   * Template advice, reading no labels: which of `images` to annotate first. Ranks them by
   * how typical they look to the SSL extractor (each image's mean cosine similarity to the
   * others, in the spirit of SCP): `[{ index, score }]`, the one to annotate first first.
   * @param {ImageSource[]} images
   * @param {{onProgress?: (p: {done: number, total: number}) => void, signal?: AbortSignal}} [options]
   */
  adviseTemplate(images, { onProgress, signal } = {}) {
    return this.#enqueue(async () => {
      if (!Array.isArray(images) || images.length < 2) throw fail("CC2D_BAD_INPUT", "cc2d: adviseTemplate needs a list of at least two images to choose from", TypeError);
      await this.#loadExtractor();
      const descriptors = [];
      for (const [i, image] of images.entries()) {
        await checkpoint(signal);
        const img = await toImage(image, undefined, this.#wasm);
        try {
          descriptors.push(await this.#engine.adviceDescriptor(img));
        } finally {
          img.free();
        }
        onProgress?.({ done: i + 1, total: images.length });
      }
      // Every descriptor has the same length: one after the other, for the ranking.
      const flat = new Float32Array(descriptors.length * descriptors[0].length);
      descriptors.forEach((d, i) => flat.set(d, i * d.length));
      return JSON.parse(this.#wasm.rankTemplates(flat, images.length));
    });
  }

  /**
   * SSL pseudo-labels for unlabelled images, kept for `fineTune`. Resolves to their detections.
   * @param {ImageSource[]} images
   * @param {{onProgress?: (p: {done: number, total: number}) => void, signal?: AbortSignal}} [options]
   */
  pseudoLabel(images, { onProgress, signal } = {}) {
    return this.#enqueue(async () => {
      await this.#loadExtractor();
      const results = [];
      for (const [i, image] of [...images].entries()) {
        await checkpoint(signal);
        // An image already in the training set (the same bytes or pixels) is matched again
        // but not added twice.
        const key = await contentKey(image);
        const fresh = key === null || !this.#labelled.has(key);
        results.push(await this.#timed(image, {}, (img) => (fresh ? this.#engine.pseudoLabel(img) : this.#engine.match(img)), "score"));
        if (key !== null) this.#labelled.add(key);
        onProgress?.({ done: i + 1, total: images.length });
      }
      return results;
    });
  }

  /**
   * Trains the detector on pseudo-labelled images plus the template, continuing from the
   * current detector. `images` (optional) are pseudo-labelled first. Cancel with `signal`:
   * the detector is then left as it was, and the cancelled run waits to be continued with
   * `{ resume: true }` (to the same weights as a run never cancelled) until the training set
   * or the detector changes. Resolves to { epochs, steps, epochLosses }.
   */
  /** @param {ImageSource[]} [images] @param {FineTuneOptions} [options] */
  async fineTune(images = [], { epochs, augment = true, resume = false, onProgress, signal } = {}) {
    if (resume && images.length) throw fail("CC2D_BAD_INPUT", "cc2d: resume continues the cancelled run on its own images: give no images with resume");
    if (images.length) await this.pseudoLabel(images, { signal, onProgress: (p) => onProgress?.({ phase: "pseudo-label", ...p }) });
    return this.#enqueue(async () => {
      if (this.#detectorError) throw this.#detectorError;
      await this.#trainable();
      let run = this.#cancelledRun;
      this.#cancelledRun = null;
      if (resume) {
        if (!run || !this.#engine.fineTuneInProgress) throw fail("CC2D_NOT_READY", "cc2d: no cancelled fine-tuning to resume (the training set or the detector changed since, or none was cancelled)");
      } else {
        this.#engine.finishFineTune(false); // a cancelled run not resumed is dropped
        const perEpoch = this.#engine.stepsPerEpoch();
        if (perEpoch === 0) throw fail("CC2D_NOT_READY", "cc2d: nothing to fine-tune on: give images, or call pseudoLabel first");
        run = { done: 0, perEpoch, epochs: 3, epochLosses: [], sum: 0 };
      }
      if (epochs !== undefined) run.epochs = epochs;
      const total = run.perEpoch * run.epochs;
      const started = performance.now();
      const stepsBefore = run.done;
      try {
        while (run.done < total) {
          await checkpoint(signal);
          const report = JSON.parse(await this.#engine.fineTuneStep(augment));
          run.done++;
          run.sum += report.loss;
          if (report.step + 1 === report.stepsPerEpoch) {
            run.epochLosses.push(run.sum / report.stepsPerEpoch);
            run.sum = 0;
          }
          const perStep = (performance.now() - started) / 1000 / (run.done - stepsBefore);
          onProgress?.({ phase: "train", epoch: report.epoch + 1, epochs: run.epochs, step: run.done, steps: total, loss: report.loss, etaSeconds: perStep * (total - run.done) });
        }
        this.#engine.finishFineTune(true);
      } catch (e) {
        if (/** @type {any} */ (e)?.code === "CC2D_ABORTED" && this.#engine) this.#cancelledRun = run;
        else if (this.#engine?.canTrain) this.#engine.finishFineTune(false);
        throw e;
      }
      return { epochs: run.epochs, steps: total, epochLosses: run.epochLosses };
    });
  }

  /**
   * The image as the engine decoded it, as ImageData (grey, 8-bit): to show a file the
   * browser cannot display itself (TIFF, 16-bit PNG) with the pixels the models see.
   * @param {ImageSource} image @param {{ name?: string }} [options]
   */
  decode(image, { name } = {}) {
    return this.#enqueue(async () => {
      const img = await toImage(image, name, this.#wasm);
      try {
        const rgba = img.toRgba();
        return new ImageData(new Uint8ClampedArray(/** @type {ArrayBuffer} */ (rgba.buffer), rgba.byteOffset, rgba.byteLength), img.width, img.height);
      } finally {
        img.free();
      }
    });
  }

  /** The detector's weights (f16, with its configuration and landmark names), for `weights` of a later `create` or `loadWeights`. */
  exportWeights() {
    return this.#enqueue(() => this.#engine.exportDetector());
  }

  /**
   * One file holding the detector's weights, its landmark names, the templates' points
   * (not their images), the spacing and how it was made: for `create({ model })`.
   * @param {{ name?: string }} [options]
   */
  exportModel({ name } = {}) {
    return this.#enqueue(async () => {
      const weights = await this.#engine.exportDetector();
      /** @type {import("./index.js").ModelInfo} */
      const info = {
        format: MODEL_FORMAT,
        package: VERSION,
        name: name ?? this.#model?.name ?? "cc2d model",
        landmarks: await this.#engine.landmarkNames(),
        spacingMm: this.#templates[0]?.spacing_mm ?? this.#model?.spacingMm ?? null,
        templates: this.#templates.map((t) => ({ ...t })),
        trainingImages: await this.#engine.trainingSetSize,
        created: new Date().toISOString(),
      };
      return packModel(info, weights);
    });
  }

  /** Replaces the detector's weights (URL or bytes); on failure the current detector stays. */
  loadWeights(source) {
    return this.#enqueue(async () => {
      try {
        await this.#loadDetector(source);
        this.#detectorError = null;
      } catch (e) {
        if (this.#engine.hasDetector) this.#detectorError = null;
        throw e;
      }
    });
  }

  /** Frees the engine (GPU buffers included). The object cannot be used afterwards. */
  dispose() {
    const engine = this.#engine;
    this.#engine = null;
    this.#broken = fail("CC2D_DISPOSED", "cc2d: this Cc2d was disposed; create a new one");
    return this.#queue.then(() => engine?.free());
  }

  #enqueue(task) {
    const run = async () => {
      if (this.#broken) throw this.#broken;
      try {
        return await task();
      } catch (e) {
        const error = explain(e);
        if (e instanceof WebAssembly.RuntimeError) this.#broken = error;
        throw error;
      }
    };
    const result = this.#queue.then(run, run);
    this.#queue = result.catch(() => {});
    return result;
  }

  async #loadDetector(source) {
    try {
      this.#engine.loadDetector(await weightBytes(source, "detector", this.#loading), weightsName(source, "detector"));
    } catch (e) {
      this.#detectorError = fail(/** @type {any} */ (e)?.code ?? "CC2D_WEIGHTS_MISMATCH", `cc2d: the detector weights could not be loaded: ${e instanceof Error ? e.message : e}`);
      throw this.#detectorError;
    }
  }

  /**
   * Moves the engine into the training module (loaded now, once per page or worker) unless
   * it is there already: the detector, templates and training set go over as they are, the
   * extractor is loaded again from its source; the inference engine is freed.
   */
  async #trainable() {
    if (this.#engine.canTrain) return;
    const wasm = await loadTrainingWasm(this.#trainingWasm, this.#loading);
    const engine = await wasm.Engine.create(this.#engine.backend);
    try {
      engine.importSession(this.#engine.exportSession());
    } catch (e) {
      engine.free();
      throw e;
    }
    this.#engine.free();
    this.#engine = engine;
    this.#wasm = wasm;
    // The extractor is not part of the session: loaded again (from the cache) where it was.
    if (this.#extractorLoaded) {
      this.#extractorLoaded = false;
      await this.#loadExtractor();
    }
  }

  async #loadExtractor() {
    if (this.#extractorLoaded) return;
    const source = this.#weights.extractor;
    this.#engine.loadExtractor(await weightBytes(source, "extractor", this.#loading), weightsName(source, "extractor"));
    this.#extractorLoaded = true;
  }

  /**
   * @param {any} image
   * @param {{ name?: string, spacingMm?: number }} options
   * @param {(img: any) => Promise<string>} run
   * @param {string} scoreName
   */
  async #timed(image, options, run, scoreName) {
    const { name, spacingMm } = options;
    const started = performance.now();
    const img = await toImage(image, name, this.#wasm);
    try {
      if (spacingMm !== undefined) img.setSpacingMm(spacingMm);
      const detection = JSON.parse(await run(img));
      return {
        image: detection.image,
        width: detection.width,
        height: detection.height,
        ...(detection.spacing_mm !== undefined && { spacingMm: detection.spacing_mm }),
        backend: this.backend,
        milliseconds: performance.now() - started,
        landmarks: detection.landmarks.map((l) => ({ name: l.name, x: l.x, y: l.y, [scoreName]: l.score })),
        ...(detection.orientation !== undefined && { orientation: detection.orientation }),
        ...(detection.recognised !== undefined && { recognised: detection.recognised }),
      };
    } finally {
      img.free();
    }
  }
}

/** How weights are named in messages: the URL, the file's name, else what they are. */
function weightsName(source, what) {
  if (typeof File !== "undefined" && source instanceof File) return source.name;
  return isBytes(source) || (typeof Blob !== "undefined" && source instanceof Blob) ? what : String(source);
}

/** The template JSON the engine reads (docs/cli.md, "Data formats"). */
function templateJson(img, landmarks, name, spacingMm) {
  if (!Array.isArray(landmarks) || landmarks.length === 0) throw fail("CC2D_LANDMARK_COUNT", "cc2d: a template needs landmarks as a non-empty array of { name, x, y }");
  const template = {
    image: name,
    width: img.width,
    height: img.height,
    landmarks: landmarks.map((l, i) => ({ name: String(l.name ?? `L${i + 1}`), x: finite(l.x, i), y: finite(l.y, i) })),
  };
  if (spacingMm !== undefined) template.spacing_mm = spacingMm;
  return JSON.stringify(template);
}

/** A key for an image's content (bytes, a Blob, ImageData), or null where it has none cheaply. */
async function contentKey(image) {
  let bytes = null;
  if (isBytes(image)) bytes = asUint8(image);
  else if (typeof Blob !== "undefined" && image instanceof Blob) bytes = new Uint8Array(await image.arrayBuffer());
  else if (typeof ImageData !== "undefined" && image instanceof ImageData) bytes = new Uint8Array(image.data.buffer, image.data.byteOffset, image.data.byteLength);
  return bytes ? sha256(bytes) : null;
}

function finite(v, i) {
  if (typeof v !== "number" || !Number.isFinite(v)) throw fail("CC2D_BAD_LANDMARK", `cc2d: landmark ${i + 1}: x and y must be finite numbers (original pixels), got ${v}`);
  return v;
}

/** Anything `cc2d` accepts as an image. Encoded bytes and Blobs/Files keep 16-bit depth; the
 * others go through a canvas (8-bit). */
export type ImageSource =
  | ArrayBuffer
  | ArrayBufferView
  | Blob
  | ImageData
  | ImageBitmap
  | HTMLImageElement
  | HTMLCanvasElement
  | OffscreenCanvas;

/** Weights: a URL to fetch (the browser's HTTP cache applies; a relative string resolves
 * against the page, also for `Cc2dWorker`), the bytes themselves, or a Blob/File. */
export type WeightsSource = URL | string | ArrayBuffer | Uint8Array | Blob;

export interface CreateOptions {
  /**
   * `"auto"` (default) uses WebGPU when the browser has a hardware adapter that gives a
   * device, else the CPU (its own module, loaded then): a software adapter (SwiftShader,
   * llvmpipe, WARP) is slower than the CPU path and left alone. `"webgpu"` takes any adapter.
   */
  backend?: "auto" | "webgpu" | "cpu";
  /**
   * Threads for the CPU backend, default the machine's cores (at most 8). More than one runs
   * the threaded module, which needs shared memory: a cross-origin-isolated page (served
   * with `Cross-Origin-Opener-Policy: same-origin` and `Cross-Origin-Embedder-Policy:
   * require-corp`) and a worker (`Cc2dWorker`; a page's main thread may not block). Elsewhere,
   * and on WebGPU, one thread. The first `create` of a page or worker sizes its pool.
   */
  threads?: number;
  /** Detector weights, or both models' weights. Default: the shipped ISBI 2015 model. */
  weights?: WeightsSource | { detector?: WeightsSource; extractor?: WeightsSource };
  /**
   * A model bundle (`exportModel`: the detector's weights with its landmark names, templates'
   * points, spacing): instead of `weights`. The extractor stays the shipped one.
   */
  model?: WeightsSource;
  /** Where `cc2d_bg.wasm` (the inference module with WebGPU) is served, when not beside the package's files. */
  wasm?: URL | string;
  /**
   * Where `cc2d_cpu_bg.wasm` (the inference module without WebGPU, one CPU thread: what the
   * CPU backend loads where threads cannot run) is served, when not beside the package's files.
   */
  cpuWasm?: URL | string;
  /**
   * Where `cc2d_train_bg.wasm` is served, when not beside the package's files: the training
   * module, fetched only on the first `fineTune`.
   */
  trainingWasm?: URL | string;
  /** Where `cc2d_mt_bg.wasm` (the threaded CPU module) is served, when not beside the package's files. */
  threadedWasm?: URL | string;
  /**
   * Download progress of the wasm and the weights (the detector's continue after `create`
   * resolves; the extractor's come with the first `match` / `pseudoLabel` / `fineTune`).
   */
  onProgress?: (progress: LoadProgress) => void;
  /**
   * Keep downloads in the Cache API (default true): the next visit loads with no network.
   * One cache per release (`cc2d-<version>`); the package's own files are checked against
   * their SHA-256, so a corrupted copy is fetched again and a corrupted download refused.
   */
  cache?: boolean;
}

/** What a model bundle says about itself (`Cc2d.model`, `exportModel`). */
export interface ModelInfo {
  format: "cc2d-model-1";
  /** The package version that wrote it. */
  package: string;
  name: string;
  /** The detector's landmark names, in order. */
  landmarks: string[];
  /** mm per pixel of the template (and so of the images it was made for), if known. */
  spacingMm: number | null;
  /** The templates' JSON (docs/cli.md, "Data formats"): image name, size, spacing, points; not the images. */
  templates: { image: string; width: number; height: number; spacing_mm?: number; landmarks: { name: string; x: number; y: number }[] }[];
  /** Pseudo-labelled images in the training set when it was exported. */
  trainingImages: number;
  /** ISO 8601 time of export. */
  created: string;
}

/** A model kept in this browser (`saveModel`, `listModels`). */
export interface SavedModel {
  /** The key it is kept under (the bundle's name unless `saveModel` was given another). */
  name: string;
  /** ISO 8601 time it was saved. */
  savedAt: string;
  /** Bytes of the bundle. */
  size: number;
  /** What the bundle says about itself. */
  info: ModelInfo;
}

/**
 * Keeps a model bundle (`exportModel`) in this browser's IndexedDB under `name` (default: the
 * bundle's own name), replacing one of that name; junk is refused (`CC2D_WEIGHTS_MISMATCH`)
 * before anything is written.
 */
export declare function saveModel(bundle: Uint8Array | ArrayBuffer | Blob, options?: { name?: string }): Promise<SavedModel>;
/** The models kept in this browser, newest first (descriptions only). */
export declare function listModels(): Promise<SavedModel[]>;
/** A kept model's bundle, for `Cc2d.create({ model })`; `CC2D_BAD_INPUT` if there is none of that name. */
export declare function loadModel(name: string): Promise<Uint8Array>;
/** Forgets a kept model; `true` if there was one of that name. */
export declare function deleteModel(name: string): Promise<boolean>;

export interface LoadProgress {
  /**
   * "wasm": the inference module (with WebGPU, or the CPU module); "threaded": the threaded
   * CPU module, in its place where threads run; "training": the training module, fetched on
   * the first `fineTune`.
   */
  file: "wasm" | "threaded" | "training" | "detector" | "extractor";
  loaded: number;
  /** Bytes in all, or null when the server does not say. */
  total: number | null;
  /** Served from the Cache API (no network). */
  cached: boolean;
}

/** A landmark of the template, in original pixels (x right, y down, pixel centres at integers). */
export interface TemplateLandmark {
  name: string;
  x: number;
  y: number;
}

export interface Detection<Score extends string> {
  image: string;
  width: number;
  height: number;
  /** Millimetres per pixel, when the image file says (a DICOM file's PixelSpacing, else ImagerPixelSpacing). */
  spacingMm?: number;
  /** The backend that ran it. */
  backend: "webgpu" | "cpu";
  /** Wall time of the call: image conversion, model, decoding. */
  milliseconds: number;
  landmarks: ({ name: string; x: number; y: number } & Record<Score, number>)[];
  /**
   * `detect` only, where the image was not upright: which way round it was found ("mirrored
   * (facing left)", "inverted (white air)", "turned 90° clockwise", …). The points are in the
   * image's own pixels either way.
   */
  orientation?: string;
  /**
   * `detect` only: `false` when the detector recognised the image no way round (not a lateral
   * cephalogram, or not the anatomy its weights know); the points are then a guess.
   */
  recognised?: boolean;
}

/** `match` results: each landmark's `score` is its similarity with the template (0–1). */
export type MatchResult = Detection<"score">;
/**
 * `detect` results: each landmark's `confidence` (0–1) is the calibrated probability that it
 * lies within 4 mm of the truth (weights without a calibration: the heatmap's peak); low
 * means doubtful.
 */
export type DetectResult = Detection<"confidence">;

/** `fineTune`'s progress: first the pseudo-labelling of the images it was given, then training. */
export type FineTuneProgress =
  | { phase: "pseudo-label"; done: number; total: number }
  | { phase: "train"; epoch: number; epochs: number; step: number; steps: number; loss: number; etaSeconds: number };

export interface FineTuneOptions {
  /** Passes over the pseudo-labelled images (default 3). */
  epochs?: number;
  /** Random rotation, scale, shift and contrast per step (default true). */
  augment?: boolean;
  onProgress?: (progress: FineTuneProgress) => void;
  /**
   * Aborting rejects with an `AbortError` and leaves the detector as it was; the cancelled run
   * can be continued with `resume`.
   */
  signal?: AbortSignal;
  /**
   * Continue the last cancelled run where it stopped (no images; `epochs` default: that run's):
   * it ends at the weights an uncancelled run would have reached. Rejects with CC2D_NOT_READY
   * when there is none, or the training set or the detector changed since.
   */
  resume?: boolean;
}

export interface FineTuneResult {
  epochs: number;
  steps: number;
  /** Mean loss of each epoch. */
  epochLosses: number[];
}

/**
 * Every rejection carries a stable `code` (pkg/README.md, "Errors"):
 * - `CC2D_BAD_IMAGE`: not a supported image, corrupt or cut short, empty, or a side outside 1…16384;
 * - `CC2D_LANDMARK_COUNT`: a template's landmark count is not the detector's (or none given);
 * - `CC2D_BAD_LANDMARK`: a landmark that is NaN, infinite or outside its image;
 * - `CC2D_WEIGHTS_MISMATCH`: not cc2d weights, or weights of another model or landmark set;
 * - `CC2D_NO_WEBGPU`: `backend: "webgpu"` where the browser offers no adapter;
 * - `CC2D_NOT_READY`: a call that needs something first (a template, pseudo-labels, weights);
 * - `CC2D_FETCH`: the weights or the wasm could not be downloaded;
 * - `CC2D_ABORTED`: the call's `signal` aborted it (a DOMException named `AbortError`);
 * - `CC2D_DISPOSED`: a call after `dispose()`;
 * - `CC2D_DEVICE_LOST`: the WebGPU device was lost (driver reset, GPU removed): this engine
 *   cannot use it again; create a new `Cc2dWorker` (a new worker gets a new device) or use the CPU;
 * - `CC2D_OUT_OF_MEMORY`, `CC2D_ENGINE_FAILED`: the wasm engine failed (create a new `Cc2d`);
 * - `CC2D_STORAGE`: the browser would not keep a model (`saveModel` …): no IndexedDB here, a
 *   full quota, or private browsing;
 * - `CC2D_BAD_INPUT`: any other invalid argument or option; `CC2D_INTERNAL`: a bug (please report it).
 */
export type Cc2dErrorCode =
  | "CC2D_BAD_IMAGE"
  | "CC2D_LANDMARK_COUNT"
  | "CC2D_BAD_LANDMARK"
  | "CC2D_WEIGHTS_MISMATCH"
  | "CC2D_NO_WEBGPU"
  | "CC2D_NOT_READY"
  | "CC2D_FETCH"
  | "CC2D_ABORTED"
  | "CC2D_DISPOSED"
  | "CC2D_DEVICE_LOST"
  | "CC2D_OUT_OF_MEMORY"
  | "CC2D_ENGINE_FAILED"
  | "CC2D_STORAGE"
  | "CC2D_BAD_INPUT"
  | "CC2D_INTERNAL";

/** What every `cc2d` promise rejects with (an `Error`, or for aborts a `DOMException`). */
export interface Cc2dError extends Error {
  code: Cc2dErrorCode;
}

/** A WebGPU adapter as `requestAdapter()` describes it; `fallback`: the browser calls it a fallback (software) adapter. */
export interface AdapterInfo {
  vendor: string;
  architecture: string;
  device: string;
  description: string;
  fallback: boolean;
}

/** The shipped default model's weight files (next to this module). */
export declare const DEFAULT_WEIGHTS: Readonly<{ detector: URL; extractor: URL }>;
export declare const MAX_SIDE: number;

/** What `Cc2d` and `Cc2dWorker` both offer. */
export interface Cc2dMethods {
  /** The WebGPU adapter's info, or null on the CPU backend. */
  readonly adapter: AdapterInfo | null;
  /**
   * Why it runs on its backend: asked for; no WebGPU adapter; the adapter is a software
   * renderer (SwiftShader, llvmpipe, WARP: slower than the CPU path, so `"auto"` leaves it);
   * a hardware adapter; or an adapter that gave no device.
   */
  readonly backendReason: string;
  /** The names results carry: the template's, else the detector's. */
  landmarkNames(): Promise<string[]>;
  /**
   * The one annotated example. A landmark set of another size than the loaded detector's
   * (your own landmarks) starts a fresh detector (the SSL encoder, a new head): `detect`
   * rejects with CC2D_NOT_READY until `fineTune` has trained it.
   */
  setTemplate(image: ImageSource, landmarks: TemplateLandmark[], options?: { spacingMm?: number; name?: string }): Promise<void>;
  /**
   * Few-shot: another annotated image with the template's landmarks, in order; matching fuses
   * all templates per landmark (median), and `fineTune` trains on it with these labels. Give a
   * pseudo-labelled image with corrected points here and it is labelled from then on (not
   * trained on twice).
   */
  addTemplate(image: ImageSource, landmarks: TemplateLandmark[], options?: { name?: string }): Promise<void>;
  /** How many pseudo-labelled images `fineTune` trains on (the same image given twice counts once). */
  trainingSetSize(): Promise<number>;
  /** Forgets the pseudo-labelled images; the template stays. */
  clearTrainingSet(): Promise<void>;
  /** CC2D-SSL matching against the template (needs `setTemplate`). */
  match(image: ImageSource, options?: { name?: string; spacingMm?: number }): Promise<MatchResult>;
  /**
   * The CC2D-TPL detector; `tta` adds test-time augmentation (4 shifted copies, median; ≈ 5× the time).
   * `spacingMm` (mm per pixel, e.g. a calibration; DICOM files give their own) shows the image at
   * the scale the detector was trained at, whatever the device's field of view.
   */
  detect(image: ImageSource, options?: { name?: string; tta?: boolean; spacingMm?: number }): Promise<DetectResult>;
  /** The image as the engine decodes it (grey, 8-bit RGBA): to show TIFF or 16-bit files any browser. */
  decode(image: ImageSource, options?: { name?: string }): Promise<ImageData>;
  /**
   * Template advice (no labels read): which image to annotate first, the most typical to the
   * SSL extractor first (each image's mean cosine similarity to the others). `index` is into
   * `images`. Needs two images or more.
   */
  adviseTemplate(images: ImageSource[], options?: { onProgress?: (p: { done: number; total: number }) => void; signal?: AbortSignal }): Promise<{ index: number; score: number }[]>;
  /** SSL pseudo-labels for unlabelled images; the images are kept for `fineTune`. */
  pseudoLabel(images: ImageSource[], options?: { onProgress?: (p: { done: number; total: number }) => void; signal?: AbortSignal }): Promise<MatchResult[]>;
  /** Pseudo-labels `images` (if any), then trains the detector on all pseudo-labelled images plus the template. */
  fineTune(images?: ImageSource[], options?: FineTuneOptions): Promise<FineTuneResult>;
  /** The detector's weights (f16 burnpack), to pass as `weights` later. */
  exportWeights(): Promise<Uint8Array>;
  /** One file with the detector's weights, landmark names, templates' points and spacing (`create({ model })` loads it). */
  exportModel(options?: { name?: string }): Promise<Uint8Array>;
  /** Replaces the detector's weights. */
  loadWeights(source: WeightsSource): Promise<void>;
  /** Frees the engine and its GPU memory (and, for `Cc2dWorker`, ends the worker). */
  dispose(): Promise<void>;
}

/** One-shot landmark detection; every call is queued and runs after the previous one. */
export declare class Cc2d {
  static create(options?: CreateOptions): Promise<Cc2d>;
  /** `"webgpu"` or `"cpu"` (`"disposed"` after `dispose`). */
  readonly backend: "webgpu" | "cpu" | "disposed";
  /** Threads the CPU kernels run on: more than 1 with the threaded module (`CreateOptions.threads`), else 1. */
  readonly threads: number;
  /** What the model bundle it was created from says, or null. */
  readonly model: ModelInfo | null;
  /** Bytes of the page's (or worker's) wasm memories (the inference module's or the threaded one's, and the training module's once loaded), which grow and never shrink: a diagnostic for leaks. */
  readonly wasmMemoryBytes: number;
}
export interface Cc2d extends Cc2dMethods {}

/** The same API, run in a module Web Worker (the page stays responsive). */
/** `Cc2dWorker.create`'s options: `Cc2d.create`'s, and which worker to run in. */
export interface WorkerCreateOptions extends CreateOptions {
  /**
   * The worker to run in: a `Worker` you started (a module worker whose script imports
   * `cc2d/worker.js`), or that script's URL. Default: the package's own `worker.js`, beside
   * `index.js`. Needed when the package comes from another origin (a CDN), where a browser
   * starts no worker from a cross-origin script (pkg/README.md, "From a CDN").
   */
  worker?: Worker | URL | string;
}

export declare class Cc2dWorker {
  static create(options?: WorkerCreateOptions): Promise<Cc2dWorker>;
  readonly backend: "webgpu" | "cpu";
  /** Threads the CPU kernels run on in the worker: more than 1 where the page is cross-origin isolated (`CreateOptions.threads`). */
  readonly threads: number;
  /** What the model bundle it was created from says, or null. */
  readonly model: ModelInfo | null;
}
export interface Cc2dWorker extends Cc2dMethods {}

/** Whether the threaded module can run in this context: cross-origin isolated (shared memory) and a worker. */
export declare function threadsAvailable(): boolean;

// The worker side of `Cc2dWorker`: hosts one `Cc2d` off the page's main thread.
// Started by worker-client.js as a module worker; not imported directly.
import { Cc2d } from "./index.js";
import { FORWARDED } from "./methods.js";

let cc2d = null;
const aborts = new Map();

const lifecycle = {
  async create({ reportProgress, ...options }) {
    // Download progress goes to the page as messages of its own (it outlives this call).
    cc2d = await Cc2d.create({ ...options, onProgress: reportProgress ? (p) => postMessage({ loadProgress: p }) : undefined });
    return { backend: cc2d.backend, backendReason: cc2d.backendReason, threads: cc2d.threads, adapter: cc2d.adapter, model: cc2d.model };
  },
  async dispose() {
    await cc2d?.dispose();
    cc2d = null;
  },
};

/** A forwarded call: its options get the page's progress and abort hooks. */
function forward(method, args, id) {
  if (FORWARDED[method].progress) {
    const last = args.length - 1;
    args[last] = { ...args[last], ...hooks(id) };
  }
  return cc2d[method](...args);
}

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
    if (!lifecycle[method] && !Object.hasOwn(FORWARDED, method)) throw Object.assign(new Error(`cc2d worker: unknown method ${method}`), { code: "CC2D_BAD_INPUT" });
    if (method !== "create" && !cc2d) throw Object.assign(new Error("cc2d worker: not created yet"), { code: "CC2D_NOT_READY" });
    const result = await (lifecycle[method] ? lifecycle[method](...args) : forward(method, args, id));
    const transfer = result instanceof Uint8Array ? [result.buffer] : result instanceof ImageData ? [result.data.buffer] : [];
    postMessage({ id, result }, { transfer });
  } catch (e) {
    // The name, message and code cross to the page (an Error's own properties do not).
    const code = typeof (/** @type {any} */ (e)?.code) === "string" ? /** @type {any} */ (e).code : "CC2D_INTERNAL";
    const error = e instanceof Error || e instanceof DOMException ? { name: e.name, message: e.message, code } : { name: "Error", message: String(e), code };
    postMessage({ id, error });
  } finally {
    aborts.delete(id);
  }
};

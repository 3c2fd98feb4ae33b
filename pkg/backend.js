// Which backend `create` runs on, and why. A software WebGPU adapter (SwiftShader, which
// Chromium offers where the GPU is blocklisted or absent and WebGPU is enabled anyway;
// llvmpipe, lavapipe, WARP) emulates the GPU on the CPU: detection there took 4,954 ms
// against 124 ms on the CPU path in the same browser, so `auto` never picks one.

import { fail } from "./errors.js";

/** Adapter names of software renderers: slower than the CPU path. */
const SOFTWARE = /swiftshader|llvmpipe|lavapipe|softpipe|\bwarp\b|basic render|software/i;

/**
 * The WebGPU adapter's info ({ vendor, architecture, device, description, fallback }), or
 * null when the browser offers none.
 * @returns {Promise<import("./index.js").AdapterInfo | null>}
 */
export async function adapterInfo() {
  try {
    // WebGPU's types are not in TypeScript's DOM library.
    const adapter = await /** @type {any} */ (globalThis.navigator)?.gpu?.requestAdapter();
    if (!adapter) return null;
    const info = adapter.info ?? {};
    // `isFallbackAdapter` moved from the adapter to its info (Chrome 136); read either.
    const fallback = Boolean(info.isFallbackAdapter ?? adapter.isFallbackAdapter);
    return { vendor: info.vendor ?? "", architecture: info.architecture ?? "", device: info.device ?? "", description: info.description ?? "", fallback };
  } catch {
    return null;
  }
}

/** Whether an adapter is a software emulation of a GPU, and its name for the reason. */
export function softwareAdapter(info) {
  const name = [info.vendor, info.architecture, info.device, info.description].filter(Boolean).join(" ");
  return info.fallback || SOFTWARE.test(name) ? name || "a fallback adapter" : null;
}

/**
 * The backend for a requested one: `{ backend: "webgpu" | "cpu", reason, adapter }`.
 * "webgpu" takes any adapter (a software one too: the caller asked for it) and is refused
 * without one; "auto" takes a hardware adapter, else the CPU.
 * @param {"auto" | "webgpu" | "cpu"} requested
 */
export async function chooseBackend(requested) {
  if (requested === "cpu") return { backend: "cpu", reason: 'backend "cpu" asked for', adapter: null };
  const adapter = await adapterInfo();
  if (requested === "webgpu") {
    // Refused before the WebGPU module is downloaded for nothing.
    if (!adapter) throw fail("CC2D_NO_WEBGPU", 'cc2d: WebGPU is not available in this browser (no navigator.gpu, or requestAdapter() gave no adapter); use backend "cpu" or "auto"');
    return { backend: "webgpu", reason: 'backend "webgpu" asked for', adapter };
  }
  if (!adapter) {
    const reason = /** @type {any} */ (globalThis.navigator)?.gpu ? "no WebGPU adapter offered" : "no WebGPU in this browser";
    return { backend: "cpu", reason, adapter: null };
  }
  const software = softwareAdapter(adapter);
  if (software) return { backend: "cpu", reason: `the WebGPU adapter is a software renderer (${software}), slower than the CPU path`, adapter: null };
  return { backend: "webgpu", reason: "a hardware WebGPU adapter", adapter };
}

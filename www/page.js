// What both pages of the app (the tracing app, the one-shot mode) share.

export const $ = (id) => /** @type {any} */ (document.getElementById(id));

/** The page's status line (`#status`, a live region); `error` marks it as a problem. */
export function status(text, error = false) {
  $("status").textContent = text;
  $("status").className = error ? "error" : "";
}

/**
 * Where the engine runs, for the status line: "cpu (2 threads)" or "webgpu (vendor
 * architecture)", and why it was chosen ("the WebGPU adapter is a software renderer …").
 */
export function backendLabel(cc2d) {
  const where = cc2d.backend === "cpu" ? ` (${cc2d.threads} thread${cc2d.threads > 1 ? "s" : ""})` : cc2d.adapter ? ` (${[cc2d.adapter.vendor, cc2d.adapter.architecture].filter(Boolean).join(" ")})` : "";
  return `${cc2d.backend}${where}${cc2d.backendReason ? `: ${cc2d.backendReason}` : ""}`;
}

/** What the view shows of an image file: the browser's own decoding, else the engine's (TIFF, 16-bit, DICOM). */
export async function picture(file, engine) {
  try {
    return await createImageBitmap(file);
  } catch {
    return engine ? engine.decode(file).catch(() => null) : null;
  }
}

/** Saves `data` as a file named `name`. */
export function download(name, type, data) {
  const url = URL.createObjectURL(new Blob([data], { type }));
  const a = Object.assign(document.createElement("a"), { href: url, download: name });
  document.body.append(a);
  a.click();
  a.remove();
  setTimeout(() => URL.revokeObjectURL(url), 10_000);
}

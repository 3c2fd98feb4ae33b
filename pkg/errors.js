// The package's rejections: an Error whose `code` a program can switch on.

/**
 * An Error (or `type`) with a stable `code` (`Cc2dErrorCode` in index.d.ts).
 * @param {import("./index.js").Cc2dErrorCode} code
 * @param {string} message
 */
export function fail(code, message, type = Error) {
  return Object.assign(new type(message), { code });
}

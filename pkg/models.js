// Model bundles: the one-file format `exportModel` writes and `create({ model })` reads, and a
// store that keeps them in the browser (IndexedDB), so a model tuned in the page is there on
// the next visit. No image is stored: a bundle holds weights, names and the templates' points.
import { fail } from "./errors.js";

/** A model bundle: this line, the header's length (4 bytes, little endian), the header (JSON), the detector's weights. */
const MODEL_MAGIC = "cc2d model bundle 1\n";
export const MODEL_FORMAT = "cc2d-model-1";

/** @param {import("./index.js").ModelInfo} info @param {Uint8Array} weights */
export function packModel(info, weights) {
  const magic = new TextEncoder().encode(MODEL_MAGIC);
  const header = new TextEncoder().encode(JSON.stringify(info));
  const out = new Uint8Array(magic.length + 4 + header.length + weights.length);
  out.set(magic, 0);
  new DataView(out.buffer).setUint32(magic.length, header.length, true);
  out.set(header, magic.length + 4);
  out.set(weights, magic.length + 4 + header.length);
  return out;
}

/** @param {Uint8Array} bytes @param {string} name @returns {{ info: import("./index.js").ModelInfo, weights: Uint8Array }} */
export function unpackModel(bytes, name) {
  const magic = new TextEncoder().encode(MODEL_MAGIC);
  const refuse = (why) => fail("CC2D_WEIGHTS_MISMATCH", `cc2d: ${name}: not a cc2d model bundle (${why}); make one with exportModel`);
  if (bytes.length < magic.length + 4 || !magic.every((b, i) => bytes[i] === b)) throw refuse("no bundle signature");
  const length = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength).getUint32(magic.length, true);
  const start = magic.length + 4;
  if (start + length > bytes.length) throw refuse("cut short");
  let info;
  try {
    info = JSON.parse(new TextDecoder("utf-8", { fatal: true }).decode(bytes.subarray(start, start + length)));
  } catch {
    throw refuse("unreadable header");
  }
  if (info?.format !== MODEL_FORMAT || !Array.isArray(info.landmarks) || !Array.isArray(info.templates)) throw refuse(`format ${JSON.stringify(info?.format)}`);
  return { info, weights: bytes.slice(start + length) };
}

/** The IndexedDB database and store the bundles live in (one record per name; a name of its own, apart from a host app's databases). */
const DB = "cc2d-models";
const STORE = "models";

/** Opens the database (creating the store on first use). @returns {Promise<IDBDatabase>} */
function openDb() {
  return new Promise((resolve, reject) => {
    const storage = (why) => fail("CC2D_STORAGE", `cc2d: the browser's storage cannot keep models here (${why})`);
    if (typeof indexedDB === "undefined") return reject(storage("no IndexedDB in this context"));
    let request;
    try {
      request = indexedDB.open(DB, 1);
    } catch (e) {
      return reject(storage(e instanceof Error ? e.message : String(e)));
    }
    request.onupgradeneeded = () => request.result.createObjectStore(STORE, { keyPath: "name" });
    request.onsuccess = () => resolve(request.result);
    request.onerror = () => reject(storage(request.error?.message ?? "IndexedDB refused to open"));
    request.onblocked = () => reject(storage("another tab holds an older version of the database open"));
  });
}

/**
 * Runs `work` on the store in one transaction; resolves with its request's result once the
 * transaction has committed (so a saved model is on disk when the promise resolves).
 * @template T
 * @param {IDBTransactionMode} mode
 * @param {(store: IDBObjectStore) => IDBRequest<T>} work
 * @returns {Promise<T>}
 */
async function inStore(mode, work) {
  const db = await openDb();
  try {
    return await new Promise((resolve, reject) => {
      const storage = (error) => fail("CC2D_STORAGE", `cc2d: the browser's storage refused (${error?.name ?? "error"}: ${error?.message ?? "unknown"}; a full disk or quota, or private browsing)`);
      const tx = db.transaction(STORE, mode);
      const request = work(tx.objectStore(STORE));
      tx.oncomplete = () => resolve(request.result);
      tx.onerror = () => reject(storage(tx.error ?? request.error));
      tx.onabort = () => reject(storage(tx.error ?? request.error));
    });
  } finally {
    db.close();
  }
}

/** @param {any} record @returns {import("./index.js").SavedModel} */
const summary = ({ name, savedAt, size, info }) => ({ name, savedAt, size, info });

/**
 * Keeps a model bundle (from `exportModel`) in this browser under `name` (default: the
 * bundle's own name); a model saved under the same name is replaced. Junk is refused before
 * anything is written.
 * @param {Uint8Array | ArrayBuffer | Blob} bundle
 * @param {{ name?: string }} [options]
 * @returns {Promise<import("./index.js").SavedModel>}
 */
export async function saveModel(bundle, { name } = {}) {
  let bytes;
  if (bundle instanceof Uint8Array) bytes = bundle.slice();
  else if (bundle instanceof ArrayBuffer) bytes = new Uint8Array(bundle.slice(0));
  else if (typeof Blob !== "undefined" && bundle instanceof Blob) bytes = new Uint8Array(await bundle.arrayBuffer());
  else throw fail("CC2D_BAD_INPUT", "cc2d: saveModel takes a bundle from exportModel (Uint8Array, ArrayBuffer or Blob)", TypeError);
  const { info } = unpackModel(bytes, "the bundle to save");
  const key = name ?? info.name;
  if (typeof key !== "string" || key.trim() === "") throw fail("CC2D_BAD_INPUT", "cc2d: a saved model needs a non-empty name", TypeError);
  const record = { name: key, savedAt: new Date().toISOString(), size: bytes.length, info, bytes };
  await inStore("readwrite", (store) => store.put(record));
  return summary(record);
}

/**
 * The models kept in this browser, newest first (their descriptions, not their weights).
 * @returns {Promise<import("./index.js").SavedModel[]>}
 */
export async function listModels() {
  const records = await inStore("readonly", (store) => store.getAll());
  return records.map(summary).sort((a, b) => b.savedAt.localeCompare(a.savedAt));
}

/**
 * A kept model's bundle, for `Cc2d.create({ model })`.
 * @param {string} name
 * @returns {Promise<Uint8Array>}
 */
export async function loadModel(name) {
  const record = await inStore("readonly", (store) => store.get(String(name)));
  if (!record) throw fail("CC2D_BAD_INPUT", `cc2d: no model named ${JSON.stringify(name)} is kept in this browser (listModels says which are)`);
  return record.bytes;
}

/**
 * Forgets a kept model; resolves `true` if there was one of that name.
 * @param {string} name
 * @returns {Promise<boolean>}
 */
export async function deleteModel(name) {
  const key = String(name);
  // One transaction: count it, and delete it if there.
  const count = await inStore("readwrite", (store) => {
    const request = store.count(key);
    request.onsuccess = () => {
      if (request.result > 0) store.delete(key);
    };
    return request;
  });
  return count > 0;
}

// The app's workspace in IndexedDB: every case (the image file itself, its points with their
// edits, its spacing) survives a reload. A few lines of IndexedDB rather than a library: the
// app has no bundler and serves only its own files.

const DB = "cc2d-workspace";
const STORE = "cases";

/** @returns {Promise<IDBDatabase>} */
function open() {
  return new Promise((resolve, reject) => {
    const request = indexedDB.open(DB, 1);
    request.onupgradeneeded = () => request.result.createObjectStore(STORE, { keyPath: "id" });
    request.onsuccess = () => resolve(request.result);
    request.onerror = () => reject(request.error);
  });
}

/** Runs `fn` on the store in one transaction; resolves with its request's result. */
async function run(mode, fn) {
  const db = await open();
  try {
    return await new Promise((resolve, reject) => {
      const tx = db.transaction(STORE, mode);
      const request = fn(tx.objectStore(STORE));
      tx.oncomplete = () => resolve(request?.result);
      tx.onerror = tx.onabort = () => reject(tx.error ?? new Error("IndexedDB transaction failed"));
    });
  } finally {
    db.close();
  }
}

/** Every saved case, in the order they were opened. */
export async function loadCases() {
  const all = (await run("readonly", (s) => s.getAll())) ?? [];
  return all.sort((a, b) => a.id - b.id);
}

/** Saves (or replaces) one case: `{ id, name, file, width, height, landmarks, spacing }`. */
export function saveCase(c) {
  return run("readwrite", (s) => s.put(c));
}

export function clearCases() {
  return run("readwrite", (s) => s.clear());
}

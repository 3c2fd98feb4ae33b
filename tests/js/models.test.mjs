// Model bundles (pkg/models.js) in node, no wasm, no IndexedDB: the format round-trips, junk
// is refused, and the store says clearly that it cannot keep models here.
import { test } from "node:test";
import assert from "node:assert/strict";
import { MODEL_FORMAT, deleteModel, listModels, loadModel, packModel, saveModel, unpackModel } from "../../pkg/models.js";

const info = { format: MODEL_FORMAT, package: "0.0.0", name: "m", landmarks: ["a", "b"], spacingMm: null, templates: [], trainingImages: 0, created: "2026-11-27T00:00:00Z" };

test("a bundle unpacks to the header and weights it was packed from; junk, cut and foreign bundles are refused", () => {
  const weights = new Uint8Array([9, 8, 7, 6]);
  const bundle = packModel(info, weights);
  const back = unpackModel(bundle, "m.cc2d");
  assert.deepEqual(back.info, info);
  assert.deepEqual([...back.weights], [...weights]);
  const code = (f) => { try { f(); return "accepted"; } catch (e) { return `${e.code} ${e.message}`; } };
  assert.match(code(() => unpackModel(new Uint8Array([1, 2, 3]), "x")), /^CC2D_WEIGHTS_MISMATCH cc2d: x: not a cc2d model bundle \(no bundle signature\)/);
  assert.match(code(() => unpackModel(bundle.slice(0, 30), "x")), /\(cut short\)/);
  assert.match(code(() => unpackModel(packModel({ ...info, format: "other" }, weights), "x")), /\(format "other"\)/);
});

test("without IndexedDB (here: node) every store call rejects with CC2D_STORAGE; junk is refused before the store is asked", async () => {
  const bundle = packModel(info, new Uint8Array([1]));
  for (const call of [() => saveModel(bundle), () => listModels(), () => loadModel("m"), () => deleteModel("m")]) {
    await assert.rejects(call(), (e) => e.code === "CC2D_STORAGE" && /no IndexedDB in this context/.test(e.message));
  }
  await assert.rejects(saveModel(new Uint8Array([1, 2])), (e) => e.code === "CC2D_WEIGHTS_MISMATCH");
});

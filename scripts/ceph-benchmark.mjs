// The ISBI 2015 challenge's second task, classification, on our landmarks: for each of the
// eight measurements (cc2d/ceph), the share of images whose anatomical type from predicted
// landmarks equals the type from the ground truth (mean of the two doctors), and the mean
// absolute error of the value. No wasm, no browser: the analysis module in node.
//
//   node scripts/ceph-benchmark.mjs PREDICTIONS.csv [--data DIR] [--split test1 --split test2]
//
// PREDICTIONS.csv is what `cc2d detect` writes (`id,x1,y1,…,x19,y19`, original pixels).
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { parseArgs } from "node:util";
import { ISBI_MEASUREMENTS, analyse } from "../pkg/ceph.js";

const { values, positionals } = parseArgs({
  allowPositionals: true,
  options: {
    data: { type: "string", default: join(process.env.CC2D_DATA ?? "../shared/data", "isbi2015") },
    split: { type: "string", multiple: true, default: ["test1", "test2"] },
    json: { type: "boolean", default: false },
  },
});
if (positionals.length !== 1) {
  console.error("usage: node scripts/ceph-benchmark.mjs PREDICTIONS.csv [--data DIR] [--split test1 --split test2] [--json]");
  process.exit(2);
}
const SPACING_MM = 0.1; // ISBI 2015

/** @param {string} id */
const normaliseId = (id) => {
  const stem = id.trim().split(/[\\/]/).pop().split(".")[0];
  return /^\d+$/.test(stem) ? stem.padStart(3, "0") : stem;
};

/** The predictions CSV: id → 19 [x, y]. */
function readPredictions(path) {
  const rows = new Map();
  readFileSync(path, "utf8")
    .split(/\r?\n/)
    .forEach((line, i) => {
      const cells = line.split(",");
      if (!line.trim() || (i === 0 && Number.isNaN(Number(cells[1])))) return;
      const v = cells.slice(1).map(Number);
      if (v.length < 38 || v.some((x) => !Number.isFinite(x))) throw new Error(`${path}: line ${i + 1}: expected 19 finite x,y pairs`);
      rows.set(normaliseId(cells[0]), Array.from({ length: 19 }, (_, k) => [v[2 * k], v[2 * k + 1]]));
    });
  return rows;
}

/** Ground truth: the mean of the senior and junior doctors' points. */
function groundTruth(id) {
  const read = (who) =>
    readFileSync(join(values.data, "AnnotationsByMD", `400_${who}`, `${id}.txt`), "utf8")
      .trim()
      .split(/\r?\n/)
      .slice(0, 19)
      .map((l) => l.split(",").map(Number));
  const [s, j] = [read("senior"), read("junior")];
  return s.map((p, k) => [(p[0] + j[k][0]) / 2, (p[1] + j[k][1]) / 2]);
}

const predictions = readPredictions(positionals[0]);
const ids = values.split.flatMap((split) =>
  readFileSync(join(values.data, `${split}.txt`), "utf8")
    .split(/\s+/)
    .filter(Boolean)
    .map(normaliseId),
);
const missing = ids.filter((id) => !predictions.has(id));
if (missing.length) {
  console.error(`${positionals[0]}: no prediction for ${missing.length} images of ${values.split.join("+")} (${missing.slice(0, 5).join(", ")}…)`);
  process.exit(2);
}

const stats = Object.fromEntries(ISBI_MEASUREMENTS.map((m) => [m, { agree: 0, absError: 0, unit: "" }]));
for (const id of ids) {
  const measure = (points) => Object.fromEntries(analyse(points, { spacingMm: SPACING_MM }).measurements.filter((m) => m.group === "isbi").map((m) => [m.id, m]));
  const truth = measure(groundTruth(id));
  const ours = measure(predictions.get(id));
  for (const m of ISBI_MEASUREMENTS) {
    stats[m].agree += Number(truth[m].isbiClass.type === ours[m].isbiClass.type);
    stats[m].absError += Math.abs(truth[m].value - ours[m].value);
    stats[m].unit = truth[m].unit;
  }
}
const rows = ISBI_MEASUREMENTS.map((m) => ({ measurement: m, successRate: (100 * stats[m].agree) / ids.length, meanAbsError: stats[m].absError / ids.length, unit: stats[m].unit }));
const mean = rows.reduce((s, r) => s + r.successRate, 0) / rows.length;
if (values.json) {
  console.log(JSON.stringify({ images: ids.length, splits: values.split, rows, meanSuccessRate: mean }, null, 2));
} else {
  console.log(`ISBI 2015 classification, ${values.split.join(" + ")} (${ids.length} images): types from ${positionals[0]} vs from the ground truth`);
  console.log("| measurement | classification success (%) | mean absolute error |");
  console.log("|---|---|---|");
  for (const r of rows) console.log(`| ${r.measurement} | ${r.successRate.toFixed(2)} | ${r.meanAbsError.toFixed(r.unit === "ratio" ? 3 : 2)} ${r.unit === "ratio" ? "" : r.unit} |`);
  console.log(`| mean | ${mean.toFixed(2)} | |`);
}

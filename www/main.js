// The tracing app: open radiographs (picker, drag-and-drop, paste), detect in a worker
// (`Cc2dWorker`), correct the points on `<cc2d-tracing>`, read the measurements (`cc2d/ceph`)
// live, export. Everything runs on this machine.
import { Cc2dWorker } from "cc2d";
import { analyse } from "cc2d/ceph";
import "cc2d/tracing";
import { $, download, picture as pictureWith, status, backendLabel } from "./page.js";
import { clearCases, loadCases, saveCase } from "./workspace.js";

const tracing = /** @type {import("cc2d/tracing").Cc2dTracing} */ ($("tracing"));

let cc2d = null;
/** @type {{ id: number, name: string, file: Blob, bitmap: ImageBitmap | ImageData | null, width: number, height: number, landmarks: any[] | null, spacing: number | null, error?: string }[]} */
const cases = [];
let current = -1;
const DEFAULT_SPACING = 0.1; // the shipped model's images (ISBI 2015)

/** The case as stored (no decoded bitmap, no transient error). */
const stored = (c) => ({ id: c.id, name: c.name, file: c.file, width: c.width, height: c.height, landmarks: c.landmarks, spacing: c.spacing });
function persist(c) {
  if (c?.landmarks) saveCase(stored(c)).catch((e) => status(`Could not save the workspace: ${e.message}`, true));
}

/** Reopens the saved workspace: cases, points, edits and spacing, without detecting again. */
async function restore() {
  try {
    const saved = await loadCases();
    for (const c of saved) cases.push({ ...c, bitmap: null });
    if (cases.length) {
      renderCases();
      await show(0);
      status(`Restored ${cases.length} case${cases.length > 1 ? "s" : ""} from this browser's storage.`);
    }
  } catch (e) {
    status(`Could not read the saved workspace: ${e.message}`, true);
  }
  document.body.dataset.restored = String(cases.length);
}

async function start(backend) {
  await cc2d?.dispose();
  cc2d = null;
  document.body.dataset.ready = "false";
  status("Loading the model…");
  try {
    const loading = {};
    cc2d = await Cc2dWorker.create({
      backend,
      // Downloads (the first visit; later ones come from the browser's Cache API).
      onProgress: ({ file, loaded, total, cached }) => {
        loading[file] = cached ? "cached" : total ? `${Math.round((100 * loaded) / total)} %` : `${(loaded / 1e6).toFixed(1)} MB`;
        if (document.body.dataset.ready !== "true") status(`Loading the model… ${Object.entries(loading).map(([f, v]) => `${f} ${v}`).join(", ")}`);
      },
    });
    status(`Ready on ${backendLabel(cc2d)}, in a worker. Open radiographs.`);
    document.body.dataset.ready = "true";
    // A restored case the browser could not draw (TIFF) is drawn from the engine's pixels now.
    if (current >= 0 && !cases[current].bitmap) await show(current);
  } catch (e) {
    status(e.message, true);
  }
}

/** Adds files as cases and detects on each in turn; the first new one is shown. */
async function open(files) {
  if (!cc2d || !files.length) return;
  document.body.dataset.done = "false";
  const first = cases.length;
  let id = Math.max(0, ...cases.map((c) => c.id)) + 1;
  for (const file of files) cases.push({ id: id++, name: file.name || "pasted image", file, bitmap: null, width: 0, height: 0, landmarks: null, spacing: DEFAULT_SPACING });
  renderCases();
  for (let i = first; i < cases.length; i++) {
    const c = cases[i];
    status(`Detecting on ${c.name} (${i - first + 1} of ${cases.length - first})…`);
    try {
      const result = await cc2d.detect(c.file);
      const bitmap = await picture(c.file);
      // A DICOM file's own pixel spacing calibrates its case.
      if (result.spacingMm) c.spacing = result.spacingMm;
      Object.assign(c, { bitmap, width: result.width, height: result.height, landmarks: result.landmarks.map((l) => ({ ...l, detected: { x: l.x, y: l.y }, edited: false })) });
      persist(c);
      if (i === first) await show(i);
      const found = `${result.landmarks.length} landmarks on ${c.name} (${result.width}×${result.height}) in ${result.milliseconds.toFixed(0)} ms on ${result.backend}`;
      if (result.recognised === false) status(`${c.name} does not look like a lateral cephalogram the model knows, any way round: its points are a guess, not a tracing. Check the image.`, true);
      else status(`${found}${result.orientation ? `; the image was ${result.orientation}` : ""}.`);
    } catch (e) {
      c.error = e.message;
      status(e.message.startsWith(c.name) ? e.message : `${c.name}: ${e.message}`, true); // the other cases and their edits are untouched
    }
    renderCases();
  }
  document.body.dataset.done = "true";
}

function renderCases() {
  $("cases").replaceChildren(
    ...cases.map((c, i) => {
      const b = document.createElement("button");
      b.textContent = c.error ? `${c.name} ✗` : c.landmarks ? c.name : `${c.name} …`;
      b.title = c.error ?? "";
      b.disabled = !c.landmarks;
      b.setAttribute("aria-current", String(i === current));
      b.onclick = () => void show(i);
      return b;
    }),
  );
}

/** Shows case `i`, keeping the edits of the one left. */
async function show(i) {
  save();
  current = i;
  const c = cases[i];
  c.bitmap ??= await picture(c.file);
  $("spacing").value = c.spacing === null ? "" : String(c.spacing);
  if (c.bitmap) tracing.image = c.bitmap;
  else tracing.image = Object.assign(document.createElement("canvas"), { width: c.width, height: c.height });
  tracing.landmarks = c.landmarks;
  renderCases();
  update();
}

/** What the view shows of a case's file (decoded by the engine where the browser cannot). */
const picture = (file) => pictureWith(file, cc2d);

function save() {
  if (current >= 0 && cases[current].landmarks) {
    cases[current].landmarks = tracing.landmarks;
    persist(cases[current]);
  }
}

function spacing() {
  const v = Number($("spacing").value);
  return $("spacing").value.trim() && v > 0 ? v : null;
}

/** The tables and buttons, from the points now (on every drag). */
function update() {
  const points = tracing.landmarks;
  const selected = tracing.selected;
  $("results").tBodies[0].replaceChildren(
    ...points.map((l, i) => {
      const tr = document.createElement("tr");
      tr.className = [l.confidence !== null && l.confidence < 0.6 ? "doubtful" : "", l.edited ? "edited" : "", i === selected ? "selected" : ""].join(" ").trim();
      for (const text of [i + 1, l.name, l.x.toFixed(1), l.y.toFixed(1), l.confidence === null ? "–" : l.confidence.toFixed(2), l.edited ? "yes" : ""]) {
        const td = document.createElement("td");
        td.textContent = String(text);
        tr.append(td);
      }
      return tr;
    }),
  );
  $("results").hidden = points.length === 0;
  renderMeasurements(points);
  const some = points.length > 0;
  $("undo").disabled = !tracing.canUndo;
  $("redo").disabled = !tracing.canRedo;
  $("reset-point").disabled = selected < 0;
  for (const id of ["reset-all", "export-json", "export-csv", "export-measurements", "export-png", "report-button"]) $(id).disabled = !some;
}

function renderMeasurements(points) {
  const table = $("measurements");
  let analysis = null;
  try {
    analysis = points.length ? analyse({ landmarks: points }, { spacingMm: spacing() }) : null;
  } catch {
    analysis = null; // not the 19 ISBI landmarks: no cephalometric analysis
  }
  table.hidden = !analysis;
  if (!analysis) return;
  const groups = { isbi: "ISBI 2015", steiner: "Steiner", bjork: "Björk", downs: "Downs" };
  table.tBodies[0].replaceChildren(
    ...analysis.measurements.map((m) => {
      const tr = document.createElement("tr");
      tr.dataset.id = m.id;
      tr.className = m.withinNorm === false ? "off" : "";
      for (const text of [`${groups[m.group]}: ${m.name}`, valueText(m), normText(m), m.reading]) {
        const td = document.createElement("td");
        td.textContent = text;
        tr.append(td);
      }
      return tr;
    }),
    ...analysis.unsupported.map((u) => {
      const tr = document.createElement("tr");
      const td = document.createElement("td");
      td.colSpan = 4;
      td.textContent = `Not measured: ${u.name} (needs ${u.needs})`;
      tr.append(td);
      return tr;
    }),
  );
  table.caption.textContent = analysis.calibrated ? `Measurements (${analysis.spacingMm} mm/px)` : "Measurements (uncalibrated: lengths in pixels)";
}

/** A measurement's value as shown: "84.9 °", "3.2 mm", "0.645". */
const valueText = (m) => `${m.value.toFixed(m.unit === "ratio" ? 3 : 1)}${m.unit === "ratio" ? "" : ` ${m.unit}`}`;

/** A norm as shown: "82 ± 2", "3.2–5.7", or "–" when there is none. */
const normText = (m) => (m.norm ? ("mean" in m.norm ? `${m.norm.mean} ± ${m.norm.sd}` : `${m.norm.min}–${m.norm.max}`) : "–");

// ---- exports ----

const stem = () => cases[current].name.replace(/\.[^.]+$/, "");

function exportJson() {
  const c = cases[current];
  const detection = {
    image: c.name,
    width: c.width,
    height: c.height,
    spacing_mm: spacing(),
    landmarks: tracing.landmarks.map((l) => ({ name: l.name, x: l.x, y: l.y, score: l.confidence, edited: l.edited, detected: l.detected })),
  };
  download(`${stem()}.json`, "application/json", JSON.stringify(detection, null, 2));
}

function exportCsv() {
  const points = tracing.landmarks;
  const header = ["id", ...points.flatMap((_, i) => [`x${i + 1}`, `y${i + 1}`])].join(",");
  download(`${stem()}.csv`, "text/csv", `${header}\n${[stem(), ...points.flatMap((l) => [l.x, l.y])].join(",")}\n`);
}

function exportMeasurements() {
  const { measurements } = analyse({ landmarks: tracing.landmarks }, { spacingMm: spacing() });
  const quote = (s) => `"${String(s).replaceAll('"', '""')}"`;
  const rows = measurements.map((m) => [m.group, m.id, quote(m.name), m.value, m.unit, m.norm ? ("mean" in m.norm ? `${m.norm.mean}±${m.norm.sd}` : `${m.norm.min}-${m.norm.max}`) : "", quote(m.reading), m.isbiClass?.type ?? ""].join(","));
  download(`${stem()}-measurements.csv`, "text/csv", `group,id,name,value,unit,norm,reading,isbi_type\n${rows.join("\n")}\n`);
}

/** The tracing drawn at full resolution: the image, the points, their names, edits marked. */
async function tracingBlob() {
  const c = cases[current];
  const canvas = new OffscreenCanvas(c.width, c.height);
  const g = /** @type {OffscreenCanvasRenderingContext2D} */ (canvas.getContext("2d"));
  if (c.bitmap instanceof ImageData) g.putImageData(c.bitmap, 0, 0);
  else if (c.bitmap) g.drawImage(c.bitmap, 0, 0);
  const r = Math.max(4, c.width / 250);
  g.font = `${Math.round(r * 3.5)}px system-ui, sans-serif`;
  g.lineWidth = r / 2;
  tracing.landmarks.forEach((l, i) => {
    g.strokeStyle = g.fillStyle = l.edited ? "#a3e635" : l.confidence !== null && l.confidence < 0.6 ? "#f59e0b" : "#22d3ee";
    g.beginPath();
    g.arc(l.x, l.y, r, 0, 2 * Math.PI);
    g.stroke();
    g.fillText(`${i + 1} ${l.name}${l.edited ? " (edited)" : ""}`, l.x + r * 1.5, l.y - r * 1.5);
  });
  return canvas.convertToBlob({ type: "image/png" });
}

async function exportPng() {
  download(`${stem()}-tracing.png`, "image/png", await tracingBlob());
}

/** A printable report: the tracing, the calibration, the measurements and the edited points. */
async function printReport() {
  const c = cases[current];
  const points = tracing.landmarks;
  const analysis = analyse({ landmarks: points }, { spacingMm: spacing() });
  const report = $("report");
  const el = (tag, text) => Object.assign(document.createElement(tag), text === undefined ? {} : { textContent: text });
  const image = el("img");
  image.alt = `tracing of ${c.name}`;
  image.src = URL.createObjectURL(await tracingBlob());
  const table = el("table");
  table.append(...analysis.measurements.map((m) => {
    const tr = el("tr");
    tr.append(el("td", m.name), el("td", valueText(m)), el("td", normText(m)), el("td", m.reading));
    return tr;
  }));
  const edited = points.filter((l) => l.edited).map((l) => l.name);
  report.replaceChildren(
    el("h1", `Cephalometric tracing: ${c.name}`),
    el("p", `${new Date().toLocaleString()} · ${analysis.calibrated ? `${analysis.spacingMm} mm per pixel` : "uncalibrated: lengths in pixels"} · landmarks by cc2d (one-shot detection, on this machine)${edited.length ? ` · corrected by hand: ${edited.join(", ")}` : " · no point corrected by hand"}`),
    image,
    table,
    el("p", `Not measured (the 19 points cannot support them): ${analysis.unsupported.map((u) => u.name).join("; ")}.`),
  );
  report.hidden = false;
  await image.decode().catch(() => {});
  if (!navigator.webdriver) window.print();
}

// ---- wiring ----

tracing.addEventListener("landmarkchange", (e) => {
  update();
  if (e.detail.reason !== "drag") save(); // every finished edit is stored, not every pointer move
});
tracing.addEventListener("landmarkselect", update);
$("undo").onclick = () => tracing.undo();
$("redo").onclick = () => tracing.redo();
$("reset-point").onclick = () => tracing.reset(tracing.selected);
$("reset-all").onclick = () => tracing.reset();
$("export-json").onclick = exportJson;
$("export-csv").onclick = exportCsv;
$("export-measurements").onclick = exportMeasurements;
$("export-png").onclick = exportPng;
$("report-button").onclick = printReport;
$("spacing").oninput = () => {
  if (current >= 0) {
    cases[current].spacing = spacing();
    persist(cases[current]);
  }
  update();
};
$("clear").onclick = async () => {
  await clearCases();
  cases.length = 0;
  current = -1;
  tracing.landmarks = [];
  renderCases();
  update();
  status("Workspace cleared.");
};
$("import").addEventListener("change", async (e) => {
  const file = e.target.files[0];
  e.target.value = "";
  if (file) await importJson(file);
});

// ---- import of a detections JSON (what "Detections JSON" saves) ----

async function importJson(file) {
  try {
    const json = JSON.parse(await file.text());
    if (!Array.isArray(json?.landmarks)) throw new Error("not a detections JSON (no landmarks)");
    const i = cases.findIndex((c) => c.name === json.image && c.landmarks);
    if (i < 0) throw new Error(`open ${json.image} first: the JSON holds its points, not the image`);
    const c = cases[i];
    if (json.landmarks.length !== c.landmarks.length || json.landmarks.some((l, k) => l.name !== c.landmarks[k].name)) {
      throw new Error(`its ${json.landmarks.length} landmarks are not this case's ${c.landmarks.length} (${c.landmarks.map((l) => l.name).slice(0, 3).join(", ")}, …)`);
    }
    const restored = json.landmarks.map((l, k) => {
      if (!Number.isFinite(l.x) || !Number.isFinite(l.y) || l.x < 0 || l.y < 0 || l.x > c.width - 1 || l.y > c.height - 1) throw new Error(`landmark ${k + 1} (${l.name}) is not a point inside the image`);
      return { name: l.name, x: l.x, y: l.y, confidence: l.score ?? null, edited: Boolean(l.edited), detected: l.detected ?? c.landmarks[k].detected };
    });
    c.landmarks = restored;
    if (Number.isFinite(json.spacing_mm) && json.spacing_mm > 0) c.spacing = json.spacing_mm;
    current = -1; // show without saving the points being replaced
    await show(i);
    persist(c);
    status(`Restored the points of ${c.name} from ${file.name}.`);
  } catch (e) {
    status(`${file.name}: ${e.message}`, true);
  }
}

// ---- a two-click ruler: "these points are N mm apart" sets the spacing ----

let ruler = null;
$("ruler").onclick = () => {
  ruler = [];
  $("ruler-form").hidden = true;
  status("Ruler: click two points on the image whose distance you know.");
};
tracing.addEventListener("imageclick", (e) => {
  if (!ruler) return;
  ruler.push(e.detail);
  if (ruler.length === 2) {
    const px = Math.hypot(ruler[1].x - ruler[0].x, ruler[1].y - ruler[0].y);
    $("ruler-px").textContent = px.toFixed(1);
    $("ruler-form").hidden = false;
    $("ruler-mm").focus();
    status(`Ruler: the two points are ${px.toFixed(1)} px apart. How many mm is that?`);
  }
});
$("ruler-form").addEventListener("submit", (e) => {
  e.preventDefault();
  const mm = Number($("ruler-mm").value);
  const px = Number($("ruler-px").textContent);
  if (!(mm > 0) || !(px > 0)) return status("Ruler: give a positive distance in mm.", true);
  $("spacing").value = (mm / px).toPrecision(4);
  $("spacing").dispatchEvent(new Event("input"));
  $("ruler-form").hidden = true;
  ruler = null;
  status(`Calibrated: ${(mm / px).toPrecision(4)} mm per pixel (${mm} mm over ${px.toFixed(1)} px).`);
});
const adjust = () => (tracing.adjust = { brightness: Number($("brightness").value), contrast: Number($("contrast").value), invert: $("invert").checked });
for (const id of ["brightness", "contrast", "invert"]) $(id).addEventListener("input", adjust);
$("file").addEventListener("change", (e) => open([...e.target.files]));
$("backend").addEventListener("change", (e) => start(e.target.value));
const drop = $("drop");
drop.addEventListener("dragover", (e) => {
  e.preventDefault();
  drop.classList.add("over");
});
drop.addEventListener("dragleave", () => drop.classList.remove("over"));
drop.addEventListener("drop", (e) => {
  e.preventDefault();
  drop.classList.remove("over");
  open([...e.dataTransfer.files]);
});
document.addEventListener("paste", (e) => open([...(e.clipboardData?.files ?? [])]));

// Offline after one visit: the service worker keeps the app's files (the package keeps its
// wasm and weights in the Cache API itself).
if ("serviceWorker" in navigator) navigator.serviceWorker.register("sw.js").catch(() => {});

restore();
start(new URLSearchParams(location.search).get("backend") ?? "auto");

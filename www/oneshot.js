// The one-shot mode: the user's own landmark set on one image, SSL matching of a folder,
// correction of the doubtful pseudo-labels (a corrected image becomes labelled: an extra
// template for matching and a labelled image for training), fine-tuning, detection, and
// models kept in the browser. The engine runs in a worker (Cc2dWorker); `<cc2d-tracing>` is
// the same view as the tracing mode's.
import { Cc2dWorker, deleteModel, listModels, loadModel, saveModel } from "cc2d";
import "cc2d/tracing";
import { $, download, picture as pictureWith, status, backendLabel } from "./page.js";

const tracing = /** @type {import("cc2d/tracing").Cc2dTracing} */ ($("tracing"));
const backend = new URLSearchParams(location.search).get("backend") ?? "auto";

/** @type {Cc2dWorker | null} */
let cc2d = null;
/** The template being made: its image and landmarks (original pixels). */
const template = { file: /** @type {File | null} */ (null), bitmap: null, width: 0, height: 0, landmarks: /** @type {{ name: string, x: number, y: number }[]} */ ([]), inUse: false };
/** The images to label: each with its pseudo-labels (or corrected labels) once matched. */
let images = /** @type {{ name: string, file: File, bitmap: any, points: any[] | null, score: number | null, labelled: boolean }[]} */ ([]);
/** What the view shows: "template", an image's index, or "detection". */
let showing = /** @type {"template" | "detection" | number} */ ("template");
/** The image the template advice suggests annotating first (an index into `images`), if asked. */
let advised = /** @type {number | null} */ (null);
/** The running call's AbortController (matching or fine-tuning). */
let running = /** @type {AbortController | null} */ (null);
/** A cancelled fine-tuning waits in the engine to be resumed (until the training set changes). */
let resumable = false;

async function start(options = {}) {
  await cc2d?.dispose();
  document.body.dataset.ready = "false";
  try {
    cc2d = await Cc2dWorker.create({ backend, ...options });
    document.body.dataset.ready = "true";
    status(`Ready on ${backendLabel(cc2d)}, in a worker.${options.model ? "" : " Open a template image."}`);
  } catch (e) {
    status(e.message, true);
  }
  refresh();
}

/** Enables what can be done now. */
function refresh() {
  const ready = document.body.dataset.ready === "true" && !running;
  $("use-template").disabled = !ready || !template.file || template.landmarks.length < 2;
  $("template-export").disabled = template.landmarks.length === 0;
  $("match").disabled = !ready || !template.inUse || images.length === 0;
  $("advise").disabled = !ready || images.length < 2;
  $("advised-template").hidden = advised === null || !ready;
  $("train").disabled = !ready || !template.inUse || !images.some((i) => i.points);
  const trained = document.body.dataset.trained === "true";
  $("detect-file").disabled = !ready || !trained;
  $("save-model").disabled = $("download-model").disabled = !ready || !trained;
  $("mark-labelled").hidden = typeof showing !== "number" || !template.inUse;
  $("match-cancel").hidden = $("train-cancel").hidden = !running;
  $("train-resume").hidden = !resumable || Boolean(running);
}

/** What the view shows of a file (decoded by the engine where the browser cannot). */
const picture = (file) => pictureWith(file, cc2d);

// ---- 1. the template ----

function showTemplate() {
  showing = "template";
  if (template.bitmap) tracing.image = template.bitmap;
  tracing.landmarks = template.landmarks.map((l) => ({ ...l }));
  $("view-caption").textContent = template.file ? `Template: ${template.file.name} (${template.width}×${template.height}), ${template.landmarks.length} landmarks` : "";
  renderLandmarks();
  refresh();
}

/** The template changed: matching must use the new one. */
function templateEdited() {
  template.inUse = false;
  renderLandmarks();
  refresh();
}

function renderLandmarks() {
  const list = $("landmark-list");
  list.replaceChildren(
    ...template.landmarks.map((l, i) => {
      const li = document.createElement("li");
      const name = Object.assign(document.createElement("input"), { value: l.name, ariaLabel: `name of landmark ${i + 1}` });
      name.onchange = () => {
        l.name = name.value.trim() || `L${i + 1}`;
        templateEdited();
        if (showing === "template") tracing.landmarks = template.landmarks.map((p) => ({ ...p }));
      };
      const button = (text, label, action, disabled = false) => Object.assign(document.createElement("button"), { type: "button", textContent: text, ariaLabel: `${label} ${l.name}`, disabled, onclick: action });
      const swap = (j) => () => {
        [template.landmarks[i], template.landmarks[j]] = [template.landmarks[j], template.landmarks[i]];
        templateEdited();
        showTemplate();
      };
      li.append(
        name,
        ` (${l.x.toFixed(0)}, ${l.y.toFixed(0)}) `,
        button("↑", "move up", swap(i - 1), i === 0),
        button("↓", "move down", swap(i + 1), i === template.landmarks.length - 1),
        button("✕", "delete", () => {
          template.landmarks.splice(i, 1);
          templateEdited();
          showTemplate();
        }),
      );
      return li;
    }),
  );
}

$("template-file").addEventListener("change", (e) => void openTemplate(e.target.files[0]));

async function openTemplate(file) {
  if (!file) return;
  const bitmap = await picture(file);
  if (!bitmap) return status(`${file.name}: not an image this browser or the engine can read`, true);
  // Imported landmarks are kept if they fit this image.
  const fits = template.landmarks.every((l) => l.x < bitmap.width && l.y < bitmap.height);
  Object.assign(template, { file, bitmap, width: bitmap.width, height: bitmap.height, landmarks: fits ? template.landmarks : [] });
  templateEdited();
  showTemplate();
  status(`Click ${file.name} to place landmarks.`);
}

tracing.addEventListener("imageclick", (e) => {
  if (showing !== "template" || !template.bitmap) return;
  const { x, y } = /** @type {CustomEvent} */ (e).detail;
  template.landmarks.push({ name: `L${template.landmarks.length + 1}`, x, y });
  templateEdited();
  showTemplate();
});

tracing.addEventListener("landmarkchange", () => {
  const moved = tracing.landmarks;
  if (showing === "template") {
    template.landmarks = moved.map(({ name, x, y }) => ({ name, x, y }));
    templateEdited();
  } else if (typeof showing === "number") {
    images[showing].points = moved.map(({ name, x, y, confidence }) => ({ name, x, y, score: confidence }));
  }
});

$("template-import").addEventListener("change", async (e) => {
  const file = e.target.files[0];
  if (!file) return;
  try {
    const json = JSON.parse(await file.text());
    if (!Array.isArray(json.landmarks) || json.landmarks.some((l) => typeof l.name !== "string" || !Number.isFinite(l.x) || !Number.isFinite(l.y))) throw new Error("no landmarks [{ name, x, y }]");
    if (template.bitmap && (json.width !== template.width || json.height !== template.height)) throw new Error(`it is for a ${json.width}×${json.height} image, the template image is ${template.width}×${template.height}`);
    template.landmarks = json.landmarks.map(({ name, x, y }) => ({ name, x, y }));
    if (json.spacing_mm) $("spacing").value = String(json.spacing_mm);
    templateEdited();
    showTemplate();
    status(`${template.landmarks.length} landmarks from ${file.name}${template.bitmap ? "" : `; now open its image (${json.image ?? "the template image"})`}.`);
  } catch (err) {
    status(`${file.name}: not a template JSON (${err.message})`, true);
  }
});

$("template-export").onclick = () => {
  const spacing = Number($("spacing").value) || undefined;
  download("template.json", "application/json", JSON.stringify({ image: template.file?.name ?? "template", width: template.width, height: template.height, spacing_mm: spacing, landmarks: template.landmarks }, null, 2));
};

$("use-template").onclick = () =>
  busy(async () => {
    const names = template.landmarks.map((l) => l.name);
    if (new Set(names).size !== names.length) throw new Error(`two landmarks share a name (${names.find((n, i) => names.indexOf(n) !== i)}): rename one`);
    const spacingMm = Number($("spacing").value) || undefined;
    await cc2d.setTemplate(template.file, template.landmarks, { spacingMm, name: template.file.name });
    template.inUse = true;
    resumable = false;
    for (const image of images) Object.assign(image, { points: null, score: null, labelled: false });
    document.body.dataset.trained = "false";
    renderGrid();
    status(`Template set: ${names.length} landmarks. Add the images to label.`);
  });

// ---- 2. pseudo-labels, reviewed and corrected ----

async function addImages(files) {
  const fresh = [...files].filter((f) => f.type.startsWith("image/") || /\.(dcm|dicom|tiff?)$/i.test(f.name));
  for (const file of fresh) images.push({ name: file.webkitRelativePath || file.name, file, bitmap: null, points: null, score: null, labelled: false });
  renderGrid();
  status(`${images.length} images to label.`);
  refresh();
}
$("images").addEventListener("change", (e) => void addImages(e.target.files));
$("folder").addEventListener("change", (e) => void addImages(e.target.files));

$("advise").onclick = () =>
  busy(async (signal) => {
    const ranked = await cc2d.adviseTemplate(images.map((i) => i.file), { signal, onProgress: ({ done, total }) => status(`Comparing the images (${done} of ${total})…`) });
    advised = ranked[0].index;
    renderGrid();
    status(`Annotate ${images[advised].name} first: the most typical of the ${images.length} images to the extractor (no labels read).`);
  });

$("advised-template").onclick = () => void openTemplate(images[advised].file);

$("match").onclick = () =>
  busy(async (signal) => {
    const todo = images.filter((i) => !i.labelled);
    resumable = false; // new pseudo-labels: a cancelled fine-tuning starts again
    for (const [n, image] of todo.entries()) {
      if (signal.aborted) break;
      status(`Pseudo-labelling ${image.name} (${n + 1} of ${todo.length})…`);
      try {
        const [result] = await cc2d.pseudoLabel([image.file], { signal });
        image.points = result.landmarks.map(({ name, x, y, score }) => ({ name, x, y, score }));
        image.score = result.landmarks.reduce((s, l) => s + l.score, 0) / result.landmarks.length;
        image.bitmap ??= await picture(image.file);
      } catch (e) {
        if (e.code === "CC2D_ABORTED") break;
        image.error = e.message;
      }
      renderGrid();
    }
    status(signal.aborted ? "Pseudo-labelling cancelled; the images done so far are kept." : "Pseudo-labelled. Check the doubtful ones first.");
  });

function renderGrid() {
  const order = images.map((_, i) => i).sort((a, b) => (images[a].score ?? Infinity) - (images[b].score ?? Infinity));
  $("grid").replaceChildren(
    ...order.map((i) => {
      const image = images[i];
      const card = Object.assign(document.createElement("button"), { type: "button", className: "card" });
      card.dataset.index = String(i);
      card.setAttribute("aria-current", String(showing === i));
      const canvas = Object.assign(document.createElement("canvas"), { width: 120, height: 120 });
      if (image.bitmap) {
        const ctx = canvas.getContext("2d");
        const s = Math.min(120 / image.bitmap.width, 120 / image.bitmap.height);
        ctx.drawImage(image.bitmap, 0, 0, image.bitmap.width * s, image.bitmap.height * s);
        ctx.fillStyle = image.labelled ? "#a3e635" : "#22d3ee";
        for (const p of image.points ?? []) ctx.fillRect(p.x * s - 1.5, p.y * s - 1.5, 3, 3);
      }
      const suggested = i === advised ? "★ annotate first · " : "";
      const label = suggested + (image.error ? `${image.name}: ${image.error}` : image.labelled ? `${image.name} · labelled` : image.score === null ? `${image.name} · not yet` : `${image.name} · score ${image.score.toFixed(2)}`);
      card.append(canvas, Object.assign(document.createElement("span"), { textContent: label }));
      card.disabled = !image.points;
      card.onclick = () => showImage(i);
      return card;
    }),
  );
}

function showImage(i) {
  showing = i;
  const image = images[i];
  tracing.image = image.bitmap;
  tracing.landmarks = image.points.map(({ name, x, y, score }) => ({ name, x, y, confidence: image.labelled ? undefined : score }));
  $("view-caption").textContent = `${image.name}: ${image.labelled ? "labelled" : `pseudo-labels, mean score ${image.score.toFixed(2)}`}. Drag the points that are wrong.`;
  renderGrid();
  refresh();
}

$("mark-labelled").onclick = () =>
  busy(async () => {
    const i = /** @type {number} */ (showing);
    const image = images[i];
    const points = tracing.landmarks.map(({ name, x, y }) => ({ name, x, y }));
    await cc2d.addTemplate(image.file, points, { name: image.name });
    resumable = false;
    Object.assign(image, { points: points.map((p) => ({ ...p, score: 1 })), labelled: true, score: 1 });
    showImage(i);
    status(`${image.name} is labelled: matching and fine-tuning use it with these points.`);
  });

// ---- 3. fine-tuning ----

/** Fine-tunes (or resumes the cancelled run); a cancel leaves the detector as it was and offers Resume. */
async function train(signal, resume) {
  const epochs = Math.max(1, Math.round(Number($("epochs").value) || 1));
  let at = "";
  try {
    const result = await cc2d.fineTune([], {
      epochs,
      resume,
      signal,
      onProgress: (p) => {
        if (p.phase !== "train") return;
        at = `step ${p.step} of ${p.steps}`;
        $("train-progress").textContent = `epoch ${p.epoch} of ${p.epochs}, ${at}, loss ${p.loss.toFixed(4)}, about ${Math.ceil(p.etaSeconds)} s left`;
      },
    });
    resumable = false;
    document.body.dataset.trained = "true";
    const losses = result.epochLosses.map((l) => l.toFixed(4)).join(", ");
    $("train-progress").textContent = `done: ${result.epochs} epochs, ${result.steps} steps; loss per epoch ${losses}`;
    status("Fine-tuned. Detect on a new image, or fine-tune more.");
  } catch (e) {
    if (e.code !== "CC2D_ABORTED") {
      resumable = false;
      throw e;
    }
    resumable = true;
    $("train-progress").textContent = `cancelled${at ? ` after ${at}` : ""}`;
    status("Fine-tuning cancelled: the detector is as it was. Resume continues the run where it stopped.");
  }
}
$("train").onclick = () => busy((signal) => train(signal, false));
$("train-resume").onclick = () => busy((signal) => train(signal, true));

// ---- 4. detection and models ----

$("detect-file").addEventListener("change", (e) =>
  busy(async () => {
    const file = e.target.files[0];
    if (!file) return;
    const result = await cc2d.detect(file);
    showing = "detection";
    tracing.image = await picture(file);
    tracing.landmarks = result.landmarks;
    $("view-caption").textContent = `${file.name}: ${result.landmarks.length} landmarks detected in ${result.milliseconds.toFixed(0)} ms on ${result.backend} (◆ = doubtful).`;
    document.body.dataset.detected = String(result.landmarks.length);
    status(`Detected on ${file.name}.`);
  }),
);

$("save-model").onclick = () =>
  busy(async () => {
    const saved = await saveModel(await cc2d.exportModel({ name: $("model-name").value.trim() || "my landmarks" }));
    status(`Kept “${saved.name}” in this browser (${(saved.size / 1e6).toFixed(1)} MB).`);
    await renderSaved();
  });

$("download-model").onclick = () =>
  busy(async () => {
    const name = $("model-name").value.trim() || "my landmarks";
    download(`${name}.cc2d`, "application/octet-stream", await cc2d.exportModel({ name }));
  });

async function renderSaved() {
  let models = [];
  try {
    models = await listModels();
  } catch (e) {
    return status(e.message, true);
  }
  $("saved-models").replaceChildren(
    ...models.map((m) => {
      const li = document.createElement("li");
      const load = Object.assign(document.createElement("button"), { type: "button", textContent: "Load", ariaLabel: `load ${m.name}` });
      load.onclick = () =>
        busy(async () => {
          await start({ model: await loadModel(m.name) });
          resumable = false;
          // The bundle holds the template's points, not its image: open the image to match again.
          const t = m.info.templates[0];
          if (t) Object.assign(template, { file: null, bitmap: null, width: t.width, height: t.height, landmarks: t.landmarks.map(({ name, x, y }) => ({ name, x, y })), inUse: false });
          images = [];
          advised = null;
          renderGrid();
          showTemplate();
          document.body.dataset.trained = "true";
          status(`Loaded “${m.name}”: detect with it${t ? `; to label more images, open its template image (${t.image})` : ""}.`);
        });
      const remove = Object.assign(document.createElement("button"), { type: "button", textContent: "Delete", ariaLabel: `delete ${m.name}` });
      remove.onclick = () =>
        busy(async () => {
          await deleteModel(m.name);
          await renderSaved();
        });
      li.append(`${m.name}: ${m.info.landmarks.length} landmarks, ${m.info.templates.length} template(s), ${m.info.trainingImages} training images, saved ${new Date(m.savedAt).toLocaleString()} `, load, " ", remove);
      return li;
    }),
  );
}

// ---- plumbing ----

/** Runs one step of the workflow, with a Cancel for it; errors go to the status line. */
async function busy(work) {
  if (running || !cc2d) return;
  running = new AbortController();
  document.body.dataset.busy = "true";
  refresh();
  try {
    await work(running.signal);
  } catch (e) {
    status(e.code === "CC2D_ABORTED" ? "Cancelled: the detector is as it was." : e.message, e.code !== "CC2D_ABORTED");
  } finally {
    running = null;
    document.body.dataset.busy = "false";
    refresh();
  }
}
$("match-cancel").onclick = $("train-cancel").onclick = () => running?.abort();

document.body.dataset.trained = "false";
await start();
await renderSaved();

// The demo: open a radiograph (file picker or drag-and-drop), detect with the package's
// default model, draw the landmarks with their names, show the backend and the time.
import { Cc2d } from "cc2d";

const $ = (id) => document.getElementById(id);
const status = (text, error = false) => {
  $("status").textContent = text;
  $("status").className = error ? "error" : "";
};

let cc2d = null;

async function start(backend) {
  await cc2d?.dispose();
  cc2d = null;
  status("Loading the model…");
  try {
    cc2d = await Cc2d.create({ backend });
    const adapter = cc2d.adapter ? ` (${[cc2d.adapter.vendor, cc2d.adapter.architecture].filter(Boolean).join(" ")})` : "";
    status(`Ready on ${cc2d.backend}${adapter}. Open a radiograph.`);
    document.body.dataset.ready = "true";
  } catch (e) {
    status(e.message, true);
  }
}

async function run(file) {
  if (!cc2d) return;
  status(`Detecting on ${file.name}…`);
  document.body.dataset.done = "false";
  try {
    const bitmap = await createImageBitmap(file).catch(() => null);
    const result = await cc2d.detect(file);
    draw(bitmap, result);
    status(`${result.landmarks.length} landmarks on ${file.name} (${result.width}×${result.height}) in ${result.milliseconds.toFixed(0)} ms on ${result.backend}.`);
  } catch (e) {
    status(e.message, true);
  } finally {
    document.body.dataset.done = "true";
  }
}

function draw(bitmap, result) {
  const canvas = $("canvas");
  canvas.width = result.width;
  canvas.height = result.height;
  const g = canvas.getContext("2d");
  if (bitmap) g.drawImage(bitmap, 0, 0);
  const r = Math.max(4, result.width / 250);
  g.font = `${Math.round(r * 4)}px system-ui, sans-serif`;
  g.lineWidth = r / 2;
  const rows = [];
  result.landmarks.forEach((l, i) => {
    const doubtful = l.confidence < 0.5;
    g.strokeStyle = g.fillStyle = doubtful ? "#f59e0b" : "#22d3ee";
    g.beginPath();
    g.arc(l.x, l.y, r, 0, 2 * Math.PI);
    g.stroke();
    g.fillText(`${i + 1} ${l.name}`, l.x + r * 1.5, l.y - r * 1.5);
    rows.push(`<tr class="${doubtful ? "doubtful" : ""}"><td>${i + 1}</td><td>${l.name}</td><td>${l.x.toFixed(1)}</td><td>${l.y.toFixed(1)}</td><td>${l.confidence.toFixed(2)}</td></tr>`);
  });
  $("results").tBodies[0].innerHTML = rows.join("");
  $("results").hidden = false;
}

$("file").addEventListener("change", (e) => e.target.files[0] && run(e.target.files[0]));
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
  if (e.dataTransfer.files[0]) run(e.dataTransfer.files[0]);
});

start(new URLSearchParams(location.search).get("backend") ?? "auto");

// ONNX Runtime Web on the shipped detector's graph, in headless Chromium (playwright-core):
// wasm with 1 and 2 threads (the page is cross-origin isolated, as threads need), and WebGPU
// where the browser has an adapter. Each run first checks that the maps equal ours on the
// same input. Prints one JSON line per run.
//   node web.mjs DIR [RUNS]     DIR holds cc2d_detector.onnx, input.bin, ours.bin, config.json
//                               and node_modules/onnxruntime-web
import http from "node:http";
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { chromium } from "playwright-core";

const [dir, runs = "10"] = process.argv.slice(2);
const types = { ".html": "text/html", ".mjs": "text/javascript", ".js": "text/javascript", ".wasm": "application/wasm" };
const page = `<!doctype html><script type="module">
const q = new URLSearchParams(location.search);
const [ep, threads] = [q.get("ep"), +q.get("threads")];
let runs = +q.get("runs");
try {
  const ort = await import(ep === "webgpu" ? "/node_modules/onnxruntime-web/dist/ort.webgpu.min.mjs" : "/node_modules/onnxruntime-web/dist/ort.wasm.min.mjs");
  ort.env.wasm.wasmPaths = location.origin + "/node_modules/onnxruntime-web/dist/";
  ort.env.wasm.numThreads = threads;
  ort.env.wasm.proxy = false;
  let adapter = null;
  if (ep === "webgpu") {
    const a = await navigator.gpu?.requestAdapter();
    if (!a) throw new Error("no WebGPU adapter");
    adapter = a.info?.vendor + " " + a.info?.architecture;
    if (/swiftshader/i.test(adapter)) runs = 1; // a CPU emulation of a GPU: seconds per run, and no speed figure
  }
  const get = async (p) => new Float32Array(await (await fetch(p)).arrayBuffer());
  const config = await (await fetch("/config.json")).json();
  const side = config.image_size, k = config.detector.landmarks;
  const [model, x, ours] = [await (await fetch("/cc2d_detector.onnx")).arrayBuffer(), await get("/input.bin"), await get("/ours.bin")];
  const sess = await ort.InferenceSession.create(model, { executionProviders: [ep], graphOptimizationLevel: "all" });
  const feeds = { input: new ort.Tensor("float32", x, [1, 1, side, side]) };
  const y = (await sess.run(feeds)).output.data;
  let diff = 0;
  for (let i = 0; i < y.length; i++) diff = Math.max(diff, Math.abs(y[i] - ours[i]));
  if (!(diff < 1e-3)) throw new Error("maps differ from cc2d's by " + diff + ": not the same graph, no timing");
  const ts = [];
  for (let i = 0; i < runs; i++) {
    const t = performance.now();
    (await sess.run(feeds)).output.data;
    ts.push(performance.now() - t);
  }
  ts.sort((a, b) => a - b);
  window.result = { runtime: "onnxruntime-web " + ort.env.versions.web, ep, threads: ep === "wasm" ? ort.env.wasm.numThreads : null, adapter,
    crossOriginIsolated: self.crossOriginIsolated, median_ms: ts[ts.length >> 1], min_ms: ts[0], max_ms: ts[ts.length - 1], runs, max_abs_diff_vs_cc2d: diff };
} catch (e) { window.result = { ep, threads, error: String(e?.message ?? e) }; }
</script>`;

const server = http.createServer((req, res) => {
  const p = decodeURIComponent(new URL(req.url, "http://x").pathname);
  const headers = { "Cross-Origin-Opener-Policy": "same-origin", "Cross-Origin-Embedder-Policy": "require-corp", "Cache-Control": "no-store" };
  if (p === "/bench.html") return res.writeHead(200, { ...headers, "Content-Type": "text/html" }).end(page);
  const f = path.join(dir, path.normalize(p));
  if (!f.startsWith(path.resolve(dir)) || !fs.existsSync(f) || fs.statSync(f).isDirectory()) return res.writeHead(404).end();
  res.writeHead(200, { ...headers, "Content-Type": types[path.extname(f)] ?? "application/octet-stream" }).end(fs.readFileSync(f));
});
await new Promise((r) => server.listen(0, "127.0.0.1", r));
const origin = `http://127.0.0.1:${server.address().port}`;
const profile = fs.mkdtempSync(path.join(os.tmpdir(), "cc2d-onnx-anchor-"));
const browser = await chromium.launchPersistentContext(profile, {
  executablePath: process.env.CHROMIUM ?? "/usr/bin/chromium",
  args: ["--headless=new", "--no-sandbox", "--enable-unsafe-webgpu", "--disable-background-networking", "--disable-component-update", "--no-first-run"],
});
try {
  for (const [ep, threads] of [["wasm", 1], ["wasm", 2], ["webgpu", 0]]) {
    const tab = await browser.newPage();
    await tab.goto(`${origin}/bench.html?ep=${ep}&threads=${threads}&runs=${runs}`);
    await tab.waitForFunction(() => window.result, null, { timeout: 600_000, polling: 500 });
    console.log(JSON.stringify(await tab.evaluate(() => window.result)));
    await tab.close();
  }
} finally {
  await browser.close();
  server.close();
  fs.rmSync(profile, { recursive: true, force: true });
}

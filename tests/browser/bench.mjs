// Detection time in headless Chromium (not a test): the packed package on the CPU backend and
// on WebGPU (SwiftShader here: a CPU emulation, for correctness, not speed), same image as
// `cargo bench --bench cc2d`. Prints medians, and writes them as JSON to $BENCH_JSON when set
// (scripts/onnx-anchor/run.sh reads them). With --fine-tune, also the one-shot steps on each
// backend: SSL pseudo-labelling per image and fine-tuning per step (batch 3 + the template).
// With --threads N the page is cross-origin isolated and the CPU backend is also timed in a
// worker (`Cc2dWorker`) on one thread and on the threaded module with N threads.
// Usage: npm run bench:browser [-- RUNS] [--fine-tune] [--cpu (the CPU backend only)] [--threads N]
import { readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { DATA, ORIGIN, unpackTarball, withPage } from "./harness.mjs";

const runs = Number(process.argv.slice(2).find((a, i, all) => !a.startsWith("--") && all[i - 1] !== "--threads") ?? 10);
const fineTune = process.argv.includes("--fine-tune");
const threadsAt = process.argv.indexOf("--threads");
const threads = threadsAt > 0 ? Number(process.argv[threadsAt + 1]) : 0;
const backends = [...(process.argv.includes("--cpu") ? ["cpu"] : ["cpu", "webgpu"]), ...(threads ? ["cpu worker×1", `cpu worker×${threads}`] : [])];
const isbiTemplate = () => {
  const read = (who) => readFileSync(join(DATA, `isbi2015/AnnotationsByMD/400_${who}/001.txt`), "utf8").trim().split("\n").slice(0, 19).map((l) => l.split(",").map(Number));
  const [s, j] = [read("senior"), read("junior")];
  return s.map((p, k) => ({ name: `L${k + 1}`, x: (p[0] + j[k][0]) / 2, y: (p[1] + j[k][1]) / 2 }));
};
const packageDir = unpackTarball();
await withPage({ packageDir, isolated: threads > 0 }, async ({ page }) => {
  await page.goto(`${ORIGIN}/blank.html`);
  const result = await page.evaluate(async ({ runs, fineTune, backends, landmarks }) => {
    const { Cc2d, Cc2dWorker } = await import("cc2d");
    const bytes = new Uint8Array(await (await fetch("/data/isbi2015/images/151.jpg")).arrayBuffer());
    const median = (v) => v.sort((a, b) => a - b)[Math.floor(v.length / 2)];
    // What "auto" chooses in this browser, and why (no detection: the rows below time each path).
    const auto = await Cc2d.create();
    const chosen = { backend: auto.backend, reason: auto.backendReason, threads: auto.threads };
    await auto.dispose();
    const out = {};
    for (const backend of backends) {
      const n = backend.startsWith("cpu") ? runs : Math.min(runs, 3);
      const started = performance.now();
      // "cpu worker×N": in a worker, N threads (N > 1: the threaded module).
      const inWorker = backend.match(/^cpu worker×(\d+)$/);
      const cc2d = inWorker ? await Cc2dWorker.create({ backend: "cpu", threads: Number(inWorker[1]) }) : await Cc2d.create({ backend });
      await cc2d.landmarkNames(); // weights loaded
      const ready = performance.now() - started;
      const first = (await cc2d.detect(bytes)).milliseconds;
      const times = [];
      for (let i = 0; i < n; i++) times.push((await cc2d.detect(bytes)).milliseconds);
      // The same without the JPEG decode (what a same-graph comparison with another runtime's
      // forward should use): detect on the decoded pixels.
      const pixels = await cc2d.decode(bytes);
      const decoded = [];
      for (let i = 0; i < n; i++) decoded.push((await cc2d.detect(pixels)).milliseconds);
      out[backend] = { ready, first, median: median(times), decodedMedian: median(decoded), n, adapter: cc2d.adapter, threads: cc2d.threads };
      if (fineTune) {
        const image = async (id) => new Uint8Array(await (await fetch(`/data/isbi2015/images/${id}.jpg`)).arrayBuffer());
        await cc2d.setTemplate(await image("001"), landmarks, { spacingMm: 0.1 });
        const queries = await Promise.all(["152", "153", "154"].map(image));
        await cc2d.match(queries[0]); // the extractor loaded and its shaders compiled
        let t = performance.now();
        await cc2d.pseudoLabel(queries);
        out[backend].pseudoLabelSeconds = (performance.now() - t) / 1000 / queries.length;
        const stepTimes = [];
        t = performance.now();
        await cc2d.fineTune([], { epochs: 3, onProgress: () => stepTimes.push(-t + (t = performance.now())) });
        out[backend].fineTuneStepSeconds = stepTimes.map((s) => s / 1000);
      }
      await cc2d.dispose();
    }
    return { chosen, out };
  }, { runs, fineTune, backends, landmarks: isbiTemplate() });
  const { chosen, out: r } = result;
  console.log(`image: ${DATA}/isbi2015/images/151.jpg (1935×2400 JPEG), detect = decode + preprocess + forward + voting`);
  console.log(`auto chose ${chosen.backend}${chosen.backend === "cpu" ? ` (${chosen.threads} thread${chosen.threads > 1 ? "s" : ""})` : ""}: ${chosen.reason}`);
  for (const [backend, v] of Object.entries(r)) {
    console.log(
      `Chromium ${`${backend}${v.threads > 1 ? ` (${v.threads} threads)` : ""}`.padEnd(6)}: ${v.median.toFixed(0).padStart(6)} ms/image (median of ${v.n}; first call ${v.first.toFixed(0)} ms; create + weights ${v.ready.toFixed(0)} ms); on decoded pixels ${v.decodedMedian.toFixed(0)} ms${v.adapter ? `; adapter ${v.adapter.vendor} ${v.adapter.architecture}` : ""}`,
    );
    if (v.fineTuneStepSeconds) {
      const steps = v.fineTuneStepSeconds.map((x) => x.toFixed(1)).join(", ");
      console.log(`  one-shot on ${backend}: SSL pseudo-labelling ${v.pseudoLabelSeconds.toFixed(2)} s/image; fine-tuning ${steps} s per step (batch 3 + template; the first includes setting up the trainer)`);
    }
  }
  if (process.env.BENCH_JSON) writeFileSync(process.env.BENCH_JSON, JSON.stringify(r, null, 1));
});

// Detection time in headless Chromium (not a test): the packed package on the CPU backend and
// on WebGPU (SwiftShader here: a CPU emulation, for correctness, not speed), same image as
// `cargo bench --bench cc2d`. Prints medians, and writes them as JSON to $BENCH_JSON when set
// (scripts/onnx-anchor/run.sh reads them). Usage: npm run bench:browser [-- RUNS]
import { writeFileSync } from "node:fs";
import { DATA, ORIGIN, unpackTarball, withPage } from "./harness.mjs";

const runs = Number(process.argv[2] ?? 10);
const packageDir = unpackTarball();
await withPage({ packageDir }, async ({ page }) => {
  await page.goto(`${ORIGIN}/blank.html`);
  const r = await page.evaluate(async (runs) => {
    const { Cc2d } = await import("cc2d");
    const bytes = new Uint8Array(await (await fetch("/data/isbi2015/images/151.jpg")).arrayBuffer());
    const median = (v) => v.sort((a, b) => a - b)[Math.floor(v.length / 2)];
    const out = {};
    for (const [backend, n] of [["cpu", runs], ["webgpu", Math.min(runs, 3)]]) {
      const started = performance.now();
      const cc2d = await Cc2d.create({ backend });
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
      out[backend] = { ready, first, median: median(times), decodedMedian: median(decoded), n, adapter: cc2d.adapter };
      await cc2d.dispose();
    }
    return out;
  }, runs);
  console.log(`image: ${DATA}/isbi2015/images/151.jpg (1935×2400 JPEG), detect = decode + preprocess + forward + voting`);
  for (const [backend, v] of Object.entries(r)) {
    console.log(
      `Chromium ${backend.padEnd(6)}: ${v.median.toFixed(0).padStart(6)} ms/image (median of ${v.n}; first call ${v.first.toFixed(0)} ms; create + weights ${v.ready.toFixed(0)} ms); on decoded pixels ${v.decodedMedian.toFixed(0)} ms${v.adapter ? `; adapter ${v.adapter.vendor} ${v.adapter.architecture}` : ""}`,
    );
  }
  if (process.env.BENCH_JSON) writeFileSync(process.env.BENCH_JSON, JSON.stringify(r, null, 1));
});

// The package in apps built by the two bundlers its users have: a Vite app and a webpack 5
// app import "cc2d" from node_modules (the packed tarball, unpacked), are built for
// production, served from their own folder and run in headless Chromium: the page and the
// worker both detect the recorded landmarks, and every file they ask for was emitted. And
// the same Vite app in Vite's dev server, with the package installed as npm installs it.
import { test, before } from "node:test";
import assert from "node:assert/strict";
import { cpSync, mkdirSync, readFileSync, readdirSync, symlinkSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { DATA, ORIGIN, ROOT, dataOrSkip, maxDistance, scratchDir, unpackTarball, withPage } from "./harness.mjs";

const recorded = JSON.parse(readFileSync(join(ROOT, "tests/fixtures/tpl_on_151.json"), "utf8"));
let packageDir;

before(() => {
  packageDir = unpackTarball();
});

// What a user's app does: detect on a radiograph on the page and in the package's worker.
const MAIN = `import { Cc2d, Cc2dWorker } from "cc2d";
const bytes = new Uint8Array(await (await fetch("/data/isbi2015/images/151.jpg")).arrayBuffer());
const run = async (Kind) => {
  const cc2d = await Kind.create({ backend: "cpu" });
  const found = await cc2d.detect(bytes.slice(), { name: "151.jpg" });
  await cc2d.dispose();
  return found.landmarks;
};
window.result = Promise.all([run(Cc2d), run(Cc2dWorker)]).then(([page, worker]) => ({ page, worker }), (e) => ({ error: e.code + " " + e.message }));
`;

/** A new app folder with node_modules/cc2d and main.js. */
function app(name) {
  const dir = scratchDir(`cc2d-${name}-app-`);
  mkdirSync(join(dir, "node_modules"));
  symlinkSync(packageDir, join(dir, "node_modules/cc2d"), "dir");
  writeFileSync(join(dir, "main.js"), MAIN);
  return dir;
}

/** Opens the built app at /app/ and checks what it found. */
async function runApp(t, dist) {
  await withPage({ packageDir, mounts: [["/app/", dist]] }, async ({ page, outside, missing, served }) => {
    await page.goto(`${ORIGIN}/app/index.html`);
    await page.waitForFunction(() => window.result, null, { timeout: 120_000 });
    const r = await page.evaluate(() => window.result);
    assert.equal(r.error, undefined, r.error);
    assert.ok(maxDistance(r.page, recorded.landmarks) < 1e-3, "on the page: the recorded landmarks");
    assert.ok(maxDistance(r.worker, recorded.landmarks) < 1e-3, "in the worker: the recorded landmarks");
    const fetched = served.filter((p) => p.startsWith("/app/"));
    t.diagnostic(`files the app fetched: ${fetched.join(", ")}`);
    assert.ok(fetched.some((p) => p.endsWith(".wasm")) && fetched.filter((p) => p.endsWith(".bpk")).length >= 1, "the wasm and the weights come from the app's own build");
    assert.ok(!served.some((p) => p.startsWith("/node_modules/")), "nothing is fetched from node_modules: the bundle holds it");
    assert.deepEqual(missing, [], "every file the app asks for was emitted");
    assert.deepEqual(outside, []);
  });
}

test("a Vite app imports cc2d, builds, and detects on the page and in the worker", { timeout: 300_000 }, async (t) => {
  if (!dataOrSkip(t)) return;
  const dir = app("vite");
  writeFileSync(join(dir, "index.html"), `<!doctype html><meta charset="utf-8"><script type="module" src="./main.js"></script>`);
  const { build } = await import("vite");
  // Top-level await in the app and module workers (the package's worker imports modules).
  await build({ root: dir, base: "/app/", logLevel: "warn", build: { outDir: join(dir, "dist"), target: "es2022" }, worker: { format: "es" } });
  t.diagnostic(`vite emitted: ${readdirSync(join(dir, "dist/assets")).join(", ")}`);
  await runApp(t, join(dir, "dist"));
});

test("a webpack 5 app imports cc2d, builds, and detects on the page and in the worker", { timeout: 300_000 }, async (t) => {
  if (!dataOrSkip(t)) return;
  const dir = app("webpack");
  const { default: webpack } = await import("webpack");
  const config = {
    mode: "production",
    context: dir,
    entry: "./main.js",
    output: { path: join(dir, "dist"), publicPath: "/app/", filename: "main.js" },
    experiments: { topLevelAwait: true },
    performance: { hints: false },
  };
  await new Promise((resolve, reject) => webpack(config, (err, stats) => (err || stats.hasErrors() ? reject(err ?? new Error(stats.toString("errors-only"))) : resolve(stats))));
  writeFileSync(join(dir, "dist/index.html"), `<!doctype html><meta charset="utf-8"><script src="/app/main.js"></script>`);
  t.diagnostic(`webpack emitted: ${readdirSync(join(dir, "dist")).join(", ")}`);
  await runApp(t, join(dir, "dist"));
});

test("the Vite app in Vite's dev server, the package installed as npm does (copied into node_modules)", { timeout: 300_000 }, async (t) => {
  if (!dataOrSkip(t)) return;
  const dir = scratchDir("cc2d-vite-dev-app-");
  cpSync(packageDir, join(dir, "node_modules/cc2d"), { recursive: true });
  writeFileSync(join(dir, "main.js"), MAIN);
  writeFileSync(join(dir, "index.html"), `<!doctype html><meta charset="utf-8"><script type="module" src="./main.js"></script>`);
  // The radiograph the app fetches, served by the dev server itself (a temporary copy).
  mkdirSync(join(dir, "public/data/isbi2015/images"), { recursive: true });
  cpSync(join(DATA, "isbi2015/images/151.jpg"), join(dir, "public/data/isbi2015/images/151.jpg"));
  const { createServer } = await import("vite");
  const port = 5179;
  const server = await createServer({ root: dir, logLevel: "warn", server: { port, strictPort: true }, worker: { format: "es" } });
  await server.listen();
  try {
    const origin = `http://localhost:${port}`;
    await withPage({ packageDir, passThrough: [origin] }, async ({ page }) => {
      await page.goto(`${origin}/`);
      await page.waitForFunction(() => window.result, null, { timeout: 120_000 });
      const r = await page.evaluate(() => window.result);
      assert.equal(r.error, undefined, r.error);
      assert.ok(maxDistance(r.page, recorded.landmarks) < 1e-3 && maxDistance(r.worker, recorded.landmarks) < 1e-3, "the dev server's app detects the recorded landmarks, on the page and in the worker");
    });
  } finally {
    await server.close();
  }
});

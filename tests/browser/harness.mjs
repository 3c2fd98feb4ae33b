// Shared by the page-level browser tests and the browser benchmark: headless Chromium
// (playwright-core driving /usr/bin/chromium) on a fake origin whose files come from disk.
// Nothing goes to the network: any request outside the origin is refused and recorded.
import { chromium } from "playwright-core";
import assert from "node:assert/strict";
import { execFileSync } from "node:child_process";
import { existsSync, mkdtempSync, readFileSync, readdirSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { dirname, join, normalize, resolve } from "node:path";
import { fileURLToPath } from "node:url";

export const ROOT = resolve(dirname(fileURLToPath(import.meta.url)), "../..");
// localhost: a secure context (WebGPU needs one), served from disk by routing, no server.
export const ORIGIN = "http://localhost:8123";
/** A second origin that serves the unpacked package with CORS, as a CDN does (jsDelivr, unpkg). */
export const CDN_ORIGIN = "http://127.0.0.1:8124";
export const DATA = process.env.CC2D_DATA ?? resolve(ROOT, "../shared/data");

/** The native CLI's detection on ISBI image 151 (`tests/fixtures`), with the landmarks' names. */
export const recorded = JSON.parse(readFileSync(join(ROOT, "tests/fixtures/tpl_on_151.json"), "utf8"));

/** ISBI image 001's landmarks (mean of the two doctors) with the recorded names: the template. */
export function isbiTemplate() {
  const read = (who) =>
    readFileSync(join(DATA, `isbi2015/AnnotationsByMD/400_${who}/001.txt`), "utf8")
      .trim()
      .split("\n")
      .slice(0, 19)
      .map((l) => l.split(",").map(Number));
  const [s, j] = [read("senior"), read("junior")];
  return recorded.landmarks.map((l, i) => ({ name: l.name, x: (s[i][0] + j[i][0]) / 2, y: (s[i][1] + j[i][1]) / 2 }));
}

/** Largest distance between corresponding points (landmarks `{ x, y }`), pixels. */
export function maxDistance(a, b) {
  assert.equal(a.length, b.length);
  return Math.max(...a.map((p, i) => Math.hypot(p.x - b[i].x, p.y - b[i].y)));
}

/** The real radiographs, or why the test cannot run: under CI their absence is a failure. */
export function dataOrSkip(t) {
  if (existsSync(join(DATA, "isbi2015/images/151.jpg"))) return true;
  if (process.env.CI) throw new Error(`${DATA} is missing: CI must run the real-radiograph browser tests (set CC2D_DATA)`);
  t.skip(`no ISBI 2015 data at ${DATA} (set CC2D_DATA)`);
  return false;
}

/** A new folder under the system's temporary one, removed when this test process exits. */
export function scratchDir(prefix) {
  const dir = mkdtempSync(join(tmpdir(), prefix));
  process.on("exit", () => rmSync(dir, { recursive: true, force: true }));
  return dir;
}

/** Unpacks the packed npm tarball (`npm run build` makes it) as a user's node_modules/cc2d. */
export function unpackTarball() {
  const tarballs = readdirSync(join(ROOT, "pkg")).filter((f) => f.endsWith(".tgz"));
  if (tarballs.length !== 1) throw new Error(`expected one pkg/*.tgz, found ${tarballs.length}: run \`npm run build\` first`);
  const dir = scratchDir("cc2d-pkg-");
  execFileSync("tar", ["xzf", join(ROOT, "pkg", tarballs[0]), "-C", dir]);
  return join(dir, "package");
}

/** The headers that make a page cross-origin isolated. */
const ISOLATION = { "Cross-Origin-Opener-Policy": "same-origin", "Cross-Origin-Embedder-Policy": "require-corp" };

/** The Content-Security-Policy the package must work under (pkg/README.md, "Serving"). */
export const STRICT_CSP = "default-src 'self'; script-src 'self' 'wasm-unsafe-eval'; worker-src 'self'; connect-src 'self'";

const ARGS = [
  "--headless=new",
  "--no-sandbox",
  "--disable-background-networking",
  "--disable-component-update",
  "--disable-sync",
  "--no-first-run",
  "--disable-quic",
];

/**
 * A browser page on ORIGIN. Served paths: /node_modules/cc2d/ → the unpacked package,
 * /www/node_modules/cc2d/ → the same, /www/ → the demo, /data/ → the shared data,
 * /blank.html → an empty page importing "cc2d"; /strict-csp.html → a page that runs the
 * package (on the page and in its worker) under STRICT_CSP; CDN_ORIGIN → the unpacked
 * package with CORS headers (a CDN); `mounts` adds [path prefix,
 * folder] pairs (e.g. a bundled app); `passThrough` lists origins left to the real network
 * (a dev server on localhost); `isolated` serves every file with COOP/COEP, so that the page
 * and its workers are cross-origin isolated (shared memory: the package's threaded module).
 */
export async function openPage({ webgpu = true, packageDir, mounts: extra = [], passThrough = [], isolated = false } = {}) {
  const browser = await chromium.launch({
    executablePath: process.env.CHROMIUM ?? "/usr/bin/chromium",
    args: webgpu ? [...ARGS, "--enable-unsafe-webgpu"] : ARGS,
  });
  const context = await browser.newContext({ viewport: { width: 1200, height: 900 } });
  const outside = [];
  const missing = [];
  /** Every path served from disk, in order (what reached the network, so to speak). */
  const served = [];
  /** `network.off = true` makes every request that reaches the network fail, as offline. */
  const network = { off: false, blocked: [] };
  const mounts = [
    ...extra,
    ["/www/node_modules/cc2d/", packageDir],
    ["/node_modules/cc2d/", packageDir],
    ["/www/", join(ROOT, "www")],
    ["/data/", DATA],
  ];
  await context.route("**/*", async (route) => {
    const url = new URL(route.request().url());
    const fulfill = (/** @type {any} */ response) => route.fulfill(isolated ? { ...response, headers: { ...ISOLATION, ...response.headers } } : response);
    if (network.off) {
      network.blocked.push(url.pathname);
      return route.abort("internetdisconnected");
    }
    if (passThrough.includes(url.origin)) {
      served.push(url.href);
      return route.continue();
    }
    if (url.origin === CDN_ORIGIN && packageDir) {
      const file = normalize(join(packageDir, decodeURIComponent(url.pathname)));
      if (file.startsWith(packageDir) && existsSync(file)) {
        served.push(url.href);
        const type = file.endsWith(".js") ? "text/javascript" : file.endsWith(".wasm") ? "application/wasm" : "application/octet-stream";
        return fulfill({ path: file, headers: { "Access-Control-Allow-Origin": "*", "Content-Type": type } });
      }
      missing.push(url.href);
      return fulfill({ status: 404, body: "not found" });
    }
    if (url.origin !== ORIGIN) {
      outside.push(url.href);
      return route.abort();
    }
    if (url.pathname === "/strict-csp.html") {
      // A page under the strict policy a hospital's viewer might send: no inline script, no
      // eval (only WebAssembly compilation), workers from the origin only.
      return fulfill({
        contentType: "text/html",
        headers: { "Content-Security-Policy": STRICT_CSP },
        body: `<!doctype html><meta charset="utf-8"><script type="module" src="/strict-csp.js"></script><body>`,
      });
    }
    if (url.pathname === "/strict-csp.js") {
      return fulfill({
        contentType: "text/javascript",
        headers: { "Content-Security-Policy": STRICT_CSP },
        body: `import { Cc2d, Cc2dWorker } from "/node_modules/cc2d/index.js";
          const violations = [];
          document.addEventListener("securitypolicyviolation", (e) => violations.push(e.violatedDirective + " " + e.blockedURI));
          const bytes = new Uint8Array(await (await fetch("/data/isbi2015/images/151.jpg")).arrayBuffer());
          const run = async (Kind) => { const c = await Kind.create({ backend: "cpu" }); const r = await c.detect(bytes.slice(), { name: "151.jpg" }); await c.dispose(); return r.landmarks; };
          window.result = Promise.all([run(Cc2d), run(Cc2dWorker)]).then(([page, worker]) => ({ page, worker, violations }), (e) => ({ error: e.code + " " + e.message, violations }));`,
      });
    }
    if (url.pathname === "/blank.html") {
      return fulfill({
        contentType: "text/html",
        body: `<!doctype html><meta charset="utf-8"><script type="importmap">{"imports":{"cc2d":"/node_modules/cc2d/index.js"}}</script><body>`,
      });
    }
    for (const [prefix, dir] of mounts) {
      if (dir && url.pathname.startsWith(prefix)) {
        const file = normalize(join(dir, decodeURIComponent(url.pathname.slice(prefix.length)) || "index.html"));
        if (file.startsWith(dir) && existsSync(file)) {
          served.push(url.pathname);
          return fulfill({ path: file });
        }
      }
    }
    missing.push(url.pathname);
    return fulfill({ status: 404, body: "not found" });
  });
  const page = await context.newPage();
  const logs = [];
  page.on("console", (m) => logs.push(`${m.type()}: ${m.text()}`));
  page.on("pageerror", (e) => logs.push(`pageerror: ${e.message}`));
  return { browser, page, outside, missing, served, network, logs };
}

/**
 * Runs `fn` with a fresh page (see `openPage`), closes the browser afterwards, and adds the
 * page's console log to the message of any failure.
 */
export async function withPage(options, fn) {
  const opened = await openPage(options);
  try {
    return await fn(opened);
  } catch (e) {
    e.message += `\nbrowser log:\n${opened.logs.join("\n")}`;
    throw e;
  } finally {
    await opened.browser.close();
  }
}

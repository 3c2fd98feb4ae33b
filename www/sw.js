// The app's service worker: keeps the app's own files and the package's scripts, so that
// after one visit the app opens and detects with the network off. (The package keeps its
// wasm and weights in its own Cache API store, checked by hash: they are not duplicated.)
const CACHE = "cc2d-app-v5";
const SHELL = [
  "./",
  "index.html",
  "main.js",
  "style.css",
  "workspace.js",
  "page.js",
  "oneshot.html",
  "oneshot.js",
  "node_modules/cc2d/index.js",
  "node_modules/cc2d/manifest.js",
  "node_modules/cc2d/methods.js",
  "node_modules/cc2d/errors.js",
  "node_modules/cc2d/backend.js",
  "node_modules/cc2d/models.js",
  "node_modules/cc2d/worker.js",
  "node_modules/cc2d/worker-client.js",
  "node_modules/cc2d/ceph.js",
  "node_modules/cc2d/tracing.js",
  "node_modules/cc2d/wasm/cc2d.js",
  // The CPU, threaded and training modules' glue (their wasm, like the other, in the
  // package's own store once fetched). The threaded module's worker script (under
  // wasm/snippets/, its name carries a hash) is kept when first fetched.
  "node_modules/cc2d/wasm/cc2d_cpu.js",
  "node_modules/cc2d/wasm/cc2d_mt.js",
  "node_modules/cc2d/wasm/cc2d_train.js",
];
const KEPT_WHEN_FETCHED = /\/node_modules\/cc2d\/wasm\/snippets\/.+\.js$/;

self.addEventListener("install", (event) => {
  event.waitUntil(
    caches
      .open(CACHE)
      .then((cache) => cache.addAll(SHELL))
      .then(() => self.skipWaiting()),
  );
});

self.addEventListener("activate", (event) => event.waitUntil(self.clients.claim()));

// Network first (an online visit always gets the current files, and refreshes the copies),
// the cached copy when the network fails.
self.addEventListener("fetch", (event) => {
  const url = new URL(event.request.url);
  if (event.request.method !== "GET" || url.origin !== self.location.origin || /\.(wasm|bpk)$/.test(url.pathname)) return;
  event.respondWith(
    fetch(event.request)
      .then((response) => {
        if (response.ok && (KEPT_WHEN_FETCHED.test(url.pathname) || SHELL.some((path) => new URL(path, self.registration.scope).pathname === url.pathname))) {
          const copy = response.clone();
          caches.open(CACHE).then((cache) => cache.put(url.pathname, copy));
        }
        return response;
      })
      .catch(async () => (await caches.match(url.pathname)) ?? (await caches.match(event.request, { ignoreSearch: true })) ?? Response.error()),
  );
});

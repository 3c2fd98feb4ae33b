// Serves a folder on localhost, cross-origin isolated (COOP same-origin + COEP require-corp):
// what lets the package run its threaded module (shared memory) in the demo's worker.
// Usage: node scripts/serve.mjs [folder=www] (PORT, default 8080).
import { createServer } from "http-server";

const root = process.argv[2] ?? "www";
const port = Number(process.env.PORT ?? 8080);
const server = createServer({
  root,
  cache: -1,
  headers: { "Cross-Origin-Opener-Policy": "same-origin", "Cross-Origin-Embedder-Policy": "require-corp" },
});
server.listen(port, "localhost", () => console.log(`serving ${root} on http://localhost:${port} (cross-origin isolated)`));

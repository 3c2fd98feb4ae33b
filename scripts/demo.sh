#!/usr/bin/env bash
# Serves the demo (www/) on http://localhost:8080 with the npm package installed from the
# packed tarball, as a user's app would have it. Builds the package first when missing.
# Offline: the page requests nothing beyond its own files. Cross-origin isolated (COOP/COEP
# headers, scripts/serve.mjs), so that detection on the CPU runs on threads in the worker.
set -euo pipefail
cd "$(dirname "$0")/.."
[ -d node_modules ] || npm ci
ls pkg/*.tgz >/dev/null 2>&1 || bash scripts/build-pkg.sh
rm -rf www/node_modules/cc2d
mkdir -p www/node_modules/cc2d
tar xzf pkg/*.tgz -C www/node_modules/cc2d --strip-components=1
exec node scripts/serve.mjs www

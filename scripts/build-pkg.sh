#!/usr/bin/env bash
# Builds the npm package in pkg/: the wasm (release, `web` feature) through wasm-bindgen
# (ES module for the web) and wasm-opt (npm `binaryen`; never Debian's, which breaks the
# module), the shipped weights beside it, then `npm pack` → pkg/cc2d-<version>.tgz.
# Needs: the wasm32 target, wasm-bindgen-cli matching Cargo.lock, `npm ci` at the top level.
set -euo pipefail
cd "$(dirname "$0")/.."
target=${CARGO_TARGET_DIR:-target}

cargo build --release --target wasm32-unknown-unknown --no-default-features --features web --lib
rm -rf pkg/wasm pkg/weights pkg/*.tgz
wasm-bindgen --target web --out-dir pkg/wasm --out-name cc2d "$target/wasm32-unknown-unknown/release/cc2d.wasm"
raw=$(stat -c %s pkg/wasm/cc2d_bg.wasm)
node_modules/.bin/wasm-opt -O3 --enable-bulk-memory --enable-nontrapping-float-to-int --enable-sign-ext --enable-mutable-globals --enable-simd \
  pkg/wasm/cc2d_bg.wasm -o pkg/wasm/cc2d_bg.opt.wasm
mv pkg/wasm/cc2d_bg.opt.wasm pkg/wasm/cc2d_bg.wasm
rm -f pkg/wasm/.gitignore pkg/wasm/package.json
mkdir -p pkg/weights
cp weights/ssl-small.bpk weights/tpl-small.bpk pkg/weights/
cp LICENSE pkg/LICENSE
node scripts/manifest.mjs
# cc2d/ceph's and cc2d/tracing's types, from their JSDoc (one source).
node_modules/.bin/tsc pkg/ceph.js pkg/tracing.js --allowJs --declaration --emitDeclarationOnly --skipLibCheck --lib esnext,dom,dom.iterable --target es2022 --outDir pkg
opt=$(stat -c %s pkg/wasm/cc2d_bg.wasm)
gz=$(gzip -9 -c pkg/wasm/cc2d_bg.wasm | wc -c)
(cd pkg && npm pack --silent >/dev/null)
echo "wasm: $raw bytes after wasm-bindgen, $opt after wasm-opt, $gz gzipped"
echo "weights: $(stat -c %s pkg/weights/tpl-small.bpk) (detector) + $(stat -c %s pkg/weights/ssl-small.bpk) (extractor) bytes"
echo "package: $(ls pkg/*.tgz) ($(stat -c %s pkg/*.tgz) bytes)"

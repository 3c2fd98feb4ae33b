#!/usr/bin/env bash
# Builds the npm package in pkg/: four wasm modules from the crate (the `wasm` profile: release,
# WebGPU's runtime optimised for size; Cargo.toml), each through wasm-bindgen (ES module for the web) and
# wasm-opt (npm `binaryen`; never Debian's, which breaks the module):
#   wasm/cc2d_bg.wasm        inference (`webgpu`): detection, matching, pseudo-labelling, on
#                            WebGPU alone (no CPU backend: should WebGPU fail to start, the
#                            package loads a CPU module instead);
#   wasm/cc2d_cpu_bg.wasm    the same inference on one CPU thread (`web,cpu`), which the
#                            package loads for the CPU backend where threads cannot run;
#   wasm/cc2d_mt_bg.wasm     the same inference on the CPU with threads (`web,threads`: shared
#                            memory, a rayon pool of Web Workers), which the package loads
#                            instead in a cross-origin-isolated worker when the CPU is used;
#                            std rebuilt with atomics (`-Z build-std`, on the stable toolchain
#                            through RUSTC_BOOTSTRAP: no nightly needed), its own target folder;
#   wasm/cc2d_train_bg.wasm  the engine with fine-tuning on WebGPU or the CPU
#                            (`webgpu,cpu,train,fusion`: autodiff, the optimiser, kernel
#                            fusion), fetched by the package on the first `fineTune`;
# the shipped weights beside them, then `npm pack` → pkg/cc2d-<version>.tgz.
# Needs: the wasm32 target and rust-src, wasm-bindgen-cli matching Cargo.lock, `npm ci` at the top level.
set -euo pipefail
cd "$(dirname "$0")/.."
target=${CARGO_TARGET_DIR:-target}
# Cargo.toml's browser profile; cargo writes each build under a folder of that name.
profile=wasm
rm -rf pkg/wasm pkg/weights pkg/*.tgz

# Module name → cargo features → wasm-opt level. Each module's wasm-opt (binaryen compiled to
# wasm: one thread) starts as soon as the module is built, beside the next module's cargo
# build. After LLVM's opt-level 3, binaryen's -O3 still pays where WebGPU's host code runs
# (the WebGPU module on SwiftShader: 4945 / 4609 ms per detection, first call 5.5 / 5.3 s,
# against 5185 / 4957 ms and 6.0 / 6.0 s at -O1, two alternated runs), not on the CPU path
# (the CPU module: 207 / 220 ms at -O3, 215 / 216 at -O1), where -O1 gives a smaller download
# (1.41 → 1.32 MB gzipped) in a fifth of the time (18 s against 85 s on one core). The
# training module, fetched by the first fineTune only, takes -O1 too: at -O3 its 303 s of
# wasm-opt (70 s at -O1) put the cold CI run at 45.6 min (CHANGELOG.md, "CI timings").
modules=(cc2d:webgpu:-O3 cc2d_train:webgpu,cpu,train,fusion:-O1 cc2d_cpu:web,cpu:-O1 cc2d_mt:web,threads:-O1)
pids=()
for module in "${modules[@]}"; do
  name=${module%%:*}
  if [ "$name" = cc2d_mt ]; then
    # Atomics everywhere (std included); at the link, the memory shared and imported (so that
    # every worker instantiates the module on it), up to 4 GiB (wasm32's limit), and the
    # thread-local storage exports wasm-bindgen's thread support calls.
    RUSTC_BOOTSTRAP=1 CARGO_TARGET_DIR="$target/threads" RUSTFLAGS="-C target-feature=+simd128,+atomics,+bulk-memory,+mutable-globals" \
      cargo rustc -Z build-std=panic_abort,std --profile "$profile" --target wasm32-unknown-unknown --no-default-features --features web,threads --lib -- \
      -C link-arg=--shared-memory -C link-arg=--import-memory -C link-arg=--max-memory=4294967296 \
      -C link-arg=--export=__wasm_init_tls -C link-arg=--export=__tls_size -C link-arg=--export=__tls_align -C link-arg=--export=__tls_base
    wasm=$target/threads/wasm32-unknown-unknown/$profile/cc2d.wasm
  else
    features=${module#*:}
    cargo build --profile "$profile" --target wasm32-unknown-unknown --no-default-features --features "${features%:*}" --lib
    wasm=$target/wasm32-unknown-unknown/$profile/cc2d.wasm
  fi
  wasm-bindgen --target web --out-dir pkg/wasm --out-name "$name" "$wasm"
  echo "$name: built [${SECONDS}s]"
  stat -c %s "pkg/wasm/${name}_bg.wasm" > "pkg/wasm/${name}.raw"
  (node_modules/.bin/wasm-opt "${module##*:}" --enable-bulk-memory --enable-nontrapping-float-to-int --enable-sign-ext --enable-mutable-globals --enable-simd --enable-threads \
    "pkg/wasm/${name}_bg.wasm" -o "pkg/wasm/${name}_bg.opt.wasm" && echo "$name: wasm-opt done [${SECONDS}s]") &
  pids+=($!)
done
for pid in "${pids[@]}"; do wait "$pid"; done
echo "wasm-opt done [${SECONDS}s]"
for module in "${modules[@]}"; do
  name=${module%%:*}
  file=pkg/wasm/${name}_bg.wasm
  mv "pkg/wasm/${name}_bg.opt.wasm" "$file"
  brotli=$(node -e 'const z = require("zlib"); console.log(z.brotliCompressSync(require("fs").readFileSync(process.argv[1]), { params: { [z.constants.BROTLI_PARAM_QUALITY]: 11 } }).length)' "$file")
  echo "$file: $(cat "pkg/wasm/${name}.raw") bytes after wasm-bindgen, $(stat -c %s "$file") after wasm-opt, $(gzip -9 -c "$file" | wc -c) gzipped, $brotli brotli"
  rm "pkg/wasm/${name}.raw"
done
rm -f pkg/wasm/.gitignore pkg/wasm/package.json
mkdir -p pkg/weights
cp weights/ssl-small.bpk weights/tpl-small.bpk pkg/weights/
cp LICENSE pkg/LICENSE
node scripts/manifest.mjs
# cc2d/ceph's and cc2d/tracing's types, from their JSDoc (one source).
node_modules/.bin/tsc pkg/ceph.js pkg/tracing.js --allowJs --declaration --emitDeclarationOnly --skipLibCheck --lib esnext,dom,dom.iterable --target es2022 --outDir pkg
(cd pkg && npm pack --silent >/dev/null)
echo "weights: $(stat -c %s pkg/weights/tpl-small.bpk) (detector) + $(stat -c %s pkg/weights/ssl-small.bpk) (extractor) bytes"
echo "package: $(ls pkg/*.tgz) ($(stat -c %s pkg/*.tgz) bytes)"

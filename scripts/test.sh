#!/usr/bin/env bash
# The test suite: lint and types (rustfmt, clippy natively and for wasm, tsc over the npm
# package), native tests (unit, CLI, real radiographs, flex vs wgpu), the Rust browser
# tests in headless Chromium (WebGPU vs flex, shipped models in wasm vs native; the training
# module's features), then the npm
# package built and packed, and its page-level tests (playwright-core: the tarball and the
# demo in Chromium).
# Needs: the wasm32 target, wasm-bindgen-cli matching Cargo.lock, chromium + chromedriver,
# a Vulkan driver for native wgpu (mesa-vulkan-drivers), `npm ci` done at the top level.
# `.ci/run` installs all of them.
set -euo pipefail
cd "$(dirname "$0")/.."

echo "== lint: rustfmt, clippy (native and wasm, warnings are errors) [${SECONDS}s]"
cargo fmt --check
cargo clippy --release --all-targets -- -D warnings
# The browser modules' code paths (build-pkg.sh): the CPU alone (`web,cpu`, as the threaded
# CPU module, whose `threads` adds only the pool's entry point here: wasm-bindgen-rayon
# compiles only with the atomics build, and the threaded kernels are linted natively, `cli`
# has `threads`), WebGPU alone (`webgpu`, the inference module), and the training module
# (`webgpu,cpu,train,fusion`, which the Rust-in-Chromium tests are built as).
cargo clippy --profile wasm --target wasm32-unknown-unknown --no-default-features --features web,cpu --lib -- -D warnings
cargo clippy --profile wasm --target wasm32-unknown-unknown --no-default-features --features webgpu --lib -- -D warnings
cargo clippy --profile wasm --target wasm32-unknown-unknown --no-default-features --features webgpu,cpu,train,fusion --lib --test web -- -D warnings

echo "== cc2d/ceph (the cephalometric analysis, plain JS) in node [${SECONDS}s]"
node --test --test-reporter=spec tests/js/

echo "== native tests [${SECONDS}s]"
cargo test --release

echo "== browser tests (headless Chromium, $(chromium --version 2>/dev/null || echo 'chromium not found')) [${SECONDS}s]"
export CARGO_TARGET_WASM32_UNKNOWN_UNKNOWN_RUNNER=wasm-bindgen-test-runner
export CHROMEDRIVER=${CHROMEDRIVER:-/usr/bin/chromedriver}
export WASM_BINDGEN_TEST_TIMEOUT=${WASM_BINDGEN_TEST_TIMEOUT:-600}
cargo test --profile wasm --target wasm32-unknown-unknown --no-default-features --features webgpu,cpu,train,fusion --test web -- --nocapture

echo "== npm package (pkg/) and its page-level browser tests [${SECONDS}s]"
bash scripts/build-pkg.sh
echo "== types: tsc --noEmit over pkg/ (checkJs; the Cc2d class against index.d.ts) [${SECONDS}s]"
node_modules/.bin/tsc -p .
node --test --test-reporter=spec tests/browser/
echo "== all passed [${SECONDS}s]"

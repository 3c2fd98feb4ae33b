#!/usr/bin/env bash
# The test suite: lint and types (rustfmt, clippy on every build of this crate natively and
# for wasm, tsc over the npm package), native tests (unit, CLI, real radiographs, flex vs wgpu), the Rust browser
# tests in headless Chromium (WebGPU vs flex, shipped models in wasm vs native; the training
# module's features), then the npm
# package built and packed, and its page-level tests (playwright-core: the tarball and the
# demo in Chromium).
# Needs: the wasm32 target, wasm-bindgen-cli matching Cargo.lock, chromium + chromedriver,
# a Vulkan driver for native wgpu (mesa-vulkan-drivers), `npm ci` done at the top level.
# `.ci/run` installs all of them.
set -euo pipefail
cd "$(dirname "$0")/.."

echo "== lint: rustfmt, document links; clippy as each build below compiles this crate [${SECONDS}s]"
cargo fmt --check
# Links from the documents and the code to headings that exist (scripts/check-links.mjs).
node scripts/check-links.mjs
# Every cargo build below compiles this crate with clippy-driver, warnings as errors
# (scripts/lint-rustc): the native targets (the CLI's features), the Rust-in-Chromium tests
# (the training module's features) and each of the package's modules as it ships (WebGPU
# alone; the CPU alone; the threaded CPU module with atomics; the training module), instead
# of separate `cargo clippy` runs, whose metadata builds of Burn for each feature set took a
# tenth of a cold CI run.
export RUSTC_WORKSPACE_WRAPPER="$PWD/scripts/lint-rustc"

echo "== cc2d/ceph (the cephalometric analysis, plain JS) in node [${SECONDS}s]"
node --test --test-reporter=spec tests/js/

echo "== native tests [${SECONDS}s]"
# Every native feature: training (`train`) and native wgpu (`gpu`) besides the CPU CLI. The
# benchmark is built (and so linted) with the tests' dependencies, not run: `cargo bench`.
cargo build --release --benches --features gpu,train
cargo test --release --features gpu,train

echo "== browser tests (headless Chromium, $(chromium --version 2>/dev/null || echo 'chromium not found')) [${SECONDS}s]"
export CARGO_TARGET_WASM32_UNKNOWN_UNKNOWN_RUNNER=wasm-bindgen-test-runner
export CHROMEDRIVER=${CHROMEDRIVER:-/usr/bin/chromedriver}
export WASM_BINDGEN_TEST_TIMEOUT=${WASM_BINDGEN_TEST_TIMEOUT:-600}
cargo test --profile wasm --target wasm32-unknown-unknown --no-default-features --features webgpu,cpu,train,fusion --test web -- --nocapture

echo "== npm package (pkg/) and its page-level browser tests [${SECONDS}s]"
bash scripts/build-pkg.sh
echo "== types: tsc --noEmit over pkg/ (checkJs; the Cc2d class against index.d.ts) [${SECONDS}s]"
node_modules/.bin/tsc -p .
# Two test files side by side (package.test.mjs, training.test.mjs): each page is mostly one
# core busy, and node runs one file at a time on 2 cores otherwise.
node --test --test-concurrency=2 --test-reporter=spec tests/browser/
echo "== all passed [${SECONDS}s]"

#!/usr/bin/env bash
# The speed bar on the same work: the shipped detector (same graph, same weights) written as
# ONNX and run by ONNX Runtime natively (1 and 2 threads) and by ONNX Runtime Web in Chromium
# (wasm 1 and 2 threads, WebGPU where there is an adapter), beside our own forward (native,
# 1 and 2 threads) and `npm run bench:browser` (when the package is built), in one run; each
# ONNX Runtime run first checks that its maps equal ours. Prints ours / ORT.
#   scripts/onnx-anchor/run.sh [WORKDIR]      default WORKDIR: target/onnx-anchor
#   RUNS=10 WEB=0 scripts/onnx-anchor/run.sh  WEB=0 skips the browser part
# Needs: python3 (venv, pip: onnx, onnxruntime, safetensors, numpy), node + npm
# (onnxruntime-web, installed in WORKDIR), /usr/bin/chromium; the ISBI data ($CC2D_DATA).
# The library depends on none of these: they are this benchmark's.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
cd "$here/../.."
work=$(mkdir -p "${1:-target/onnx-anchor}" && cd "${1:-target/onnx-anchor}" && pwd)
runs=${RUNS:-10}

echo "== cc2d: the detector's weights, one input, our maps and our forward (native)"
cargo run --quiet --release --example onnx_anchor -- "$work" --runs "$runs"

echo "== ONNX Runtime native on the same graph"
[ -x "$work/venv/bin/python" ] || { python3 -m venv "$work/venv" && "$work/venv/bin/pip" -q install onnx==1.23.2 onnxruntime==1.32.0 safetensors numpy; }
"$work/venv/bin/python" "$here/build_onnx.py" "$work" "$runs"

if [ "${WEB:-1}" = 1 ]; then
  echo "== ONNX Runtime Web on the same graph (Chromium)"
  [ -d "$work/node_modules/onnxruntime-web" ] || npm install --silent --no-audit --no-fund --no-save --prefix "$work" onnxruntime-web@1.30.0
  node "$here/web.mjs" "$work" "$runs" | tee "$work/ort_web.jsonl"
  if ls pkg/*.tgz >/dev/null 2>&1; then
    echo "== cc2d in Chromium (npm run bench:browser)"
    BENCH_JSON="$work/cc2d_browser.json" npm run --silent bench:browser -- "$runs" --threads 2
  else
    echo "(no pkg/*.tgz: run \`npm run build\` for cc2d's browser figures)"
  fi
fi
"$work/venv/bin/python" "$here/summary.py" "$work"

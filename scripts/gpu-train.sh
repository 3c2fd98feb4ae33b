#!/usr/bin/env bash
# The GPU recipe: trains the `wide` CC2D-SSL extractor and CC2D-TPL detector on one GPU with
# native wgpu (Vulkan), then writes the shipped-format (f16) weights to OUT and scores the
# detector on the test split. One command:
#
#   bash scripts/gpu-train.sh OUT [--device wgpu] [--template-id 125] [--data DIR]
#                                 [--ssl-epochs N] [--tpl-epochs N] [--preset wide]
#
# CC2D_FEATURES=autotune builds the CLI with Burn's autotune (off by default: untimed on a
# GPU; docs/performance.md, "The previous release: WebGPU tuning"); CC2D_BIN=path uses a built binary instead.
# Resumable: rerun with the same OUT to continue. Tested on the CPU with a tiny run
# (tests/cli.rs: `--device cpu --ssl-epochs 1 --tpl-epochs 1` on a synthetic dataset).
set -euo pipefail
cd "$(dirname "$0")/.."
out=${1:?usage: gpu-train.sh OUT [options]}; shift
device=wgpu; template=125; preset=wide; data=""; ssl_epochs=""; tpl_epochs=""; split=train; detect_split=test
while [ $# -gt 0 ]; do
  case "$1" in
    --device) device=$2; shift 2;;
    --template-id) template=$2; shift 2;;
    --preset) preset=$2; shift 2;;
    --data) data=$2; shift 2;;
    --ssl-epochs) ssl_epochs=$2; shift 2;;
    --tpl-epochs) tpl_epochs=$2; shift 2;;
    --split) split=$2; shift 2;;
    --detect-split) detect_split=$2; shift 2;;
    *) echo "gpu-train.sh: unknown option $1" >&2; exit 2;;
  esac
done
cc2d=${CC2D_BIN:-}
if [ -z "$cc2d" ]; then
  cargo build --release --quiet ${CC2D_FEATURES:+--features "$CC2D_FEATURES"}
  cc2d="${CARGO_TARGET_DIR:-target}/release/cc2d"
fi
common=(--preset "$preset" --device "$device" --template-id "$template")
[ -n "$data" ] && common+=(--data "$data")
start=$(date +%s)
"$cc2d" pipeline "${common[@]}" --split "$split" --detect-split "$detect_split" --ssl-weights train --out "$out" \
  ${ssl_epochs:+--ssl-epochs "$ssl_epochs"} ${tpl_epochs:+--tpl-epochs "$tpl_epochs"}
"$cc2d" export --preset "$preset" --from "$out/ssl/model.bpk" --to "$out/ssl-$preset.bpk"
"$cc2d" export --preset "$preset" ${data:+--data "$data"} --template-id "$template" --from "$out/tpl/model.bpk" --to "$out/tpl-$preset.bpk"
echo "gpu-train: weights in $out/ssl-$preset.bpk and $out/tpl-$preset.bpk ($(( $(date +%s) - start )) s)"

#!/bin/bash
# The detector spread over templates (docs/results.md, "Detectors for the same templates"): for each
# template id, shape-repaired SSL pseudo-labels from the shipped extractor, a detector trained
# 15 epochs from the SSL encoder, then detections on the training and test splits.
# Usage: bash scripts/template-spread.sh [OUT] [ID…]   (default: runs/spread 028 032 083 131 134 125)
# Resumable: a template whose test detections exist is skipped, a stopped training resumes.
set -euo pipefail
out=${1:-runs/spread}
shift || true
ids=("$@")
[ ${#ids[@]} -gt 0 ] || ids=(028 032 083 131 134 125)
cargo build --release --quiet
cc2d=${CARGO_TARGET_DIR:-target}/release/cc2d
mkdir -p "$out"
for t in "${ids[@]}"; do
  [ -f "$out/$t-test.csv" ] && continue
  echo "== template $t $(date -u +%T)"
  "$cc2d" match --split train --template-id "$t" --repair-shapes -o "$out/$t-pseudo.csv"
  "$cc2d" train-tpl --pseudo-labels "$out/$t-pseudo.csv" --template-id "$t" --ssl-weights weights/ssl-small.bpk --epochs 15 --eval-every 0 --run "$out/tpl-$t"
  "$cc2d" detect --split train --template-id "$t" --weights "$out/tpl-$t/model.bpk" -o "$out/$t-train.csv"
  "$cc2d" detect --split test --template-id "$t" --weights "$out/tpl-$t/model.bpk" -o "$out/$t-test.csv"
done

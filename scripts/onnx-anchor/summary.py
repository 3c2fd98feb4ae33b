# Prints the same-graph comparison that run.sh measured: ours / ONNX Runtime, per setting.
import json, os, sys

d = sys.argv[1]
ours = {t["threads"]: t["median_ms"] for t in json.load(open(f"{d}/ours.json"))["forward"]}
native = {r["threads"]: r["median_ms"] for r in json.load(open(f"{d}/ort_native.json"))}
rows = [(f"native forward, {t} thread{'s' if t > 1 else ''}", ours[t], f"ORT {native[t]:.1f}", ours[t] / native[t]) for t in (1, 2)]
web = [json.loads(l) for l in open(f"{d}/ort_web.jsonl")] if os.path.exists(f"{d}/ort_web.jsonl") else []
browser = json.load(open(f"{d}/cc2d_browser.json")) if os.path.exists(f"{d}/cc2d_browser.json") else {}
for r in web:
    if "error" in r:
        rows.append((f"ORT Web {r['ep']} {r['threads']}: {r['error']}", None, "", None))
        continue
    ours_ms, what = None, ""
    threaded = f"cpu worker×{r['threads']}"
    if r["ep"] == "wasm" and r["threads"] > 1 and threaded in browser:
        ours_ms, what = browser[threaded]["decodedMedian"], f"cc2d CPU backend ({r['threads']} threads, in a worker)"
    elif r["ep"] == "wasm" and "cpu" in browser:
        ours_ms, what = browser["cpu"]["decodedMedian"], "cc2d CPU backend (one thread)"
    if r["ep"] == "webgpu" and "webgpu" in browser:
        ours_ms, what = browser["webgpu"]["decodedMedian"], f"cc2d WebGPU ({r['adapter']})"
    label = f"browser, ORT Web {r['ep']}" + (f" {r['threads']} thread{'s' if r['threads'] > 1 else ''}" if r["ep"] == "wasm" else f" ({r['adapter']})")
    rows.append((label + (f" vs {what}" if what else ""), ours_ms, f"ORT {r['median_ms']:.1f}", ours_ms / r["median_ms"] if ours_ms else None))
print("\nsame graph, same weights, same input (maps equal: see max_abs_diff_vs_cc2d above); medians, ms")
print("browser: ours is detect() on decoded pixels (resize + forward + voting), ORT's the forward alone")
for label, ours_ms, ort_ms, ratio in rows:
    print(f"  {label:<66} ours {ours_ms if ours_ms is None else f'{ours_ms:7.1f}'}  {ort_ms:<10}  ours/ORT {'-' if ratio is None else f'{ratio:.2f}'}")

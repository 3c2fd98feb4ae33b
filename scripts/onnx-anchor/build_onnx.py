# The shipped detector's graph in ONNX, from the weights and configuration that
# `cargo run --example onnx_anchor` wrote: the same layers as src/model/blocks.rs and
# detector.rs (VGG encoder, U-Net decoder to 1/4 with batch norm, 1x1 head). As our detection
# runs it, the first convolution takes the grey image as one channel (its weights summed over
# the three identical channels it was trained on); the batch norms stay (ONNX Runtime folds
# them itself, as we do at load).
# Checks that ONNX Runtime reproduces our maps on the same input (else the timing comparison
# is void), then times ONNX Runtime native with 1 and 2 threads.
#   build_onnx.py DIR [RUNS]     reads DIR/{detector.safetensors,config.json,input.bin,ours.bin}
#                                writes DIR/cc2d_detector.onnx and DIR/ort_native.json
import json, sys, time
import numpy as np, onnx, onnxruntime as ort
from onnx import TensorProto, helper, numpy_helper
from safetensors.numpy import load_file

d = sys.argv[1]
runs = int(sys.argv[2]) if len(sys.argv) > 2 else 10
config = json.load(open(f"{d}/config.json"))
det, side = config["detector"], config["image_size"]
w = load_file(f"{d}/detector.safetensors")
nodes, inits = [], []


def init(name):
    inits.append(numpy_helper.from_array(w[name].astype(np.float32), name))
    return name


def conv_block(x, prefix, batch_norm):
    """Conv 3x3 (+ batch norm) + ReLU, as ConvBlock."""
    if x == "input":  # the first layer, folded to one input channel
        w[f"{prefix}.conv.weight"] = w[f"{prefix}.conv.weight"].sum(axis=1, keepdims=True)
    weight = init(f"{prefix}.conv.weight")
    inputs = [x, weight] + ([init(f"{prefix}.conv.bias")] if f"{prefix}.conv.bias" in w else [])
    k = w[weight].shape[2]
    nodes.append(helper.make_node("Conv", inputs, [f"{prefix}.conv"], kernel_shape=[k, k], pads=[k // 2] * 4))
    y = f"{prefix}.conv"
    if batch_norm:
        p = f"{prefix}.norm"
        nodes.append(helper.make_node("BatchNormalization", [y, init(f"{p}.gamma"), init(f"{p}.beta"), init(f"{p}.running_mean"), init(f"{p}.running_var")], [p], epsilon=1e-5))
        y = p
    nodes.append(helper.make_node("Relu", [y], [f"{prefix}.relu"]))
    return f"{prefix}.relu"


def stack(x, prefix, depth, batch_norm):
    for i in range(depth):
        x = conv_block(x, f"{prefix}.blocks.{i}", batch_norm)
    return x


# Encoder: per stage, plain convolutions then 2x2 max-pooling; the outputs before pooling are the skips.
x, skips, size = "input", [], side
for s, depth in enumerate(det["encoder_depths"]):
    x = stack(x, f"encoder.stages.{s}", depth, False)
    skips.append((x, size))
    nodes.append(helper.make_node("MaxPool", [x], [f"pool{s}"], kernel_shape=[2, 2], strides=[2, 2]))
    x, size = f"pool{s}", size // 2
# Decoder: bilinear x2 (pixel centres: half_pixel), join the skip, convolve.
for i, width in enumerate(det["decoder_widths"]):
    skip, size = skips[len(skips) - 1 - i]
    sizes = numpy_helper.from_array(np.array([1, w[f"decoder.stages.{i}.blocks.0.conv.weight"].shape[1] - det["encoder_widths"][-1 - i], size, size], np.int64), f"up{i}.sizes")
    inits.append(sizes)
    nodes.append(helper.make_node("Resize", [x, "", "", f"up{i}.sizes"], [f"up{i}"], mode="linear", coordinate_transformation_mode="half_pixel"))
    nodes.append(helper.make_node("Concat", [f"up{i}", skip], [f"cat{i}"], axis=1))
    x = stack(f"cat{i}", f"decoder.stages.{i}", det["decoder_depth"], det["batch_norm"])
# Head: 1x1 to heatmap logits, x offsets, y offsets (3K maps).
nodes.append(helper.make_node("Conv", [x, init("head.weight"), init("head.bias")], ["output"], kernel_shape=[1, 1]))

k, out = det["landmarks"], side // 4
graph = helper.make_graph(nodes, "cc2d_detector", [helper.make_tensor_value_info("input", TensorProto.FLOAT, [1, 1, side, side])],
                          [helper.make_tensor_value_info("output", TensorProto.FLOAT, [1, 3 * k, out, out])], inits)
model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)], producer_name="cc2d scripts/onnx-anchor")
model.ir_version = 8  # what opset 17 needs; ONNX Runtime Web 1.30 reads up to 13
onnx.checker.check_model(model)
path = f"{d}/cc2d_detector.onnx"
onnx.save(model, path)

x = np.fromfile(f"{d}/input.bin", np.float32).reshape(1, 1, side, side)
ours = np.fromfile(f"{d}/ours.bin", np.float32).reshape(1, 3 * k, out, out)
results = []
for threads in [1, 2]:
    so = ort.SessionOptions()
    so.intra_op_num_threads, so.inter_op_num_threads = threads, 1
    so.execution_mode = ort.ExecutionMode.ORT_SEQUENTIAL
    sess = ort.InferenceSession(path, so, providers=["CPUExecutionProvider"])
    y = sess.run(None, {"input": x})[0]
    diff = float(np.abs(y - ours).max())
    if not diff < 1e-3:
        sys.exit(f"ONNX Runtime's maps differ from ours by {diff} (max |diff|): the graphs are not the same, no timing")
    sess.run(None, {"input": x})
    ts = []
    for _ in range(runs):
        t = time.perf_counter()
        sess.run(None, {"input": x})
        ts.append((time.perf_counter() - t) * 1e3)
    ts.sort()
    r = dict(runtime=f"onnxruntime {ort.__version__} CPU", threads=threads, median_ms=round(ts[len(ts) // 2], 2), min_ms=round(ts[0], 2), max_ms=round(ts[-1], 2), runs=runs, max_abs_diff_vs_cc2d=diff)
    print(json.dumps(r), flush=True)
    results.append(r)
json.dump(results, open(f"{d}/ort_native.json", "w"), indent=1)

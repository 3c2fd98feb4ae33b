//! Our half of the same-graph speed comparison with ONNX Runtime (`scripts/onnx-anchor/run.sh`
//! runs it): writes the shipped detector's weights as safetensors with its configuration (the
//! script rebuilds the same graph in ONNX from them), one preprocessed radiograph and our
//! output maps for it (ONNX Runtime must reproduce them, or the comparison is void), and times
//! our forward on the same input with 1 and 2 threads.
//!
//! `cargo run --release --example onnx_anchor -- OUT_DIR [--weights weights/tpl-small.bpk]
//! [--image IMAGE] [--runs 10]` (default image: ISBI 151 under `$CC2D_DATA`).

/// The command line's allocator, set up as it does (`cc2d::allocator`): our native figures
/// are the CLI's.
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

use std::path::PathBuf;
use std::time::Instant;

use anyhow::Context;
use burn::module::Module;
use burn::store::{ModuleSnapshot, SafetensorsStore};
use burn::tensor::{Device, Tensor};
use cc2d::config::Preset;
use cc2d::io::dataset::data_root;
use cc2d::io::image;
use cc2d::preprocess::preprocess;
use cc2d::tpl::detect::TplDetector;
use cc2d::training::batch_tensor;

fn main() -> anyhow::Result<()> {
    cc2d::allocator::keep_freed_memory();
    let args: Vec<String> = std::env::args().collect();
    let arg = |name: &str, default: &str| args.iter().position(|a| a == name).map_or(default.to_string(), |i| args[i + 1].clone());
    let out = PathBuf::from(args.get(1).filter(|a| !a.starts_with("--")).context("usage: onnx_anchor OUT_DIR [--weights W] [--image I] [--runs N]")?);
    let weights = PathBuf::from(arg("--weights", "weights/tpl-small.bpk"));
    let image_path = PathBuf::from(arg("--image", &data_root().join("isbi2015/images/151.jpg").display().to_string()));
    let runs: usize = arg("--runs", "10").parse()?;
    std::fs::create_dir_all(&out)?;

    let device = Device::flex();
    let detector = TplDetector::load(&weights, Preset::Small, None, &device)?;
    let model = detector.model();
    let mut store = SafetensorsStore::from_file(out.join("detector.safetensors")).overwrite(true);
    model.save_into(&mut store).map_err(|e| anyhow::anyhow!("writing safetensors: {e}"))?;
    std::fs::write(out.join("config.json"), serde_json::to_string_pretty(&detector.config())?)?;

    // The input exactly as detection builds it (grey, resized), and the detector as detection
    // runs it: batch norms folded, the first layer taking the one grey channel (the script
    // folds the same way; ONNX Runtime folds the batch norms itself).
    let side = detector.config().image_size;
    let img = image::load(&image_path)?;
    let input = preprocess(&img, [side as u32, side as u32]);
    let batch = batch_tensor(&[input.image.pixels.as_slice()], side, &device);
    let inference = model.clone().fold_for_inference();
    let forward = |x: Tensor<4>| {
        let o = inference.forward(x);
        Tensor::cat(vec![o.heatmap_logits, o.offset_x, o.offset_y], 1)
    };
    let maps = forward(batch.clone());
    write_f32(&out.join("input.bin"), batch.clone().into_data().try_to_vec::<f32>().map_err(|e| anyhow::anyhow!("{e:?}"))?)?;
    write_f32(&out.join("ours.bin"), maps.clone().into_data().try_to_vec::<f32>().map_err(|e| anyhow::anyhow!("{e:?}"))?)?;

    // Forward + read-back, as detection does it, on pools of 1 and 2 threads.
    let mut timings = Vec::new();
    for threads in [1, 2] {
        let pool = rayon::ThreadPoolBuilder::new().num_threads(threads).build()?;
        let mut ms: Vec<f64> = pool.install(|| {
            let _ = forward(batch.clone()).into_data(); // warm-up
            (0..runs)
                .map(|_| {
                    let t = Instant::now();
                    std::hint::black_box(forward(batch.clone()).into_data());
                    t.elapsed().as_secs_f64() * 1e3
                })
                .collect()
        });
        ms.sort_by(f64::total_cmp);
        println!("cc2d forward (flex, {threads} thread{}): {:.1} ms (median of {runs})", if threads > 1 { "s" } else { "" }, ms[runs / 2]);
        timings.push(serde_json::json!({ "threads": threads, "median_ms": ms[runs / 2], "min_ms": ms[0], "max_ms": ms[runs - 1], "runs": runs }));
    }
    let report = serde_json::json!({
        "image": image_path.display().to_string(),
        "weights": weights.display().to_string(),
        "input_shape": batch.dims(),
        "output_shape": maps.dims(),
        "parameters": model.num_params(),
        "forward": timings,
    });
    std::fs::write(out.join("ours.json"), serde_json::to_string_pretty(&report)?)?;
    println!("wrote {}", out.display());
    Ok(())
}

fn write_f32(path: &std::path::Path, values: Vec<f32>) -> anyhow::Result<()> {
    let bytes: Vec<u8> = values.iter().flat_map(|v| v.to_le_bytes()).collect();
    std::fs::write(path, bytes).with_context(|| format!("writing {}", path.display()))
}

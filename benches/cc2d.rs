//! Speed and size figures (not tests): `cargo bench --bench cc2d`.
//!
//! Prints, on the machine it runs on: NCC baseline time per image (decode + pyramid + search),
//! SSL matching time per image (decode + preprocess + forward + decode), SSL training
//! samples per second, and parameters / weight bytes of each extractor preset.
//! Real radiographs from `$CC2D_DATA` (default `../shared/data`).

use std::time::Instant;

use burn::module::Module;
use burn::tensor::Device;
use cc2d::baseline::ncc::{NccConfig, NccMatcher};
use cc2d::config::SslConfig;
use cc2d::io::dataset::{Dataset, data_root};
use cc2d::io::image;
use cc2d::preprocess::preprocess;
use cc2d::ssl::SslModel;
use cc2d::ssl::matching::SslMatcher;

fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(f64::total_cmp);
    v[v.len() / 2]
}

fn main() {
    let root = data_root().join("isbi2015");
    let Ok(ds) = Dataset::open(&root) else {
        eprintln!("no data at {} (set CC2D_DATA)", root.display());
        return;
    };
    let device = Device::flex();
    let template = ds.template("001").unwrap();
    let template_image = image::load(std::path::Path::new(&template.image)).unwrap();
    let queries: Vec<_> = ds.split("test1").unwrap().into_iter().take(10).map(|s| s.image_path.clone()).collect();

    // Presets: size.
    for preset in ["small", "paper"] {
        let config = SslConfig::preset(preset).unwrap();
        let model = SslModel::new(&config, &device);
        let params = model.num_params();
        println!("extractor preset {preset:>5}: {params:>10} parameters, {:>7.2} MB f32, {:>7.2} MB f16", params as f64 * 4e-6, params as f64 * 2e-6);
    }

    // NCC baseline, single thread, per image.
    let ncc = NccMatcher::new(&template_image, &template, NccConfig::default()).unwrap();
    let mut decode_times = Vec::new();
    let mut ncc_times = Vec::new();
    for q in &queries {
        let t = Instant::now();
        let img = image::load(q).unwrap();
        decode_times.push(t.elapsed().as_secs_f64());
        let t = Instant::now();
        std::hint::black_box(ncc.locate(&img));
        ncc_times.push(t.elapsed().as_secs_f64());
    }
    let decode = median(decode_times);
    println!("decode (JPEG 1935×2400):            {:>7.1} ms/image (median of {})", decode * 1e3, queries.len());
    println!("NCC baseline, 1 thread:             {:>7.1} ms/image + decode", median(ncc_times) * 1e3);

    // SSL matching, small preset (random weights: the speed does not depend on them).
    let config = SslConfig::preset("small").unwrap();
    let matcher = SslMatcher::new(SslModel::new(&config, &device), config.image_size, &template_image, &template, &device).unwrap();
    let mut times = Vec::new();
    for q in &queries {
        let t = Instant::now();
        let img = image::load(q).unwrap();
        std::hint::black_box(matcher.locate(&img, &device).unwrap());
        times.push(t.elapsed().as_secs_f64());
    }
    println!("SSL matching (small, flex):         {:>7.1} ms/image, decode to landmarks", median(times) * 1e3);

    // SSL training throughput: a one-epoch run over 8 images (4 steps of 2).
    let side = config.image_size as u32;
    let images: Vec<_> = queries.iter().take(8).map(|q| preprocess(&image::load(q).unwrap(), [side, side]).image).collect();
    let mut bench_config = config.clone();
    bench_config.training.epochs = 1;
    let dir = std::env::temp_dir().join(format!("cc2d-bench-{}", std::process::id()));
    let t = Instant::now();
    cc2d::ssl::train::train(&bench_config, &images, &device, &cc2d::training::RunDir(dir.clone()), |_| {}, |_, _| {}).unwrap();
    let secs = t.elapsed().as_secs_f64();
    let _ = std::fs::remove_dir_all(dir);
    println!(
        "SSL training (small, flex):         {:>7.2} images/s ({} points each), {:.2} s per step of {}",
        images.len() as f64 / secs,
        config.training.points_per_patch,
        secs / images.len().div_ceil(config.training.batch_size) as f64,
        config.training.batch_size
    );
}

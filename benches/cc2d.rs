//! Speed and size figures (not tests): `cargo bench --bench cc2d`.
//!
//! Prints, on the machine it runs on: NCC baseline time per image (decode + pyramid + search),
//! SSL matching time per image (decode + preprocess + forward + decode), SSL training
//! samples per second, TPL detection time per image by stage and peak memory, and
//! parameters / weight bytes of each extractor preset.
//! Real radiographs from `$CC2D_DATA` (default `../shared/data`).

use std::time::Instant;

use burn::module::Module;
use burn::tensor::Device;
use cc2d::baseline::ncc::{NccConfig, NccMatcher};
use cc2d::config::TplConfig;
use cc2d::config::{Preset, SslConfig};
use cc2d::io::dataset::{Dataset, data_root};
use cc2d::io::image;
use cc2d::locate::{Locator, ReadBack};
use cc2d::preprocess::preprocess;
use cc2d::ssl::SslModel;
use cc2d::ssl::matching::SslMatcher;
use cc2d::tpl::detect::TplDetector;

/// The command line's allocator, set up as it does (`cc2d::allocator`), so that these
/// figures are the CLI's.
#[cfg(feature = "cli")]
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(f64::total_cmp);
    v[v.len() / 2]
}

/// Peak resident set size of this process (Linux), MB.
fn peak_rss_mb() -> f64 {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| s.lines().find(|l| l.starts_with("VmHWM:")).and_then(|l| l.split_whitespace().nth(1)?.parse::<f64>().ok()))
        .map_or(f64::NAN, |kb| kb / 1024.0)
}

fn main() {
    #[cfg(feature = "cli")]
    cc2d::allocator::keep_freed_memory();
    let root = data_root().join("isbi2015");
    let Ok(ds) = Dataset::open(&root) else {
        eprintln!("no data at {} (set CC2D_DATA)", root.display());
        return;
    };
    let device = Device::flex();
    let template = ds.template("001").unwrap();
    let template_image = image::load(std::path::Path::new(&template.image)).unwrap();
    let queries: Vec<_> = ds.split("test1").unwrap().into_iter().take(10).map(|s| s.image_path.clone()).collect();

    // TPL detection, small preset (the shipped weights when present, else random: the speed
    // does not depend on them), end to end and by stage.
    let tpl_config = TplConfig::preset(Preset::Small, 19);
    let shipped = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("weights/tpl-small.bpk");
    let detector = TplDetector::load(&shipped, Preset::Small, Some(19), &device).unwrap_or_else(|_| TplDetector::new(tpl_config.detector.init(&device), tpl_config.clone()));
    let side = detector.config().image_size as u32;
    let (mut total, mut stages) = (Vec::new(), [Vec::new(), Vec::new(), Vec::new(), Vec::new()]);
    for _ in 0..2 {
        for q in &queries {
            let t0 = Instant::now();
            let img = image::load(q).unwrap();
            let t1 = Instant::now();
            let input = preprocess(&img, [side, side]);
            let t2 = Instant::now();
            let (maps, frame) = detector.maps(&img, &device);
            let data = maps.read().unwrap();
            let t3 = Instant::now();
            std::hint::black_box(detector.decode(&data, &frame));
            let t4 = Instant::now();
            std::hint::black_box(input);
            total.push((t4 - t0 - (t2 - t1)).as_secs_f64());
            for (s, d) in stages.iter_mut().zip([t1 - t0, t2 - t1, t3 - t2, t4 - t3]) {
                s.push(d.as_secs_f64());
            }
        }
    }
    let [decode_t, pre, fwd, vote] = stages.map(median);
    println!(
        "TPL detection (small, flex):        {:>7.1} ms/image end to end (decode {:.1}, preprocess {:.1}, forward + read-back incl. preprocess {:.1}, voting {:.1})",
        median(total) * 1e3,
        decode_t * 1e3,
        pre * 1e3,
        fwd * 1e3,
        vote * 1e3
    );
    println!("TPL detector (small):               {:>7} parameters", detector.model().num_params());
    println!("peak memory (decode + detection):    {:>7.0} MB", peak_rss_mb());

    // Presets: size.
    for preset in [Preset::Small, Preset::Paper] {
        let config = SslConfig::preset(preset);
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
        std::hint::black_box(ncc.locate(&img, &device).unwrap());
        ncc_times.push(t.elapsed().as_secs_f64());
    }
    let decode = median(decode_times);
    println!("decode (JPEG 1935×2400):            {:>7.1} ms/image (median of {})", decode * 1e3, queries.len());
    println!("NCC baseline, 1 thread:             {:>7.1} ms/image + decode", median(ncc_times) * 1e3);

    // SSL matching, small preset (random weights: the speed does not depend on them).
    let config = SslConfig::preset(Preset::Small);
    let matcher = SslMatcher::new(SslModel::new(&config, &device), config.image_size, cc2d::config::MatchingConfig::new(), &template_image, &template, &device).unwrap();
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
    cc2d::ssl::train::train(&bench_config, &images, &[], None, &device, &cc2d::training::RunDir(dir.clone()), |_| {}, |_, _| {}).unwrap();
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

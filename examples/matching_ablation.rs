//! The matching ablation on labelled training images: one query forward per image and
//! anchor kind, then every decoding setting, scored against the labels (never Test1/Test2).
//!
//! `cargo run --release --example matching_ablation -- [--template-id 125] [--split train]
//! [--weights weights/ssl-small.bpk] [--data DIR]`
//! Prints MRE, SDR at 2 / 4 mm and the mean |bias| per setting.

use std::path::PathBuf;

use burn::tensor::Device;
use cc2d::config::{MatchingConfig, Preset, SslConfig};
use cc2d::io::dataset::{Dataset, data_root};
use cc2d::io::image;
use cc2d::io::landmarks::Point;
use cc2d::locate::{Locator, ReadBack};
use cc2d::metrics::evaluate;
use cc2d::ssl::SslModel;
use cc2d::ssl::matching::SslMatcher;

fn main() -> anyhow::Result<()> {
    let args: Vec<String> = std::env::args().collect();
    let arg = |name: &str, default: &str| args.iter().position(|a| a == name).map_or(default.to_string(), |i| args[i + 1].clone());
    let data = PathBuf::from(arg("--data", &data_root().join("isbi2015").display().to_string()));
    let template_id = arg("--template-id", "125");
    let split = arg("--split", "train");
    let weights = PathBuf::from(arg("--weights", "weights/ssl-small.bpk"));
    let limit: usize = arg("--images", "1000").parse()?;

    let device = Device::flex();
    let config = SslConfig::preset(Preset::Small);
    let model = cc2d::model::weights::load(SslModel::new(&config, &device), &weights)?;
    let dataset = Dataset::open(&data)?;
    let template = dataset.template(&template_id)?;
    let template_image = image::load(std::path::Path::new(&template.image))?;
    let samples: Vec<_> = dataset.split(&split)?.into_iter().filter(|s| s.id != template_id && s.landmarks.is_some()).take(limit).collect();

    let settings: Vec<(&str, MatchingConfig)> = vec![
        ("paper: cell anchors, product, argmax", MatchingConfig::paper()),
        ("+ sub-pixel", MatchingConfig::paper().with_subpixel(true)),
        ("bilinear anchors, product", MatchingConfig::new().with_window_cells(0).with_subpixel(false)),
        ("bilinear anchors, product, sub-pixel", MatchingConfig::new().with_window_cells(0)),
        ("bilinear, cascade window 2, all levels score", MatchingConfig::new().with_window_cells(2)),
        ("bilinear, cascade window 3, all levels score", MatchingConfig::new().with_window_cells(3)),
        ("bilinear, cascade window 4, all levels score", MatchingConfig::new().with_window_cells(4)),
        ("bilinear, cascade window 6, all levels score", MatchingConfig::new().with_window_cells(6)),
        ("bilinear, cascade window 3, 4 levels score", MatchingConfig::new().with_window_cells(3).with_scoring_levels(4)),
    ];
    let matchers: Vec<SslMatcher> =
        settings.iter().map(|(_, m)| SslMatcher::new(model.clone(), config.image_size, m.clone(), &template_image, &template, &device)).collect::<cc2d::Result<_>>()?;
    // One forward per image and anchor kind; every setting decodes the same maps.
    let first_of_kind = |bilinear: bool| settings.iter().position(|(_, m)| m.bilinear_anchors == bilinear).unwrap();
    let mut found: Vec<Vec<Vec<Point>>> = vec![Vec::new(); settings.len()];
    for (n, s) in samples.iter().enumerate() {
        let img = image::load(&s.image_path)?;
        for bilinear in [false, true] {
            let (maps, frame) = matchers[first_of_kind(bilinear)].maps(&img, &device);
            let maps = maps.read()?;
            for (i, _) in settings.iter().enumerate().filter(|(_, (_, m))| m.bilinear_anchors == bilinear) {
                found[i].push(matchers[i].decode(&maps, &frame).into_iter().map(|(p, _)| p).collect());
            }
        }
        eprint!("\r{}/{}", n + 1, samples.len());
    }
    eprintln!();
    println!("template {template_id}, {} labelled {split} images (template excluded)", samples.len());
    println!("{:<48} {:>7} {:>7} {:>7} {:>7}", "setting", "MRE mm", "SDR2", "SDR4", "|bias|");
    for ((name, _), preds) in settings.iter().zip(&found) {
        let e = evaluate(samples.iter().zip(preds).map(|(s, p)| (s.id.as_str(), p.as_slice(), s.landmarks.as_deref().unwrap(), s.spacing_mm.unwrap_or(0.1))))?;
        println!("{name:<48} {:>7.3} {:>7.2} {:>7.2} {:>7.2}", e.overall.mre, e.overall.sdr[0], e.overall.sdr[3], e.mean_abs_bias());
    }
    Ok(())
}

//! The voting ablation on labelled training images: one detector forward per image, then
//! every way of turning its heatmap and offsets into a point, scored against the labels
//! (never Test1/Test2).
//!
//! `cargo run --release --example voting_ablation -- [--template-id 125] [--split train]
//! [--weights weights/tpl-small.bpk] [--data DIR] [--images N]`
//! Prints MRE, SDR at 2 / 4 mm and the mean |bias| per setting.

use std::path::PathBuf;

use burn::tensor::Device;
use cc2d::config::Preset;
use cc2d::io::dataset::{Dataset, data_root};
use cc2d::io::image;
use cc2d::io::landmarks::Point;
use cc2d::locate::{Locator, ReadBack};
use cc2d::metrics::evaluate;
use cc2d::tpl::detect::TplDetector;
use cc2d::tpl::targets::output_pixel_centre;
use cc2d::tpl::voting::{MEAN_SHIFT_STEPS, VOTE_POOL_PX, VOTE_THRESHOLD, vote};

/// One decoding: votes from pixels with heatmap ≥ `threshold` (weighted by the heatmap when
/// `weighted`), the most-voted model pixel found, then `steps` mean-shift steps over the votes
/// within `pool` model pixels (0 steps: the mean of the winning pixel's own votes).
#[derive(Clone, Copy)]
struct Decoding {
    threshold: f32,
    weighted: bool,
    pool: f64,
    steps: usize,
}

/// The detector's output grid: `out`² cells of `stride` model pixels, offsets in units of
/// `radius`, a `side`² model input.
#[derive(Clone, Copy)]
struct Grid {
    out: usize,
    stride: usize,
    radius: f64,
    side: usize,
}

fn decode(d: Decoding, [heatmap, ox, oy]: [&[f32]; 3], Grid { out, stride, radius, side }: Grid) -> Point {
    let peak = heatmap.iter().copied().fold(f32::MIN, f32::max);
    let threshold = d.threshold.min(peak);
    let mut votes = Vec::new();
    for y in 0..out {
        for x in 0..out {
            let i = y * out + x;
            if heatmap[i] >= threshold {
                let w = if d.weighted { f64::from(heatmap[i]) } else { 1.0 };
                votes.push((output_pixel_centre(x, stride) + f64::from(ox[i]) * radius, output_pixel_centre(y, stride) + f64::from(oy[i]) * radius, w));
            }
        }
    }
    let mut counts = vec![0f64; side * side];
    for &(vx, vy, w) in &votes {
        let (cx, cy) = (vx.round().clamp(0.0, (side - 1) as f64) as usize, vy.round().clamp(0.0, (side - 1) as f64) as usize);
        counts[cy * side + cx] += w;
    }
    let best = counts.iter().enumerate().fold((0, 0.0), |b, (i, &c)| if c > b.1 { (i, c) } else { b }).0;
    let (bx, by) = ((best % side) as f64, (best / side) as f64);
    let in_bin = |v: &&(f64, f64, f64)| v.0.round().clamp(0.0, (side - 1) as f64) == bx && v.1.round().clamp(0.0, (side - 1) as f64) == by;
    let mean = |vs: Vec<&(f64, f64, f64)>| {
        let w: f64 = vs.iter().map(|v| v.2).sum();
        Point::new(vs.iter().map(|v| v.0 * v.2).sum::<f64>() / w, vs.iter().map(|v| v.1 * v.2).sum::<f64>() / w)
    };
    let mut p = mean(votes.iter().filter(in_bin).collect());
    for _ in 0..d.steps {
        let near: Vec<_> = votes.iter().filter(|v| (v.0 - p.x).hypot(v.1 - p.y) <= d.pool).collect();
        if near.is_empty() {
            break;
        }
        p = mean(near);
    }
    p
}

fn main() -> anyhow::Result<()> {
    let args: Vec<String> = std::env::args().collect();
    let arg = |name: &str, default: &str| args.iter().position(|a| a == name).map_or(default.to_string(), |i| args[i + 1].clone());
    let data = PathBuf::from(arg("--data", &data_root().join("isbi2015").display().to_string()));
    let template_id = arg("--template-id", "125");
    let split = arg("--split", "train");
    let weights = PathBuf::from(arg("--weights", "weights/tpl-small.bpk"));
    let limit: usize = arg("--images", "1000").parse()?;

    let device = Device::flex();
    let detector = TplDetector::load(&weights, Preset::Small, None, &device)?;
    let dataset = Dataset::open(&data)?;
    let samples: Vec<_> = dataset.split(&split)?.into_iter().filter(|s| s.id != template_id && s.landmarks.is_some()).take(limit).collect();
    let (k, stride, side, radius) = (detector.landmarks(), detector.config().detector.output_stride(), detector.config().image_size, detector.config().radius);
    let out = side / stride;
    let grid = Grid { out, stride, radius, side };
    let n = out * out;

    let plain = |threshold, pool, steps| Decoding { threshold, weighted: false, pool, steps };
    let mut settings: Vec<(String, Decoding)> = vec![
        (format!("shipped: threshold {VOTE_THRESHOLD}, {MEAN_SHIFT_STEPS}× within {VOTE_POOL_PX} px"), plain(VOTE_THRESHOLD, VOTE_POOL_PX, MEAN_SHIFT_STEPS)),
        ("the winning pixel's votes only (the previous release)".into(), plain(0.5, 0.0, 0)),
    ];
    for threshold in [0.3, 0.7] {
        settings.push((format!("threshold {threshold}, the winning pixel's votes"), plain(threshold, 0.0, 0)));
    }
    for pool in [1.0, 2.0, 3.0, 4.0, 6.0] {
        for steps in [1, 3] {
            settings.push((format!("mean-shift {steps}× over votes within {pool} px"), plain(0.5, pool, steps)));
        }
    }
    settings.push(("weighted by heatmap, within 3 px, 3×".into(), Decoding { threshold: 0.5, weighted: true, pool: 3.0, steps: 3 }));
    settings.push(("threshold 0.3, within 3 px, 3×".into(), plain(0.3, 3.0, 3)));

    let mut found: Vec<Vec<Vec<Point>>> = vec![Vec::new(); settings.len()];
    let mut library: Vec<Vec<Point>> = Vec::new();
    for (done, s) in samples.iter().enumerate() {
        let img = image::load(&s.image_path)?;
        let (maps, frame) = detector.maps(&img, &device);
        let maps = maps.read()?;
        let part = |m: usize, i: usize| &maps[(m * k + i) * n..(m * k + i + 1) * n];
        for (j, (_, d)) in settings.iter().enumerate() {
            found[j].push((0..k).map(|i| frame.inside_original(frame.to_original(decode(*d, [part(0, i), part(1, i), part(2, i)], grid)))).collect());
        }
        // The library's own voting, as a check that the first setting reproduces it.
        library.push((0..k).map(|i| frame.inside_original(frame.to_original(vote(part(0, i), part(1, i), part(2, i), [out, out], stride, radius, [side, side]).0))).collect());
        eprint!("\r{}/{}", done + 1, samples.len());
    }
    eprintln!();
    let largest = found[0].iter().flatten().zip(library.iter().flatten()).map(|(a, b)| a.distance(*b)).fold(0.0, f64::max);
    println!("template {template_id}, {} labelled {split} images (template excluded); first setting vs the library's voting: largest difference {largest:.2e} px", samples.len());
    println!("{:<52} {:>7} {:>7} {:>7} {:>7}", "setting", "MRE mm", "SDR2", "SDR4", "|bias|");
    for ((name, _), preds) in settings.iter().zip(&found) {
        let e = evaluate(samples.iter().zip(preds).map(|(s, p)| (s.id.as_str(), p.as_slice(), s.landmarks.as_deref().unwrap(), s.spacing_mm.unwrap_or(0.1))))?;
        println!("{name:<52} {:>7.3} {:>7.2} {:>7.2} {:>7.2}", e.overall.mre, e.overall.sdr[0], e.overall.sdr[3], e.mean_abs_bias());
    }
    Ok(())
}

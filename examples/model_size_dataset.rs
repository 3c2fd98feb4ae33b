//! Writes a copy of an ISBI-layout dataset at the models' input size (8-bit PNGs, labels
//! mapped with the same [`Frame`] the models use), and optionally a pseudo-labels CSV mapped
//! the same way: a small upload for a GPU machine (150 radiographs of 1935×2400 JPEG become
//! a few MB), on which training gives what it would from the originals, since every stage
//! first resizes to this size with this resampler.
//!
//! `cargo run --release --example model_size_dataset -- OUT [--split train] [--size 384]
//!  [--pseudo-labels pseudo.csv]` (the dataset from `CC2D_DATA`, `isbi2015/`)

use std::path::{Path, PathBuf};

use cc2d::io::dataset::{Dataset, data_root};
use cc2d::io::image;
use cc2d::io::landmarks::{Point, Predictions};
use cc2d::preprocess::{Frame, resize};

fn main() -> anyhow::Result<()> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let out = PathBuf::from(args.first().ok_or_else(|| anyhow::anyhow!("usage: model_size_dataset OUT [--split S] [--size N] [--pseudo-labels CSV]"))?);
    let option = |name: &str| args.iter().position(|a| a == name).and_then(|i| args.get(i + 1)).cloned();
    let split = option("--split").unwrap_or_else(|| "train".into());
    let side: u32 = option("--size").map_or(Ok(384), |s| s.parse())?;
    let dataset = Dataset::open(&data_root().join("isbi2015"))?;
    let samples = dataset.split(&split)?;

    for dir in ["images", "AnnotationsByMD/400_senior", "AnnotationsByMD/400_junior"] {
        std::fs::create_dir_all(out.join(dir))?;
    }
    let mut frames = Vec::new();
    for sample in &samples {
        let original = image::load(&sample.image_path)?;
        let frame = Frame::new([original.width, original.height], [side, side]);
        let small = resize(&original, side, side);
        let pixels: Vec<u8> = small.pixels.iter().map(|&v| (v.clamp(0.0, 1.0) * 255.0).round() as u8).collect();
        ::image::ImageBuffer::<::image::Luma<u8>, _>::from_raw(side, side, pixels).expect("side² pixels").save(out.join("images").join(format!("{}.png", sample.id)))?;
        // The ground truth is the doctors' mean: both files hold it, so the mean is unchanged.
        // Full precision (`write_isbi_txt` rounds to whole pixels: 2.5 mm at this size).
        let labels: String = sample.landmarks.as_deref().unwrap_or_default().iter().map(|&p| frame.to_model(p)).map(|p: Point| format!("{},{}\n", p.x, p.y)).collect();
        for doctor in ["400_senior", "400_junior"] {
            std::fs::write(out.join("AnnotationsByMD").join(doctor).join(format!("{}.txt", sample.id)), &labels)?;
        }
        frames.push((sample.id.clone(), frame));
    }
    // The splits keep only the copied images.
    for name in ["train", "test1", "test2"] {
        let ids: Vec<String> = dataset.split(name)?.iter().filter(|s| frames.iter().any(|(id, _)| *id == s.id)).map(|s| s.id.clone()).collect();
        std::fs::write(out.join(format!("{name}.txt")), ids.iter().map(|id| format!("{id}\n")).collect::<String>())?;
    }
    if let Some(csv) = option("--pseudo-labels") {
        let pseudo = Predictions::read_csv(Path::new(&csv))?;
        let rows = pseudo
            .rows
            .iter()
            .filter_map(|(id, points)| frames.iter().find(|(f, _)| f == id).map(|(_, frame)| (id.clone(), points.iter().map(|&p| frame.to_model(p)).collect())))
            .collect();
        Predictions { rows }.write_csv(&out.join("pseudo-labels.csv"))?;
    }
    println!("{} images of split {split} at {side}² in {}", frames.len(), out.display());
    Ok(())
}

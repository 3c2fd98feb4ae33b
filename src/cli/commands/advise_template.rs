//! `cc2d advise-template`: which unlabelled image to annotate as the template (no labels read).

use std::path::PathBuf;

use anyhow::{Context, Result};

use cc2d::io::dataset::Dataset;
use cc2d::io::image;
use cc2d::ssl::SslModel;
use cc2d::ssl::advice;

use crate::args::{ModelArgs, Weights, default_data};
use crate::report::progress;

#[derive(clap::Args)]
pub struct Args {
    /// Dataset folder, or any folder of images.
    #[arg(long, default_value_os_t = default_data())]
    data: PathBuf,
    /// The images to choose from (default: train where the dataset has it, else all).
    #[arg(long)]
    split: Option<String>,
    /// Extractor weights (default: the shipped extractor, built in).
    #[arg(long)]
    weights: Option<PathBuf>,
    #[command(flatten)]
    model: ModelArgs,
    /// How many of the ranking to print.
    #[arg(long, default_value_t = 10)]
    top: usize,
    /// Write the whole ranking as CSV (rank, id, score).
    #[arg(long, short)]
    out: Option<PathBuf>,
}

pub fn run(a: Args) -> Result<()> {
    let dataset = Dataset::open(&a.data)?;
    let split = a.split.clone().unwrap_or_else(|| if dataset.split_names().contains(&"train") { "train".into() } else { "all".into() });
    let ranking = advise(&dataset, &split, &Weights::or(a.weights.as_deref(), Weights::EXTRACTOR), a.model)?;
    println!("template advice for {split} of {} ({} images; score: mean cosine similarity of the extractor's coarse features to the other images)", dataset.name, ranking.len());
    println!("rank  id          score");
    for (rank, (id, score)) in ranking.iter().enumerate().take(a.top) {
        println!("{:>4}  {id:<10}  {score:.4}", rank + 1);
    }
    if let Some(out) = &a.out {
        let csv: String = std::iter::once("rank,id,score\n".to_string()).chain(ranking.iter().enumerate().map(|(r, (id, s))| format!("{},{id},{s:.6}\n", r + 1))).collect();
        std::fs::write(out, csv).with_context(|| format!("writing {}", out.display()))?;
        println!("wrote {}", out.display());
    }
    Ok(())
}

/// The images of `split` ranked as templates, most typical first: `(id, score)`.
pub fn advise(dataset: &Dataset, split: &str, weights: &Weights, model: ModelArgs) -> Result<Vec<(String, f64)>> {
    let device = cc2d::model::device(model.device)?;
    let (bytes, name) = weights.read()?;
    let (extractor, config) = SslModel::from_bytes(bytes, &name, model.preset, &device)?;
    let samples = dataset.split(split)?;
    anyhow::ensure!(samples.len() >= 2, "template advice needs at least 2 images, {split} of {} has {}", dataset.name, samples.len());
    let bar = progress(samples.len(), "features");
    let descriptors = samples
        .iter()
        .map(|s| {
            let d = advice::descriptor(&extractor, &image::load(&s.image_path)?, config.image_size, &device);
            bar.inc(1);
            d
        })
        .collect::<cc2d::Result<Vec<_>>>()?;
    bar.finish();
    Ok(advice::rank(&descriptors).into_iter().map(|(i, score)| (samples[i].id.clone(), score)).collect())
}

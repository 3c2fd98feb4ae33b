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
    /// How images are ranked: `similarity` (mean cosine similarity of coarse features to the
    /// other images) or `cycle` (a grid of points matched into some other images and back:
    /// the smaller the round-trip error, the better).
    #[arg(long, value_parser = ["similarity", "cycle"], default_value = "similarity")]
    criterion: String,
    /// For `cycle`: how many other images (evenly spaced over the split) each candidate is
    /// matched into and back from.
    #[arg(long, default_value_t = 12)]
    queries: usize,
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
    let weights = Weights::or(a.weights.as_deref(), Weights::EXTRACTOR);
    let (ranking, what) = match a.criterion.as_str() {
        "cycle" => (advise_by_cycle(&dataset, &split, &weights, a.model, a.queries)?, "round-trip error of a 6×6 grid of points, model pixels (lower is better)"),
        _ => (advise(&dataset, &split, &weights, a.model)?, "mean cosine similarity of the extractor's coarse features to the other images"),
    };
    println!("template advice for {split} of {} ({} images; score: {what})", dataset.name, ranking.len());
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

/// The images of `split` ranked by round-trip error (lowest first): `(id, error)`.
pub fn advise_by_cycle(dataset: &Dataset, split: &str, weights: &Weights, model: ModelArgs, queries: usize) -> Result<Vec<(String, f64)>> {
    let device = cc2d::model::device(model.device)?;
    let (bytes, name) = weights.read()?;
    let (extractor, config) = SslModel::from_bytes(bytes, &name, model.preset, &device)?;
    let side = config.image_size;
    let samples = dataset.split(split)?;
    anyhow::ensure!(samples.len() >= 2, "template advice needs at least 2 images, {split} of {} has {}", dataset.name, samples.len());
    let picked: Vec<usize> = (0..queries.min(samples.len())).map(|i| i * samples.len() / queries.min(samples.len())).collect();
    let query_cascades = picked.iter().map(|&i| Ok(advice::cascade(&extractor, &image::load(&samples[i].image_path)?, side, &device))).collect::<Result<Vec<_>>>()?;
    let grid = advice::grid(side, 6, 0.7);
    let matching = cc2d::config::MatchingConfig::new();
    let bar = progress(samples.len(), "round trips");
    let mut ranking = Vec::with_capacity(samples.len());
    for (i, s) in samples.iter().enumerate() {
        let own = advice::cascade(&extractor, &image::load(&s.image_path)?, side, &device);
        let others: Vec<Vec<_>> = picked.iter().zip(&query_cascades).filter(|(j, _)| **j != i).map(|(_, c)| c.clone()).collect();
        ranking.push((s.id.clone(), advice::cycle_error(&own, &others, &grid, &matching, side)?));
        bar.inc(1);
    }
    bar.finish();
    ranking.sort_by(|a, b| a.1.total_cmp(&b.1));
    Ok(ranking)
}

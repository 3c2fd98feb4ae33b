//! `cc2d labels`: a split's ground truth written as a predictions CSV — the ground truth
//! `score.py --gt` reads, or the labels of a fully supervised detector (`train-tpl
//! --pseudo-labels labels.csv`), the diagnostic that says how much of the one-shot
//! detector's error comes from its pseudo-labels (docs/results.md, "The limit is the pseudo-labels").

use std::path::PathBuf;

use anyhow::{Result, anyhow};

use cc2d::io::dataset::Annotator;
use cc2d::io::landmarks::Predictions;

use crate::args::{default_data, open_ground_truth};

#[derive(clap::Args)]
pub struct Args {
    /// Dataset folder with ground truth.
    #[arg(long, default_value_os_t = default_data())]
    data: PathBuf,
    /// The split whose landmarks to write.
    #[arg(long, default_value = "train")]
    split: String,
    /// ISBI 2015: whose landmarks (the benchmark's ground truth is the mean of the two).
    #[arg(long, value_enum, default_value_t)]
    annotator: Annotator,
    #[arg(long, short, default_value = "labels.csv")]
    out: PathBuf,
}

pub fn run(a: Args) -> Result<()> {
    let dataset = open_ground_truth(&a.data, a.annotator)?;
    let rows = dataset
        .split(&a.split)?
        .into_iter()
        .map(|s| s.landmarks.clone().map(|l| (s.id.clone(), l)).ok_or_else(|| anyhow!("image {} of split {:?} has no landmarks", s.id, a.split)))
        .collect::<Result<Vec<_>>>()?;
    let images = rows.len();
    Predictions { rows }.write_csv(&a.out)?;
    println!("wrote {} (the ground truth of the {images} images of split {})", a.out.display(), a.split);
    Ok(())
}

//! `cc2d eval`: scores a predictions CSV (the six columns of `score.py`, per landmark with
//! the systematic offset, and how well the scores find the bad points).

use std::path::PathBuf;

use anyhow::{Context, Result};

use cc2d::io::dataset::Annotator;
use cc2d::io::landmarks::Predictions;

use crate::args::{default_data, open_ground_truth};
use crate::report::{print_confidence, print_scores};

#[derive(clap::Args)]
pub struct Args {
    /// Predictions CSV (`id,x1,y1,…`, original pixels).
    predictions: PathBuf,
    /// Dataset folder with ground truth.
    #[arg(long, default_value_os_t = default_data())]
    data: PathBuf,
    /// Split(s) to score; each must be fully predicted. Default: every split with predictions.
    #[arg(long)]
    split: Vec<String>,
    /// ISBI 2015: whose landmarks are the ground truth (the benchmark's is the mean of the
    /// senior's and the junior's).
    #[arg(long, value_enum, default_value_t)]
    annotator: Annotator,
    /// Millimetres per pixel, overriding the dataset's.
    #[arg(long)]
    spacing: Option<f64>,
    /// Also print each landmark's errors and systematic offset (signed mean dx, dy, scatter).
    #[arg(long)]
    per_landmark: bool,
    /// Also write every figure, per split and per landmark (with its bias), as JSON.
    #[arg(long)]
    json: Option<PathBuf>,
    /// Detections JSON (`--json` of detect/match) whose scores to judge: how well a low
    /// score finds the points off by more than 4 mm (AUROC), and a reliability table.
    #[arg(long)]
    scores: Option<PathBuf>,
}

pub fn run(a: Args) -> Result<()> {
    let dataset = open_ground_truth(&a.data, a.annotator)?;
    let predictions = Predictions::read_csv(&a.predictions)?;
    let splits: Vec<String> =
        if a.split.is_empty() { dataset.split_names().into_iter().filter(|s| *s != "all" || dataset.splits.len() == 1).map(String::from).collect() } else { a.split.clone() };
    let named = !a.split.is_empty();
    let rows = print_scores(&dataset, &predictions, &splits, a.spacing, a.per_landmark, named)?;
    if let Some(path) = &a.scores {
        print_confidence(&dataset, path, &splits, a.spacing)?;
    }
    if let Some(path) = &a.json {
        let json = cc2d::metrics::to_json(&rows, &dataset.landmark_names);
        std::fs::write(path, serde_json::to_string_pretty(&json)? + "\n").with_context(|| format!("writing {}", path.display()))?;
        println!("wrote {}", path.display());
    }
    Ok(())
}

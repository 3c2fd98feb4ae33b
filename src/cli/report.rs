//! What the commands print: progress bars, score tables and the confidence report (the
//! training commands' own output: `training_report`).

use std::collections::HashMap;
use std::path::Path;

use anyhow::{Context, Result, bail};
use indicatif::{ProgressBar, ProgressStyle};

use cc2d::io::dataset::Dataset;
use cc2d::io::landmarks::{Detection, Point, Predictions, normalise_id};
use cc2d::metrics::{Evaluation, auroc_low_score, evaluate_split, format_table, reliability};

/// A bar over `len` items (images).
pub fn progress(len: usize, what: &str) -> ProgressBar {
    let bar = ProgressBar::new(len as u64);
    bar.set_style(ProgressStyle::with_template("{msg} [{bar:30}] {pos}/{len} {per_sec} eta {eta}").expect("valid template").progress_chars("=> "));
    bar.set_message(what.to_string());
    bar
}

/// Scores predictions per split and prints the table; splits asked for by name must be
/// complete. Returns the scored splits (none for an unlabelled dataset).
pub fn print_scores(
    dataset: &Dataset,
    predictions: &Predictions,
    splits: &[String],
    spacing: Option<f64>,
    per_landmark: bool,
    require_all: bool,
) -> Result<Vec<(String, Evaluation)>> {
    if dataset.samples.iter().all(|s| s.landmarks.is_none()) {
        return Ok(Vec::new()); // unlabelled images: nothing to score
    }
    let mut rows = Vec::new();
    for split in splits {
        if let Some(e) = evaluate_split(dataset, split, predictions, spacing, require_all)? {
            if !e.unknown_spacing.is_empty() {
                eprintln!("{split}: left out {} (pixel spacing unknown; give one with --spacing)", e.unknown_spacing.join(", "));
            }
            rows.push((split.clone(), e.evaluation));
        }
    }
    if rows.is_empty() {
        bail!("no prediction matches an image of {} ({})", dataset.name, splits.join(", "));
    }
    print!("{}", format_table(&rows, per_landmark.then_some(dataset.landmark_names.as_slice())));
    Ok(rows)
}

/// How well the scores of a detections JSON find the bad points, per split: AUROC of low
/// score for errors above 4 mm (over all points, and the mean within a landmark) and a
/// reliability table.
pub fn print_confidence(dataset: &Dataset, path: &Path, splits: &[String], spacing: Option<f64>) -> Result<()> {
    let detections: Vec<Detection> = serde_json::from_str(&std::fs::read_to_string(path).with_context(|| format!("reading {}", path.display()))?)
        .with_context(|| format!("{}: not a detections JSON list", path.display()))?;
    let by_id: HashMap<String, &Detection> = detections.iter().map(|d| (normalise_id(&d.image), d)).collect();
    for split in splits {
        let mut per_landmark: Vec<Vec<(f64, f64)>> = vec![Vec::new(); dataset.landmark_names.len()];
        for s in dataset.split(split)? {
            let (Some(d), Some(truth), Some(mm)) = (by_id.get(&s.id), &s.landmarks, spacing.or(s.spacing_mm)) else { continue };
            for ((l, t), points) in d.landmarks.iter().zip(truth).zip(&mut per_landmark) {
                points.push((Point::new(l.x, l.y).distance(*t) * mm, l.score));
            }
        }
        let all: Vec<(f64, f64)> = per_landmark.concat();
        if all.is_empty() {
            continue;
        }
        let within: Vec<f64> = per_landmark.iter().filter_map(|p| auroc_low_score(p, 4.0)).collect();
        println!(
            "{split}: confidence AUROC for errors > 4 mm: {:.3} over {} points; mean within a landmark {:.3} ({} landmarks with both kinds)",
            auroc_low_score(&all, 4.0).unwrap_or(f64::NAN),
            all.len(),
            within.iter().sum::<f64>() / within.len().max(1) as f64,
            within.len()
        );
        println!("  {:<11} {:>6} {:>9} {:>9}", "confidence", "points", "≤ 2 mm %", "≤ 4 mm %");
        for b in reliability(&all, &[0.0, 0.2, 0.4, 0.6, 0.8, 0.9, 1.0]) {
            println!("  {:<11} {:>6} {:>9.1} {:>9.1}", format!("{:.1}–{:.1}", b.low, b.high), b.points, b.within_2mm, b.within_4mm);
        }
    }
    Ok(())
}

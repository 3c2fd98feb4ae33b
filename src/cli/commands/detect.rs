//! `cc2d detect`: the trained CC2D-TPL detector.

use std::path::{Path, PathBuf};

use anyhow::Result;

use cc2d::config::Preset;
use cc2d::io::landmarks::Template;
use cc2d::locate::Locator;
use cc2d::model::DeviceKind;
use cc2d::tpl::detect::TplDetector;

use crate::args::{Outputs, RunArgs, SHIPPED_DETECTOR, TemplateSource};
use crate::runner::run_detector;

#[derive(clap::Args)]
pub struct Args {
    #[command(flatten)]
    run: RunArgs,
    /// Detector weights (burnpack, f32 or f16); by default the shipped ISBI detector.
    #[arg(long, default_value = SHIPPED_DETECTOR)]
    weights: PathBuf,
    /// The configuration the weights were trained with, when the file does not record it.
    #[arg(long, value_enum, default_value_t)]
    preset: Preset,
    #[arg(long, value_enum, default_value_t)]
    device: DeviceKind,
    /// Test-time augmentation: four shifted copies as well, the median answer kept (≈ 5× the
    /// forward time).
    #[arg(long)]
    tta: bool,
}

pub fn run(a: Args) -> Result<()> {
    detect(&a.run.source, &a.weights, a.preset, a.tta, &a.run.outputs, a.device)
}

/// Detects on every image of `outputs.split`. The template (a JSON file, or the dataset's
/// labelled image) names the landmarks and must agree with the weights; without one, the
/// names stored in the weights are used.
pub fn detect(source: &TemplateSource, weights: &Path, preset: Preset, tta: bool, outputs: &Outputs, device: DeviceKind) -> Result<()> {
    let dataset = source.dataset()?;
    let device = cc2d::model::device(device)?;
    let template = match source.resolve(&dataset) {
        Ok((t, _)) => Some(t),
        Err(_) if source.template.is_none() => None,
        Err(e) => return Err(e),
    };
    let detector = TplDetector::load(weights, preset, template.as_ref().map(|t| t.landmarks.len()), &device)?.with_tta(tta);
    let names = template.as_ref().map_or_else(|| detector.landmark_names(), Template::names);
    println!("CC2D-TPL detection: weights {}, {} landmarks, {} of {}", weights.display(), names.len(), outputs.split, dataset.name);
    run_detector(&detector, &device, &dataset, &names, outputs, "detect", Some(1), |_| ())
}

//! What the training commands print: a bar over the optimisation steps, lines above it, and
//! the accuracy-vs-time curve of a run (built with the `train` feature only).

use std::path::{Path, PathBuf};

use anyhow::Result;
use indicatif::{ProgressBar, ProgressStyle};

use cc2d::io::dataset::Sample;
use cc2d::io::image::{self, GreyImage};
use cc2d::io::landmarks::Point;
use cc2d::metrics::evaluate;
use cc2d::training::{EpochRecord, StepReport, append};

/// A bar over a training run's optimisation steps.
pub fn training_progress(steps: usize) -> ProgressBar {
    let bar = ProgressBar::new(steps as u64);
    bar.set_style(ProgressStyle::with_template("{msg} [{bar:30}] {pos}/{len} steps, {elapsed} elapsed, eta {eta}").expect("valid template").progress_chars("=> "));
    bar
}

/// Moves a training bar to the step just done.
pub fn show_step(bar: &ProgressBar, s: &StepReport) {
    bar.set_position((s.epoch * s.steps_per_epoch + s.step + 1) as u64);
    bar.set_message(format!("epoch {} loss {:.3}", s.epoch + 1, s.loss));
}

/// Prints a line above a progress bar (or plainly when output is not a terminal).
pub fn say(bar: &ProgressBar, line: String) {
    bar.suspend(|| println!("{line}"));
}

/// The accuracy-vs-time curve of a training run: labelled training images (never the
/// template), decoded once, and `curve.csv` in the run folder.
pub struct Curve<'a> {
    samples: Vec<&'a Sample>,
    images: Vec<GreyImage>,
    file: PathBuf,
}

impl<'a> Curve<'a> {
    pub fn new(samples: &[&'a Sample], template_path: &Path, count: usize, run: &Path) -> Result<Self> {
        let samples: Vec<&Sample> = samples.iter().filter(|s| s.landmarks.is_some() && s.image_path != template_path).take(count).copied().collect();
        let images = samples.iter().map(|s| image::load(&s.image_path)).collect::<cc2d::Result<_>>()?;
        std::fs::create_dir_all(run)?;
        let file = run.join("curve.csv");
        if !file.exists() {
            std::fs::write(&file, "epoch,seconds,images,mre_mm,sdr2,sdr4\n")?;
        }
        Ok(Self { samples, images, file })
    }

    /// Scores `locate` on the curve images against their labels, appends a line to the
    /// curve and returns one to print.
    pub fn log(&self, record: &EpochRecord, locate: impl Fn(&GreyImage) -> cc2d::Result<Vec<(Point, f64)>>) -> Result<String> {
        if self.images.is_empty() {
            return Ok("  no labelled training images for the curve".into());
        }
        let found = self.images.iter().map(|q| Ok(locate(q)?.into_iter().map(|(p, _)| p).collect::<Vec<_>>())).collect::<cc2d::Result<Vec<_>>>()?;
        let e = evaluate(self.samples.iter().zip(&found).map(|(s, f)| (s.id.as_str(), f.as_slice(), s.landmarks.as_deref().expect("labelled"), s.spacing_mm.unwrap_or(0.1))))?;
        let line = format!("{},{:.1},{},{:.4},{:.2},{:.2}\n", record.epoch, record.seconds, self.samples.len(), e.overall.mre, e.overall.sdr[0], e.overall.sdr[3]);
        append(&self.file, &line)?;
        Ok(format!("  {} training images: MRE {:.2} mm, SDR@4mm {:.1} %", self.samples.len(), e.overall.mre, e.overall.sdr[3]))
    }
}

//! `cc2d detect`: the trained CC2D-TPL detector.

use anyhow::Result;

use cc2d::io::landmarks::Template;
use cc2d::locate::{Locator, PhysicalFrame};
use cc2d::orientation::OrientationCheck;
use cc2d::tpl::detect::TplDetector;

use crate::args::{ModelArgs, ModelRunArgs, Outputs, TemplateSource, Weights};
use crate::runner::{Parallelism, Pass, repair_shapes, run_detector};

#[derive(clap::Args)]
pub struct Args {
    #[command(flatten)]
    common: ModelRunArgs,
    /// Test-time augmentation: four shifted copies as well, the median answer kept (≈ 5× the
    /// forward time).
    #[arg(long)]
    tta: bool,
    /// Repair outliers with a shape model of all the detections (PCA of their point sets,
    /// no labels read), as `match --repair-shapes`: for relabelling the training images in
    /// a second round.
    #[arg(long)]
    repair_shapes: bool,
    /// Take every image as upright and right-facing: skip the check that tries the other
    /// ways round (mirrored, turned, inverted) when the detector is unsure of an image.
    #[arg(long)]
    upright: bool,
}

pub fn run(a: Args) -> Result<()> {
    let c = &a.common;
    detect(
        &c.run.source,
        &Weights::or(c.weights.as_deref(), Weights::DETECTOR),
        c.model,
        Detecting { tta: a.tta, repair_shapes: a.repair_shapes, upright: a.upright },
        &c.run.outputs,
    )
}

/// How `detect` runs the detector.
#[derive(Clone, Copy, Default)]
pub struct Detecting {
    pub tta: bool,
    pub repair_shapes: bool,
    /// Skip the orientation check.
    pub upright: bool,
}

/// Detects on every image of `outputs.split` (or the files named in `outputs`). The template (a JSON file, or the dataset's
/// labelled image) names the landmarks and must agree with the weights; without one, the
/// names stored in the weights are used.
pub fn detect(source: &TemplateSource, weights: &Weights, model: ModelArgs, how: Detecting, outputs: &Outputs) -> Result<()> {
    // Files named on the command line need no dataset folder; their landmarks are named by
    // a template JSON file when one is given, else by the weights.
    let dataset = match outputs.files()? {
        Some(files) => files,
        None => source.dataset()?,
    };
    let device = cc2d::model::device(model.device)?;
    let template = match source.resolve(&dataset) {
        Ok((t, _)) => Some(t),
        Err(_) if source.template.is_none() => None,
        Err(e) => return Err(e),
    };
    let (bytes, weights_name) = weights.read()?;
    let detector = TplDetector::from_bytes(bytes, &weights_name, model.preset, template.as_ref().map(|t| t.landmarks.len()), &device)?
        .with_tta(how.tta)
        .with_physical_frame_or(template.as_ref().and_then(PhysicalFrame::of_template));
    let names = template.as_ref().map_or_else(|| detector.landmark_names(), Template::names);
    println!("CC2D-TPL detection: weights {}, {} landmarks, {}", weights, names.len(), outputs.describe(&dataset));
    let side = detector.config().image_size;
    let calibrated = detector.calibration().is_some();
    run_detector(
        &detector,
        &device,
        &dataset,
        &names,
        outputs,
        Pass { orientation: (!how.upright).then(|| OrientationCheck::for_detector(calibrated)), ..Pass::new("detect", Parallelism::Forward) },
        |found| {
            if how.repair_shapes {
                repair_shapes(found, side);
            }
        },
    )
}

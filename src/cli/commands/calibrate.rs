//! `cc2d calibrate`: the detector's evidence on labelled images, with and without test-time
//! augmentation, against whether each point is within 4 mm; a logistic fit of each, stored
//! in the weights.

use std::path::PathBuf;

use anyhow::{Context, Result};
use burn::tensor::Device;

use cc2d::config::Preset;
use cc2d::io::dataset::Sample;
use cc2d::io::image;
use cc2d::locate::{Locator, PhysicalFrame, ReadBack};
use cc2d::model::DeviceKind;
use cc2d::tpl::confidence::{Calibration, GOOD_WITHIN_MM};
use cc2d::tpl::detect::{Evidence, TplDetector};

use crate::args::TemplateSource;
use crate::report::progress;

#[derive(clap::Args)]
pub struct Args {
    /// The labelled dataset; the template image (never scored) is left out.
    #[command(flatten)]
    source: TemplateSource,
    #[arg(long, default_value = "train")]
    split: String,
    /// Detector weights to calibrate.
    #[arg(long)]
    weights: PathBuf,
    /// Where to write the calibrated weights (f16, as `export`).
    #[arg(long)]
    to: PathBuf,
    #[arg(long, value_enum, default_value_t)]
    device: DeviceKind,
}

pub fn run(a: Args) -> Result<()> {
    let setup = a.source.setup()?;
    let device = cc2d::model::device(a.device)?;
    let detector = TplDetector::load(&a.weights, Preset::Small, Some(setup.template.landmarks.len()), &device)?;
    let names = setup.template.names();
    let single = detector.clone().with_tta(false);
    let tta = detector.with_tta(true);
    let samples: Vec<&Sample> = setup.dataset.split(&a.split)?.into_iter().filter(|s| s.landmarks.is_some() && s.image_path != setup.template_path).collect();
    let bar = progress(samples.len(), "calibrating");
    let (mut plain_points, mut tta_points) = (Vec::new(), Vec::new());
    for s in &samples {
        let img = image::load(&s.image_path)?;
        let (maps, frame) = tta.maps(&img, &device);
        let maps = maps.read()?;
        let mm = s.spacing_mm.context("calibration needs images of known pixel spacing")?;
        let truth = s.landmarks.as_ref().expect("filtered to labelled images");
        // The first copy of the TTA batch is the image itself: the plain detection's maps.
        for (points, found) in [(&mut plain_points, single.decode_with_evidence(&maps, &frame)), (&mut tta_points, tta.decode_with_evidence(&maps, &frame))] {
            points.extend(found.into_iter().zip(truth).enumerate().map(|(k, ((p, e), t))| (e, k, p.distance(*t) * mm <= GOOD_WITHIN_MM)));
        }
        bar.inc(1);
    }
    bar.finish_and_clear();
    let calibration = Calibration::fit(names.len(), &plain_points, &tta_points);
    let calibrated = TplDetector::load(&a.weights, Preset::Small, None, &Device::flex())?
        .with_calibration(Some(calibration.clone()))
        .with_physical_frame_or(PhysicalFrame::of_template(&setup.template));
    calibrated.save(&a.to, &names)?;
    let share = |p: &[(Evidence, usize, bool)]| 100.0 * p.iter().filter(|x| x.2).count() as f64 / p.len().max(1) as f64;
    println!(
        "calibrated on {} images of {} ({} points; within 4 mm: {:.1} %, with TTA {:.1} %)",
        samples.len(),
        a.split,
        plain_points.len(),
        share(&plain_points),
        share(&tta_points)
    );
    let head = |w: &[f64]| w.iter().take(5).map(|v| format!("{v:.2}")).collect::<Vec<_>>().join(", ");
    println!("weights (intercept, peak, share, ln(1+spread)[, ln(¼+TTA spread)], then one per landmark): [{}, …] / [{}, …]", head(&calibration.single), head(&calibration.tta));
    println!("wrote {}", a.to.display());
    Ok(())
}

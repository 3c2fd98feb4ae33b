//! `cc2d export`: f16 weights to ship. Detector weights also get the template's landmark names
//! and, where they do not record it, the physical frame they were trained in (the template's).

use std::path::PathBuf;

use anyhow::Result;
use burn::tensor::Device;

use cc2d::config::{Preset, TplConfig};
use cc2d::locate::PhysicalFrame;
use cc2d::model::weights;
use cc2d::ssl::SslModel;
use cc2d::tpl::detect::TplDetector;

use crate::args::TemplateSource;

#[derive(clap::Args)]
pub struct Args {
    /// Weights to convert (e.g. a run's model.bpk).
    #[arg(long)]
    from: PathBuf,
    #[arg(long)]
    to: PathBuf,
    /// The configuration the weights were trained with, when the file does not record it.
    #[arg(long, value_enum, default_value_t)]
    preset: Preset,
    /// Detector weights: the template whose landmark names are stored with them.
    #[command(flatten)]
    source: TemplateSource,
}

pub fn run(a: Args) -> Result<()> {
    let device = Device::flex();
    let is_detector = serde_json::from_str::<TplConfig>(&weights::description(&a.from)?).is_ok();
    if is_detector {
        let (template, _) = a.source.resolve(&a.source.dataset()?)?;
        // Weights that do not record the frame they were trained in get the template's.
        let detector = TplDetector::load(&a.from, a.preset, None, &device)?.with_physical_frame_or(PhysicalFrame::of_template(&template));
        detector.save(&a.to, &template.names())?;
    } else {
        let (model, config) = SslModel::load(&a.from, a.preset, &device)?;
        weights::save(&model, &a.to, true, &serde_json::to_string(&config)?)?;
    }
    println!("wrote {} ({} bytes, f16)", a.to.display(), std::fs::metadata(&a.to)?.len());
    Ok(())
}

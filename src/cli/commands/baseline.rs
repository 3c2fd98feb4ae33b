//! `cc2d baseline`: the training-free NCC baseline.

use std::path::PathBuf;

use anyhow::{Context, Result};
use burn::tensor::Device;

use cc2d::baseline::ncc::{NccConfig, NccMatcher};

use crate::args::RunArgs;
use crate::runner::{Parallelism, Pass, run_detector};

#[derive(clap::Args)]
pub struct Args {
    #[command(flatten)]
    run: RunArgs,
    /// NCC pyramid as JSON (`{"levels": [{"size", "patch_radius", "search_radius"}, …]}`);
    /// default: the built-in levels.
    #[arg(long)]
    ncc_config: Option<PathBuf>,
}

pub fn run(a: Args) -> Result<()> {
    let setup = a.run.source.setup()?;
    let config = match &a.ncc_config {
        Some(path) => serde_json::from_str(&std::fs::read_to_string(path).with_context(|| format!("reading {}", path.display()))?)
            .with_context(|| format!("{}: not an NCC configuration", path.display()))?,
        None => NccConfig::default(),
    };
    let matcher = NccMatcher::new(&setup.template_image()?, &setup.template, config)?;
    let outputs = &a.run.outputs;
    let files = outputs.files()?;
    let images = files.as_ref().unwrap_or(&setup.dataset);
    println!("NCC baseline: template {} ({} landmarks), {}", setup.template.image, setup.template.landmarks.len(), outputs.describe(images));
    run_detector(&matcher, &Device::flex(), images, &setup.template.names(), outputs, Pass::new("ncc", Parallelism::Images), |_| ())
}

//! `cc2d match`: CC2D-SSL matching against the template, which gives the pseudo-labels.

use anyhow::Result;

use cc2d::ssl::SslModel;
use cc2d::ssl::matching::SslMatcher;

use crate::args::{MatchingArgs, ModelArgs, ModelRunArgs, Outputs, Setup, Weights};
use crate::runner::{repair_shapes, run_detector};

#[derive(clap::Args)]
pub struct Args {
    #[command(flatten)]
    common: ModelRunArgs,
    #[command(flatten)]
    matching: MatchingArgs,
}

pub fn run(a: Args) -> Result<()> {
    let c = &a.common;
    pseudo_label(&c.run.source.setup()?, &Weights::or(c.weights.as_deref(), Weights::EXTRACTOR), c.model, &a.matching, &c.run.outputs)
}

/// Matches every image of `outputs.split` against the template and writes the results.
pub fn pseudo_label(setup: &Setup, weights: &Weights, model: ModelArgs, matching: &MatchingArgs, outputs: &Outputs) -> Result<()> {
    let device = cc2d::model::device(model.device)?;
    let (bytes, weights_name) = weights.read()?;
    let (model, config) = SslModel::from_bytes(bytes, &weights_name, model.preset, &device)?;
    let template = &setup.template;
    let matcher = SslMatcher::new(model, config.image_size, matching.config(), &setup.template_image()?, template, &device)?;
    let files = outputs.files()?;
    let images = files.as_ref().unwrap_or(&setup.dataset);
    println!("CC2D-SSL matching: weights {}, template {} ({} landmarks), {}", weights, template.image, template.landmarks.len(), outputs.describe(images));
    let repair = matching.repair_shapes;
    run_detector(&matcher, &device, images, &template.names(), outputs, "match", Some(1), |found| {
        if repair {
            repair_shapes(found, config.image_size);
        }
    })
}

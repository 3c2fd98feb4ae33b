//! `cc2d match`: CC2D-SSL matching against the template, which gives the pseudo-labels.

use std::path::{Path, PathBuf};

use anyhow::Result;

use cc2d::io::image::{self, GreyImage};
use cc2d::io::landmarks::Template;

use cc2d::ssl::SslModel;
use cc2d::ssl::matching::SslMatcher;

use crate::args::{MatchingArgs, ModelArgs, ModelRunArgs, Outputs, Setup, Weights};
use crate::runner::{Parallelism, Pass, repair_shapes, run_detector};

#[derive(clap::Args)]
pub struct Args {
    #[command(flatten)]
    common: ModelRunArgs,
    #[command(flatten)]
    matching: MatchingArgs,
    /// Few-shot: another labelled dataset image as a template (repeat for more); each
    /// landmark's answer is the median of the templates' answers.
    #[arg(long, value_name = "ID")]
    add_template_id: Vec<String>,
    /// Few-shot: another template JSON file (repeat for more).
    #[arg(long, value_name = "T.json")]
    add_template: Vec<PathBuf>,
}

pub fn run(a: Args) -> Result<()> {
    let c = &a.common;
    let setup = c.run.source.setup()?;
    let mut more = Vec::new();
    for id in &a.add_template_id {
        let t = setup.dataset.template(id)?;
        more.push((image::load(Path::new(&t.image))?, t));
    }
    for path in &a.add_template {
        let t = Template::read_json(path)?;
        let image = image::load(&path.parent().unwrap_or(Path::new(".")).join(&t.image))?;
        more.push((image, t));
    }
    pseudo_label(&setup, &more, &Weights::or(c.weights.as_deref(), Weights::EXTRACTOR), c.model, &a.matching, &c.run.outputs)
}

/// Matches every image of `outputs.split` against the template (and the `more` templates,
/// few-shot) and writes the results.
pub fn pseudo_label(setup: &Setup, more: &[(GreyImage, Template)], weights: &Weights, model: ModelArgs, matching: &MatchingArgs, outputs: &Outputs) -> Result<()> {
    let device = cc2d::model::device(model.device)?;
    let (bytes, weights_name) = weights.read()?;
    let (model, config) = SslModel::from_bytes(bytes, &weights_name, model.preset, &device)?;
    let template = &setup.template;
    let mut matcher = SslMatcher::new(model, config.image_size, matching.config(), &setup.template_image()?, template, &device)?;
    for (image, t) in more {
        matcher = matcher.with_template(image, t, &device)?;
    }
    let files = outputs.files()?;
    let images = files.as_ref().unwrap_or(&setup.dataset);
    let more_note = if more.is_empty() { String::new() } else { format!(" and {} more", more.len()) };
    println!("CC2D-SSL matching: weights {}, template {}{more_note} ({} landmarks), {}", weights, template.image, template.landmarks.len(), outputs.describe(images));
    let repair = matching.repair_shapes;
    run_detector(&matcher, &device, images, &template.names(), outputs, Pass::new("match", Parallelism::Forward), |found| {
        if repair {
            repair_shapes(found, config.image_size);
        }
    })
}

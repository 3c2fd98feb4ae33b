//! `cc2d match`: CC2D-SSL matching against the template, which gives the pseudo-labels.

use std::path::{Path, PathBuf};

use anyhow::Result;

use cc2d::config::Preset;
use cc2d::io::landmarks::{Detection, Point};
use cc2d::model::DeviceKind;
use cc2d::preprocess::Frame;
use cc2d::ssl::SslModel;
use cc2d::ssl::matching::SslMatcher;

use crate::args::{MatchingArgs, Outputs, RunArgs, SHIPPED_EXTRACTOR, Setup};
use crate::runner::run_detector;

#[derive(clap::Args)]
pub struct Args {
    #[command(flatten)]
    run: RunArgs,
    /// SSL weights (burnpack, f32 or f16). Default: the shipped small model.
    #[arg(long, default_value = SHIPPED_EXTRACTOR)]
    weights: PathBuf,
    /// The configuration the weights were trained with, when the file does not record it.
    #[arg(long, value_enum, default_value_t)]
    preset: Preset,
    /// cpu (Burn's flex backend) or wgpu (Vulkan, Metal, DX12).
    #[arg(long, value_enum, default_value_t)]
    device: DeviceKind,
    #[command(flatten)]
    matching: MatchingArgs,
}

pub fn run(a: Args) -> Result<()> {
    pseudo_label(&a.run.source.setup()?, &a.weights, a.preset, &a.matching, &a.run.outputs, a.device)
}

/// Matches every image of `outputs.split` against the template and writes the results.
pub fn pseudo_label(setup: &Setup, weights: &Path, preset: Preset, matching: &MatchingArgs, outputs: &Outputs, device: DeviceKind) -> Result<()> {
    let device = cc2d::model::device(device)?;
    let (model, config) = SslModel::load(weights, preset, &device)?;
    let template = &setup.template;
    let matcher = SslMatcher::new(model, config.image_size, matching.config(), &setup.template_image()?, template, &device)?;
    println!("CC2D-SSL matching: weights {}, template {} ({} landmarks), {} of {}", weights.display(), template.image, template.landmarks.len(), outputs.split, setup.dataset.name);
    let repair = matching.repair_shapes;
    run_detector(&matcher, &device, &setup.dataset, &template.names(), outputs, "match", Some(1), |found| {
        if repair {
            repair_shapes(found, config.image_size);
        }
    })
}

/// Repairs outlying points with a shape model of all the detections, in model pixels (so
/// images of different sizes share one frame); says how many points moved.
fn repair_shapes(found: &mut [Detection], side: usize) {
    let frames: Vec<Frame> = found.iter().map(|d| Frame::new([d.width, d.height], [side as u32, side as u32])).collect();
    let shapes: Vec<Vec<Point>> = found.iter().zip(&frames).map(|(d, f)| d.points().into_iter().map(|p| f.to_model(p)).collect()).collect();
    let (repaired, moved) = cc2d::ssl::shape::repair(&shapes, &Default::default());
    for ((d, f), (shape, moved)) in found.iter_mut().zip(&frames).zip(repaired.iter().zip(&moved)) {
        for ((l, p), m) in d.landmarks.iter_mut().zip(shape).zip(moved) {
            if *m {
                let q = f.to_original(*p);
                (l.x, l.y) = (q.x.clamp(0.0, f64::from(d.width) - 1.0), q.y.clamp(0.0, f64::from(d.height) - 1.0));
            }
        }
    }
    let count = moved.iter().flatten().filter(|&&m| m).count();
    println!("shape model: moved {count} of {} points", moved.len() * moved.first().map_or(0, Vec::len));
}

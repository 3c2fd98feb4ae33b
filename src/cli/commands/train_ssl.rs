//! `cc2d train-ssl`: trains the CC2D-SSL extractor on a dataset's images (self-supervised).

use std::path::{Path, PathBuf};

use anyhow::Result;

use cc2d::config::{MatchingConfig, SslConfig};
use cc2d::io::dataset::Dataset;
use cc2d::io::image;
use cc2d::locate::Locator;
use cc2d::model::DeviceKind;
use cc2d::preprocess::preprocess;
use cc2d::ssl::matching::SslMatcher;
use cc2d::training::RunDir;

use crate::args::{CurveArgs, ModelArgs, default_data};
use crate::report::{Curve, progress, say, show_step, training_progress};

#[derive(clap::Args)]
pub struct Args {
    /// Dataset folder whose images are trained on.
    #[arg(long, default_value_os_t = default_data())]
    data: PathBuf,
    /// Split to train on.
    #[arg(long, default_value = "train")]
    split: String,
    #[command(flatten)]
    model: ModelArgs,
    /// Override the preset's number of epochs.
    #[arg(long)]
    epochs: Option<usize>,
    /// Override the preset's softmax temperature τ.
    #[arg(long)]
    temperature: Option<f64>,
    /// Run folder: checkpoints, log.csv, curve.csv. An existing run is resumed.
    #[arg(long, default_value = "runs/ssl-small")]
    run: PathBuf,
    /// The labelled image the curve matches against.
    #[arg(long, default_value = "125")]
    eval_template: String,
    #[command(flatten)]
    curve: CurveArgs,
}

pub fn run(a: Args) -> Result<()> {
    let mut config = SslConfig::preset(a.model.preset);
    if let Some(e) = a.epochs {
        config.training.epochs = e;
    }
    if let Some(t) = a.temperature {
        config.training.temperature = t;
    }
    train_extractor(&config, &Dataset::open(&a.data)?, &a.split, &a.run, Some((&a.eval_template, a.curve)), a.model.device).map(drop)
}

/// Trains (or resumes) an extractor on the images of `split`; with `curve` (a labelled
/// template's id and when), logs the matching error on labelled training images. Returns
/// the weights' path.
pub fn train_extractor(config: &SslConfig, dataset: &Dataset, split: &str, run: &Path, curve: Option<(&str, CurveArgs)>, device: DeviceKind) -> Result<PathBuf> {
    let samples = dataset.split(split)?;
    let side = config.image_size as u32;
    let bar = progress(samples.len(), "loading");
    let images = samples
        .iter()
        .map(|s| {
            bar.inc(1);
            Ok(preprocess(&image::load(&s.image_path)?, [side, side]).image)
        })
        .collect::<Result<Vec<_>>>()?;
    bar.finish_and_clear();

    // The accuracy-vs-time curve: training labels only, never the test sets'.
    let (template_id, when) = curve.unwrap_or(("", CurveArgs::OFF));
    let template = dataset.template(template_id).ok();
    let template_image = template.as_ref().map(|t| image::load(Path::new(&t.image))).transpose()?;
    let template_path = template.as_ref().map(|t| PathBuf::from(&t.image)).unwrap_or_default();
    let curve = Curve::new(&samples, &template_path, when.eval_images, run)?;

    let t = &config.training;
    println!(
        "CC2D-SSL: {} images of {}/{split}, {} epochs, batch {} × {} points, τ = {}, α = {}; run folder {}",
        images.len(),
        dataset.name,
        t.epochs,
        t.batch_size,
        t.points_per_patch,
        t.temperature,
        t.window,
        run.display()
    );
    let bar = training_progress(images.len().div_ceil(t.batch_size) * t.epochs);
    let device = cc2d::model::device(device)?;
    let run = RunDir(run.to_path_buf());
    cc2d::ssl::train::train(
        config,
        &images,
        &device,
        &run,
        |s| show_step(&bar, s),
        |record, model| {
            say(&bar, format!("epoch {} mean loss {:.4} lr {:e} ({:.0} s)", record.epoch, record.mean_loss, record.learning_rate, record.seconds));
            let (Some(template), Some(template_image)) = (&template, &template_image) else { return };
            if !when.due(record.epoch) {
                return;
            }
            let result = SslMatcher::new(model.clone(), config.image_size, MatchingConfig::new(), template_image, template, &device)
                .map_err(Into::into)
                .and_then(|m| curve.log(record, |q| m.locate(q, &device)));
            say(&bar, result.unwrap_or_else(|e| format!("  evaluation failed: {e}")));
        },
    )?;
    bar.finish();
    println!("weights: {}", run.model().display());
    Ok(run.model())
}

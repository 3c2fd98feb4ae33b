//! `cc2d train-ssl`: trains the CC2D-SSL extractor on a dataset's images (self-supervised).

use std::path::{Path, PathBuf};

use anyhow::Result;

use cc2d::config::{MatchingConfig, SslConfig};
use cc2d::io::dataset::Dataset;
use cc2d::io::image;
use cc2d::io::landmarks::{Point, Predictions, Template, normalise_id};
use cc2d::locate::Locator;
use cc2d::model::DeviceKind;
use cc2d::preprocess::preprocess;
use cc2d::ssl::SslModel;
use cc2d::ssl::matching::SslMatcher;
use cc2d::training::RunDir;

use crate::args::{CurveArgs, ModelArgs, default_data};
use crate::report::progress;
use crate::training_report::{Curve, say, show_step, training_progress};

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
    /// Override the initial learning rate (e.g. lower for a second round).
    #[arg(long)]
    learning_rate: Option<f64>,
    /// Start from these extractor weights, with their configuration (a second round).
    #[arg(long)]
    init_weights: Option<PathBuf>,
    /// A second round (the authors' 2023 code): round-1 pseudo-labels (`cc2d match --split
    /// train -o pseudo-labels.csv`); part of each patch's points is drawn near them, the
    /// template's own landmarks (`--eval-template`) standing in for its row. No label of
    /// any other image is read.
    #[arg(long)]
    focus_points: Option<PathBuf>,
    /// The share of each patch's points drawn near a pseudo-label.
    #[arg(long, default_value_t = 0.5, requires = "focus_points")]
    focus_share: f64,
    /// Their spread around it (standard deviation, model pixels).
    #[arg(long, default_value_t = cc2d::config::FOCUS_SPREAD_PX, requires = "focus_points")]
    focus_spread: f64,
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
    let dataset = Dataset::open(&a.data)?;
    let compute = cc2d::model::device(a.model.device)?;
    let (start, mut config) = match &a.init_weights {
        Some(path) => {
            let (model, config) = SslModel::load(path, a.model.preset, &compute)?;
            (Some(model), config)
        }
        None => (None, SslConfig::preset(a.model.preset)),
    };
    if let Some(e) = a.epochs {
        config.training.epochs = e;
    }
    if let Some(t) = a.temperature {
        config.training.temperature = t;
    }
    if let Some(lr) = a.learning_rate {
        config.training.learning_rate = lr;
    }
    let focus = match &a.focus_points {
        Some(csv) => {
            config.training.focus_share = Some(a.focus_share);
            config.training.focus_spread = Some(a.focus_spread);
            Some(Focus { pseudo_labels: Predictions::read_csv(csv)?, template: dataset.template(&a.eval_template)?, template_id: a.eval_template.clone() })
        }
        None => None,
    };
    train_extractor(&config, &dataset, &a.split, start, focus.as_ref(), &a.run, Some((&a.eval_template, a.curve)), a.model.device).map(drop)
}

/// A second round's focus points: each image's pseudo-labels; the template's true landmarks
/// for the template.
pub struct Focus {
    pub pseudo_labels: Predictions,
    pub template: Template,
    pub template_id: String,
}

impl Focus {
    /// The points of one image, original pixels: the template's landmarks for the template,
    /// else its row of pseudo-labels (None without one).
    fn points(&self, id: &str) -> Option<Vec<Point>> {
        if normalise_id(id) == normalise_id(&self.template_id) {
            return Some(self.template.points());
        }
        self.pseudo_labels.rows.iter().find(|(row, _)| normalise_id(row) == normalise_id(id)).map(|(_, p)| p.clone())
    }
}

/// Trains (or resumes) an extractor on the images of `split`, from `start` or from random
/// weights, with a second round's `focus` points or without; with `curve` (a labelled
/// template's id and when), logs the matching error on labelled training images. Returns
/// the weights' path.
#[allow(clippy::too_many_arguments)]
pub fn train_extractor(
    config: &SslConfig,
    dataset: &Dataset,
    split: &str,
    start: Option<SslModel>,
    focus: Option<&Focus>,
    run: &Path,
    curve: Option<(&str, CurveArgs)>,
    device: DeviceKind,
) -> Result<PathBuf> {
    let samples = dataset.split(split)?;
    let side = config.image_size as u32;
    let bar = progress(samples.len(), "loading");
    let k = focus.map_or(0, |f| f.template.landmarks.len());
    let (images, focus_points): (Vec<_>, Vec<Option<Vec<Point>>>) = samples
        .iter()
        .map(|s| {
            bar.inc(1);
            let input = preprocess(&image::load(&s.image_path)?, [side, side]);
            let points = focus.and_then(|f| f.points(&s.id));
            if let Some(p) = &points
                && p.len() != k
            {
                anyhow::bail!("focus points: image {} has {} points, the template {k} landmarks", s.id, p.len());
            }
            Ok((input.image, points.map(|p| p.into_iter().map(|p| input.frame.to_model(p)).collect())))
        })
        .collect::<Result<Vec<_>>>()?
        .into_iter()
        .unzip();
    bar.finish_and_clear();
    let focus_points = match focus {
        Some(f) => {
            let pseudo_labelled = samples.iter().zip(&focus_points).filter(|(s, p)| p.is_some() && normalise_id(&s.id) != normalise_id(&f.template_id)).count();
            if pseudo_labelled == 0 {
                anyhow::bail!("no image of {}/{split} but the template has a row in the focus points", dataset.name);
            }
            let missing = focus_points.iter().filter(|p| p.is_none()).count();
            if missing > 0 {
                println!("{missing} images without focus points: their patches stay uniform");
            }
            focus_points.into_iter().map(Option::unwrap_or_default).collect()
        }
        None => Vec::new(),
    };

    // The accuracy-vs-time curve: training labels only, never the test sets'.
    let (template_id, when) = curve.unwrap_or(("", CurveArgs::OFF));
    let template = dataset.template(template_id).ok();
    let template_image = template.as_ref().map(|t| image::load(Path::new(&t.image))).transpose()?;
    let template_path = template.as_ref().map(|t| PathBuf::from(&t.image)).unwrap_or_default();
    let curve = Curve::new(&samples, &template_path, when.eval_images, run)?;

    let t = &config.training;
    println!(
        "CC2D-SSL: {} images of {}/{split}, {} epochs, batch {} × {} points, τ = {}, α = {}, lr {:e}{}{}; run folder {}",
        images.len(),
        dataset.name,
        t.epochs,
        t.batch_size,
        t.points_per_patch,
        t.temperature,
        t.window,
        t.learning_rate,
        if start.is_some() { ", from trained weights" } else { "" },
        t.focus_share.map_or(String::new(), |s| format!(", {:.0} % of points near pseudo-labels (σ = {} px)", s * 100.0, t.focus_spread.unwrap_or_default())),
        run.display()
    );
    let bar = training_progress(images.len().div_ceil(t.batch_size) * t.epochs);
    let device = cc2d::model::device(device)?;
    let run = RunDir(run.to_path_buf());
    cc2d::ssl::train::train(
        config,
        &images,
        &focus_points,
        start,
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

//! `cc2d train-tpl`: trains the CC2D-TPL detector on SSL pseudo-labels plus the labelled
//! template.

use std::path::{Path, PathBuf};

use anyhow::{Result, bail};

use cc2d::config::TplConfig;
use cc2d::io::image;
use cc2d::io::landmarks::Predictions;
use cc2d::locate::{Locator, PhysicalFrame};
use cc2d::ssl::SslModel;
use cc2d::tpl::detect::TplDetector;
use cc2d::tpl::train::LabelledImage;
use cc2d::training::RunDir;

use crate::args::{CurveArgs, ModelArgs, Setup, TemplateSource, Weights};
use crate::report::progress;
use crate::training_report::{Curve, say, show_step, training_progress};

#[derive(clap::Args)]
pub struct Args {
    /// Pseudo-labels CSV (`cc2d match --split train -o pseudo-labels.csv`).
    #[arg(long)]
    pseudo_labels: PathBuf,
    /// The dataset holding the pseudo-labelled images, and the template (its true landmarks
    /// join every batch).
    #[command(flatten)]
    source: TemplateSource,
    #[command(flatten)]
    model: ModelArgs,
    #[arg(long)]
    epochs: Option<usize>,
    /// Initialise the encoder from these SSL weights (the small presets share a layout).
    #[arg(long)]
    ssl_weights: Option<PathBuf>,
    /// Start from these detector weights instead (a second round: the detector's own
    /// relabelling of the images as pseudo-labels).
    #[arg(long, conflicts_with = "ssl_weights")]
    init_weights: Option<PathBuf>,
    /// Continue the --init-weights detector where its training ended, as the page's
    /// `fineTune` does: its own configuration and learning-rate schedule, --epochs (default
    /// 3) more epochs, a fresh optimiser.
    #[arg(long, requires = "init_weights", conflicts_with_all = ["learning_rate", "lr_step_epochs", "lr_decay", "weight_decay", "drop_worst"])]
    continue_training: bool,
    /// Override the preset's initial learning rate (e.g. lower for a second round).
    #[arg(long)]
    learning_rate: Option<f64>,
    /// Leave out each landmark's worst-fitting pseudo-label in every batch (the authors'
    /// alternative trainer).
    #[arg(long)]
    drop_worst: bool,
    /// Multiply the learning rate by `--lr-decay` every this many epochs (default: the
    /// preset's; the authors' code: 30 of 90 epochs).
    #[arg(long)]
    lr_step_epochs: Option<usize>,
    /// The step schedule's factor (default ½; the authors' code: 0.1).
    #[arg(long)]
    lr_decay: Option<f64>,
    /// Adam's L2 weight decay (default none; the authors' code: 1e-4).
    #[arg(long)]
    weight_decay: Option<f64>,
    /// Augmentation: the scale drawn log-uniformly in LOW,HIGH (another device's field of
    /// view, the part past the image's edge blank) instead of 1 ± 0.1.
    #[arg(long, value_delimiter = ',', num_args = 1, value_name = "LOW,HIGH", conflicts_with = "continue_training")]
    scale_range: Option<Vec<f64>>,
    /// Augmentation: translation up to this fraction of the side (default 0.05).
    #[arg(long, conflicts_with = "continue_training")]
    translation: Option<f64>,
    /// Augmentation: the share of samples that also get another device's look (collimation,
    /// overlays, a soft-tissue filter, gamma, blur, noise, JPEG; `cc2d shift-bench`'s shifts).
    #[arg(long, conflicts_with = "continue_training")]
    device_shifts: Option<f64>,
    /// The detector's output stride in model pixels (default: the preset's, 4 for small): 2
    /// adds a half-resolution decoder level (about 1.4× the compute of the small detector).
    #[arg(long, conflicts_with = "continue_training")]
    output_stride: Option<usize>,
    #[arg(long, default_value = "runs/tpl-small")]
    run: PathBuf,
    #[command(flatten)]
    curve: CurveArgs,
}

/// Where the detector's weights start.
pub enum Start {
    /// Random weights.
    Scratch,
    /// The encoder from trained SSL extractor weights (the paper starts from ImageNet VGG19,
    /// which we cannot get).
    SslEncoder(Weights),
    /// A trained detector (a second round), its training begun at this schedule epoch (0;
    /// or, continued, where its training ended).
    Detector(PathBuf, usize),
}

impl Start {
    fn describe(&self) -> String {
        match self {
            Self::Scratch => "scratch".into(),
            Self::SslEncoder(w) => w.to_string(),
            Self::Detector(p, 0) => p.display().to_string(),
            Self::Detector(p, epoch) => format!("{}, continued from epoch {epoch}", p.display()),
        }
    }
}

pub fn run(a: Args) -> Result<()> {
    let setup = a.source.setup()?;
    let mut config = TplConfig::preset(a.model.preset, setup.template.landmarks.len());
    if let Some(e) = a.epochs {
        config.epochs = e;
    }
    if let Some(lr) = a.learning_rate {
        config.learning_rate = lr;
    }
    config.drop_worst = Some(a.drop_worst);
    if let Some(every) = a.lr_step_epochs {
        config.halve_every_epochs = every;
    }
    config.lr_decay = a.lr_decay;
    config.weight_decay = a.weight_decay;
    if let Some(range) = &a.scale_range {
        let &[low, high] = range.as_slice() else { bail!("--scale-range takes two numbers, LOW,HIGH (e.g. 0.7,1.45)") };
        anyhow::ensure!(0.0 < low && low <= high, "--scale-range {low},{high}: need 0 < LOW ≤ HIGH");
        config.scale_range = Some([low, high]);
    }
    if let Some(t) = a.translation {
        config.translation = t;
    }
    if let Some(p) = a.device_shifts {
        anyhow::ensure!((0.0..=1.0).contains(&p), "--device-shifts {p}: a share, 0 to 1");
        config.device_shifts = Some(p);
    }
    // The frame the detector learns in: the template's size and spacing, so that an image of
    // known spacing is later shown to it at this scale.
    config.physical_frame = PhysicalFrame::of_template(&setup.template);
    if let Some(stride) = a.output_stride {
        config.detector = config.detector.with_output_stride(stride)?;
    }
    if a.continue_training
        && let Some(path) = &a.init_weights
    {
        let device = cc2d::model::device(a.model.device)?;
        config = TplDetector::load(path, a.model.preset, Some(setup.template.landmarks.len()), &device)?.config().clone();
        let first_epoch = config.epochs;
        config.epochs += a.epochs.unwrap_or(3);
        return train_detector(&setup, &a.pseudo_labels, &config, a.model, &Start::Detector(path.clone(), first_epoch), &a.run, a.curve).map(drop);
    }
    let start = match (a.init_weights, a.ssl_weights) {
        (Some(detector), _) => Start::Detector(detector, 0),
        (None, Some(ssl)) => Start::SslEncoder(Weights::File(ssl)),
        (None, None) => Start::Scratch,
    };
    train_detector(&setup, &a.pseudo_labels, &config, a.model, &start, &a.run, a.curve).map(drop)
}

/// Trains (or resumes) a detector on the pseudo-labels plus the template; returns the
/// weights' path.
pub fn train_detector(setup: &Setup, pseudo_labels: &Path, config: &TplConfig, model: ModelArgs, start: &Start, run: &Path, curve: CurveArgs) -> Result<PathBuf> {
    let ModelArgs { preset, device } = model;
    let k = setup.template.landmarks.len();
    let side = config.image_size as u32;
    let labelled = |path: &Path, points: &[cc2d::io::landmarks::Point]| -> Result<LabelledImage> { Ok(LabelledImage::new(&image::load(path)?, points, side)) };
    let pseudo = Predictions::read_csv(pseudo_labels)?;
    let bar = progress(pseudo.rows.len(), "loading");
    let mut images = Vec::new();
    for (id, points) in &pseudo.rows {
        bar.inc(1);
        if points.len() != k {
            bail!("{}: image {id} has {} pseudo-labels, the template {k} landmarks", pseudo_labels.display(), points.len());
        }
        let sample = setup.dataset.sample(id)?;
        // The template joins every batch with its true landmarks instead.
        if sample.image_path != setup.template_path {
            images.push(labelled(&sample.image_path, points)?);
        }
    }
    bar.finish_and_clear();
    let template = labelled(&setup.template_path, &setup.template.points())?;
    let device = cc2d::model::device(device)?;
    let (start_model, encoder, first_epoch) = match start {
        Start::Scratch => (None, None, 0),
        Start::SslEncoder(weights) => {
            let (bytes, name) = weights.read()?;
            let (ssl, ssl_config) = SslModel::from_bytes(bytes, &name, preset, &device)?;
            let e = &ssl_config.extractor;
            if e.encoder_widths != config.detector.encoder_widths || e.encoder_depths != config.detector.encoder_depths {
                bail!("{weights}: the SSL extractor's encoder differs from the detector's: cannot initialise from it");
            }
            (None, Some(ssl.image_encoder()), 0)
        }
        Start::Detector(path, first_epoch) => {
            let detector = TplDetector::load(path, preset, Some(k), &device)?;
            if detector.config().detector != config.detector {
                bail!("{}: a detector of another configuration than the {preset} preset", path.display());
            }
            (Some(detector.model().clone()), None, *first_epoch)
        }
    };
    let samples = setup.dataset.split("train").unwrap_or_else(|_| setup.dataset.samples.iter().collect());
    let curve_set = Curve::new(&samples, &setup.template_path, curve.eval_images, run)?;
    println!(
        "CC2D-TPL ({preset} preset): {} pseudo-labelled images + template {}, {} epochs, batch {} + 1, R = {}, encoder from {}; run folder {}",
        images.len(),
        setup.template_id,
        config.epochs,
        config.batch_size,
        config.radius,
        start.describe(),
        run.display()
    );
    let bar = training_progress(images.len().div_ceil(config.batch_size) * (config.epochs - first_epoch));
    let run = RunDir(run.to_path_buf());
    cc2d::tpl::train::train(
        config,
        &images,
        &template,
        start_model,
        encoder,
        first_epoch,
        &device,
        &run,
        |s| show_step(&bar, s),
        |record, model| {
            say(&bar, format!("epoch {} mean loss {:.4} ({:.0} s)", record.epoch, record.mean_loss, record.seconds));
            if !curve.due(record.epoch) {
                return;
            }
            let detector = TplDetector::new(model.clone(), config.clone());
            let result = curve_set.log(record, |q| detector.locate(q, &device));
            say(&bar, result.unwrap_or_else(|e| format!("  evaluation failed: {e}")));
        },
    )?;
    bar.finish();
    println!("weights: {}", run.model().display());
    Ok(run.model())
}

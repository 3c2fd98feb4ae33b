//! `cc2d pipeline`: the whole one-shot method from a template and unlabelled images —
//! extractor (shipped or trained), SSL matching → pseudo-labels, detector training,
//! detection. Each stage's output is kept, so a rerun resumes.

use std::path::{Path, PathBuf};

use anyhow::Result;

use cc2d::config::{SslConfig, TplConfig};

use crate::args::{CurveArgs, MatchingArgs, ModelArgs, Outputs, TemplateSource, Weights};
use crate::commands::{detect, r#match, train_ssl, train_tpl};

#[derive(clap::Args)]
pub struct Args {
    #[command(flatten)]
    source: TemplateSource,
    /// The unlabelled images to pseudo-label and train the detector on.
    #[arg(long, default_value = "train")]
    split: String,
    /// Where to detect at the end (default: --split).
    #[arg(long)]
    detect_split: Option<String>,
    /// Output folder: ssl/, pseudo-labels.csv, tpl/, predictions.csv, detections.json.
    #[arg(long, default_value = "runs/pipeline")]
    out: PathBuf,
    /// SSL weights to match with, or `train` to train an extractor on the images first.
    /// Default: the shipped extractor (built in).
    #[arg(long)]
    ssl_weights: Option<String>,
    #[command(flatten)]
    model: ModelArgs,
    #[arg(long)]
    ssl_epochs: Option<usize>,
    #[arg(long)]
    tpl_epochs: Option<usize>,
    #[command(flatten)]
    matching: MatchingArgs,
}

pub fn run(a: Args) -> Result<()> {
    std::fs::create_dir_all(&a.out)?;
    let setup = a.source.setup()?;

    println!("== 1/4 SSL extractor");
    let ssl_weights = if a.ssl_weights.as_deref() == Some("train") {
        let mut config = SslConfig::preset(a.model.preset);
        if let Some(e) = a.ssl_epochs {
            config.training.epochs = e;
        }
        Weights::File(train_ssl::train_extractor(&config, &setup.dataset, &a.split, None, None, &a.out.join("ssl"), None, a.model.device)?)
    } else {
        let weights = Weights::or(a.ssl_weights.as_deref().map(Path::new), Weights::EXTRACTOR);
        println!("using {weights}");
        weights
    };

    println!("== 2/4 pseudo-labels (SSL matching)");
    let pseudo = a.out.join("pseudo-labels.csv");
    if pseudo.is_file() {
        println!("reusing {}", pseudo.display());
    } else {
        let partial = a.out.join("pseudo-labels.partial.csv");
        r#match::pseudo_label(&setup, &[], &ssl_weights, a.model, &a.matching, &Outputs::for_split(&a.split, partial.clone(), None))?;
        std::fs::rename(&partial, &pseudo)?;
    }

    println!("== 3/4 detector training (resumes from {})", a.out.join("tpl").display());
    let mut config = TplConfig::preset(a.model.preset, setup.template.landmarks.len());
    if let Some(e) = a.tpl_epochs {
        config.epochs = e;
    }
    let start = train_tpl::Start::SslEncoder(ssl_weights);
    let weights = train_tpl::train_detector(&setup, &pseudo, &config, a.model, &start, &a.out.join("tpl"), CurveArgs::default())?;

    println!("== 4/4 detection");
    let split = a.detect_split.as_deref().unwrap_or(&a.split);
    detect::detect(
        &a.source,
        &Weights::File(weights),
        a.model,
        detect::Detecting::default(),
        &Outputs::for_split(split, a.out.join("predictions.csv"), Some(a.out.join("detections.json"))),
    )
}

//! `cc2d`: the command-line tool. Each subcommand is a thin layer over the library, one file
//! each in `commands/`; `args` holds what several share, `runner` runs a detector over a
//! dataset, `report` prints progress and scores.

mod args;
mod commands;
mod report;
mod runner;
#[cfg(feature = "train")]
mod training_report;

use anyhow::Result;
use clap::{Parser, Subcommand};

/// mimalloc, purging off (`cc2d::allocator`).
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

use commands::{advise_template, baseline, calibrate, detect, eval, export, labels, r#match, pipeline, shift_bench, template, train_ssl, train_tpl};

#[derive(Parser)]
#[command(name = "cc2d", version, about = "One-shot medical landmark detection (CC2D), natively and in the browser")]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Detect landmarks with the training-free NCC baseline; write predictions and score them.
    Baseline(baseline::Args),
    /// Score a predictions CSV against a dataset's ground truth.
    Eval(eval::Args),
    /// Write the template JSON of one labelled image of a dataset.
    Template(template::Args),
    /// Write a split's ground truth as a predictions CSV (for `score.py --gt`, or a fully
    /// supervised detector: the diagnostic of how much the pseudo-labels cost).
    Labels(labels::Args),
    /// Which image to annotate as the one-shot template: the images ranked by how typical
    /// the SSL extractor finds them (no labels read).
    AdviseTemplate(advise_template::Args),
    /// Train the CC2D-SSL extractor on a dataset's images (self-supervised: no labels used).
    TrainSsl(train_ssl::Args),
    /// CC2D-SSL matching: locate the template's landmarks in every image (pseudo-labels).
    Match(r#match::Args),
    /// Train the CC2D-TPL detector on SSL pseudo-labels plus the labelled template.
    TrainTpl(train_tpl::Args),
    /// Detect landmarks with a trained TPL detector.
    Detect(detect::Args),
    /// The whole one-shot method from a template and unlabelled images: SSL matching →
    /// pseudo-labels → detector training → detection. Resumable: rerun to continue.
    Pipeline(pipeline::Args),
    /// Convert trained weights (SSL extractor or detector) to f16 for shipping (half the bytes).
    Export(export::Args),
    /// The domain-shift benchmark: a split's images shifted as other devices shift them
    /// (field of view, spacing, collimation, overlays, intensity, soft-tissue filter, all
    /// mixed), written as datasets, and the detector, SSL matching and NCC scored on each.
    ShiftBench(shift_bench::Args),
    /// Fit the detector's confidence (the probability of an error within 4 mm) on labelled
    /// images — the training images, never the test sets — and store it in the weights.
    Calibrate(calibrate::Args),
}

fn main() -> Result<()> {
    cc2d::allocator::keep_freed_memory();
    match Cli::parse().command {
        Command::Baseline(a) => baseline::run(a),
        Command::Eval(a) => eval::run(a),
        Command::Template(a) => template::run(a),
        Command::Labels(a) => labels::run(a),
        Command::AdviseTemplate(a) => advise_template::run(a),
        Command::TrainSsl(a) => train_ssl::run(a),
        Command::Match(a) => r#match::run(a),
        Command::TrainTpl(a) => train_tpl::run(a),
        Command::Detect(a) => detect::run(a),
        Command::Pipeline(a) => pipeline::run(a),
        Command::Export(a) => export::run(a),
        Command::Calibrate(a) => calibrate::run(a),
        Command::ShiftBench(a) => shift_bench::run(a),
    }
}

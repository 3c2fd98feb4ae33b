//! `cc2d shift-bench`: the domain-shift benchmark. A split's images (the template left out)
//! shifted as another clinic's device would shift them (`cc2d::shift`: field of view,
//! spacing, collimation, overlays, intensity, a soft-tissue filter, and all mixed), the
//! landmarks moved exactly with them; each kind written as a dataset of its own (hand10
//! layout: PNG images, `landmarks_K.csv`, `spacing_mm.csv`, so `cc2d detect --data` and
//! `cc2d eval` read it), then the detector, SSL matching and the NCC baseline run on each,
//! one table row per kind and method.

use std::fmt::Write as _;
use std::path::{Path, PathBuf};

use anyhow::{Context, Result, ensure};
use burn::tensor::Device;
use rand::SeedableRng;
use rand::rngs::StdRng;

use cc2d::baseline::ncc::{NccConfig, NccMatcher};
use cc2d::config::MatchingConfig;
use cc2d::io::dataset::{Dataset, Sample};
use cc2d::io::image;
use cc2d::io::landmarks::{Detection, Point, Predictions};
use cc2d::locate::PhysicalFrame;
use cc2d::metrics::{auroc_low_score, summarize};
use cc2d::orientation::OrientationCheck;
use cc2d::shift::{Anchors, Shift, ShiftKind};
use cc2d::ssl::SslModel;
use cc2d::ssl::matching::SslMatcher;
use cc2d::tpl::detect::TplDetector;

use crate::args::{ModelArgs, TemplateSource, Weights};
use crate::runner::{Parallelism, Pass, locate_samples};

#[derive(clap::Args)]
pub struct Args {
    #[command(flatten)]
    source: TemplateSource,
    /// Split of the dataset to shift: `train` (where every choice is made) or `test` (scored
    /// once per shipped setting). The template image is left out.
    #[arg(long, default_value = "train")]
    split: String,
    /// Only the first N images of the split (0: all of them).
    #[arg(long, default_value_t = 0)]
    images: usize,
    /// Kinds of shift, comma-separated (default: every kind).
    #[arg(long, value_enum, value_delimiter = ',')]
    kinds: Vec<ShiftKind>,
    /// Methods to run, comma-separated.
    #[arg(long, value_enum, value_delimiter = ',', default_values_t = [Method::Detector, Method::Ssl, Method::Ncc])]
    methods: Vec<Method>,
    /// Seeds every shift (each image's own from it, its kind and its id).
    #[arg(long, default_value_t = 2026)]
    seed: u64,
    /// Output folder (default: runs/shift-<split>): one dataset per kind, the predictions
    /// of each method in it (`<method>.csv`), and table.md / table.csv (with
    /// --spacing-unknown: `<method>-spacing-unknown.csv`, table-spacing-unknown.md / .csv).
    #[arg(long)]
    out: Option<PathBuf>,
    /// Run the methods as if the images' spacing were unknown (as a file without one is):
    /// each sees the shifted image as it is, not brought to its training scale.
    #[arg(long)]
    spacing_unknown: bool,
    /// Detector weights (default: the shipped detector).
    #[arg(long)]
    weights: Option<PathBuf>,
    /// Extractor weights for SSL matching (default: the shipped extractor).
    #[arg(long)]
    ssl_weights: Option<PathBuf>,
    #[command(flatten)]
    model: ModelArgs,
    /// Threads (default: all cores).
    #[arg(long)]
    threads: Option<usize>,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
pub enum Method {
    /// The CC2D-TPL detector.
    Detector,
    /// CC2D-SSL matching against the template.
    Ssl,
    /// The training-free NCC baseline against the template.
    Ncc,
}

impl Method {
    fn name(self) -> &'static str {
        match self {
            Self::Detector => "detector",
            Self::Ssl => "ssl",
            Self::Ncc => "ncc",
        }
    }
}

/// One row of the table: a method on one kind of shift.
pub struct Row {
    pub kind: ShiftKind,
    pub method: Method,
    pub points: usize,
    pub mre: f64,
    pub sd: f64,
    pub sdr2: f64,
    pub sdr4: f64,
    pub max: f64,
    pub over_10mm: usize,
    pub auroc: Option<f64>,
}

pub fn run(a: Args) -> Result<()> {
    let setup = a.source.setup()?;
    let dataset = &setup.dataset;
    let samples: Vec<&Sample> = dataset.split(&a.split)?.into_iter().filter(|s| s.id != setup.template_id).collect();
    let samples = if a.images > 0 { &samples[..a.images.min(samples.len())] } else { &samples[..] };
    ensure!(!samples.is_empty(), "split {} of {} has no images besides the template", a.split, dataset.name);
    let kinds = if a.kinds.is_empty() { ShiftKind::ALL.to_vec() } else { a.kinds.clone() };
    let out = a.out.clone().unwrap_or_else(|| PathBuf::from(format!("runs/shift-{}", a.split)));
    println!("shift benchmark: {} images of {} ({}, template {} left out), seed {}, into {}", samples.len(), dataset.name, a.split, setup.template_id, a.seed, out.display());

    // Without spacing the results go to files of their own beside those with it.
    let suffix = if a.spacing_unknown { "-spacing-unknown" } else { "" };
    let mut rows = Vec::new();
    for &kind in &kinds {
        let folder = out.join(kind.name());
        write_shifted(dataset, samples, kind, a.seed, &folder)?;
        let shifted = Dataset::open(&folder)?;
        let shifted_samples = shifted.split("all")?;
        for &method in &a.methods {
            let found = run_method(method, &a, &setup, &shifted_samples)?;
            let predictions = Predictions { rows: shifted_samples.iter().zip(&found).map(|(s, d)| (s.id.clone(), d.points())).collect() };
            predictions.write_csv(&folder.join(format!("{}{suffix}.csv", method.name())))?;
            let row = score(kind, method, &shifted_samples, &found)?;
            println!("{:<14} {:<9} MRE {:6.2} mm  SDR@2 {:5.1} %  max {:6.1} mm  > 10 mm: {}", kind.name(), method.name(), row.mre, row.sdr2, row.max, row.over_10mm);
            rows.push(row);
        }
    }
    let table = format_rows(&rows);
    print!("\n{table}");
    let (md, csv) = (out.join(format!("table{suffix}.md")), out.join(format!("table{suffix}.csv")));
    std::fs::write(&md, &table).with_context(|| format!("writing {}", md.display()))?;
    std::fs::write(&csv, rows_csv(&rows)?)?;
    println!("wrote {} and {}", md.display(), csv.display());
    Ok(())
}

/// Writes `samples` shifted by `kind` into `folder` as a hand10-layout dataset; an image
/// already written with the same seed is kept (a rerun resumes).
fn write_shifted(dataset: &Dataset, samples: &[&Sample], kind: ShiftKind, seed: u64, folder: &Path) -> Result<()> {
    std::fs::create_dir_all(folder).with_context(|| format!("creating {}", folder.display()))?;
    let manifest = folder.join("shift.json");
    let description = serde_json::json!({ "kind": kind.name(), "seed": seed, "source": dataset.root, "images": samples.iter().map(|s| &s.id).collect::<Vec<_>>() }).to_string();
    let labels_path = folder.join(format!("landmarks_{}.csv", dataset.landmark_names.len()));
    if std::fs::read_to_string(&manifest).is_ok_and(|m| m == description) && labels_path.is_file() {
        return Ok(());
    }
    // Per image: its id, the moved landmarks, the size and the spacing written.
    type Written = (String, Vec<Point>, u32, u32, f64);
    let written: Vec<Result<Written>> = rayon_map(samples, |s| {
        let (img, spacing) = image::load_with_spacing(&s.image_path)?;
        let spacing = spacing.or(s.spacing_mm).with_context(|| format!("{}: the shift benchmark needs the image's pixel spacing", s.id))?;
        let landmarks = s.landmarks.as_ref().with_context(|| format!("{}: the shift benchmark needs labelled images", s.id))?;
        let anchors = Anchors::from_named(&dataset.landmark_names, landmarks);
        let mut rng = StdRng::seed_from_u64(image_seed(seed, kind, &s.id));
        let shift = Shift::draw(kind, &mut rng);
        let shifted = shift.apply(&img, spacing, landmarks, anchors, &mut rng);
        image::save_png(&folder.join(format!("{}.png", s.id)), &shifted.image)?;
        Ok((s.id.clone(), shifted.landmarks, shifted.image.width, shifted.image.height, shifted.spacing_mm))
    });
    let written = written.into_iter().collect::<Result<Vec<_>>>()?;
    let mut spacing = String::from("id,width,height,spacing_mm\n");
    for (id, _, w, h, mm) in &written {
        writeln!(spacing, "{id},{w},{h},{mm}")?;
    }
    std::fs::write(folder.join("spacing_mm.csv"), spacing)?;
    Predictions { rows: written.into_iter().map(|(id, points, ..)| (id, points)).collect() }.write_csv(&labels_path)?;
    std::fs::write(&manifest, description)?;
    Ok(())
}

/// Each image's own seed: from the benchmark's, the kind and the image's id (so adding images
/// or kinds leaves the others' shifts as they were).
fn image_seed(seed: u64, kind: ShiftKind, id: &str) -> u64 {
    // FNV-1a: stable across Rust versions, unlike the standard library's hasher.
    format!("{}/{id}", kind.name()).bytes().fold(0xcbf2_9ce4_8422_2325 ^ seed, |h, b| (h ^ u64::from(b)).wrapping_mul(0x0100_0000_01b3))
}

/// `f` over `items` on the rayon pool, in order.
fn rayon_map<T: Sync, R: Send>(items: &[T], f: impl Fn(&T) -> R + Sync + Send) -> Vec<R> {
    use rayon::prelude::*;
    items.par_iter().map(f).collect()
}

/// Runs one method over the shifted images; an image it cannot process fails the run (every
/// shifted image was written by this command, so a failure is a bug, not bad input).
fn run_method(method: Method, a: &Args, setup: &crate::args::Setup, samples: &[&Sample]) -> Result<Vec<Detection>> {
    let names = setup.template.names();
    let unspaced: Vec<Sample> = samples.iter().map(|s| Sample { spacing_mm: None, ..(*s).clone() }).collect();
    let unspaced: Vec<&Sample> = unspaced.iter().collect();
    let samples = if a.spacing_unknown { &unspaced[..] } else { samples };
    let results = match method {
        Method::Detector => {
            let device = cc2d::model::device(a.model.device)?;
            let weights = Weights::or(a.weights.as_deref(), Weights::DETECTOR);
            let (bytes, name) = weights.read()?;
            let detector = TplDetector::from_bytes(bytes, &name, a.model.preset, Some(names.len()), &device)?.with_physical_frame_or(PhysicalFrame::of_template(&setup.template));
            locate_samples(
                &detector,
                &device,
                samples,
                &names,
                Pass { threads: a.threads, orientation: Some(OrientationCheck::for_detector(detector.calibration().is_some())), ..Pass::new("detector", Parallelism::Forward) },
            )
        }
        Method::Ssl => {
            let device = cc2d::model::device(a.model.device)?;
            let weights = Weights::or(a.ssl_weights.as_deref(), Weights::EXTRACTOR);
            let (bytes, name) = weights.read()?;
            let (model, config) = SslModel::from_bytes(bytes, &name, a.model.preset, &device)?;
            let matcher = SslMatcher::new(model, config.image_size, MatchingConfig::new(), &setup.template_image()?, &setup.template, &device)?;
            locate_samples(&matcher, &device, samples, &names, Pass { threads: a.threads, ..Pass::new("ssl", Parallelism::Forward) })
        }
        Method::Ncc => {
            let matcher = NccMatcher::new(&setup.template_image()?, &setup.template, NccConfig::default())?;
            locate_samples(&matcher, &Device::flex(), samples, &names, Pass { threads: a.threads, ..Pass::new("ncc", Parallelism::Images) })
        }
    };
    Ok(results.into_iter().collect::<cc2d::Result<Vec<_>>>()?)
}

/// The errors (mm, each image at its own spacing) of `found` against the shifted labels.
fn score(kind: ShiftKind, method: Method, samples: &[&Sample], found: &[Detection]) -> Result<Row> {
    let mut points = Vec::new();
    for (s, d) in samples.iter().zip(found) {
        let truth = s.landmarks.as_ref().context("a shifted image without labels")?;
        let spacing = s.spacing_mm.context("a shifted image without spacing")?;
        for ((p, t), l) in d.points().iter().zip(truth).zip(&d.landmarks) {
            points.push((p.distance(*t) * spacing, l.score));
        }
    }
    let errors: Vec<f64> = points.iter().map(|p| p.0).collect();
    let summary = summarize(&errors);
    Ok(Row {
        kind,
        method,
        points: errors.len(),
        mre: summary.mre,
        sd: summary.sd,
        sdr2: summary.sdr[0],
        sdr4: summary.sdr[3],
        max: errors.iter().copied().fold(0.0, f64::max),
        over_10mm: errors.iter().filter(|&&e| e > 10.0).count(),
        auroc: auroc_low_score(&points, 4.0),
    })
}

/// The table as Markdown: one row per kind and method.
pub fn format_rows(rows: &[Row]) -> String {
    let mut t = String::from("| shift | method | MRE ± SD (mm) | SDR 2 / 4 mm (%) | max (mm) | points > 10 mm | AUROC (> 4 mm) |\n|---|---|---|---|---|---|---|\n");
    for r in rows {
        let auroc = r.auroc.map_or_else(|| "–".into(), |v| format!("{v:.3}"));
        let _ = writeln!(
            t,
            "| {} | {} | {:.2} ± {:.2} | {:.1} / {:.1} | {:.1} | {} of {} | {auroc} |",
            r.kind.name(),
            r.method.name(),
            r.mre,
            r.sd,
            r.sdr2,
            r.sdr4,
            r.max,
            r.over_10mm,
            r.points
        );
    }
    t
}

/// The table as CSV, full precision: one record per kind and method.
fn rows_csv(rows: &[Row]) -> Result<Vec<u8>> {
    #[derive(serde::Serialize)]
    struct Record<'a> {
        shift: &'a str,
        method: &'a str,
        points: usize,
        mre_mm: f64,
        sd_mm: f64,
        sdr2: f64,
        sdr4: f64,
        max_mm: f64,
        over_10mm: usize,
        auroc_4mm: Option<f64>,
    }
    let mut w = csv::Writer::from_writer(Vec::new());
    for r in rows {
        w.serialize(Record {
            shift: r.kind.name(),
            method: r.method.name(),
            points: r.points,
            mre_mm: r.mre,
            sd_mm: r.sd,
            sdr2: r.sdr2,
            sdr4: r.sdr4,
            max_mm: r.max,
            over_10mm: r.over_10mm,
            auroc_4mm: r.auroc,
        })?;
    }
    Ok(w.into_inner()?)
}

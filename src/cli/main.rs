//! `cc2d`: the command-line tool. Each subcommand is a thin layer over the library.

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Instant;

use anyhow::{Context, Result, bail};
use clap::{Args, Parser, Subcommand};
use indicatif::{ProgressBar, ProgressStyle};

use burn::tensor::Device;
use cc2d::baseline::ncc::{NccConfig, NccMatcher};
use cc2d::config::{MatchingConfig, SslConfig, TplConfig};
use cc2d::tpl::detect::TplDetector;
use cc2d::tpl::train::LabelledImage;
use cc2d::model::{DeviceKind, device};
use cc2d::preprocess::preprocess;
use cc2d::ssl::matching::SslMatcher;
use cc2d::ssl::train::train;
use cc2d::training::RunDir;
use cc2d::ssl::SslModel;
use cc2d::io::dataset::{Dataset, Sample, data_root};
use cc2d::io::image;
use cc2d::io::landmarks::{Detection, Predictions, Template};
use cc2d::metrics::{evaluate_split, format_table};

#[derive(Parser)]
#[command(name = "cc2d", version, about = "One-shot medical landmark detection (CC2D), natively and in the browser")]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Detect landmarks with the training-free NCC baseline; write predictions and score them.
    Baseline(BaselineArgs),
    /// Score a predictions CSV against a dataset's ground truth.
    Eval(EvalArgs),
    /// Write the template JSON of one labelled image of a dataset.
    Template(TemplateArgs),
    /// Train the CC2D-SSL extractor on a dataset's images (self-supervised: no labels used).
    TrainSsl(TrainSslArgs),
    /// CC2D-SSL matching: locate the template's landmarks in every image (pseudo-labels).
    Match(MatchArgs),
    /// Train the CC2D-TPL detector on SSL pseudo-labels plus the labelled template.
    TrainTpl(TrainTplArgs),
    /// Detect landmarks with a trained TPL detector.
    Detect(DetectArgs),
    /// The whole one-shot method from a template and unlabelled images: SSL matching →
    /// pseudo-labels → detector training → detection. Resumable: rerun to continue.
    Pipeline(PipelineArgs),
    /// Convert trained weights (SSL extractor or detector) to f16 for shipping (half the bytes).
    Export(ExportArgs),
    /// Fit the detector's confidence (the probability of an error within 4 mm) on labelled
    /// images — the training images, never the test sets — and store it in the weights.
    Calibrate(CalibrateArgs),
}

#[derive(Args)]
struct CalibrateArgs {
    /// The labelled dataset; the template image (never scored) is left out.
    #[command(flatten)]
    source: TemplateSource,
    #[arg(long, default_value = "train")]
    split: String,
    /// Detector weights to calibrate.
    #[arg(long)]
    weights: PathBuf,
    /// Where to write the calibrated weights (f16, as `export`).
    #[arg(long)]
    to: PathBuf,
    #[arg(long, default_value = "cpu")]
    device: DeviceKind,
}

#[derive(Args)]
struct PipelineArgs {
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
    #[arg(long, default_value = concat!(env!("CARGO_MANIFEST_DIR"), "/weights/ssl-small.bpk"))]
    ssl_weights: String,
    #[arg(long, default_value = "small")]
    preset: String,
    #[arg(long)]
    ssl_epochs: Option<usize>,
    #[arg(long)]
    tpl_epochs: Option<usize>,
    #[arg(long, default_value = "cpu")]
    device: DeviceKind,
    #[command(flatten)]
    matching: MatchingArgs,
}

#[derive(Args)]
struct TrainTplArgs {
    /// Pseudo-labels CSV (`cc2d match --split train -o pseudo-labels.csv`).
    #[arg(long)]
    pseudo_labels: PathBuf,
    /// The dataset holding the pseudo-labelled images, and the template (its true landmarks
    /// join every batch).
    #[command(flatten)]
    source: TemplateSource,
    #[arg(long, default_value = "small")]
    preset: String,
    #[arg(long)]
    epochs: Option<usize>,
    /// Initialise the encoder from these SSL weights (the small presets share a layout).
    #[arg(long)]
    ssl_weights: Option<PathBuf>,
    /// Start from these detector weights instead (a second round: the detector's own
    /// relabelling of the images as pseudo-labels).
    #[arg(long, conflicts_with = "ssl_weights")]
    init_weights: Option<PathBuf>,
    /// Override the preset's initial learning rate (e.g. lower for a second round).
    #[arg(long)]
    learning_rate: Option<f64>,
    #[arg(long, default_value = "runs/tpl-small")]
    run: PathBuf,
    /// Every N epochs, detect on this many labelled training images and log the error to
    /// curve.csv (training labels only).
    #[arg(long, default_value_t = 5)]
    eval_every: usize,
    #[arg(long, default_value_t = 30)]
    eval_images: usize,
    #[arg(long, default_value = "cpu")]
    device: DeviceKind,
}

#[derive(Args)]
struct DetectArgs {
    #[command(flatten)]
    run: RunArgs,
    /// Detector weights (burnpack, f32 or f16); by default the shipped ISBI detector.
    #[arg(long, default_value = concat!(env!("CARGO_MANIFEST_DIR"), "/weights/tpl-small.bpk"))]
    weights: PathBuf,
    /// The configuration the weights were trained with, when the file does not record it.
    #[arg(long, default_value = "small")]
    preset: String,
    #[arg(long, default_value = "cpu")]
    device: DeviceKind,
    /// Test-time augmentation: four shifted copies as well, the median answer kept (≈ 5× the
    /// forward time).
    #[arg(long)]
    tta: bool,
}

#[derive(Args)]
struct ExportArgs {
    /// Weights to convert (e.g. a run's model.bpk).
    #[arg(long)]
    from: PathBuf,
    #[arg(long)]
    to: PathBuf,
    /// The configuration the weights were trained with (SSL weights record none).
    #[arg(long, default_value = "small")]
    preset: String,
    /// Detector weights: the template whose landmark names are stored with them.
    #[command(flatten)]
    source: TemplateSource,
}

#[derive(Args)]
struct TrainSslArgs {
    /// Dataset folder whose images are trained on.
    #[arg(long, default_value_os_t = data_root().join("isbi2015"))]
    data: PathBuf,
    /// Split to train on.
    #[arg(long, default_value = "train")]
    split: String,
    /// Configuration preset: small or paper.
    #[arg(long, default_value = "small")]
    preset: String,
    /// Override the preset's number of epochs.
    #[arg(long)]
    epochs: Option<usize>,
    /// Override the preset's softmax temperature τ.
    #[arg(long)]
    temperature: Option<f64>,
    /// Run folder: checkpoints, log.csv, curve.csv. An existing run is resumed.
    #[arg(long, default_value = "runs/ssl-small")]
    run: PathBuf,
    /// Every N epochs, match this many labelled images of the split against --eval-template
    /// and log the error to curve.csv (training labels only: the accuracy-vs-time curve).
    #[arg(long, default_value_t = 5)]
    eval_every: usize,
    #[arg(long, default_value_t = 30)]
    eval_images: usize,
    #[arg(long, default_value = "125")]
    eval_template: String,
    /// cpu (Burn's flex backend) or wgpu (Vulkan, Metal, DX12).
    #[arg(long, default_value = "cpu")]
    device: DeviceKind,
}

#[derive(Args)]
struct MatchArgs {
    #[command(flatten)]
    run: RunArgs,
    /// SSL weights (burnpack, f32 or f16). Default: the shipped small model.
    #[arg(long, default_value = concat!(env!("CARGO_MANIFEST_DIR"), "/weights/ssl-small.bpk"))]
    weights: PathBuf,
    /// The configuration the weights were trained with.
    #[arg(long, default_value = "small")]
    preset: String,
    /// cpu (Burn's flex backend) or wgpu (Vulkan, Metal, DX12).
    #[arg(long, default_value = "cpu")]
    device: DeviceKind,
    #[command(flatten)]
    matching: MatchingArgs,
}

/// How matching reads the similarity maps (README, "Results": the ablation). The defaults
/// are the shipped setting.
#[derive(Args, Clone)]
struct MatchingArgs {
    /// The paper's decoding as the authors' code does it (cell anchors, product of all
    /// levels, integer argmax); the other matching options then change that instead.
    #[arg(long)]
    paper_matching: bool,
    /// Template embeddings: `bilinear` at the landmark's exact position, or the `cell` that
    /// holds it.
    #[arg(long, value_parser = ["bilinear", "cell"])]
    anchors: Option<String>,
    /// Coarse-to-fine search window, in cells of each level (0: product over the whole image).
    #[arg(long)]
    window_cells: Option<usize>,
    /// Levels that score a position, ending at the current one (5: all).
    #[arg(long)]
    scoring_levels: Option<usize>,
    /// Sub-pixel refinement of the final argmax: on or off.
    #[arg(long)]
    subpixel: Option<bool>,
    /// Repair outliers with a shape model of all the matched images (PCA of their point
    /// sets, no labels read): a point far from where the other points place it is moved there.
    #[arg(long)]
    repair_shapes: bool,
}

impl MatchingArgs {
    fn config(&self) -> MatchingConfig {
        let mut c = if self.paper_matching { MatchingConfig::paper() } else { MatchingConfig::new() };
        if let Some(a) = &self.anchors {
            c.bilinear_anchors = a == "bilinear";
        }
        if let Some(w) = self.window_cells {
            c.window_cells = w;
        }
        if let Some(s) = self.scoring_levels {
            c.scoring_levels = s;
        }
        if let Some(s) = self.subpixel {
            c.subpixel = s;
        }
        c
    }
}

/// The dataset and the one labelled example: a dataset image or a template JSON file.
#[derive(Args, Clone)]
struct TemplateSource {
    /// Dataset folder (ISBI 2015 layout, hand10 layout, or any folder of images).
    #[arg(long, default_value_os_t = data_root().join("isbi2015"))]
    data: PathBuf,
    /// Id of the labelled dataset image that serves as the one-shot template.
    #[arg(long, default_value = "125", conflicts_with = "template")]
    template_id: String,
    /// A template JSON file instead of a dataset image.
    #[arg(long)]
    template: Option<PathBuf>,
}

impl TemplateSource {
    /// The template and its image's path (relative paths in a JSON file are relative to
    /// the file).
    fn resolve(&self, dataset: &Dataset) -> Result<(Template, PathBuf)> {
        Ok(match &self.template {
            Some(path) => {
                let t = Template::read_json(path)?;
                let image = path.parent().unwrap_or(Path::new(".")).join(&t.image);
                (t, image)
            }
            None => {
                let t = dataset.template(&self.template_id)?;
                let image = PathBuf::from(&t.image);
                (t, image)
            }
        })
    }
}

/// Which images to run on, and with which template.
#[derive(Args)]
struct RunArgs {
    #[command(flatten)]
    source: TemplateSource,
    /// Split of the dataset to run on (ISBI: train, test1, test2, test, all).
    #[arg(long, default_value = "test")]
    split: String,
    /// Predictions CSV to write.
    #[arg(long, short, default_value = "predictions.csv")]
    out: PathBuf,
    /// Also write the detections (names, scores) as JSON.
    #[arg(long)]
    json: Option<PathBuf>,
    /// Worker threads (default: all cores).
    #[arg(long)]
    threads: Option<usize>,
}

#[derive(Args)]
struct BaselineArgs {
    #[command(flatten)]
    run: RunArgs,
    /// NCC pyramid as JSON (`{"levels": [{"size", "patch_radius", "search_radius"}, …]}`);
    /// default: the built-in levels.
    #[arg(long)]
    ncc_config: Option<PathBuf>,
}

#[derive(Args)]
struct EvalArgs {
    /// Predictions CSV (`id,x1,y1,…`, original pixels).
    predictions: PathBuf,
    /// Dataset folder with ground truth.
    #[arg(long, default_value_os_t = data_root().join("isbi2015"))]
    data: PathBuf,
    /// Split(s) to score; each must be fully predicted. Default: every split with predictions.
    #[arg(long)]
    split: Vec<String>,
    /// Millimetres per pixel, overriding the dataset's.
    #[arg(long)]
    spacing: Option<f64>,
    /// Also print each landmark's errors and systematic offset (signed mean dx, dy, scatter).
    #[arg(long)]
    per_landmark: bool,
    /// Also write every figure, per split and per landmark (with its bias), as JSON.
    #[arg(long)]
    json: Option<PathBuf>,
    /// Detections JSON (`--json` of detect/match) whose scores to judge: how well a low
    /// score finds the points off by more than 4 mm (AUROC), and a reliability table.
    #[arg(long)]
    scores: Option<PathBuf>,
}

#[derive(Args)]
struct TemplateArgs {
    #[arg(long, default_value_os_t = data_root().join("isbi2015"))]
    data: PathBuf,
    /// Image id.
    #[arg(long, default_value = "125")]
    id: String,
    #[arg(long, short, default_value = "template.json")]
    out: PathBuf,
}

fn main() -> Result<()> {
    match Cli::parse().command {
        Command::Baseline(a) => baseline(a),
        Command::TrainSsl(a) => train_ssl(a),
        Command::Match(a) => match_ssl(a),
        Command::TrainTpl(a) => train_tpl(a),
        Command::Pipeline(a) => pipeline(a),
        Command::Detect(a) => detect(a),
        Command::Export(a) => export(a),
        Command::Calibrate(a) => calibrate(a),
        Command::Eval(a) => eval(a),
        Command::Template(a) => {
            let t = Dataset::open(&a.data)?.template(&a.id)?;
            std::fs::write(&a.out, t.to_json()).with_context(|| format!("writing {}", a.out.display()))?;
            println!("wrote {} ({} landmarks of image {})", a.out.display(), t.landmarks.len(), a.id);
            Ok(())
        }
    }
}

fn progress(len: usize, what: &str) -> ProgressBar {
    let bar = ProgressBar::new(len as u64);
    bar.set_style(
        ProgressStyle::with_template("{msg} [{bar:30}] {pos}/{len} {per_sec} eta {eta}").expect("valid template").progress_chars("=> "),
    );
    bar.set_message(what.to_string());
    bar
}

/// Runs `detect` over samples on a pool of threads, in order, with a progress bar.
fn detect_all<F>(samples: &[&Sample], threads: Option<usize>, what: &str, detect: F) -> Result<Vec<Detection>>
where
    F: Fn(&Sample) -> cc2d::Result<Detection> + Sync,
{
    let threads = threads.unwrap_or_else(|| std::thread::available_parallelism().map_or(1, |n| n.get())).max(1);
    let bar = progress(samples.len(), what);
    let next = AtomicUsize::new(0);
    let mut results: Vec<Option<cc2d::Result<Detection>>> = (0..samples.len()).map(|_| None).collect();
    let slots: Vec<std::sync::Mutex<&mut Option<cc2d::Result<Detection>>>> = results.iter_mut().map(std::sync::Mutex::new).collect();
    std::thread::scope(|s| {
        for _ in 0..threads {
            s.spawn(|| {
                loop {
                    let i = next.fetch_add(1, Ordering::Relaxed);
                    if i >= samples.len() {
                        break;
                    }
                    **slots[i].lock().unwrap() = Some(detect(samples[i]));
                    bar.inc(1);
                }
            });
        }
    });
    bar.finish();
    drop(slots);
    results.into_iter().map(|r| r.expect("every sample was processed").map_err(Into::into)).collect()
}

fn write_outputs(run: &RunArgs, detections: &[Detection], samples: &[&Sample]) -> Result<Predictions> {
    let predictions = Predictions { rows: samples.iter().zip(detections).map(|(s, d)| (s.id.clone(), d.points())).collect() };
    predictions.write_csv(&run.out)?;
    println!("wrote {}", run.out.display());
    if let Some(json) = &run.json {
        std::fs::write(json, serde_json::to_string_pretty(detections)?).with_context(|| format!("writing {}", json.display()))?;
        println!("wrote {}", json.display());
    }
    Ok(predictions)
}

fn baseline(a: BaselineArgs) -> Result<()> {
    let run = &a.run;
    let dataset = Dataset::open(&run.source.data)?;
    let (template, template_path) = run.source.resolve(&dataset)?;
    let template_image = image::load(&template_path)?;
    let config = match &a.ncc_config {
        Some(path) => serde_json::from_str(&std::fs::read_to_string(path).with_context(|| format!("reading {}", path.display()))?)
            .with_context(|| format!("{}: not an NCC configuration", path.display()))?,
        None => NccConfig::default(),
    };
    let matcher = NccMatcher::new(&template_image, &template, config)?;
    println!("NCC baseline: template {} ({} landmarks), {} of {}", template.image, template.landmarks.len(), run.split, dataset.name);
    run_detector(run, &dataset, &template.names(), "ncc", None, |img| Ok(matcher.locate(img)), |_| ())
}

fn eval(a: EvalArgs) -> Result<()> {
    let dataset = Dataset::open(&a.data)?;
    let predictions = Predictions::read_csv(&a.predictions)?;
    let splits: Vec<String> = if a.split.is_empty() {
        dataset.split_names().into_iter().filter(|s| *s != "all" || dataset.splits.len() == 1).map(String::from).collect()
    } else {
        a.split.clone()
    };
    let named = !a.split.is_empty();
    let rows = print_scores(&dataset, &predictions, &splits, a.spacing, a.per_landmark, named)?;
    if let Some(path) = &a.scores {
        print_confidence(&dataset, path, &splits, a.spacing)?;
    }
    if let Some(path) = &a.json {
        let json = cc2d::metrics::to_json(&rows, &dataset.landmark_names);
        std::fs::write(path, serde_json::to_string_pretty(&json)? + "\n").with_context(|| format!("writing {}", path.display()))?;
        println!("wrote {}", path.display());
    }
    Ok(())
}

/// Scores predictions per split and prints the table; splits asked for by name must be
/// complete. Returns the scored splits (none for an unlabelled dataset).
fn print_scores(dataset: &Dataset, predictions: &Predictions, splits: &[String], spacing: Option<f64>, per_landmark: bool, require_all: bool) -> Result<Vec<(String, cc2d::metrics::Evaluation)>> {
    if dataset.samples.iter().all(|s| s.landmarks.is_none()) {
        return Ok(Vec::new()); // unlabelled images: nothing to score
    }
    let mut rows = Vec::new();
    for split in splits {
        if let Some(e) = evaluate_split(dataset, split, predictions, spacing, require_all)? {
            if !e.unknown_spacing.is_empty() {
                eprintln!("{split}: left out {} (pixel spacing unknown; give one with --spacing)", e.unknown_spacing.join(", "));
            }
            rows.push((split.clone(), e.evaluation));
        }
    }
    if rows.is_empty() {
        bail!("no prediction matches an image of {} ({})", dataset.name, splits.join(", "));
    }
    print!("{}", format_table(&rows, per_landmark.then_some(dataset.landmark_names.as_slice())));
    Ok(rows)
}

/// How well the scores of a detections JSON find the bad points, per split: AUROC of low
/// score for errors above 4 mm (over all points, and the mean within a landmark) and a
/// reliability table.
fn print_confidence(dataset: &Dataset, path: &Path, splits: &[String], spacing: Option<f64>) -> Result<()> {
    use cc2d::metrics::{auroc_low_score, reliability};
    let detections: Vec<Detection> = serde_json::from_str(&std::fs::read_to_string(path).with_context(|| format!("reading {}", path.display()))?)
        .with_context(|| format!("{}: not a detections JSON list", path.display()))?;
    let by_id: std::collections::HashMap<String, &Detection> = detections.iter().map(|d| (cc2d::io::landmarks::normalise_id(&d.image), d)).collect();
    for split in splits {
        let mut per_landmark: Vec<Vec<(f64, f64)>> = vec![Vec::new(); dataset.landmark_names.len()];
        for s in dataset.split(split)? {
            let (Some(d), Some(truth), Some(mm)) = (by_id.get(&s.id), &s.landmarks, spacing.or(s.spacing_mm)) else { continue };
            for ((l, t), points) in d.landmarks.iter().zip(truth).zip(&mut per_landmark) {
                points.push((cc2d::io::landmarks::Point::new(l.x, l.y).distance(*t) * mm, l.score));
            }
        }
        let all: Vec<(f64, f64)> = per_landmark.concat();
        if all.is_empty() {
            continue;
        }
        let within: Vec<f64> = per_landmark.iter().filter_map(|p| auroc_low_score(p, 4.0)).collect();
        println!(
            "{split}: confidence AUROC for errors > 4 mm: {:.3} over {} points; mean within a landmark {:.3} ({} landmarks with both kinds)",
            auroc_low_score(&all, 4.0).unwrap_or(f64::NAN),
            all.len(),
            within.iter().sum::<f64>() / within.len().max(1) as f64,
            within.len()
        );
        println!("  {:<11} {:>6} {:>9} {:>9}", "confidence", "points", "≤ 2 mm %", "≤ 4 mm %");
        for b in reliability(&all, &[0.0, 0.2, 0.4, 0.6, 0.8, 0.9, 1.0]) {
            println!("  {:<11} {:>6} {:>9.1} {:>9.1}", format!("{:.1}–{:.1}", b.low, b.high), b.points, b.within_2mm, b.within_4mm);
        }
    }
    Ok(())
}

/// `calibrate`: the detector's evidence on labelled images, with and without test-time
/// augmentation, against whether each point is within 4 mm; a logistic fit of each.
fn calibrate(a: CalibrateArgs) -> Result<()> {
    use cc2d::tpl::confidence::{Calibration, GOOD_WITHIN_MM};
    let dataset = Dataset::open(&a.source.data)?;
    let (template, template_path) = a.source.resolve(&dataset)?;
    let device = device(a.device)?;
    let detector = TplDetector::load(&a.weights, "small", Some(template.landmarks.len()), &device)?;
    let names = template.names();
    let single = detector.clone().with_tta(false);
    let tta = detector.with_tta(true);
    let samples: Vec<&Sample> = dataset.split(&a.split)?.into_iter().filter(|s| s.landmarks.is_some() && s.image_path != template_path).collect();
    let bar = progress(samples.len(), "calibrating");
    let (mut plain_points, mut tta_points) = (Vec::new(), Vec::new());
    for s in &samples {
        let img = image::load(&s.image_path)?;
        let (maps, frame) = tta.maps(&img, &device);
        let maps = maps.into_data().try_to_vec::<f32>().map_err(|e| anyhow::anyhow!("reading detector maps: {e:?}"))?;
        let mm = s.spacing_mm.context("calibration needs images of known pixel spacing")?;
        let truth = s.landmarks.as_ref().expect("filtered to labelled images");
        // The first copy of the TTA batch is the image itself: the plain detection's maps.
        for (points, found) in [(&mut plain_points, single.decode_with_evidence(&maps, &frame)), (&mut tta_points, tta.decode_with_evidence(&maps, &frame))] {
            points.extend(found.into_iter().zip(truth).enumerate().map(|(k, ((p, e), t))| (e, k, p.distance(*t) * mm <= GOOD_WITHIN_MM)));
        }
        bar.inc(1);
    }
    bar.finish_and_clear();
    let calibration = Calibration::fit(names.len(), &plain_points, &tta_points);
    let calibrated = TplDetector::load(&a.weights, "small", None, &Device::flex())?.with_calibration(Some(calibration.clone()));
    calibrated.save(&a.to, &names)?;
    let share = |p: &[(cc2d::tpl::detect::Evidence, usize, bool)]| 100.0 * p.iter().filter(|x| x.2).count() as f64 / p.len().max(1) as f64;
    println!("calibrated on {} images of {} ({} points; within 4 mm: {:.1} %, with TTA {:.1} %)", samples.len(), a.split, plain_points.len(), share(&plain_points), share(&tta_points));
    let head = |w: &[f64]| w.iter().take(5).map(|v| format!("{v:.2}")).collect::<Vec<_>>().join(", ");
    println!("weights (intercept, peak, share, ln(1+spread)[, ln(¼+TTA spread)], then one per landmark): [{}, …] / [{}, …]", head(&calibration.single), head(&calibration.tta));
    println!("wrote {}", a.to.display());
    Ok(())
}

fn ssl_config(preset: &str, epochs: Option<usize>, temperature: Option<f64>) -> Result<SslConfig> {
    let mut config = SslConfig::preset(preset)?;
    if let Some(e) = epochs {
        config.training.epochs = e;
    }
    if let Some(t) = temperature {
        config.training.temperature = t;
    }
    Ok(config)
}

fn train_ssl(a: TrainSslArgs) -> Result<()> {
    let config = ssl_config(&a.preset, a.epochs, a.temperature)?;
    let dataset = Dataset::open(&a.data)?;
    let samples = dataset.split(&a.split)?;
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
    let template = dataset.template(&a.eval_template).ok();
    let template_image = template.as_ref().map(|t| image::load(Path::new(&t.image))).transpose()?;
    let (eval_samples, eval_queries, curve) = curve_set(&samples, &a.eval_template, a.eval_images, &a.run)?;
    let run = RunDir(a.run.clone());

    let t = &config.training;
    println!("CC2D-SSL ({} preset): {} images of {}/{}, {} epochs, batch {} × {} points, τ = {}, α = {}; run folder {}",
        a.preset, images.len(), dataset.name, a.split, t.epochs, t.batch_size, t.points_per_patch, t.temperature, t.window, a.run.display());
    let steps = images.len().div_ceil(t.batch_size) * t.epochs;
    let bar = ProgressBar::new(steps as u64);
    bar.set_style(ProgressStyle::with_template("{msg} [{bar:30}] {pos}/{len} steps, {elapsed} elapsed, eta {eta}").expect("valid template").progress_chars("=> "));
    let device = device(a.device)?;
    let eval_device = device.clone();
    train(
        &config,
        &images,
        &device,
        &run,
        |s| {
            bar.set_position((s.epoch * s.steps_per_epoch + s.step + 1) as u64);
            bar.set_message(format!("epoch {} loss {:.3}", s.epoch + 1, s.loss));
        },
        |record, model| {
            say(&bar, format!("epoch {} mean loss {:.4} lr {:e} ({:.0} s)", record.epoch, record.mean_loss, record.learning_rate, record.seconds));
            let (Some(template), Some(template_image)) = (&template, &template_image) else { return };
            if a.eval_every == 0 || record.epoch % a.eval_every != 0 || eval_queries.is_empty() {
                return;
            }
            let result = SslMatcher::new(model.clone(), config.image_size, MatchingConfig::new(), template_image, template, &eval_device)
                .map_err(Into::into)
                .and_then(|m| log_curve(&curve, record, &eval_samples, &eval_queries, |q| m.locate(q, &eval_device)));
            say(&bar, result.unwrap_or_else(|e| format!("  evaluation failed: {e}")));
        },
    )?;
    bar.finish();
    println!("weights: {}", run.0.join("model.bpk").display());
    Ok(())
}

fn match_ssl(a: MatchArgs) -> Result<()> {
    let run = &a.run;
    let config = SslConfig::preset(&a.preset)?;
    let device = device(a.device)?;
    let model = cc2d::model::weights::load(SslModel::new(&config, &device), &a.weights)?;
    let dataset = Dataset::open(&run.source.data)?;
    let (template, template_path) = run.source.resolve(&dataset)?;
    let template_image = image::load(&template_path)?;
    let matcher = SslMatcher::new(model, config.image_size, a.matching.config(), &template_image, &template, &device)?;
    println!("CC2D-SSL matching: weights {}, template {} ({} landmarks), {} of {}", a.weights.display(), template.image, template.landmarks.len(), run.split, dataset.name);
    let repair = a.matching.repair_shapes;
    run_detector(run, &dataset, &template.names(), "match", Some(1), |img| matcher.locate(img, &device), |found| {
        if repair {
            repair_shapes(found, config.image_size);
        }
    })
}

/// Runs a detector over a split: times it, writes the predictions (and JSON), and scores
/// them when the dataset is labelled. `default_threads` (unless --threads): None = all
/// cores, for detectors that run on one core each; Some(1) for Burn models, whose forward
/// already uses every core.
fn run_detector(
    run: &RunArgs,
    dataset: &Dataset,
    names: &[String],
    what: &str,
    default_threads: Option<usize>,
    locate: impl Fn(&image::GreyImage) -> cc2d::Result<Vec<(cc2d::io::landmarks::Point, f64)>> + Sync,
    post: impl FnOnce(&mut [Detection]),
) -> Result<()> {
    let samples = dataset.split(&run.split)?;
    let start = Instant::now();
    let mut detections = detect_all(&samples, run.threads.or(default_threads), what, |s| {
        let img = image::load(&s.image_path)?;
        Ok(Detection::new(&s.image_path.display().to_string(), img.width, img.height, names, locate(&img)?))
    })?;
    post(&mut detections);
    let secs = start.elapsed().as_secs_f64();
    println!("{} images in {secs:.1} s ({:.3} s per image, wall clock)", samples.len(), secs / samples.len() as f64);
    let predictions = write_outputs(run, &detections, &samples)?;
    print_scores(dataset, &predictions, &[run.split.clone()], None, false, true).map(drop)
}

/// Repairs outlying points with a shape model of all the detections, in model pixels (so
/// images of different sizes share one frame); says how many points moved.
fn repair_shapes(found: &mut [Detection], side: usize) {
    use cc2d::preprocess::Frame;
    let frames: Vec<Frame> = found.iter().map(|d| Frame::new([d.width, d.height], [side as u32, side as u32])).collect();
    let shapes: Vec<Vec<cc2d::io::landmarks::Point>> = found.iter().zip(&frames).map(|(d, f)| d.points().into_iter().map(|p| f.to_model(p)).collect()).collect();
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

/// Labelled training images (never the template) for the accuracy-vs-time curve, decoded
/// once, and the curve file in the run folder.
fn curve_set<'a>(samples: &[&'a Sample], template_id: &str, count: usize, run: &Path) -> Result<(Vec<&'a Sample>, Vec<image::GreyImage>, PathBuf)> {
    let chosen: Vec<&Sample> = samples.iter().filter(|s| s.landmarks.is_some() && s.id != template_id).take(count).copied().collect();
    let images = chosen.iter().map(|s| image::load(&s.image_path)).collect::<cc2d::Result<_>>()?;
    std::fs::create_dir_all(run)?;
    let curve = run.join("curve.csv");
    if !curve.exists() {
        std::fs::write(&curve, "epoch,seconds,images,mre_mm,sdr2,sdr4\n")?;
    }
    Ok((chosen, images, curve))
}

/// Scores `locate` on the curve images against their labels and appends a line to the curve.
fn log_curve(
    curve: &Path,
    record: &cc2d::training::EpochRecord,
    samples: &[&Sample],
    images: &[image::GreyImage],
    locate: impl Fn(&image::GreyImage) -> cc2d::Result<Vec<(cc2d::io::landmarks::Point, f64)>>,
) -> Result<String> {
    let found = images.iter().map(|q| Ok(locate(q)?.into_iter().map(|(p, _)| p).collect::<Vec<_>>())).collect::<cc2d::Result<Vec<_>>>()?;
    let e = cc2d::metrics::evaluate(samples.iter().zip(&found).map(|(s, f)| (s.id.as_str(), f.as_slice(), s.landmarks.as_deref().unwrap(), s.spacing_mm.unwrap_or(0.1))))?;
    let line = format!("{},{:.1},{},{:.4},{:.2},{:.2}\n", record.epoch, record.seconds, samples.len(), e.overall.mre, e.overall.sdr[0], e.overall.sdr[3]);
    cc2d::training::append(curve, &line)?;
    Ok(format!("  {} training images: MRE {:.2} mm, SDR@4mm {:.1} %", samples.len(), e.overall.mre, e.overall.sdr[3]))
}

fn train_tpl(a: TrainTplArgs) -> Result<()> {
    let dataset = Dataset::open(&a.source.data)?;
    let (template, template_path) = a.source.resolve(&dataset)?;
    let k = template.landmarks.len();
    let mut config = TplConfig::preset(&a.preset, k)?;
    if let Some(e) = a.epochs {
        config.epochs = e;
    }
    if let Some(lr) = a.learning_rate {
        config.learning_rate = lr;
    }
    let side = config.image_size as u32;
    let to_model = |path: &Path, points: &[cc2d::io::landmarks::Point]| -> Result<LabelledImage> {
        let input = preprocess(&image::load(path)?, [side, side]);
        let landmarks = points.iter().map(|&p| input.frame.to_model(p)).collect();
        Ok(LabelledImage { image: input.image, landmarks })
    };
    let pseudo = Predictions::read_csv(&a.pseudo_labels)?;
    let bar = progress(pseudo.rows.len(), "loading");
    let mut images = Vec::new();
    for (id, points) in &pseudo.rows {
        bar.inc(1);
        if points.len() != k {
            bail!("{}: image {id} has {} pseudo-labels, the template {k} landmarks", a.pseudo_labels.display(), points.len());
        }
        let sample = dataset.sample(id)?;
        // The template joins every batch with its true landmarks instead.
        if sample.image_path != template_path {
            images.push(to_model(&sample.image_path, points)?);
        }
    }
    bar.finish_and_clear();
    let template_labelled = to_model(&template_path, &template.points())?;
    let device = device(a.device)?;
    let encoder = match &a.ssl_weights {
        Some(path) => {
            let ssl = SslConfig::preset(&a.preset)?;
            if ssl.extractor.encoder_widths != config.detector.encoder_widths || ssl.extractor.encoder_depths != config.detector.encoder_depths {
                bail!("the {} SSL extractor's encoder differs from the detector's: cannot initialise from it", a.preset);
            }
            Some(cc2d::model::weights::load(SslModel::new(&ssl, &device), path)?.image_encoder())
        }
        None => None,
    };
    let start = match &a.init_weights {
        Some(path) => {
            let detector = TplDetector::load(path, &a.preset, Some(k), &device)?;
            if detector.config().detector != config.detector {
                bail!("{}: a detector of another configuration than the {} preset", path.display(), a.preset);
            }
            Some(detector.model().clone())
        }
        None => None,
    };
    let samples = dataset.split("train").unwrap_or_else(|_| dataset.samples.iter().collect());
    let (eval_samples, eval_queries, curve) = curve_set(&samples, &a.source.template_id, a.eval_images, &a.run)?;
    println!("CC2D-TPL ({} preset): {} pseudo-labelled images + template {}, {} epochs, batch {} + 1, R = {}, encoder from {}; run folder {}",
        a.preset, images.len(), a.source.template_id, config.epochs, config.batch_size, config.radius,
        a.init_weights.as_ref().or(a.ssl_weights.as_ref()).map_or("scratch".into(), |p| p.display().to_string()), a.run.display());
    let steps = images.len().div_ceil(config.batch_size) * config.epochs;
    let bar = ProgressBar::new(steps as u64);
    bar.set_style(ProgressStyle::with_template("{msg} [{bar:30}] {pos}/{len} steps, {elapsed} elapsed, eta {eta}").expect("valid template").progress_chars("=> "));
    let eval_device = device.clone();
    cc2d::tpl::train::train(
        &config,
        &images,
        &template_labelled,
        start,
        encoder,
        &device,
        &RunDir(a.run.clone()),
        |s| {
            bar.set_position((s.epoch * s.steps_per_epoch + s.step + 1) as u64);
            bar.set_message(format!("epoch {} loss {:.3}", s.epoch + 1, s.loss));
        },
        |record, model| {
            say(&bar, format!("epoch {} mean loss {:.4} ({:.0} s)", record.epoch, record.mean_loss, record.seconds));
            if a.eval_every == 0 || record.epoch % a.eval_every != 0 || eval_queries.is_empty() {
                return;
            }
            let detector = TplDetector::new(model.clone(), config.clone());
            let result = log_curve(&curve, record, &eval_samples, &eval_queries, |q| detector.locate(q, &eval_device));
            say(&bar, result.unwrap_or_else(|e| format!("  evaluation failed: {e}")));
        },
    )?;
    bar.finish();
    println!("weights: {}", a.run.join("model.bpk").display());
    Ok(())
}

fn detect(a: DetectArgs) -> Result<()> {
    let run = &a.run;
    let dataset = Dataset::open(&run.source.data)?;
    let device = device(a.device)?;
    // The template (a JSON file, or the dataset's labelled image) names the landmarks and must
    // agree with the weights; without one, the names stored in the weights are used.
    let template = match run.source.resolve(&dataset) {
        Ok((t, _)) => Some(t),
        Err(_) if run.source.template.is_none() => None,
        Err(e) => return Err(e),
    };
    let detector = TplDetector::load(&a.weights, &a.preset, template.as_ref().map(|t| t.landmarks.len()), &device)?.with_tta(a.tta);
    let names = template.as_ref().map_or_else(|| detector.landmark_names(), Template::names);
    println!("CC2D-TPL detection: weights {}, {} landmarks, {} of {}", a.weights.display(), names.len(), run.split, dataset.name);
    run_detector(run, &dataset, &names, "detect", Some(1), |img| detector.locate(img, &device), |_| ())
}

/// `export`: f16 weights to ship. Detector weights also get the template's landmark names.
fn export(a: ExportArgs) -> Result<()> {
    let device = Device::flex();
    let described: Option<TplConfig> = serde_json::from_str(&cc2d::model::weights::description(&a.from)?).ok();
    if described.is_some() {
        let detector = TplDetector::load(&a.from, &a.preset, None, &device)?;
        let (template, _) = a.source.resolve(&Dataset::open(&a.source.data)?)?;
        detector.save(&a.to, &template.names())?;
    } else {
        let config = SslConfig::preset(&a.preset)?;
        let model = cc2d::model::weights::load(SslModel::new(&config, &device), &a.from)?;
        cc2d::model::weights::save(&model, &a.to, true, &serde_json::to_string(&config)?)?;
    }
    println!("wrote {} ({} bytes, f16)", a.to.display(), std::fs::metadata(&a.to)?.len());
    Ok(())
}

/// Prints a line above a progress bar (or plainly when output is not a terminal).
fn say(bar: &ProgressBar, line: String) {
    bar.suspend(|| println!("{line}"));
}

fn pipeline(a: PipelineArgs) -> Result<()> {
    std::fs::create_dir_all(&a.out)?;
    let run_args = |split: &str, out: PathBuf, json: Option<PathBuf>| RunArgs {
        source: a.source.clone(),
        split: split.to_string(),
        out,
        json,
        threads: None,
    };
    println!("== 1/4 SSL extractor");
    let ssl_weights = if a.ssl_weights == "train" {
        train_ssl(TrainSslArgs {
            data: a.source.data.clone(),
            split: a.split.clone(),
            preset: a.preset.clone(),
            epochs: a.ssl_epochs,
            temperature: None,
            run: a.out.join("ssl"),
            eval_every: 0,
            eval_images: 0,
            eval_template: a.source.template_id.clone(),
            device: a.device,
        })?;
        a.out.join("ssl/model.bpk")
    } else {
        println!("using {}", a.ssl_weights);
        PathBuf::from(&a.ssl_weights)
    };
    println!("== 2/4 pseudo-labels (SSL matching)");
    let pseudo = a.out.join("pseudo-labels.csv");
    if pseudo.is_file() {
        println!("reusing {}", pseudo.display());
    } else {
        let partial = a.out.join("pseudo-labels.partial.csv");
        match_ssl(MatchArgs { run: run_args(&a.split, partial.clone(), None), weights: ssl_weights.clone(), preset: a.preset.clone(), device: a.device, matching: a.matching.clone() })?;
        std::fs::rename(&partial, &pseudo)?;
    }
    println!("== 3/4 detector training (resumes from {})", a.out.join("tpl").display());
    train_tpl(TrainTplArgs {
        pseudo_labels: pseudo,
        source: a.source.clone(),
        preset: a.preset.clone(),
        epochs: a.tpl_epochs,
        ssl_weights: Some(ssl_weights),
        init_weights: None,
        learning_rate: None,
        run: a.out.join("tpl"),
        eval_every: 5,
        eval_images: 30,
        device: a.device,
    })?;
    println!("== 4/4 detection");
    let split = a.detect_split.clone().unwrap_or_else(|| a.split.clone());
    detect(DetectArgs {
        run: run_args(&split, a.out.join("predictions.csv"), Some(a.out.join("detections.json"))),
        weights: a.out.join("tpl/model.bpk"),
        preset: a.preset.clone(),
        device: a.device,
        tta: false,
    })
}

//! `cc2d`: the command-line tool. Each subcommand is a thin layer over the library.

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Instant;

use anyhow::{Context, Result, bail};
use clap::{Args, Parser, Subcommand};
use indicatif::{ProgressBar, ProgressStyle};

use cc2d::baseline::ncc::{NccConfig, NccMatcher};
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
}

/// Which images to run on, and with which template.
#[derive(Args)]
struct RunArgs {
    /// Dataset folder (ISBI 2015 layout, hand10 layout, or any folder of images).
    #[arg(long, default_value_os_t = data_root().join("isbi2015"))]
    data: PathBuf,
    /// Split of the dataset to run on (ISBI: train, test1, test2, test, all).
    #[arg(long, default_value = "test")]
    split: String,
    /// Id of the labelled dataset image that serves as the one-shot template.
    #[arg(long, default_value = "001", conflicts_with = "template")]
    template_id: String,
    /// A template JSON file instead of a dataset image.
    #[arg(long)]
    template: Option<PathBuf>,
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
    /// Also print each landmark's errors.
    #[arg(long)]
    per_landmark: bool,
}

#[derive(Args)]
struct TemplateArgs {
    #[arg(long, default_value_os_t = data_root().join("isbi2015"))]
    data: PathBuf,
    /// Image id.
    #[arg(long, default_value = "001")]
    id: String,
    #[arg(long, short, default_value = "template.json")]
    out: PathBuf,
}

fn main() -> Result<()> {
    match Cli::parse().command {
        Command::Baseline(a) => baseline(a),
        Command::Eval(a) => eval(a),
        Command::Template(a) => {
            let t = Dataset::open(&a.data)?.template(&a.id)?;
            std::fs::write(&a.out, t.to_json()).with_context(|| format!("writing {}", a.out.display()))?;
            println!("wrote {} ({} landmarks of image {})", a.out.display(), t.landmarks.len(), a.id);
            Ok(())
        }
    }
}

fn load_template(run: &RunArgs, dataset: &Dataset) -> Result<Template> {
    Ok(match &run.template {
        Some(path) => Template::read_json(path)?,
        None => dataset.template(&run.template_id)?,
    })
}

/// Resolves a template's image path: relative paths are relative to the JSON file.
fn template_image_path(run: &RunArgs, template: &Template) -> PathBuf {
    let p = Path::new(&template.image);
    match (&run.template, p.is_relative()) {
        (Some(json), true) => json.parent().unwrap_or(Path::new(".")).join(p),
        _ => p.to_path_buf(),
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
    let dataset = Dataset::open(&run.data)?;
    let template = load_template(run, &dataset)?;
    let template_image = image::load(&template_image_path(run, &template))?;
    let config = match &a.ncc_config {
        Some(path) => serde_json::from_str(&std::fs::read_to_string(path).with_context(|| format!("reading {}", path.display()))?)
            .with_context(|| format!("{}: not an NCC configuration", path.display()))?,
        None => NccConfig::default(),
    };
    let matcher = NccMatcher::new(&template_image, &template, config)?;
    let samples = dataset.split(&run.split)?;
    println!("NCC baseline: template {} ({} landmarks), {} images of {}/{}", template.image, template.landmarks.len(), samples.len(), dataset.name, run.split);
    let start = Instant::now();
    let detections = detect_all(&samples, run.threads, "ncc", |s| {
        let img = image::load(&s.image_path)?;
        Ok(matcher.detect(&img, &s.image_path.display().to_string()))
    })?;
    let secs = start.elapsed().as_secs_f64();
    println!("{} images in {secs:.1} s ({:.3} s per image, wall clock)", samples.len(), secs / samples.len() as f64);
    let predictions = write_outputs(run, &detections, &samples)?;
    print_scores(&dataset, &predictions, &[run.split.clone()], None, false, true)
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
    print_scores(&dataset, &predictions, &splits, a.spacing, a.per_landmark, named)
}

/// Scores predictions per split and prints the table; splits asked for by name must be complete.
fn print_scores(dataset: &Dataset, predictions: &Predictions, splits: &[String], spacing: Option<f64>, per_landmark: bool, require_all: bool) -> Result<()> {
    if dataset.samples.iter().all(|s| s.landmarks.is_none()) {
        return Ok(()); // unlabelled images: nothing to score
    }
    let mut rows = Vec::new();
    for split in splits {
        if let Some(e) = evaluate_split(dataset, split, predictions, spacing, require_all)? {
            rows.push((split.clone(), e));
        }
    }
    if rows.is_empty() {
        bail!("no prediction matches an image of {} ({})", dataset.name, splits.join(", "));
    }
    print!("{}", format_table(&rows, per_landmark.then_some(dataset.landmark_names.as_slice())));
    Ok(())
}

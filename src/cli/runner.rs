//! Runs a detector over a dataset split: a pool of threads, a progress bar, the predictions
//! CSV (and detections JSON) written, and the scores printed when the images are labelled.

use std::sync::Mutex;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Instant;

use anyhow::{Context, Result, bail};
use burn::tensor::Device;

use cc2d::io::dataset::{Dataset, Sample};
use cc2d::io::image::{self, GreyImage};
use cc2d::io::landmarks::{Detection, Point, Predictions};
use cc2d::locate::Locator;
use cc2d::orientation::{Orientation, OrientationCheck, Oriented, locate_any_way_round};
use cc2d::preprocess::Frame;

use crate::args::Outputs;
use crate::report::{print_scores, progress};

/// Runs `locator` over `outputs.split` of `dataset` (all of it when `dataset` holds the image
/// files named on the command line, `Outputs::files`), or only `outputs.shard` of that, as
/// `pass` says: times it, lets `post` amend the detections (e.g. a shape-model repair over
/// all of them), writes the predictions (and JSON) and scores them when the dataset is
/// labelled.
pub fn run_detector(
    locator: &(impl Locator + Sync),
    device: &Device,
    dataset: &Dataset,
    names: &[String],
    outputs: &Outputs,
    pass: Pass,
    post: impl FnOnce(&mut [Detection]),
) -> Result<()> {
    let split = if outputs.images.is_empty() { outputs.split(dataset) } else { "all" };
    let samples = dataset.split(split)?;
    let samples = outputs.shard.map_or(&samples[..], |s| s.select(&samples));
    // `--spacing` for images whose dataset gives none (a file's own, DICOM's, still comes first).
    let spaced: Vec<Sample> = samples.iter().map(|s| Sample { spacing_mm: s.spacing_mm.or(outputs.spacing), ..(*s).clone() }).collect();
    let samples: Vec<&Sample> = spaced.iter().collect();
    let samples = &samples[..];
    let start = Instant::now();
    let results = locate_samples(locator, device, samples, names, Pass { threads: outputs.threads, ..pass });
    let secs = start.elapsed().as_secs_f64();
    println!("{} images in {secs:.1} s ({:.3} s per image, wall clock)", samples.len(), secs / samples.len() as f64);
    // One image that cannot be read costs that image only: the others are written and
    // scored, the failures listed, and the command fails at the end.
    let (mut done, mut failed) = (Vec::new(), Vec::new());
    for (sample, result) in samples.iter().zip(results) {
        match result {
            Ok(d) => done.push((*sample, d)),
            Err(e) => failed.push(e.to_string()),
        }
    }
    let (done_samples, mut detections): (Vec<&Sample>, Vec<Detection>) = done.into_iter().unzip();
    for d in &detections {
        if d.recognised == Some(false) {
            eprintln!("{}: not recognised any way round (mean confidence {:.2}): not the anatomy the model knows, so its points are a guess", d.image, mean_score(d));
        } else if let Some(o) = &d.orientation {
            eprintln!("{}: found {o}; the points are in the image's own pixels", d.image);
        }
    }
    post(&mut detections);
    let predictions = write_outputs(outputs, &detections, &done_samples)?;
    if !predictions.rows.is_empty() {
        print_scores(dataset, &predictions, &[split.to_string()], None, false, failed.is_empty() && outputs.shard.is_none())?;
    }
    for e in &failed {
        eprintln!("skipped: {e}");
    }
    if !failed.is_empty() {
        bail!("{} of {} images could not be processed (listed above); the other {} were written to {}", failed.len(), samples.len(), predictions.rows.len(), outputs.out.display());
    }
    Ok(())
}

/// Runs `locator` over `samples` (each decoded on its own, shown to the locator at the scale
/// it was trained at where the image's spacing is known, and, where `pass` says, tried every
/// way round) with a progress bar: one detection, or the reason there is none, per sample,
/// in order.
pub fn locate_samples(locator: &(impl Locator + Sync), device: &Device, samples: &[&Sample], names: &[String], pass: Pass) -> Vec<cc2d::Result<Detection>> {
    detect_all(samples, pass.threads, pass.parallelism, pass.what, |s| {
        let (img, spacing) = image::load_with_spacing(&s.image_path)?;
        let spacing = spacing.or(s.spacing_mm);
        let locate = |im: &GreyImage| locator.locate_at_scale(im, spacing, device);
        let found = match &pass.orientation {
            Some(check) => locate_any_way_round(&img, check, locate)?,
            None => Oriented { found: locate(&img)?, orientation: Orientation::UPRIGHT, recognised: true },
        };
        Ok(Detection::new(&s.image_path.display().to_string(), img.width, img.height, names, found.found.clone()).with_spacing(spacing).with_orientation(&found))
    })
}

/// How a pass over the images runs: threads (default: all cores) spent as `parallelism`
/// says, a progress bar's label, and whether the detector checks which way round each image
/// is ([`cc2d::orientation`]; the detector's calibrated confidence tells).
#[derive(Clone, Copy, Debug)]
pub struct Pass<'a> {
    pub threads: Option<usize>,
    pub parallelism: Parallelism,
    pub what: &'a str,
    pub orientation: Option<OrientationCheck>,
}

impl<'a> Pass<'a> {
    pub fn new(what: &'a str, parallelism: Parallelism) -> Self {
        Self { threads: None, parallelism, what, orientation: None }
    }
}

/// How a detector spends the threads it is given.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum Parallelism {
    /// One image per thread (the NCC baseline: single-threaded per image).
    Images,
    /// The threads inside each forward (the CPU kernels split each layer into bands), with
    /// two images in flight on the one pool: while one is decoded and resized, which are
    /// mostly single-threaded, the other's forward takes the idle core (Test1 on 2 cores:
    /// 66–77 → 51–56 ms per image).
    Forward,
}

fn mean_score(d: &Detection) -> f64 {
    d.landmarks.iter().map(|l| l.score).sum::<f64>() / d.landmarks.len().max(1) as f64
}

/// Runs `detect` over samples with `threads` threads (default: all cores) spent as
/// `parallelism` says, in order, with a progress bar; one result per sample.
fn detect_all<F>(samples: &[&Sample], threads: Option<usize>, parallelism: Parallelism, what: &str, detect: F) -> Vec<cc2d::Result<Detection>>
where
    F: Fn(&Sample) -> cc2d::Result<Detection> + Sync,
{
    let threads = threads.unwrap_or_else(|| std::thread::available_parallelism().map_or(1, |n| n.get())).max(1);
    let (workers, forward_threads) = match parallelism {
        Parallelism::Images => (threads, 1),
        Parallelism::Forward => (threads.min(2), threads),
    };
    // Burn's CPU backend runs its kernels on the current rayon pool.
    let pool = rayon::ThreadPoolBuilder::new().num_threads(forward_threads).build().expect("a thread pool");
    let bar = progress(samples.len(), what);
    let next = AtomicUsize::new(0);
    let results: Vec<Mutex<Option<cc2d::Result<Detection>>>> = samples.iter().map(|_| Mutex::new(None)).collect();
    std::thread::scope(|s| {
        for _ in 0..workers {
            s.spawn(|| {
                loop {
                    let i = next.fetch_add(1, Ordering::Relaxed);
                    if i >= samples.len() {
                        break;
                    }
                    *results[i].lock().expect("no worker panicked") = Some(pool.install(|| detect(samples[i])));
                    bar.inc(1);
                }
            });
        }
    });
    bar.finish();
    results.into_iter().map(|r| r.into_inner().expect("no worker panicked").expect("every sample was processed")).collect()
}

fn write_outputs(outputs: &Outputs, detections: &[Detection], samples: &[&Sample]) -> Result<Predictions> {
    let predictions = Predictions { rows: samples.iter().zip(detections).map(|(s, d)| (s.id.clone(), d.points())).collect() };
    predictions.write_csv(&outputs.out)?;
    println!("wrote {}", outputs.out.display());
    if let Some(json) = &outputs.json {
        std::fs::write(json, serde_json::to_string_pretty(detections)?).with_context(|| format!("writing {}", json.display()))?;
        println!("wrote {}", json.display());
    }
    Ok(predictions)
}

/// Repairs outlying points with a shape model of all the detections, in model pixels (so
/// images of different sizes share one frame); says how many points moved. No labels are
/// read: the detections are their own model (leave-one-out).
pub fn repair_shapes(found: &mut [Detection], side: usize) {
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

//! Arguments several commands share: the dataset and its template, where a run's outputs go,
//! how matching decodes, the training curve. Presets and devices are the library's enums.

use std::path::{Path, PathBuf};

use anyhow::{Context, Result};
use clap::Args;

use cc2d::config::{MatchingConfig, Preset};
use cc2d::io::dataset::{Annotator, Dataset, data_root};
use cc2d::io::image::{self, GreyImage};
use cc2d::io::landmarks::Template;
use cc2d::model::DeviceKind;

/// Model weights: a file, or the shipped model's, which the binary carries (an installed
/// `cc2d` needs no checkout to find them).
#[derive(Clone, Debug)]
pub enum Weights {
    Shipped { bytes: &'static [u8], name: &'static str },
    File(PathBuf),
}

impl Weights {
    pub const EXTRACTOR: Self = Self::Shipped { bytes: include_bytes!("../../weights/ssl-small.bpk"), name: "the shipped extractor (weights/ssl-small.bpk)" };
    pub const DETECTOR: Self = Self::Shipped { bytes: include_bytes!("../../weights/tpl-small.bpk"), name: "the shipped detector (weights/tpl-small.bpk)" };

    /// `path`, else `shipped`.
    pub fn or(path: Option<&Path>, shipped: Self) -> Self {
        path.map_or(shipped, |p| Self::File(p.to_path_buf()))
    }

    /// The bytes, and a name for messages.
    pub fn read(&self) -> Result<(Vec<u8>, String)> {
        Ok(match self {
            Self::Shipped { bytes, name } => (bytes.to_vec(), name.to_string()),
            Self::File(path) => (std::fs::read(path).with_context(|| format!("{}: cannot read the weights", path.display()))?, path.display().to_string()),
        })
    }
}

impl std::fmt::Display for Weights {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::Shipped { name, .. } => f.write_str(name),
            Self::File(path) => write!(f, "{}", path.display()),
        }
    }
}

/// The dataset every command reads by default.
pub fn default_data() -> PathBuf {
    data_root().join("isbi2015")
}

/// A dataset with `annotator`'s landmarks as its ground truth (ISBI 2015 keeps each doctor's;
/// the benchmark's, the default, is the mean of the two). Refused, saying why, on a layout
/// that keeps only one set of landmarks.
pub fn open_ground_truth(data: &Path, annotator: Annotator) -> Result<Dataset> {
    if annotator == Annotator::Mean {
        return Ok(Dataset::open(data)?);
    }
    let who = clap::ValueEnum::to_possible_value(&annotator).map_or_else(String::new, |v| v.get_name().to_string());
    anyhow::ensure!(
        data.join("AnnotationsByMD").is_dir(),
        "--annotator {who} needs the ISBI 2015 layout, which keeps each annotator's landmarks (AnnotationsByMD/400_senior, 400_junior); {} has no AnnotationsByMD",
        data.display()
    );
    Ok(Dataset::isbi2015_annotated_by(data, annotator)?)
}

/// The dataset and the one labelled example: a dataset image or a template JSON file.
#[derive(Args, Clone)]
pub struct TemplateSource {
    /// Dataset folder (ISBI 2015 layout, hand10 layout, or any folder of images).
    #[arg(long, default_value_os_t = default_data())]
    pub data: PathBuf,
    /// Id of the labelled dataset image that serves as the one-shot template.
    #[arg(long, default_value = "125", conflicts_with = "template")]
    pub template_id: String,
    /// A template JSON file instead of a dataset image.
    #[arg(long)]
    pub template: Option<PathBuf>,
}

/// A dataset opened with its template resolved.
pub struct Setup {
    pub dataset: Dataset,
    pub template: Template,
    /// The template's image file (relative paths in a JSON file are relative to the file).
    pub template_path: PathBuf,
    /// The template's id in the dataset (for a JSON file: its image's file stem).
    pub template_id: String,
}

impl Setup {
    pub fn template_image(&self) -> Result<GreyImage> {
        Ok(image::load(&self.template_path)?)
    }
}

impl TemplateSource {
    pub fn dataset(&self) -> Result<Dataset> {
        Ok(Dataset::open(&self.data)?)
    }

    /// Opens the dataset and resolves the template.
    pub fn setup(&self) -> Result<Setup> {
        let dataset = self.dataset()?;
        let (template, template_path) = self.resolve(&dataset)?;
        let template_id = match &self.template {
            Some(_) => template_path.file_stem().map_or_else(String::new, |s| s.to_string_lossy().into_owned()),
            None => self.template_id.clone(),
        };
        Ok(Setup { dataset, template, template_path, template_id })
    }

    /// The template and its image's path.
    pub fn resolve(&self, dataset: &Dataset) -> Result<(Template, PathBuf)> {
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

/// The configuration and where the models run.
#[derive(Args, Clone, Copy)]
pub struct ModelArgs {
    /// The configuration preset (weights that record their configuration use their own).
    #[arg(long, value_enum, default_value_t)]
    pub preset: Preset,
    /// cpu (Burn's flex backend) or wgpu (Vulkan, Metal, DX12).
    #[arg(long, value_enum, default_value_t)]
    pub device: DeviceKind,
}

/// Which images a detector runs on and what it writes.
#[derive(Args, Clone)]
pub struct Outputs {
    /// Image files to run on instead of a dataset split (shell globs, or quoted patterns
    /// such as 'scans/*.png' that cc2d expands itself). A file that cannot be read is
    /// reported and skipped; the exit status says so at the end.
    #[arg(value_name = "IMAGE", conflicts_with = "split")]
    pub images: Vec<String>,
    /// Split of the dataset to run on (ISBI: train, test1, test2, test, all). Default: test
    /// where the dataset has one, else all (a hand10-style set, a folder of images).
    #[arg(long)]
    pub split: Option<String>,
    /// Run on shard I of N only (0 ≤ I < N; contiguous blocks of the images in order), so
    /// an archive is split across the tasks of an array job; the shards' CSVs concatenated
    /// equal one run's.
    #[arg(long, value_name = "I/N")]
    pub shard: Option<Shard>,
    /// Predictions CSV to write.
    #[arg(long, short, default_value = "predictions.csv")]
    pub out: PathBuf,
    /// Also write the detections (names, scores) as JSON.
    #[arg(long)]
    pub json: Option<PathBuf>,
    /// The images' pixel spacing (mm per pixel) where the files and the dataset give none:
    /// the detector and the matcher then see them at the scale they were trained at.
    #[arg(long, value_name = "MM")]
    pub spacing: Option<f64>,
    /// Threads (default: all cores). The Burn models use them inside each forward, two
    /// images in flight (one decoded while the other runs); the NCC baseline runs that many
    /// images at once.
    #[arg(long)]
    pub threads: Option<usize>,
}

impl Outputs {
    /// Outputs for a split of the dataset (as the pipeline runs them).
    #[cfg(feature = "train")]
    pub fn for_split(split: &str, out: PathBuf, json: Option<PathBuf>) -> Self {
        Self { images: Vec::new(), split: Some(split.to_string()), shard: None, out, json, threads: None, spacing: None }
    }

    /// The split to run on in `dataset`.
    pub fn split<'a>(&'a self, dataset: &'a Dataset) -> &'a str {
        self.split.as_deref().unwrap_or_else(|| dataset.default_split())
    }

    /// The image files named on the command line, as an unlabelled dataset (None: run on
    /// a split of the dataset). Patterns are expanded here, so they also work where no
    /// shell expands them (a scheduler's command line, Windows).
    pub fn files(&self) -> Result<Option<Dataset>> {
        if self.images.is_empty() {
            return Ok(None);
        }
        let mut paths = Vec::new();
        for arg in &self.images {
            if arg.contains(['*', '?', '[']) && !Path::new(arg).exists() {
                let before = paths.len();
                for entry in glob::glob(arg).with_context(|| format!("{arg}: not a valid pattern"))? {
                    paths.push(entry.with_context(|| format!("{arg}: cannot read a match"))?);
                }
                anyhow::ensure!(paths.len() > before, "{arg}: no file matches this pattern");
            } else {
                paths.push(PathBuf::from(arg));
            }
        }
        Ok(Some(Dataset::files(&paths)?))
    }

    /// What a run covers, for its first line ("test of isbi2015", "shard 0/4 of 12 image
    /// files"); `images` is the dataset the images come from (`files`, else the dataset).
    pub fn describe(&self, images: &Dataset) -> String {
        let what = if self.images.is_empty() { format!("{} of {}", self.split(images), images.name) } else { images.name.clone() };
        self.shard.map_or(what.clone(), |s| format!("shard {s} of {what}"))
    }
}

/// One of N equal shares of a run's images (`--shard I/N`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Shard {
    pub index: usize,
    pub count: usize,
}

impl Shard {
    /// Shard `index`'s contiguous block of `items`: every item in exactly one shard, in order.
    pub fn select<'a, T>(&self, items: &'a [T]) -> &'a [T] {
        let n = items.len();
        &items[self.index * n / self.count..(self.index + 1) * n / self.count]
    }
}

impl std::str::FromStr for Shard {
    type Err = String;
    fn from_str(s: &str) -> std::result::Result<Self, String> {
        let (i, n) = s.split_once('/').ok_or_else(|| format!("{s:?}: expected I/N, e.g. 0/4"))?;
        let (index, count): (usize, usize) =
            (i.trim().parse().map_err(|_| format!("{i:?} is not a shard index"))?, n.trim().parse().map_err(|_| format!("{n:?} is not a shard count"))?);
        if count == 0 || index >= count {
            return Err(format!("shard {index}/{count}: the index must be below the count (0/{count} … {}/{count})", count.saturating_sub(1)));
        }
        Ok(Self { index, count })
    }
}

impl std::fmt::Display for Shard {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}/{}", self.index, self.count)
    }
}

/// Which images to run on, and with which template.
#[derive(Args)]
pub struct RunArgs {
    #[command(flatten)]
    pub source: TemplateSource,
    #[command(flatten)]
    pub outputs: Outputs,
}

/// A trained model over a dataset: the images and template, the weights, the configuration
/// and device.
#[derive(Args)]
pub struct ModelRunArgs {
    #[command(flatten)]
    pub run: RunArgs,
    /// Weights (burnpack, f32 or f16). Default: the shipped model's (built in).
    #[arg(long)]
    pub weights: Option<PathBuf>,
    #[command(flatten)]
    pub model: ModelArgs,
}

/// How matching reads the similarity maps (docs/results.md, "Matching without offsets"). The defaults
/// are the shipped setting.
#[derive(Args, Clone)]
pub struct MatchingArgs {
    /// The paper's decoding as the authors' code does it (cell anchors, product of all
    /// levels, integer argmax); the other matching options then change that instead.
    #[arg(long)]
    pub paper_matching: bool,
    /// Template embeddings: `bilinear` at the landmark's exact position, or the `cell` that
    /// holds it.
    #[arg(long, value_parser = ["bilinear", "cell"])]
    pub anchors: Option<String>,
    /// Coarse-to-fine search window, in cells of each level (0: product over the whole image).
    #[arg(long)]
    pub window_cells: Option<usize>,
    /// Levels that score a position, ending at the current one (5: all).
    #[arg(long)]
    pub scoring_levels: Option<usize>,
    /// Sub-pixel refinement of the final argmax: on or off.
    #[arg(long)]
    pub subpixel: Option<bool>,
    /// Repair outliers with a shape model of all the matched images (PCA of their point
    /// sets, no labels read): a point far from where the other points place it is moved there.
    #[arg(long)]
    pub repair_shapes: bool,
}

impl MatchingArgs {
    pub fn config(&self) -> MatchingConfig {
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

/// The accuracy-vs-time curve a training run logs: training labels only, never the test sets'.
#[derive(Args, Clone, Copy)]
pub struct CurveArgs {
    /// Every N epochs (0: never), locate the landmarks of this many labelled training images
    /// and log the error to curve.csv.
    #[arg(long, default_value_t = CurveArgs::default().eval_every)]
    pub eval_every: usize,
    #[arg(long, default_value_t = CurveArgs::default().eval_images)]
    pub eval_images: usize,
}

impl Default for CurveArgs {
    fn default() -> Self {
        Self { eval_every: 5, eval_images: 30 }
    }
}

#[cfg(feature = "train")]
impl CurveArgs {
    pub const OFF: Self = Self { eval_every: 0, eval_images: 0 };

    /// Whether epoch `epoch` (1-based) logs a curve point.
    pub fn due(&self, epoch: usize) -> bool {
        self.eval_every != 0 && epoch.is_multiple_of(self.eval_every)
    }
}

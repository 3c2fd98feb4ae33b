//! Datasets on disk: the ISBI 2015 cephalometric benchmark, the `hand10` CSV layout, and a
//! plain folder of unlabelled images. A dataset holds paths and (small) annotations only;
//! images are decoded one at a time by whoever walks the samples.

use std::path::{Path, PathBuf};

use crate::error::{Error, Result};
use crate::io::landmarks::{Landmark, Point, Template, normalise_id, read_isbi_txt};

/// The 19 ISBI 2015 landmarks, in file order.
pub const ISBI_LANDMARKS: [&str; 19] = [
    "sella",
    "nasion",
    "orbitale",
    "porion",
    "subspinale",
    "supramentale",
    "pogonion",
    "menton",
    "gnathion",
    "gonion",
    "lower incisal incision",
    "upper incisal incision",
    "upper lip",
    "lower lip",
    "subnasale",
    "soft tissue pogonion",
    "posterior nasal spine",
    "anterior nasal spine",
    "articulare",
];
/// ISBI 2015 pixel spacing, millimetres per pixel.
pub const ISBI_SPACING_MM: f64 = 0.1;

/// Whose ISBI 2015 annotations are the ground truth. The benchmark's (and the paper's) is
/// the mean of the two; scoring against each shows how much of an error is the annotators'
/// own disagreement (on some landmarks they differ systematically, and differently in the
/// training and test images).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
#[cfg_attr(feature = "cli", derive(clap::ValueEnum))]
pub enum Annotator {
    /// The mean of the senior and junior annotations.
    #[default]
    Mean,
    Senior,
    Junior,
}

const IMAGE_EXTENSIONS: [&str; 8] = ["png", "jpg", "jpeg", "bmp", "tif", "tiff", "dcm", "dicom"];

/// One image of a dataset: where it is and, when labelled, its ground-truth landmarks.
#[derive(Clone, Debug, PartialEq)]
pub struct Sample {
    pub id: String,
    pub image_path: PathBuf,
    pub landmarks: Option<Vec<Point>>,
    pub spacing_mm: Option<f64>,
}

#[derive(Clone, Debug)]
pub struct Dataset {
    pub name: String,
    pub root: PathBuf,
    pub landmark_names: Vec<String>,
    pub samples: Vec<Sample>,
    /// Named subsets, as indices into `samples`; always includes `all`.
    pub splits: Vec<(String, Vec<usize>)>,
}

/// The shared data folder: `$CC2D_DATA`, else `../shared/data` from the working directory
/// (the checkout's root, where `cargo run` and `cargo test` start). Never a path baked in
/// at build time: an installed binary runs on other machines.
pub fn data_root() -> PathBuf {
    std::env::var_os("CC2D_DATA").map_or_else(|| PathBuf::from("../shared/data"), PathBuf::from)
}

impl Dataset {
    /// Opens a dataset folder, recognising its layout: ISBI 2015 (`AnnotationsByMD/`),
    /// hand10 (`landmarks_*.csv`), or else a plain folder of images without labels.
    pub fn open(root: &Path) -> Result<Self> {
        if !root.is_dir() {
            return Err(Error::Dataset { source_name: root.display().to_string(), reason: "no such folder".into() });
        }
        if root.join("AnnotationsByMD").is_dir() {
            Self::isbi2015(root)
        } else if find_landmarks_csv(root).is_some() {
            Self::hand10(root)
        } else {
            Self::folder(root)
        }
    }

    /// ISBI 2015: ground truth is the mean of the senior and junior annotations; splits from
    /// `train.txt`, `test1.txt`, `test2.txt` (and `test` = both test sets).
    pub fn isbi2015(root: &Path) -> Result<Self> {
        Self::isbi2015_annotated_by(root, Annotator::Mean)
    }

    /// [`Self::isbi2015`] with `annotator`'s landmarks as the ground truth.
    pub fn isbi2015_annotated_by(root: &Path, annotator: Annotator) -> Result<Self> {
        let ann = root.join("AnnotationsByMD");
        let k = ISBI_LANDMARKS.len();
        let mut samples = Vec::new();
        let mut ids: Vec<String> = Vec::new();
        for entry in std::fs::read_dir(root.join("images")).map_err(|e| Error::io(root.join("images"), e))? {
            let path = entry.map_err(|e| Error::io(root, e))?.path();
            if is_image(&path) {
                ids.push(normalise_id(&path.file_name().unwrap().to_string_lossy()));
            }
        }
        ids.sort();
        for id in ids {
            let senior = read_isbi_txt(&ann.join("400_senior").join(format!("{id}.txt")), k)?;
            let junior = read_isbi_txt(&ann.join("400_junior").join(format!("{id}.txt")), k)?;
            let truth = match annotator {
                Annotator::Mean => senior.iter().zip(&junior).map(|(a, b)| Point::new((a.x + b.x) / 2.0, (a.y + b.y) / 2.0)).collect(),
                Annotator::Senior => senior,
                Annotator::Junior => junior,
            };
            samples.push(Sample { image_path: find_image(&root.join("images"), &id)?, id, landmarks: Some(truth), spacing_mm: Some(ISBI_SPACING_MM) });
        }
        let mut splits = Vec::new();
        for name in ["train", "test1", "test2"] {
            let list = root.join(format!("{name}.txt"));
            let text = std::fs::read_to_string(&list).map_err(|e| Error::io(&list, e))?;
            let idx = text
                .lines()
                .filter(|l| !l.trim().is_empty())
                .map(|l| {
                    let id = normalise_id(l);
                    samples
                        .iter()
                        .position(|s| s.id == id)
                        .ok_or_else(|| Error::Dataset { source_name: list.display().to_string(), reason: format!("image {id} is listed but not in images/") })
                })
                .collect::<Result<Vec<_>>>()?;
            splits.push((name.to_string(), idx));
        }
        let test: Vec<usize> = splits[1].1.iter().chain(&splits[2].1).copied().collect();
        splits.push(("test".into(), test));
        splits.push(("all".into(), (0..samples.len()).collect()));
        Ok(Self { name: "isbi2015".into(), root: root.into(), landmark_names: ISBI_LANDMARKS.map(String::from).to_vec(), samples, splits })
    }

    /// hand10 layout: `landmarks_K.csv` (`id,x1,y1,…`, no header), `spacing_mm.csv`
    /// (`id,width,height,spacing_mm`, spacing may be `unknown`), images `<id>.<ext>`.
    pub fn hand10(root: &Path) -> Result<Self> {
        let csv_path = find_landmarks_csv(root).ok_or_else(|| Error::Dataset { source_name: root.display().to_string(), reason: "no landmarks_*.csv".into() })?;
        let labels = crate::io::landmarks::Predictions::read_csv(&csv_path)?;
        let spacing_path = root.join("spacing_mm.csv");
        let spacing_text = std::fs::read_to_string(&spacing_path).unwrap_or_default();
        let spacing_of = |id: &str| -> Option<f64> {
            spacing_text.lines().map(|l| l.split(',').map(str::trim).collect::<Vec<_>>()).find(|c| c.len() >= 4 && normalise_id(c[0]) == id).and_then(|c| c[3].parse::<f64>().ok())
        };
        let k = labels.rows.first().map_or(0, |(_, p)| p.len());
        let samples = labels
            .rows
            .into_iter()
            .map(|(id, pts)| Ok(Sample { image_path: find_image(root, &id)?, spacing_mm: spacing_of(&id), landmarks: Some(pts), id }))
            .collect::<Result<Vec<_>>>()?;
        let all = (0..samples.len()).collect();
        let name = root.file_name().map_or("dataset".into(), |n| n.to_string_lossy().into_owned());
        Ok(Self { name, root: root.into(), landmark_names: (1..=k).map(|i| format!("L{i}")).collect(), samples, splits: vec![("all".into(), all)] })
    }

    /// Any folder of images, unlabelled (for detection, or as SSL training data).
    pub fn folder(root: &Path) -> Result<Self> {
        let mut paths: Vec<PathBuf> = std::fs::read_dir(root).map_err(|e| Error::io(root, e))?.filter_map(|e| e.ok().map(|e| e.path())).filter(|p| is_image(p)).collect();
        paths.sort();
        if paths.is_empty() {
            return Err(Error::Dataset { source_name: root.display().to_string(), reason: "no PNG, JPEG, BMP, TIFF or DICOM images in this folder".into() });
        }
        let samples: Vec<Sample> =
            paths.into_iter().map(|p| Sample { id: normalise_id(&p.file_name().unwrap().to_string_lossy()), image_path: p, landmarks: None, spacing_mm: None }).collect();
        let all = (0..samples.len()).collect();
        Ok(Self { name: root.display().to_string(), root: root.into(), landmark_names: Vec::new(), samples, splits: vec![("all".into(), all)] })
    }

    /// Image files named one by one (e.g. on the command line), unlabelled, in the order
    /// given. Ids are the file stems, or the paths as given where two stems collide (so no
    /// prediction row is ambiguous). Files are not opened here: one that cannot be read
    /// fails when it is decoded, on its own.
    pub fn files(paths: &[PathBuf]) -> Result<Self> {
        if paths.is_empty() {
            return Err(Error::Dataset { source_name: "the command line".into(), reason: "no image files given".into() });
        }
        let stems: Vec<String> = paths.iter().map(|p| normalise_id(&p.file_name().map_or_else(|| p.display().to_string(), |n| n.to_string_lossy().into_owned()))).collect();
        let unique = stems.iter().collect::<std::collections::HashSet<_>>().len() == stems.len();
        let samples: Vec<Sample> = paths
            .iter()
            .zip(stems)
            .map(|(p, stem)| Sample { id: if unique { stem } else { p.display().to_string() }, image_path: p.clone(), landmarks: None, spacing_mm: None })
            .collect();
        let all = (0..samples.len()).collect();
        Ok(Self { name: format!("{} image files", samples.len()), root: PathBuf::from("."), landmark_names: Vec::new(), samples, splits: vec![("all".into(), all)] })
    }

    /// The split a detector runs on by default: the held-out images where the dataset has
    /// them (`test`), else all of them.
    pub fn default_split(&self) -> &str {
        if self.splits.iter().any(|(n, _)| n == "test") { "test" } else { "all" }
    }

    pub fn split_names(&self) -> Vec<&str> {
        self.splits.iter().map(|(n, _)| n.as_str()).collect()
    }

    /// The samples of a named split, in order.
    pub fn split(&self, name: &str) -> Result<Vec<&Sample>> {
        let (_, idx) = self
            .splits
            .iter()
            .find(|(n, _)| n == name)
            .ok_or_else(|| Error::Dataset { source_name: self.name.clone(), reason: format!("no split {name:?}; have {}", self.split_names().join(", ")) })?;
        Ok(idx.iter().map(|&i| &self.samples[i]).collect())
    }

    pub fn sample(&self, id: &str) -> Result<&Sample> {
        let id = normalise_id(id);
        self.samples.iter().find(|s| s.id == id).ok_or_else(|| Error::Dataset { source_name: self.name.clone(), reason: format!("no image with id {id:?}") })
    }

    /// Makes the one-shot template from a labelled sample (its size read from the header).
    pub fn template(&self, id: &str) -> Result<Template> {
        let s = self.sample(id)?;
        let pts = s.landmarks.as_ref().ok_or_else(|| Error::Dataset { source_name: self.name.clone(), reason: format!("image {id} has no landmarks to serve as a template") })?;
        let (width, height) = image::image_dimensions(&s.image_path).map_err(|e| Error::CorruptImage { source_name: s.image_path.display().to_string(), reason: e.to_string() })?;
        let landmarks = pts.iter().zip(&self.landmark_names).map(|(p, name)| Landmark { name: name.clone(), x: p.x, y: p.y }).collect();
        Template::new(s.image_path.display().to_string(), width, height, s.spacing_mm, landmarks)
    }
}

fn is_image(p: &Path) -> bool {
    p.extension().is_some_and(|e| IMAGE_EXTENSIONS.iter().any(|x| x.eq_ignore_ascii_case(&e.to_string_lossy())))
}

fn find_image(dir: &Path, id: &str) -> Result<PathBuf> {
    let stems = [id.to_string(), id.trim_start_matches('0').to_string()];
    for stem in &stems {
        for ext in IMAGE_EXTENSIONS {
            let p = dir.join(format!("{stem}.{ext}"));
            if p.is_file() {
                return Ok(p);
            }
        }
    }
    Err(Error::Dataset { source_name: dir.display().to_string(), reason: format!("no image file for id {id}") })
}

fn find_landmarks_csv(root: &Path) -> Option<PathBuf> {
    std::fs::read_dir(root).ok()?.filter_map(|e| e.ok().map(|e| e.path())).find(|p| {
        p.file_name().is_some_and(|n| {
            let n = n.to_string_lossy();
            n.starts_with("landmarks") && n.ends_with(".csv")
        })
    })
}

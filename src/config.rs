//! Every tunable number of the method, in one place, with named presets.

use burn::config::Config;

use crate::error::{Error, Result};
use crate::model::detector::DetectorConfig;
use crate::model::extractor::ExtractorConfig;
use crate::training::step_schedule;

/// The named configurations of both stages.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
#[cfg_attr(feature = "cli", derive(clap::ValueEnum))]
pub enum Preset {
    /// CPU training and a browser download: the shipped weights.
    #[default]
    Small,
    /// One GPU in minutes (`scripts/gpu-train.sh`).
    Wide,
    /// The paper's networks (VGG19 U-Nets).
    Paper,
}

impl Preset {
    pub fn name(self) -> &'static str {
        match self {
            Self::Small => "small",
            Self::Wide => "wide",
            Self::Paper => "paper",
        }
    }
}

impl std::fmt::Display for Preset {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.pad(self.name())
    }
}

impl std::str::FromStr for Preset {
    type Err = Error;
    fn from_str(s: &str) -> Result<Self> {
        [Self::Small, Self::Wide, Self::Paper].into_iter().find(|p| p.name() == s).ok_or_else(|| Error::Invalid(format!("unknown preset {s:?}; use small, wide or paper")))
    }
}

/// A second SSL round's default spread of the focused points around a pseudo-label
/// (standard deviation, model pixels).
pub const FOCUS_SPREAD_PX: f64 = 8.0;

/// Stage I, CC2D-SSL: the extractor, its input size, and how it is trained.
#[derive(Config, Debug, PartialEq)]
pub struct SslConfig {
    pub extractor: ExtractorConfig,
    /// Model input side (the image is resized anisotropically to `image_size`²).
    #[config(default = 384)]
    pub image_size: usize,
    /// One network for images and patches (the 2023 code) or two (the 2021 paper).
    #[config(default = true)]
    pub shared_extractor: bool,
    pub training: SslTrainingConfig,
}

#[derive(Config, Debug, PartialEq)]
pub struct SslTrainingConfig {
    /// Side of the training patch cut from the resized image.
    #[config(default = 192)]
    pub patch_size: usize,
    /// Points supervised per patch. The paper uses one; several points share one forward
    /// pass of image and patch, which multiplies the supervision per second of CPU time.
    #[config(default = 32)]
    pub points_per_patch: usize,
    /// Images (each with one patch) per optimisation step.
    #[config(default = 2)]
    pub batch_size: usize,
    /// Softmax temperature τ: similarities in [−1, 1] are multiplied by it.
    #[config(default = 10.0)]
    pub temperature: f64,
    /// Side α of the window the non-deepest levels' softmax runs over.
    #[config(default = 19)]
    pub window: usize,
    /// Points are drawn from the central fraction of the image.
    #[config(default = 0.9)]
    pub central_fraction: f64,
    /// Patch rotation: uniform in ±`rotation_degrees`.
    #[config(default = 20.0)]
    pub rotation_degrees: f64,
    #[config(default = 0.15)]
    pub brightness: f64,
    #[config(default = 0.25)]
    pub contrast: f64,
    #[config(default = 1e-3)]
    pub learning_rate: f64,
    /// The learning rate halves every this many epochs (the paper: 500 of 3500).
    #[config(default = 500)]
    pub halve_every_epochs: usize,
    #[config(default = 3500)]
    pub epochs: usize,
    #[config(default = 42)]
    pub seed: u64,
    /// A second round (the authors' 2023 code): this share of each patch's points is drawn
    /// near one of the image's round-1 pseudo-labels (the template's own landmarks for the
    /// template), so that the features learn most where landmarks are. Absent: none, all
    /// points uniform (round 1). `Option`s so that older weights still read their
    /// configuration.
    pub focus_share: Option<f64>,
    /// Standard deviation, in model pixels, of the focused points around the pseudo-label.
    pub focus_spread: Option<f64>,
}

impl SslConfig {
    pub fn preset(preset: Preset) -> Self {
        match preset {
            // What 2 CPU cores can do in about an hour (≈ 3.5 min per epoch); see docs/results.md, "CC2D-SSL: how the shipped extractor was trained".
            Preset::Small => Self::new(ExtractorConfig::small(), SslTrainingConfig::new().with_epochs(24).with_halve_every_epochs(8)),
            // One GPU in minutes: batch 8, 60 epochs.
            Preset::Wide => Self::new(ExtractorConfig::wide(), SslTrainingConfig::new().with_batch_size(8).with_epochs(60).with_halve_every_epochs(20)),
            Preset::Paper => Self::new(ExtractorConfig::paper(), SslTrainingConfig::new().with_points_per_patch(1).with_batch_size(8)).with_shared_extractor(false),
        }
    }

    /// The learning rate of an epoch (0-based): the paper's step schedule.
    pub fn learning_rate(&self, epoch: usize) -> f64 {
        step_schedule(self.training.learning_rate, 0.5, self.training.halve_every_epochs, epoch)
    }

    pub fn validate(&self) -> Result<()> {
        let t = &self.training;
        let bad = |m: String| Err(Error::Invalid(format!("SSL configuration: {m}")));
        if self.image_size == 0 || !self.image_size.is_multiple_of(32) {
            return bad(format!("image_size {} must be a positive multiple of 32", self.image_size));
        }
        if t.patch_size == 0 || !t.patch_size.is_multiple_of(32) || t.patch_size > self.image_size {
            return bad(format!("patch_size {} must be a multiple of 32, at most image_size", t.patch_size));
        }
        if t.points_per_patch == 0 || t.batch_size == 0 || t.window == 0 || t.epochs == 0 || t.halve_every_epochs == 0 {
            return bad("points_per_patch, batch_size, window, epochs and halve_every_epochs must be positive".into());
        }
        if !(t.central_fraction > 0.0 && t.central_fraction <= 1.0 && t.temperature > 0.0) {
            return bad("central_fraction must be in (0, 1] and temperature positive".into());
        }
        if !t.focus_share.is_none_or(|s| (0.0..=1.0).contains(&s)) || !t.focus_spread.is_none_or(|s| s > 0.0 && s.is_finite()) {
            return bad("focus_share must be in [0, 1] and focus_spread positive".into());
        }
        Ok(())
    }
}

/// How CC2D-SSL matching turns the cascade's similarity maps into a point (inference only:
/// the same weights serve every setting).
#[derive(Config, Debug, PartialEq)]
pub struct MatchingConfig {
    /// The template's embedding at each level: sampled bilinearly at the landmark's exact
    /// position (true), or the embedding of the cell that holds it (false, the authors' code:
    /// it pulls every match toward that coarse cell's centre, an offset shared by all queries).
    #[config(default = true)]
    pub bilinear_anchors: bool,
    /// Coarse-to-fine search: each level after the first looks only within this many of its
    /// own cells of the previous level's answer. 0: the paper's product over the whole image.
    /// 3 did best on the training labels (docs/results.md, "Matching without offsets").
    #[config(default = 3)]
    pub window_cells: usize,
    /// How many levels, ending at the current one, score a position (5: the product of all
    /// levels so far, as the paper; fewer lets the coarse levels restrict without scoring).
    #[config(default = 5)]
    pub scoring_levels: usize,
    /// Refine the final argmax to sub-pixel precision (a parabola through its neighbours).
    #[config(default = true)]
    pub subpixel: bool,
}

impl MatchingConfig {
    /// The paper's decoding as the authors' code does it: cell anchors, product, argmax.
    pub fn paper() -> Self {
        Self::new().with_bilinear_anchors(false).with_window_cells(0).with_subpixel(false)
    }

    pub fn validate(&self) -> Result<()> {
        if self.scoring_levels == 0 {
            return Err(Error::Invalid("matching: scoring_levels must be at least 1".into()));
        }
        Ok(())
    }
}

/// Stage II, CC2D-TPL: the detector and how it is trained on pseudo-labels.
#[derive(Config, Debug, PartialEq)]
pub struct TplConfig {
    pub detector: DetectorConfig,
    #[config(default = 384)]
    pub image_size: usize,
    /// Disk radius R, model pixels (the authors' code: 19 at 384, 5 % of the side).
    #[config(default = 19.0)]
    pub radius: f64,
    /// Weight of disk pixels in the heatmap BCE.
    #[config(default = 10.0)]
    pub positive_weight: f64,
    /// Pseudo-labelled images per step; the labelled template joins every batch.
    #[config(default = 3)]
    pub batch_size: usize,
    #[config(default = 3e-4)]
    pub learning_rate: f64,
    /// The learning rate is multiplied by `lr_decay` (default ½) every this many epochs.
    #[config(default = 20)]
    pub halve_every_epochs: usize,
    #[config(default = 300)]
    pub epochs: usize,
    /// The step schedule's factor (absent: ½; the authors' code: 0.1 every 30 of 90 epochs).
    /// `Option`s so that weights saved before these existed still read their configuration.
    pub lr_decay: Option<f64>,
    /// Adam's L2 weight decay (absent: none; the authors' code: 1e-4).
    pub weight_decay: Option<f64>,
    /// Augmentation that moves the landmarks with the image: rotation (degrees), scale and
    /// translation (fractions of the side), and brightness/contrast jitter.
    #[config(default = 10.0)]
    pub rotation_degrees: f64,
    #[config(default = 0.1)]
    pub scale: f64,
    #[config(default = 0.05)]
    pub translation: f64,
    #[config(default = 0.15)]
    pub brightness: f64,
    #[config(default = 0.25)]
    pub contrast: f64,
    #[config(default = 42)]
    pub seed: u64,
    /// Scale drawn log-uniformly in [low, high] instead of 1 ± `scale`: how much of the
    /// frame the anatomy fills on another device (the shift benchmark's field of view), with
    /// the part past the image's edge blank. Absent: 1 ± `scale`, edges clamped (the shipped
    /// detector's first training).
    pub scale_range: Option<[f64; 2]>,
    /// The share of samples that also get another device's look (`cc2d::shift`: collimation,
    /// overlays, soft-tissue filter, intensity and JPEG; absent: none).
    pub device_shifts: Option<f64>,
    /// The physical frame of the images it was trained on (the template's size and spacing,
    /// where known): an image of known spacing is shown to it at that scale. Absent in
    /// weights saved before it existed (then the template gives it, where there is one).
    pub physical_frame: Option<crate::locate::PhysicalFrame>,
    /// Leave out, per landmark, the batch's worst-fitting pseudo-label (the authors'
    /// alternative trainer); the template's true landmarks always count. An `Option` so that
    /// weights saved before it existed still read their configuration (absent: off).
    pub drop_worst: Option<bool>,
}

impl TplConfig {
    /// The learning rate of an epoch (0-based): × `lr_decay` every `halve_every_epochs`.
    pub fn learning_rate(&self, epoch: usize) -> f64 {
        step_schedule(self.learning_rate, self.lr_decay.unwrap_or(0.5), self.halve_every_epochs, epoch)
    }

    /// A preset for `landmarks` landmarks.
    pub fn preset(preset: Preset, landmarks: usize) -> Self {
        match preset {
            Preset::Small => Self::new(DetectorConfig::small(landmarks)).with_epochs(40),
            Preset::Wide => Self::new(DetectorConfig::wide(landmarks)).with_batch_size(7).with_epochs(60).with_halve_every_epochs(20),
            Preset::Paper => Self::new(DetectorConfig::paper(landmarks)).with_batch_size(15).with_halve_every_epochs(100),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn detector_configurations_saved_before_the_optional_fields_still_read() {
        let mut json: serde_json::Value = serde_json::to_value(TplConfig::preset(Preset::Small, 19)).unwrap();
        for field in ["drop_worst", "lr_decay", "weight_decay", "scale_range", "device_shifts", "physical_frame"] {
            json.as_object_mut().unwrap().remove(field);
        }
        let read: TplConfig = serde_json::from_value(json).expect("an older detector configuration reads");
        assert_eq!((read.drop_worst, read.lr_decay, read.weight_decay), (None, None, None));
        assert_eq!((read.scale_range, read.device_shifts), (None, None));
        assert_eq!(read.epochs, 40);
        // Absent, the schedule halves as before.
        assert_eq!(read.learning_rate(read.halve_every_epochs), read.learning_rate / 2.0);
    }

    #[test]
    fn the_authors_schedule_steps_by_a_tenth_every_30_epochs() {
        let config = TplConfig::preset(Preset::Small, 19).with_halve_every_epochs(30).with_lr_decay(Some(0.1));
        let lr: Vec<f64> = [0, 29, 30, 59, 60, 89].map(|e| config.learning_rate(e) / config.learning_rate).to_vec();
        for (got, want) in lr.iter().zip([1.0, 1.0, 0.1, 0.1, 0.01, 0.01]) {
            assert!((got - want).abs() < 1e-12, "{lr:?}");
        }
    }
}

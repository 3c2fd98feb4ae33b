//! Detection with the trained detector: image → preprocess → forward → sigmoid → offset
//! voting → original pixels. With test-time augmentation, the detector also sees shifted
//! copies of the image in the same batch; each copy's answer is shifted back and the
//! per-coordinate median is kept.

use burn::tensor::activation::sigmoid;
use burn::tensor::{Device, Tensor};

use crate::config::{Preset, TplConfig};
use crate::error::{Error, Result};
use crate::io::image::GreyImage;
use crate::io::landmarks::Point;
use crate::locate::{Locator, PhysicalFrame};
use crate::model::detector::Detector;
use crate::model::weights;
use crate::preprocess::{Frame, Similarity, preprocess};
use crate::tpl::confidence::Calibration;
use crate::tpl::voting::{VoteEvidence, vote_with_evidence};
use crate::training::batch_tensor;

/// What the detector's maps say about one located landmark, besides where it is.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Evidence {
    /// The vote's evidence, averaged over the test-time copies.
    pub vote: VoteEvidence,
    /// With test-time augmentation: the root mean square distance of the copies' answers
    /// from the median, model pixels.
    pub tta_spread: Option<f64>,
}

/// Test-time augmentation: the shifts (model pixels) of the copies the detector sees besides
/// the image itself. They are not multiples of the output stride, so each copy meets the
/// quarter-resolution heatmap at another phase.
pub const TTA_SHIFTS: [[f64; 2]; 4] = [[-6.0, -2.0], [6.0, 2.0], [-2.0, 6.0], [2.0, -6.0]];

#[derive(Clone)]
pub struct TplDetector {
    /// The trained detector, as saved and fine-tuned.
    model: Detector,
    /// The same with its batch norms folded into the convolutions, which detection runs.
    inference: Detector,
    config: TplConfig,
    /// Test-time augmentation on (see [`TTA_SHIFTS`]).
    tta: bool,
    /// The landmark names stored with exported weights.
    names: Option<Vec<String>>,
    /// Maps each landmark's evidence to P(error ≤ 4 mm); without one, the heatmap's peak.
    calibration: Option<Calibration>,
    /// The frame it was trained in (see [`Locator::physical_frame`]).
    physical_frame: Option<PhysicalFrame>,
}

impl TplDetector {
    pub fn new(model: Detector, config: TplConfig) -> Self {
        Self { inference: model.clone().fold_for_inference(), physical_frame: config.physical_frame, model, config, names: None, tta: false, calibration: None }
    }

    /// Loads detector weights held in memory. The configuration comes from the weights'
    /// metadata (else the named `preset`); weights trained for another number of landmarks
    /// than `landmarks` (when given) are refused with a message that says so.
    pub fn from_bytes(bytes: Vec<u8>, source_name: &str, preset: Preset, landmarks: Option<usize>, device: &Device) -> Result<Self> {
        let metadata = weights::metadata(&bytes, source_name)?;
        let trained: Option<TplConfig> = serde_json::from_str(weights::description_of(&metadata)).ok();
        let names: Option<Vec<String>> = metadata.get(weights::LANDMARK_NAMES).and_then(|n| serde_json::from_str(n).ok());
        let config = match (trained, landmarks) {
            (Some(c), _) => c,
            (None, Some(k)) => TplConfig::preset(preset, k),
            (None, None) => return Err(Error::Weights { source_name: source_name.to_string(), reason: "not CC2D-TPL detector weights (no detector configuration inside)".into() }),
        };
        if let Some(k) = landmarks
            && config.detector.landmarks != k
        {
            return Err(Error::LandmarkCount {
                source_name: format!("{source_name}: weights trained for {} landmarks; the template", config.detector.landmarks),
                count: k,
                expected: config.detector.landmarks,
            });
        }
        let model = weights::from_bytes(config.detector.init(device), bytes, source_name)?;
        Ok(Self {
            names: names.filter(|n| n.len() == config.detector.landmarks),
            calibration: metadata.get(weights::CONFIDENCE).and_then(|c| serde_json::from_str(c).ok()),
            ..Self::new(model, config)
        })
    }

    /// [`Self::from_bytes`] from a file.
    #[cfg(not(target_family = "wasm"))]
    pub fn load(path: &std::path::Path, preset: Preset, landmarks: Option<usize>, device: &Device) -> Result<Self> {
        let bytes = std::fs::read(path).map_err(|e| Error::io(path, e))?;
        Self::from_bytes(bytes, &path.display().to_string(), preset, landmarks, device)
    }

    /// The weights with the configuration, the landmark names and the confidence
    /// calibration: in f16 when `half` (as shipped), else f32.
    pub fn to_bytes(&self, names: &[String], half: bool) -> Result<Vec<u8>> {
        weights::to_bytes(&self.model, half, &self.description(), &self.extra_metadata(names)?)
    }

    /// [`Self::to_bytes`] to a file.
    #[cfg(not(target_family = "wasm"))]
    pub fn save(&self, path: &std::path::Path, names: &[String]) -> Result<()> {
        weights::save_with(&self.model, path, true, &self.description(), &self.extra_metadata(names)?)
    }

    fn extra_metadata(&self, names: &[String]) -> Result<Vec<(&'static str, String)>> {
        let mut extra = vec![(weights::LANDMARK_NAMES, self.names_json(names)?)];
        if let Some(c) = &self.calibration {
            extra.push((weights::CONFIDENCE, serde_json::to_string(c).expect("calibrations serialise")));
        }
        Ok(extra)
    }

    /// Sets the confidence calibration (see [`crate::tpl::confidence`]).
    pub fn with_calibration(mut self, calibration: Option<Calibration>) -> Self {
        self.calibration = calibration;
        self
    }

    pub fn calibration(&self) -> Option<&Calibration> {
        self.calibration.as_ref()
    }

    fn description(&self) -> String {
        serde_json::to_string(&self.config).expect("configurations serialise")
    }

    fn names_json(&self, names: &[String]) -> Result<String> {
        if names.len() != self.landmarks() {
            return Err(Error::LandmarkCount { source_name: "landmark names".into(), count: names.len(), expected: self.landmarks() });
        }
        Ok(serde_json::to_string(names).expect("names serialise"))
    }

    /// Names the landmarks (e.g. to carry a template's names into exported weights).
    pub fn set_landmark_names(&mut self, names: Vec<String>) {
        self.names = Some(names).filter(|n| n.len() == self.landmarks());
    }

    pub fn config(&self) -> &TplConfig {
        &self.config
    }

    pub fn model(&self) -> &Detector {
        &self.model
    }

    pub fn landmarks(&self) -> usize {
        self.config.detector.landmarks
    }

    /// The physical frame for weights that do not record theirs (trained before it was
    /// recorded): the template's, where it has a spacing.
    /// The frame is kept in the configuration, so weights saved from here record it.
    pub fn with_physical_frame_or(mut self, frame: Option<PhysicalFrame>) -> Self {
        self.physical_frame = self.physical_frame.or(frame);
        self.config.physical_frame = self.physical_frame;
        self
    }

    /// Turns test-time augmentation on or off (off by default: it costs one forward per copy).
    pub fn with_tta(mut self, tta: bool) -> Self {
        self.tta = tta;
        self
    }

    pub fn tta(&self) -> bool {
        self.tta
    }

    /// The model-pixel shifts of the copies the detector sees: the image itself first.
    fn copies(&self) -> Vec<[f64; 2]> {
        let mut shifts = vec![[0.0, 0.0]];
        if self.tta {
            shifts.extend(TTA_SHIFTS);
        }
        shifts
    }

    /// Each landmark's position (original pixels, inside the image) and what the maps say
    /// about it. In each copy the votes are shifted back; the position is the per-coordinate
    /// median over copies.
    pub fn decode_with_evidence(&self, maps: &[f32], frame: &Frame) -> Vec<(Point, Evidence)> {
        let k = self.landmarks();
        let stride = self.config.detector.output_stride();
        let side = self.config.image_size;
        let out = side / stride;
        let n = out * out;
        let copies = self.copies();
        (0..k)
            .map(|i| {
                let votes: Vec<(Point, VoteEvidence)> = copies
                    .iter()
                    .enumerate()
                    .map(|(c, [dx, dy])| {
                        let part = |m: usize| &maps[((c * 3 + m) * k + i) * n..((c * 3 + m) * k + i + 1) * n];
                        let (p, evidence) = vote_with_evidence(part(0), part(1), part(2), [out, out], stride, self.config.radius, [side, side]);
                        (Point::new(p.x - dx, p.y - dy), evidence)
                    })
                    .collect();
                let median = |mut v: Vec<f64>| {
                    v.sort_by(f64::total_cmp);
                    let m = v.len() / 2;
                    if v.len() % 2 == 1 { v[m] } else { (v[m - 1] + v[m]) / 2.0 }
                };
                let p = Point::new(median(votes.iter().map(|v| v.0.x).collect()), median(votes.iter().map(|v| v.0.y).collect()));
                let mean = |f: fn(&VoteEvidence) -> f64| votes.iter().map(|v| f(&v.1)).sum::<f64>() / votes.len() as f64;
                let vote = VoteEvidence { peak: mean(|e| e.peak), share: mean(|e| e.share), spread: mean(|e| e.spread) };
                let tta_spread = (votes.len() > 1).then(|| (votes.iter().map(|v| v.0.distance(p).powi(2)).sum::<f64>() / votes.len() as f64).sqrt());
                (frame.inside_original(frame.to_original(p)), Evidence { vote, tta_spread })
            })
            .collect()
    }
}

impl Locator for TplDetector {
    /// `[N, 3K, h, w]`: heatmap probabilities, then x and y offsets, of the image and its
    /// test-time copies.
    type Maps = Tensor<4>;

    /// The landmark names stored with the weights, else `L1`…`LK`.
    fn landmark_names(&self) -> Vec<String> {
        self.names.clone().unwrap_or_else(|| (1..=self.landmarks()).map(|i| format!("L{i}")).collect())
    }

    fn physical_frame(&self) -> Option<PhysicalFrame> {
        self.physical_frame
    }

    fn maps(&self, image: &GreyImage, device: &Device) -> (Tensor<4>, Frame) {
        let side = self.config.image_size as u32;
        let input = preprocess(image, [side, side]);
        // The image itself, then its shifted copies (an identity warp would cost a resample).
        let copies: Vec<GreyImage> = self
            .copies()
            .iter()
            .map(|&[x, y]| if x == 0.0 && y == 0.0 { input.image.clone() } else { Similarity::about_centre(side, side, 0.0, 1.0, Point::new(x, y)).warp(&input.image) })
            .collect();
        let batch = batch_tensor(&copies.iter().map(|c| c.pixels.as_slice()).collect::<Vec<_>>(), side as usize, device);
        let out = self.inference.forward(batch);
        (Tensor::cat(vec![sigmoid(out.heatmap_logits), out.offset_x, out.offset_y], 1), input.frame)
    }

    /// Votes each landmark's position from the read-back maps; original pixels + confidence
    /// (calibrated when the weights carry a calibration, else the heatmap's peak).
    fn decode(&self, maps: &Vec<f32>, frame: &Frame) -> Vec<(Point, f64)> {
        self.decode_with_evidence(maps, frame).into_iter().enumerate().map(|(k, (p, e))| (p, self.calibration.as_ref().map_or(e.vote.peak, |c| c.confidence(&e, k)))).collect()
    }
}

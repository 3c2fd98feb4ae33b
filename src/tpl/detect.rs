//! Detection with the trained detector: image → preprocess → forward → sigmoid → offset
//! voting → original pixels.

use burn::tensor::activation::sigmoid;
use burn::tensor::{Device, Tensor};

use crate::config::TplConfig;
use crate::error::{Error, Result};
use crate::model::weights;
use crate::io::image::GreyImage;
use crate::io::landmarks::Point;
use crate::model::detector::Detector;
use crate::model::image_tensor;
use crate::preprocess::{Frame, preprocess};
use crate::tpl::voting::vote;

pub struct TplDetector {
    model: Detector,
    config: TplConfig,
    /// The landmark names stored with exported weights.
    names: Option<Vec<String>>,
}

impl TplDetector {
    pub fn new(model: Detector, config: TplConfig) -> Self {
        Self { model, config, names: None }
    }

    /// Loads detector weights held in memory. The configuration comes from the weights'
    /// metadata (else the named `preset`); weights trained for another number of landmarks
    /// than `landmarks` (when given) are refused with a message that says so.
    pub fn from_bytes(bytes: Vec<u8>, source_name: &str, preset: &str, landmarks: Option<usize>, device: &Device) -> Result<Self> {
        let metadata = weights::metadata(&bytes, source_name)?;
        let trained: Option<TplConfig> = serde_json::from_str(weights::description_of(&metadata)).ok();
        let names: Option<Vec<String>> = metadata.get(weights::LANDMARK_NAMES).and_then(|n| serde_json::from_str(n).ok());
        let config = match (trained, landmarks) {
            (Some(c), _) => c,
            (None, Some(k)) => TplConfig::preset(preset, k)?,
            (None, None) => return Err(Error::Invalid(format!("{source_name}: not CC2D-TPL detector weights (no detector configuration inside)"))),
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
        let names = names.filter(|n| n.len() == config.detector.landmarks);
        Ok(Self { model, config, names })
    }

    /// [`Self::from_bytes`] from a file.
    #[cfg(not(target_family = "wasm"))]
    pub fn load(path: &std::path::Path, preset: &str, landmarks: Option<usize>, device: &Device) -> Result<Self> {
        let bytes = std::fs::read(path).map_err(|e| Error::io(path, e))?;
        Self::from_bytes(bytes, &path.display().to_string(), preset, landmarks, device)
    }

    /// The weights as shipped: f16, with the configuration and the landmark names.
    pub fn to_bytes(&self, names: &[String]) -> Result<Vec<u8>> {
        weights::to_bytes(&self.model, true, &self.description(), &[(weights::LANDMARK_NAMES, self.names_json(names)?)])
    }

    /// [`Self::to_bytes`] to a file.
    #[cfg(not(target_family = "wasm"))]
    pub fn save(&self, path: &std::path::Path, names: &[String]) -> Result<()> {
        weights::save_with(&self.model, path, true, &self.description(), &[(weights::LANDMARK_NAMES, self.names_json(names)?)])
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

    /// The landmark names stored with the weights, else `L1`…`LK`.
    pub fn landmark_names(&self) -> Vec<String> {
        self.names.clone().unwrap_or_else(|| (1..=self.landmarks()).map(|i| format!("L{i}")).collect())
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

    /// The output maps `[1, 3K, h, w]` (heatmap probabilities, then x and y offsets) and the
    /// frame back to the image. Read-back is the caller's (sync natively, async in a browser).
    pub fn maps(&self, image: &GreyImage, device: &Device) -> (Tensor<4>, Frame) {
        let side = self.config.image_size as u32;
        let input = preprocess(image, [side, side]);
        let out = self.model.forward(image_tensor(&input, device));
        (Tensor::cat(vec![sigmoid(out.heatmap_logits), out.offset_x, out.offset_y], 1), input.frame)
    }

    /// Votes each landmark's position from the read-back maps; original pixels + confidence.
    pub fn decode(&self, maps: &[f32], frame: &Frame) -> Vec<(Point, f64)> {
        let k = self.landmarks();
        let stride = self.config.detector.output_stride();
        let side = self.config.image_size;
        let out = side / stride;
        let n = out * out;
        (0..k)
            .map(|i| {
                let part = |m: usize| &maps[(m * k + i) * n..(m * k + i + 1) * n];
                let (p, confidence) = vote(part(0), part(1), part(2), [out, out], stride, self.config.radius, [side, side]);
                (frame.to_original(p), confidence)
            })
            .collect()
    }

    #[cfg(not(target_family = "wasm"))]
    pub fn locate(&self, image: &GreyImage, device: &Device) -> Result<Vec<(Point, f64)>> {
        let (maps, frame) = self.maps(image, device);
        let data = maps.into_data().try_to_vec::<f32>().map_err(|e| Error::Invalid(format!("reading detector maps: {e:?}")))?;
        Ok(self.decode(&data, &frame))
    }
}

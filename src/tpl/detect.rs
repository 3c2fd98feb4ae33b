//! Detection with the trained detector: image → preprocess → forward → sigmoid → offset
//! voting → original pixels.

use burn::tensor::activation::sigmoid;
use burn::tensor::{Device, Tensor};

use crate::config::TplConfig;
use crate::io::image::GreyImage;
use crate::io::landmarks::Point;
use crate::model::detector::Detector;
use crate::model::image_tensor;
use crate::preprocess::{Frame, preprocess};
use crate::tpl::voting::vote;

pub struct TplDetector {
    model: Detector,
    config: TplConfig,
}

impl TplDetector {
    pub fn new(model: Detector, config: TplConfig) -> Self {
        Self { model, config }
    }

    /// Loads detector weights for a template of `landmarks` landmarks, refusing weights
    /// trained for another number of landmarks with a message that says so.
    #[cfg(not(target_family = "wasm"))]
    pub fn load(path: &std::path::Path, preset: &str, landmarks: usize, device: &Device) -> crate::Result<Self> {
        let trained: Option<TplConfig> = serde_json::from_str(&crate::model::weights::description(path)?).ok();
        if let Some(trained) = &trained
            && trained.detector.landmarks != landmarks
        {
            return Err(crate::Error::LandmarkCount {
                source_name: format!("{}: weights trained for {} landmarks; the template", path.display(), trained.detector.landmarks),
                count: landmarks,
                expected: trained.detector.landmarks,
            });
        }
        let config = match trained {
            Some(c) => c,
            None => TplConfig::preset(preset, landmarks)?,
        };
        let model = crate::model::weights::load(config.detector.init(device), path)?;
        Ok(Self::new(model, config))
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
    pub fn locate(&self, image: &GreyImage, device: &Device) -> crate::Result<Vec<(Point, f64)>> {
        let (maps, frame) = self.maps(image, device);
        let data = maps.into_data().try_to_vec::<f32>().map_err(|e| crate::Error::Invalid(format!("reading detector maps: {e:?}")))?;
        Ok(self.decode(&data, &frame))
    }
}

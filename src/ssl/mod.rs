//! Stage I of CC2D: self-supervised cascade embeddings (training) and cascade matching
//! against the one template (inference, which yields the pseudo-labels).

pub mod advice;
pub mod loss;
pub mod matching;
pub mod sampling;
pub mod shape;
#[cfg(feature = "train")]
pub mod train;

use burn::module::Module;
use burn::tensor::{Device, Tensor};

use crate::config::{Preset, SslConfig};
use crate::error::Result;
use crate::model::blocks::VggEncoder;
use crate::model::extractor::Extractor;
pub use crate::model::extractor::level_factor;
use crate::model::weights;

/// The SSL network(s): E_r for whole images and E_p for patches and the template, one
/// shared network when configured so.
#[derive(Module, Debug)]
pub struct SslModel {
    image: Extractor,
    patch: Option<Extractor>,
}

impl SslModel {
    pub fn new(config: &SslConfig, device: &Device) -> Self {
        let image = config.extractor.init(device);
        let patch = (!config.shared_extractor).then(|| config.extractor.init(device));
        Self { image, patch }
    }

    /// Loads extractor weights held in memory, with the configuration they were trained
    /// with: the weights' metadata, else the named `preset` (as [`crate::tpl::detect::TplDetector`]).
    pub fn from_bytes(bytes: Vec<u8>, source_name: &str, preset: Preset, device: &Device) -> Result<(Self, SslConfig)> {
        let metadata = weights::metadata(&bytes, source_name)?;
        let config = serde_json::from_str(weights::description_of(&metadata)).unwrap_or_else(|_| SslConfig::preset(preset));
        Ok((weights::from_bytes(Self::new(&config, device), bytes, source_name)?, config))
    }

    /// [`Self::from_bytes`] from a file.
    #[cfg(not(target_family = "wasm"))]
    pub fn load(path: &std::path::Path, preset: Preset, device: &Device) -> Result<(Self, SslConfig)> {
        let bytes = std::fs::read(path).map_err(|e| crate::Error::io(path, e))?;
        Self::from_bytes(bytes, &path.display().to_string(), preset, device)
    }

    /// The extractors for matching ([`Extractor::fold_for_inference`]): the same embeddings,
    /// fewer kernels and multiplies.
    pub fn fold_for_inference(self) -> Self {
        Self { image: self.image.fold_for_inference(), patch: self.patch.map(Extractor::fold_for_inference) }
    }

    /// E_r's encoder (to initialise the detector's with).
    pub fn image_encoder(&self) -> VggEncoder {
        self.image.encoder()
    }

    /// E_r: the cascade of a query image, coarse to fine.
    pub fn embed_image(&self, x: Tensor<4>) -> Vec<Tensor<4>> {
        self.image.forward(x)
    }

    /// E_p: the cascade of a patch (in training) or of the template image (in matching).
    pub fn embed_patch(&self, x: Tensor<4>) -> Vec<Tensor<4>> {
        self.patch.as_ref().unwrap_or(&self.image).forward(x)
    }
}

/// The cell of a level's map that holds pixel coordinate `x` (pixel centres at integers).
pub fn level_cell(x: f64, factor: usize, cells: usize) -> usize {
    (((x + 0.5) / factor as f64).floor().max(0.0) as usize).min(cells - 1)
}

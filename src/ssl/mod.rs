//! Stage I of CC2D: self-supervised cascade embeddings (training) and cascade matching
//! against the one template (inference, which yields the pseudo-labels).

pub mod loss;
pub mod matching;
pub mod sampling;
pub mod shape;
pub mod train;

use burn::module::Module;
use burn::tensor::{Device, Tensor};

use crate::config::SslConfig;
use crate::model::extractor::Extractor;

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

    /// E_r's encoder (to initialise the detector's with).
    pub fn image_encoder(&self) -> Vec<crate::model::blocks::ConvStack> {
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

/// The downsampling factor of cascade level `level` (0 = deepest): 32, 16, 8, 4, 2.
pub fn level_factor(level: usize) -> usize {
    32 >> level
}

/// The cell of a level's map that holds pixel coordinate `x` (pixel centres at integers).
pub fn level_cell(x: f64, factor: usize, cells: usize) -> usize {
    (((x + 0.5) / factor as f64).floor().max(0.0) as usize).min(cells - 1)
}

//! The CC2D-SSL feature extractor (paper Fig. 2 and 5): a VGG-style encoder, a U-Net
//! decoder with skips, receptive-field blocks on the deepest levels, and a 1×1 projection
//! to an embedding of length L at each cascade level, from 1/32 (coarse) to 1/2 (fine).

use burn::config::Config;
use burn::module::Module;
use burn::nn::conv::{Conv2d, Conv2dConfig};
use burn::tensor::{Device, Tensor};

use crate::model::blocks::{ReceptiveFieldBlock, ReceptiveFieldBlockConfig, UnetDecoder, UnetDecoderConfig, VggEncoder, VggEncoderConfig};

/// Number of cascade levels: 1/32, 1/16, 1/8, 1/4, 1/2 (the encoder's bottom, then the
/// decoder's four levels).
pub const CASCADE_LEVELS: usize = 5;

/// The downsampling factor of cascade level `level` (0 = deepest): 32, 16, 8, 4, 2.
pub fn level_factor(level: usize) -> usize {
    1 << (CASCADE_LEVELS - level)
}

#[derive(Config, Debug, PartialEq)]
pub struct ExtractorConfig {
    /// Encoder stage widths, full resolution to 1/16 (VGG19: 64, 128, 256, 512, 512).
    pub encoder_widths: [usize; 5],
    /// 3×3 convolutions per encoder stage (VGG19: 2, 2, 4, 4, 4).
    pub encoder_depths: [usize; 5],
    /// Decoder widths at 1/16, 1/8, 1/4, 1/2.
    pub decoder_widths: [usize; 4],
    /// 3×3 convolutions per decoder level.
    #[config(default = 2)]
    pub decoder_depth: usize,
    /// Embedding length L.
    #[config(default = 16)]
    pub embedding: usize,
    /// How many of the deepest levels get a receptive-field block.
    #[config(default = 3)]
    pub rfb_levels: usize,
    /// Batch norm in the decoder and heads (the encoder is plain VGG, as in the paper).
    #[config(default = true)]
    pub batch_norm: bool,
}

impl ExtractorConfig {
    /// The paper's network: VGG19 widths and depths, L = 16 (≈ 58 M parameters).
    pub fn paper() -> Self {
        Self::new([64, 128, 256, 512, 512], [2, 2, 4, 4, 4], [512, 256, 128, 64])
    }

    /// Sized for CPU training and a browser download (about 1.2 M parameters, ≈ 2.4 MB in
    /// f16). Flex's convolutions cost most at full and half resolution, so the first two
    /// stages are one narrow convolution each and the decoder narrows as it grows; the depth
    /// is kept at 1/4…1/16 where the features that tell anatomy apart are formed. No batch
    /// norm: a CPU training step sees two images and two patches, too few for stable
    /// statistics.
    pub fn small() -> Self {
        Self::new([16, 32, 64, 96, 128], [1, 1, 2, 2, 2], [96, 64, 32, 16]).with_decoder_depth(1).with_batch_norm(false)
    }

    /// For one GPU (the `wide` preset): twice the small widths, two convolutions per stage
    /// and at each decoder level, about 5 M parameters.
    pub fn wide() -> Self {
        Self::new([32, 64, 128, 192, 256], [2, 2, 2, 2, 2], [192, 128, 64, 32]).with_decoder_depth(2).with_batch_norm(false)
    }

    pub fn encoder(&self) -> VggEncoderConfig {
        VggEncoderConfig::new(self.encoder_widths, self.encoder_depths)
    }

    pub fn decoder(&self) -> UnetDecoderConfig {
        UnetDecoderConfig::new(self.encoder_widths, self.decoder_widths.to_vec()).with_depth(self.decoder_depth).with_batch_norm(self.batch_norm)
    }

    pub fn init(&self, device: &Device) -> Extractor {
        let decoder = self.decoder();
        let heads = decoder
            .level_widths()
            .enumerate()
            .map(|(level, w)| EmbeddingHead {
                rfb: (level < self.rfb_levels).then(|| ReceptiveFieldBlockConfig::new(w, w).with_batch_norm(self.batch_norm).init(device)),
                project: Conv2dConfig::new([w, self.embedding], [1, 1]).init(device),
            })
            .collect();
        Extractor { encoder: self.encoder().init(device), decoder: decoder.init(device), heads }
    }
}

/// One cascade level's output: receptive-field block (deep levels) then a 1×1 projection.
#[derive(Module, Debug)]
pub struct EmbeddingHead {
    rfb: Option<ReceptiveFieldBlock>,
    project: Conv2d,
}

impl EmbeddingHead {
    fn forward(&self, x: Tensor<4>) -> Tensor<4> {
        let x = match &self.rfb {
            Some(rfb) => rfb.forward(x),
            None => x,
        };
        self.project.forward(x)
    }

    fn fold_batch_norm(self) -> Self {
        Self { rfb: self.rfb.map(ReceptiveFieldBlock::fold_batch_norm), ..self }
    }
}

#[derive(Module, Debug)]
pub struct Extractor {
    encoder: VggEncoder,
    decoder: UnetDecoder,
    heads: Vec<EmbeddingHead>,
}

impl Extractor {
    /// The encoder, to initialise a detector with.
    pub fn encoder(&self) -> VggEncoder {
        self.encoder.clone()
    }

    /// `[B, 1, H, W]` grey (H, W multiples of 32) → the cascade of embeddings, coarse to fine:
    /// `[B, L, H/32, W/32]`, `[B, L, H/16, W/16]`, …, `[B, L, H/2, W/2]`.
    pub fn forward(&self, image: Tensor<4>) -> Vec<Tensor<4>> {
        // On the CPU, the pool's threads wait for the forward's loops spinning (`parallel`).
        crate::parallel::spinning(&image.device(), || {
            let encoded = self.encoder.forward(image);
            let bottom = encoded.bottom.clone();
            let levels = std::iter::once(bottom).chain(self.decoder.forward(encoded));
            levels.zip(&self.heads).map(|(x, head)| head.forward(x)).collect()
        })
    }

    /// The extractor for matching, its batch norms folded into the convolutions and its
    /// first layer into one input channel ([`VggEncoder::fold_for_inference`]): the same
    /// embeddings.
    pub fn fold_for_inference(self) -> Self {
        Self { encoder: self.encoder.fold_for_inference(), decoder: self.decoder.fold_batch_norm(), heads: self.heads.into_iter().map(EmbeddingHead::fold_batch_norm).collect() }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn check_shapes(config: &ExtractorConfig, size: usize) -> usize {
        let device = Device::flex();
        let model = config.init(&device);
        let cascade = model.forward(Tensor::zeros([1, 3, size, size], &device));
        assert_eq!(cascade.len(), CASCADE_LEVELS);
        for (level, f) in cascade.iter().enumerate() {
            let side = size >> (5 - level);
            assert_eq!(f.dims(), [1, config.embedding, side, side], "level {level}");
        }
        model.num_params()
    }

    #[test]
    fn small_preset_shapes_at_every_level() {
        let params = check_shapes(&ExtractorConfig::small(), 64);
        assert!(params < 2_500_000, "{params} parameters");
    }

    #[test]
    fn paper_preset_builds_and_runs() {
        let params = check_shapes(&ExtractorConfig::paper(), 32);
        // The note's ≈ 58 M for the paper's two extractors' worth of VGG19 U-Net.
        assert!((20_000_000..70_000_000).contains(&params), "{params} parameters");
    }
}

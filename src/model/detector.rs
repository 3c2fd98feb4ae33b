//! The CC2D-TPL detector (paper Fig. 3): a U-Net with a VGG-style encoder and, per landmark,
//! three output maps: a heatmap (logits) and x/y offsets to the landmark in units of R.
//!
//! The maps need not be full resolution: each output pixel's offset points at the landmark
//! with sub-pixel precision, so the small preset stops the decoder at 1/4 and skips the
//! costliest full-resolution layers.

use burn::config::Config;
use burn::module::Module;
use burn::nn::conv::{Conv2d, Conv2dConfig};
use burn::tensor::{Device, Tensor};

use crate::error::{Error, Result};
use crate::model::blocks::{ENCODER_STAGES, UnetDecoder, UnetDecoderConfig, VggEncoder, VggEncoderConfig};

#[derive(Config, Debug, PartialEq)]
pub struct DetectorConfig {
    /// Number of landmarks K (from the template).
    pub landmarks: usize,
    /// Encoder stage widths, full resolution to 1/16 (VGG19: 64, 128, 256, 512, 512).
    pub encoder_widths: [usize; 5],
    pub encoder_depths: [usize; 5],
    /// Decoder widths from 1/16 upwards; their number sets the output stride
    /// (3 levels: 1/4; 5 levels: full resolution).
    pub decoder_widths: Vec<usize>,
    #[config(default = 2)]
    pub decoder_depth: usize,
    #[config(default = true)]
    pub batch_norm: bool,
}

impl DetectorConfig {
    /// The paper's multi-task U-Net: VGG19 encoder, decoder to full resolution.
    pub fn paper(landmarks: usize) -> Self {
        Self::new(landmarks, [64, 128, 256, 512, 512], [2, 2, 4, 4, 4], vec![512, 256, 128, 64, 64])
    }

    /// For CPUs and browsers: the small extractor's encoder (so it can start from the SSL
    /// weights), decoder to 1/4 (96×96 maps at 384): no full- or half-resolution layers
    /// beyond the first two single convolutions.
    pub fn small(landmarks: usize) -> Self {
        Self::new(landmarks, [16, 32, 64, 96, 128], [1, 1, 2, 2, 2], vec![96, 64, 48]).with_decoder_depth(1)
    }

    /// For one GPU (the `wide` preset): the wide extractor's encoder, decoder to 1/4.
    pub fn wide(landmarks: usize) -> Self {
        Self::new(landmarks, [32, 64, 128, 192, 256], [2, 2, 2, 2, 2], vec![192, 128, 96]).with_decoder_depth(2)
    }

    /// Model pixels per output pixel.
    pub fn output_stride(&self) -> usize {
        (1 << ENCODER_STAGES) >> self.decoder_widths.len()
    }

    /// The same detector with its output at `stride` (1, 2, 4, 8 or 16): decoder levels are
    /// dropped from the fine end, or added there as wide as the encoder skip they join
    /// (a finer head, for SDR@2, at the cost of the added full- or half-resolution layers).
    pub fn with_output_stride(mut self, stride: usize) -> Result<Self> {
        // Each decoder level halves the stride from the bottom's 32: `levels` = 5 − log2(stride).
        if !stride.is_power_of_two() || stride >= 1 << ENCODER_STAGES {
            return Err(Error::Invalid(format!("output stride {stride}: must be 1, 2, 4, 8 or 16")));
        }
        let levels = ENCODER_STAGES - stride.trailing_zeros() as usize;
        self.decoder_widths.truncate(levels);
        while self.decoder_widths.len() < levels {
            self.decoder_widths.push(self.encoder_widths[ENCODER_STAGES - 1 - self.decoder_widths.len()]);
        }
        Ok(self)
    }

    pub fn encoder(&self) -> VggEncoderConfig {
        VggEncoderConfig::new(self.encoder_widths, self.encoder_depths)
    }

    pub fn decoder(&self) -> UnetDecoderConfig {
        UnetDecoderConfig::new(self.encoder_widths, self.decoder_widths.clone()).with_depth(self.decoder_depth).with_batch_norm(self.batch_norm)
    }

    pub fn init(&self, device: &Device) -> Detector {
        let decoder = self.decoder();
        let head = Conv2dConfig::new([decoder.output_width(), 3 * self.landmarks], [1, 1]).init(device);
        Detector { encoder: self.encoder().init(device), decoder: decoder.init(device), head, landmarks: self.landmarks }
    }
}

/// The detector's raw outputs at the output stride.
pub struct DetectorOutput {
    /// `[B, K, h, w]` logits (sigmoid gives the heatmap).
    pub heatmap_logits: Tensor<4>,
    /// `[B, K, h, w]` each: offset from the pixel to the landmark, in units of R.
    pub offset_x: Tensor<4>,
    pub offset_y: Tensor<4>,
}

#[derive(Module, Debug)]
pub struct Detector {
    encoder: VggEncoder,
    decoder: UnetDecoder,
    head: Conv2d,
    landmarks: usize,
}

impl Detector {
    pub fn forward(&self, image: Tensor<4>) -> DetectorOutput {
        // On the CPU, the pool's threads wait for the forward's loops spinning (`parallel`).
        let maps = crate::parallel::spinning(&image.device(), || {
            let top = self.decoder.forward(self.encoder.forward(image)).pop().expect("at least one decoder level");
            self.head.forward(top)
        });
        let [b, _, h, w] = maps.dims();
        let k = self.landmarks;
        DetectorOutput {
            heatmap_logits: maps.clone().slice([0..b, 0..k, 0..h, 0..w]),
            offset_x: maps.clone().slice([0..b, k..2 * k, 0..h, 0..w]),
            offset_y: maps.slice([0..b, 2 * k..3 * k, 0..h, 0..w]),
        }
    }

    /// The detector for inference, its batch norms folded into the convolutions and its
    /// first layer into one input channel ([`VggEncoder::fold_for_inference`]): the same
    /// maps.
    pub fn fold_for_inference(self) -> Self {
        Self { encoder: self.encoder.fold_for_inference(), decoder: self.decoder.fold_batch_norm(), ..self }
    }

    pub fn landmarks(&self) -> usize {
        self.landmarks
    }

    pub fn encoder(self) -> VggEncoder {
        self.encoder
    }

    /// Starts from another network's encoder (the trained SSL extractor's, instead of the
    /// paper's ImageNet VGG19, which we cannot get). The encoders' layouts must match.
    pub fn with_encoder(mut self, encoder: VggEncoder) -> Self {
        self.encoder = encoder;
        self
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn output_maps_have_the_configured_stride_and_landmark_count() {
        let device = Device::flex();
        let finer = DetectorConfig::small(19).with_output_stride(2).unwrap();
        assert_eq!(finer.decoder_widths, [96, 64, 48, 32], "the added level is as wide as the 1/2 skip");
        assert_eq!(DetectorConfig::small(19).with_output_stride(8).unwrap().decoder_widths, [96, 64]);
        assert_eq!(DetectorConfig::small(19).with_output_stride(1).unwrap().decoder_widths, [96, 64, 48, 32, 16], "full resolution");
        for bad in [0, 3, 32] {
            assert!(DetectorConfig::small(19).with_output_stride(bad).is_err(), "stride {bad}");
        }
        for (config, stride) in [(DetectorConfig::small(19), 4), (DetectorConfig::paper(7), 1), (finer, 2)] {
            assert_eq!(config.output_stride(), stride);
            let out = config.init(&device).forward(Tensor::zeros([1, 3, 64, 64], &device));
            let side = 64 / stride;
            for m in [&out.heatmap_logits, &out.offset_x, &out.offset_y] {
                assert_eq!(m.dims(), [1, config.landmarks, side, side]);
            }
        }
    }

    /// Detection runs the folded detector on the grey image itself: the maps of the detector
    /// as trained (grey repeated to three channels), to rounding.
    #[test]
    fn the_folded_detector_gives_the_same_maps_from_one_grey_channel() {
        use burn::tensor::Distribution;
        let device = Device::flex();
        let detector = DetectorConfig::new(2, [4, 4, 8, 8, 8], [1, 1, 1, 1, 1], vec![8, 8, 8]).init(&device);
        let grey = Tensor::<4>::random([1, 1, 64, 64], Distribution::Uniform(0.0, 1.0), &device);
        let maps = |d: &Detector, x: Tensor<4>| {
            let o = d.forward(x);
            Tensor::cat(vec![o.heatmap_logits, o.offset_x, o.offset_y], 1).into_data().try_to_vec::<f32>().unwrap()
        };
        let trained = maps(&detector, grey.clone());
        assert_eq!(trained, maps(&detector, grey.clone().repeat_dim(1, 3)), "grey is repeated to the three channels");
        let folded = detector.fold_for_inference();
        assert_eq!(folded.encoder.input_channels(), 1);
        let diff = trained.iter().zip(maps(&folded, grey)).map(|(a, b)| (a - b).abs()).fold(0.0f32, f32::max);
        assert!(diff < 1e-5, "{diff}");
    }
}

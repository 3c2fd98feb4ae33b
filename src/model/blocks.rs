//! Building blocks shared by the CC2D networks, each a `Config` that builds a `Module`: the
//! VGG-style encoder and the U-Net decoder both networks are made of, the convolution
//! stacks inside them, and the receptive-field block of the extractor's deep levels.

use burn::config::Config;
use burn::module::Module;
use burn::nn::conv::{Conv2d, Conv2dConfig};
use burn::nn::pool::{MaxPool2d, MaxPool2dConfig};
use burn::nn::{BatchNorm, BatchNormConfig, PaddingConfig2d, Relu};
use burn::tensor::module::interpolate;
use burn::tensor::ops::{InterpolateMode, InterpolateOptions};
use burn::tensor::{Device, Tensor};

/// Encoder stages: full resolution, 1/2, 1/4, 1/8, 1/16 (a 2×2 pooling after each, so the
/// bottom is at 1/32).
pub const ENCODER_STAGES: usize = 5;

/// Convolution (+ batch norm) + ReLU, padded to keep the size.
#[derive(Config, Debug)]
pub struct ConvBlockConfig {
    pub channels: [usize; 2],
    pub kernel: [usize; 2],
    #[config(default = 1)]
    pub dilation: usize,
    #[config(default = true)]
    pub batch_norm: bool,
}

impl ConvBlockConfig {
    pub fn init(&self, device: &Device) -> ConvBlock {
        let [ph, pw] = self.kernel.map(|k| (k / 2) * self.dilation);
        let conv = Conv2dConfig::new(self.channels, self.kernel)
            .with_dilation([self.dilation, self.dilation])
            .with_padding(PaddingConfig2d::Explicit(ph, pw, ph, pw))
            .with_bias(!self.batch_norm)
            .init(device);
        let norm = self.batch_norm.then(|| BatchNormConfig::new(self.channels[1]).init(device));
        ConvBlock { conv, norm, relu: Relu::new() }
    }
}

#[derive(Module, Debug)]
pub struct ConvBlock {
    conv: Conv2d,
    norm: Option<BatchNorm>,
    relu: Relu,
}

impl ConvBlock {
    pub fn forward(&self, x: Tensor<4>) -> Tensor<4> {
        let x = self.conv.forward(x);
        let x = match &self.norm {
            Some(norm) => norm.forward(x),
            None => x,
        };
        self.relu.forward(x)
    }
}

/// `depth` 3×3 [`ConvBlock`]s of `width` channels, the first taking `input`.
#[derive(Config, Debug)]
pub struct ConvStackConfig {
    pub input: usize,
    pub width: usize,
    pub depth: usize,
    #[config(default = true)]
    pub batch_norm: bool,
}

impl ConvStackConfig {
    pub fn init(&self, device: &Device) -> ConvStack {
        let blocks = (0..self.depth)
            .map(|i| ConvBlockConfig::new([if i == 0 { self.input } else { self.width }, self.width], [3, 3]).with_batch_norm(self.batch_norm).init(device))
            .collect();
        ConvStack { blocks }
    }
}

#[derive(Module, Debug)]
pub struct ConvStack {
    blocks: Vec<ConvBlock>,
}

impl ConvStack {
    pub fn forward(&self, x: Tensor<4>) -> Tensor<4> {
        self.blocks.iter().fold(x, |x, b| b.forward(x))
    }
}

/// The VGG-style encoder (paper Fig. 2 and 3): per stage, `depths[s]` 3×3 convolutions of
/// `widths[s]` channels, plain (no batch norm, as VGG), then 2×2 max-pooling.
#[derive(Config, Debug)]
pub struct VggEncoderConfig {
    pub widths: [usize; ENCODER_STAGES],
    pub depths: [usize; ENCODER_STAGES],
}

impl VggEncoderConfig {
    pub fn init(&self, device: &Device) -> VggEncoder {
        let inputs = std::iter::once(3).chain(self.widths);
        let stages =
            inputs.zip(self.widths).zip(self.depths).map(|((input, width), depth)| ConvStackConfig::new(input, width, depth).with_batch_norm(false).init(device)).collect();
        VggEncoder { stages, pool: MaxPool2dConfig::new([2, 2]).init() }
    }
}

#[derive(Module, Debug)]
pub struct VggEncoder {
    stages: Vec<ConvStack>,
    pool: MaxPool2d,
}

/// The encoder's outputs: the pooled bottom (1/32) and every stage's output before pooling
/// (the U-Net skips, full resolution to 1/16).
pub struct Encoded {
    pub bottom: Tensor<4>,
    pub skips: Vec<Tensor<4>>,
}

impl VggEncoder {
    pub fn forward(&self, image: Tensor<4>) -> Encoded {
        let mut skips = Vec::with_capacity(self.stages.len());
        let mut x = image;
        for stage in &self.stages {
            x = stage.forward(x);
            skips.push(x.clone());
            x = self.pool.forward(x);
        }
        Encoded { bottom: x, skips }
    }
}

/// The U-Net decoder: level `i` upsamples the previous level ×2, joins the encoder skip of
/// that resolution (stage `4 − i`) and convolves to `widths[i]`. Its number of levels sets
/// the finest resolution (4: 1/2; 5: full).
#[derive(Config, Debug)]
pub struct UnetDecoderConfig {
    /// The encoder's stage widths (the skips' channels; the last is the bottom's).
    pub encoder_widths: [usize; ENCODER_STAGES],
    /// Decoder widths from 1/16 upwards.
    pub widths: Vec<usize>,
    #[config(default = 2)]
    pub depth: usize,
    #[config(default = true)]
    pub batch_norm: bool,
}

impl UnetDecoderConfig {
    /// The widths of the bottom (1/32), then of each decoder level: the cascade levels'
    /// channels, coarse to fine.
    pub fn level_widths(&self) -> impl Iterator<Item = usize> + '_ {
        std::iter::once(self.encoder_widths[ENCODER_STAGES - 1]).chain(self.widths.iter().copied())
    }

    pub fn init(&self, device: &Device) -> UnetDecoder {
        let skips = self.encoder_widths.iter().rev();
        let stages = self
            .level_widths()
            .zip(skips)
            .zip(&self.widths)
            .map(|((below, skip), &width)| ConvStackConfig::new(below + skip, width, self.depth).with_batch_norm(self.batch_norm).init(device))
            .collect();
        UnetDecoder { stages }
    }

    /// The width of the last level (what a head on top takes).
    pub fn output_width(&self) -> usize {
        self.level_widths().last().expect("the bottom at least")
    }
}

#[derive(Module, Debug)]
pub struct UnetDecoder {
    stages: Vec<ConvStack>,
}

impl UnetDecoder {
    /// Every level's output, coarse to fine.
    pub fn forward(&self, encoded: Encoded) -> Vec<Tensor<4>> {
        let Encoded { bottom: mut x, skips } = encoded;
        let mut levels = Vec::with_capacity(self.stages.len());
        for (stage, skip) in self.stages.iter().zip(skips.into_iter().rev()) {
            let [_, _, h, w] = skip.dims();
            x = stage.forward(Tensor::cat(vec![upsample_to(x, [h, w]), skip], 1));
            levels.push(x.clone());
        }
        levels
    }
}

/// What the paper calls ASPP; in the authors' code a receptive-field block: a 1×1 branch
/// and three branches 1×1 → 1×k → k×1 → 3×3 dilated by k (k = 3, 5, 7), concatenated, fused
/// by a 3×3 convolution, plus a 1×1 shortcut, then ReLU. Widens the receptive field of the
/// deep levels, whose job is to tell apart distant regions.
#[derive(Config, Debug)]
pub struct ReceptiveFieldBlockConfig {
    pub input: usize,
    pub output: usize,
    #[config(default = true)]
    pub batch_norm: bool,
}

impl ReceptiveFieldBlockConfig {
    pub fn init(&self, device: &Device) -> ReceptiveFieldBlock {
        let inner = (self.output / 4).max(1);
        let block = |channels, kernel, dilation| ConvBlockConfig::new(channels, kernel).with_dilation(dilation).with_batch_norm(self.batch_norm).init(device);
        let branches = [3, 5, 7]
            .map(|k| DilatedBranch {
                reduce: block([self.input, inner], [1, 1], 1),
                horizontal: block([inner, inner], [1, k], 1),
                vertical: block([inner, inner], [k, 1], 1),
                dilated: block([inner, inner], [3, 3], k),
            })
            .into();
        ReceptiveFieldBlock {
            direct: block([self.input, inner], [1, 1], 1),
            branches,
            fuse: Conv2dConfig::new([4 * inner, self.output], [3, 3]).with_padding(PaddingConfig2d::Same).init(device),
            shortcut: Conv2dConfig::new([self.input, self.output], [1, 1]).init(device),
            relu: Relu::new(),
        }
    }
}

#[derive(Module, Debug)]
pub struct ReceptiveFieldBlock {
    direct: ConvBlock,
    branches: Vec<DilatedBranch>,
    fuse: Conv2d,
    shortcut: Conv2d,
    relu: Relu,
}

impl ReceptiveFieldBlock {
    pub fn forward(&self, x: Tensor<4>) -> Tensor<4> {
        let parts = std::iter::once(self.direct.forward(x.clone())).chain(self.branches.iter().map(|b| b.forward(x.clone()))).collect();
        let fused = self.fuse.forward(Tensor::cat(parts, 1));
        self.relu.forward(fused + self.shortcut.forward(x))
    }
}

/// One branch of the receptive-field block: 1×1 reduce, 1×k, k×1, 3×3 dilated by k.
#[derive(Module, Debug)]
struct DilatedBranch {
    reduce: ConvBlock,
    horizontal: ConvBlock,
    vertical: ConvBlock,
    dilated: ConvBlock,
}

impl DilatedBranch {
    fn forward(&self, x: Tensor<4>) -> Tensor<4> {
        self.dilated.forward(self.vertical.forward(self.horizontal.forward(self.reduce.forward(x))))
    }
}

/// Bilinear resize of feature maps to `[height, width]` (pixel-centre aligned, as the
/// image preprocessing).
pub fn upsample_to(x: Tensor<4>, size: [usize; 2]) -> Tensor<4> {
    interpolate(x, InterpolateOptions::new(InterpolateMode::Bilinear).with_align_corners(false).with_output_size(size))
}

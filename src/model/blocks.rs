//! Building blocks shared by the CC2D networks.

use burn::module::Module;
use burn::nn::conv::{Conv2d, Conv2dConfig};
use burn::nn::pool::MaxPool2d;
use burn::nn::{BatchNorm, BatchNormConfig, PaddingConfig2d, Relu};
use burn::tensor::module::interpolate;
use burn::tensor::ops::{InterpolateMode, InterpolateOptions};
use burn::tensor::{Device, Tensor};

/// Convolution (+ batch norm) + ReLU.
#[derive(Module, Debug)]
pub struct ConvBlock {
    conv: Conv2d,
    norm: Option<BatchNorm>,
    relu: Relu,
}

impl ConvBlock {
    pub fn new(channels: [usize; 2], kernel: [usize; 2], dilation: usize, batch_norm: bool, device: &Device) -> Self {
        let conv = Conv2dConfig::new(channels, kernel)
            .with_dilation([dilation, dilation])
            .with_padding(PaddingConfig2d::Explicit((kernel[0] / 2) * dilation, (kernel[1] / 2) * dilation, (kernel[0] / 2) * dilation, (kernel[1] / 2) * dilation))
            .with_bias(!batch_norm)
            .init(device);
        let norm = batch_norm.then(|| BatchNormConfig::new(channels[1]).init(device));
        Self { conv, norm, relu: Relu::new() }
    }

    pub fn forward(&self, x: Tensor<4>) -> Tensor<4> {
        let x = self.conv.forward(x);
        let x = match &self.norm {
            Some(norm) => norm.forward(x),
            None => x,
        };
        self.relu.forward(x)
    }
}

/// A sequence of 3×3 [`ConvBlock`]s.
#[derive(Module, Debug)]
pub struct ConvStack {
    blocks: Vec<ConvBlock>,
}

impl ConvStack {
    pub fn new(input: usize, width: usize, depth: usize, batch_norm: bool, device: &Device) -> Self {
        let blocks = (0..depth).map(|i| ConvBlock::new([if i == 0 { input } else { width }, width], [3, 3], 1, batch_norm, device)).collect();
        Self { blocks }
    }

    pub fn forward(&self, x: Tensor<4>) -> Tensor<4> {
        self.blocks.iter().fold(x, |x, b| b.forward(x))
    }
}

/// What the paper calls ASPP; in the authors' code a receptive-field block: a 1×1 branch
/// and three branches 1×1 → 1×k → k×1 → 3×3 dilated by k (k = 3, 5, 7), concatenated, fused
/// by a 3×3 convolution, plus a 1×1 shortcut, then ReLU. Widens the receptive field of the
/// deep levels, whose job is to tell apart distant regions.
#[derive(Module, Debug)]
pub struct ReceptiveFieldBlock {
    direct: ConvBlock,
    branches: Vec<DilatedBranch>,
    fuse: Conv2d,
    shortcut: Conv2d,
    relu: Relu,
}

#[derive(Module, Debug)]
struct DilatedBranch {
    reduce: ConvBlock,
    horizontal: ConvBlock,
    vertical: ConvBlock,
    dilated: ConvBlock,
}

impl ReceptiveFieldBlock {
    pub fn new(input: usize, output: usize, batch_norm: bool, device: &Device) -> Self {
        let inner = (output / 4).max(1);
        let branches = [3, 5, 7]
            .map(|k| DilatedBranch {
                reduce: ConvBlock::new([input, inner], [1, 1], 1, batch_norm, device),
                horizontal: ConvBlock::new([inner, inner], [1, k], 1, batch_norm, device),
                vertical: ConvBlock::new([inner, inner], [k, 1], 1, batch_norm, device),
                dilated: ConvBlock::new([inner, inner], [3, 3], k, batch_norm, device),
            })
            .into();
        Self {
            direct: ConvBlock::new([input, inner], [1, 1], 1, batch_norm, device),
            branches,
            fuse: Conv2dConfig::new([4 * inner, output], [3, 3]).with_padding(PaddingConfig2d::Same).init(device),
            shortcut: Conv2dConfig::new([input, output], [1, 1]).init(device),
            relu: Relu::new(),
        }
    }

    pub fn forward(&self, x: Tensor<4>) -> Tensor<4> {
        let mut parts = vec![self.direct.forward(x.clone())];
        for b in &self.branches {
            parts.push(b.dilated.forward(b.vertical.forward(b.horizontal.forward(b.reduce.forward(x.clone())))));
        }
        let fused = self.fuse.forward(Tensor::cat(parts, 1));
        self.relu.forward(fused + self.shortcut.forward(x))
    }
}

/// Bilinear resize of feature maps to `[height, width]` (pixel-centre aligned, as the
/// image preprocessing).
pub fn upsample_to(x: Tensor<4>, size: [usize; 2]) -> Tensor<4> {
    interpolate(x, InterpolateOptions::new(InterpolateMode::Bilinear).with_align_corners(false).with_output_size(size))
}

/// The VGG-style encoder's stages: `depths[s]` 3×3 convolutions of `widths[s]` channels
/// each, plain (no batch norm), as VGG.
pub fn vgg_encoder(widths: [usize; 5], depths: [usize; 5], device: &Device) -> Vec<ConvStack> {
    let mut input = 3;
    (0..5)
        .map(|s| {
            let stage = ConvStack::new(input, widths[s], depths[s], false, device);
            input = widths[s];
            stage
        })
        .collect()
}

/// The VGG-style encoder pass: each stage, then 2×2 max-pooling. Returns the pooled bottom
/// (1/32) and every stage's output before pooling (the U-Net skips, full resolution to 1/16).
pub fn vgg_encode(stages: &[ConvStack], pool: &MaxPool2d, image: Tensor<4>) -> (Tensor<4>, Vec<Tensor<4>>) {
    let mut skips = Vec::with_capacity(stages.len());
    let mut x = image;
    for stage in stages {
        x = stage.forward(x);
        skips.push(x.clone());
        x = pool.forward(x);
    }
    (x, skips)
}

/// The U-Net decoder pass: at each level, upsample ×2, join the encoder skip of that
/// resolution, convolve. Returns every level's output, coarse to fine.
pub fn unet_decode(stages: &[ConvStack], bottom: Tensor<4>, skips: &[Tensor<4>]) -> Vec<Tensor<4>> {
    let mut x = bottom;
    let mut levels = Vec::with_capacity(stages.len());
    for (i, stage) in stages.iter().enumerate() {
        let skip = skips[skips.len() - 1 - i].clone();
        let [_, _, h, w] = skip.dims();
        x = stage.forward(Tensor::cat(vec![upsample_to(x, [h, w]), skip], 1));
        levels.push(x.clone());
    }
    levels
}

//! Building blocks shared by the CC2D networks, each a `Config` that builds a `Module`: the
//! VGG-style encoder and the U-Net decoder both networks are made of, the convolution
//! stacks inside them, and the receptive-field block of the extractor's deep levels.

#[cfg(feature = "cpu")]
use super::cpu;
use burn::config::Config;
use burn::module::{Module, Param};
use burn::nn::conv::{Conv2d, Conv2dConfig};
use burn::nn::pool::{MaxPool2d, MaxPool2dConfig};
use burn::nn::{BatchNorm, BatchNormConfig, PaddingConfig2d, Relu};
use burn::tensor::module::interpolate;
use burn::tensor::ops::{InterpolateMode, InterpolateOptions};
use burn::tensor::{Device, Tensor};
#[cfg(feature = "cpu")]
use std::ops::ControlFlow;

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
        ConvBlock { conv, norm, relu: Relu::new(), cpu_weights: CpuWeights::default() }
    }
}

#[derive(Module, Debug)]
pub struct ConvBlock {
    conv: Conv2d,
    norm: Option<BatchNorm>,
    relu: Relu,
    /// The weights laid out for the CPU kernel, once the block is folded for inference
    /// ([`Self::fold_batch_norm`]); not part of the record.
    #[module(skip)]
    cpu_weights: CpuWeights,
}

/// [`ConvBlock`]'s weights for [`cpu::conv_same`] (nothing where there is no CPU kernel: the
/// browser's WebGPU module).
#[cfg(feature = "cpu")]
type CpuWeights = Option<std::sync::Arc<cpu::ConvWeights>>;
#[cfg(not(feature = "cpu"))]
type CpuWeights = ();

impl ConvBlock {
    pub fn forward(&self, x: Tensor<4>) -> Tensor<4> {
        self.forward_joined(vec![x])
    }

    /// The block on the concatenation of `parts` along the channels (a U-Net level: the
    /// upsampled level below and the skip). On the CPU path the concatenation is never
    /// built: the kernel joins the parts as it pads them.
    pub fn forward_joined(&self, parts: Vec<Tensor<4>>) -> Tensor<4> {
        #[cfg(feature = "cpu")]
        let parts = match self.forward_cpu(parts) {
            ControlFlow::Break(y) => return y,
            ControlFlow::Continue(parts) => parts,
        };
        self.forward_ops(joined(parts))
    }

    /// Burn's ops, with gradients: every backend.
    fn forward_ops(&self, x: Tensor<4>) -> Tensor<4> {
        let x = self.conv.forward(x);
        let x = match &self.norm {
            Some(norm) => norm.forward(x),
            None => x,
        };
        self.relu.forward(x)
    }

    /// The block for inference, its batch norm folded into the convolution: with running
    /// statistics the norm is an affine map per channel, `scale · x + shift`, which the
    /// convolution's weights and bias absorb. A convolution with bias and a ReLU are left:
    /// without kernel fusion (the browser's WebGPU module) the norm's chain of element-wise
    /// kernels is gone from every block, and the CPU kernel needs no folding per call. Not
    /// for training (the statistics would no longer be learnt, and the CPU kernel's weights,
    /// laid out here once, would go stale).
    pub fn fold_batch_norm(self) -> Self {
        let Self { mut conv, norm, relu, .. } = self;
        if let Some(norm) = norm {
            let scale = norm.gamma.val() / norm.running_var.value().add_scalar(norm.epsilon).sqrt();
            let bias = conv.bias.take().map_or_else(|| scale.zeros_like(), |b| b.val());
            conv.bias = Some(Param::from_tensor((bias - norm.running_mean.value()) * scale.clone() + norm.beta.val()));
            let cout = scale.dims()[0];
            conv.weight = Param::from_tensor(conv.weight.val() * scale.reshape([cout, 1, 1, 1]));
        }
        Self { cpu_weights: cpu_weights(&conv), conv, norm: None, relu }
    }
}

/// `conv`'s weights and bias laid out for the CPU kernel (where it applies: stride 1, "same"
/// padding, odd kernel, on the CPU backend).
#[cfg(feature = "cpu")]
fn cpu_weights(conv: &Conv2d) -> CpuWeights {
    let dims @ [cout, _, kh, kw] = conv.weight.dims();
    let [dy, dx] = conv.dilation;
    let same = PaddingConfig2d::Explicit(kh / 2 * dy, kw / 2 * dx, kh / 2 * dy, kw / 2 * dx);
    let device = conv.weight.device();
    if device != Device::flex() || device.is_autodiff() || conv.stride != [1, 1] || conv.groups != 1 || kh % 2 == 0 || kw % 2 == 0 || conv.padding != same {
        return None;
    }
    let bias = conv.bias.as_ref().map_or_else(|| vec![0.0; cout], |b| values(b.val()));
    Some(std::sync::Arc::new(cpu::ConvWeights::new(values(conv.weight.val()), dims, conv.dilation, bias)))
}

#[cfg(not(feature = "cpu"))]
fn cpu_weights(_: &Conv2d) -> CpuWeights {}

#[cfg(feature = "cpu")]
impl ConvBlock {
    /// Detection and matching on the CPU backend ([`on_cpu_for_inference`]): the block as
    /// one kernel, [`cpu::conv_same`], its batch norm folded into the convolution
    /// ([`Self::fold_batch_norm`]: the detector and the extractors arrive folded; a block that
    /// is not is folded here, per call) and the ReLU applied as the outputs are laid out.
    /// Burn's CPU convolution runs the detector's layers at about half this speed
    /// (`scripts/onnx-anchor`). Elsewhere (WebGPU, training) the input's `parts` come back
    /// to go on with Burn's ops.
    fn forward_cpu(&self, parts: Vec<Tensor<4>>) -> ControlFlow<Tensor<4>, Vec<Tensor<4>>> {
        if !parts.iter().all(on_cpu_for_inference) {
            return ControlFlow::Continue(parts);
        }
        let weights = match (&self.cpu_weights, &self.norm) {
            (Some(weights), None) => weights.clone(),
            // Not folded: folded here, per call.
            (_, Some(_)) => return self.clone().fold_batch_norm().forward_cpu(parts),
            (None, None) => match cpu_weights(&self.conv) {
                Some(weights) => weights,
                None => return ControlFlow::Continue(parts),
            },
        };
        cpu_kernel(parts, |parts, dims| cpu::conv_same(parts, dims, &weights))
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
        self.forward_joined(vec![x])
    }

    /// The stack on the concatenation of `parts` along the channels
    /// ([`ConvBlock::forward_joined`]).
    pub fn forward_joined(&self, parts: Vec<Tensor<4>>) -> Tensor<4> {
        let (first, rest) = self.blocks.split_first().expect("a stack of at least one block");
        rest.iter().fold(first.forward_joined(parts), |x, b| b.forward(x))
    }

    /// [`ConvBlock::fold_batch_norm`] for every block.
    pub fn fold_batch_norm(self) -> Self {
        Self { blocks: self.blocks.into_iter().map(ConvBlock::fold_batch_norm).collect() }
    }

    /// The channels the first block takes.
    fn input_channels(&self) -> usize {
        self.blocks[0].conv.weight.dims()[1]
    }

    /// The stack fed one channel instead of that many identical copies of it: the first
    /// block's weights summed over its input channels (the same outputs, to rounding).
    fn fold_identical_inputs(&mut self) {
        let first = &mut self.blocks[0];
        first.conv.weight = Param::from_tensor(first.conv.weight.val().sum_dim(1));
        first.cpu_weights = cpu_weights(&first.conv);
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
    /// `image`: a grey radiograph, `[B, 1, H, W]`, repeated to the three identical channels a
    /// VGG-style first layer was trained on (unless [`Self::fold_for_inference`] has folded
    /// them into one); an input with the first layer's channels is taken as it is.
    pub fn forward(&self, image: Tensor<4>) -> Encoded {
        let mut skips = Vec::with_capacity(self.stages.len());
        let channels = self.input_channels();
        let mut x = if image.dims()[1] == 1 && channels > 1 { image.repeat_dim(1, channels) } else { image };
        for stage in &self.stages {
            let (skip, pooled) = max_pool_2x2(&self.pool, stage.forward(x));
            skips.push(skip);
            x = pooled;
        }
        Encoded { bottom: x, skips }
    }

    /// The channels the first layer takes: 3 as trained, 1 once folded for inference.
    pub fn input_channels(&self) -> usize {
        self.stages[0].input_channels()
    }

    /// The encoder for inference: [`ConvBlock::fold_batch_norm`] for every block (VGG's have
    /// none), and the first layer's three identical grey channels folded into one (a third of
    /// its multiplies; its input is then the grey image itself).
    pub fn fold_for_inference(self) -> Self {
        let mut stages: Vec<ConvStack> = self.stages.into_iter().map(ConvStack::fold_batch_norm).collect();
        stages[0].fold_identical_inputs();
        Self { stages, pool: self.pool }
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
            x = stage.forward_joined(vec![upsample_to(x, [h, w]), skip]);
            levels.push(x.clone());
        }
        levels
    }

    /// [`ConvBlock::fold_batch_norm`] for every block.
    pub fn fold_batch_norm(self) -> Self {
        Self { stages: self.stages.into_iter().map(ConvStack::fold_batch_norm).collect() }
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

    /// [`ConvBlock::fold_batch_norm`] for every block.
    pub fn fold_batch_norm(self) -> Self {
        Self { direct: self.direct.fold_batch_norm(), branches: self.branches.into_iter().map(DilatedBranch::fold_batch_norm).collect(), ..self }
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

    fn fold_batch_norm(self) -> Self {
        Self {
            reduce: self.reduce.fold_batch_norm(),
            horizontal: self.horizontal.fold_batch_norm(),
            vertical: self.vertical.fold_batch_norm(),
            dilated: self.dilated.fold_batch_norm(),
        }
    }
}

/// `parts` concatenated along the channels (one part as it is).
fn joined(mut parts: Vec<Tensor<4>>) -> Tensor<4> {
    if parts.len() == 1 { parts.pop().expect("one part") } else { Tensor::cat(parts, 1) }
}

/// Bilinear resize of feature maps to `[height, width]` (pixel-centre aligned, as the
/// image preprocessing).
pub fn upsample_to(x: Tensor<4>, size: [usize; 2]) -> Tensor<4> {
    let [_, _, h, w] = x.dims();
    if size == [2 * h, 2 * w] {
        #[cfg(feature = "cpu")]
        let x = match cpu_kernel(vec![x], |x, dims| cpu::upsample_2x(x[0], dims)) {
            ControlFlow::Break(y) => return y,
            ControlFlow::Continue(mut x) => x.pop().expect("the input"),
        };
        // Off the CPU, plain ops in inference too: Burn's bilinear `interpolate` (no gradient
        // on the GPU backends) made the first WebGPU detection on SwiftShader 4 s slower.
        return upsample_2x(upsample_2x(x, 2), 3);
    }
    interpolate(x, InterpolateOptions::new(InterpolateMode::Bilinear).with_align_corners(false).with_output_size(size))
}

/// Bilinear ×2 along `dim` (2: rows, 3: columns) from plain tensor ops, so it has gradients
/// on every backend: Burn's GPU backends have no backward for bilinear `interpolate`, which
/// the decoders need in training (natively on wgpu, and fine-tuning on WebGPU). Each output
/// lies a quarter of an input pixel from its nearest input: 3/4 of it and 1/4 of the
/// neighbour on that side, edges clamped; the two phases are then interleaved.
fn upsample_2x(x: Tensor<4>, dim: usize) -> Tensor<4> {
    let mut dims = x.dims();
    let n = dims[dim];
    let (before, after) = if n == 1 {
        (x.clone(), x.clone())
    } else {
        (
            Tensor::cat(vec![x.clone().narrow(dim, 0, 1), x.clone().narrow(dim, 0, n - 1)], dim),
            Tensor::cat(vec![x.clone().narrow(dim, 1, n - 1), x.clone().narrow(dim, n - 1, 1)], dim),
        )
    };
    let even = x.clone() * 0.75 + before * 0.25;
    let odd = x * 0.75 + after * 0.25;
    dims[dim] = 2 * n;
    Tensor::stack::<5>(vec![even, odd], dim + 1).reshape(dims)
}

/// The encoder's 2×2 max-pooling (stride 2): `(x, pooled)`, the input given back for the
/// skip connection (on the CPU path without the copy a second holder of `x` would cost).
fn max_pool_2x2(pool: &MaxPool2d, x: Tensor<4>) -> (Tensor<4>, Tensor<4>) {
    #[cfg(feature = "cpu")]
    let x = {
        let [_, _, h, w] = x.dims();
        match cpu_kernel_keeping_input(x, |values, dims| if h % 2 == 0 && w % 2 == 0 { Some(cpu::max_pool_2x2(values, dims)) } else { None }) {
            ControlFlow::Break(both) => return both,
            ControlFlow::Continue(x) => x,
        }
    };
    (x.clone(), pool.forward(x))
}

/// Runs `kernel` on the values when the input is on the CPU backend without autodiff
/// (detection and matching, natively and in wasm): Burn's CPU backend runs max-pooling
/// (which it computes with indices) and 2× bilinear upsampling an order of magnitude slower
/// than these loops, a third of the detector's forward (`scripts/onnx-anchor`). Elsewhere
/// (WebGPU, training) the input comes back to go on with Burn's own ops, with gradients.
/// The input comes as `parts` joined along the channels (usually one): `kernel` takes each
/// part's `[B, Cᵢ, H, W]` values in row-major order and the joined shape, and gives the
/// output values and shape. The parts are taken, not borrowed: a tensor nothing else holds
/// gives up its values without a copy.
#[cfg(feature = "cpu")]
fn cpu_kernel(parts: Vec<Tensor<4>>, kernel: impl FnOnce(&[&[f32]], [usize; 4]) -> (Vec<f32>, [usize; 4])) -> ControlFlow<Tensor<4>, Vec<Tensor<4>>> {
    if !parts.iter().all(on_cpu_for_inference) {
        return ControlFlow::Continue(parts);
    }
    let (device, [b, _, h, w]) = (parts[0].device(), parts[0].dims());
    let channels = parts.iter().map(|p| p.dims()[1]).sum();
    assert!(parts.iter().all(|p| matches!(p.dims(), [pb, _, ph, pw] if [pb, ph, pw] == [b, h, w])), "joined inputs of one size");
    let data: Vec<_> = parts.into_iter().map(Tensor::into_data).collect();
    let values: Vec<&[f32]> = data.iter().map(|d| d.as_slice::<f32>().expect("f32 values on the CPU path")).collect();
    let (values, shape) = kernel(&values, [b, channels, h, w]);
    ControlFlow::Break(Tensor::from_data(burn::tensor::TensorData::new(values, shape), &device))
}

/// [`cpu_kernel`] on one input that also gives `x` back, rebuilt on its own values (no
/// copy), where keeping a clone of `x` would make its values shared and so copied (twice) on
/// the way out; `kernel` may decline (`None`).
#[cfg(feature = "cpu")]
fn cpu_kernel_keeping_input(x: Tensor<4>, kernel: impl FnOnce(&[f32], [usize; 4]) -> Option<(Vec<f32>, [usize; 4])>) -> ControlFlow<(Tensor<4>, Tensor<4>), Tensor<4>> {
    if !on_cpu_for_inference(&x) {
        return ControlFlow::Continue(x);
    }
    let (dims, device) = (x.dims(), x.device());
    let data = x.into_data();
    let output = kernel(data.as_slice::<f32>().expect("f32 values on the CPU path"), dims);
    let x = Tensor::from_data(data, &device);
    match output {
        Some((values, shape)) => ControlFlow::Break((x, Tensor::from_data(burn::tensor::TensorData::new(values, shape), &device))),
        None => ControlFlow::Continue(x),
    }
}

/// f32 values on the CPU backend without autodiff: where the project's own CPU kernels run.
#[cfg(feature = "cpu")]
fn on_cpu_for_inference(x: &Tensor<4>) -> bool {
    let device = x.device();
    device == Device::flex() && !device.is_autodiff() && x.dtype() == burn::tensor::DType::F32
}

#[cfg(feature = "cpu")]
fn values<const D: usize>(t: Tensor<D>) -> Vec<f32> {
    t.into_data().convert::<f32>().try_into_vec::<f32>().expect("f32 values")
}

#[cfg(test)]
mod tests {
    use burn::tensor::Distribution;

    use super::*;

    fn max_abs_diff(a: Tensor<4>, b: Tensor<4>) -> f32 {
        assert_eq!(a.dims(), b.dims());
        (a - b).abs().max().into_scalar::<f32>()
    }

    #[test]
    fn cpu_kernels_equal_burns_ops() {
        let device = Device::flex();
        let pool = MaxPool2dConfig::new([2, 2]).init();
        for shape in [[2, 3, 6, 8], [1, 2, 2, 2], [1, 1, 1, 1], [1, 4, 12, 10]] {
            let x = Tensor::<4>::random(shape, Distribution::Normal(0.0, 1.0), &device);
            let [_, _, h, w] = shape;
            let burn = interpolate(x.clone(), InterpolateOptions::new(InterpolateMode::Bilinear).with_align_corners(false).with_output_size([2 * h, 2 * w]));
            assert!(max_abs_diff(upsample_to(x.clone(), [2 * h, 2 * w]), burn) < 1e-6, "upsample {shape:?}");
            if h % 2 == 0 && w % 2 == 0 {
                let (kept, pooled) = max_pool_2x2(&pool, x.clone());
                assert_eq!(max_abs_diff(kept, x.clone()), 0.0, "pool {shape:?}: the input given back");
                assert_eq!(max_abs_diff(pooled, pool.forward(x)), 0.0, "pool {shape:?}");
            }
        }
    }

    /// The CPU path of a convolution block (one kernel, batch norm folded, ReLU fused)
    /// gives Burn's ops' values, for every kernel shape the networks use.
    #[test]
    fn cpu_conv_block_equals_burns_ops() {
        use burn::module::{Param, RunningState};
        let device = Device::flex();
        let random = |shape: [usize; 1], low: f64, high: f64| Tensor::<1>::random(shape, Distribution::Uniform(low, high), &device);
        for (channels, kernel, dilation, batch_norm, size) in [
            ([3, 16], [3, 3], 1, false, [2, 13, 11]),
            ([8, 5], [3, 3], 1, true, [1, 9, 12]),
            ([6, 4], [1, 1], 1, true, [1, 7, 5]),
            ([4, 4], [1, 5], 1, true, [1, 6, 9]),
            ([4, 4], [7, 1], 1, true, [1, 10, 3]),
            ([4, 6], [3, 3], 5, true, [1, 12, 14]),
            // More than FEW_INPUTS inputs per output: 3×3 by Winograd's F(2×2, 3×3), odd
            // sizes included; dilated, one product per tap.
            ([20, 6], [3, 3], 1, true, [2, 9, 10]),
            ([40, 33], [3, 3], 1, true, [1, 7, 13]),
            ([17, 3], [3, 3], 2, false, [1, 11, 8]),
            // Each case starts on the scratch the one before left: its padding must be zeros.
            ([2, 3], [3, 3], 1, false, [1, 5, 6]),
        ] {
            let mut block = ConvBlockConfig::new(channels, kernel).with_dilation(dilation).with_batch_norm(batch_norm).init(&device);
            if let Some(norm) = block.norm.as_mut() {
                norm.gamma = Param::from_tensor(random([channels[1]], 0.5, 1.5));
                norm.beta = Param::from_tensor(random([channels[1]], -0.5, 0.5));
                norm.running_mean = RunningState::new(random([channels[1]], -0.3, 0.3));
                norm.running_var = RunningState::new(random([channels[1]], 0.5, 2.0));
            }
            let [b, h, w] = size;
            let x = Tensor::<4>::random([b, channels[0], h, w], Distribution::Normal(0.0, 1.0), &device);
            let cpu = block.forward_cpu(vec![x.clone()]).break_value().expect("the CPU path takes every block shape");
            let ops = block.forward_ops(x.clone());
            assert!(max_abs_diff(cpu.clone(), ops.clone()) < 1e-5, "{channels:?} {kernel:?} dilation {dilation}");
            // The input as two channel groups (a decoder level's upsampled level and skip),
            // joined as they are padded: the same values as one input.
            if channels[0] > 1 {
                let k = channels[0] / 3 + 1;
                let parts = vec![x.clone().narrow(1, 0, k), x.clone().narrow(1, k, channels[0] - k)];
                assert_eq!(max_abs_diff(block.forward_cpu(parts).break_value().expect("the CPU path"), cpu.clone()), 0.0, "joined, {channels:?} {kernel:?}");
            }
            // Folded (inference on every backend): Burn's ops without the norm give the same
            // values, and the CPU path the same values as before folding.
            let folded = block.fold_batch_norm();
            assert!(folded.norm.is_none() && folded.conv.bias.is_some() && folded.cpu_weights.is_some(), "folded, the CPU kernel's weights laid out once");
            assert!(max_abs_diff(folded.forward_ops(x.clone()), ops) < 1e-5, "folded, {channels:?} {kernel:?}");
            assert_eq!(max_abs_diff(folded.forward_cpu(vec![x.clone()]).break_value().expect("the CPU path"), cpu), 0.0, "folded on the CPU, {channels:?} {kernel:?}");
        }
    }

    #[test]
    fn cpu_max_pool_lets_nan_through_like_burn() {
        let (out, shape) = cpu::max_pool_2x2(&[1.0, f32::NAN, 2.0, 3.0, 4.0, 5.0, 6.0, 7.0], [1, 1, 2, 4]);
        assert_eq!(shape, [1, 1, 1, 2]);
        assert!(out[0].is_nan());
        assert_eq!(out[1], 7.0);
    }

    /// The differentiable ×2 (training, GPUs) gives Burn's bilinear values and gradients.
    #[cfg(feature = "train")]
    #[test]
    fn differentiable_upsampling_equals_burns_bilinear_with_its_gradient() {
        let device = Device::flex().autodiff();
        for shape in [[2, 3, 6, 8], [1, 2, 1, 3], [1, 1, 5, 2]] {
            let [_, _, h, w] = shape;
            let x = Tensor::<4>::random(shape, Distribution::Normal(0.0, 1.0), &device).require_grad();
            let weights = Tensor::<4>::random([shape[0], shape[1], 2 * h, 2 * w], Distribution::Normal(0.0, 1.0), &device);
            let burn = interpolate(x.clone(), InterpolateOptions::new(InterpolateMode::Bilinear).with_align_corners(false).with_output_size([2 * h, 2 * w]));
            let ours = upsample_to(x.clone(), [2 * h, 2 * w]);
            assert!(max_abs_diff(ours.clone(), burn.clone()) < 1e-6, "values {shape:?}");
            let grad = |y: Tensor<4>| x.grad(&(y * weights.clone()).sum().backward()).expect("a gradient");
            let (g_ours, g_burn) = (grad(ours), grad(burn));
            assert!((g_ours - g_burn).abs().max().into_scalar::<f32>() < 1e-5, "gradients {shape:?}");
        }
    }

    #[cfg(feature = "train")]
    #[test]
    fn training_keeps_burns_ops_and_their_gradients() {
        let device = Device::flex().autodiff();
        // The convolution block's CPU kernel stands aside for autodiff.
        let x = Tensor::<4>::random([1, 3, 4, 4], Distribution::Default, &device);
        assert!(ConvBlockConfig::new([3, 2], [3, 3]).init(&device).forward_cpu(vec![x]).is_continue());
        let x = Tensor::<4>::random([1, 2, 4, 4], Distribution::Default, &device).require_grad();
        let y = upsample_to(max_pool_2x2(&MaxPool2dConfig::new([2, 2]).init(), x.clone()).1, [4, 4]);
        let grads = y.sum().backward();
        assert!(x.grad(&grads).is_some(), "no gradient through pooling and upsampling");
    }
}

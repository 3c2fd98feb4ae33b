//! A tiny network with every kind of operation the CC2D models rely on: convolution,
//! max pooling, bilinear upsampling and cosine similarity. Used to check that two backends
//! compute the same thing.

use burn::module::Module;
use burn::nn::conv::{Conv2d, Conv2dConfig};
use burn::nn::interpolate::{Interpolate2d, Interpolate2dConfig, InterpolateMode};
use burn::nn::pool::{MaxPool2d, MaxPool2dConfig};
use burn::nn::{PaddingConfig2d, Relu};
use burn::tensor::{Device, Tensor, TensorData};
use cc2d::model::similarity::cosine_similarity_map;

#[derive(Module, Debug)]
pub struct ProbeNet {
    conv1: Conv2d,
    pool: MaxPool2d,
    conv2: Conv2d,
    up: Interpolate2d,
    relu: Relu,
}

impl ProbeNet {
    pub fn new(device: &Device) -> Self {
        let conv = |i, o| Conv2dConfig::new([i, o], [3, 3]).with_padding(PaddingConfig2d::Same).init(device);
        Self {
            conv1: conv(3, 8),
            pool: MaxPool2dConfig::new([2, 2]).init(),
            conv2: conv(8, 6),
            up: Interpolate2dConfig::new().with_scale_factor(Some([2.0, 2.0])).with_mode(InterpolateMode::Linear).with_align_corners(false).init(),
            relu: Relu::new(),
        }
    }

    /// `[1, 3, H, W]` → similarity of every position to the features at three anchor pixels, `[1, 3, H, W]`.
    pub fn forward(&self, x: Tensor<4>) -> Tensor<4> {
        let f = self.relu.forward(self.conv1.forward(x));
        let f = self.conv2.forward(self.pool.forward(f));
        let f = self.up.forward(f);
        let [_, c, _, _] = f.dims();
        let anchors: Vec<Tensor<3>> = [(3, 5), (10, 12), (20, 7)].iter().map(|&(y, x)| f.clone().slice([0..1, 0..c, y..y + 1, x..x + 1]).reshape([1, 1, c])).collect();
        cosine_similarity_map(f, Tensor::cat(anchors, 1))
    }
}

/// A deterministic input with structure at several scales.
pub fn probe_input(h: usize, w: usize, device: &Device) -> Tensor<4> {
    let v: Vec<f32> = (0..3 * h * w)
        .map(|i| {
            let (c, y, x) = ((i / (h * w)) as f32, ((i / w) % h) as f32, (i % w) as f32);
            0.5 + 0.4 * ((x * 0.37 + c).sin() * (y * 0.23 - c).cos())
        })
        .collect();
    Tensor::from_data(TensorData::new(v, [1, 3, h, w]), device)
}

/// A detector small enough for a training step in a test: 2 landmarks, 32² input.
pub fn tiny_detector_config() -> cc2d::model::detector::DetectorConfig {
    cc2d::model::detector::DetectorConfig::new(2, [4, 4, 8, 8, 8], [1, 1, 1, 1, 1], vec![8, 8, 8]).with_decoder_depth(1)
}

/// One detector training step on `device` from `start` (random weights made once, on flex,
/// by the caller: each init draws new ones) and fixed images: the step's loss
/// and the trained detector's heatmap logits on the template, both on `device`, not yet read
/// back (reading is synchronous natively, asynchronous on WebGPU).
/// Training on a GPU (the GPU recipe natively, fine-tuning on WebGPU) must give what flex
/// gives: Burn's GPU backends have no backward for bilinear `interpolate`, so the decoders'
/// upsampling must not need it.
#[cfg(feature = "train")]
pub fn detector_training_step(start: &cc2d::model::detector::Detector, device: &Device) -> (Tensor<1>, Tensor<4>) {
    use cc2d::config::TplConfig;
    use cc2d::io::image::GreyImage;
    use cc2d::io::landmarks::Point;
    use cc2d::tpl::train::{LabelledImage, trainable, training_step};
    use rand::SeedableRng;

    let config = TplConfig::new(tiny_detector_config()).with_image_size(32).with_radius(4.0);
    let labelled = |v: f32| LabelledImage {
        image: GreyImage::new(32, 32, (0..1024).map(|i| ((i % 7) as f32 * v) % 1.0).collect()).unwrap(),
        landmarks: vec![Point::new(10.0, 12.0), Point::new(20.0, 5.0)],
    };
    let (pseudo, template) = (labelled(0.3), labelled(0.2));
    let (model, mut optimizer) = trainable(&config, Some(start.clone().to_device(device)), None, device);
    let mut rng = rand::rngs::StdRng::seed_from_u64(1);
    let (model, loss) = training_step(&config, model, &mut optimizer, &[&pseudo], &template, &mut rng, false, 1e-2, &device.clone().autodiff());
    let input = cc2d::training::batch_tensor(&[template.image.pixels.as_slice()], 32, device);
    (loss, model.valid().forward(input).heatmap_logits)
}

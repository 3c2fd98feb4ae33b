//! Training the detector on pseudo-labels (paper §2.2), with the one labelled template in
//! every batch: seeded, checkpointed every epoch, resumable.

use std::time::Instant;

use burn::module::Module;
use burn::optim::{AdamConfig, GradientsParams, ModuleOptimizer};
use burn::tensor::{Device, Tensor};
use rand::rngs::StdRng;

use crate::config::TplConfig;
use crate::error::{Error, Result};
use crate::io::image::GreyImage;
use crate::io::landmarks::Point;
use crate::model::blocks::ConvStack;
use crate::model::detector::Detector;
use crate::tpl::augment::augment;
use crate::tpl::loss::detector_loss;
use crate::tpl::targets::{Targets, disk_targets};
use crate::training::{EpochRecord, RunDir, StepReport, batch_tensor, epoch_order, scalar};

/// An image resized to the model's input with its landmarks in model pixels.
#[derive(Clone, Debug)]
pub struct LabelledImage {
    pub image: GreyImage,
    pub landmarks: Vec<Point>,
}

/// Checks that every training image has the model's input size and the detector's landmarks.
pub fn check_training_set(config: &TplConfig, pseudo_labelled: &[LabelledImage], template: &LabelledImage) -> Result<()> {
    let side = config.image_size;
    let k = config.detector.landmarks;
    for (i, l) in pseudo_labelled.iter().chain(std::iter::once(template)).enumerate() {
        if l.image.width as usize != side || l.image.height as usize != side {
            return Err(Error::Invalid(format!("training image {i} must be resized to {side}×{side}")));
        }
        if l.landmarks.len() != k {
            return Err(Error::LandmarkCount { source_name: format!("training image {i}"), count: l.landmarks.len(), expected: k });
        }
        if l.landmarks.iter().any(|p| !p.x.is_finite() || !p.y.is_finite()) {
            return Err(Error::Invalid(format!("training image {i} has a landmark that is not a finite number")));
        }
    }
    if pseudo_labelled.is_empty() {
        return Err(Error::Invalid("no pseudo-labelled images".into()));
    }
    Ok(())
}

/// The learning rate of an epoch (0-based): halved every `halve_every_epochs`.
pub fn learning_rate(config: &TplConfig, epoch: usize) -> f64 {
    config.learning_rate * 0.5f64.powi((epoch / config.halve_every_epochs.max(1)) as i32)
}

/// One optimisation step on `batch` (pseudo-labelled images; the template is added), with
/// augmentation drawn from `rng` when `augment_images`. Returns the updated model and the
/// step's loss, not yet read back (synchronously natively, asynchronously in a browser).
#[allow(clippy::too_many_arguments)]
pub fn training_step(
    config: &TplConfig,
    model: Detector,
    optimizer: &mut ModuleOptimizer,
    batch: &[&LabelledImage],
    template: &LabelledImage,
    rng: &mut StdRng,
    augment_images: bool,
    learning_rate: f64,
    device: &Device,
) -> (Detector, Tensor<1>) {
    let side = config.image_size;
    let stride = config.detector.output_stride();
    let out = side / stride;
    let (images, targets): (Vec<GreyImage>, Vec<Targets>) = batch
        .iter()
        .copied()
        .chain(std::iter::once(template))
        .map(|l| {
            let (img, pts) = if augment_images { augment(&l.image, &l.landmarks, config, rng) } else { (l.image.clone(), l.landmarks.clone()) };
            (img, disk_targets(&pts, [out, out], stride, config.radius))
        })
        .unzip();
    let input = batch_tensor(&images.iter().map(|i| i.pixels.as_slice()).collect::<Vec<_>>(), side, device);
    let loss = detector_loss(&model.forward(input), &targets, config.positive_weight);
    let grads = GradientsParams::from_grads(loss.backward(), &model);
    let model = optimizer.step(learning_rate, model, grads);
    (model, loss.detach())
}

/// A detector ready to train on `device` (autodiff is added here), optionally starting from
/// another network's encoder, and its optimiser.
pub fn trainable(config: &TplConfig, start: Option<Detector>, encoder: Option<Vec<ConvStack>>, device: &Device) -> (Detector, ModuleOptimizer) {
    let device = device.clone().autodiff();
    let mut model = start.unwrap_or_else(|| config.detector.init(&device));
    if let Some(encoder) = encoder {
        model = model.with_encoder(encoder);
    }
    // Parameters built on a plain device (a loaded detector, the SSL encoder) are not
    // tracked by autodiff after `fork`: `train` turns autodiff on for every one, or they
    // would stay frozen.
    (model.fork(&device).train().set_require_grad(true), AdamConfig::new().init())
}

/// Trains on pseudo-labelled images plus the template, epoch by epoch, with a checkpoint in
/// `run` after each. `start`, when given, is the detector to continue from (a second round
/// on its own relabelling); `encoder`, when given, initialises the detector's encoder (e.g.
/// from the SSL extractor).
#[allow(clippy::too_many_arguments)]
pub fn train(
    config: &TplConfig,
    pseudo_labelled: &[LabelledImage],
    template: &LabelledImage,
    start: Option<Detector>,
    encoder: Option<Vec<ConvStack>>,
    device: &Device,
    run: &RunDir,
    mut on_step: impl FnMut(&StepReport),
    mut on_epoch: impl FnMut(&EpochRecord, &Detector),
) -> Result<Detector> {
    check_training_set(config, pseudo_labelled, template)?;
    let (model, optimizer) = trainable(config, start, encoder, device);
    let (mut model, mut optimizer, mut state) = run.resume_or_start(config, model, optimizer)?;
    let device = device.clone().autodiff();
    let steps_per_epoch = pseudo_labelled.len().div_ceil(config.batch_size);
    for epoch in state.epochs_done..config.epochs {
        let started = Instant::now();
        let learning_rate = learning_rate(config, epoch);
        let (mut rng, order) = epoch_order(config.seed, epoch, pseudo_labelled.len());
        let mut loss_sum = 0.0;
        for (step, chunk) in order.chunks(config.batch_size).enumerate() {
            let batch: Vec<&LabelledImage> = chunk.iter().map(|&i| &pseudo_labelled[i]).collect();
            let (next, loss) = training_step(config, model, &mut optimizer, &batch, template, &mut rng, true, learning_rate, &device);
            model = next;
            let value = scalar(&loss)?;
            loss_sum += value;
            on_step(&StepReport { epoch, step, steps_per_epoch, loss: value, learning_rate });
        }
        state.epochs_done = epoch + 1;
        state.seconds += started.elapsed().as_secs_f64();
        let record = EpochRecord { epoch: epoch + 1, mean_loss: loss_sum / steps_per_epoch as f64, learning_rate, seconds: state.seconds };
        run.end_epoch(&model, &optimizer, &state, &record)?;
        on_epoch(&record, &model.valid());
    }
    Ok(model.valid())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::TplConfig;
    use crate::model::detector::DetectorConfig;
    use rand::SeedableRng;

    fn bytes_of(model: &Detector) -> Vec<u8> {
        crate::model::weights::to_bytes(model, false, "", &[]).unwrap()
    }

    /// Starting from a detector or an encoder built on a plain device (as loaded weights
    /// are), one step changes the encoder and the rest: nothing is left frozen.
    #[test]
    fn a_step_trains_every_layer_including_a_borrowed_encoder() {
        let device = Device::flex();
        let detector = DetectorConfig::new(2, [4, 4, 8, 8, 8], [1, 1, 1, 1, 1], vec![8, 8, 8]).with_decoder_depth(1);
        let config = TplConfig::new(detector.clone()).with_image_size(32).with_radius(4.0);
        let image = |v: f32| GreyImage { width: 32, height: 32, pixels: (0..1024).map(|i| ((i % 7) as f32 * v) % 1.0).collect() };
        let labelled = |v: f32| LabelledImage { image: image(v), landmarks: vec![Point::new(10.0, 12.0), Point::new(20.0, 5.0)] };
        let (pseudo, template) = (labelled(0.3), labelled(0.2));
        let plain = detector.init(&device);
        // Encoders compared inside one fixed detector, so only the encoder can differ.
        let reference = detector.init(&device);
        let encoder_bytes = |encoder| bytes_of(&reference.clone().with_encoder(encoder));
        for (start, encoder) in [(Some(plain.clone()), None), (None, Some(plain.clone().encoder()))] {
            let (model, mut optimizer) = trainable(&config, start, encoder, &device);
            let before = model.valid();
            let mut rng = StdRng::seed_from_u64(1);
            let (model, _) = training_step(&config, model, &mut optimizer, &[&pseudo], &template, &mut rng, false, 1e-2, &device.clone().autodiff());
            let after = model.valid();
            assert_ne!(encoder_bytes(before.clone().encoder()), encoder_bytes(after.clone().encoder()), "the encoder stayed frozen");
            assert_ne!(bytes_of(&before.with_encoder(plain.clone().encoder())), bytes_of(&after.with_encoder(plain.clone().encoder())), "the decoder stayed frozen");
        }
    }
}

//! Training the SSL extractor: seeded, checkpointed every epoch, resumable.

use std::time::Instant;

use burn::module::Module;
use burn::optim::{AdamConfig, GradientsParams};
use burn::tensor::Device;

use crate::config::SslConfig;
use crate::error::{Error, Result};
use crate::io::image::GreyImage;
use crate::io::landmarks::Point;
use crate::ssl::SslModel;
use crate::ssl::loss::cascade_loss;
use crate::ssl::sampling::{PatchSample, draw};
use crate::training::{EpochRecord, RunDir, StepReport, batch_tensor, epoch_order, scalar};

/// Trains on `images` (already resized to `image_size`²), from `start` (a second round) or
/// from random weights. `focus` holds each image's pseudo-labels in model pixels for a
/// second round's focused points (`focus_share`), or is empty. Resumes from `run` when it
/// holds a checkpoint of the same configuration. Calls `on_step` after each step and
/// `on_epoch` after each epoch (with the model, for evaluation); returns the trained model.
#[allow(clippy::too_many_arguments)]
pub fn train(
    config: &SslConfig,
    images: &[GreyImage],
    focus: &[Vec<Point>],
    start: Option<SslModel>,
    device: &Device,
    run: &RunDir,
    mut on_step: impl FnMut(&StepReport),
    mut on_epoch: impl FnMut(&EpochRecord, &SslModel),
) -> Result<SslModel> {
    config.validate()?;
    let side = config.image_size;
    if images.is_empty() {
        return Err(Error::Invalid("no training images".into()));
    }
    if let Some(bad) = images.iter().find(|i| i.width as usize != side || i.height as usize != side) {
        return Err(Error::Invalid(format!("training images must be resized to {side}×{side}; got {}×{}", bad.width, bad.height)));
    }
    if !focus.is_empty() && focus.len() != images.len() {
        return Err(Error::Invalid(format!("{} images but focus points for {}", images.len(), focus.len())));
    }
    let device = device.clone().autodiff();
    // Weights loaded on a plain device are tracked by autodiff only once forked onto it.
    let model = start.map_or_else(|| SslModel::new(config, &device), |m| m.fork(&device).train().set_require_grad(true));
    let (mut model, mut optimizer, mut state) = run.resume_or_start(config, model, AdamConfig::new().init())?;

    let t = &config.training;
    let steps_per_epoch = images.len().div_ceil(t.batch_size);
    for epoch in state.epochs_done..t.epochs {
        let started = Instant::now();
        let (mut rng, order) = epoch_order(t.seed, epoch, images.len());
        let lr = config.learning_rate(epoch);
        let mut losses = Vec::with_capacity(steps_per_epoch);
        for (step, chunk) in order.chunks(t.batch_size).enumerate() {
            let samples: Vec<PatchSample> = chunk.iter().map(|&i| draw(&images[i], focus.get(i).map_or(&[], Vec::as_slice), t, &mut rng)).collect();
            let image_batch = batch_tensor(&chunk.iter().map(|&i| images[i].pixels.as_slice()).collect::<Vec<_>>(), side, &device);
            let patch_batch = batch_tensor(&samples.iter().map(|s| s.patch.as_slice()).collect::<Vec<_>>(), t.patch_size, &device);
            let image_points: Vec<_> = samples.iter().map(|s| s.image_points.clone()).collect();
            let patch_points: Vec<_> = samples.iter().map(|s| s.patch_points.clone()).collect();
            let loss = cascade_loss(&model.embed_image(image_batch), &model.embed_patch(patch_batch), &image_points, &patch_points, t.temperature, t.window);
            let value = scalar(&loss)?;
            let grads = GradientsParams::from_grads(loss.backward(), &model);
            model = optimizer.step(lr, model, grads);
            losses.push(value);
            on_step(&StepReport { epoch, step, steps_per_epoch, loss: value, learning_rate: lr });
        }
        let record = state.end_epoch(epoch, &losses, lr, started);
        run.end_epoch(&model, &optimizer, &state, &record)?;
        on_epoch(&record, &model.valid());
    }
    Ok(model.valid())
}

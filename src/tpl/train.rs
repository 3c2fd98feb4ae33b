//! Training the detector on pseudo-labels (paper §2.2), with the one labelled template in
//! every batch: seeded, checkpointed every epoch, resumable.

use std::time::Instant;

use burn::module::Module;
use burn::optim::{AdamConfig, GradientsParams};
use burn::tensor::Device;

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

/// Trains on pseudo-labelled images plus the template. `encoder`, when given, initialises the
/// detector's encoder (e.g. from the SSL extractor).
#[allow(clippy::too_many_arguments)]
pub fn train(
    config: &TplConfig,
    pseudo_labelled: &[LabelledImage],
    template: &LabelledImage,
    encoder: Option<Vec<ConvStack>>,
    device: &Device,
    run: &RunDir,
    mut on_step: impl FnMut(&StepReport),
    mut on_epoch: impl FnMut(&EpochRecord, &Detector),
) -> Result<Detector> {
    let side = config.image_size;
    let k = config.detector.landmarks;
    for (i, l) in pseudo_labelled.iter().chain(std::iter::once(template)).enumerate() {
        if l.image.width as usize != side || l.image.height as usize != side {
            return Err(Error::Invalid(format!("training image {i} must be resized to {side}×{side}")));
        }
        if l.landmarks.len() != k {
            return Err(Error::LandmarkCount { source_name: format!("training image {i}"), count: l.landmarks.len(), expected: k });
        }
    }
    if pseudo_labelled.is_empty() {
        return Err(Error::Invalid("no pseudo-labelled images".into()));
    }
    let device = device.clone().autodiff();
    let mut model = config.detector.init(&device);
    if let Some(encoder) = encoder {
        model = model.with_encoder(encoder).fork(&device);
    }
    let (mut model, mut optimizer, mut state) = run.resume_or_start(config, model, AdamConfig::new().init())?;

    let stride = config.detector.output_stride();
    let out = side / stride;
    let steps_per_epoch = pseudo_labelled.len().div_ceil(config.batch_size);
    for epoch in state.epochs_done..config.epochs {
        let started = Instant::now();
        let (mut rng, order) = epoch_order(config.seed, epoch, pseudo_labelled.len());
        let mut loss_sum = 0.0;
        for (step, chunk) in order.chunks(config.batch_size).enumerate() {
            let (images, targets): (Vec<GreyImage>, Vec<Targets>) = chunk
                .iter()
                .map(|&i| &pseudo_labelled[i])
                .chain(std::iter::once(template))
                .map(|l| {
                    let (img, pts) = augment(&l.image, &l.landmarks, config, &mut rng);
                    (img, disk_targets(&pts, [out, out], stride, config.radius))
                })
                .unzip();
            let batch = batch_tensor(&images.iter().map(|i| i.pixels.as_slice()).collect::<Vec<_>>(), side, &device);
            let loss = detector_loss(&model.forward(batch), &targets, config.positive_weight);
            let value = scalar(&loss)?;
            let grads = GradientsParams::from_grads(loss.backward(), &model);
            model = optimizer.step(config.learning_rate, model, grads);
            loss_sum += value;
            on_step(&StepReport { epoch, step, steps_per_epoch, loss: value, learning_rate: config.learning_rate });
        }
        state.epochs_done = epoch + 1;
        state.seconds += started.elapsed().as_secs_f64();
        let record = EpochRecord { epoch: epoch + 1, mean_loss: loss_sum / steps_per_epoch as f64, learning_rate: config.learning_rate, seconds: state.seconds };
        run.end_epoch(&model, &optimizer, &state, &record)?;
        on_epoch(&record, &model.valid());
    }
    Ok(model.valid())
}

//! Training the detector on pseudo-labels (paper §2.2), with the one labelled template in
//! every batch: seeded, checkpointed every epoch, resumable.

use std::time::Instant;

use burn::module::Module;
use burn::optim::decay::WeightDecayConfig;
use burn::optim::{AdamConfig, GradientsParams, ModuleOptimizer};
use burn::tensor::{Device, Tensor};
use rand::rngs::StdRng;

use crate::config::TplConfig;
use crate::error::Result;
use crate::io::image::GreyImage;
use crate::model::blocks::VggEncoder;
use crate::model::detector::Detector;
use crate::tpl::augment::augment;
use crate::tpl::loss::detector_loss;
use crate::tpl::targets::{Targets, disk_targets};
pub use crate::tpl::training_set::{LabelledImage, check_training_set};
use crate::training::{EpochRecord, RunDir, RunState, StepReport, batch_tensor, epoch_order, scalar};

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
    let loss = detector_loss(&model.forward(input), &targets, config.positive_weight, config.drop_worst.unwrap_or(false).then_some(batch.len()));
    let grads = GradientsParams::from_grads(loss.backward(), &model);
    let model = optimizer.step(learning_rate, model, grads);
    (model, loss.detach())
}

/// A detector ready to train on `device` (autodiff is added here), optionally starting from
/// another network's encoder, and its optimiser.
pub fn trainable(config: &TplConfig, start: Option<Detector>, encoder: Option<VggEncoder>, device: &Device) -> (Detector, ModuleOptimizer) {
    let device = device.clone().autodiff();
    let mut model = start.unwrap_or_else(|| config.detector.init(&device));
    if let Some(encoder) = encoder {
        model = model.with_encoder(encoder);
    }
    // Parameters built on a plain device (a loaded detector, the SSL encoder) are not
    // tracked by autodiff after `fork`: `train` turns autodiff on for every one, or they
    // would stay frozen.
    let optimizer = AdamConfig::new().with_weight_decay(config.weight_decay.map(|w| WeightDecayConfig::new(w as f32))).init();
    (model.fork(&device).train().set_require_grad(true), optimizer)
}

/// A detector in training, one step at a time: the model, its optimiser, where it stands
/// in the schedule and the epoch's shuffled order. The CLI's epochs (checkpointed, resumable)
/// and the page's fine-tuning (one step per call, the loss read back asynchronously) both
/// drive it.
pub struct TplTrainer {
    config: TplConfig,
    /// On the autodiff device.
    model: Detector,
    optimizer: ModuleOptimizer,
    /// The labelled template, at the model's input size: it joins every batch.
    template: LabelledImage,
    augment: bool,
    /// The epoch of the learning-rate schedule (0-based) the next step belongs to.
    epoch: usize,
    /// Steps done in that epoch.
    step: usize,
    order: Vec<usize>,
    rng: StdRng,
}

/// A step taken whose loss is still on the device.
pub struct PendingStep {
    pub loss: Tensor<1>,
    report: StepReport,
}

impl PendingStep {
    /// The step's report, with its loss read back.
    pub fn report(self, loss: f64) -> StepReport {
        StepReport { loss, ..self.report }
    }
}

impl TplTrainer {
    /// A trainer at `epoch` of the schedule: 0 for a new run, the epochs done for a resumed
    /// one, the trained epochs for a fine-tune (which so continues at the rate the training
    /// ended with). `model` and `optimizer` come from [`trainable`] (or a checkpoint of it).
    pub fn new(config: TplConfig, model: Detector, optimizer: ModuleOptimizer, template: LabelledImage, epoch: usize) -> Self {
        let (rng, order) = epoch_order(config.seed, epoch, 0);
        Self { config, model, optimizer, template, augment: true, epoch, step: 0, order, rng }
    }

    /// Augmentation of every training image (on by default).
    pub fn set_augmentation(&mut self, augment: bool) {
        self.augment = augment;
    }

    pub fn config(&self) -> &TplConfig {
        &self.config
    }

    /// The epoch the next step belongs to (0-based); after an epoch's last step, the next.
    pub fn epoch(&self) -> usize {
        self.epoch
    }

    /// One optimisation step on the next batch of `training_set` (plus the template). A new
    /// epoch (or a training set of another size) draws a new order.
    pub fn step(&mut self, training_set: &[LabelledImage], device: &Device) -> PendingStep {
        let n = training_set.len();
        let batch_size = self.config.batch_size;
        if self.step == 0 || self.order.len() != n {
            (self.rng, self.order) = epoch_order(self.config.seed, self.epoch, n);
            self.step = 0;
        }
        let steps_per_epoch = n.div_ceil(batch_size);
        let batch: Vec<&LabelledImage> = self.order.chunks(batch_size).nth(self.step).expect("a step within the epoch").iter().map(|&i| &training_set[i]).collect();
        let learning_rate = self.config.learning_rate(self.epoch);
        let device = device.clone().autodiff();
        let model = self.model.clone();
        let (model, loss) = training_step(&self.config, model, &mut self.optimizer, &batch, &self.template, &mut self.rng, self.augment, learning_rate, &device);
        self.model = model;
        let report = StepReport { epoch: self.epoch, step: self.step, steps_per_epoch, loss: f64::NAN, learning_rate };
        self.step += 1;
        if self.step == steps_per_epoch {
            self.epoch += 1;
            self.step = 0;
        }
        PendingStep { loss, report }
    }

    /// The detector as trained so far, for inference.
    pub fn detector(&self) -> Detector {
        self.model.valid()
    }

    /// Checkpoints the model and optimiser in `run` after an epoch.
    pub fn end_epoch(&self, run: &RunDir, state: &RunState<TplConfig>, record: &EpochRecord) -> Result<()> {
        run.end_epoch(&self.model, &self.optimizer, state, record)
    }
}

/// Trains on pseudo-labelled images plus the template, epoch by epoch, with a checkpoint in
/// `run` after each. `start`, when given, is the detector to continue from (a second round
/// on its own relabelling); `encoder`, when given, initialises the detector's encoder (e.g.
/// from the SSL extractor). A new run begins at schedule epoch `first_epoch` (0, or where a
/// continued detector's training ended, as the page's `fineTune` continues it); a resumed
/// run goes on from its checkpoint.
#[allow(clippy::too_many_arguments)]
pub fn train(
    config: &TplConfig,
    pseudo_labelled: &[LabelledImage],
    template: &LabelledImage,
    start: Option<Detector>,
    encoder: Option<VggEncoder>,
    first_epoch: usize,
    device: &Device,
    run: &RunDir,
    mut on_step: impl FnMut(&StepReport),
    mut on_epoch: impl FnMut(&EpochRecord, &Detector),
) -> Result<Detector> {
    check_training_set(config, pseudo_labelled, template)?;
    let (model, optimizer) = trainable(config, start, encoder, device);
    let (model, optimizer, mut state) = run.resume_or_start(config, model, optimizer)?;
    state.epochs_done = state.epochs_done.max(first_epoch);
    let mut trainer = TplTrainer::new(config.clone(), model, optimizer, template.clone(), state.epochs_done);
    for epoch in state.epochs_done..config.epochs {
        let started = Instant::now();
        let mut losses = Vec::new();
        while trainer.epoch() == epoch {
            let pending = trainer.step(pseudo_labelled, device);
            let loss = scalar(&pending.loss)?;
            let report = pending.report(loss);
            on_step(&report);
            losses.push(report.loss);
        }
        let record = state.end_epoch(epoch, &losses, config.learning_rate(epoch), started);
        trainer.end_epoch(run, &state, &record)?;
        on_epoch(&record, &trainer.detector());
    }
    Ok(trainer.detector())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::TplConfig;
    use crate::io::landmarks::Point;
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

//! Training the SSL extractor: seeded, checkpointed every epoch, resumable.

use std::path::{Path, PathBuf};
use std::time::Instant;

use burn::module::Module;
use burn::optim::{AdamConfig, GradientsParams};
use burn::tensor::{Device, Tensor, TensorData};
use rand::rngs::StdRng;
use rand::seq::SliceRandom;
use rand::SeedableRng;
use serde::{Deserialize, Serialize};

use crate::config::SslConfig;
use crate::error::{Error, Result};
use crate::io::image::GreyImage;
use crate::model::weights;
use crate::ssl::loss::cascade_loss;
use crate::ssl::sampling::{PatchSample, draw};
use crate::ssl::SslModel;

/// Reported after every optimisation step.
#[derive(Clone, Debug)]
pub struct StepReport {
    pub epoch: usize,
    pub step: usize,
    pub steps_per_epoch: usize,
    pub loss: f64,
    pub learning_rate: f64,
}

/// One line of the training log, written after every epoch.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct EpochRecord {
    pub epoch: usize,
    pub mean_loss: f64,
    pub learning_rate: f64,
    /// Training time so far, seconds (across resumes).
    pub seconds: f64,
}

/// Where a training run keeps its state: `model.bpk` (f32, for resuming), `optimizer.bin`,
/// `state.json` (epochs done, time spent), `log.csv`.
pub struct RunDir(pub PathBuf);

impl RunDir {
    fn model(&self) -> PathBuf {
        self.0.join("model.bpk")
    }
    fn optimizer(&self) -> PathBuf {
        self.0.join("optimizer.bin")
    }
    fn state(&self) -> PathBuf {
        self.0.join("state.json")
    }
    pub fn log(&self) -> PathBuf {
        self.0.join("log.csv")
    }
}

#[derive(Serialize, Deserialize)]
struct RunState {
    config: SslConfig,
    epochs_done: usize,
    seconds: f64,
}

/// The learning rate of an epoch: the paper's step schedule.
pub fn learning_rate(config: &SslConfig, epoch: usize) -> f64 {
    config.training.learning_rate * 0.5f64.powi((epoch / config.training.halve_every_epochs) as i32)
}

fn batch_tensor(images: &[&[f32]], side: usize, device: &Device) -> Tensor<4> {
    let data: Vec<f32> = images.iter().flat_map(|i| i.iter().copied()).collect();
    Tensor::<4>::from_data(TensorData::new(data, [images.len(), 1, side, side]), device).repeat_dim(1, 3)
}

/// Trains on `images` (already resized to `image_size`²). Resumes from `run` when it holds a
/// checkpoint of the same configuration. Calls `on_step` after each step and `on_epoch` after
/// each epoch (with the model, for evaluation); returns the trained model.
pub fn train(
    config: &SslConfig,
    images: &[GreyImage],
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
    std::fs::create_dir_all(&run.0).map_err(|e| Error::io(&run.0, e))?;
    let device = device.clone().autodiff();
    let mut model = SslModel::new(config, &device);
    let mut optimizer = AdamConfig::new().init();
    let mut state = RunState { config: config.clone(), epochs_done: 0, seconds: 0.0 };

    if run.state().is_file() {
        let text = std::fs::read_to_string(run.state()).map_err(|e| Error::io(run.state(), e))?;
        let saved: RunState = serde_json::from_str(&text).map_err(|e| Error::Invalid(format!("{}: {e}", run.state().display())))?;
        if saved.config != *config {
            return Err(Error::Invalid(format!("{} holds a run with another configuration; use a new folder", run.0.display())));
        }
        model = weights::load(model, &run.model())?;
        optimizer = optimizer.load(run.optimizer()).map_err(|e| Error::Invalid(format!("{}: {e}", run.optimizer().display())))?;
        state = saved;
    } else {
        std::fs::write(run.log(), "epoch,mean_loss,learning_rate,seconds\n").map_err(|e| Error::io(run.log(), e))?;
    }

    let t = &config.training;
    let steps_per_epoch = images.len().div_ceil(t.batch_size);
    for epoch in state.epochs_done..t.epochs {
        let started = Instant::now();
        // Every epoch has its own seed, so a resumed run continues exactly as an unbroken one.
        let mut rng = StdRng::seed_from_u64(t.seed.wrapping_mul(1_000_003).wrapping_add(epoch as u64));
        let mut order: Vec<usize> = (0..images.len()).collect();
        order.shuffle(&mut rng);
        let lr = learning_rate(config, epoch);
        let mut loss_sum = 0.0;
        for (step, chunk) in order.chunks(t.batch_size).enumerate() {
            let samples: Vec<PatchSample> = chunk.iter().map(|&i| draw(&images[i], t, &mut rng)).collect();
            let image_batch = batch_tensor(&chunk.iter().map(|&i| images[i].pixels.as_slice()).collect::<Vec<_>>(), side, &device);
            let patch_batch = batch_tensor(&samples.iter().map(|s| s.patch.as_slice()).collect::<Vec<_>>(), t.patch_size, &device);
            let image_points: Vec<_> = samples.iter().map(|s| s.image_points.clone()).collect();
            let patch_points: Vec<_> = samples.iter().map(|s| s.patch_points.clone()).collect();
            let loss = cascade_loss(&model.embed_image(image_batch), &model.embed_patch(patch_batch), &image_points, &patch_points, t.temperature, t.window);
            let value = f64::from(loss.clone().into_data().try_to_vec::<f32>().map_err(|e| Error::Invalid(format!("{e:?}")))?[0]);
            let grads = GradientsParams::from_grads(loss.backward(), &model);
            model = optimizer.step(lr, model, grads);
            loss_sum += value;
            on_step(&StepReport { epoch, step, steps_per_epoch, loss: value, learning_rate: lr });
        }
        state.epochs_done = epoch + 1;
        state.seconds += started.elapsed().as_secs_f64();
        let record = EpochRecord { epoch: epoch + 1, mean_loss: loss_sum / steps_per_epoch as f64, learning_rate: lr, seconds: state.seconds };
        checkpoint(run, &model, &optimizer, &state)?;
        let line = format!("{},{:.5},{:e},{:.1}\n", record.epoch, record.mean_loss, record.learning_rate, record.seconds);
        append(&run.log(), &line)?;
        on_epoch(&record, &model.valid());
    }
    Ok(model.valid())
}

fn checkpoint(run: &RunDir, model: &SslModel, optimizer: &burn::optim::ModuleOptimizer, state: &RunState) -> Result<()> {
    weights::save(model, &run.model(), false, &serde_json::to_string(&state.config).unwrap_or_default())?;
    optimizer.save(run.optimizer()).map_err(|e| Error::Invalid(format!("{}: {e}", run.optimizer().display())))?;
    let json = serde_json::to_string_pretty(state).expect("state serialises");
    std::fs::write(run.state(), json).map_err(|e| Error::io(run.state(), e))
}

fn append(path: &Path, line: &str) -> Result<()> {
    use std::io::Write;
    let mut f = std::fs::OpenOptions::new().append(true).create(true).open(path).map_err(|e| Error::io(path, e))?;
    f.write_all(line.as_bytes()).map_err(|e| Error::io(path, e))
}

//! What the SSL and TPL trainers share: the run folder (checkpoint every epoch, resume),
//! the per-step and per-epoch reports, the loss log.
//!
//! A run folder holds `model.bpk` (f32), `optimizer.bin`, `state.json` (configuration,
//! epochs done, seconds spent) and `log.csv` (one line per epoch).

use std::io::Write;
use std::path::Path;
#[cfg(feature = "train")]
use std::path::PathBuf;
use std::time::Instant;

#[cfg(feature = "train")]
use burn::module::Module;
#[cfg(feature = "train")]
use burn::optim::ModuleOptimizer;
#[cfg(feature = "train")]
use burn::store::ModuleSnapshot;
use burn::tensor::{Device, Tensor, TensorData};
use rand::SeedableRng;
use rand::rngs::StdRng;
use rand::seq::SliceRandom;
#[cfg(feature = "train")]
use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};

use crate::error::{Error, Result};
#[cfg(feature = "train")]
use crate::model::weights;

/// Reported after every optimisation step (to the CLI's progress bar, and as JSON to the
/// page's fine-tuning).
#[derive(Clone, Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct StepReport {
    /// 0-based, as `step`.
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

#[derive(Serialize, Deserialize)]
pub struct RunState<C> {
    pub config: C,
    pub epochs_done: usize,
    pub seconds: f64,
}

impl<C> RunState<C> {
    /// Counts the epoch (0-based `epoch`, begun at `started`, its steps' `losses`) as done
    /// and returns its log record.
    pub fn end_epoch(&mut self, epoch: usize, losses: &[f64], learning_rate: f64, started: Instant) -> EpochRecord {
        self.epochs_done = epoch + 1;
        self.seconds += started.elapsed().as_secs_f64();
        EpochRecord { epoch: epoch + 1, mean_loss: losses.iter().sum::<f64>() / losses.len().max(1) as f64, learning_rate, seconds: self.seconds }
    }
}

/// A step schedule: `initial`, multiplied by `factor` every `every` epochs (0-based `epoch`).
pub fn step_schedule(initial: f64, factor: f64, every: usize, epoch: usize) -> f64 {
    initial * factor.powi((epoch / every.max(1)) as i32)
}

/// A training run's folder (the `train` feature).
#[cfg(feature = "train")]
pub struct RunDir(pub PathBuf);

#[cfg(feature = "train")]
impl RunDir {
    pub fn model(&self) -> PathBuf {
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

    /// Resumes the run held in the folder (same configuration but for the number of
    /// epochs), or starts one.
    pub fn resume_or_start<C, M>(&self, config: &C, model: M, optimizer: ModuleOptimizer) -> Result<(M, ModuleOptimizer, RunState<C>)>
    where
        C: Clone + PartialEq + Serialize + DeserializeOwned,
        M: Module + ModuleSnapshot,
    {
        std::fs::create_dir_all(&self.0).map_err(|e| Error::io(&self.0, e))?;
        if !self.state().is_file() {
            std::fs::write(self.log(), "epoch,mean_loss,learning_rate,seconds\n").map_err(|e| Error::io(self.log(), e))?;
            return Ok((model, optimizer, RunState { config: config.clone(), epochs_done: 0, seconds: 0.0 }));
        }
        let text = std::fs::read_to_string(self.state()).map_err(|e| Error::io(self.state(), e))?;
        let saved: RunState<C> = serde_json::from_str(&text).map_err(|e| Error::Invalid(format!("{}: {e}", self.state().display())))?;
        if run_identity(&saved.config) != run_identity(config) {
            return Err(Error::Invalid(format!("{} holds a run with another configuration; use a new folder", self.0.display())));
        }
        // Only the length may differ: a finished run can be extended with a larger `epochs`.
        let saved = RunState { config: config.clone(), ..saved };
        let model = weights::load(model, &self.model())?;
        let optimizer = optimizer.load(self.optimizer()).map_err(|e| Error::Invalid(format!("{}: {e}", self.optimizer().display())))?;
        Ok((model, optimizer, saved))
    }

    /// Checkpoints the model and optimiser and appends the epoch to the log.
    pub fn end_epoch<C: Serialize, M: Module + ModuleSnapshot>(&self, model: &M, optimizer: &ModuleOptimizer, state: &RunState<C>, record: &EpochRecord) -> Result<()> {
        weights::save(model, &self.model(), false, &serde_json::to_string(&state.config).unwrap_or_default())?;
        optimizer.save(self.optimizer()).map_err(|e| Error::Invalid(format!("{}: {e}", self.optimizer().display())))?;
        std::fs::write(self.state(), serde_json::to_string_pretty(state).expect("state serialises")).map_err(|e| Error::io(self.state(), e))?;
        let line = format!("{},{:.5},{:e},{:.1}\n", record.epoch, record.mean_loss, record.learning_rate, record.seconds);
        append(&self.log(), &line)
    }
}

/// A configuration with every `epochs` field removed: what must match for a run to resume.
/// The learning-rate schedules depend on the epoch reached, never on the planned total.
#[cfg(feature = "train")]
fn run_identity<C: Serialize>(config: &C) -> serde_json::Value {
    fn strip(v: &mut serde_json::Value) {
        if let serde_json::Value::Object(map) = v {
            map.remove("epochs");
            map.values_mut().for_each(strip);
        }
    }
    let mut v = serde_json::to_value(config).expect("configurations serialise");
    strip(&mut v);
    v
}

pub fn append(path: &Path, line: &str) -> Result<()> {
    let mut f = std::fs::OpenOptions::new().append(true).create(true).open(path).map_err(|e| Error::io(path, e))?;
    f.write_all(line.as_bytes()).map_err(|e| Error::io(path, e))
}

/// An epoch's random generator and its order over `n` items. Every epoch has its own seed,
/// so a resumed run continues exactly as an unbroken one.
pub fn epoch_order(seed: u64, epoch: usize, n: usize) -> (StdRng, Vec<usize>) {
    let mut rng = StdRng::seed_from_u64(seed.wrapping_mul(1_000_003).wrapping_add(epoch as u64));
    let mut order: Vec<usize> = (0..n).collect();
    order.shuffle(&mut rng);
    (rng, order)
}

/// Grey images (each `side`², row-major) as a `[B, 1, side, side]` batch.
pub fn batch_tensor(images: &[&[f32]], side: usize, device: &Device) -> Tensor<4> {
    let data: Vec<f32> = images.iter().flat_map(|i| i.iter().copied()).collect();
    Tensor::<4>::from_data(TensorData::new(data, [images.len(), 1, side, side]), device)
}

/// A scalar loss as f64 (synchronous read-back).
pub fn scalar(loss: &Tensor<1>) -> Result<f64> {
    let v = loss.clone().into_data().try_to_vec::<f32>().map_err(|e| Error::Invalid(format!("reading the loss: {e:?}")))?;
    Ok(f64::from(v[0]))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::{Preset, SslConfig, TplConfig};

    #[test]
    fn a_run_resumes_with_more_epochs_but_not_with_another_setting() {
        let tpl = TplConfig::preset(Preset::Small, 19);
        assert_eq!(run_identity(&tpl), run_identity(&tpl.clone().with_epochs(99)));
        assert_ne!(run_identity(&tpl), run_identity(&tpl.clone().with_radius(7.0)));
        let ssl = SslConfig::preset(Preset::Small);
        let mut longer = ssl.clone();
        longer.training.epochs += 10;
        assert_eq!(run_identity(&ssl), run_identity(&longer));
        longer.training.temperature = 3.0;
        assert_ne!(run_identity(&ssl), run_identity(&longer));
    }
}

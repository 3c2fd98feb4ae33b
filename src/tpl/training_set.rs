//! The detector's training set: images resized to its input with their landmarks (the
//! template's, or pseudo-labels) in model pixels. Built by inference code too (the page's
//! pseudo-labelling), so it lives outside the training module that the `train` feature gates.

use serde::{Deserialize, Serialize};

use crate::config::TplConfig;
use crate::error::{Error, Result};
use crate::io::image::GreyImage;
use crate::io::landmarks::Point;
use crate::preprocess::preprocess;

/// An image resized to the model's input with its landmarks in model pixels.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct LabelledImage {
    pub image: GreyImage,
    pub landmarks: Vec<Point>,
}

impl LabelledImage {
    /// `image` resized to `side`², with `landmarks` (its original pixels) mapped along.
    pub fn new(image: &GreyImage, landmarks: &[Point], side: u32) -> Self {
        let input = preprocess(image, [side, side]);
        Self { landmarks: landmarks.iter().map(|&p| input.frame.to_model(p)).collect(), image: input.image }
    }

    /// Checks that a detector of `config` can train on it: the model's input size (pixels
    /// that fill it), the detector's landmark count, finite points. `what` names it in errors.
    pub fn check(&self, config: &TplConfig, what: &str) -> Result<()> {
        let side = config.image_size;
        let k = config.detector.landmarks;
        if self.image.width as usize != side || self.image.height as usize != side || self.image.pixels.len() != side * side {
            return Err(Error::Invalid(format!("{what} must be resized to {side}×{side}")));
        }
        if self.landmarks.len() != k {
            return Err(Error::LandmarkCount { source_name: what.to_string(), count: self.landmarks.len(), expected: k });
        }
        if self.landmarks.iter().any(|p| !p.x.is_finite() || !p.y.is_finite()) {
            return Err(Error::Invalid(format!("{what} has a landmark that is not a finite number")));
        }
        Ok(())
    }
}

/// Checks that every training image has the model's input size and the detector's landmarks.
pub fn check_training_set(config: &TplConfig, pseudo_labelled: &[LabelledImage], template: &LabelledImage) -> Result<()> {
    for (i, l) in pseudo_labelled.iter().chain(std::iter::once(template)).enumerate() {
        l.check(config, &format!("training image {i}"))?;
    }
    if pseudo_labelled.is_empty() {
        return Err(Error::Invalid("no pseudo-labelled images".into()));
    }
    Ok(())
}

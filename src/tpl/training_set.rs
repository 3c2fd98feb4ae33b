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

//! Stage II of CC2D: the detector trained on the SSL stage's pseudo-labels. `targets` makes
//! its training targets; `voting` turns its output maps back into landmarks.

pub mod augment;
pub mod confidence;
pub mod detect;
pub mod loss;
pub mod targets;
#[cfg(feature = "train")]
pub mod train;
pub mod training_set;
pub mod voting;

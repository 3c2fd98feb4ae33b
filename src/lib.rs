//! # cc2d — one-shot medical landmark detection
//!
//! An implementation of "One-shot Medical Landmark Detection" (Cascade Comparing to Detect,
//! CC2D, MICCAI 2021) that runs natively and in the browser.
//!
//! The data flow, and where each step lives: image file → [`io::image`] (decode) →
//! [`preprocess`] (resize, exact pixel mapping) → a [`Locator`]'s `maps` on the device (the
//! [`baseline::ncc`] baseline, [`ssl::matching`] against the template, or the [`tpl::detect`]
//! detector; [`model`] holds the Burn modules) → its `decode` on the CPU → original pixels →
//! [`metrics`]. Training lives in `ssl::train` and `tpl::train` (the `train` feature: autodiff
//! and the optimiser, which detection and matching do without).

#[cfg(feature = "cli")]
pub mod allocator;
pub mod baseline;
pub mod config;
pub mod error;
pub mod io;
pub mod linalg;
pub mod locate;
pub mod metrics;
pub mod model;
pub mod orientation;
mod parallel;
pub mod preprocess;
pub mod shift;
pub mod ssl;
pub mod tpl;
pub mod training;
#[cfg(feature = "web")]
pub mod web;

pub use baseline::ncc::{NccConfig, NccMatcher};
pub use config::{MatchingConfig, Preset, SslConfig, TplConfig};
pub use error::{Error, Result};
pub use io::dataset::Dataset;
pub use io::image::GreyImage;
pub use io::landmarks::{Detection, Landmark, Point, Template};
pub use locate::{Locator, ReadBack};
pub use ssl::SslModel;
pub use ssl::matching::SslMatcher;
pub use tpl::detect::TplDetector;
#[cfg(feature = "train")]
pub use tpl::train::TplTrainer;
pub use tpl::training_set::LabelledImage;

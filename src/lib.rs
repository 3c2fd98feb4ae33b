//! # cc2d — one-shot medical landmark detection
//!
//! An implementation of "One-shot Medical Landmark Detection" (Cascade Comparing to Detect,
//! CC2D, MICCAI 2021) that runs natively and in the browser.
//!
//! The data flow, and where each step lives:
//! image file → [`io::image`] (decode) → [`preprocess`] (resize, exact pixel mapping) →
//! detector ([`baseline::ncc`]; [`model`] holds the Burn building blocks) →
//! original pixels → [`metrics`].

pub mod baseline;
pub mod config;
pub mod error;
pub mod io;
pub mod linalg;
pub mod locate;
pub mod metrics;
pub mod model;
pub mod preprocess;
pub mod ssl;
pub mod tpl;
pub mod training;
#[cfg(feature = "web")]
pub mod web;

pub use error::{Error, Result};

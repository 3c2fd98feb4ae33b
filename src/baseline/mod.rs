//! Detectors that need no training. They set the floor that CC2D must beat and exercise the
//! whole path from an image file to scored predictions.

pub mod ncc;

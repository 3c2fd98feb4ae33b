//! Reading and writing what cc2d consumes and produces: images, landmarks, datasets.

pub mod dataset;
pub mod dicom;
pub mod image;
pub mod landmarks;

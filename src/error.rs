//! One error type for the whole library: every variant names the input it is about, so a
//! message read in a terminal or a browser console says which file and what is wrong with it.

use std::path::PathBuf;

/// Everything cc2d can refuse or fail at.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("{source_name}: cannot read file: {err}")]
    Io { source_name: String, err: std::io::Error },

    #[error("{source_name}: not a supported image (PNG, JPEG, BMP, TIFF or DICOM): {reason}")]
    UnsupportedImage { source_name: String, reason: String },

    #[error("{source_name}: corrupt or truncated image: {reason}")]
    CorruptImage { source_name: String, reason: String },

    #[error("{source_name}: image is {width}×{height}; sides must be between 1 and {max} pixels")]
    ImageSize { source_name: String, width: u64, height: u64, max: u32 },

    #[error("{source_name}: {count} landmarks, expected {expected}")]
    LandmarkCount { source_name: String, count: usize, expected: usize },

    #[error("{source_name}: landmark {index} ({name}) is at ({x}, {y}), {reason}")]
    BadLandmark { source_name: String, index: usize, name: String, x: f64, y: f64, reason: String },

    #[error("{source_name}: line {line}: {reason}")]
    Parse { source_name: String, line: usize, reason: String },

    #[error("{source_name}: {reason}")]
    Dataset { source_name: String, reason: String },

    /// Weights that are not cc2d's, or not for this model (another network, configuration
    /// or landmark set).
    #[error("{source_name}: {reason}")]
    Weights { source_name: String, reason: String },

    #[error("{0}")]
    NoWebGpu(String),

    #[error("{0}")]
    Invalid(String),
}

impl Error {
    /// A stable code a program can switch on (the npm package puts it on every rejection as
    /// `error.code`; pkg/README.md, "Errors").
    pub fn code(&self) -> &'static str {
        match self {
            Error::Io { .. } => "CC2D_IO",
            Error::UnsupportedImage { .. } | Error::CorruptImage { .. } | Error::ImageSize { .. } => "CC2D_BAD_IMAGE",
            Error::LandmarkCount { .. } => "CC2D_LANDMARK_COUNT",
            Error::BadLandmark { .. } => "CC2D_BAD_LANDMARK",
            Error::Parse { .. } | Error::Dataset { .. } | Error::Invalid(_) => "CC2D_BAD_INPUT",
            Error::Weights { .. } => "CC2D_WEIGHTS_MISMATCH",
            Error::NoWebGpu(_) => "CC2D_NO_WEBGPU",
        }
    }

    pub(crate) fn io(path: impl Into<PathBuf>, err: std::io::Error) -> Self {
        Error::Io { source_name: path.into().display().to_string(), err }
    }
}

pub type Result<T, E = Error> = std::result::Result<T, E>;

//! What every one-shot detector here does, in two halves: `maps` (image → preprocess →
//! the work on the device) and `decode` (the read-back maps → points in the image's original
//! pixels, on the CPU). The halves are apart because reading back is synchronous natively
//! and asynchronous in a browser (WebGPU); the NCC baseline, SSL matching and the TPL
//! detector all take this shape, so the CLI, the tests and the web bindings drive any of
//! them the same way.

use burn::tensor::{Device, Tensor};

use crate::error::{Error, Result};
use crate::io::image::GreyImage;
use crate::io::landmarks::{Detection, Point};
use crate::preprocess::Frame;

/// Maps as the device produced them, and how they are read back to the CPU.
pub trait ReadBack {
    /// The read-back values `decode` works on.
    type Values;
    /// Reads synchronously (natively; or on the CPU backend anywhere).
    fn read(self) -> Result<Self::Values>;
}

impl ReadBack for Tensor<4> {
    type Values = Vec<f32>;
    fn read(self) -> Result<Vec<f32>> {
        self.into_data().try_to_vec::<f32>().map_err(|e| Error::Invalid(format!("reading maps back: {e:?}")))
    }
}

/// A landmark detector for one template: NCC, SSL matching or the TPL detector.
pub trait Locator {
    /// What `maps` produces before read-back.
    type Maps: ReadBack;

    /// The landmarks' names, in order.
    fn landmark_names(&self) -> Vec<String>;

    /// The image's maps, and the frame from model pixels back to the image's.
    fn maps(&self, image: &GreyImage, device: &Device) -> (Self::Maps, Frame);

    /// Each landmark's position (original pixels) and score, from the read-back maps.
    fn decode(&self, maps: &<Self::Maps as ReadBack>::Values, frame: &Frame) -> Vec<(Point, f64)>;

    /// `maps`, a synchronous read-back, `decode`.
    fn locate(&self, image: &GreyImage, device: &Device) -> Result<Vec<(Point, f64)>> {
        let (maps, frame) = self.maps(image, device);
        Ok(self.decode(&maps.read()?, &frame))
    }

    /// [`Self::locate`] as a named [`Detection`] of the image called `image_name`.
    fn detect(&self, image: &GreyImage, image_name: &str, device: &Device) -> Result<Detection> {
        Ok(Detection::new(image_name, image.width, image.height, &self.landmark_names(), self.locate(image, device)?))
    }
}

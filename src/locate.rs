//! What every one-shot detector here does, in two halves: `maps` (image → preprocess →
//! the work on the device) and `decode` (the read-back maps → points in the image's original
//! pixels, on the CPU). The halves are apart because reading back is synchronous natively
//! and asynchronous in a browser (WebGPU); the NCC baseline, SSL matching and the TPL
//! detector all take this shape, so the CLI, the tests and the web bindings drive any of
//! them the same way.

use std::borrow::Cow;

use burn::tensor::{Device, Tensor};

use crate::error::{Error, Result};
use crate::io::image::GreyImage;
use crate::io::landmarks::{Detection, Point};
use crate::preprocess::{Frame, Placement};

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

    /// The physical frame the model saw in training (its template's), where known: images
    /// whose spacing is known are shown to it at that scale ([`AtScale`]).
    fn physical_frame(&self) -> Option<PhysicalFrame> {
        None
    }

    /// [`Self::locate`] with the image brought to [`Self::physical_frame`] when its spacing
    /// (`spacing_mm`, mm per pixel) is known; the points in the image's own pixels.
    fn locate_at_scale(&self, image: &GreyImage, spacing_mm: Option<f64>, device: &Device) -> Result<Vec<(Point, f64)>> {
        let at = AtScale::new(image, spacing_mm, self.physical_frame());
        Ok(at.back(self.locate(&at.image, device)?))
    }

    /// [`Self::locate`] as a named [`Detection`] of the image called `image_name`.
    fn detect(&self, image: &GreyImage, image_name: &str, device: &Device) -> Result<Detection> {
        Ok(Detection::new(image_name, image.width, image.height, &self.landmark_names(), self.locate(image, device)?))
    }
}

/// The physical frame a model saw in training: its images' size (pixels) and spacing (mm per
/// pixel), i.e. the template's. An image of known spacing from another device (a tighter or
/// wider field of view, another pixel size) is shown to the model resampled to this spacing
/// and centred in a frame of this size, so the anatomy has the size it had in training.
#[derive(Clone, Copy, Debug, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct PhysicalFrame {
    pub size: [u32; 2],
    pub spacing_mm: f64,
}

impl PhysicalFrame {
    /// The template's frame, when its spacing is known.
    pub fn of_template(template: &crate::io::landmarks::Template) -> Option<Self> {
        template.spacing_mm.map(|spacing_mm| Self { size: [template.width, template.height], spacing_mm })
    }

    /// How an image of `width`×`height` at `spacing_mm` is shown at this frame's spacing,
    /// centred in a frame of its size; None when that changes nothing (then the image is used
    /// as it is, bit for bit).
    pub fn placement(&self, width: u32, height: u32, spacing_mm: f64) -> Option<Placement> {
        let k = spacing_mm / self.spacing_mm;
        let resized = [(f64::from(width) * k).round().max(1.0) as u32, (f64::from(height) * k).round().max(1.0) as u32];
        if resized == [width, height] && resized == self.size {
            return None;
        }
        let offset = [0, 1].map(|axis| ((i64::from(resized[axis]) - i64::from(self.size[axis])) as f64 / 2.0).round() as i64);
        Some(Placement { frame: Frame::new([width, height], resized), offset, size: self.size })
    }
}

/// An image as a locator sees it: brought to the locator's physical frame where both the
/// frame and the image's spacing are known, else as it is; and how its points go back.
pub struct AtScale<'a> {
    pub image: Cow<'a, GreyImage>,
    placement: Option<Placement>,
    original: [u32; 2],
}

impl<'a> AtScale<'a> {
    pub fn new(image: &'a GreyImage, spacing_mm: Option<f64>, frame: Option<PhysicalFrame>) -> Self {
        let placement = frame.zip(spacing_mm).and_then(|(f, s)| f.placement(image.width, image.height, s));
        let shown = placement.map_or(Cow::Borrowed(image), |p| Cow::Owned(p.apply(image, 0.0)));
        Self { image: shown, placement, original: [image.width, image.height] }
    }

    /// Points found in [`Self::image`] in the original image's pixels (inside it).
    pub fn back(&self, found: Vec<(Point, f64)>) -> Vec<(Point, f64)> {
        match &self.placement {
            None => found,
            Some(p) => {
                let inside = Frame::new(self.original, self.original);
                found.into_iter().map(|(q, score)| (inside.inside_original(p.to_input(q)), score)).collect()
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// An image of the frame's own size and spacing is used as it is; one of another
    /// spacing is resampled and centred, and its points come back where they were.
    #[test]
    fn an_image_of_known_spacing_is_shown_at_the_frames_scale() {
        let frame = PhysicalFrame { size: [200, 240], spacing_mm: 0.1 };
        assert_eq!(frame.placement(200, 240, 0.1), None);
        let p = frame.placement(100, 150, 0.15).expect("another spacing");
        assert_eq!(p.frame.model, [150, 225]);
        assert_eq!(p.offset, [-25, -8]);
        let q = Point::new(40.0, 70.0);
        // 1 mm in the image is 1 mm in the frame: 10 frame pixels per 6.67 image pixels.
        let (a, b) = (p.to_output(q), p.to_output(Point::new(q.x + 10.0, q.y)));
        assert!((a.distance(b) * 0.1 - 10.0 * 0.15).abs() < 1e-9);
        assert!(p.to_input(a).distance(q) < 1e-9);
        let image = GreyImage::new(100, 150, vec![0.5; 15_000]).unwrap();
        let at = AtScale::new(&image, Some(0.15), Some(frame));
        assert_eq!((at.image.width, at.image.height), (200, 240));
        assert_eq!(at.image.at(0, 0), 0.0, "a blank border around the smaller field of view");
        let back = at.back(vec![(a, 0.9), (Point::new(-50.0, 300.0), 0.1)]);
        assert!(back[0].0.distance(q) < 1e-9);
        assert_eq!(back[1].0, Point::new(0.0, 149.0), "a point in the border comes back inside the image");
        // Without a spacing, or without a frame, the image is used as it is.
        assert!(matches!(AtScale::new(&image, None, Some(frame)).image, Cow::Borrowed(_)));
        assert!(matches!(AtScale::new(&image, Some(0.15), None).image, Cow::Borrowed(_)));
    }
}

//! Images from the page: encoded files or a canvas's RGBA pixels.

use wasm_bindgen::prelude::*;

use crate::io::image::{self, GreyImage};
use crate::web::Rejection;

/// A decoded image, grey, ready for the models.
#[wasm_bindgen]
pub struct Image {
    pub(crate) image: GreyImage,
    pub(crate) name: String,
    /// Millimetres per pixel, where the file gives it (DICOM).
    pub(crate) spacing_mm: Option<f64>,
}

#[wasm_bindgen]
impl Image {
    /// Decodes an encoded image (PNG, JPEG, BMP, TIFF or DICOM; 8 or 16 bit). `name` is used in
    /// error messages and in results.
    #[wasm_bindgen(js_name = fromEncoded)]
    pub fn from_encoded(bytes: &[u8], name: &str) -> Result<Image, Rejection> {
        let (image, spacing_mm) = image::decode_with_spacing(bytes, name)?;
        Ok(Self { image, name: name.into(), spacing_mm })
    }

    /// Takes RGBA pixels as a canvas gives them (`ImageData.data`).
    #[wasm_bindgen(js_name = fromRgba)]
    pub fn from_rgba(width: u32, height: u32, rgba: &[u8], name: &str) -> Result<Image, Rejection> {
        Ok(Self { image: image::from_rgba8(width, height, rgba, name)?, name: name.into(), spacing_mm: None })
    }

    /// The decoded pixels as 8-bit RGBA, grey in each colour channel: what a page shows when
    /// its browser cannot decode the file itself (TIFF, 16-bit).
    #[wasm_bindgen(js_name = toRgba)]
    pub fn to_rgba(&self) -> Vec<u8> {
        self.image
            .pixels
            .iter()
            .flat_map(|&v| {
                let g = (v.clamp(0.0, 1.0) * 255.0).round() as u8;
                [g, g, g, 255]
            })
            .collect()
    }

    #[wasm_bindgen(getter)]
    pub fn width(&self) -> u32 {
        self.image.width
    }

    #[wasm_bindgen(getter)]
    pub fn height(&self) -> u32 {
        self.image.height
    }

    /// Sets the pixel spacing (mm per pixel; e.g. the app's calibration), which overrides
    /// the file's: the detector and the matcher see the image at the scale they were trained at.
    #[wasm_bindgen(js_name = setSpacingMm)]
    pub fn set_spacing_mm(&mut self, spacing_mm: f64) -> Result<(), Rejection> {
        if !(spacing_mm.is_finite() && spacing_mm > 0.0 && spacing_mm < 10.0) {
            return Err(Rejection::from(crate::Error::Invalid(format!("{}: spacingMm must be a pixel size in mm (0 < spacingMm < 10), got {spacing_mm}", self.name))));
        }
        self.spacing_mm = Some(spacing_mm);
        Ok(())
    }

    /// Millimetres per pixel from the file (DICOM's PixelSpacing or ImagerPixelSpacing), if any.
    #[wasm_bindgen(getter, js_name = spacingMm)]
    pub fn spacing_mm(&self) -> Option<f64> {
        self.spacing_mm
    }
}

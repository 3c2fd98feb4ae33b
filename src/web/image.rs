//! Images from the page: encoded files or a canvas's RGBA pixels.

use wasm_bindgen::prelude::*;

use crate::io::image::{self, GreyImage};
use crate::web::js_error;

/// A decoded image, grey, ready for the models.
#[wasm_bindgen]
pub struct Image {
    pub(crate) image: GreyImage,
    pub(crate) name: String,
}

#[wasm_bindgen]
impl Image {
    /// Decodes an encoded image (PNG, JPEG, BMP or TIFF; 8 or 16 bit). `name` is used in
    /// error messages and in results.
    #[wasm_bindgen(js_name = fromEncoded)]
    pub fn from_encoded(bytes: &[u8], name: &str) -> Result<Image, JsError> {
        Ok(Self { image: image::decode(bytes, name).map_err(js_error)?, name: name.into() })
    }

    /// Takes RGBA pixels as a canvas gives them (`ImageData.data`).
    #[wasm_bindgen(js_name = fromRgba)]
    pub fn from_rgba(width: u32, height: u32, rgba: &[u8], name: &str) -> Result<Image, JsError> {
        Ok(Self { image: image::from_rgba8(width, height, rgba, name).map_err(js_error)?, name: name.into() })
    }

    #[wasm_bindgen(getter)]
    pub fn width(&self) -> u32 {
        self.image.width
    }

    #[wasm_bindgen(getter)]
    pub fn height(&self) -> u32 {
        self.image.height
    }
}

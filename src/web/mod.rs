//! JavaScript bindings (wasm-bindgen). Compiled only with the `web` feature; the code they
//! call is the same library code the native CLI runs.

use burn::tensor::Device;
use wasm_bindgen::prelude::*;

use crate::baseline::ncc::{NccConfig, NccMatcher};
use crate::io::image;
use crate::io::landmarks::Template;

#[wasm_bindgen(start)]
fn start() {
    console_error_panic_hook::set_once();
}

fn js_error(e: impl std::fmt::Display) -> JsError {
    JsError::new(&e.to_string())
}

/// Initialises Burn on the browser's WebGPU. Fails with a clear message when the browser
/// offers no adapter (no `navigator.gpu`, or `requestAdapter()` returned null).
pub async fn webgpu_device() -> Result<Device, crate::Error> {
    Device::wgpu_options()
        .init_async()
        .await
        .map_err(|e| crate::Error::Invalid(format!("WebGPU is not available in this browser: {e}")))
}

/// The training-free NCC baseline, prepared for one template.
#[wasm_bindgen]
pub struct NccDetector {
    matcher: NccMatcher,
}

#[wasm_bindgen]
impl NccDetector {
    /// `templateImage`: the encoded template image (PNG, JPEG, BMP or TIFF);
    /// `templateJson`: the template JSON (README, "Data formats").
    #[wasm_bindgen(constructor)]
    pub fn new(template_image: &[u8], template_json: &str) -> Result<NccDetector, JsError> {
        let template = Template::from_json(template_json, "template").map_err(js_error)?;
        let img = image::decode(template_image, &template.image).map_err(js_error)?;
        let matcher = NccMatcher::new(&img, &template, NccConfig::default()).map_err(js_error)?;
        Ok(Self { matcher })
    }

    /// Detects the template's landmarks in an encoded image; returns the detection as JSON
    /// (`{ image, width, height, landmarks: [{ name, x, y, score }] }`, original pixels).
    pub fn detect(&self, image_bytes: &[u8], name: &str) -> Result<String, JsError> {
        let img = image::decode(image_bytes, name).map_err(js_error)?;
        serde_json::to_string(&self.matcher.detect(&img, name)).map_err(js_error)
    }
}

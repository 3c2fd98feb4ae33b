//! JavaScript bindings (wasm-bindgen), compiled only with the `web` feature: the low-level
//! half of the npm package, which `pkg/index.js` wraps in the documented `Cc2d` class
//! (image conversion, weights fetching, a call queue, progress and cancellation).
//!
//! This layer only converts: JS values in, the library's types through, JSON out. The
//! models, matching, detection and fine-tuning are the same library code the CLI runs; only
//! the read-back of tensors differs (asynchronous, as WebGPU requires).

mod device;
mod engine;
mod image;

pub use device::webgpu_device;
pub use engine::Engine;
pub use image::Image;

use wasm_bindgen::prelude::*;

#[wasm_bindgen(start)]
fn start() {
    console_error_panic_hook::set_once();
}

fn js_error(e: impl std::fmt::Display) -> JsError {
    JsError::new(&e.to_string())
}

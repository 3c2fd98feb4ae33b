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

pub use device::{webgpu_device, yield_to_event_loop};
pub use engine::Engine;
pub use image::Image;
/// `initThreadPool(n)` in JS: starts the pool of `n` Web Workers the CPU kernels run on (the
/// threaded module only; the package calls it right after instantiating the module, before
/// any engine exists, and only in a cross-origin-isolated worker, where threads can block).
#[cfg(feature = "threads")]
pub use wasm_bindgen_rayon::init_thread_pool;

use wasm_bindgen::prelude::*;

#[wasm_bindgen(start)]
fn start() {
    console_error_panic_hook::set_once();
}

/// A rejection as the page sees it: a JS `Error` with a stable `code` (pkg/README.md, "Errors"),
/// from the library's error or one of the web layer's own.
#[derive(Debug)]
pub struct Rejection {
    code: &'static str,
    message: String,
}

impl Rejection {
    pub(crate) fn new(code: &'static str, message: impl Into<String>) -> Self {
        Self { code, message: message.into() }
    }

    /// A call that needs something done first (weights loaded, a template set, …).
    fn not_ready(message: &str) -> Self {
        Self::new("CC2D_NOT_READY", message)
    }

    /// Something that should not happen (a failed read-back, serialisation).
    fn internal(e: impl std::fmt::Display) -> Self {
        Self::new("CC2D_INTERNAL", e.to_string())
    }
}

impl From<crate::Error> for Rejection {
    fn from(e: crate::Error) -> Self {
        Self::new(e.code(), e.to_string())
    }
}

impl From<Rejection> for JsValue {
    fn from(r: Rejection) -> JsValue {
        let error = js_sys::Error::new(&r.message);
        // Setting a property on a fresh Error object cannot fail.
        let _ = js_sys::Reflect::set(&error, &"code".into(), &r.code.into());
        error.into()
    }
}

//! JavaScript bindings (wasm-bindgen). Compiled only with the `web` feature; the code they
//! call is the same library code the native CLI runs.

use std::cell::RefCell;
use std::rc::Rc;

use burn::tensor::Device;
use wasm_bindgen::prelude::*;
use wasm_bindgen_futures::future_to_promise;

use crate::baseline::ncc::{NccConfig, NccMatcher};
use crate::config::SslConfig;
use crate::io::image;
use crate::io::landmarks::{Detection, Template};
use crate::model::weights;
use crate::ssl::SslModel;
use crate::ssl::matching::SslMatcher;

#[wasm_bindgen(start)]
fn start() {
    console_error_panic_hook::set_once();
}

fn js_error(e: impl std::fmt::Display) -> JsError {
    JsError::new(&e.to_string())
}

thread_local! {
    /// The page's WebGPU device: it can be initialised only once.
    static WEBGPU: RefCell<Option<Device>> = const { RefCell::new(None) };
}

/// Initialises Burn on the browser's WebGPU (once per page; later calls reuse it). Fails
/// with a clear message when the browser offers no adapter (no `navigator.gpu`, or
/// `requestAdapter()` returned null).
pub async fn webgpu_device() -> Result<Device, crate::Error> {
    if let Some(device) = WEBGPU.with(|d| d.borrow().clone()) {
        return Ok(device);
    }
    let device = Device::wgpu_options()
        .init_async()
        .await
        .map_err(|e| crate::Error::Invalid(format!("WebGPU is not available in this browser: {e}")))?;
    WEBGPU.with(|d| *d.borrow_mut() = Some(device.clone()));
    Ok(device)
}

/// The device for a backend name: `webgpu`, `cpu` (Burn's flex), or `auto` (WebGPU when
/// the browser has an adapter, else the CPU).
async fn device_for(backend: &str) -> Result<(Device, &'static str), JsError> {
    match backend {
        "cpu" => Ok((Device::flex(), "cpu")),
        "webgpu" => webgpu_device().await.map(|d| (d, "webgpu")).map_err(js_error),
        "auto" => Ok(match webgpu_device().await {
            Ok(d) => (d, "webgpu"),
            Err(_) => (Device::flex(), "cpu"),
        }),
        other => Err(JsError::new(&format!("unknown backend {other:?}; use \"auto\", \"webgpu\" or \"cpu\""))),
    }
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

struct SslState {
    matcher: SslMatcher,
    device: Device,
    names: Vec<String>,
    backend: &'static str,
}

/// CC2D-SSL matching in the page: the template is embedded once, each image is compared
/// with it level by level.
#[wasm_bindgen]
pub struct SslDetector {
    state: Rc<SslState>,
}

#[wasm_bindgen]
impl SslDetector {
    /// `backend`: "auto", "webgpu" or "cpu"; `weights`: the small extractor's burnpack
    /// bytes; the template as encoded image bytes and template JSON.
    pub async fn create(backend: String, weights: Vec<u8>, template_image: Vec<u8>, template_json: String) -> Result<SslDetector, JsError> {
        let (device, backend) = device_for(&backend).await?;
        let config = SslConfig::preset("small").map_err(js_error)?;
        let model = weights::from_bytes(SslModel::new(&config, &device), weights, "weights").map_err(js_error)?;
        let template = Template::from_json(&template_json, "template").map_err(js_error)?;
        let img = image::decode(&template_image, &template.image).map_err(js_error)?;
        let matcher = SslMatcher::new(model, config.image_size, &img, &template, &device).map_err(js_error)?;
        Ok(Self { state: Rc::new(SslState { matcher, device, names: template.names(), backend }) })
    }

    /// The backend in use: "webgpu" or "cpu".
    #[wasm_bindgen(getter)]
    pub fn backend(&self) -> String {
        self.state.backend.into()
    }

    /// Locates the template's landmarks in an encoded image. Resolves to the detection as
    /// JSON (`{ image, width, height, landmarks: [{ name, x, y, score }] }`, original pixels).
    pub fn locate(&self, image_bytes: Vec<u8>, name: String) -> js_sys::Promise {
        let state = self.state.clone();
        future_to_promise(async move {
            let img = image::decode(&image_bytes, &name).map_err(|e| JsValue::from(js_error(e)))?;
            let (maps, frame) = state.matcher.similarity(&img, &state.device);
            let data = maps
                .into_data_async()
                .await
                .map_err(|e| JsValue::from(JsError::new(&format!("reading similarity maps: {e:?}"))))?
                .try_to_vec::<f32>()
                .map_err(|e| JsValue::from(JsError::new(&format!("reading similarity maps: {e:?}"))))?;
            let detection = Detection::new(&name, img.width, img.height, &state.names, state.matcher.decode(&data, &frame));
            serde_json::to_string(&detection).map(JsValue::from).map_err(|e| JsValue::from(js_error(e)))
        })
    }
}

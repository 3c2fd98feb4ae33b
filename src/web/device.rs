//! The browser's devices: WebGPU (set up once per page) or the CPU, and the asynchronous
//! read-back WebGPU needs.

use burn::tensor::{Device, Tensor};

use crate::error::Error;
use crate::web::Rejection;

/// Initialises Burn on the browser's WebGPU (once per page; later calls reuse it). Fails
/// with a clear message when the browser offers no adapter (no `navigator.gpu`, or
/// `requestAdapter()` returned null), when the adapter gives no device, or when this module
/// was built without WebGPU (the package's CPU modules).
pub async fn webgpu_device() -> Result<Device, Error> {
    #[cfg(feature = "webgpu")]
    {
        use std::cell::RefCell;
        thread_local! {
            /// The page's WebGPU device: it can be initialised only once.
            static WEBGPU: RefCell<Option<Device>> = const { RefCell::new(None) };
        }
        if let Some(device) = WEBGPU.with(|d| d.borrow().clone()) {
            return Ok(device);
        }
        let device = Device::wgpu_options().init_async().await.map_err(|e| Error::NoWebGpu(format!("WebGPU is not available in this browser: {e}")))?;
        WEBGPU.with(|d| *d.borrow_mut() = Some(device.clone()));
        Ok(device)
    }
    #[cfg(not(feature = "webgpu"))]
    Err(Error::NoWebGpu("this module is one of the package's CPU builds, without WebGPU: use backend \"cpu\"".into()))
}

/// The device for a backend name: `webgpu`, `cpu` (Burn's flex), or `auto` (WebGPU when
/// the browser has an adapter, else the CPU). A module built without the CPU backend (the
/// package's WebGPU module) refuses `cpu`, and `auto` without WebGPU, with `CC2D_NO_WEBGPU`:
/// the package then loads a CPU module.
pub async fn device_for(backend: &str) -> Result<(Device, &'static str), Rejection> {
    match backend {
        "cpu" => cpu_device().map(|d| (d, "cpu")),
        "webgpu" => webgpu_device().await.map(|d| (d, "webgpu")).map_err(Rejection::from),
        "auto" => match webgpu_device().await {
            Ok(d) => Ok((d, "webgpu")),
            Err(e) => cpu_device().map(|d| (d, "cpu")).map_err(|_| Rejection::from(e)),
        },
        other => Err(Rejection::from(Error::Invalid(format!("unknown backend {other:?}; use \"auto\", \"webgpu\" or \"cpu\"")))),
    }
}

fn cpu_device() -> Result<Device, Rejection> {
    #[cfg(feature = "cpu")]
    return Ok(Device::flex());
    #[cfg(not(feature = "cpu"))]
    Err(Rejection::from(Error::NoWebGpu("this module is the package's WebGPU build, without the CPU backend: the package loads its CPU module for backend \"cpu\"".into())))
}

/// Lets the page's event loop take a turn (a zero-delay timer). On WebGPU the launches of a
/// network's kernels, with their shaders' compilation on first use, run synchronously on the
/// calling thread until the read-back; between two such parts of one call this keeps the page
/// (and a test driver polling it) responsive.
pub async fn yield_to_event_loop() {
    use wasm_bindgen::JsCast;
    let promise = js_sys::Promise::new(&mut |resolve, _| {
        let global = js_sys::global();
        match js_sys::Reflect::get(&global, &"setTimeout".into()).map(|f| f.dyn_into::<js_sys::Function>()) {
            Ok(Ok(set_timeout)) => drop(set_timeout.call2(&global, &resolve, &0.into())),
            _ => drop(resolve.call0(&wasm_bindgen::JsValue::UNDEFINED)),
        }
    });
    let _ = wasm_bindgen_futures::JsFuture::from(promise).await;
}

/// Reads a tensor back to the page (asynchronously: a synchronous read would block WebGPU).
/// A lost GPU device (destroyed, a driver reset, the GPU removed) surfaces here, as the
/// read-back fails: it gets its own code, so that a page can start over.
pub async fn read<const D: usize>(tensor: Tensor<D>, what: &str) -> Result<Vec<f32>, Rejection> {
    let data = tensor.into_data_async().await.map_err(|e| {
        let cause = format!("{e:?}");
        let lost = |line: &str| ["destroyed", "poisoned", "device lost", "device is lost"].iter().any(|s| line.to_lowercase().contains(s));
        if let Some(line) = cause.lines().rev().find(|l| lost(l)) {
            Rejection::new(
                "CC2D_DEVICE_LOST",
                format!(
                    "the GPU device was lost while reading {what} (a driver reset, the GPU removed or reclaimed by the browser): this engine cannot use it again; create a new Cc2dWorker (a new worker gets a new device) or use backend \"cpu\". Cause: {}",
                    line.trim()
                ),
            )
        } else {
            Rejection::internal(format!("reading {what}: {cause}"))
        }
    })?;
    data.try_to_vec::<f32>().map_err(|e| Rejection::internal(format!("reading {what}: {e:?}")))
}

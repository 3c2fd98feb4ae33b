//! The Burn side: devices and the tensor operations the CC2D models are built from.
//! The same code runs on every backend; the backend is chosen at run time by the `Device`.

pub mod blocks;
#[cfg(feature = "cpu")]
mod cpu;
pub mod detector;
pub mod extractor;
pub mod similarity;
pub mod weights;

use burn::tensor::{Device, Tensor, TensorData};

use crate::preprocess::ModelImage;

/// Where tensors live.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
#[cfg_attr(feature = "cli", derive(clap::ValueEnum))]
pub enum DeviceKind {
    /// Burn's pure-Rust CPU backend (`flex`), natively and in WebAssembly.
    #[default]
    #[cfg_attr(feature = "cli", value(alias = "flex"))]
    Cpu,
    /// wgpu: Vulkan/Metal/DX12 natively. (In a browser, WebGPU is set up asynchronously by
    /// the web bindings instead.)
    #[cfg(not(target_family = "wasm"))]
    #[cfg_attr(feature = "cli", value(alias = "gpu"))]
    Wgpu,
}

/// Creates a native device. wgpu is initialised eagerly so that a machine without a usable
/// adapter gets a clear error here rather than a panic in the first kernel.
#[cfg(not(target_family = "wasm"))]
pub fn device(kind: DeviceKind) -> crate::Result<Device> {
    use crate::Error;
    match kind {
        #[cfg(feature = "cpu")]
        DeviceKind::Cpu => Ok(Device::flex()),
        #[cfg(not(feature = "cpu"))]
        DeviceKind::Cpu => Err(Error::Invalid("this build has no CPU backend (enable the `cpu` feature)".into())),
        #[cfg(feature = "gpu")]
        DeviceKind::Wgpu => {
            // wgpu's runtime registers once per process: later callers (the pipeline trains,
            // then matches; tests on several threads) get the same device.
            static WGPU: std::sync::Mutex<Option<Device>> = std::sync::Mutex::new(None);
            let mut slot = WGPU.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
            if slot.is_none() {
                *slot =
                    Some(Device::wgpu_options().init().map_err(|e| Error::Invalid(format!("no usable wgpu adapter (install a Vulkan driver, e.g. mesa-vulkan-drivers): {e}")))?);
            }
            Ok(slot.clone().expect("set above"))
        }
        #[cfg(not(feature = "gpu"))]
        DeviceKind::Wgpu => Err(Error::Invalid("this build has no wgpu support: build with --features gpu (`cargo run --release --features gpu -- …`)".into())),
    }
}

/// A preprocessed image as a model input: `[1, 1, H, W]` grey, values in [0, 1] (the
/// encoders repeat it to the channels their first layer takes).
pub fn image_tensor(img: &ModelImage, device: &Device) -> Tensor<4> {
    let [w, h] = [img.image.width as usize, img.image.height as usize];
    Tensor::<4>::from_data(TensorData::new(img.image.pixels.clone(), [1, 1, h, w]), device)
}

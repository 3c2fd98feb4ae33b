//! The same model code on two native backends: flex (CPU) and wgpu (Vulkan; lavapipe on a
//! machine without a GPU). Under CI a missing Vulkan driver fails the test. Needs the `gpu`
//! and `train` features (scripts/test.sh builds them).
#![cfg(all(feature = "gpu", feature = "train"))]

mod common;

use burn::tensor::Device;
use cc2d::model::{DeviceKind, device};
use common::probe::{ProbeNet, detector_training_step, probe_input, tiny_detector_config};

/// The wgpu device, or `None` (skipping) where there is none outside CI.
fn wgpu() -> Option<Device> {
    match device(DeviceKind::Wgpu) {
        Ok(d) => Some(d),
        Err(e) if std::env::var_os("CI").is_none() => {
            eprintln!("skipping: {e}");
            None
        }
        Err(e) => panic!("CI needs a wgpu adapter (mesa-vulkan-drivers): {e}"),
    }
}

#[test]
fn wgpu_forward_equals_flex_forward() {
    let Some(gpu) = wgpu() else { return };
    let cpu = Device::flex();
    let net = ProbeNet::new(&cpu);
    let x = probe_input(32, 24, &cpu);
    let a: Vec<f32> = net.forward(x.clone()).into_data().try_to_vec::<f32>().unwrap();
    let b: Vec<f32> = burn::module::Module::to_device(net, &gpu).forward(x.to_device(&gpu)).into_data().try_to_vec::<f32>().unwrap();
    let diff = a.iter().zip(&b).map(|(x, y)| (x - y).abs()).fold(0.0f32, f32::max);
    eprintln!("wgpu vs flex: max |diff| = {diff:e} over {} values", a.len());
    assert!(diff < 1e-4, "max |diff| = {diff}");
}

/// Training on a GPU gives what flex gives ([`detector_training_step`]); asking for the wgpu
/// device twice in one process (the pipeline trains, then matches) gives the same device.
#[test]
fn a_detector_training_step_on_wgpu_equals_the_step_on_flex() {
    let Some(gpu) = wgpu() else { return };
    assert!(device(DeviceKind::Wgpu).is_ok(), "a second wgpu device in the same process");
    let start = tiny_detector_config().init(&Device::flex());
    let read = |(loss, heatmap): (burn::tensor::Tensor<1>, burn::tensor::Tensor<4>)| (loss.into_scalar::<f32>(), heatmap.into_data().try_to_vec::<f32>().unwrap());
    let ((loss_cpu, h_cpu), (loss_gpu, h_gpu)) = (read(detector_training_step(&start, &Device::flex())), read(detector_training_step(&start, &gpu)));
    let diff = h_cpu.iter().zip(&h_gpu).map(|(a, b)| (a - b).abs()).fold(0.0f32, f32::max);
    eprintln!("training step, wgpu vs flex: loss {loss_gpu} vs {loss_cpu}, trained heatmap max |diff| {diff:e}");
    assert!((loss_cpu - loss_gpu).abs() < 1e-4 * loss_cpu.abs().max(1.0), "loss {loss_gpu} vs {loss_cpu}");
    assert!(diff < 1e-4, "trained heatmap max |diff| {diff}");
}

//! The same model code on two native backends: flex (CPU) and wgpu (Vulkan; lavapipe on a
//! machine without a GPU). Under CI a missing Vulkan driver fails the test.

mod common;

use burn::tensor::Device;
use cc2d::model::{DeviceKind, device};
use common::probe::{ProbeNet, probe_input};

#[test]
fn wgpu_forward_equals_flex_forward() {
    let gpu = match device(DeviceKind::Wgpu) {
        Ok(d) => d,
        Err(e) if std::env::var_os("CI").is_none() => return eprintln!("skipping: {e}"),
        Err(e) => panic!("CI needs a wgpu adapter (mesa-vulkan-drivers): {e}"),
    };
    let cpu = Device::flex();
    let net = ProbeNet::new(&cpu);
    let x = probe_input(32, 24, &cpu);
    let a: Vec<f32> = net.forward(x.clone()).into_data().try_to_vec::<f32>().unwrap();
    let b: Vec<f32> = burn::module::Module::to_device(net, &gpu).forward(x.to_device(&gpu)).into_data().try_to_vec::<f32>().unwrap();
    let diff = a.iter().zip(&b).map(|(x, y)| (x - y).abs()).fold(0.0f32, f32::max);
    eprintln!("wgpu vs flex: max |diff| = {diff:e} over {} values", a.len());
    assert!(diff < 1e-4, "max |diff| = {diff}");
}

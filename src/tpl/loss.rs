//! The detector's loss (paper eq. 4): binary cross-entropy on the heatmaps plus L1 on the
//! offsets, counted only inside the disks.

use burn::tensor::{Tensor, TensorData};

use crate::model::detector::DetectorOutput;
use crate::tpl::targets::Targets;

/// `positive_weight` multiplies the BCE of disk pixels: a disk is about 1 % of the map, and
/// without it the heatmaps learn to stay below the voting threshold.
pub fn detector_loss(out: &DetectorOutput, targets: &[Targets], positive_weight: f64) -> Tensor<1> {
    let device = out.heatmap_logits.device();
    let dims = out.heatmap_logits.dims();
    let stack = |f: fn(&Targets) -> &Vec<f32>| {
        let data: Vec<f32> = targets.iter().flat_map(|t| f(t).iter().copied()).collect();
        Tensor::<4>::from_data(TensorData::new(data, dims), &device)
    };
    let (heat, ox, oy) = (stack(|t| &t.heatmap), stack(|t| &t.offset_x), stack(|t| &t.offset_y));

    // Stable BCE with logits: max(z, 0) − z·t + log(1 + e^−|z|).
    let z = out.heatmap_logits.clone();
    let bce = z.clone().clamp_min(0.0) - z.clone() * heat.clone() + z.abs().neg().exp().add_scalar(1.0).log();
    let weight = heat.clone().mul_scalar(positive_weight - 1.0).add_scalar(1.0);
    let heatmap_loss = (bce * weight).mean();

    let inside = heat.clone().sum().add_scalar(1e-6);
    let l1 = ((out.offset_x.clone() - ox).abs() + (out.offset_y.clone() - oy).abs()) * heat;
    heatmap_loss + l1.sum() / inside
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::io::landmarks::Point;
    use crate::tpl::targets::disk_targets;
    use burn::tensor::Device;

    fn maps(t: &Targets, logit: f32, offset_noise: f32, device: &Device) -> DetectorOutput {
        let dims = [1, 1, 16, 16];
        let heat: Vec<f32> = t.heatmap.iter().map(|&v| if v > 0.5 { logit } else { -logit }).collect();
        let off = |v: &Vec<f32>| Tensor::<4>::from_data(TensorData::new(v.iter().map(|x| x + offset_noise).collect::<Vec<_>>(), dims), device);
        DetectorOutput { heatmap_logits: Tensor::from_data(TensorData::new(heat, dims), device), offset_x: off(&t.offset_x), offset_y: off(&t.offset_y) }
    }

    #[test]
    fn loss_falls_as_the_maps_approach_the_targets() {
        let device = Device::flex();
        let t = disk_targets(&[Point::new(30.0, 20.0)], [16, 16], 4, 10.0);
        let value = |o: &DetectorOutput| detector_loss(o, std::slice::from_ref(&t), 10.0).into_data().try_to_vec::<f32>().unwrap()[0];
        let perfect = value(&maps(&t, 8.0, 0.0, &device));
        let vague = value(&maps(&t, 1.0, 0.0, &device));
        let misplaced = value(&maps(&t, 8.0, 0.3, &device));
        let inverted = value(&maps(&t, -3.0, 0.0, &device));
        assert!(perfect < 0.01, "{perfect}");
        assert!(perfect < vague && vague < inverted, "{perfect} {vague} {inverted}");
        // Offsets off by 0.3 R in x and y inside the disk: L1 of 0.6.
        assert!((misplaced - perfect - 0.6).abs() < 1e-3, "{misplaced}");
    }
}

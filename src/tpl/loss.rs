//! The detector's loss (paper eq. 4): binary cross-entropy on the heatmaps plus L1 on the
//! offsets, counted only inside the disks; optionally without each landmark's worst
//! pseudo-label in the batch (the authors' alternative trainer).

use burn::tensor::{Tensor, TensorData};

use crate::model::detector::DetectorOutput;
use crate::tpl::targets::Targets;

/// `positive_weight` multiplies the BCE of disk pixels: a disk is about 1 % of the map, and
/// without it the heatmaps learn to stay below the voting threshold. With `drop_worst`, the
/// first `drop_worst` samples are pseudo-labelled (the rest carry true labels) and, per
/// landmark, the one of them with the highest loss is left out: a wrong pseudo-label costs
/// most where the detector disagrees with it most.
pub fn detector_loss(out: &DetectorOutput, targets: &[Targets], positive_weight: f64, drop_worst: Option<usize>) -> Tensor<1> {
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
    let l1 = ((out.offset_x.clone() - ox).abs() + (out.offset_y.clone() - oy).abs()) * heat.clone();

    // Per sample and landmark ([B, K]): the heatmap BCE's mean, the offsets' L1 and the disk's area.
    let [b, k, _, _] = dims;
    let per = |t: Tensor<4>| t.sum_dim(3).sum_dim(2).reshape([b, k]);
    let bce = per(bce * weight).div_scalar((dims[2] * dims[3]) as f64);
    let (l1, inside) = (per(l1), per(heat));
    let kept = match drop_worst {
        Some(n) if n >= 2 && n <= b => {
            // Detached: which sample is left out is a choice, not something to learn.
            let each = (bce.clone() + l1.clone() / inside.clone().add_scalar(1e-6)).detach().slice([0..n, 0..k]);
            let worst = each.clone().equal(each.max_dim(0).expand([n, k])).float();
            Tensor::cat(vec![worst.neg().add_scalar(1.0), Tensor::ones([b - n, k], &device)], 0)
        }
        _ => Tensor::ones([b, k], &device),
    };
    (bce * kept.clone()).sum() / kept.clone().sum() + (l1 * kept.clone()).sum() / (inside * kept).sum().add_scalar(1e-6)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::io::landmarks::Point;
    use crate::tpl::targets::disk_targets;
    use burn::tensor::Device;

    fn maps(t: &Targets, logit: f32, offset_noise: f32, device: &Device) -> DetectorOutput {
        let dims = [1, t.heatmap.len() / 256, 16, 16];
        let heat: Vec<f32> = t.heatmap.iter().map(|&v| if v > 0.5 { logit } else { -logit }).collect();
        let off = |v: &Vec<f32>| Tensor::<4>::from_data(TensorData::new(v.iter().map(|x| x + offset_noise).collect::<Vec<_>>(), dims), device);
        DetectorOutput { heatmap_logits: Tensor::from_data(TensorData::new(heat, dims), device), offset_x: off(&t.offset_x), offset_y: off(&t.offset_y) }
    }

    #[test]
    fn loss_falls_as_the_maps_approach_the_targets() {
        let device = Device::flex();
        let t = disk_targets(&[Point::new(30.0, 20.0)], [16, 16], 4, 10.0);
        let value = |o: &DetectorOutput| detector_loss(o, std::slice::from_ref(&t), 10.0, None).into_data().try_to_vec::<f32>().unwrap()[0];
        let perfect = value(&maps(&t, 8.0, 0.0, &device));
        let vague = value(&maps(&t, 1.0, 0.0, &device));
        let misplaced = value(&maps(&t, 8.0, 0.3, &device));
        let inverted = value(&maps(&t, -3.0, 0.0, &device));
        assert!(perfect < 0.01, "{perfect}");
        assert!(perfect < vague && vague < inverted, "{perfect} {vague} {inverted}");
        // Offsets off by 0.3 R in x and y inside the disk: L1 of 0.6.
        assert!((misplaced - perfect - 0.6).abs() < 1e-3, "{misplaced}");
    }

    #[test]
    fn drop_worst_leaves_out_each_landmarks_worst_pseudo_label_only() {
        let device = Device::flex();
        let a = disk_targets(&[Point::new(30.0, 20.0), Point::new(10.0, 40.0)], [16, 16], 4, 10.0);
        let b = disk_targets(&[Point::new(34.0, 24.0), Point::new(50.0, 12.0)], [16, 16], 4, 10.0);
        // Three samples: two pseudo-labelled, the template last. Sample 0's maps fit `a`
        // exactly; sample 1's and the template's are `a`'s maps too, so they miss `b`.
        let fit = maps(&a, 8.0, 0.0, &device);
        let cat = |t: &Tensor<4>| Tensor::cat(vec![t.clone(), t.clone(), t.clone()], 0);
        let out = DetectorOutput { heatmap_logits: cat(&fit.heatmap_logits), offset_x: cat(&fit.offset_x), offset_y: cat(&fit.offset_y) };
        let value = |targets: &[Targets], drop| detector_loss(&out, targets, 10.0, drop).into_data().try_to_vec::<f32>().unwrap()[0];
        let all = value(&[a.clone(), b.clone(), a.clone()], None);
        // Dropping the worst of the two pseudo-labels (sample 1, for both landmarks) leaves
        // only perfect fits; with the bad one as the template instead, only a near miss is
        // dropped and the template's error stays.
        let near = disk_targets(&[Point::new(31.0, 20.0), Point::new(10.0, 41.0)], [16, 16], 4, 10.0);
        let dropped = value(&[a.clone(), b.clone(), a.clone()], Some(2));
        let template_bad = value(&[a.clone(), near, b.clone()], Some(2));
        assert!(dropped < 0.01 && all > 0.1, "{dropped} {all}");
        assert!(template_bad > 0.1, "{template_bad}");
    }
}

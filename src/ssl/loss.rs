//! The cascade loss (paper eq. 1–3): at each level, the cosine similarity between the
//! anchor (the patch embedding at the point) and every image position, softmax with
//! temperature τ over the whole map at the deepest level and over an α×α window around the
//! true position elsewhere, cross-entropy against the true position; summed over levels.

use burn::tensor::activation::log_softmax;
use burn::tensor::{Int, Tensor, TensorData};

use crate::io::landmarks::Point;
use crate::model::similarity::cosine_similarity_map;
use crate::ssl::{level_cell, level_factor};

/// Logit given to positions outside the window: far below any τ·similarity.
const OUTSIDE_WINDOW: f32 = -1e4;

/// `image_cascade`/`patch_cascade`: levels coarse to fine, `[B, L, H, W]` each.
/// `image_points[b]`/`patch_points[b]`: the same P points in image and patch pixels.
pub fn cascade_loss(
    image_cascade: &[Tensor<4>],
    patch_cascade: &[Tensor<4>],
    image_points: &[Vec<Point>],
    patch_points: &[Vec<Point>],
    temperature: f64,
    window: usize,
) -> Tensor<1> {
    let device = image_cascade[0].device();
    let b = image_points.len();
    let p = image_points[0].len();
    let mut total: Option<Tensor<1>> = None;
    for (level, (fr, fp)) in image_cascade.iter().zip(patch_cascade).enumerate() {
        let f = level_factor(level);
        let [_, l, h, w] = fr.dims();
        let [_, _, ph, pw] = fp.dims();

        // Anchors: the patch embedding at each point's cell, [B, P, L].
        let mut anchor_idx = Vec::with_capacity(b * l * p);
        for points in patch_points {
            let cells: Vec<i64> = points.iter().map(|q| (level_cell(q.y, f, ph) * pw + level_cell(q.x, f, pw)) as i64).collect();
            for _ in 0..l {
                anchor_idx.extend_from_slice(&cells);
            }
        }
        let anchor_idx = Tensor::<3, Int>::from_data(TensorData::new(anchor_idx, [b, l, p]), &device);
        let anchors = fp.clone().reshape([b, l, ph * pw]).gather(2, anchor_idx).swap_dims(1, 2);

        // Logits over image positions, [B·P, H·W].
        let logits = cosine_similarity_map(fr.clone(), anchors).reshape([b * p, h * w]) * temperature;
        let targets: Vec<(usize, usize)> = image_points.iter().flatten().map(|v| (level_cell(v.x, f, w), level_cell(v.y, f, h))).collect();
        let logits = if level == 0 {
            logits
        } else {
            let half = (window / 2) as isize;
            let mut mask = vec![OUTSIDE_WINDOW; b * p * h * w];
            for (i, &(tx, ty)) in targets.iter().enumerate() {
                let ys = (ty as isize - half).max(0) as usize..=((ty as isize + half) as usize).min(h - 1);
                for y in ys {
                    let xs = (tx as isize - half).max(0) as usize..=((tx as isize + half) as usize).min(w - 1);
                    mask[i * h * w + y * w..][xs].fill(0.0);
                }
            }
            logits + Tensor::<2>::from_data(TensorData::new(mask, [b * p, h * w]), &device)
        };
        let target_idx: Vec<i64> = targets.iter().map(|&(x, y)| (y * w + x) as i64).collect();
        let target_idx = Tensor::<2, Int>::from_data(TensorData::new(target_idx, [b * p, 1]), &device);
        let nll = log_softmax(logits, 1).gather(1, target_idx).mean().neg();
        total = Some(match total {
            Some(t) => t + nll,
            None => nll,
        });
    }
    total.expect("at least one cascade level")
}

#[cfg(test)]
mod tests {
    use super::*;
    use burn::tensor::{Device, Distribution};

    /// With the patch identical to the image, the anchors are exactly the image features at
    /// the true positions: the loss must be lower with the true targets than shifted ones.
    #[test]
    fn loss_is_lower_at_the_correct_position_than_at_a_shifted_one() {
        let device = Device::flex();
        let size = 128;
        let cascade: Vec<Tensor<4>> =
            (0..5).map(|level| Tensor::random([1, 8, size / level_factor(level), size / level_factor(level)], Distribution::Normal(0.0, 1.0), &device)).collect();
        let points = vec![vec![Point::new(40.0, 50.0), Point::new(90.0, 20.0), Point::new(70.0, 100.0)]];
        let shifted = vec![points[0].iter().map(|p| Point::new(p.x + 20.0, p.y - 12.0)).collect::<Vec<_>>()];
        let loss = |image_points: &[Vec<Point>]| -> f32 { cascade_loss(&cascade, &cascade, image_points, &points, 10.0, 5).into_data().try_to_vec::<f32>().unwrap()[0] };
        let (right, wrong) = (loss(&points), loss(&shifted));
        assert!(right.is_finite() && wrong.is_finite());
        assert!(right < wrong, "correct {right} vs shifted {wrong}");
        assert!(right >= 0.0);
    }
}

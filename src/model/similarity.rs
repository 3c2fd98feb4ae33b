//! Cosine similarity between anchor embeddings and every position of a feature map: the
//! comparison at the heart of CC2D (paper eq. 1), used in SSL training and matching alike.

use burn::tensor::Tensor;

/// Guards the normalisation of all-zero vectors.
const EPS: f64 = 1e-8;

/// `features` `[B, L, H, W]`, `anchors` `[B, K, L]` → similarity maps `[B, K, H, W]` in [−1, 1].
pub fn cosine_similarity_map(features: Tensor<4>, anchors: Tensor<3>) -> Tensor<4> {
    let [b, l, h, w] = features.dims();
    let k = anchors.dims()[1];
    let features = l2_normalise(features.reshape([b, l, h * w]), 1);
    let anchors = l2_normalise(anchors, 2);
    anchors.matmul(features).reshape([b, k, h, w])
}

/// Divides by the L2 norm along `dim`.
fn l2_normalise(x: Tensor<3>, dim: usize) -> Tensor<3> {
    let norm = x.clone().powi_scalar(2).sum_dim(dim).sqrt().clamp_min(EPS);
    x / norm
}

#[cfg(test)]
mod tests {
    use super::*;
    use burn::tensor::{Device, TensorData};

    #[test]
    fn matches_a_direct_computation() {
        let device = Device::flex();
        // L = 2, H = 1, W = 3: positions (1,0), (0,2), (-1,-1); anchors (2,0) and (1,1).
        let f = Tensor::<4>::from_data(TensorData::new(vec![1.0f32, 0.0, -1.0, 0.0, 2.0, -1.0], [1, 2, 1, 3]), &device);
        let a = Tensor::<3>::from_data(TensorData::new(vec![2.0f32, 0.0, 1.0, 1.0], [1, 2, 2]), &device);
        let s: Vec<f32> = cosine_similarity_map(f, a).into_data().try_to_vec::<f32>().unwrap();
        let r = std::f32::consts::FRAC_1_SQRT_2;
        let expect = [1.0, 0.0, -r, r, r, -1.0];
        for (got, want) in s.iter().zip(expect) {
            assert!((got - want).abs() < 1e-6, "{s:?}");
        }
    }
}

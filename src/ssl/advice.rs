//! Template advice: which unlabelled image to annotate first. The template decides more of
//! CC2D's accuracy than anything else we measured (docs/results.md, "Templates"), and the user
//! chooses it before any label exists, so the advice reads no labels: it ranks the images by
//! how typical they look to the SSL extractor, in the spirit of SCP (Quan et al., CVPR
//! 2022): the image whose features are, on average, most like everyone else's is the one
//! whose landmarks match best into the others.

use burn::tensor::module::adaptive_avg_pool2d;
use burn::tensor::{Device, Tensor};

use crate::config::MatchingConfig;
use crate::error::Result;
use crate::io::image::GreyImage;
use crate::io::landmarks::Point;
use crate::locate::ReadBack;
use crate::model::image_tensor;
use crate::preprocess::preprocess;
use crate::ssl::SslModel;
use crate::ssl::matching::{Cascade, level_maps, search, template_anchors};

/// The cascade levels the descriptor reads (coarse to fine: 1/32 and 1/16, where the
/// embeddings describe regions rather than texture), and the grid each is pooled to.
const LEVELS: usize = 2;
const GRID: usize = 6;

/// A label-free descriptor of an image: the extractor's embeddings at the coarse cascade
/// levels, each position's embedding made unit-length (as matching compares them by
/// cosine), pooled to a `GRID`² layout and the whole made unit-length.
pub fn descriptor(model: &SslModel, image: &GreyImage, image_size: usize, device: &Device) -> Result<Vec<f32>> {
    Ok(unit_length(pooled_levels(model, image, image_size, device).read()?))
}

/// [`descriptor`] before read-back (the browser reads it asynchronously): the pooled levels,
/// `[1, 1, 1, LEVELS · C · GRID²]`.
pub fn pooled_levels(model: &SslModel, image: &GreyImage, image_size: usize, device: &Device) -> Tensor<4> {
    let levels = cascade(model, image, image_size, device)
        .into_iter()
        .take(LEVELS)
        .map(|level| {
            let unit = level.clone() / level.powi_scalar(2).sum_dim(1).sqrt().clamp_min(1e-6);
            let pooled = adaptive_avg_pool2d(unit, [GRID, GRID]);
            let n = pooled.dims().iter().product();
            pooled.reshape([1, 1, 1, n])
        })
        .collect();
    Tensor::cat(levels, 3)
}

/// The read-back pooled levels made unit-length: the descriptor.
pub fn unit_length(values: Vec<f32>) -> Vec<f32> {
    let norm = values.iter().map(|v| v * v).sum::<f32>().sqrt().max(1e-12);
    values.into_iter().map(|v| v / norm).collect()
}

/// Ranks images as templates from their descriptors: each one's mean cosine similarity to
/// all the others, highest (most typical) first. Returns `(index, score)`.
pub fn rank(descriptors: &[Vec<f32>]) -> Vec<(usize, f64)> {
    let n = descriptors.len();
    let mut scores: Vec<(usize, f64)> = (0..n)
        .map(|i| {
            let sum: f64 = (0..n).filter(|&j| j != i).map(|j| descriptors[i].iter().zip(&descriptors[j]).map(|(a, b)| f64::from(a * b)).sum::<f64>()).sum();
            (i, if n > 1 { sum / (n - 1) as f64 } else { 1.0 })
        })
        .collect();
    scores.sort_by(|a, b| b.1.total_cmp(&a.1).then(a.0.cmp(&b.0)));
    scores
}

/// The extractor's cascade of an image (E_r), for [`cycle_error`].
pub fn cascade(model: &SslModel, image: &GreyImage, image_size: usize, device: &Device) -> Vec<Tensor<4>> {
    let side = image_size as u32;
    model.embed_image(image_tensor(&preprocess(image, [side, side]), device))
}

/// A grid of `n`×`n` points over the middle `span` of a `side`² model image.
pub fn grid(side: usize, n: usize, span: f64) -> Vec<Point> {
    let (lo, hi) = ((1.0 - span) / 2.0 * side as f64, (1.0 + span) / 2.0 * side as f64);
    let at = |i: usize| lo + (hi - lo) * (i as f64 + 0.5) / n as f64;
    (0..n * n).map(|i| Point::new(at(i % n), at(i / n))).collect()
}

/// How well an image's points survive a round trip: each `grid` point is matched from the
/// candidate template into each query and back; the mean distance (model pixels) between
/// where it started and where it came back. Reads no labels.
pub fn cycle_error(template: &[Tensor<4>], queries: &[Vec<Tensor<4>>], grid: &[Point], matching: &MatchingConfig, side: usize) -> Result<f64> {
    let find = |maps: &[f32], n: usize| -> Vec<Point> {
        let per = maps.len() / n;
        maps.chunks(per).take(n).map(|m| search(&Cascade::new(m, side), matching).0).collect()
    };
    let anchors = template_anchors(template.to_vec(), grid, matching.bilinear_anchors);
    let mut total = 0.0;
    for query in queries {
        let there = find(&level_maps(query.clone(), &anchors).read()?, grid.len());
        let back_anchors = template_anchors(query.clone(), &there, matching.bilinear_anchors);
        let back = find(&level_maps(template.to_vec(), &back_anchors).read()?, grid.len());
        total += back.iter().zip(grid).map(|(b, g)| (b.x - g.x).hypot(b.y - g.y)).sum::<f64>();
    }
    Ok(total / (queries.len() * grid.len()).max(1) as f64)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_image_most_like_the_others_ranks_first() {
        // Three descriptors near one direction and one outlier: the middle of the cluster
        // is the medoid, the outlier last.
        let unit = |v: [f32; 3]| {
            let n = v.iter().map(|x| x * x).sum::<f32>().sqrt();
            v.iter().map(|x| x / n).collect::<Vec<f32>>()
        };
        let descriptors = vec![unit([1.0, 0.2, 0.0]), unit([1.0, 0.0, 0.0]), unit([0.0, 0.0, 1.0]), unit([1.0, -0.2, 0.0])];
        let ranked = rank(&descriptors);
        assert_eq!(ranked[0].0, 1);
        assert_eq!(ranked.last().unwrap().0, 2);
        assert!(ranked.windows(2).all(|w| w[0].1 >= w[1].1));
    }
}

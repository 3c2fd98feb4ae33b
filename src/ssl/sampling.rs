//! Self-supervised training samples (paper §2.1): a patch cut from the resized image,
//! rotated and colour-jittered, and points whose positions are known in both the image and
//! the patch. No labels are involved.

use rand::RngExt;
use rand::rngs::StdRng;

use crate::config::SslTrainingConfig;
use crate::io::image::GreyImage;
use crate::io::landmarks::Point;
use crate::preprocess::{jitter, sample_bilinear};

/// One image's contribution to a training step.
pub struct PatchSample {
    /// `patch_size`² grey values, augmented.
    pub patch: Vec<f32>,
    /// Positions of the supervised points in patch pixels…
    pub patch_points: Vec<Point>,
    /// …and the same points in image pixels.
    pub image_points: Vec<Point>,
}

/// Draws a patch and its points from a resized image.
///
/// The patch is a `patch_size`² window at a random offset, its content rotated about the
/// window's centre by a random angle; patch pixel `q` shows image position
/// `offset + c + R(θ)(q − c)`. Points are drawn uniformly in the patch and kept when their
/// image position lies in the central fraction of the image, so every point is inside both.
pub fn draw(img: &GreyImage, config: &SslTrainingConfig, rng: &mut StdRng) -> PatchSample {
    let size = img.width as f64;
    let p = config.patch_size;
    let c = (p as f64 - 1.0) / 2.0;
    let max_offset = (img.width as usize - p) as f64;
    let (ox, oy) = (rng.random_range(0.0..=max_offset), rng.random_range(0.0..=max_offset));
    let theta = rng.random_range(-config.rotation_degrees..=config.rotation_degrees).to_radians();
    let (sin, cos) = theta.sin_cos();
    let to_image = |q: Point| Point::new(ox + c + cos * (q.x - c) - sin * (q.y - c), oy + c + sin * (q.x - c) + cos * (q.y - c));

    let margin = size * (1.0 - config.central_fraction) / 2.0;
    let inside = |v: Point| v.x >= margin && v.y >= margin && v.x <= size - 1.0 - margin && v.y <= size - 1.0 - margin;
    let (mut patch_points, mut image_points) = (Vec::new(), Vec::new());
    while patch_points.len() < config.points_per_patch {
        let q = Point::new(rng.random_range(0.0..p as f64 - 1.0), rng.random_range(0.0..p as f64 - 1.0));
        let v = to_image(q);
        if inside(v) {
            patch_points.push(q);
            image_points.push(v);
        }
    }

    let brightness = 1.0 + rng.random_range(-config.brightness..=config.brightness) as f32;
    let contrast = 1.0 + rng.random_range(-config.contrast..=config.contrast) as f32;
    let mut patch: Vec<f32> = (0..p * p)
        .map(|i| {
            let v = to_image(Point::new((i % p) as f64, (i / p) as f64));
            sample_bilinear(img, v.x, v.y)
        })
        .collect();
    jitter(&mut patch, brightness, contrast);
    PatchSample { patch, patch_points, image_points }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::SeedableRng;

    #[test]
    fn points_show_the_same_content_in_image_and_patch() {
        let n = 128u32;
        let px = (0..n * n).map(|i| (((i % n) as f32 * 0.2).sin() * ((i / n) as f32 * 0.15).cos() + 1.0) / 2.0).collect();
        let img = GreyImage::new(n, n, px).unwrap();
        let config = SslTrainingConfig::new().with_patch_size(64).with_points_per_patch(8).with_brightness(0.0).with_contrast(0.0);
        let mut rng = StdRng::seed_from_u64(7);
        for _ in 0..5 {
            let s = draw(&img, &config, &mut rng);
            assert_eq!(s.patch.len(), 64 * 64);
            for (q, v) in s.patch_points.iter().zip(&s.image_points) {
                let margin = 128.0 * 0.05;
                assert!(v.x >= margin && v.y >= margin && v.x <= 127.0 - margin && v.y <= 127.0 - margin);
                // The patch around q shows what the image shows around v (both smooth, so two
                // bilinear interpolations agree closely).
                let patch_img = GreyImage::new(64, 64, s.patch.clone()).unwrap();
                let (a, b) = (sample_bilinear(&patch_img, q.x, q.y), sample_bilinear(&img, v.x, v.y));
                assert!((a - b).abs() < 0.02, "patch {a} vs image {b} at {q:?} / {v:?}");
            }
        }
        // Determinism: the same seed gives the same sample.
        let a = draw(&img, &config, &mut StdRng::seed_from_u64(3));
        let b = draw(&img, &config, &mut StdRng::seed_from_u64(3));
        assert_eq!(a.patch, b.patch);
        assert_eq!(a.image_points, b.image_points);
    }
}

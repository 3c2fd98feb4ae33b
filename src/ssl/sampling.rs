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
///
/// With `focus` points (a second round: the image's pseudo-labels, model pixels) and a
/// configured `focus_share`, the window is placed over one of them, chosen at random, and
/// that share of the points is drawn around it (normal, `focus_spread` px); the rest stay
/// uniform.
pub fn draw(img: &GreyImage, focus: &[Point], config: &SslTrainingConfig, rng: &mut StdRng) -> PatchSample {
    let size = img.width as f64;
    let p = config.patch_size;
    let c = (p as f64 - 1.0) / 2.0;
    let max_offset = (img.width as usize - p) as f64;
    let focused = match (config.focus_share, focus.is_empty()) {
        (Some(share), false) if share > 0.0 => Some((focus[rng.random_range(0..focus.len())], share)),
        _ => None,
    };
    let rotation = |rng: &mut StdRng| rng.random_range(-config.rotation_degrees..=config.rotation_degrees).to_radians().sin_cos();
    let rotate = |(sin, cos): (f64, f64), d: Point| Point::new(cos * d.x - sin * d.y, sin * d.x + cos * d.y);
    let (ox, oy, (sin, cos)) = match focused {
        // The focus point at a random place in the window's central half, the window kept
        // inside the image.
        Some((f, _)) => {
            let angle = rotation(rng);
            let q = Point::new(rng.random_range(c / 2.0..=1.5 * c), rng.random_range(c / 2.0..=1.5 * c));
            let r = rotate(angle, Point::new(q.x - c, q.y - c));
            ((f.x - c - r.x).clamp(0.0, max_offset), (f.y - c - r.y).clamp(0.0, max_offset), angle)
        }
        // Round 1 (the shipped extractor's draws, in their order).
        None => {
            let (ox, oy) = (rng.random_range(0.0..=max_offset), rng.random_range(0.0..=max_offset));
            (ox, oy, rotation(rng))
        }
    };
    let to_image = |q: Point| {
        let r = rotate((sin, cos), Point::new(q.x - c, q.y - c));
        Point::new(ox + c + r.x, oy + c + r.y)
    };
    // The inverse: R(θ)ᵀ(v − offset − c) + c.
    let to_patch = |v: Point| {
        let (dx, dy) = (v.x - ox - c, v.y - oy - c);
        Point::new(c + cos * dx + sin * dy, c - sin * dx + cos * dy)
    };

    let margin = size * (1.0 - config.central_fraction) / 2.0;
    let inside = |v: Point| v.x >= margin && v.y >= margin && v.x <= size - 1.0 - margin && v.y <= size - 1.0 - margin;
    let in_patch = |q: Point| q.x >= 0.0 && q.y >= 0.0 && q.x <= p as f64 - 1.0 && q.y <= p as f64 - 1.0;
    let (mut patch_points, mut image_points) = (Vec::new(), Vec::new());
    if let Some((f, share)) = focused {
        let wanted = (share * config.points_per_patch as f64).round() as usize;
        let spread = config.focus_spread.unwrap_or(crate::config::FOCUS_SPREAD_PX);
        // Bounded: a focus point near the border may leave few draws inside both.
        for _ in 0..wanted * 20 {
            if patch_points.len() == wanted {
                break;
            }
            let (a, b) = standard_normal_pair(rng);
            let v = Point::new(f.x + spread * a, f.y + spread * b);
            let q = to_patch(v);
            if inside(v) && in_patch(q) {
                patch_points.push(q);
                image_points.push(v);
            }
        }
    }
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

/// Two independent standard normal draws (Box–Muller).
fn standard_normal_pair(rng: &mut StdRng) -> (f64, f64) {
    let u: f64 = 1.0 - rng.random_range(0.0..1.0);
    let angle = std::f64::consts::TAU * rng.random_range(0.0..1.0);
    let r = (-2.0 * u.ln()).sqrt();
    (r * angle.cos(), r * angle.sin())
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::SeedableRng;

    /// A smooth synthetic image, so that two bilinear interpolations agree closely.
    fn smooth_image(n: u32) -> GreyImage {
        let px = (0..n * n).map(|i| (((i % n) as f32 * 0.2).sin() * ((i / n) as f32 * 0.15).cos() + 1.0) / 2.0).collect();
        GreyImage::new(n, n, px).unwrap()
    }

    /// Every point of `s` lies inside its patch and shows there what `img` shows at its image position.
    fn assert_points_show_the_same_content(s: &PatchSample, img: &GreyImage, patch_size: usize) {
        let patch_img = GreyImage::new(patch_size as u32, patch_size as u32, s.patch.clone()).unwrap();
        let last = patch_size as f64 - 1.0;
        for (q, v) in s.patch_points.iter().zip(&s.image_points) {
            assert!(q.x >= 0.0 && q.y >= 0.0 && q.x <= last && q.y <= last, "{q:?} outside the patch");
            let (a, b) = (sample_bilinear(&patch_img, q.x, q.y), sample_bilinear(img, v.x, v.y));
            assert!((a - b).abs() < 0.02, "patch {a} vs image {b} at {q:?} / {v:?}");
        }
    }

    #[test]
    fn points_show_the_same_content_in_image_and_patch() {
        let img = smooth_image(128);
        let config = SslTrainingConfig::new().with_patch_size(64).with_points_per_patch(8).with_brightness(0.0).with_contrast(0.0);
        let mut rng = StdRng::seed_from_u64(7);
        for _ in 0..5 {
            let s = draw(&img, &[], &config, &mut rng);
            assert_eq!(s.patch.len(), 64 * 64);
            for v in &s.image_points {
                let margin = 128.0 * 0.05;
                assert!(v.x >= margin && v.y >= margin && v.x <= 127.0 - margin && v.y <= 127.0 - margin);
            }
            assert_points_show_the_same_content(&s, &img, 64);
        }
        // Determinism: the same seed gives the same sample.
        let a = draw(&img, &[], &config, &mut StdRng::seed_from_u64(3));
        let b = draw(&img, &[], &config, &mut StdRng::seed_from_u64(3));
        assert_eq!(a.patch, b.patch);
        assert_eq!(a.image_points, b.image_points);
    }

    #[test]
    fn a_second_round_draws_its_share_of_points_near_a_pseudo_label() {
        let img = smooth_image(128);
        let config = SslTrainingConfig::new().with_patch_size(64).with_points_per_patch(16).with_brightness(0.0).with_contrast(0.0);
        let focused = SslTrainingConfig { focus_share: Some(0.5), focus_spread: Some(3.0), ..config.clone() };
        let focus = [Point::new(30.0, 90.0), Point::new(100.0, 40.0)];
        let near = |s: &PatchSample| s.image_points.iter().filter(|v| focus.iter().any(|f| ((v.x - f.x).powi(2) + (v.y - f.y).powi(2)).sqrt() < 12.0)).count();
        let mut rng = StdRng::seed_from_u64(11);
        let (mut near_focused, mut near_uniform) = (0, 0);
        for _ in 0..20 {
            let s = draw(&img, &focus, &focused, &mut rng);
            assert_eq!(s.patch_points.len(), 16);
            assert_points_show_the_same_content(&s, &img, 64);
            // At least the focused half (8 of 16) within 4 spreads of a focus point.
            assert!(near(&s) >= 8, "{} of 16 points near a focus point", near(&s));
            near_focused += near(&s);
            near_uniform += near(&draw(&img, &focus, &config, &mut rng));
        }
        // Without a share configured, the focus points are ignored: far fewer points near them.
        assert!(near_uniform * 2 < near_focused, "{near_uniform} uniform vs {near_focused} focused");
    }
}

//! Augmentation for detector training: a random similarity transform about the image centre
//! (the landmarks move with the image), brightness/contrast jitter, and optionally another
//! device's look (the shift benchmark's collimation, overlays, soft-tissue filter and
//! processing, `cc2d::shift`), so that the detector does not learn one cephalostat.

use rand::RngExt;
use rand::rngs::StdRng;

use crate::config::TplConfig;
use crate::io::image::GreyImage;
use crate::io::landmarks::Point;
use crate::preprocess::{Similarity, jitter};
use crate::shift::{Shift, ShiftKind};

/// Millimetres per model pixel that the overlays are sized for: ISBI's 193.5 × 240 mm frame
/// at 384², about 0.5 × 0.625 (a device's rods and rulers vary more than that anyway).
const MODEL_PIXEL_MM: f64 = 0.56;

/// The landmarks move with the image ([`Similarity`]); brightness and contrast jitter after,
/// then, for a `device_shifts` share of samples, another device's look.
pub fn augment(img: &GreyImage, landmarks: &[Point], config: &TplConfig, rng: &mut StdRng) -> (GreyImage, Vec<Point>) {
    let (w, h) = (f64::from(img.width), f64::from(img.height));
    let theta = rng.random_range(-config.rotation_degrees..=config.rotation_degrees).to_radians();
    let s = match config.scale_range {
        Some([low, high]) => rng.random_range(low.ln()..=high.ln()).exp(),
        None => 1.0 + rng.random_range(-config.scale..=config.scale),
    };
    let t = Point::new(rng.random_range(-config.translation..=config.translation) * w, rng.random_range(-config.translation..=config.translation) * h);
    let brightness = 1.0 + rng.random_range(-config.brightness..=config.brightness) as f32;
    let contrast = 1.0 + rng.random_range(-config.contrast..=config.contrast) as f32;
    let transform = Similarity::about_centre(img.width, img.height, theta, s, t);
    let moved: Vec<Point> = landmarks.iter().map(|&p| transform.apply(p)).collect();
    // A field of view wider than the image shows a blank border, as on a device, rather than
    // its edge rows smeared outward.
    let fill = config.scale_range.map(|_| 0.0);
    let mut pixels = transform.warp_filled(img, fill).pixels;
    jitter(&mut pixels, brightness, contrast);
    let mut image = GreyImage { width: img.width, height: img.height, pixels };
    if config.device_shifts.is_some_and(|p| rng.random_bool(p.clamp(0.0, 1.0))) {
        let shift = Shift { reframe: None, ..Shift::draw(ShiftKind::Mix, rng) };
        image = shift.apply(&image, MODEL_PIXEL_MM, &moved, None, rng).image;
    }
    (image, moved)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::detector::DetectorConfig;
    use rand::SeedableRng;

    #[test]
    fn landmarks_move_with_the_image() {
        // A single bright pixel is a landmark: after augmentation the brightest spot must be
        // where the landmark went.
        let n = 96u32;
        let mut px = vec![0f32; (n * n) as usize];
        px[(30 * n + 61) as usize] = 1.0;
        let img = GreyImage::new(n, n, px).unwrap();
        let config = TplConfig::new(DetectorConfig::small(1)).with_brightness(0.0).with_contrast(0.0).with_rotation_degrees(25.0).with_scale(0.2);
        let mut rng = StdRng::seed_from_u64(5);
        for _ in 0..5 {
            let (out, moved) = augment(&img, &[Point::new(61.0, 30.0)], &config, &mut rng);
            let best = crate::tpl::voting::argmax(&out.pixels).0 as u32;
            let found = Point::new(f64::from(best % n), f64::from(best / n));
            assert!(found.distance(moved[0]) <= 1.0, "brightest at {found:?}, landmark moved to {:?}", moved[0]);
        }
    }

    /// With a scale range the field of view varies as wide as asked, the part past the edge
    /// blank; device shifts change the pixels, never the landmarks.
    #[test]
    fn wide_scales_leave_a_blank_border_and_device_shifts_keep_the_landmarks() {
        let n = 96u32;
        let img = GreyImage::new(n, n, vec![0.6; (n * n) as usize]).unwrap();
        let config =
            TplConfig::new(DetectorConfig::small(1)).with_rotation_degrees(0.0).with_translation(0.0).with_brightness(0.0).with_contrast(0.0).with_scale_range(Some([0.7, 0.72]));
        let (out, moved) = augment(&img, &[Point::new(10.0, 10.0)], &config, &mut StdRng::seed_from_u64(1));
        assert_eq!(out.at(0, 0), 0.0, "a blank border past the shrunk image");
        assert!((out.at(48, 48) - 0.6).abs() < 1e-6, "the image inside");
        let centre = (f64::from(n) - 1.0) / 2.0;
        assert!((moved[0].x - (centre + (10.0 - centre) * 0.71)).abs() < 0.2, "{moved:?}");
        let shifted = config.clone().with_scale_range(None).with_scale(0.0).with_device_shifts(Some(1.0));
        let mut rng = StdRng::seed_from_u64(2);
        let changed = (0..5).filter(|_| {
            let (out, moved) = augment(&img, &[Point::new(30.0, 40.0)], &shifted, &mut rng);
            assert_eq!(moved, vec![Point::new(30.0, 40.0)]);
            out.pixels != img.pixels
        });
        assert!(changed.count() >= 4, "device shifts change the pixels");
    }
}

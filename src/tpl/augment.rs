//! Augmentation for detector training: a random similarity transform about the image centre
//! (the landmarks move with the image) and brightness/contrast jitter.

use rand::RngExt;
use rand::rngs::StdRng;

use crate::config::TplConfig;
use crate::io::image::GreyImage;
use crate::io::landmarks::Point;
use crate::preprocess::{Similarity, jitter};

/// The landmarks move with the image ([`Similarity`]); brightness and contrast jitter after.
pub fn augment(img: &GreyImage, landmarks: &[Point], config: &TplConfig, rng: &mut StdRng) -> (GreyImage, Vec<Point>) {
    let (w, h) = (f64::from(img.width), f64::from(img.height));
    let theta = rng.random_range(-config.rotation_degrees..=config.rotation_degrees).to_radians();
    let s = 1.0 + rng.random_range(-config.scale..=config.scale);
    let t = Point::new(rng.random_range(-config.translation..=config.translation) * w, rng.random_range(-config.translation..=config.translation) * h);
    let brightness = 1.0 + rng.random_range(-config.brightness..=config.brightness) as f32;
    let contrast = 1.0 + rng.random_range(-config.contrast..=config.contrast) as f32;
    let transform = Similarity::about_centre(img.width, img.height, theta, s, t);
    let moved = landmarks.iter().map(|&p| transform.apply(p)).collect();
    let mut pixels = transform.warp(img).pixels;
    jitter(&mut pixels, brightness, contrast);
    (GreyImage { width: img.width, height: img.height, pixels }, moved)
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
}

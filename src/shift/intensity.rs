//! Another exposure and another device's processing: gamma, contrast and brightness, blur,
//! noise, JPEG compression; and a soft-tissue filter, which lets less of the beam through in
//! front of the face so that the profile shows brighter.

use image::ExtendedColorType;
use image::codecs::jpeg::JpegEncoder;
use rand::RngExt;
use rand::rngs::StdRng;

use super::{Anchors, brighten, log_uniform, normal};
use crate::io::image::GreyImage;

/// The processing of another device; each step optional (blur 0, noise 0, no JPEG).
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Intensity {
    /// `v^gamma`: below 1 brighter mid-tones.
    pub gamma: f64,
    pub contrast: f32,
    pub brightness: f32,
    /// Gaussian blur, pixels (standard deviation; 0: none).
    pub blur_px: f64,
    /// Gaussian noise, standard deviation in grey values (0: none).
    pub noise: f64,
    /// JPEG quality 1–100 (None: lossless).
    pub jpeg_quality: Option<u8>,
}

impl Intensity {
    pub fn draw(rng: &mut StdRng) -> Self {
        Self {
            gamma: log_uniform(rng, 0.6, 1.6),
            contrast: rng.random_range(0.7..=1.3),
            brightness: rng.random_range(-0.1..=0.1),
            blur_px: if rng.random_bool(0.5) { rng.random_range(0.3..=1.5) } else { 0.0 },
            noise: if rng.random_bool(0.6) { rng.random_range(0.005..=0.04) } else { 0.0 },
            jpeg_quality: rng.random_bool(0.6).then(|| rng.random_range(30..=90)),
        }
    }

    pub fn apply(&self, img: &mut GreyImage, rng: &mut StdRng) {
        for v in &mut img.pixels {
            *v = (((v.max(0.0) as f64).powf(self.gamma) as f32 - 0.5) * self.contrast + 0.5 + self.brightness).clamp(0.0, 1.0);
        }
        if self.blur_px > 0.0 {
            gaussian_blur(img, self.blur_px);
        }
        if self.noise > 0.0 {
            for v in &mut img.pixels {
                *v = (*v + (self.noise * normal(rng)) as f32).clamp(0.0, 1.0);
            }
        }
        if let Some(quality) = self.jpeg_quality {
            *img = jpeg_round_trip(img, quality);
        }
    }
}

/// The soft-tissue filter: from `start_mm` behind the profile forward, brightened by up to
/// `strength`, over a ramp of `ramp_mm`.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct SoftTissueFilter {
    pub start_mm: f64,
    pub ramp_mm: f64,
    pub strength: f32,
    /// Where it starts without anchors: a fraction of the width.
    pub fallback_x: f64,
}

impl SoftTissueFilter {
    pub fn draw(rng: &mut StdRng) -> Self {
        Self { start_mm: rng.random_range(5.0..=25.0), ramp_mm: rng.random_range(2.0..=10.0), strength: rng.random_range(0.1..=0.35), fallback_x: rng.random_range(0.65..=0.85) }
    }

    pub fn apply(&self, img: &mut GreyImage, spacing_mm: f64, anchors: Option<Anchors>) {
        let start = anchors.map_or(self.fallback_x * f64::from(img.width), |a| a.profile.x - self.start_mm / spacing_mm);
        let ramp = (self.ramp_mm / spacing_mm).max(1.0);
        let w = img.width as usize;
        for row in img.pixels.chunks_mut(w) {
            for (x, v) in row.iter_mut().enumerate() {
                let t = ((x as f64 - start) / ramp).clamp(0.0, 1.0);
                if t > 0.0 {
                    brighten(v, self.strength * t as f32);
                }
            }
        }
    }
}

/// Separable Gaussian blur, edges clamped.
fn gaussian_blur(img: &mut GreyImage, sigma: f64) {
    let radius = (3.0 * sigma).ceil() as i64;
    let kernel: Vec<f32> = (-radius..=radius).map(|i| (-(i * i) as f64 / (2.0 * sigma * sigma)).exp() as f32).collect();
    let total: f32 = kernel.iter().sum();
    let (w, h) = (i64::from(img.width), i64::from(img.height));
    let pass = |src: &[f32], step: (i64, i64)| -> Vec<f32> {
        (0..w * h)
            .map(|i| {
                let (x, y) = (i % w, i / w);
                kernel
                    .iter()
                    .zip(-radius..=radius)
                    .map(|(k, d)| {
                        let (sx, sy) = ((x + d * step.0).clamp(0, w - 1), (y + d * step.1).clamp(0, h - 1));
                        k * src[(sy * w + sx) as usize]
                    })
                    .sum::<f32>()
                    / total
            })
            .collect()
    };
    let across = pass(&img.pixels, (1, 0));
    img.pixels = pass(&across, (0, 1));
}

/// The image as a JPEG of `quality` would bring it back (8-bit grey).
fn jpeg_round_trip(img: &GreyImage, quality: u8) -> GreyImage {
    let bytes: Vec<u8> = img.pixels.iter().map(|v| (v * 255.0).round().clamp(0.0, 255.0) as u8).collect();
    let mut encoded = Vec::new();
    JpegEncoder::new_with_quality(&mut encoded, quality).encode(&bytes, img.width, img.height, ExtendedColorType::L8).expect("encoding a grey image in memory");
    crate::io::image::decode(&encoded, "a JPEG round trip").expect("decoding the JPEG just encoded")
}

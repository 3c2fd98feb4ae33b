//! Another device's field of view and pixel spacing: the image resampled and re-framed.

use rand::RngExt;
use rand::rngs::StdRng;

use super::log_uniform;
use crate::io::landmarks::Point;
use crate::preprocess::{Frame, Placement};

/// A new frame for the image: the anatomy fills `fill_factor`× as much of it (1.3: a
/// tighter field of view, as the other hospital's device; below 1: a wider one, blank
/// borders), its centre moved by `centre` (fractions of the new frame), resampled to
/// `spacing_mm` per pixel (None: the image's own).
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Reframe {
    pub fill_factor: f64,
    pub centre: [f64; 2],
    pub spacing_mm: Option<f64>,
    /// The value past the image's edges (a blank border).
    pub fill: f32,
}

impl Reframe {
    /// A field of view (fill 0.75–1.35, log-uniform; off-centre by up to 8 %) and/or a
    /// spacing (0.08–0.15 mm per pixel).
    pub fn draw(rng: &mut StdRng, field_of_view: bool, spacing: bool) -> Self {
        let (fill_factor, centre) =
            if field_of_view { (log_uniform(rng, 0.75, 1.35), [rng.random_range(-0.08..=0.08), rng.random_range(-0.08..=0.08)]) } else { (1.0, [0.0, 0.0]) };
        let spacing_mm = spacing.then(|| rng.random_range(0.08..=0.15));
        Self { fill_factor, centre, spacing_mm, fill: rng.random_range(0.0..=0.05) }
    }

    /// Blank borders: a field of view 5–15 % wider than the image, a little off-centre.
    pub fn borders(rng: &mut StdRng) -> Self {
        Self {
            fill_factor: rng.random_range(0.85..=0.95),
            centre: [rng.random_range(-0.05..=0.05), rng.random_range(-0.05..=0.05)],
            spacing_mm: None,
            fill: rng.random_range(0.0..=0.03),
        }
    }

    /// The placement for an image of `width`×`height` at `spacing_mm`, moved (least) so
    /// that every landmark stays inside with a margin of 2 % of the frame.
    pub fn placement(&self, width: u32, height: u32, spacing_mm: f64, landmarks: &[Point]) -> Placement {
        let k = spacing_mm / self.spacing_mm.unwrap_or(spacing_mm);
        let resized = [(f64::from(width) * k).round().max(1.0) as u32, (f64::from(height) * k).round().max(1.0) as u32];
        let frame = Frame::new([width, height], resized);
        let size = resized.map(|v| (f64::from(v) / self.fill_factor).round().max(1.0) as u32);
        let moved: Vec<Point> = landmarks.iter().map(|&p| frame.to_model(p)).collect();
        let offset = [0, 1].map(|axis| {
            let (side, out) = (f64::from(resized[axis]), f64::from(size[axis]));
            let mut start = side / 2.0 + self.centre[axis] * out - out / 2.0;
            let coordinate = |p: &Point| if axis == 0 { p.x } else { p.y };
            if let (Some(lo), Some(hi)) = (moved.iter().map(coordinate).reduce(f64::min), moved.iter().map(coordinate).reduce(f64::max)) {
                let margin = 0.02 * out;
                // Landmarks wider than the frame: centre them (the frame cannot hold them all).
                start = if hi - lo + 2.0 * margin > out { (lo + hi) / 2.0 - out / 2.0 } else { start.clamp(hi + margin - out + 1.0, lo - margin) };
            }
            start.round() as i64
        });
        Placement { frame, offset, size }
    }
}

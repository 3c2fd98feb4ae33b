//! What a cephalostat puts into the picture besides the patient: a collimated (unexposed,
//! bright) band, a nasal positioner carrying a ruler, ear-rod rings with their holder, and
//! burned-in text. Sizes are in millimetres, so they look alike at every spacing.

use rand::rngs::StdRng;
use rand::{RngExt, SeedableRng};

use super::{Anchors, brighten, normal};
use crate::io::image::GreyImage;
use crate::io::landmarks::Point;

/// A bright band at the top (collimation) and optionally at the back of the head (left, as
/// ISBI's images face right).
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Collimation {
    /// The top band's height, a fraction of the image's.
    pub top: f64,
    /// The back band's width, a fraction of the image's (0: none).
    pub back: f64,
    pub value: f32,
}

impl Collimation {
    pub fn draw(rng: &mut StdRng) -> Self {
        Self { top: rng.random_range(0.03..=0.12), back: if rng.random_bool(0.4) { rng.random_range(0.02..=0.08) } else { 0.0 }, value: rng.random_range(0.8..=1.0) }
    }

    pub fn apply(&self, img: &mut GreyImage) {
        let (w, h) = (img.width as usize, img.height as usize);
        let top = (self.top * h as f64).round() as usize;
        let back = (self.back * w as f64).round() as usize;
        for (y, row) in img.pixels.chunks_mut(w).enumerate() {
            for (x, v) in row.iter_mut().enumerate() {
                if y < top || x < back {
                    *v = self.value;
                }
            }
        }
    }
}

/// The overlays a positioning device adds; each optional.
#[derive(Clone, Debug, PartialEq)]
pub struct Overlays {
    pub ruler: Option<Ruler>,
    pub ear_rods: Option<EarRods>,
    pub text: Option<Text>,
}

impl Overlays {
    pub fn draw(rng: &mut StdRng) -> Self {
        let mut o = Self { ruler: None, ear_rods: None, text: None };
        while o.ruler.is_none() && o.ear_rods.is_none() && o.text.is_none() {
            o.ruler = rng.random_bool(0.7).then(|| Ruler::draw(rng));
            o.ear_rods = rng.random_bool(0.7).then(|| EarRods::draw(rng));
            o.text = rng.random_bool(0.6).then(|| Text::draw(rng));
        }
        o
    }

    pub fn apply(&self, img: &mut GreyImage, spacing_mm: f64, anchors: Option<Anchors>) {
        if let Some(r) = &self.ruler {
            r.apply(img, spacing_mm, anchors);
        }
        if let Some(e) = &self.ear_rods {
            e.apply(img, spacing_mm, anchors);
        }
        if let Some(t) = &self.text {
            t.apply(img, spacing_mm);
        }
    }
}

/// A nasal positioner: a radio-opaque rod in front of the profile, from the top of the
/// image down past nasion, with a millimetre scale (a tick every 5 mm, longer every 10).
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Ruler {
    /// How far in front of the profile (mm).
    pub gap_mm: f64,
    pub width_mm: f64,
    /// How far below nasion it ends (mm).
    pub below_nasion_mm: f64,
    pub opacity: f32,
    /// Where it stands without anchors: a fraction of the width.
    pub fallback_x: f64,
}

impl Ruler {
    fn draw(rng: &mut StdRng) -> Self {
        Self {
            gap_mm: rng.random_range(5.0..=25.0),
            width_mm: rng.random_range(3.0..=6.0),
            below_nasion_mm: rng.random_range(0.0..=40.0),
            opacity: rng.random_range(0.5..=0.9),
            fallback_x: rng.random_range(0.75..=0.95),
        }
    }

    fn apply(&self, img: &mut GreyImage, spacing: f64, anchors: Option<Anchors>) {
        let (x, bottom) = match anchors {
            Some(a) => (a.profile.x + self.gap_mm / spacing, a.nasion.y + self.below_nasion_mm / spacing),
            None => (self.fallback_x * f64::from(img.width), 0.4 * f64::from(img.height)),
        };
        let half = self.width_mm / spacing / 2.0;
        fill_rect(img, x - half, 0.0, x + half, bottom, self.opacity);
        let mut mm = 0.0;
        while mm / spacing < bottom {
            let length = if (mm as i64) % 10 == 0 { 4.0 } else { 2.0 } / spacing;
            let y = mm / spacing;
            fill_rect(img, x - half - length, y, x - half, y + 0.4 / spacing, self.opacity);
            mm += 5.0;
        }
    }
}

/// Ear rods seen from the side: a bright ring around the ear canal (near porion) and,
/// fainter, the holder that carries it down from the top.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct EarRods {
    pub radius_mm: f64,
    pub thickness_mm: f64,
    /// The ring's centre relative to porion (mm).
    pub offset_mm: [f64; 2],
    pub opacity: f32,
    /// The holder's opacity (0: none) and width (mm).
    pub holder: (f32, f64),
    /// Where the ring sits without anchors: fractions of the width and height.
    pub fallback: [f64; 2],
}

impl EarRods {
    fn draw(rng: &mut StdRng) -> Self {
        Self {
            radius_mm: rng.random_range(4.0..=9.0),
            thickness_mm: rng.random_range(1.0..=2.5),
            offset_mm: [3.0 * normal(rng), 3.0 * normal(rng)],
            opacity: rng.random_range(0.5..=0.95),
            holder: (if rng.random_bool(0.6) { rng.random_range(0.15..=0.45) } else { 0.0 }, rng.random_range(6.0..=12.0)),
            fallback: [rng.random_range(0.2..=0.5), rng.random_range(0.3..=0.5)],
        }
    }

    fn apply(&self, img: &mut GreyImage, spacing: f64, anchors: Option<Anchors>) {
        let centre = match anchors {
            Some(a) => Point::new(a.porion.x + self.offset_mm[0] / spacing, a.porion.y + self.offset_mm[1] / spacing),
            None => Point::new(self.fallback[0] * f64::from(img.width), self.fallback[1] * f64::from(img.height)),
        };
        let (r, t) = (self.radius_mm / spacing, self.thickness_mm / spacing / 2.0);
        if self.holder.0 > 0.0 {
            let half = self.holder.1 / spacing / 2.0;
            fill_rect(img, centre.x - half, 0.0, centre.x + half, centre.y - r - t, self.holder.0);
        }
        let (x0, x1) = ((centre.x - r - t).floor().max(0.0) as u32, ((centre.x + r + t).ceil().max(0.0) as u32).min(img.width));
        let (y0, y1) = ((centre.y - r - t).floor().max(0.0) as u32, ((centre.y + r + t).ceil().max(0.0) as u32).min(img.height));
        for y in y0..y1 {
            for x in x0..x1 {
                let d = Point::new(f64::from(x), f64::from(y)).distance(centre);
                if (d - r).abs() <= t {
                    brighten(&mut img.pixels[y as usize * img.width as usize + x as usize], self.opacity);
                }
            }
        }
    }
}

/// Burned-in text (the patient's name, the date, the device): rows of 5×7 glyphs in a corner.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Text {
    /// 0 top-left, 1 top-right, 2 bottom-left, 3 bottom-right.
    pub corner: u8,
    pub rows: u32,
    pub columns: u32,
    pub glyph_mm: f64,
    pub opacity: f32,
    /// Seeds the glyphs' pixels.
    pub glyphs: u64,
}

impl Text {
    fn draw(rng: &mut StdRng) -> Self {
        Self {
            corner: rng.random_range(0..4),
            rows: rng.random_range(1..=3),
            columns: rng.random_range(6..=16),
            glyph_mm: rng.random_range(2.0..=4.0),
            opacity: rng.random_range(0.8..=1.0),
            glyphs: rng.random(),
        }
    }

    fn apply(&self, img: &mut GreyImage, spacing: f64) {
        let dot = self.glyph_mm / 7.0 / spacing;
        let (cell_w, cell_h) = (6.0 * dot, 9.0 * dot);
        let (width, height) = (cell_w * f64::from(self.columns), cell_h * f64::from(self.rows));
        let margin = 3.0 / spacing;
        let left = if self.corner.is_multiple_of(2) { margin } else { f64::from(img.width) - margin - width };
        let top = if self.corner < 2 { margin } else { f64::from(img.height) - margin - height };
        let mut glyphs = StdRng::seed_from_u64(self.glyphs);
        for row in 0..self.rows {
            for column in 0..self.columns {
                for gy in 0..7 {
                    for gx in 0..5 {
                        if glyphs.random_bool(0.45) {
                            let x = left + f64::from(column) * cell_w + f64::from(gx) * dot;
                            let y = top + f64::from(row) * cell_h + f64::from(gy) * dot;
                            fill_rect(img, x, y, x + dot, y + dot, self.opacity);
                        }
                    }
                }
            }
        }
    }
}

/// Brightens the pixels whose centres lie in [x0, x1) × [y0, y1).
fn fill_rect(img: &mut GreyImage, x0: f64, y0: f64, x1: f64, y1: f64, opacity: f32) {
    let clip = |v: f64, max: u32| (v.max(0.0).ceil() as u32).min(max);
    let (xa, xb, ya, yb) = (clip(x0, img.width), clip(x1, img.width), clip(y0, img.height), clip(y1, img.height));
    for y in ya..yb {
        let row = y as usize * img.width as usize;
        for v in &mut img.pixels[row + xa as usize..row + xb as usize] {
            brighten(v, opacity);
        }
    }
}

//! One-shot landmark detection by multi-scale normalised cross-correlation (NCC).
//!
//! For each landmark, a square patch is cut around it in the template at every level of an
//! image pyramid. On a query, the coarsest level is searched exhaustively; each finer level
//! searches a small window around the previous level's answer (coarse to fine, like the
//! cascade of CC2D, but comparing raw pixels instead of learned embeddings). The last level's
//! peak is refined to sub-pixel precision by a parabola fit and mapped back to original pixels.
//!
//! Plain scalar `f32`/`f64` arithmetic: the same bits natively and in WebAssembly.

use serde::{Deserialize, Serialize};

use burn::tensor::Device;

use crate::error::{Error, Result};
use crate::io::image::GreyImage;
use crate::io::landmarks::{Point, Template};
use crate::locate::{Locator, PhysicalFrame, ReadBack};
use crate::preprocess::{Frame, resize};

/// One pyramid level: the image is resized (anisotropically) to `size`×`size`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct NccLevel {
    pub size: u32,
    /// Patch half-width: patches are (2r+1)² pixels.
    pub patch_radius: usize,
    /// Half-width of the search window around the previous level's answer (at the coarsest
    /// level: around the landmark's position in the template); `None` searches the whole image.
    pub search_radius: Option<usize>,
}

/// Pyramid levels, coarsest first. Sizes must increase.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct NccConfig {
    pub levels: Vec<NccLevel>,
}

impl Default for NccConfig {
    fn default() -> Self {
        let level = |size, patch_radius, search_radius| NccLevel { size, patch_radius, search_radius };
        // Chosen by MRE on the 150 ISBI training images' labels (template 001; docs/results.md, "NCC baseline").
        Self { levels: vec![level(48, 10, Some(8)), level(96, 12, Some(6)), level(192, 12, Some(5)), level(384, 12, Some(4)), level(768, 12, Some(3))] }
    }
}

impl NccConfig {
    fn validate(&self) -> Result<()> {
        let bad = |m: &str| Err(Error::Invalid(format!("NCC configuration: {m}")));
        if self.levels.is_empty() {
            return bad("at least one level is needed");
        }
        if self.levels.windows(2).any(|w| w[1].size <= w[0].size) {
            return bad("level sizes must increase from coarse to fine");
        }
        if self.levels.iter().skip(1).any(|l| l.search_radius.is_none()) {
            return bad("only the coarsest level may search the whole image");
        }
        if self.levels.iter().any(|l| l.size < 8 || l.patch_radius == 0) {
            return bad("levels need a size of at least 8 and a patch radius of at least 1");
        }
        Ok(())
    }
}

/// A zero-mean, unit-norm patch (all zeros where the template is flat).
struct Patch {
    values: Vec<f32>,
}

/// A pyramid level of an image, padded by edge replication so every patch is inside it,
/// with integral images for the windowed sums that NCC's denominator needs.
struct PaddedLevel {
    frame: Frame,
    pad: usize,
    width: usize,
    values: Vec<f32>,
    sum: Vec<f64>,
    sum_sq: Vec<f64>,
}

impl PaddedLevel {
    fn new(img: &GreyImage, frame: Frame, pad: usize) -> Self {
        let (w, h) = (img.width as usize, img.height as usize);
        let (pw, ph) = (w + 2 * pad, h + 2 * pad);
        let mut values = Vec::with_capacity(pw * ph);
        for y in 0..ph {
            let sy = y.saturating_sub(pad).min(h - 1);
            for x in 0..pw {
                let sx = x.saturating_sub(pad).min(w - 1);
                values.push(img.pixels[sy * w + sx]);
            }
        }
        // Integral images with a zero first row and column: (pw+1)×(ph+1).
        let iw = pw + 1;
        let mut sum = vec![0f64; iw * (ph + 1)];
        let mut sum_sq = vec![0f64; iw * (ph + 1)];
        for y in 0..ph {
            let (mut row, mut row_sq) = (0f64, 0f64);
            for x in 0..pw {
                let v = f64::from(values[y * pw + x]);
                row += v;
                row_sq += v * v;
                sum[(y + 1) * iw + x + 1] = sum[y * iw + x + 1] + row;
                sum_sq[(y + 1) * iw + x + 1] = sum_sq[y * iw + x + 1] + row_sq;
            }
        }
        Self { frame, pad, width: pw, values, sum, sum_sq }
    }

    fn size(&self) -> [usize; 2] {
        [self.frame.model[0] as usize, self.frame.model[1] as usize]
    }

    /// The (2r+1)² window centred on level pixel (cx, cy), zero-mean and unit-norm.
    fn patch(&self, cx: usize, cy: usize, r: usize) -> Patch {
        let side = 2 * r + 1;
        let mut values = Vec::with_capacity(side * side);
        for dy in 0..side {
            let row = (cy + self.pad - r + dy) * self.width + cx + self.pad - r;
            values.extend_from_slice(&self.values[row..row + side]);
        }
        let mean = values.iter().map(|&v| f64::from(v)).sum::<f64>() / values.len() as f64;
        let norm = values.iter().map(|&v| (f64::from(v) - mean).powi(2)).sum::<f64>().sqrt();
        let scale = if norm > 1e-9 { 1.0 / norm } else { 0.0 };
        Patch { values: values.iter().map(|&v| ((f64::from(v) - mean) * scale) as f32).collect() }
    }

    /// NCC between `patch` and the window centred on level pixel (cx, cy).
    fn ncc(&self, patch: &Patch, cx: usize, cy: usize, r: usize) -> f64 {
        let side = 2 * r + 1;
        let (x0, y0) = (cx + self.pad - r, cy + self.pad - r);
        let mut dot = 0f32;
        for dy in 0..side {
            let row = &self.values[(y0 + dy) * self.width + x0..][..side];
            let t = &patch.values[dy * side..][..side];
            dot += row.iter().zip(t).map(|(a, b)| a * b).sum::<f32>();
        }
        let iw = self.width + 1;
        let rect = |s: &[f64]| s[(y0 + side) * iw + x0 + side] - s[y0 * iw + x0 + side] - s[(y0 + side) * iw + x0] + s[y0 * iw + x0];
        let n = (side * side) as f64;
        let (s, s2) = (rect(&self.sum), rect(&self.sum_sq));
        let var = s2 - s * s / n;
        if var > 1e-9 { f64::from(dot) / var.sqrt() } else { 0.0 }
    }
}

/// A query's pyramid: NCC's "maps", computed on the CPU, so nothing to read back.
pub struct Pyramid(Vec<PaddedLevel>);

impl ReadBack for Pyramid {
    type Values = Self;
    fn read(self) -> Result<Self> {
        Ok(self)
    }
}

/// Builds the pyramid of `img` at the configured sizes, finest first resized from the
/// original and each coarser level from the next finer one (cheap, and the pixel-centre
/// mapping composes exactly).
fn pyramid(img: &GreyImage, config: &NccConfig) -> Vec<PaddedLevel> {
    let mut levels = Vec::with_capacity(config.levels.len());
    let mut finer = img.clone();
    for level in config.levels.iter().rev() {
        let resized = resize(&finer, level.size, level.size);
        levels.push(PaddedLevel::new(&resized, Frame::new([img.width, img.height], [level.size, level.size]), level.patch_radius));
        finer = resized;
    }
    levels.reverse();
    levels
}

/// The NCC baseline, prepared for one template: patches are cut once, queries stream through.
pub struct NccMatcher {
    config: NccConfig,
    names: Vec<String>,
    /// patches[level][landmark]
    patches: Vec<Vec<Patch>>,
    /// Where each template landmark sits relative to its finest patch centre (sub-pixel).
    residuals: Vec<Point>,
    /// Each landmark's pixel in the template's coarsest level: where the search starts.
    starts: Vec<[usize; 2]>,
    /// The template's size and spacing (see [`Locator::physical_frame`]).
    physical_frame: Option<PhysicalFrame>,
}

impl NccMatcher {
    pub fn new(template_image: &GreyImage, template: &Template, config: NccConfig) -> Result<Self> {
        config.validate()?;
        template.check_image(template_image)?;

        let levels = pyramid(template_image, &config);
        let mut patches = Vec::new();
        let mut residuals = Vec::new();
        let mut starts = Vec::new();
        for (li, (level, cfg)) in levels.iter().zip(&config.levels).enumerate() {
            let [w, h] = level.size();
            let mut lp = Vec::new();
            for lm in &template.landmarks {
                let m = level.frame.to_model(lm.point());
                let c = [(m.x.round().max(0.0) as usize).min(w - 1), (m.y.round().max(0.0) as usize).min(h - 1)];
                lp.push(level.patch(c[0], c[1], cfg.patch_radius));
                if li == 0 {
                    starts.push(c);
                }
                if li + 1 == levels.len() {
                    residuals.push(Point::new(m.x - c[0] as f64, m.y - c[1] as f64));
                }
            }
            patches.push(lp);
        }
        Ok(Self { config, names: template.names(), patches, residuals, starts, physical_frame: PhysicalFrame::of_template(template) })
    }

    fn locate_one(&self, levels: &[PaddedLevel], k: usize) -> (Point, f64) {
        let mut best = self.starts[k];
        let mut best_score = 0.0;
        for (li, (level, cfg)) in levels.iter().zip(&self.config.levels).enumerate() {
            let [w, h] = level.size();
            let r = cfg.patch_radius;
            let patch = &self.patches[li][k];
            if li > 0 {
                // Carry the previous answer to this level's pixels (pixel centres compose).
                let ratio = f64::from(levels[li].frame.model[0]) / f64::from(levels[li - 1].frame.model[0]);
                best = best.map(|v| ((v as f64 + 0.5) * ratio - 0.5).round().max(0.0) as usize);
            }
            let (xs, ys) = match cfg.search_radius {
                None => (0..w, 0..h),
                Some(s) => (best[0].saturating_sub(s)..(best[0] + s + 1).min(w), best[1].saturating_sub(s)..(best[1] + s + 1).min(h)),
            };
            let prev = best;
            best_score = f64::NEG_INFINITY;
            for y in ys {
                for x in xs.clone() {
                    let v = level.ncc(patch, x, y, r);
                    if v > best_score {
                        best_score = v;
                        best = [x, y];
                    }
                }
            }
            if best_score <= 0.0 {
                // A flat template patch carries no information: keep the coarser answer.
                best = prev;
            }
        }
        let last = levels.len() - 1;
        let level = &levels[last];
        let r = self.config.levels[last].patch_radius;
        let [w, h] = level.size();
        let patch = &self.patches[last][k];
        // Parabola through the peak and its neighbours, per axis.
        let refine = |c: usize, n: usize, at: &dyn Fn(usize) -> f64| -> f64 {
            if c == 0 || c + 1 >= n {
                return 0.0;
            }
            let (a, b, d) = (at(c - 1), at(c), at(c + 1));
            let denom = a - 2.0 * b + d;
            if denom < -1e-12 { (0.5 * (a - d) / denom).clamp(-0.5, 0.5) } else { 0.0 }
        };
        let dx = refine(best[0], w, &|x| level.ncc(patch, x, best[1], r));
        let dy = refine(best[1], h, &|y| level.ncc(patch, best[0], y, r));
        let res = self.residuals[k];
        let model = Point::new(best[0] as f64 + dx + res.x, best[1] as f64 + dy + res.y);
        (level.frame.to_original(model), best_score.clamp(0.0, 1.0))
    }
}

/// Plain CPU arithmetic: the device is not used.
impl Locator for NccMatcher {
    type Maps = Pyramid;

    fn landmark_names(&self) -> Vec<String> {
        self.names.clone()
    }

    fn physical_frame(&self) -> Option<PhysicalFrame> {
        self.physical_frame
    }

    fn maps(&self, query: &GreyImage, _device: &Device) -> (Pyramid, Frame) {
        (Pyramid(pyramid(query, &self.config)), Frame::new([query.width, query.height], [query.width, query.height]))
    }

    /// Positions in the query's original pixels (each pyramid level knows its own frame) and
    /// a score in [0, 1] (the final level's NCC, clamped).
    fn decode(&self, pyramid: &Pyramid, _frame: &Frame) -> Vec<(Point, f64)> {
        (0..self.names.len()).map(|k| self.locate_one(&pyramid.0, k)).collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::io::landmarks::Landmark;

    /// A smooth random-looking texture: every patch is distinctive.
    fn texture(w: u32, h: u32, seed: f32) -> Vec<f32> {
        (0..w * h)
            .map(|i| {
                let (x, y) = ((i % w) as f32, (i / w) as f32);
                0.5 + 0.2 * ((x * 0.031 + seed).sin() * (y * 0.047).cos())
                    + 0.15 * ((x * 0.013 + y * 0.021 + seed * 3.0).sin())
                    + 0.1 * ((x * 0.11 - y * 0.07).sin() * (x * 0.005 + y * 0.09 + seed).cos())
            })
            .collect()
    }

    #[test]
    fn finds_landmarks_in_a_shifted_copy_of_the_template() {
        let (w, h) = (640u32, 560u32);
        let big = texture(w + 100, h + 100, 1.7);
        let crop = |ox: u32, oy: u32| {
            let px = (0..h).flat_map(|y| (0..w).map(move |x| (x, y))).map(|(x, y)| big[((y + oy) * (w + 100) + x + ox) as usize]).collect();
            GreyImage::new(w, h, px).unwrap()
        };
        let template_image = crop(20, 30);
        let query = crop(57, 12); // content moves by (-37, +18)
        let lms = [(200.0, 150.0), (420.0, 300.0), (333.0, 444.0)];
        let template = Template::new("t", w, h, None, lms.iter().enumerate().map(|(i, &(x, y))| Landmark { name: format!("L{i}"), x, y }).collect()).unwrap();
        let config = NccConfig {
            levels: vec![
                NccLevel { size: 80, patch_radius: 10, search_radius: None },
                NccLevel { size: 160, patch_radius: 10, search_radius: Some(4) },
                NccLevel { size: 320, patch_radius: 10, search_radius: Some(4) },
            ],
        };
        let m = NccMatcher::new(&template_image, &template, config).unwrap();
        let found = m.locate(&query, &Device::flex()).unwrap();
        for (&(x, y), (p, score)) in lms.iter().zip(&found) {
            let expect = Point::new(x - 37.0, y + 18.0);
            assert!(p.distance(expect) < 3.0, "expected {expect:?}, found {p:?}");
            assert!(*score > 0.9, "score {score}");
        }
    }

    #[test]
    fn refuses_a_bad_configuration_and_a_mismatched_template() {
        let img = GreyImage::new(64, 64, texture(64, 64, 0.3)).unwrap();
        let t = Template::new("t", 64, 64, None, vec![Landmark { name: "a".into(), x: 5.0, y: 5.0 }]).unwrap();
        let mut c = NccConfig::default();
        c.levels.swap(0, 1);
        assert!(NccMatcher::new(&img, &t, c).err().unwrap().to_string().contains("must increase"));
        let other = Template::new("t", 65, 64, None, t.landmarks.clone()).unwrap();
        let e = NccMatcher::new(&img, &other, NccConfig::default()).err().unwrap().to_string();
        assert!(e.contains("65×64") && e.contains("64×64"), "{e}");
    }
}

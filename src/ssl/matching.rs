//! Cascade matching (paper §2.1, inference): the template's landmark embeddings are compared
//! with every position of a query at each level, and the similarity maps, clamped to [0, 1],
//! are read out coarse to fine.
//!
//! The paper multiplies the five maps, upsampled to the input size, and takes the argmax.
//! [`MatchingConfig`] also offers what removes that method's systematic offsets: template
//! embeddings sampled at the landmark's exact sub-cell position, a search in which each
//! level only restricts where the next one looks, and sub-pixel refinement.

use burn::tensor::{Device, Tensor};

use crate::config::MatchingConfig;
use crate::error::Result;
use crate::io::image::GreyImage;
use crate::io::landmarks::{Point, Template};
use crate::locate::{Locator, PhysicalFrame};
use crate::model::extractor::CASCADE_LEVELS;
use crate::model::image_tensor;
use crate::model::similarity::cosine_similarity_map;
use crate::preprocess::{Frame, preprocess};
use crate::ssl::{SslModel, level_cell, level_factor};

/// The SSL matcher: the template is embedded once, queries stream through. With more
/// templates (few-shot, [`SslMatcher::with_template`]) each query is still embedded once;
/// every template's answer is found and the answers are fused per landmark.
pub struct SslMatcher {
    model: SslModel,
    image_size: usize,
    matching: MatchingConfig,
    /// Per level, the templates' landmark embeddings, `[1, T·K, L]` (template-major).
    anchors: Vec<Tensor<3>>,
    names: Vec<String>,
    templates: usize,
    /// The first template's size and spacing (see [`Locator::physical_frame`]).
    physical_frame: Option<PhysicalFrame>,
}

impl SslMatcher {
    pub fn new(model: SslModel, image_size: usize, matching: MatchingConfig, template_image: &GreyImage, template: &Template, device: &Device) -> Result<Self> {
        matching.validate()?;
        let physical_frame = PhysicalFrame::of_template(template);
        let mut matcher = Self { model: model.fold_for_inference(), image_size, matching, anchors: Vec::new(), names: template.names(), templates: 0, physical_frame };
        matcher.anchors = matcher.embed_template(template_image, template, device)?;
        matcher.templates = 1;
        Ok(matcher)
    }

    /// A template's landmark embeddings per level (E_p at the landmarks, in model pixels).
    fn embed_template(&self, template_image: &GreyImage, template: &Template, device: &Device) -> Result<Vec<Tensor<3>>> {
        template.check_image(template_image)?;
        let side = self.image_size as u32;
        let input = preprocess(template_image, [side, side]);
        let model_points: Vec<Point> = template.points().iter().map(|&p| input.frame.to_model(p)).collect();
        Ok(template_anchors(self.model.embed_patch(image_tensor(&input, device)), &model_points, self.matching.bilinear_anchors))
    }

    /// Adds another labelled image (few-shot): it must name the same landmarks in the same
    /// order. Each landmark's answer is then the coordinate-wise median of the templates'
    /// answers (their mean for two), its score their mean.
    pub fn with_template(mut self, template_image: &GreyImage, template: &Template, device: &Device) -> Result<Self> {
        if template.names() != self.names {
            return Err(crate::Error::Invalid(format!(
                "template {} names other landmarks than the first template ({} landmarks: {}…); every template must label the same landmarks in the same order",
                template.image,
                template.landmarks.len(),
                template.names().iter().take(3).cloned().collect::<Vec<_>>().join(", ")
            )));
        }
        let added = self.embed_template(template_image, template, device)?;
        self.anchors = self.anchors.into_iter().zip(added).map(|(a, b)| Tensor::cat(vec![a, b], 1)).collect();
        self.templates += 1;
        Ok(self)
    }

    /// How many labelled images the matcher holds.
    pub fn templates(&self) -> usize {
        self.templates
    }
}

impl Locator for SslMatcher {
    /// Every level's clamped similarity map, flattened and concatenated coarse to fine:
    /// `[1, K, 1, Σ cells²]`.
    type Maps = Tensor<4>;

    fn landmark_names(&self) -> Vec<String> {
        self.names.clone()
    }

    fn physical_frame(&self) -> Option<PhysicalFrame> {
        self.physical_frame
    }

    fn maps(&self, query: &GreyImage, device: &Device) -> (Tensor<4>, Frame) {
        let side = self.image_size;
        let input = preprocess(query, [side as u32, side as u32]);
        (level_maps(self.model.embed_image(image_tensor(&input, device)), &self.anchors), input.frame)
    }

    /// Each landmark's position in original pixels, and a score: the geometric mean of the
    /// levels' similarities there, in [0, 1] (with several templates, fused as
    /// [`SslMatcher::with_template`] says).
    fn decode(&self, maps: &Vec<f32>, frame: &Frame) -> Vec<(Point, f64)> {
        let per_landmark = cascade_cells(self.image_size).iter().map(|c| c * c).sum::<usize>();
        let k = self.names.len();
        let found: Vec<(Point, f64)> = maps.chunks(per_landmark).take(self.templates * k).map(|m| search(&Cascade::new(m, self.image_size), &self.matching)).collect();
        (0..k)
            .map(|landmark| {
                let answers: Vec<(Point, f64)> = (0..self.templates).map(|t| found[t * k + landmark]).collect();
                let (p, score) = fuse(&answers);
                (frame.to_original(p), score)
            })
            .collect()
    }
}

/// The templates' answers for one landmark, fused: the coordinate-wise median (robust to one
/// template that matched elsewhere; the mean of two) and the mean score.
fn fuse(answers: &[(Point, f64)]) -> (Point, f64) {
    let median = |mut v: Vec<f64>| {
        v.sort_by(f64::total_cmp);
        let n = v.len();
        if n % 2 == 1 { v[n / 2] } else { (v[n / 2 - 1] + v[n / 2]) / 2.0 }
    };
    let x = median(answers.iter().map(|(p, _)| p.x).collect());
    let y = median(answers.iter().map(|(p, _)| p.y).collect());
    (Point::new(x, y), answers.iter().map(|(_, s)| s).sum::<f64>() / answers.len() as f64)
}

/// The side, in cells, of each cascade level's map for a `side`² input, coarse to fine.
fn cascade_cells(side: usize) -> Vec<usize> {
    (0..CASCADE_LEVELS).map(|level| side / level_factor(level)).collect()
}

/// Where model pixel coordinate `x` falls on a level's grid, in cells (pixel and cell centres
/// at integers): the convention of bilinear upsampling without corner alignment.
fn cell_coordinate(x: f64, factor: usize) -> f64 {
    (x + 0.5) / factor as f64 - 0.5
}

/// The template's embedding at each landmark (model pixels), per level: `[1, K, L]`. With
/// `bilinear`, sampled at the landmark's exact position on the level's grid; else the
/// embedding of the cell that holds it.
pub fn template_anchors(cascade: Vec<Tensor<4>>, model_points: &[Point], bilinear: bool) -> Vec<Tensor<3>> {
    cascade
        .into_iter()
        .enumerate()
        .map(|(level, f)| {
            let [_, l, h, w] = f.dims();
            let factor = level_factor(level);
            let cell = |x: usize, y: usize| f.clone().slice([0..1, 0..l, y..y + 1, x..x + 1]).reshape([1, 1, l]);
            let picked: Vec<Tensor<3>> = model_points
                .iter()
                .map(|p| {
                    if !bilinear {
                        return cell(level_cell(p.x, factor, w), level_cell(p.y, factor, h));
                    }
                    let ([x0, x1], wx) = bilinear_taps(cell_coordinate(p.x, factor), w);
                    let ([y0, y1], wy) = bilinear_taps(cell_coordinate(p.y, factor), h);
                    cell(x0, y0).mul_scalar((1.0 - wx) * (1.0 - wy))
                        + cell(x1, y0).mul_scalar(wx * (1.0 - wy))
                        + cell(x0, y1).mul_scalar((1.0 - wx) * wy)
                        + cell(x1, y1).mul_scalar(wx * wy)
                })
                .collect();
            Tensor::cat(picked, 1)
        })
        .collect()
}

/// The two grid indices around coordinate `u` (clamped to the grid) and the weight of the
/// second.
fn bilinear_taps(u: f64, cells: usize) -> ([usize; 2], f64) {
    let u = u.clamp(0.0, (cells - 1) as f64);
    let i = u.floor() as usize;
    ([i, (i + 1).min(cells - 1)], u - i as f64)
}

/// Per level: cosine similarity of the query cascade with the anchors, clamped to [0, 1];
/// flattened and concatenated over levels: `[1, K, 1, Σ cells²]`.
pub fn level_maps(cascade: Vec<Tensor<4>>, anchors: &[Tensor<3>]) -> Tensor<4> {
    let maps: Vec<Tensor<4>> = cascade
        .into_iter()
        .zip(anchors)
        .map(|(f, a)| {
            let s = cosine_similarity_map(f, a.clone()).clamp(0.0, 1.0);
            let [b, k, h, w] = s.dims();
            s.reshape([b, k, 1, h * w])
        })
        .collect();
    Tensor::cat(maps, 3)
}

/// One landmark's five similarity maps, coarse to fine, read at model pixels.
pub struct Cascade<'a> {
    levels: Vec<(&'a [f32], usize, usize)>, // (values, cells per side, factor)
    side: usize,
}

impl<'a> Cascade<'a> {
    /// `maps`: the levels' `cells²` values one after the other, coarse to fine.
    pub fn new(maps: &'a [f32], side: usize) -> Self {
        let mut rest = maps;
        let levels = cascade_cells(side)
            .into_iter()
            .enumerate()
            .map(|(level, n)| {
                let (values, tail) = rest.split_at(n * n);
                rest = tail;
                (values, n, level_factor(level))
            })
            .collect();
        Self { levels, side }
    }

    /// Level `level`'s map at model pixel (x, y), bilinearly upsampled (no corner alignment,
    /// edges clamped): what the paper's upsampling gives at that pixel.
    pub fn at(&self, level: usize, x: f64, y: f64) -> f32 {
        let (values, n, factor) = self.levels[level];
        let ([x0, x1], wx) = bilinear_taps(cell_coordinate(x, factor), n);
        let ([y0, y1], wy) = bilinear_taps(cell_coordinate(y, factor), n);
        let (wx, wy) = (wx as f32, wy as f32);
        let row = |y: usize| values[y * n + x0] * (1.0 - wx) + values[y * n + x1] * wx;
        row(y0) * (1.0 - wy) + row(y1) * wy
    }

    /// The product of levels `levels` at (x, y).
    fn score(&self, levels: std::ops::RangeInclusive<usize>, x: f64, y: f64) -> f32 {
        levels.map(|l| self.at(l, x, y)).product()
    }
}

/// Finds one landmark in its cascade: model pixel and score.
pub fn search(cascade: &Cascade, matching: &MatchingConfig) -> (Point, f64) {
    let side = cascade.side as i64;
    let last = cascade.levels.len() - 1;
    let whole = (0, side - 1, 0, side - 1);
    // (level scored up to, region searched): the paper's product over the whole image, or
    // each level restricted to a window around the previous one's answer.
    let steps: Vec<usize> = if matching.window_cells == 0 { vec![last] } else { (0..=last).collect() };
    let mut region = whole;
    let mut best = (0i64, 0i64);
    for (i, &level) in steps.iter().enumerate() {
        if i > 0 {
            let r = (matching.window_cells * cascade.levels[level].2) as i64;
            region = ((best.0 - r).max(0), (best.0 + r).min(side - 1), (best.1 - r).max(0), (best.1 + r).min(side - 1));
        }
        let scored = level.saturating_sub(matching.scoring_levels - 1)..=level;
        let mut top = f32::MIN;
        for y in region.2..=region.3 {
            for x in region.0..=region.1 {
                let v = cascade.score(scored.clone(), x as f64, y as f64);
                if v > top {
                    top = v;
                    best = (x, y);
                }
            }
        }
    }
    let scored = last.saturating_sub(matching.scoring_levels - 1)..=last;
    let (x, y) = (best.0 as f64, best.1 as f64);
    let mut p = Point::new(x, y);
    if matching.subpixel {
        let g = |dx: f64, dy: f64| f64::from(cascade.score(scored.clone(), x + dx, y + dy));
        p.x += parabola_peak(g(-1.0, 0.0), g(0.0, 0.0), g(1.0, 0.0));
        p.y += parabola_peak(g(0.0, -1.0), g(0.0, 0.0), g(0.0, 1.0));
    }
    let all = (0..=last).map(|l| f64::from(cascade.at(l, p.x, p.y).max(0.0))).product::<f64>();
    (p, all.powf(1.0 / (last + 1) as f64))
}

/// The offset in (−½, ½) of the vertex of the parabola through (−1, a), (0, b), (1, c), when
/// `b` is a maximum; 0 otherwise.
fn parabola_peak(a: f64, b: f64, c: f64) -> f64 {
    let curvature = a - 2.0 * b + c;
    if curvature >= 0.0 || b < a || b < c {
        return 0.0;
    }
    (0.5 * (a - c) / curvature).clamp(-0.5, 0.5)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::SslConfig;
    use crate::io::landmarks::Landmark;
    use crate::model::extractor::ExtractorConfig;
    use rand::{RngExt, SeedableRng};

    fn textured(w: u32, h: u32) -> GreyImage {
        GreyImage::new(w, h, (0..w * h).map(|i| ((i * 7919) % 256) as f32 / 255.0).collect()).unwrap()
    }

    fn read(t: Tensor<4>) -> Vec<f32> {
        t.into_data().try_to_vec::<f32>().unwrap()
    }

    /// A synthetic cascade in which the template's neighbourhood of a landmark is planted
    /// elsewhere in the query (shifted by whole cells at every level): the paper's cascade
    /// matching must find the planted position exactly.
    #[test]
    fn matching_finds_a_planted_patch_exactly() {
        let device = Device::flex();
        let mut rng = rand::rngs::StdRng::seed_from_u64(11);
        let mut random = |n: usize| -> Tensor<4> {
            let v: Vec<f32> = (0..16 * n * n).map(|_| rng.random_range(-1.0f32..1.0)).collect();
            Tensor::from_data(burn::tensor::TensorData::new(v, [1, 16, n, n]), &device)
        };
        let side = 256;
        let landmark = Point::new(37.0, 45.0); // model pixels
        let shift = (64usize, 32usize); // a multiple of 32: whole cells at every level
        let mut template = Vec::new();
        let mut query = Vec::new();
        for level in 0..5 {
            let f = level_factor(level);
            let n = side / f;
            let t = random(n);
            let mut q = random(n);
            // Plant the template's cells around the landmark (a 3×3-cell neighbourhood, clipped).
            let (cx, cy) = (level_cell(landmark.x, f, n), level_cell(landmark.y, f, n));
            let (x0, y0) = (cx.saturating_sub(1), cy.saturating_sub(1));
            let (x1, y1) = ((cx + 2).min(n), (cy + 2).min(n));
            let (dx, dy) = (shift.0 / f, shift.1 / f);
            let block = t.clone().slice([0..1, 0..16, y0..y1, x0..x1]);
            q = q.slice_assign([0..1, 0..16, y0 + dy..y1 + dy, x0 + dx..x1 + dx], block);
            template.push(t);
            query.push(q);
        }
        let anchors = template_anchors(template, &[landmark], false);
        let maps = read(level_maps(query, &anchors));
        let (found, _) = search(&Cascade::new(&maps, side), &MatchingConfig::paper());
        // The planted cell at the finest level (factor 2) holds the landmark's pixel.
        let expect = ((landmark.x as usize + shift.0) / 2, (landmark.y as usize + shift.1) / 2);
        assert_eq!((found.x as usize / 2, found.y as usize / 2), expect, "found model pixel {found:?}");
    }

    /// Smooth synthetic features (each channel a slow wave of position, as a real extractor's
    /// are): a landmark anywhere inside a cell, in a query that is the template shifted by
    /// a whole number of pixels, is found where it moved. Bilinear anchors with sub-pixel
    /// refinement do this to a fraction of a pixel; the authors' cell anchors pull the
    /// answer toward the landmark's cells, whatever the query.
    #[test]
    fn bilinear_anchors_find_a_shifted_landmark_without_offset() {
        let device = Device::flex();
        let side = 128;
        // Level maps of an image whose feature at model pixel (x, y) is a set of waves; the
        // query is the same scene moved by `shift` model pixels.
        let cascade = |shift: (f64, f64)| -> Vec<Tensor<4>> {
            (0..5)
                .map(|level| {
                    let f = level_factor(level);
                    let n = side / f;
                    let channels = 8;
                    let period = 4.0 * f as f64; // every level resolves its own scale
                    let mut v = vec![0f32; channels * n * n];
                    for c in 0..channels {
                        let angle = c as f64 * std::f64::consts::PI / channels as f64;
                        let (dx, dy) = angle.sin_cos();
                        for cy in 0..n {
                            for cx in 0..n {
                                // Cell centre in model pixels, in the scene's coordinates.
                                let (x, y) = ((cx as f64 + 0.5) * f as f64 - 0.5 - shift.0, (cy as f64 + 0.5) * f as f64 - 0.5 - shift.1);
                                let phase = 2.0 * std::f64::consts::PI * (x * dx + y * dy) / period;
                                v[(c * n + cy) * n + cx] = (phase + c as f64).sin() as f32 + 1.5;
                            }
                        }
                    }
                    Tensor::from_data(burn::tensor::TensorData::new(v, [1, channels, n, n]), &device)
                })
                .collect()
        };
        let landmarks = [Point::new(45.3, 61.0), Point::new(70.0, 50.6), Point::new(60.5, 70.5)];
        let template = cascade((0.0, 0.0));
        let shift = (7.0, -5.0);
        let query = || cascade(shift);
        let errors = |bilinear: bool, matching: &MatchingConfig| -> f64 {
            let anchors = template_anchors(template.clone(), &landmarks, bilinear);
            let maps = read(level_maps(query(), &anchors));
            let per = maps.len() / landmarks.len();
            landmarks.iter().zip(maps.chunks(per)).map(|(l, m)| search(&Cascade::new(m, side), matching).0.distance(Point::new(l.x + shift.0, l.y + shift.1))).fold(0.0, f64::max)
        };
        // The shipped setting (bilinear anchors, cascade window 3, sub-pixel); the landmarks
        // sit between pixels, which an integer argmax alone would miss by up to 0.71 px.
        let unbiased = errors(true, &MatchingConfig::new());
        assert!(unbiased < 0.5, "shipped matching: {unbiased} px off");
        let paper = errors(false, &MatchingConfig::paper());
        assert!(paper > unbiased, "cell anchors: {paper} px, bilinear: {unbiased} px");
    }

    #[test]
    fn cascade_reads_levels_like_the_upsampling() {
        // Level values laid out coarse to fine; a constant level reads as that constant, and
        // the finest level's cell centres read exactly.
        let side = 64;
        let cells = cascade_cells(side);
        let mut maps = Vec::new();
        for (level, n) in cells.iter().enumerate() {
            maps.extend((0..n * n).map(|i| if level == 4 { i as f32 } else { level as f32 }));
        }
        let c = Cascade::new(&maps, side);
        assert_eq!(c.at(1, 10.0, 30.0), 1.0);
        // Finest level: factor 2, cell (3, 5) has its centre at model pixel (6.5, 10.5).
        assert_eq!(c.at(4, 6.5, 10.5), (5 * 32 + 3) as f32);
        // Halfway between cells (3, 5) and (4, 5).
        assert_eq!(c.at(4, 7.5, 10.5), (5 * 32 + 3) as f32 + 0.5);
    }

    #[test]
    fn parabola_peak_finds_the_vertex() {
        // y = −(x − 0.3)²: samples at −1, 0, 1.
        let f = |x: f64| -(x - 0.3f64).powi(2);
        assert!((parabola_peak(f(-1.0), f(0.0), f(1.0)) - 0.3).abs() < 1e-12);
        assert_eq!(parabola_peak(0.0, 1.0, 1.0 + 1e-9), 0.0); // not a maximum: no shift
    }

    /// An extractor configuration small enough for unit tests.
    fn tiny_config() -> SslConfig {
        SslConfig::new(ExtractorConfig::new([4, 4, 4, 4, 4], [1, 1, 1, 1, 1], [4, 4, 4, 4]).with_embedding(4), crate::config::SslTrainingConfig::new())
    }

    /// Raises, at every level of one landmark's maps (`maps`: that landmark's slice), the
    /// cell that holds model pixel `at` to 0.9.
    fn plant(side: usize, maps: &mut [f32], at: (usize, usize)) {
        let mut offset = 0;
        for (level, n) in cascade_cells(side).into_iter().enumerate() {
            let f = level_factor(level);
            maps[offset + (at.1 / f) * n + at.0 / f] = 0.9;
            offset += n * n;
        }
    }

    #[test]
    fn several_templates_are_fused_by_the_median_and_must_share_their_landmarks() {
        let device = Device::flex();
        let config = tiny_config();
        let template = Template::new("t", 64, 64, None, vec![Landmark { name: "a".into(), x: 5.0, y: 5.0 }]).unwrap();
        let side = 64;
        let image = textured(64, 64);
        let matcher = SslMatcher::new(SslModel::new(&config, &device), side, MatchingConfig::paper(), &image, &template, &device).unwrap();
        let matcher = matcher.with_template(&image, &template, &device).unwrap().with_template(&image, &template, &device).unwrap();
        assert_eq!(matcher.templates(), 3);
        let per: usize = cascade_cells(side).iter().map(|n| n * n).sum();
        let mut maps = vec![0.5f32; 3 * per];
        // Two templates agree, the third matched far away: the median keeps the agreement.
        plant(side, &mut maps[..per], (21, 7));
        plant(side, &mut maps[per..2 * per], (21, 7));
        plant(side, &mut maps[2 * per..], (50, 50));
        let one = SslMatcher::new(SslModel::new(&config, &device), side, MatchingConfig::paper(), &image, &template, &device).unwrap();
        let frame = Frame::new([64, 64], [64, 64]);
        let alone = one.decode(&maps[..per].to_vec(), &frame)[0].0;
        let fused = matcher.decode(&maps, &frame)[0].0;
        assert!((fused.x - alone.x).abs() < 1e-9 && (fused.y - alone.y).abs() < 1e-9, "{fused:?} vs {alone:?}");

        let other = Template::new("u", 64, 64, None, vec![Landmark { name: "b".into(), x: 5.0, y: 5.0 }]).unwrap();
        let err = one.with_template(&image, &other, &device).err().expect("other landmarks are refused").to_string();
        assert!(err.contains("every template must label the same landmarks"), "{err}");
    }

    #[test]
    fn decode_recovers_a_planted_peak() {
        let device = Device::flex();
        let config = tiny_config();
        let template = Template::new("t", 64, 64, None, vec![Landmark { name: "a".into(), x: 5.0, y: 5.0 }, Landmark { name: "b".into(), x: 9.0, y: 9.0 }]).unwrap();
        let side = 64;
        let matcher = SslMatcher::new(SslModel::new(&config, &device), side, MatchingConfig::paper(), &textured(64, 64), &template, &device).unwrap();
        let per: usize = cascade_cells(side).iter().map(|n| n * n).sum();
        // Every level flat at 0.5, but one cell of each level high at the planted place.
        let mut maps = vec![0.5f32; 2 * per];
        plant(side, &mut maps[..per], (21, 7));
        plant(side, &mut maps[per..], (2, 30));
        let frame = Frame::new([128, 128], [64, 64]);
        let found = matcher.decode(&maps, &frame);
        // The finest level's planted cell (factor 2) holds the answer.
        assert_eq!(((found[0].0.x / 4.0) as usize, (found[0].0.y / 4.0) as usize), (10, 3));
        assert_eq!(((found[1].0.x / 4.0) as usize, (found[1].0.y / 4.0) as usize), (1, 15));
        assert!(found[0].1 > 0.6 && found[0].1 <= 0.9, "{}", found[0].1);
    }
}

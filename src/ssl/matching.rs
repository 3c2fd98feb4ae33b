//! Cascade matching (paper §2.1, inference): the template's landmark embeddings are compared
//! with every position of a query at each level; the similarity maps, clamped to [0, 1] and
//! upsampled to the input size, are multiplied, and the argmax is the landmark.

use burn::tensor::{Device, Tensor};

use crate::error::Result;
use crate::io::image::GreyImage;
use crate::io::landmarks::{Point, Template};
use crate::model::blocks::upsample_to;
use crate::model::image_tensor;
use crate::model::similarity::cosine_similarity_map;
use crate::preprocess::{Frame, preprocess};
use crate::ssl::{SslModel, level_cell, level_factor};

/// The SSL matcher for one template: the template is embedded once, queries stream through.
pub struct SslMatcher {
    model: SslModel,
    image_size: usize,
    /// Per level, the template's landmark embeddings, `[1, K, L]`.
    anchors: Vec<Tensor<3>>,
    landmarks: usize,
}

impl SslMatcher {
    pub fn new(model: SslModel, image_size: usize, template_image: &GreyImage, template: &Template, device: &Device) -> Result<Self> {
        template.check_image(template_image)?;
        let side = image_size as u32;
        let input = preprocess(template_image, [side, side]);
        let model_points: Vec<Point> = template.points().iter().map(|&p| input.frame.to_model(p)).collect();
        let anchors = template_anchors(model.embed_patch(image_tensor(&input, device)), &model_points);
        Ok(Self { model, image_size, anchors, landmarks: template.landmarks.len() })
    }

    /// The product of the clamped, upsampled similarity maps: `[1, K, S, S]`, with the frame
    /// that maps it back to the query's pixels. Reading it out is left to the caller (sync
    /// natively, async in a browser).
    pub fn similarity(&self, query: &GreyImage, device: &Device) -> (Tensor<4>, Frame) {
        let side = self.image_size;
        let input = preprocess(query, [side as u32, side as u32]);
        let product = similarity_product(self.model.embed_image(image_tensor(&input, device)), &self.anchors, side);
        (product, input.frame)
    }

    /// Argmax of each landmark's map → position in original pixels, and a score: the
    /// geometric mean of the five level similarities there, in [0, 1].
    pub fn decode(&self, product: &[f32], frame: &Frame) -> Vec<(Point, f64)> {
        let side = self.image_size;
        product
            .chunks(side * side)
            .take(self.landmarks)
            .map(|map| {
                let (i, v) = map.iter().enumerate().fold((0, f32::MIN), |best, (i, &v)| if v > best.1 { (i, v) } else { best });
                let p = Point::new((i % side) as f64, (i / side) as f64);
                (frame.to_original(p), f64::from(v.max(0.0)).powf(1.0 / 5.0))
            })
            .collect()
    }

    /// Locates the template's landmarks in `query` (native: synchronous read-back).
    #[cfg(not(target_family = "wasm"))]
    pub fn locate(&self, query: &GreyImage, device: &Device) -> Result<Vec<(Point, f64)>> {
        let (product, frame) = self.similarity(query, device);
        let data = product.into_data().try_to_vec::<f32>().map_err(|e| crate::Error::Invalid(format!("reading similarity maps: {e:?}")))?;
        Ok(self.decode(&data, &frame))
    }
}

/// The template's embedding at each landmark (model pixels), per level: `[1, K, L]`.
pub fn template_anchors(cascade: Vec<Tensor<4>>, model_points: &[Point]) -> Vec<Tensor<3>> {
    cascade
        .into_iter()
        .enumerate()
        .map(|(level, f)| {
            let [_, l, h, w] = f.dims();
            let factor = level_factor(level);
            let picked: Vec<Tensor<3>> = model_points
                .iter()
                .map(|p| {
                    let (x, y) = (level_cell(p.x, factor, w), level_cell(p.y, factor, h));
                    f.clone().slice([0..1, 0..l, y..y + 1, x..x + 1]).reshape([1, 1, l])
                })
                .collect();
            Tensor::cat(picked, 1)
        })
        .collect()
}

/// Per level: cosine similarity of the query cascade with the anchors, clamped to [0, 1],
/// upsampled to `side`²; multiplied over levels: `[1, K, side, side]`.
pub fn similarity_product(cascade: Vec<Tensor<4>>, anchors: &[Tensor<3>], side: usize) -> Tensor<4> {
    cascade
        .into_iter()
        .zip(anchors)
        .map(|(f, a)| upsample_to(cosine_similarity_map(f, a.clone()).clamp(0.0, 1.0), [side, side]))
        .reduce(|acc, s| acc * s)
        .expect("at least one cascade level")
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::SslConfig;
    use crate::io::landmarks::Landmark;
    use crate::model::extractor::ExtractorConfig;

    fn textured(w: u32, h: u32) -> GreyImage {
        GreyImage::new(w, h, (0..w * h).map(|i| ((i * 7919) % 256) as f32 / 255.0).collect()).unwrap()
    }

    /// A synthetic cascade in which the template's neighbourhood of a landmark is planted
    /// elsewhere in the query (shifted by whole cells at every level): cascade matching must
    /// find the planted position exactly.
    #[test]
    fn matching_finds_a_planted_patch_exactly() {
        use rand::{RngExt, SeedableRng};
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
        let anchors = template_anchors(template, &[landmark]);
        let product: Vec<f32> = similarity_product(query, &anchors, side).into_data().try_to_vec::<f32>().unwrap();
        let best = product.iter().enumerate().fold((0, f32::MIN), |b, (i, &v)| if v > b.1 { (i, v) } else { b }).0;
        let (bx, by) = (best % side, best / side);
        // The planted cell at the finest level (factor 2) holds the landmark's pixel.
        let expect = ((landmark.x as usize + shift.0) / 2, (landmark.y as usize + shift.1) / 2);
        assert_eq!((bx / 2, by / 2), expect, "found model pixel ({bx}, {by})");
    }

    #[test]
    fn decode_recovers_a_planted_peak_exactly() {
        let device = Device::flex();
        let config = SslConfig::new(ExtractorConfig::new([4, 4, 4, 4, 4], [1, 1, 1, 1, 1], [4, 4, 4, 4]).with_embedding(4), crate::config::SslTrainingConfig::new());
        let template = Template::new("t", 64, 64, None, vec![Landmark { name: "a".into(), x: 5.0, y: 5.0 }, Landmark { name: "b".into(), x: 9.0, y: 9.0 }]).unwrap();
        let matcher = SslMatcher::new(SslModel::new(&config, &device), 32, &textured(64, 64), &template, &device).unwrap();
        let mut maps = vec![0.1f32; 2 * 32 * 32];
        maps[7 * 32 + 21] = 0.9; // landmark a at model pixel (21, 7)
        maps[32 * 32 + 30 * 32 + 2] = 0.5; // landmark b at (2, 30)
        let frame = Frame::new([64, 64], [32, 32]);
        let found = matcher.decode(&maps, &frame);
        assert_eq!(found[0].0, frame.to_original(Point::new(21.0, 7.0)));
        assert_eq!(found[1].0, frame.to_original(Point::new(2.0, 30.0)));
        assert!((found[0].1 - 0.9f64.powf(0.2)).abs() < 1e-6);
    }
}

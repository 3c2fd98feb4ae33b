//! From a decoded radiograph to what a model sees, and back: an anisotropic resize to the
//! model's input size, and the one exact mapping between original and model pixels.
//!
//! Convention: pixel centres sit at integer coordinates in both frames, and a pixel covers
//! ±0.5 around its centre. The resampler (`image`'s separable triangle filter, computed here
//! row by row) samples output pixel `u` at input position `(u + 0.5) · w/W − 0.5`, so
//! [`Frame::to_original`] is exactly where each model pixel was taken from and
//! [`Frame::to_model`] is its inverse.

use crate::io::image::GreyImage;
use crate::io::landmarks::Point;
use crate::parallel::for_each_chunk_mut;

/// The geometric relation between an original image and its resized copy.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Frame {
    /// Original image (width, height).
    pub original: [u32; 2],
    /// Resized image (width, height).
    pub model: [u32; 2],
}

impl Frame {
    pub fn new(original: [u32; 2], model: [u32; 2]) -> Self {
        Self { original, model }
    }

    /// Model pixels per original pixel, (x, y).
    pub fn scale(&self) -> [f64; 2] {
        [f64::from(self.model[0]) / f64::from(self.original[0]), f64::from(self.model[1]) / f64::from(self.original[1])]
    }

    pub fn to_model(&self, p: Point) -> Point {
        let [sx, sy] = self.scale();
        Point::new((p.x + 0.5) * sx - 0.5, (p.y + 0.5) * sy - 0.5)
    }

    pub fn to_original(&self, p: Point) -> Point {
        let [sx, sy] = self.scale();
        Point::new((p.x + 0.5) / sx - 0.5, (p.y + 0.5) / sy - 0.5)
    }

    /// The nearest point inside the original image (pixel centres 0 … width − 1, 0 … height
    /// − 1): a detector's offsets can vote past the border, a landmark cannot lie there.
    pub fn inside_original(&self, p: Point) -> Point {
        let [w, h] = self.original.map(|v| f64::from(v.max(1) - 1));
        Point::new(p.x.clamp(0.0, w), p.y.clamp(0.0, h))
    }
}

/// Resizes a grey image to `width`×`height` (anti-aliased when shrinking): `image`'s
/// `resize` with its triangle filter, the same weights summed in the same order (so the same
/// values), but over whole rows, one grey channel instead of four, and on the thread pool
/// where there is one: 10 → 2 ms for a radiograph (docs/performance.md, "Detection time, natively and in the browser").
pub fn resize(img: &GreyImage, width: u32, height: u32) -> GreyImage {
    if (img.width, img.height) == (width, height) {
        return img.clone();
    }
    let (w, h) = (img.width as usize, img.height as usize);
    // Columns first, as `image` does: each output row a weighted sum of input rows.
    let rows = TriangleTaps::new(h, height as usize);
    let mut tall = vec![0.0f32; w * height as usize];
    for_each_chunk_mut(&mut tall, w, |y, out| {
        let (first, weights) = rows.of(y);
        for (i, &wt) in weights.iter().enumerate() {
            let row = &img.pixels[(first + i) * w..(first + i + 1) * w];
            for (o, &v) in out.iter_mut().zip(row) {
                *o += v * wt;
            }
        }
    });
    // Then each row along its length, clamped to [0, 1] as `image` clamps its output.
    let cols = TriangleTaps::new(w, width as usize);
    let mut pixels = vec![0.0f32; width as usize * height as usize];
    for_each_chunk_mut(&mut pixels, width as usize, |y, out| {
        let row = &tall[y * w..(y + 1) * w];
        for (x, o) in out.iter_mut().enumerate() {
            let (first, weights) = cols.of(x);
            let t = weights.iter().zip(&row[first..]).fold(0.0f32, |t, (&wt, &v)| t + v * wt);
            *o = t.clamp(0.0, 1.0);
        }
    });
    GreyImage { width, height, pixels }
}

/// The normalised triangle-filter weights of each output position along one axis, computed
/// exactly as `image`'s resampler computes them (in f32, the same expressions).
struct TriangleTaps {
    /// Per output position: the first input position and the range of its weights.
    spans: Vec<(usize, std::ops::Range<usize>)>,
    weights: Vec<f32>,
}

impl TriangleTaps {
    fn new(input: usize, output: usize) -> Self {
        let ratio = input as f32 / output as f32;
        let sratio = ratio.max(1.0);
        let support = sratio; // the triangle's support is 1 input pixel, stretched when shrinking
        let (mut spans, mut weights) = (Vec::with_capacity(output), Vec::new());
        for u in 0..output {
            let centre = (u as f32 + 0.5) * ratio;
            let left = ((centre - support).floor() as i64).clamp(0, input as i64 - 1) as usize;
            let right = ((centre + support).ceil() as i64).clamp(left as i64 + 1, input as i64) as usize;
            let centre = centre - 0.5;
            let start = weights.len();
            let mut sum = 0.0f32;
            for i in left..right {
                let w = (1.0 - ((i as f32 - centre) / sratio).abs()).max(0.0);
                weights.push(w);
                sum += w;
            }
            for w in &mut weights[start..] {
                *w /= sum;
            }
            spans.push((left, start..weights.len()));
        }
        Self { spans, weights }
    }

    fn of(&self, u: usize) -> (usize, &[f32]) {
        let (first, range) = &self.spans[u];
        (*first, &self.weights[range.clone()])
    }
}

/// The value at a continuous position (pixel centres at integers), bilinear, edges clamped.
pub fn sample_bilinear(img: &GreyImage, x: f64, y: f64) -> f32 {
    let (w, h) = (i64::from(img.width), i64::from(img.height));
    let (x0, y0) = (x.floor(), y.floor());
    let (fx, fy) = ((x - x0) as f32, (y - y0) as f32);
    let at = |xi: i64, yi: i64| img.pixels[(yi.clamp(0, h - 1) * w + xi.clamp(0, w - 1)) as usize];
    let (x0, y0) = (x0 as i64, y0 as i64);
    let top = at(x0, y0) * (1.0 - fx) + at(x0 + 1, y0) * fx;
    let bottom = at(x0, y0 + 1) * (1.0 - fx) + at(x0 + 1, y0 + 1) * fx;
    top * (1.0 - fy) + bottom * fy
}

/// An image resampled to another pixel size and re-framed: resized to `frame.model` (the
/// exact [`Frame`] mapping), then the window of `size` whose top-left corner sits at
/// `offset` in the resized image cut out (past its edges: `fill`). The same placement maps
/// points both ways exactly, so landmarks move with the pixels: another device's field of
/// view and spacing (the shift benchmark, [`crate::shift`]), and an image brought to the
/// scale a model was trained at.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Placement {
    pub frame: Frame,
    /// The window's top-left corner in the resized image (pixels; may be negative).
    pub offset: [i64; 2],
    /// The output's (width, height).
    pub size: [u32; 2],
}

impl Placement {
    /// Where an original point lands in the output.
    pub fn to_output(&self, p: Point) -> Point {
        let q = self.frame.to_model(p);
        Point::new(q.x - self.offset[0] as f64, q.y - self.offset[1] as f64)
    }

    /// Where an output point came from in the original.
    pub fn to_input(&self, p: Point) -> Point {
        self.frame.to_original(Point::new(p.x + self.offset[0] as f64, p.y + self.offset[1] as f64))
    }

    /// The placed image.
    pub fn apply(&self, img: &GreyImage, fill: f32) -> GreyImage {
        let resized = resize(img, self.frame.model[0], self.frame.model[1]);
        let [w, h] = self.size;
        let (rw, rh) = (i64::from(resized.width), i64::from(resized.height));
        let mut pixels = vec![fill; w as usize * h as usize];
        for (y, row) in pixels.chunks_mut(w as usize).enumerate() {
            let sy = y as i64 + self.offset[1];
            if !(0..rh).contains(&sy) {
                continue;
            }
            let src = &resized.pixels[(sy * rw) as usize..((sy + 1) * rw) as usize];
            for (x, v) in row.iter_mut().enumerate() {
                let sx = x as i64 + self.offset[0];
                if (0..rw).contains(&sx) {
                    *v = src[sx as usize];
                }
            }
        }
        GreyImage { width: w, height: h, pixels }
    }
}

/// A similarity transform about an image's centre `c`: a point `p` moves to
/// `c + s·R(θ)(p − c) + t`. Used to augment training images and to probe matching for
/// systematic offsets on moved copies of one image.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Similarity {
    pub centre: Point,
    /// Rotation θ, radians (clockwise on screen: y points down).
    pub rotation: f64,
    pub scale: f64,
    pub shift: Point,
}

impl Similarity {
    /// About the centre of a `width`×`height` image.
    pub fn about_centre(width: u32, height: u32, rotation: f64, scale: f64, shift: Point) -> Self {
        Self { centre: Point::new((f64::from(width) - 1.0) / 2.0, (f64::from(height) - 1.0) / 2.0), rotation, scale, shift }
    }

    /// Where `p` moves.
    pub fn apply(&self, p: Point) -> Point {
        let (sin, cos) = self.rotation.sin_cos();
        let (c, s, t) = (self.centre, self.scale, self.shift);
        let (dx, dy) = (p.x - c.x, p.y - c.y);
        Point::new(c.x + s * (cos * dx - sin * dy) + t.x, c.y + s * (sin * dx + cos * dy) + t.y)
    }

    /// The moved image (same size; bilinear, edges clamped): output pixel `q` shows input
    /// position `c + R(−θ)(q − c − t)/s`.
    pub fn warp(&self, img: &GreyImage) -> GreyImage {
        self.warp_filled(img, None)
    }

    /// [`Self::warp`], with `fill` (when given) wherever the input position lies more than
    /// half a pixel outside the image.
    pub fn warp_filled(&self, img: &GreyImage, fill: Option<f32>) -> GreyImage {
        let (sin, cos) = self.rotation.sin_cos();
        let (c, s, t) = (self.centre, self.scale, self.shift);
        let (w, h) = (f64::from(img.width) - 0.5, f64::from(img.height) - 0.5);
        let pixels = (0..img.width * img.height)
            .map(|i| {
                let (dx, dy) = (f64::from(i % img.width) - c.x - t.x, f64::from(i / img.width) - c.y - t.y);
                let (x, y) = (c.x + (cos * dx + sin * dy) / s, c.y + (-sin * dx + cos * dy) / s);
                match fill {
                    Some(v) if x < -0.5 || y < -0.5 || x > w || y > h => v,
                    _ => sample_bilinear(img, x, y),
                }
            })
            .collect();
        GreyImage { width: img.width, height: img.height, pixels }
    }
}

/// An image resized for a model, with the frame that maps its pixels back.
#[derive(Clone, Debug, PartialEq)]
pub struct ModelImage {
    pub frame: Frame,
    pub image: GreyImage,
}

/// Resizes a radiograph to the model's input size `[width, height]`.
pub fn preprocess(img: &GreyImage, size: [u32; 2]) -> ModelImage {
    ModelImage { frame: Frame::new([img.width, img.height], size), image: resize(img, size[0], size[1]) }
}

/// Brightness and contrast jitter for training (both stages): pixels scaled by
/// `brightness`, then spread about their mean by `contrast`, clamped to [0, 1].
pub fn jitter(pixels: &mut [f32], brightness: f32, contrast: f32) {
    for v in pixels.iter_mut() {
        *v *= brightness;
    }
    let mean = pixels.iter().sum::<f32>() / pixels.len() as f32;
    for v in pixels.iter_mut() {
        *v = ((*v - mean) * contrast + mean).clamp(0.0, 1.0);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn points_past_the_border_come_back_inside_and_inner_ones_stay() {
        let f = Frame::new([1935, 2400], [384, 384]);
        assert_eq!(f.inside_original(Point::new(-5.0, 22.0)), Point::new(0.0, 22.0));
        assert_eq!(f.inside_original(Point::new(2000.0, 2400.5)), Point::new(1934.0, 2399.0));
        assert_eq!(f.inside_original(Point::new(835.25, 996.5)), Point::new(835.25, 996.5));
    }

    #[test]
    fn mapping_round_trips_both_ways() {
        let f = Frame::new([1935, 2400], [384, 384]);
        for p in [Point::new(0.0, 0.0), Point::new(835.0, 996.0), Point::new(1934.0, 2399.0), Point::new(-0.5, 2399.5)] {
            let q = f.to_original(f.to_model(p));
            assert!(p.distance(q) < 1e-9, "{p:?} -> {q:?}");
        }
        // Pixel edges map to pixel edges: the image's outer border is the same in both frames.
        assert_eq!(f.to_model(Point::new(-0.5, -0.5)), Point::new(-0.5, -0.5));
        let far = f.to_model(Point::new(1934.5, 2399.5));
        assert!((far.x - 383.5).abs() < 1e-9 && (far.y - 383.5).abs() < 1e-9);
    }

    /// The row-by-row resampler gives `image`'s triangle-filter values, shrinking and
    /// enlarging, bit for bit.
    #[test]
    fn resize_equals_images_triangle_filter() {
        use image::imageops::{FilterType, resize as image_resize};
        use image::{ImageBuffer, Luma};
        let (w, h) = (193u32, 240u32);
        let mut state = 12345u32;
        let px: Vec<f32> = (0..w * h)
            .map(|_| {
                state = state.wrapping_mul(1_664_525).wrapping_add(1_013_904_223);
                (state >> 8) as f32 / (1u32 << 24) as f32
            })
            .collect();
        let img = GreyImage::new(w, h, px.clone()).unwrap();
        for (ow, oh) in [(38, 38), (64, 17), (193, 300), (250, 120), (1, 1)] {
            let ours = resize(&img, ow, oh);
            let buf: ImageBuffer<Luma<f32>, Vec<f32>> = ImageBuffer::from_raw(w, h, px.clone()).unwrap();
            let theirs = image_resize(&buf, ow, oh, FilterType::Triangle).into_raw();
            let diff = ours.pixels.iter().zip(&theirs).map(|(a, b)| (a - b).abs()).fold(0.0f32, f32::max);
            assert_eq!(ours.pixels.len(), theirs.len());
            assert!(diff == 0.0, "{ow}×{oh}: {diff}");
        }
    }

    /// A placed image shows each original pixel where `to_output` says, and `to_input`
    /// undoes it.
    #[test]
    fn placement_moves_points_with_the_pixels() {
        let (w, h) = (300u32, 200u32);
        let mut px = vec![0f32; (w * h) as usize];
        for y in 118..=122 {
            for x in 208..=212 {
                px[(y * w + x) as usize] = 1.0;
            }
        }
        let img = GreyImage::new(w, h, px).unwrap();
        let placement = Placement { frame: Frame::new([w, h], [450, 300]), offset: [100, -40], size: [320, 400] };
        let out = placement.apply(&img, 0.25);
        assert_eq!((out.width, out.height), (320, 400));
        assert_eq!(out.at(0, 0), 0.25, "above the resized image: the fill");
        let (mut sx, mut sy, mut s) = (0.0, 0.0, 0.0);
        for y in 0..out.height {
            for x in 0..out.width {
                let v = f64::from(out.at(x, y)) - 0.25 * f64::from(u8::from(!(40..340).contains(&y)));
                sx += v * f64::from(x);
                sy += v * f64::from(y);
                s += v;
            }
        }
        let expect = placement.to_output(Point::new(210.0, 120.0));
        assert!((sx / s - expect.x).abs() < 0.05 && (sy / s - expect.y).abs() < 0.05, "centroid ({}, {}) vs {expect:?}", sx / s, sy / s);
        let back = placement.to_input(expect);
        assert!(back.distance(Point::new(210.0, 120.0)) < 1e-9);
    }

    /// The mapping must say where the resampler actually puts things: a bright square centred
    /// on an original position must come out centred on `to_model` of that position.
    #[test]
    fn mapping_agrees_with_the_resampler() {
        let (w, h) = (500u32, 300u32);
        let centre = Point::new(317.0, 101.0);
        let mut px = vec![0f32; (w * h) as usize];
        for y in 96..=106 {
            for x in 312..=322 {
                px[(y * w + x) as usize] = 1.0;
            }
        }
        let img = GreyImage::new(w, h, px).unwrap();
        let m = preprocess(&img, [96, 128]);
        let (mut sx, mut sy, mut s) = (0.0, 0.0, 0.0);
        for y in 0..m.image.height {
            for x in 0..m.image.width {
                let v = f64::from(m.image.at(x, y));
                sx += v * f64::from(x);
                sy += v * f64::from(y);
                s += v;
            }
        }
        let expect = m.frame.to_model(centre);
        assert!((sx / s - expect.x).abs() < 0.02 && (sy / s - expect.y).abs() < 0.02, "centroid ({}, {}) vs {expect:?}", sx / s, sy / s);
    }
}

//! Which way round a radiograph is. Devices write lateral cephalograms facing left as well
//! as right, some store them inverted (MONOCHROME1 written as grey values, white air), and a
//! scan may come turned by a quarter. A detector trained on upright, right-facing images
//! traces those as garbage with every confidence near 0; so when an image's mean confidence
//! is low, the other 15 ways round (4 turns × mirrored or not × inverted or not) are tried,
//! and the one the detector is surest of wins, its points mapped back into the image's own
//! pixels. When none is convincing, the image is reported as not recognised (not a lateral
//! cephalogram, or not the anatomy the model knows) rather than traced.

use serde::Serialize;

use crate::io::image::GreyImage;
use crate::io::landmarks::Point;

/// One way round: the image is inverted, then mirrored left–right, then turned by
/// `quarter_turns` × 90° clockwise to make it upright.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize)]
pub struct Orientation {
    pub quarter_turns: u8,
    pub mirrored: bool,
    pub inverted: bool,
}

impl Orientation {
    pub const UPRIGHT: Self = Self { quarter_turns: 0, mirrored: false, inverted: false };

    /// Every way round, upright first.
    pub fn all() -> Vec<Self> {
        let mut all = Vec::with_capacity(16);
        for inverted in [false, true] {
            for mirrored in [false, true] {
                for quarter_turns in 0..4 {
                    all.push(Self { quarter_turns, mirrored, inverted });
                }
            }
        }
        all.sort_by_key(|o| (*o != Self::UPRIGHT, o.inverted, o.quarter_turns, o.mirrored));
        all
    }

    /// How the image was found, in words ("mirrored, inverted"; "upright").
    pub fn describe(&self) -> String {
        let mut parts = Vec::new();
        if self.mirrored {
            parts.push("mirrored (facing left)".to_string());
        }
        // `quarter_turns` clockwise turns make it upright: it was written turned the other way.
        match self.quarter_turns {
            1 => parts.push("turned 90° counter-clockwise".to_string()),
            2 => parts.push("turned 180°".to_string()),
            3 => parts.push("turned 90° clockwise".to_string()),
            _ => {}
        }
        if self.inverted {
            parts.push("inverted (white air)".to_string());
        }
        if parts.is_empty() { "upright".into() } else { parts.join(", ") }
    }

    /// The image made upright by this orientation's steps (exact: pixels are moved, not resampled).
    pub fn apply(&self, img: &GreyImage) -> GreyImage {
        let (w, h) = (img.width as usize, img.height as usize);
        let mut out = img.clone();
        if self.inverted {
            for v in &mut out.pixels {
                *v = 1.0 - *v;
            }
        }
        if self.mirrored {
            for row in out.pixels.chunks_mut(w) {
                row.reverse();
            }
        }
        for _ in 0..self.quarter_turns {
            out = turn_clockwise(&out);
        }
        debug_assert_eq!(out.pixels.len(), w * h);
        out
    }

    /// A point found in the upright image ([`Self::apply`]) in the original image's pixels
    /// (`size`: the original's width and height).
    pub fn point_back(&self, p: Point, size: [u32; 2]) -> Point {
        let [w, h] = size.map(f64::from);
        // Undo the turns (each clockwise turn of an image `a`×`b` took (x, y) to (b − 1 − y, x)).
        let mut q = p;
        for k in (0..self.quarter_turns).rev() {
            // Before turn k the image had the original's sides, swapped k times.
            let height_before = if k % 2 == 0 { h } else { w };
            q = Point::new(q.y, height_before - 1.0 - q.x);
        }
        if self.mirrored {
            q = Point::new(w - 1.0 - q.x, q.y);
        }
        q
    }
}

fn turn_clockwise(img: &GreyImage) -> GreyImage {
    let (w, h) = (img.width as usize, img.height as usize);
    let mut pixels = vec![0.0; w * h];
    // Output is h wide and w tall: output (x', y') = (h − 1 − y, x) shows input (x, y).
    for y in 0..h {
        for x in 0..w {
            pixels[x * h + (h - 1 - y)] = img.pixels[y * w + x];
        }
    }
    GreyImage { width: img.height, height: img.width, pixels }
}

/// When to look further than upright, and when to give up. Mean calibrated confidences of
/// the shipped detector (its 150 ISBI training images upright: lowest 0.689, median 0.907;
/// 20 of them mirrored, inverted, turned 90° or 180°: at most 0.215; 10 hand radiographs: at
/// most 0.075), chosen on those training images.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct OrientationCheck {
    /// Below this mean confidence upright, the other ways round are tried.
    pub try_others_below: f64,
    /// Below this mean confidence every way round, the image is not recognised.
    pub recognised_from: f64,
    /// Images with a longer side are only judged upright: each way round is a copy of the
    /// image, and radiographs are smaller (a 16384² image would take 1 GiB a copy in a tab).
    pub max_side: u32,
}

impl OrientationCheck {
    /// Never looks further than upright (a detector without a calibrated confidence, whose
    /// scores these thresholds do not fit).
    pub const OFF: Self = Self { try_others_below: 0.0, recognised_from: 0.0, max_side: 0 };

    /// The default check for a detector with a calibrated confidence, else [`Self::OFF`].
    pub fn for_detector(calibrated: bool) -> Self {
        if calibrated { Self::default() } else { Self::OFF }
    }
}

impl Default for OrientationCheck {
    fn default() -> Self {
        Self { try_others_below: 0.5, recognised_from: 0.35, max_side: 8192 }
    }
}

/// Where a detector found the landmarks, which way round the image was, and whether it
/// recognised the image at all.
#[derive(Clone, Debug, PartialEq)]
pub struct Oriented {
    pub found: Vec<(Point, f64)>,
    pub orientation: Orientation,
    pub recognised: bool,
}

/// The mean of the points' confidences.
pub fn mean_confidence(found: &[(Point, f64)]) -> f64 {
    found.iter().map(|f| f.1).sum::<f64>() / found.len().max(1) as f64
}

impl OrientationCheck {
    /// Whether the upright answer is convincing enough to stop there.
    pub fn upright_suffices(&self, upright: &[(Point, f64)]) -> bool {
        mean_confidence(upright) >= self.try_others_below
    }

    /// The surest of the answers (each in the original image's pixels, with its orientation).
    pub fn choose(&self, answers: Vec<(Orientation, Vec<(Point, f64)>)>) -> Oriented {
        let (orientation, found) = answers.into_iter().max_by(|a, b| mean_confidence(&a.1).total_cmp(&mean_confidence(&b.1))).expect("at least the upright answer");
        Oriented { recognised: mean_confidence(&found) >= self.recognised_from, found, orientation }
    }
}

/// The search for the way round: the upright answer first; while [`Self::next`] names an
/// orientation, locate in `o.apply(image)` and [`Self::add`] the answer; [`Self::finish`]
/// gives the surest. Natively the locating is synchronous ([`locate_any_way_round`]), in a
/// browser asynchronous; the decisions are these, once.
pub struct Search {
    check: OrientationCheck,
    size: [u32; 2],
    answers: Vec<(Orientation, Vec<(Point, f64)>)>,
    remaining: Vec<Orientation>,
}

impl Search {
    /// Starts from the answer on the image as it is (`size`: its width and height).
    pub fn new(check: OrientationCheck, size: [u32; 2], upright: Vec<(Point, f64)>) -> Self {
        let search = !check.upright_suffices(&upright) && size[0].max(size[1]) <= check.max_side;
        let remaining = if search { Orientation::all().into_iter().skip(1).rev().collect() } else { Vec::new() };
        Self { check, size, answers: vec![(Orientation::UPRIGHT, upright)], remaining }
    }

    /// The next orientation to try, if any.
    pub fn next(&self) -> Option<Orientation> {
        self.remaining.last().copied()
    }

    /// The answer found in `o.apply(image)`, in that image's pixels.
    pub fn add(&mut self, o: Orientation, found: Vec<(Point, f64)>) {
        self.remaining.retain(|r| *r != o);
        let size = self.size;
        self.answers.push((o, found.into_iter().map(|(p, s)| (o.point_back(p, size), s)).collect()));
    }

    pub fn finish(self) -> Oriented {
        self.check.choose(self.answers)
    }
}

/// [`Search`] with a synchronous `locate`: upright and, when that is not convincing, every
/// other way round; the points in the original image's pixels.
pub fn locate_any_way_round<E>(image: &GreyImage, check: &OrientationCheck, mut locate: impl FnMut(&GreyImage) -> Result<Vec<(Point, f64)>, E>) -> Result<Oriented, E> {
    let mut search = Search::new(*check, [image.width, image.height], locate(image)?);
    while let Some(o) = search.next() {
        search.add(o, locate(&o.apply(image))?);
    }
    Ok(search.finish())
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A 5×3 image whose pixels are all different, with a point on one pixel.
    fn numbered() -> GreyImage {
        GreyImage::new(5, 3, (0..15).map(|i| i as f32 / 15.0).collect()).unwrap()
    }

    #[test]
    fn every_orientation_maps_pixels_and_points_alike() {
        let img = numbered();
        assert_eq!(Orientation::all().len(), 16);
        assert_eq!(Orientation::all()[0], Orientation::UPRIGHT);
        for o in Orientation::all() {
            let out = o.apply(&img);
            assert_eq!(out.pixels.len(), 15);
            for y in 0..out.height {
                for x in 0..out.width {
                    // The pixel the upright image shows at (x, y) is the original's at point_back.
                    let p = o.point_back(Point::new(f64::from(x), f64::from(y)), [5, 3]);
                    let v = img.at(p.x as u32, p.y as u32);
                    let want = if o.inverted { 1.0 - v } else { v };
                    assert_eq!(out.at(x, y), want, "{o:?} at ({x}, {y}) ← {p:?}");
                }
            }
        }
    }

    #[test]
    fn the_surest_orientation_wins_and_a_weak_best_is_not_recognised() {
        let check = OrientationCheck::default();
        let p = Point::new(1.0, 1.0);
        let mirrored = Orientation { mirrored: true, ..Orientation::UPRIGHT };
        let chosen = check.choose(vec![(Orientation::UPRIGHT, vec![(p, 0.1), (p, 0.0)]), (mirrored, vec![(p, 0.9), (p, 0.8)])]);
        assert_eq!((chosen.orientation, chosen.recognised), (mirrored, true));
        let weak = check.choose(vec![(Orientation::UPRIGHT, vec![(p, 0.1)]), (mirrored, vec![(p, 0.2)])]);
        assert!(!weak.recognised);
        // An upright image that convinces is located once.
        let mut calls = 0;
        let found = locate_any_way_round(&numbered(), &check, |_| {
            calls += 1;
            Ok::<_, ()>(vec![(p, 0.9)])
        })
        .unwrap();
        assert_eq!((calls, found.orientation), (1, Orientation::UPRIGHT));
    }

    /// A synthetic detector that is sure only of images whose brightest pixel is at the
    /// top-left: every way round of such an image is found, and the point comes back to
    /// where it is in the given image.
    #[test]
    fn a_mirrored_inverted_turned_image_is_found_and_its_points_come_back() {
        let (w, h) = (7u32, 4u32);
        let mut px = vec![0.2f32; (w * h) as usize];
        px[0] = 1.0; // the landmark: the top-left pixel, brightest, of the upright image
        let upright = GreyImage::new(w, h, px).unwrap();
        let detector = |img: &GreyImage| -> Result<Vec<(Point, f64)>, ()> {
            let i = img.pixels.iter().enumerate().max_by(|a, b| a.1.total_cmp(b.1)).unwrap().0 as u32;
            let sure = if i == 0 && img.width == w && img.pixels.iter().filter(|&&v| v > 0.5).count() == 1 { 0.9 } else { 0.05 };
            Ok(vec![(Point::new(f64::from(i % img.width), f64::from(i / img.width)), sure)])
        };
        for o in Orientation::all() {
            // The image as a device wrote it: the inverse of `o`'s steps, found by search.
            // (Inverting twice may round a value by an ulp: compare to 1e-6.)
            let same = |a: &GreyImage| a.width == upright.width && a.pixels.iter().zip(&upright.pixels).all(|(x, y)| (x - y).abs() < 1e-6);
            let written = Orientation::all().into_iter().map(|d| d.apply(&upright)).find(|d| same(&o.apply(d))).expect("every orientation has an inverse");
            let found = locate_any_way_round(&written, &OrientationCheck::default(), detector).unwrap();
            assert!(found.recognised, "{o:?}");
            assert_eq!(found.orientation, o);
            let (x, y) = (found.found[0].0.x as u32, found.found[0].0.y as u32);
            let v = written.at(x, y);
            assert!(v == 1.0 || v == 0.0, "{o:?}: the point is the landmark's pixel in the written image ({x}, {y}) = {v}");
        }
    }
}

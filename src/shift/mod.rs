//! What another clinic's cephalostat does to a radiograph, with the landmarks moved exactly:
//! a different field of view and pixel spacing, collimation bands and blank borders, the
//! overlays a device adds (a nasal positioner carrying a ruler, ear-rod rings, burned-in
//! text), another exposure and processing (gamma, contrast, noise, blur, JPEG), and a
//! soft-tissue filter's brightened profile. One [`Shift`] is drawn from a seeded generator
//! and applied to one image; the shift benchmark (`cc2d shift-bench`) writes sets of them,
//! and detector training draws from the same code ([`crate::tpl::augment`]).

mod geometry;
mod intensity;
mod overlay;

use rand::RngExt;
use rand::rngs::StdRng;

use crate::io::image::GreyImage;
use crate::io::landmarks::Point;

pub use geometry::Reframe;
pub use intensity::{Intensity, SoftTissueFilter};
pub use overlay::{Collimation, Overlays};

/// The kinds of shift the benchmark reports one row each for; `Mix` draws from all of them.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[cfg_attr(feature = "cli", derive(clap::ValueEnum))]
pub enum ShiftKind {
    /// The image as it is (re-encoded losslessly): the reference row.
    Clean,
    /// The anatomy fills 0.75–1.35× of the frame, off-centre.
    FieldOfView,
    /// Resampled to 0.08–0.15 mm per pixel.
    Spacing,
    /// A bright collimated band at the top (and at the back), blank borders.
    Collimation,
    /// A nasal positioner with a ruler, ear-rod rings and their holder, burned-in text.
    Overlays,
    /// Gamma, contrast, brightness, blur, noise and JPEG quality.
    Intensity,
    /// A soft-tissue filter's brightened profile.
    SoftTissue,
    /// All of the above, each part present with probability 0.7.
    Mix,
}

impl ShiftKind {
    pub const ALL: [ShiftKind; 8] = [Self::Clean, Self::FieldOfView, Self::Spacing, Self::Collimation, Self::Overlays, Self::Intensity, Self::SoftTissue, Self::Mix];

    pub fn name(self) -> &'static str {
        match self {
            Self::Clean => "clean",
            Self::FieldOfView => "field-of-view",
            Self::Spacing => "spacing",
            Self::Collimation => "collimation",
            Self::Overlays => "overlays",
            Self::Intensity => "intensity",
            Self::SoftTissue => "soft-tissue",
            Self::Mix => "mix",
        }
    }
}

/// Where on a cephalogram the overlays belong, from the landmarks (by their ISBI names):
/// the ear rods at porion, the positioner and the soft-tissue filter in front of the
/// profile. For other landmark sets the overlays go to random places.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Anchors {
    pub porion: Point,
    pub nasion: Point,
    /// The most anterior soft-tissue point (lips, subnasale, soft-tissue pogonion): the
    /// profile's x, facing right.
    pub profile: Point,
}

impl Anchors {
    /// From landmarks named as ISBI 2015 names them; None when a name is missing.
    pub fn from_named(names: &[String], points: &[Point]) -> Option<Self> {
        let at = |name: &str| names.iter().position(|n| n == name).and_then(|i| points.get(i).copied());
        let profile = ["upper lip", "lower lip", "subnasale", "soft tissue pogonion"].iter().filter_map(|n| at(n)).max_by(|a, b| a.x.total_cmp(&b.x))?;
        Some(Self { porion: at("porion")?, nasion: at("nasion")?, profile })
    }

    fn moved(self, f: impl Fn(Point) -> Point) -> Self {
        Self { porion: f(self.porion), nasion: f(self.nasion), profile: f(self.profile) }
    }
}

/// One drawn shift: each part, when present, applied in this order (geometry, collimation,
/// overlays, soft-tissue filter, intensity) as a device and its software would.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Shift {
    pub reframe: Option<Reframe>,
    pub collimation: Option<Collimation>,
    pub overlays: Option<Overlays>,
    pub soft_tissue: Option<SoftTissueFilter>,
    pub intensity: Option<Intensity>,
}

/// A shifted image: its pixels, the landmarks where they moved, and its spacing.
#[derive(Clone, Debug, PartialEq)]
pub struct Shifted {
    pub image: GreyImage,
    pub landmarks: Vec<Point>,
    pub spacing_mm: f64,
}

impl Shift {
    /// Draws a shift of `kind`.
    pub fn draw(kind: ShiftKind, rng: &mut StdRng) -> Self {
        let mut shift = Self::default();
        let all = kind == ShiftKind::Mix;
        let part = |k: ShiftKind, rng: &mut StdRng| kind == k || (all && rng.random_bool(0.7));
        if part(ShiftKind::FieldOfView, rng) || kind == ShiftKind::Spacing {
            shift.reframe = Some(Reframe::draw(rng, kind != ShiftKind::Spacing, kind != ShiftKind::FieldOfView));
        } else if all && rng.random_bool(0.5) {
            shift.reframe = Some(Reframe::draw(rng, false, true));
        }
        if part(ShiftKind::Collimation, rng) {
            shift.collimation = Some(Collimation::draw(rng));
            // Blank borders: a field of view a little wider than the image.
            shift.reframe.get_or_insert_with(|| Reframe::borders(rng));
        }
        if part(ShiftKind::Overlays, rng) {
            shift.overlays = Some(Overlays::draw(rng));
        }
        if part(ShiftKind::SoftTissue, rng) {
            shift.soft_tissue = Some(SoftTissueFilter::draw(rng));
        }
        if part(ShiftKind::Intensity, rng) {
            shift.intensity = Some(Intensity::draw(rng));
        }
        shift
    }

    /// Applies the shift to `img` (of `spacing_mm` per pixel) and its `landmarks` (original
    /// pixels); `anchors` place the overlays (random places without them). Every landmark
    /// stays inside the shifted image.
    pub fn apply(&self, img: &GreyImage, spacing_mm: f64, landmarks: &[Point], anchors: Option<Anchors>, rng: &mut StdRng) -> Shifted {
        let (mut image, moved, spacing_mm, anchors) = match &self.reframe {
            Some(r) => {
                let placement = r.placement(img.width, img.height, spacing_mm, landmarks);
                let image = placement.apply(img, r.fill);
                let spacing = spacing_mm * f64::from(img.width) / f64::from(placement.frame.model[0]);
                (image, landmarks.iter().map(|&p| placement.to_output(p)).collect(), spacing, anchors.map(|a| a.moved(|p| placement.to_output(p))))
            }
            None => (img.clone(), landmarks.to_vec(), spacing_mm, anchors),
        };
        if let Some(c) = &self.collimation {
            c.apply(&mut image);
        }
        if let Some(o) = &self.overlays {
            o.apply(&mut image, spacing_mm, anchors);
        }
        if let Some(f) = &self.soft_tissue {
            f.apply(&mut image, spacing_mm, anchors);
        }
        if let Some(i) = &self.intensity {
            i.apply(&mut image, rng);
        }
        Shifted { image, landmarks: moved, spacing_mm }
    }
}

/// Brightens toward white as an attenuating object in the beam does: `v + a·(1 − v)`.
#[inline]
fn brighten(v: &mut f32, a: f32) {
    *v += a.clamp(0.0, 1.0) * (1.0 - *v);
}

/// A standard normal draw (Box–Muller).
fn normal(rng: &mut StdRng) -> f64 {
    let u: f64 = rng.random_range(f64::EPSILON..1.0);
    let v: f64 = rng.random_range(0.0..1.0);
    (-2.0 * u.ln()).sqrt() * (std::f64::consts::TAU * v).cos()
}

/// Log-uniform in [lo, hi]: as likely to halve as to double.
fn log_uniform(rng: &mut StdRng, lo: f64, hi: f64) -> f64 {
    rng.random_range(lo.ln()..=hi.ln()).exp()
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::SeedableRng;

    /// A synthetic "radiograph": dark, with bright 5×5 squares at the landmarks.
    fn marked(w: u32, h: u32, points: &[Point]) -> GreyImage {
        let mut px = vec![0.1f32; (w * h) as usize];
        for p in points {
            for y in (p.y as i64 - 2)..=(p.y as i64 + 2) {
                for x in (p.x as i64 - 2)..=(p.x as i64 + 2) {
                    px[(y * i64::from(w) + x) as usize] = 1.0;
                }
            }
        }
        GreyImage::new(w, h, px).unwrap()
    }

    fn centroid_near(img: &GreyImage, p: Point, radius: f64) -> Point {
        let (mut sx, mut sy, mut s) = (0.0, 0.0, 0.0);
        for y in (p.y - radius).max(0.0) as u32..((p.y + radius) as u32).min(img.height) {
            for x in (p.x - radius).max(0.0) as u32..((p.x + radius) as u32).min(img.width) {
                let v = (f64::from(img.at(x, y)) - 0.5).max(0.0);
                sx += v * f64::from(x);
                sy += v * f64::from(y);
                s += v;
            }
        }
        Point::new(sx / s, sy / s)
    }

    /// Field of view and spacing move the landmarks exactly with the pixels, keep them
    /// inside, and report the new spacing; the same seed gives the same shift.
    #[test]
    fn geometric_shifts_move_the_landmarks_with_the_pixels() {
        let points = [Point::new(100.0, 120.0), Point::new(300.0, 200.0), Point::new(180.0, 330.0)];
        let img = marked(400, 480, &points);
        for kind in [ShiftKind::FieldOfView, ShiftKind::Spacing, ShiftKind::Collimation] {
            for seed in 0..6 {
                let draw = || Shift::draw(kind, &mut StdRng::seed_from_u64(seed));
                let shift = draw();
                assert_eq!(shift, draw(), "{kind:?}: deterministic");
                let out = shift.apply(&img, 0.1, &points, None, &mut StdRng::seed_from_u64(seed));
                let r = shift.reframe.expect("a geometric shift reframes");
                let ratio = f64::from(out.image.width) * out.spacing_mm / (400.0 * 0.1);
                assert!((ratio * r.fill_factor - 1.0).abs() < 0.02, "{kind:?}: the frame holds 1/{} of the field: {ratio}", r.fill_factor);
                for (p, q) in points.iter().zip(&out.landmarks) {
                    assert!(q.x >= 0.0 && q.y >= 0.0 && q.x < f64::from(out.image.width) && q.y < f64::from(out.image.height), "{kind:?} seed {seed}: {q:?} outside");
                    if kind != ShiftKind::Collimation {
                        let found = centroid_near(&out.image, *q, 6.0);
                        let tolerance = 0.1 + 0.1 / out.spacing_mm;
                        assert!(found.distance(*q) < tolerance, "{kind:?} seed {seed}: {p:?} moved to {q:?}, its square is at {found:?}");
                    }
                }
            }
        }
    }

    #[test]
    fn every_kind_changes_the_pixels_and_keeps_them_in_range() {
        let points = [Point::new(100.0, 120.0), Point::new(300.0, 200.0), Point::new(180.0, 330.0)];
        let names: Vec<String> = ["porion", "nasion", "upper lip"].map(String::from).to_vec();
        let anchors = Anchors::from_named(&names, &points);
        assert!(anchors.is_some());
        let img = marked(400, 480, &points);
        for kind in ShiftKind::ALL {
            let shift = Shift::draw(kind, &mut StdRng::seed_from_u64(3));
            let out = shift.apply(&img, 0.1, &points, anchors, &mut StdRng::seed_from_u64(3));
            assert!(out.image.pixels.iter().all(|v| (0.0..=1.0).contains(v)), "{kind:?}: values in [0, 1]");
            assert_eq!(out.image.pixels == img.pixels, kind == ShiftKind::Clean, "{kind:?}");
        }
    }
}

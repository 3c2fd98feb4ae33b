//! Shared by the native and the browser test suites.
#![allow(dead_code)] // each suite uses its own part of this module

pub mod dicom;
pub mod probe;

use cc2d::io::landmarks::{Landmark, Point, Template, parse_isbi_txt};

/// The template image and the query image of the native/wasm equality test.
pub const TEMPLATE_ID: &str = "125";
pub const QUERY_ID: &str = "151";
/// Recorded native NCC detections of the query, written by `CC2D_BLESS=1 cargo test --release
/// --test real_data`; the browser suite must reproduce them.
pub const NCC_FIXTURE: &str = include_str!("../fixtures/ncc_125_on_151.json");

/// Builds the ISBI template from the two annotation files (mean of senior and junior).
pub fn isbi_template(senior: &str, junior: &str, width: u32, height: u32) -> Template {
    let s = parse_isbi_txt(senior, 19, "senior").unwrap();
    let j = parse_isbi_txt(junior, 19, "junior").unwrap();
    let landmarks =
        s.iter().zip(&j).zip(cc2d::io::dataset::ISBI_LANDMARKS).map(|((a, b), name)| Landmark { name: name.into(), x: (a.x + b.x) / 2.0, y: (a.y + b.y) / 2.0 }).collect();
    Template::new(format!("{TEMPLATE_ID}.jpg"), width, height, Some(0.1), landmarks).unwrap()
}

/// Largest distance between corresponding points.
pub fn max_distance(a: &[Point], b: &[Point]) -> f64 {
    assert_eq!(a.len(), b.len());
    a.iter().zip(b).map(|(p, q)| p.distance(*q)).fold(0.0, f64::max)
}

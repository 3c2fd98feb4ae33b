//! The challenge's metrics: radial error in mm, MRE ± SD and the success detection rate
//! (SDR) at 2, 2.5, 3 and 4 mm, overall and per landmark. Computed exactly as
//! `shared/tools/score.py` does (population SD, `error <= radius` counts as a success).

use crate::error::{Error, Result};
use crate::io::dataset::Dataset;
use crate::io::landmarks::{Point, Predictions};

pub const SDR_RADII_MM: [f64; 4] = [2.0, 2.5, 3.0, 4.0];

/// Summary statistics of a set of radial errors (mm).
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Summary {
    pub n: usize,
    pub mre: f64,
    pub sd: f64,
    /// Percentages at [`SDR_RADII_MM`].
    pub sdr: [f64; 4],
}

pub fn summarize(errors: &[f64]) -> Summary {
    let n = errors.len();
    let mre = errors.iter().sum::<f64>() / n as f64;
    let sd = (errors.iter().map(|e| (e - mre).powi(2)).sum::<f64>() / n as f64).sqrt();
    let sdr = SDR_RADII_MM.map(|r| 100.0 * errors.iter().filter(|&&e| e <= r).count() as f64 / n as f64);
    Summary { n, mre, sd, sdr }
}

/// The systematic part of one landmark's error: the mean signed error vector (mm; + = right
/// / down), its length, and the scatter of the errors around it (root mean square distance
/// from the mean). A detector trained on pseudo-labels learns whatever offset they share, so
/// this is what the accuracy work has to drive down.
#[derive(Clone, Copy, Debug, PartialEq, serde::Serialize)]
pub struct Bias {
    pub dx: f64,
    pub dy: f64,
    pub norm: f64,
    pub scatter: f64,
}

/// Mean signed error and scatter of error vectors (mm).
pub fn bias_of(errors: &[(f64, f64)]) -> Bias {
    let n = errors.len().max(1) as f64;
    let dx = errors.iter().map(|e| e.0).sum::<f64>() / n;
    let dy = errors.iter().map(|e| e.1).sum::<f64>() / n;
    let scatter = (errors.iter().map(|e| (e.0 - dx).powi(2) + (e.1 - dy).powi(2)).sum::<f64>() / n).sqrt();
    Bias { dx, dy, norm: dx.hypot(dy), scatter }
}

/// Errors of one set of images, overall and per landmark.
#[derive(Clone, Debug, PartialEq)]
pub struct Evaluation {
    pub images: usize,
    pub overall: Summary,
    pub per_landmark: Vec<Summary>,
    /// Per landmark, the systematic offset.
    pub bias: Vec<Bias>,
}

impl Evaluation {
    /// The mean over landmarks of |bias| (mm).
    pub fn mean_abs_bias(&self) -> f64 {
        self.bias.iter().map(|b| b.norm).sum::<f64>() / self.bias.len().max(1) as f64
    }
}

/// Scores predictions against ground truth: `(id, predicted, truth, mm per pixel)` per image.
pub fn evaluate<'a>(items: impl IntoIterator<Item = (&'a str, &'a [Point], &'a [Point], f64)>) -> Result<Evaluation> {
    let mut all = Vec::new();
    let mut per: Vec<Vec<f64>> = Vec::new();
    let mut signed: Vec<Vec<(f64, f64)>> = Vec::new();
    let mut images = 0;
    for (id, pred, truth, spacing) in items {
        if pred.len() != truth.len() {
            return Err(Error::LandmarkCount { source_name: format!("prediction for image {id}"), count: pred.len(), expected: truth.len() });
        }
        per.resize_with(truth.len(), Vec::new);
        signed.resize_with(truth.len(), Vec::new);
        for (k, (p, t)) in pred.iter().zip(truth).enumerate() {
            let e = p.distance(*t) * spacing;
            if !e.is_finite() {
                return Err(Error::Invalid(format!("prediction for image {id}: landmark {} is not finite", k + 1)));
            }
            all.push(e);
            per[k].push(e);
            signed[k].push(((p.x - t.x) * spacing, (p.y - t.y) * spacing));
        }
        images += 1;
    }
    if images == 0 {
        return Err(Error::Invalid("no images to evaluate".into()));
    }
    Ok(Evaluation { images, overall: summarize(&all), per_landmark: per.iter().map(|e| summarize(e)).collect(), bias: signed.iter().map(|e| bias_of(e)).collect() })
}

/// A split's scores, and the images left out because their pixel spacing is unknown (an
/// error in mm needs it; hand10 has such an image).
#[derive(Clone, Debug, PartialEq)]
pub struct SplitEvaluation {
    pub evaluation: Evaluation,
    pub unknown_spacing: Vec<String>,
}

/// Scores the predictions for one split of a dataset. With `require_all`, every image of the
/// split must have a prediction; otherwise images without one are left out.
pub fn evaluate_split(dataset: &Dataset, split: &str, predictions: &Predictions, spacing_override: Option<f64>, require_all: bool) -> Result<Option<SplitEvaluation>> {
    let samples = dataset.split(split)?;
    let mut items = Vec::new();
    let mut missing = Vec::new();
    let mut unknown_spacing = Vec::new();
    for s in samples {
        let Some(pred) = predictions.get(&s.id) else {
            missing.push(s.id.as_str());
            continue;
        };
        let truth = s.landmarks.as_deref().ok_or_else(|| Error::Dataset { source_name: dataset.name.clone(), reason: format!("image {} has no ground truth", s.id) })?;
        match spacing_override.or(s.spacing_mm) {
            Some(spacing) => items.push((s.id.as_str(), pred, truth, spacing)),
            None => unknown_spacing.push(s.id.clone()),
        }
    }
    if require_all && !missing.is_empty() {
        return Err(Error::Dataset {
            source_name: dataset.name.clone(),
            reason: format!("split {split}: {} images without predictions, e.g. {}", missing.len(), missing[..missing.len().min(5)].join(", ")),
        });
    }
    if items.is_empty() {
        return Ok(None);
    }
    Ok(Some(SplitEvaluation { evaluation: evaluate(items)?, unknown_spacing }))
}

/// How well a confidence finds the bad points: the chance that a point whose error exceeds
/// `radius_mm` has a lower score than a point within it (ties count half), i.e. the area under
/// the ROC curve of "low score" as a detector of bad points. `None` when either kind is absent.
pub fn auroc_low_score(points: &[(f64, f64)], radius_mm: f64) -> Option<f64> {
    let mut sorted: Vec<(f64, bool)> = points.iter().map(|&(error, score)| (score, error > radius_mm)).collect();
    sorted.sort_by(|a, b| a.0.total_cmp(&b.0));
    let bad = sorted.iter().filter(|p| p.1).count();
    let good = sorted.len() - bad;
    if bad == 0 || good == 0 {
        return None;
    }
    // Mann–Whitney: for each bad point, the good points scored above it (ties half).
    let mut pairs = 0.0;
    let mut i = 0;
    let mut good_below = 0usize;
    while i < sorted.len() {
        let j = (i..sorted.len()).find(|&j| sorted[j].0 != sorted[i].0).unwrap_or(sorted.len());
        let (bad_here, good_here) = sorted[i..j].iter().fold((0, 0), |(b, g), p| if p.1 { (b + 1, g) } else { (b, g + 1) });
        pairs += bad_here as f64 * ((good - good_below - good_here) as f64 + 0.5 * good_here as f64);
        good_below += good_here;
        i = j;
    }
    Some(pairs / (bad as f64 * good as f64))
}

/// One band of a reliability table: points whose score lies in `[low, high)`, and the share
/// of them within 2 and 4 mm.
#[derive(Clone, Copy, Debug, PartialEq, serde::Serialize)]
pub struct ReliabilityBand {
    pub low: f64,
    pub high: f64,
    pub points: usize,
    pub within_2mm: f64,
    pub within_4mm: f64,
}

/// The reliability table of `(error mm, score)` points over score bands with the given edges.
pub fn reliability(points: &[(f64, f64)], edges: &[f64]) -> Vec<ReliabilityBand> {
    edges
        .windows(2)
        .map(|w| {
            let last = w[1] >= edges[edges.len() - 1];
            let inside: Vec<f64> = points.iter().filter(|p| p.1 >= w[0] && (p.1 < w[1] || (last && p.1 <= w[1]))).map(|p| p.0).collect();
            let share = |r: f64| if inside.is_empty() { 0.0 } else { 100.0 * inside.iter().filter(|&&e| e <= r).count() as f64 / inside.len() as f64 };
            ReliabilityBand { low: w[0], high: w[1], points: inside.len(), within_2mm: share(2.0), within_4mm: share(4.0) }
        })
        .collect()
}

/// A plain-text table in the layout of `score.py` (its six columns first), then the
/// systematic part: the mean |bias| per split and, per landmark, the signed mean error
/// (dx, dy), its length and the scatter around it, all in mm.
pub fn format_table(rows: &[(String, Evaluation)], landmark_names: Option<&[String]>) -> String {
    let sdr_heads = SDR_RADII_MM.map(|r| format!("{:>8}", format!("SDR{r}"))).join(" ");
    let mut out = format!("{:<7} {:>4} {:>8} {:>6} {sdr_heads} {:>7}\n", "split", "n", "MRE mm", "SD", "|bias|");
    if landmark_names.is_some() {
        out += &format!("{:<7} {:>4} {:>8} {:>6} {} {:>7} {:>6} {:>6} {:>7}\n", "", "", "", "", " ".repeat(sdr_heads.len()), "|bias|", "dx", "dy", "scatter");
    }
    let line = |label: &str, n: String, s: &Summary| format!("{label:<7} {n:>4} {:>8.3} {:>6.2} {}", s.mre, s.sd, s.sdr.map(|v| format!("{v:>8.2}")).join(" "));
    for (split, e) in rows {
        out += &format!("{} {:>7.2}\n", line(split, e.images.to_string(), &e.overall), e.mean_abs_bias());
        if let Some(names) = landmark_names {
            for (k, (s, b)) in e.per_landmark.iter().zip(&e.bias).enumerate() {
                let name = names.get(k).map_or(String::new(), |n| format!(" {n}"));
                out += &format!("{} {:>7.2} {:>+6.2} {:>+6.2} {:>7.2}{name}\n", line(&format!("  L{}", k + 1), String::new(), s), b.norm, b.dx, b.dy, b.scatter);
            }
        }
    }
    out
}

/// The evaluation as JSON (what `cc2d eval --json` writes): per split, the overall figures,
/// the mean |bias|, and per landmark its name, figures and bias.
pub fn to_json(rows: &[(String, Evaluation)], landmark_names: &[String]) -> serde_json::Value {
    let summary = |s: &Summary| serde_json::json!({ "n": s.n, "mre_mm": s.mre, "sd_mm": s.sd, "sdr": SDR_RADII_MM.iter().zip(s.sdr).map(|(r, v)| (format!("{r}"), serde_json::json!(v))).collect::<serde_json::Map<_, _>>() });
    let splits = rows
        .iter()
        .map(|(split, e)| {
            let landmarks: Vec<_> = e
                .per_landmark
                .iter()
                .zip(&e.bias)
                .enumerate()
                .map(|(k, (s, b))| serde_json::json!({ "index": k + 1, "name": landmark_names.get(k), "summary": summary(s), "bias_mm": b }))
                .collect();
            (split.clone(), serde_json::json!({ "images": e.images, "overall": summary(&e.overall), "mean_abs_bias_mm": e.mean_abs_bias(), "landmarks": landmarks }))
        })
        .collect::<serde_json::Map<_, _>>();
    serde_json::Value::Object(splits)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Errors (+1, 0) and (−1, 0) cancel: no bias, 1 mm of scatter; (2, 0) and (4, 0):
    /// a bias of 3 mm to the right with 1 mm of scatter.
    #[test]
    fn bias_separates_offset_from_scatter() {
        let b = bias_of(&[(1.0, 0.0), (-1.0, 0.0)]);
        assert_eq!((b.dx, b.dy, b.norm, b.scatter), (0.0, 0.0, 0.0, 1.0));
        let b = bias_of(&[(2.0, 0.0), (4.0, 0.0)]);
        assert_eq!((b.dx, b.norm, b.scatter), (3.0, 3.0, 1.0));
    }

    #[test]
    fn summary_matches_hand_computation() {
        let s = summarize(&[1.0, 2.0, 3.0, 4.5]);
        assert_eq!(s.n, 4);
        assert!((s.mre - 2.625).abs() < 1e-12);
        let var = (1.625f64.powi(2) + 0.625f64.powi(2) + 0.375f64.powi(2) + 1.875f64.powi(2)) / 4.0;
        assert!((s.sd - var.sqrt()).abs() < 1e-12);
        assert_eq!(s.sdr, [50.0, 50.0, 75.0, 75.0]); // 2.0 counts as within 2 mm
    }

    #[test]
    fn auroc_counts_pairs_and_ties() {
        // Bad points (error > 4) scored 0.1 and 0.5; good ones 0.4, 0.5, 0.9.
        let p = [(5.0, 0.1), (6.0, 0.5), (1.0, 0.4), (2.0, 0.5), (3.0, 0.9)];
        // Pairs (bad, good) with the bad one lower: 0.1 < all three (3); 0.5 < 0.9 (1), tie with 0.5 (½).
        assert!((auroc_low_score(&p, 4.0).unwrap() - 4.5 / 6.0).abs() < 1e-12);
        assert_eq!(auroc_low_score(&[(1.0, 0.3)], 4.0), None);
        let table = reliability(&p, &[0.0, 0.45, 1.0]);
        assert_eq!((table[0].points, table[0].within_4mm), (2, 50.0));
        assert_eq!((table[1].points, table[1].within_2mm, table[1].within_4mm), (3, 100.0 * 1.0 / 3.0, 200.0 / 3.0));
    }

    #[test]
    fn evaluate_scales_by_spacing_and_refuses_count_mismatch() {
        let t = [Point::new(0.0, 0.0), Point::new(10.0, 10.0)];
        let p = [Point::new(30.0, 40.0), Point::new(10.0, 10.0)];
        let e = evaluate([("1", &p[..], &t[..], 0.1)]).unwrap();
        assert!((e.per_landmark[0].mre - 5.0).abs() < 1e-12);
        assert_eq!(e.per_landmark[1].mre, 0.0);
        assert!((e.overall.mre - 2.5).abs() < 1e-12);
        // Signed: landmark 1 is off by (+3, +4) mm, landmark 2 not at all.
        assert_eq!(e.bias[0], Bias { dx: 3.0, dy: 4.0, norm: 5.0, scatter: 0.0 });
        assert_eq!(e.bias[1].norm, 0.0);
        let m = evaluate([("7", &p[..1], &t[..], 0.1)]).unwrap_err().to_string();
        assert!(m.contains("image 7") && m.contains("1 landmarks, expected 2"), "{m}");
    }
}

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

/// Errors of one set of images, overall and per landmark.
#[derive(Clone, Debug, PartialEq)]
pub struct Evaluation {
    pub images: usize,
    pub overall: Summary,
    pub per_landmark: Vec<Summary>,
}

/// Scores predictions against ground truth: `(id, predicted, truth, mm per pixel)` per image.
pub fn evaluate<'a>(items: impl IntoIterator<Item = (&'a str, &'a [Point], &'a [Point], f64)>) -> Result<Evaluation> {
    let mut all = Vec::new();
    let mut per: Vec<Vec<f64>> = Vec::new();
    let mut images = 0;
    for (id, pred, truth, spacing) in items {
        if pred.len() != truth.len() {
            return Err(Error::LandmarkCount { source_name: format!("prediction for image {id}"), count: pred.len(), expected: truth.len() });
        }
        per.resize_with(truth.len(), Vec::new);
        for (k, (p, t)) in pred.iter().zip(truth).enumerate() {
            let e = p.distance(*t) * spacing;
            if !e.is_finite() {
                return Err(Error::Invalid(format!("prediction for image {id}: landmark {} is not finite", k + 1)));
            }
            all.push(e);
            per[k].push(e);
        }
        images += 1;
    }
    if images == 0 {
        return Err(Error::Invalid("no images to evaluate".into()));
    }
    Ok(Evaluation { images, overall: summarize(&all), per_landmark: per.iter().map(|e| summarize(e)).collect() })
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

/// A plain-text table in the layout of `score.py`.
pub fn format_table(rows: &[(String, Evaluation)], landmark_names: Option<&[String]>) -> String {
    let mut out = format!("{:<7} {:>4} {:>8} {:>6} {}\n", "split", "n", "MRE mm", "SD", SDR_RADII_MM.map(|r| format!("{:>8}", format!("SDR{r}"))).join(" "));
    let line = |label: &str, n: String, s: &Summary| {
        format!("{label:<7} {n:>4} {:>8.3} {:>6.2} {}\n", s.mre, s.sd, s.sdr.map(|v| format!("{v:>8.2}")).join(" "))
    };
    for (split, e) in rows {
        out += &line(split, e.images.to_string(), &e.overall);
        if let Some(names) = landmark_names {
            for (k, s) in e.per_landmark.iter().enumerate() {
                let name = names.get(k).map_or(String::new(), |n| format!(" {n}"));
                out += &line(&format!("  L{}", k + 1), String::new(), s).trim_end().to_string();
                out += &format!("{name}\n");
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

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
    fn evaluate_scales_by_spacing_and_refuses_count_mismatch() {
        let t = [Point::new(0.0, 0.0), Point::new(10.0, 10.0)];
        let p = [Point::new(30.0, 40.0), Point::new(10.0, 10.0)];
        let e = evaluate([("1", &p[..], &t[..], 0.1)]).unwrap();
        assert!((e.per_landmark[0].mre - 5.0).abs() < 1e-12);
        assert_eq!(e.per_landmark[1].mre, 0.0);
        assert!((e.overall.mre - 2.5).abs() < 1e-12);
        let m = evaluate([("7", &p[..1], &t[..], 0.1)]).unwrap_err().to_string();
        assert!(m.contains("image 7") && m.contains("1 landmarks, expected 2"), "{m}");
    }
}

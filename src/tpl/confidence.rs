//! A confidence that means something: the probability that a located landmark lies within
//! 4 mm of the truth, from the signals detection already has (the heatmap's peak, how many
//! votes agree and how far they scatter, and with test-time augmentation how far the copies'
//! answers spread). A logistic model fit on labelled training images maps them to that
//! probability; it travels in the detector's weights.

use serde::{Deserialize, Serialize};

use crate::linalg::solve;
use crate::tpl::detect::Evidence;

/// The error, in mm, a confident point is expected to stay within.
pub const GOOD_WITHIN_MM: f64 = 4.0;

/// Logistic weights over [`features`], for detection without and with test-time augmentation.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Calibration {
    pub landmarks: usize,
    pub single: Vec<f64>,
    pub tta: Vec<f64>,
}

/// The features of landmark `landmark` of `landmarks`: the intercept's 1, heatmap peak, vote
/// share, ln(1 + vote spread), with test-time augmentation ln(¼ + spread of the copies), and
/// which landmark it is (one-hot: some landmarks are harder than others, and the detector's
/// signals alone do not know it).
pub fn features(e: &Evidence, landmark: usize, landmarks: usize) -> Vec<f64> {
    let mut f = vec![1.0, e.vote.peak, e.vote.share, e.vote.spread.ln_1p()];
    if let Some(s) = e.tta_spread {
        f.push((0.25 + s).ln());
    }
    f.extend((0..landmarks).map(|k| if k == landmark { 1.0 } else { 0.0 }));
    f
}

fn sigmoid(z: f64) -> f64 {
    1.0 / (1.0 + (-z).exp())
}

impl Calibration {
    /// P(error ≤ 4 mm) for landmark `landmark`.
    pub fn confidence(&self, e: &Evidence, landmark: usize) -> f64 {
        let w = if e.tta_spread.is_some() { &self.tta } else { &self.single };
        let f = features(e, landmark, self.landmarks);
        if w.len() != f.len() || landmark >= self.landmarks {
            return e.vote.peak; // a calibration for other features: fall back to the peak
        }
        sigmoid(w.iter().zip(&f).map(|(a, b)| a * b).sum())
    }

    /// Fits the logistic model (Newton's method, a little ridge for stability) to points
    /// `(evidence, landmark index, within 4 mm)` of `landmarks` landmarks; those with TTA fit
    /// the TTA weights, the others the single.
    pub fn fit(landmarks: usize, single: &[(Evidence, usize, bool)], tta: &[(Evidence, usize, bool)]) -> Self {
        Self { landmarks, single: fit_logistic(landmarks, single), tta: fit_logistic(landmarks, tta) }
    }
}

/// Logistic regression by Newton's method on `(evidence, landmark, label)`; empty input gives
/// no weights.
fn fit_logistic(landmarks: usize, points: &[(Evidence, usize, bool)]) -> Vec<f64> {
    let Some(first) = points.first() else { return Vec::new() };
    let d = features(&first.0, first.1, landmarks).len();
    let x: Vec<Vec<f64>> = points.iter().map(|p| features(&p.0, p.1, landmarks)).collect();
    let y: Vec<f64> = points.iter().map(|p| if p.2 { 1.0 } else { 0.0 }).collect();
    let mut w = vec![0.0; d];
    for _ in 0..50 {
        let mut grad = vec![0.0; d];
        let mut hess = vec![vec![0.0; d]; d];
        for (xi, yi) in x.iter().zip(&y) {
            let p = sigmoid(xi.iter().zip(&w).map(|(a, b)| a * b).sum());
            for a in 0..d {
                grad[a] += (p - yi) * xi[a];
                for b in 0..d {
                    hess[a][b] += p * (1.0 - p) * xi[a] * xi[b];
                }
            }
        }
        for a in 0..d {
            grad[a] += 1e-3 * w[a];
            hess[a][a] += 1e-3;
        }
        let step = solve(hess, grad);
        let mut moved = 0.0f64;
        for (wa, s) in w.iter_mut().zip(step) {
            *wa -= s;
            moved = moved.max(s.abs());
        }
        if moved < 1e-10 {
            break;
        }
    }
    w
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::tpl::voting::VoteEvidence;

    fn evidence(peak: f64, spread: f64) -> Evidence {
        Evidence { vote: VoteEvidence { peak, share: 0.5, spread }, tta_spread: None }
    }

    /// Points whose votes scatter are the bad ones: the fitted confidence must rank them
    /// lower, and come out near the observed shares.
    #[test]
    fn a_fitted_confidence_ranks_scattered_votes_lower() {
        let mut points = Vec::new();
        for i in 0..200 {
            let spread = (i % 20) as f64; // 0..19 model pixels
            // Good when the spread is small, with some noise in the labels.
            let good = spread < 8.0 || i % 7 == 0;
            // Landmark 1 is always good: its own term must learn that.
            points.push((evidence(0.9, spread), 0, good));
            points.push((evidence(0.9, spread), 1, true));
        }
        let c = Calibration::fit(2, &points, &[]);
        let tight = c.confidence(&evidence(0.9, 1.0), 0);
        let loose = c.confidence(&evidence(0.9, 15.0), 0);
        assert!(tight > 0.8 && loose < 0.3, "tight {tight}, loose {loose}");
        assert!(c.confidence(&evidence(0.9, 15.0), 1) > 0.9, "the always-good landmark");
        // Without TTA weights, a TTA point falls back to its peak.
        let with_tta = Evidence { tta_spread: Some(1.0), ..evidence(0.7, 1.0) };
        assert_eq!(c.confidence(&with_tta, 0), 0.7);
    }
}

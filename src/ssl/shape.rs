//! Label-free repair of pseudo-labels with a point-distribution model (PCA of the
//! pseudo-labelled shapes): a landmark that the other landmarks of its image, through the
//! model, place far from where matching put it (further than `outlier_factor` times that
//! landmark's median such distance) is an outlier, and is moved to where the model puts it.
//! No label is read: the model is built from the pseudo-labels themselves.

use crate::io::landmarks::Point;
use crate::linalg::{covariance, eigen, solve};

/// How the shape model is built and when a point counts as an outlier.
#[derive(Clone, Debug, PartialEq)]
pub struct ShapeModelConfig {
    /// Principal components kept.
    pub components: usize,
    /// A point is an outlier when its distance from the model's reconstruction exceeds this
    /// many times that landmark's median distance over all images.
    pub outlier_factor: f64,
    /// Rounds of fit → repair → refit.
    pub rounds: usize,
}

impl Default for ShapeModelConfig {
    fn default() -> Self {
        Self { components: 8, outlier_factor: 3.0, rounds: 3 }
    }
}

/// Repairs a set of shapes (each `K` points, in one frame, e.g. model pixels); returns the
/// repaired shapes and, per shape, which landmarks were moved.
pub fn repair(shapes: &[Vec<Point>], config: &ShapeModelConfig) -> (Vec<Vec<Point>>, Vec<Vec<bool>>) {
    let n = shapes.len();
    let Some(k) = shapes.first().map(Vec::len) else { return (Vec::new(), Vec::new()) };
    let d = 2 * k;
    let flat = |s: &[Point]| -> Vec<f64> { s.iter().flat_map(|p| [p.x, p.y]).collect() };
    let original: Vec<Vec<f64>> = shapes.iter().map(|s| flat(s)).collect();
    let mut outlier = vec![vec![false; k]; n];
    let mut current = original.clone();
    if n < 3 {
        return (shapes.to_vec(), outlier);
    }
    for _ in 0..config.rounds {
        // Model from the current (repaired) shapes.
        let (mean, cov) = covariance(&current);
        let model = ShapeModel::new(cov, config.components.min(d));
        // Each landmark predicted from the other inlier landmarks of its shape: its own
        // displacement cannot pull the fit toward itself.
        let recon: Vec<Vec<f64>> = original
            .iter()
            .zip(&outlier)
            .map(|(s, out)| {
                (0..k)
                    .flat_map(|l| {
                        let mut without = out.clone();
                        without[l] = true;
                        let r = model.reconstruct(s, &without, &mean);
                        [r[2 * l], r[2 * l + 1]]
                    })
                    .collect()
            })
            .collect();
        let dist: Vec<Vec<f64>> = original.iter().zip(&recon).map(|(s, r)| (0..k).map(|l| (s[2 * l] - r[2 * l]).hypot(s[2 * l + 1] - r[2 * l + 1])).collect()).collect();
        for l in 0..k {
            let mut col: Vec<f64> = dist.iter().map(|v| v[l]).collect();
            col.sort_by(f64::total_cmp);
            let median = col[n / 2].max(1e-9);
            for i in 0..n {
                outlier[i][l] = dist[i][l] > config.outlier_factor * median;
            }
        }
        current = original.iter().zip(&recon).zip(&outlier).map(|((s, r), out)| (0..d).map(|j| if out[j / 2] { r[j] } else { s[j] }).collect()).collect();
    }
    let repaired = current.iter().map(|s| s.chunks(2).map(|c| Point::new(c[0], c[1])).collect()).collect();
    (repaired, outlier)
}

/// The leading modes of the shapes' covariance, with their variances, and the variance
/// left outside them (per coordinate): a probabilistic PCA.
struct ShapeModel {
    modes: Vec<Vec<f64>>,
    variances: Vec<f64>,
    noise: f64,
}

impl ShapeModel {
    fn new(cov: Vec<Vec<f64>>, m: usize) -> Self {
        let d = cov.len();
        let all = eigen(cov);
        let noise = (all[m..].iter().map(|e| e.0.max(0.0)).sum::<f64>() / (d - m).max(1) as f64).max(1e-6);
        Self { modes: all[..m].iter().map(|e| e.1.clone()).collect(), variances: all[..m].iter().map(|e| e.0.max(1e-9)).collect(), noise }
    }

    /// The most probable shape given `s` on its inlier coordinates: the mode coefficients
    /// have the modes' variances as a prior, so a mode that the inliers barely see stays
    /// near zero instead of fitting their noise.
    fn reconstruct(&self, s: &[f64], outlier: &[bool], mean: &[f64]) -> Vec<f64> {
        let m = self.modes.len();
        let mut a = vec![vec![0.0; m]; m];
        let mut b = vec![0.0; m];
        for j in (0..s.len()).filter(|&j| !outlier[j / 2]) {
            for (p, row) in a.iter_mut().enumerate() {
                b[p] += self.modes[p][j] * (s[j] - mean[j]);
                for (q, cell) in row.iter_mut().enumerate() {
                    *cell += self.modes[p][j] * self.modes[q][j];
                }
            }
        }
        for (p, row) in a.iter_mut().enumerate() {
            row[p] += self.noise / self.variances[p];
        }
        let coef = solve(a, b);
        (0..s.len()).map(|j| mean[j] + (0..m).map(|p| coef[p] * self.modes[p][j]).sum::<f64>()).collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Shapes that vary along two modes (scale and shift) plus a little noise, with one
    /// landmark of one shape thrown far away: the repair moves that point back near its
    /// true place, and leaves the others where they were.
    #[test]
    fn an_outlier_is_pulled_back_and_the_rest_left_alone() {
        let base = [(10.0, 10.0), (50.0, 12.0), (30.0, 40.0), (12.0, 60.0), (48.0, 58.0), (30.0, 25.0)];
        let mut shapes: Vec<Vec<Point>> = Vec::new();
        for i in 0..40 {
            let s = 0.9 + 0.005 * i as f64;
            let (tx, ty) = ((i % 7) as f64 * 2.0, (i % 5) as f64 * 3.0);
            let noise = |j: usize| ((i * 31 + j * 17) % 11) as f64 * 0.05;
            shapes.push(base.iter().enumerate().map(|(j, &(x, y))| Point::new(s * x + tx + noise(j), s * y + ty - noise(j + 3))).collect());
        }
        let truth = shapes[7][2];
        shapes[7][2] = Point::new(truth.x + 25.0, truth.y - 18.0);
        let (repaired, moved) = repair(&shapes, &ShapeModelConfig { components: 3, ..Default::default() });
        assert!(moved[7][2], "the thrown point is flagged");
        assert!(repaired[7][2].distance(truth) < 2.0, "repaired to {:?}, truth {truth:?}", repaired[7][2]);
        let flagged = moved.iter().flatten().filter(|&&m| m).count();
        assert!(flagged <= 3, "{flagged} points flagged");
        assert_eq!(repaired[3][1], shapes[3][1]);
    }
}

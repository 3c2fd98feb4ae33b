//! Small dense linear algebra on `Vec<Vec<f64>>`: the confidence's logistic fit and the
//! pseudo-label shape model need a linear solve, a covariance and a symmetric eigensolver,
//! on matrices of a few dozen rows. Index loops read as the textbook formulas.
#![allow(clippy::needless_range_loop)]

/// The mean and the (population) covariance of `samples`, each a vector of the same length.
pub fn covariance(samples: &[Vec<f64>]) -> (Vec<f64>, Vec<Vec<f64>>) {
    let n = samples.len() as f64;
    let d = samples.first().map_or(0, Vec::len);
    let mean: Vec<f64> = (0..d).map(|j| samples.iter().map(|s| s[j]).sum::<f64>() / n).collect();
    let mut cov = vec![vec![0.0; d]; d];
    for s in samples {
        for a in 0..d {
            for b in a..d {
                cov[a][b] += (s[a] - mean[a]) * (s[b] - mean[b]) / n;
            }
        }
    }
    for a in 0..d {
        for b in 0..a {
            cov[a][b] = cov[b][a];
        }
    }
    (mean, cov)
}

/// Solves `a·x = b` (Gaussian elimination with partial pivoting; `a` is positive definite).
pub fn solve(mut a: Vec<Vec<f64>>, mut b: Vec<f64>) -> Vec<f64> {
    let n = b.len();
    for c in 0..n {
        let p = (c..n).max_by(|&i, &j| a[i][c].abs().total_cmp(&a[j][c].abs())).unwrap_or(c);
        a.swap(c, p);
        b.swap(c, p);
        for r in c + 1..n {
            let f = a[r][c] / a[c][c];
            for k in c..n {
                a[r][k] -= f * a[c][k];
            }
            b[r] -= f * b[c];
        }
    }
    let mut x = vec![0.0; n];
    for r in (0..n).rev() {
        x[r] = (b[r] - (r + 1..n).map(|k| a[r][k] * x[k]).sum::<f64>()) / a[r][r];
    }
    x
}

/// Eigenvalues and eigenvectors of a symmetric matrix, largest first (cyclic Jacobi).
pub fn eigen(a: Vec<Vec<f64>>) -> Vec<(f64, Vec<f64>)> {
    let d = a.len();
    let (values, vectors) = jacobi(a);
    let mut order: Vec<usize> = (0..d).collect();
    order.sort_by(|&i, &j| values[j].total_cmp(&values[i]));
    order.into_iter().map(|c| (values[c], (0..d).map(|r| vectors[r][c]).collect())).collect()
}

/// Cyclic Jacobi rotations: the eigenvalues and the matrix whose columns are the eigenvectors.
fn jacobi(mut a: Vec<Vec<f64>>) -> (Vec<f64>, Vec<Vec<f64>>) {
    let d = a.len();
    let mut v: Vec<Vec<f64>> = (0..d).map(|i| (0..d).map(|j| if i == j { 1.0 } else { 0.0 }).collect()).collect();
    for _ in 0..100 {
        let off: f64 = (0..d).flat_map(|i| (0..d).filter(move |&j| j != i).map(move |j| (i, j))).map(|(i, j)| a[i][j] * a[i][j]).sum();
        if off < 1e-18 {
            break;
        }
        for p in 0..d {
            for q in p + 1..d {
                if a[p][q].abs() < 1e-300 {
                    continue;
                }
                let theta = (a[q][q] - a[p][p]) / (2.0 * a[p][q]);
                let t = theta.signum() / (theta.abs() + (theta * theta + 1.0).sqrt());
                let t = if theta == 0.0 { 1.0 } else { t };
                let (c, s) = (1.0 / (t * t + 1.0).sqrt(), t / (t * t + 1.0).sqrt());
                for k in 0..d {
                    let (akp, akq) = (a[k][p], a[k][q]);
                    a[k][p] = c * akp - s * akq;
                    a[k][q] = s * akp + c * akq;
                }
                for k in 0..d {
                    let (apk, aqk) = (a[p][k], a[q][k]);
                    a[p][k] = c * apk - s * aqk;
                    a[q][k] = s * apk + c * aqk;
                }
                for row in v.iter_mut() {
                    let (vp, vq) = (row[p], row[q]);
                    row[p] = c * vp - s * vq;
                    row[q] = s * vp + c * vq;
                }
            }
        }
    }
    ((0..d).map(|i| a[i][i]).collect(), v)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn jacobi_eigenvectors_satisfy_the_equation() {
        let b: Vec<Vec<f64>> = (0..5).map(|i| (0..5).map(|j| ((i * 7 + j * 3) % 5) as f64 - 2.0).collect()).collect();
        let a: Vec<Vec<f64>> = (0..5).map(|i| (0..5).map(|j| (0..5).map(|k| b[i][k] * b[j][k]).sum()).collect()).collect();
        for (_, v) in eigen(a.clone()) {
            let av: Vec<f64> = (0..5).map(|i| (0..5).map(|j| a[i][j] * v[j]).sum()).collect();
            let lambda: f64 = av.iter().zip(&v).map(|(x, y)| x * y).sum();
            for i in 0..5 {
                assert!((av[i] - lambda * v[i]).abs() < 1e-6, "{av:?} vs {lambda} {v:?}");
            }
        }
    }

    #[test]
    fn jacobi_finds_the_leading_eigenvector() {
        // [[2, 1], [1, 2]]: eigenvalues 3 (along (1, 1)) and 1.
        let e = eigen(vec![vec![2.0, 1.0], vec![1.0, 2.0]]);
        let v = &e[0].1;
        assert!((e[0].0 - 3.0).abs() < 1e-9 && (v[0].abs() - std::f64::consts::FRAC_1_SQRT_2).abs() < 1e-9 && (v[0] - v[1]).abs() < 1e-9);
    }

    #[test]
    fn solve_inverts_a_product() {
        let a = vec![vec![4.0, 1.0, 0.5], vec![1.0, 3.0, 0.2], vec![0.5, 0.2, 2.0]];
        let x = [1.0, -2.0, 0.5];
        let b: Vec<f64> = a.iter().map(|row| row.iter().zip(&x).map(|(r, v)| r * v).sum()).collect();
        for (got, want) in solve(a, b).iter().zip(x) {
            assert!((got - want).abs() < 1e-12, "{got} vs {want}");
        }
    }
}

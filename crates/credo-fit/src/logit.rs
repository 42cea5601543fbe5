//! Logistic regression by iteratively reweighted least squares (Newton's method on the
//! log-likelihood): `P(bad) = σ(b₀ + Σ bⱼ xⱼ)`. Each iteration is one parallel pass over
//! the rows to build `XᵀWX` and `XᵀWz`, then a Cholesky solve of a (p+1)² system.
//! Standard errors are `√diag((XᵀWX)⁻¹)` at the solution.

use crate::FitError;
use rayon::prelude::*;

#[derive(Debug, Clone, PartialEq)]
pub struct Logit {
    /// `[b₀, b₁, …, bₚ]`.
    pub coef: Vec<f64>,
    pub se: Vec<f64>,
    pub iterations: u32,
    pub converged: bool,
    /// The largest coefficient change in the last iteration.
    pub step: f64,
    /// −2 log-likelihood at the solution.
    pub deviance: f64,
}

fn sigmoid(t: f64) -> f64 {
    1.0 / (1.0 + (-t).exp())
}

/// Fits on `columns` (p columns of n values each) against `bad`.
pub fn fit_logit(
    columns: &[Vec<f64>],
    bad: &[bool],
    max_iterations: u32,
    tolerance: f64,
) -> Result<Logit, FitError> {
    fit_logit_ridge(columns, bad, max_iterations, tolerance, 0.0)
}

/// [`fit_logit`] with an L2 penalty `½·ridge·Σ bⱼ²` on the slopes (not the intercept),
/// as scikit-learn's `LogisticRegression(C = 1 / ridge)`. Standard errors are then those
/// of the penalised information matrix.
pub fn fit_logit_ridge(
    columns: &[Vec<f64>],
    bad: &[bool],
    max_iterations: u32,
    tolerance: f64,
    ridge: f64,
) -> Result<Logit, FitError> {
    if !(ridge >= 0.0 && ridge.is_finite()) {
        return Err(FitError::Options(format!(
            "ridge {ridge} must be 0 or more"
        )));
    }
    let n = bad.len();
    let p = columns.len() + 1;
    if let Some(c) = columns.iter().position(|c| c.len() != n) {
        return Err(FitError::Options(format!(
            "column {c} has {} values for {n} outcomes",
            columns[c].len()
        )));
    }
    let bads = bad.iter().filter(|&&b| b).count();
    if bads == 0 {
        return Err(FitError::OneClass("all good"));
    }
    if bads == n {
        return Err(FitError::OneClass("all bad"));
    }
    let mut beta = vec![0.0; p];
    // Start at the overall log-odds.
    let rate = bads as f64 / n as f64;
    beta[0] = (rate / (1.0 - rate)).ln();
    let mut step = f64::INFINITY;
    let mut iterations = 0;
    let mut h = vec![0.0; p * p];
    while iterations < max_iterations {
        let (mut hn, g, _) = pass(columns, bad, &beta);
        for i in 1..p {
            hn[i * p + i] += ridge;
        }
        h = hn;
        let next = solve(&h, &g, p).ok_or_else(|| singular(&h, p))?;
        step = next
            .iter()
            .zip(&beta)
            .map(|(a, b)| (a - b).abs())
            .fold(0.0, f64::max);
        beta = next;
        iterations += 1;
        if step < tolerance {
            break;
        }
    }
    let (mut hf, _, deviance) = pass(columns, bad, &beta);
    for i in 1..p {
        hf[i * p + i] += ridge;
    }
    if step.is_finite() && step < tolerance {
        h = hf;
    }
    let inv = invert(&h, p).ok_or_else(|| singular(&h, p))?;
    let se = (0..p).map(|i| inv[i * p + i].max(0.0).sqrt()).collect();
    let converged = step < tolerance;
    if !converged && !step.is_finite() {
        return Err(FitError::NoConvergence { iterations, step });
    }
    Ok(Logit {
        coef: beta,
        se,
        iterations,
        converged,
        step,
        deviance,
    })
}

fn singular(h: &[f64], p: usize) -> FitError {
    // Name the columns whose diagonal is (near) zero, or all if none stands out.
    let weak: Vec<String> = (1..p)
        .filter(|&i| h[i * p + i].abs() < 1e-9)
        .map(|i| format!("#{i}"))
        .collect();
    FitError::Singular(if weak.is_empty() {
        "(collinear)".into()
    } else {
        weak.join(", ")
    })
}

/// One pass over the rows: `XᵀWX`, `XᵀWz` and the deviance at `beta`.
fn pass(columns: &[Vec<f64>], bad: &[bool], beta: &[f64]) -> (Vec<f64>, Vec<f64>, f64) {
    let p = beta.len();
    let n = bad.len();
    const CHUNK: usize = 1 << 14;
    (0..n.div_ceil(CHUNK))
        .into_par_iter()
        .map(|k| {
            let mut h = vec![0.0; p * p];
            let mut g = vec![0.0; p];
            let mut dev = 0.0;
            let mut x = vec![1.0; p];
            for i in k * CHUNK..((k + 1) * CHUNK).min(n) {
                for (j, c) in columns.iter().enumerate() {
                    x[j + 1] = c[i];
                }
                let eta: f64 = x.iter().zip(beta).map(|(a, b)| a * b).sum();
                let mu = sigmoid(eta).clamp(1e-12, 1.0 - 1e-12);
                let w = mu * (1.0 - mu);
                let y = if bad[i] { 1.0 } else { 0.0 };
                let z = eta + (y - mu) / w;
                dev -= 2.0 * (y * mu.ln() + (1.0 - y) * (1.0 - mu).ln());
                for a in 0..p {
                    let wa = w * x[a];
                    g[a] += wa * z;
                    for b in 0..=a {
                        h[a * p + b] += wa * x[b];
                    }
                }
            }
            (h, g, dev)
        })
        .reduce(
            || (vec![0.0; p * p], vec![0.0; p], 0.0),
            |mut a, b| {
                a.0.iter_mut().zip(&b.0).for_each(|(x, y)| *x += y);
                a.1.iter_mut().zip(&b.1).for_each(|(x, y)| *x += y);
                (a.0, a.1, a.2 + b.2)
            },
        )
        .into_symmetric(p)
}

trait Symmetric {
    fn into_symmetric(self, p: usize) -> Self;
}

impl Symmetric for (Vec<f64>, Vec<f64>, f64) {
    fn into_symmetric(mut self, p: usize) -> Self {
        for a in 0..p {
            for b in 0..a {
                self.0[b * p + a] = self.0[a * p + b];
            }
        }
        self
    }
}

/// Cholesky factor `L` (lower) of a symmetric positive definite matrix.
fn cholesky(h: &[f64], p: usize) -> Option<Vec<f64>> {
    let mut l = vec![0.0; p * p];
    for i in 0..p {
        for j in 0..=i {
            let mut s = h[i * p + j];
            for k in 0..j {
                s -= l[i * p + k] * l[j * p + k];
            }
            if i == j {
                if s <= 1e-12 * h[i * p + i].abs().max(1e-300) {
                    return None;
                }
                l[i * p + i] = s.sqrt();
            } else {
                l[i * p + j] = s / l[j * p + j];
            }
        }
    }
    Some(l)
}

fn solve(h: &[f64], g: &[f64], p: usize) -> Option<Vec<f64>> {
    let l = cholesky(h, p)?;
    let mut y = vec![0.0; p];
    for i in 0..p {
        let s: f64 = (0..i).map(|k| l[i * p + k] * y[k]).sum();
        y[i] = (g[i] - s) / l[i * p + i];
    }
    let mut x = vec![0.0; p];
    for i in (0..p).rev() {
        let s: f64 = (i + 1..p).map(|k| l[k * p + i] * x[k]).sum();
        x[i] = (y[i] - s) / l[i * p + i];
    }
    Some(x)
}

fn invert(h: &[f64], p: usize) -> Option<Vec<f64>> {
    let mut inv = vec![0.0; p * p];
    for c in 0..p {
        let e: Vec<f64> = (0..p).map(|i| if i == c { 1.0 } else { 0.0 }).collect();
        let col = solve(h, &e, p)?;
        for r in 0..p {
            inv[r * p + c] = col[r];
        }
    }
    Some(inv)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn one_binary_predictor_has_the_closed_form() {
        // P(bad | x=0) = 0.2, P(bad | x=1) = 0.6.
        let mut x = Vec::new();
        let mut y = Vec::new();
        for i in 0..1000 {
            x.push(0.0);
            y.push(i % 5 == 0);
            x.push(1.0);
            y.push(i % 5 < 3);
        }
        let m = fit_logit(&[x], &y, 50, 1e-10).unwrap();
        assert!(m.converged);
        let logit = |p: f64| (p / (1.0 - p)).ln();
        assert!((m.coef[0] - logit(0.2)).abs() < 1e-9, "{:?}", m.coef);
        assert!((m.coef[1] - (logit(0.6) - logit(0.2))).abs() < 1e-9);
        // SE of b₁: √(1/(n₀p₀q₀) + 1/(n₁p₁q₁)).
        let se1 = (1.0f64 / (1000.0 * 0.2 * 0.8) + 1.0 / (1000.0 * 0.6 * 0.4)).sqrt();
        assert!((m.se[1] - se1).abs() < 1e-9, "{} vs {se1}", m.se[1]);
    }

    #[test]
    fn one_class_and_collinear_columns_are_errors() {
        let x = vec![vec![1.0, 2.0, 3.0]];
        assert!(matches!(
            fit_logit(&x, &[false; 3], 10, 1e-8),
            Err(FitError::OneClass(_))
        ));
        let c = vec![0.0, 1.0, 0.0, 1.0, 1.0];
        let y = [false, true, true, false, true];
        assert!(matches!(
            fit_logit(&[c.clone(), c], &y, 10, 1e-8),
            Err(FitError::Singular(_))
        ));
    }
}

//! The relationships propagation, as a full job.
//!
//! Each node's term blends its own standing `s` with the mean term of its contacts:
//!
//! ```text
//! x = (1 − a)·s + a · D⁻¹ A x          (a node without contacts keeps x = s)
//! ```
//!
//! With damping `a < 1` the map is a contraction by `a` in the max norm, so Jacobi sweeps
//! from `x = s` converge to the one fixed point, and stopping when no value moved by more
//! than `tolerance` leaves every value within `tolerance · a / (1 − a)` of it. The result
//! also gives each node's contacts' mean term, which is what the score reads.

use rayon::prelude::*;

use crate::{Csr, GraphError, csr::row_parts};

#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Params {
    /// `a`: the weight of the contacts' mean, 0 ≤ a < 1.
    pub damping: f64,
    /// Stop when no value moved by more than this in a sweep.
    pub tolerance: f64,
    /// Stop after this many sweeps even if not converged (reported).
    pub max_iterations: u32,
}

impl Params {
    pub fn check(&self) -> Result<(), GraphError> {
        if !(0.0..1.0).contains(&self.damping) {
            return Err(GraphError::Damping(self.damping));
        }
        if !(self.tolerance > 0.0 && self.tolerance < 1.0) {
            return Err(GraphError::Tolerance(self.tolerance));
        }
        Ok(())
    }
}

/// One sweep, reported to the progress callback.
#[derive(Debug, Clone, Copy)]
pub struct Step {
    pub iteration: u32,
    pub residual: f64,
    pub edge_visits: u64,
}

#[derive(Debug, Clone)]
pub struct Propagation {
    /// Each node's term, by the caller's ids.
    pub values: Vec<f64>,
    /// Each node's contacts' mean term, by the caller's ids; NaN for a node without
    /// contacts (see [`Propagation::contacts_mean`]).
    pub contacts: Vec<f64>,
    pub iterations: u32,
    /// The largest move in the last sweep.
    pub residual: f64,
    pub converged: bool,
    /// Directed edge entries read, final contacts' mean pass included.
    pub edge_visits: u64,
}

impl Propagation {
    pub fn contacts_mean(&self, ext: u32) -> Option<f64> {
        self.contacts
            .get(ext as usize)
            .copied()
            .filter(|m| !m.is_nan())
    }
}

/// Runs sweeps to the tolerance on up to `threads` threads (0: all of rayon's).
pub fn propagate(
    g: &Csr,
    own: &[f64],
    p: &Params,
    threads: usize,
    progress: &mut dyn FnMut(Step),
) -> Result<Propagation, GraphError> {
    p.check()?;
    let n = g.nodes();
    if own.len() != n {
        return Err(GraphError::Length {
            what: "own standing",
            got: own.len(),
            n,
        });
    }
    if let Some((i, &v)) = own.iter().enumerate().find(|(_, v)| !v.is_finite()) {
        return Err(GraphError::NotFinite {
            node: i as u32,
            value: v,
        });
    }
    let s: Vec<f64> = g.to_ext.iter().map(|&e| own[e as usize]).collect();
    let threads = if threads == 0 {
        rayon::current_num_threads()
    } else {
        threads
    };
    // Several chunks per thread so that work stealing evens out heavy rows.
    let bounds = row_parts(&g.offsets, (threads * 16).max(1));
    let mut x = s.clone();
    let mut next = vec![0.0f64; n];
    let mut visits = 0u64;
    let mut iterations = 0u32;
    let mut residual = f64::INFINITY;
    while iterations < p.max_iterations {
        residual = sweep(g, &bounds, &s, &x, &mut next, p.damping);
        std::mem::swap(&mut x, &mut next);
        iterations += 1;
        visits += g.entries();
        progress(Step {
            iteration: iterations,
            residual,
            edge_visits: visits,
        });
        if residual <= p.tolerance {
            break;
        }
    }
    // The contacts' mean of the final terms.
    let mut mean = vec![0.0f64; n];
    parts_mut(&bounds, &mut mean)
        .into_par_iter()
        .for_each(|(lo, out)| {
            for (k, m) in out.iter_mut().enumerate() {
                let row = g.row(lo + k);
                *m = if row.is_empty() {
                    f64::NAN
                } else {
                    row_sum(row, &x) / row.len() as f64
                };
            }
        });
    visits += g.entries();
    let mut values = vec![0.0; n];
    let mut contacts = vec![0.0; n];
    for (int, &ext) in g.to_ext.iter().enumerate() {
        values[ext as usize] = x[int];
        contacts[ext as usize] = mean[int];
    }
    Ok(Propagation {
        values,
        contacts,
        iterations,
        residual,
        converged: residual <= p.tolerance,
        edge_visits: visits,
    })
}

/// One Jacobi sweep from `x` into `next`; returns the largest move.
fn sweep(g: &Csr, bounds: &[usize], s: &[f64], x: &[f64], next: &mut [f64], a: f64) -> f64 {
    parts_mut(bounds, next)
        .into_par_iter()
        .map(|(lo, out)| {
            let mut moved = 0.0f64;
            for (k, o) in out.iter_mut().enumerate() {
                let i = lo + k;
                let row = g.row(i);
                let v = if row.is_empty() {
                    s[i]
                } else {
                    (1.0 - a) * s[i] + a * (row_sum(row, x) / row.len() as f64)
                };
                moved = moved.max((v - x[i]).abs());
                *o = v;
            }
            moved
        })
        .reduce(|| 0.0, f64::max)
}

/// The sum of `x` over a row. Four accumulators, so that the adds of one row do not wait
/// on each other while the loads are in flight: this is the hot loop of the whole job.
#[inline]
fn row_sum(row: &[u32], x: &[f64]) -> f64 {
    let mut acc = [0.0f64; 4];
    let mut chunks = row.chunks_exact(4);
    for c in &mut chunks {
        acc[0] += x[c[0] as usize];
        acc[1] += x[c[1] as usize];
        acc[2] += x[c[2] as usize];
        acc[3] += x[c[3] as usize];
    }
    let mut tail = 0.0;
    for &t in chunks.remainder() {
        tail += x[t as usize];
    }
    (acc[0] + acc[1]) + (acc[2] + acc[3]) + tail
}

/// Disjoint mutable slices of `out` for the row ranges in `bounds`, with their first row.
fn parts_mut<'a>(bounds: &[usize], out: &'a mut [f64]) -> Vec<(usize, &'a mut [f64])> {
    let mut parts = Vec::with_capacity(bounds.len());
    let mut rest = out;
    for w in bounds.windows(2) {
        let (head, tail) = rest.split_at_mut(w[1] - w[0]);
        parts.push((w[0], head));
        rest = tail;
    }
    parts
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::Layout;

    #[test]
    fn a_path_converges_to_the_closed_form() -> Result<(), GraphError> {
        // Two nodes joined: x0 = (1-a)s0 + a x1, x1 = (1-a)s1 + a x0.
        let g = Csr::build(3, &[[0, 1]], Layout::Given, 1)?;
        let p = Params {
            damping: 0.5,
            tolerance: 1e-13,
            max_iterations: 200,
        };
        let r = propagate(&g, &[1.0, 0.0, 0.25], &p, 1, &mut |_| {})?;
        assert!(r.converged);
        // x0 = (1-a)(s0 + a s1)/(1 - a²) = 0.5·1/0.75 = 2/3; x1 = 1/3.
        assert!((r.values[0] - 2.0 / 3.0).abs() < 1e-12);
        assert!((r.values[1] - 1.0 / 3.0).abs() < 1e-12);
        assert_eq!(r.values[2], 0.25);
        assert_eq!(r.contacts_mean(2), None);
        assert!((r.contacts_mean(0).unwrap_or(0.0) - 1.0 / 3.0).abs() < 1e-12);
        Ok(())
    }

    #[test]
    fn bad_parameters_and_standing_are_errors() -> Result<(), GraphError> {
        let g = Csr::build(2, &[[0, 1]], Layout::Given, 1)?;
        let ok = Params {
            damping: 0.5,
            tolerance: 1e-9,
            max_iterations: 10,
        };
        let run = |own: &[f64], p: Params| propagate(&g, own, &p, 1, &mut |_| {}).err();
        assert_eq!(
            run(&[0.0, 1.0], Params { damping: 1.0, ..ok }),
            Some(GraphError::Damping(1.0))
        );
        assert_eq!(
            run(
                &[0.0, 1.0],
                Params {
                    tolerance: 0.0,
                    ..ok
                }
            ),
            Some(GraphError::Tolerance(0.0))
        );
        assert!(matches!(run(&[0.0], ok), Some(GraphError::Length { .. })));
        assert!(matches!(
            run(&[0.0, f64::NAN], ok),
            Some(GraphError::NotFinite { node: 1, .. })
        ));
        Ok(())
    }
}

//! From coefficients to points: `score = offset + factor · ln(odds of good)`, with
//! `factor = pdo / ln 2` (points to double the odds) and `offset` putting `base_points`
//! at `base_odds`. Each characteristic's bin gets `−factor·(bⱼ·woe + b₀/p) + offset/p`,
//! so a subject's points add up to its score.

use crate::{Binned, Logit};

#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Scaling {
    pub base_points: f64,
    /// Odds of good to bad at `base_points`.
    pub base_odds: f64,
    /// Points to double the odds.
    pub pdo: f64,
}

impl Default for Scaling {
    /// 650 points at odds of 10 to 1, 60 points to double: a bank's applicants land in
    /// about 350–950.
    fn default() -> Scaling {
        Scaling {
            base_points: 650.0,
            base_odds: 10.0,
            pdo: 60.0,
        }
    }
}

impl Scaling {
    /// The scaling that puts the lowest score the card can give at `lo` and the highest
    /// at `hi` (optbinning's "min_max" scaling), stated as `base_points` and the odds
    /// and points-to-double that give it: every subject then lands in `lo..=hi`. `None`
    /// when the card cannot tell subjects apart.
    pub fn to_range(
        binned: &[&Binned],
        m: &Logit,
        lo: f64,
        hi: f64,
        base_points: f64,
    ) -> Option<Scaling> {
        // ln(odds of good) = −b₀ − Σ bⱼ·woe; its extremes take each characteristic's
        // extreme bin.
        let mut least = -m.coef[0];
        let mut most = -m.coef[0];
        for (j, b) in binned.iter().enumerate() {
            let terms = b.woe.iter().map(|w| -m.coef[j + 1] * w);
            least += terms.clone().fold(f64::INFINITY, f64::min);
            most += terms.fold(f64::NEG_INFINITY, f64::max);
        }
        let spread = most - least;
        if !(spread.is_finite() && spread > 1e-12 && hi > lo) {
            return None;
        }
        let factor = (hi - lo) / spread;
        let offset = lo - factor * least;
        Some(Scaling {
            base_points,
            base_odds: ((base_points - offset) / factor).exp(),
            pdo: factor * std::f64::consts::LN_2,
        })
    }
}

#[derive(Debug, Clone, PartialEq)]
pub struct Scorecard {
    /// Points per bin, per characteristic (in the regression's order).
    pub points: Vec<Vec<f64>>,
    pub factor: f64,
    pub offset: f64,
}

impl Scorecard {
    pub fn new(binned: &[&Binned], m: &Logit, s: &Scaling) -> Scorecard {
        let factor = s.pdo / std::f64::consts::LN_2;
        let offset = s.base_points - factor * s.base_odds.ln();
        let p = binned.len().max(1) as f64;
        // The regression models P(bad): ln(odds of good) = −η.
        let points = binned
            .iter()
            .enumerate()
            .map(|(j, b)| {
                b.woe
                    .iter()
                    .map(|w| -factor * (m.coef[j + 1] * w + m.coef[0] / p) + offset / p)
                    .collect()
            })
            .collect();
        Scorecard {
            points,
            factor,
            offset,
        }
    }

    /// A subject's score from its bin in each characteristic.
    pub fn score(&self, bins: impl Iterator<Item = usize>) -> f64 {
        self.points
            .iter()
            .zip(bins)
            .map(|(pts, k)| pts.get(k).copied().unwrap_or(0.0))
            .sum()
    }
}

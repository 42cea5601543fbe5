//! The whole fit: bin every characteristic (in parallel), keep those whose information
//! value reaches the threshold (the strongest first, at most `max_characteristics`),
//! regress the outcome on their WOE values, and scale to points.

use crate::bin::{BinOptions, Binned, bin_categorical, bin_numeric};
use crate::{FitError, Logit, Scaling, Scorecard};
use rayon::prelude::*;

#[derive(Debug, Clone, PartialEq)]
pub enum Values {
    /// NaN is missing.
    Numeric(Vec<f64>),
    /// Codes into `labels`.
    Categorical {
        codes: Vec<u32>,
        labels: Vec<String>,
    },
}

impl Values {
    pub fn len(&self) -> usize {
        match self {
            Values::Numeric(v) => v.len(),
            Values::Categorical { codes, .. } => codes.len(),
        }
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

#[derive(Debug, Clone, PartialEq)]
pub struct Characteristic {
    pub name: String,
    pub values: Values,
}

#[derive(Debug, Clone, Copy, PartialEq)]
pub struct FitOptions {
    pub bins: BinOptions,
    /// Characteristics below this information value are left out (0.02: "not useful").
    pub min_iv: f64,
    pub max_characteristics: usize,
    /// The points scaling; `None` (the default): the one that puts the lowest score the
    /// card can give at `range.0` and the highest at `range.1`, stated at
    /// `range_base_points` ([`Scaling::to_range`]).
    pub scaling: Option<Scaling>,
    pub range: (f64, f64),
    pub range_base_points: f64,
    pub max_iterations: u32,
    pub tolerance: f64,
    /// Drop characteristics whose coefficient has the wrong sign, one at a time, and
    /// fit again (default true).
    pub drop_wrong_signs: bool,
    /// L2 penalty on the coefficients, `½·ridge·Σ bⱼ²` (1 by default, as scikit-learn's
    /// `LogisticRegression`; 0: plain maximum likelihood).
    pub ridge: f64,
}

impl Default for FitOptions {
    fn default() -> FitOptions {
        FitOptions {
            bins: BinOptions::default(),
            min_iv: 0.02,
            max_characteristics: 20,
            scaling: None,
            range: (350.0, 950.0),
            range_base_points: 650.0,
            max_iterations: 50,
            tolerance: 1e-8,
            ridge: 1.0,
            drop_wrong_signs: true,
        }
    }
}

#[derive(Debug, Clone, PartialEq)]
pub struct FittedCharacteristic {
    pub name: String,
    pub binned: Binned,
    /// Category labels, for categorical characteristics.
    pub labels: Option<Vec<String>>,
    pub coef: f64,
    pub se: f64,
    /// Points per bin.
    pub points: Vec<f64>,
}

#[derive(Debug, Clone, PartialEq)]
pub struct Fitted {
    /// The selected characteristics, strongest first.
    pub characteristics: Vec<FittedCharacteristic>,
    pub intercept: f64,
    pub intercept_se: f64,
    pub logit: Logit,
    pub scorecard: Scorecard,
    /// The scaling the points were made with.
    pub scaling: Scaling,
    /// Every characteristic's information value, strongest first.
    pub iv: Vec<(String, f64)>,
    /// Characteristics selected by IV but dropped for a coefficient of the wrong sign,
    /// in the order dropped, with that coefficient.
    pub dropped: Vec<(String, f64)>,
    pub rows: usize,
    pub bads: usize,
}

/// The bin of row `i` of a characteristic.
pub fn bin_of(b: &Binned, v: &Values, i: usize) -> usize {
    match v {
        Values::Numeric(x) => b.bin_of_value(x[i]),
        Values::Categorical { codes, .. } => b.bin_of_code(codes[i]),
    }
}

pub fn fit(chars: &[Characteristic], bad: &[bool], o: &FitOptions) -> Result<Fitted, FitError> {
    let n = bad.len();
    if let Some(c) = chars.iter().find(|c| c.values.len() != n) {
        return Err(FitError::Column {
            column: c.name.clone(),
            problem: format!("{} values for {n} outcomes", c.values.len()),
        });
    }
    let bads = bad.iter().filter(|&&b| b).count();
    if bads == 0 {
        return Err(FitError::OneClass("every row is good"));
    }
    if bads == n {
        return Err(FitError::OneClass("every row is bad"));
    }
    let binned: Vec<Binned> = chars
        .par_iter()
        .map(|c| match &c.values {
            Values::Numeric(x) => bin_numeric(x, bad, &o.bins),
            Values::Categorical { codes, labels } => {
                bin_categorical(codes, labels.len(), bad, &o.bins)
            }
        })
        .collect::<Result<_, _>>()?;
    let mut order: Vec<usize> = (0..chars.len()).collect();
    order.sort_by(|&a, &b| binned[b].iv.total_cmp(&binned[a].iv).then(a.cmp(&b)));
    let iv = order
        .iter()
        .map(|&k| (chars[k].name.clone(), binned[k].iv))
        .collect();
    let chosen: Vec<usize> = order
        .into_iter()
        .filter(|&k| binned[k].iv >= o.min_iv && binned[k].counts.len() > 1)
        .take(o.max_characteristics)
        .collect();
    if chosen.is_empty() {
        return Err(FitError::NothingSelected(o.min_iv));
    }
    // A characteristic whose coefficient comes out with the wrong sign (more bad where
    // its WOE says good: collinear characteristics splitting one effect) would give
    // points against its own evidence, and reasons that contradict it. Drop the most
    // clearly wrong one and fit again, until every sign agrees.
    let mut chosen = chosen;
    let mut dropped = Vec::new();
    let logit = loop {
        let logit = fit_chosen(chars, &binned, &chosen, bad, o)?;
        let wrong = (0..chosen.len())
            .filter(|&j| logit.coef[j + 1] >= 0.0)
            .max_by(|&a, &b| {
                let z = |j: usize| logit.coef[j + 1] / logit.se[j + 1].max(f64::MIN_POSITIVE);
                z(a).total_cmp(&z(b))
            });
        match wrong {
            Some(j) if o.drop_wrong_signs && chosen.len() > 1 => {
                dropped.push((chars[chosen[j]].name.clone(), logit.coef[j + 1]));
                chosen.remove(j);
            }
            _ => break logit,
        }
    };
    let refs: Vec<&Binned> = chosen.iter().map(|&k| &binned[k]).collect();
    let scaling = match o.scaling {
        Some(s) => s,
        None => Scaling::to_range(&refs, &logit, o.range.0, o.range.1, o.range_base_points)
            .unwrap_or_default(),
    };
    let scorecard = Scorecard::new(&refs, &logit, &scaling);
    let characteristics = chosen
        .iter()
        .enumerate()
        .map(|(j, &k)| FittedCharacteristic {
            name: chars[k].name.clone(),
            binned: binned[k].clone(),
            labels: match &chars[k].values {
                Values::Categorical { labels, .. } => Some(labels.clone()),
                Values::Numeric(_) => None,
            },
            coef: logit.coef[j + 1],
            se: logit.se[j + 1],
            points: scorecard.points[j].clone(),
        })
        .collect();
    Ok(Fitted {
        characteristics,
        intercept: logit.coef[0],
        intercept_se: logit.se[0],
        logit,
        scorecard,
        scaling,
        iv,
        dropped,
        rows: n,
        bads,
    })
}

/// The logistic regression of bad on the chosen characteristics' WOE.
fn fit_chosen(
    chars: &[Characteristic],
    binned: &[Binned],
    chosen: &[usize],
    bad: &[bool],
    o: &FitOptions,
) -> Result<Logit, FitError> {
    let n = bad.len();
    let columns: Vec<Vec<f64>> = chosen
        .par_iter()
        .map(|&k| {
            (0..n)
                .map(|i| binned[k].woe[bin_of(&binned[k], &chars[k].values, i)])
                .collect()
        })
        .collect();
    crate::logit::fit_logit_ridge(&columns, bad, o.max_iterations, o.tolerance, o.ridge).map_err(
        |e| match e {
            FitError::Singular(cols) => FitError::Singular(
                cols.split(", ")
                    .filter_map(|c| c.trim_start_matches('#').parse::<usize>().ok())
                    .filter_map(|j| chosen.get(j - 1).map(|&k| chars[k].name.clone()))
                    .collect::<Vec<_>>()
                    .join(", "),
            ),
            e => e,
        },
    )
}

impl Fitted {
    /// Scores row `i` of a table with the same characteristics (looked up by name).
    /// Characteristics missing from the table score their largest bin.
    pub fn score_rows(&self, chars: &[Characteristic]) -> Vec<f64> {
        let n = chars.first().map_or(0, |c| c.values.len());
        // Per characteristic: its column, and for categories the table's codes translated
        // to the fit's by label (an unseen label goes to the fallback bin).
        let cols: Vec<Option<(&Characteristic, Vec<u32>)>> = self
            .characteristics
            .iter()
            .map(|f| {
                let c = chars.iter().find(|c| c.name == f.name)?;
                let map = match (&c.values, &f.labels) {
                    (Values::Categorical { labels, .. }, Some(fit)) => labels
                        .iter()
                        .map(|l| {
                            fit.iter()
                                .position(|x| x == l)
                                .map_or(u32::MAX, |p| p as u32)
                        })
                        .collect(),
                    _ => Vec::new(),
                };
                Some((c, map))
            })
            .collect();
        (0..n)
            .into_par_iter()
            .map(|i| {
                self.characteristics
                    .iter()
                    .zip(&cols)
                    .map(|(f, c)| {
                        let k = match c {
                            Some((c, map)) => match &c.values {
                                Values::Categorical { codes, .. } => f.binned.bin_of_code(
                                    map.get(codes[i] as usize).copied().unwrap_or(u32::MAX),
                                ),
                                v => bin_of(&f.binned, v, i),
                            },
                            None => 0,
                        };
                        f.points.get(k).copied().unwrap_or(0.0)
                    })
                    .sum()
            })
            .collect()
    }
}

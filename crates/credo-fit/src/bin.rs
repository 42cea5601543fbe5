//! Binning, weight of evidence and information value.
//!
//! Numeric: pre-bins from a classification tree on the values (the Gini-best splits,
//! each side holding at least the minimum share, up to `max_prebins` leaves), then
//! adjacent pre-bins pooled (pool-adjacent-violators) until the bad rate follows the
//! trend: by default the one optbinning's `monotonic_trend="auto"` picks from the
//! pre-bins (ascending, descending, peak or valley; see [`Trend`]), or a monotonic or
//! given one. For a peak or valley every turning point is tried, each side pooled its
//! way, and the pooling of highest information value kept. Then bins under the minimum share merged
//! into their closer neighbour, then the closest adjacent pair merged until at most
//! `max_bins` remain. Missing values (NaN) get a bin of their own.
//! Categorical: categories ordered by bad rate, then the same merging (the order makes
//! them monotonic already).
//!
//! `woe = ln((good_k + ½)/(G + ½) ÷ (bad_k + ½)/(B + ½))`: positive where the bin is
//! better than average. `IV = Σ (good share − bad share) · woe`, with the same smoothed
//! shares `(good_k + ½)/(G + ½)` and `(bad_k + ½)/(B + ½)` as the WOE, so that no bin
//! counts against it (with raw shares a bin's share difference and its smoothed WOE can
//! differ in sign, and the IV of a nearly one-class column came out negative).

use crate::FitError;

#[derive(Debug, Clone, Copy, PartialEq)]
pub struct BinOptions {
    pub max_prebins: usize,
    /// The smallest share of rows a pre-bin (a tree leaf) may hold.
    pub min_prebin_share: f64,
    /// The smallest share of rows a bin may hold.
    pub min_share: f64,
    pub max_bins: usize,
    /// The shape of the bad rate over a numeric characteristic's bins.
    pub trend: Trend,
}

impl Default for BinOptions {
    fn default() -> BinOptions {
        BinOptions {
            max_prebins: 20,
            min_prebin_share: 0.05,
            min_share: 0.0,
            max_bins: 8,
            trend: Trend::Auto,
        }
    }
}

/// The shape the bad rate of a numeric characteristic's bins must take, in value order.
/// (Categories are ordered by bad rate, so theirs is always ascending.)
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Trend {
    /// Chosen per characteristic from the shape of its pre-bins' bad rates by optbinning's
    /// `monotonic_trend="auto"` rule (its decision tree over where the lowest and highest
    /// pre-bin lie, the share of rows either side of them, the triangle and convex-hull
    /// areas of the rates and the sign of their least-squares slope): ascending,
    /// descending, peak or valley.
    #[default]
    Auto,
    /// Ascending or descending, by the sign of the size-weighted least-squares slope of the
    /// pre-bins' bad rates.
    Monotonic,
    Ascending,
    Descending,
    /// Rising, then falling (unimodal, highest in the middle).
    Peak,
    /// Falling, then rising (lowest in the middle).
    Valley,
}

/// A resolved trend.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Shape {
    Ascending,
    Descending,
    Peak,
    Valley,
}

#[derive(Debug, Clone, PartialEq)]
pub enum Bins {
    /// Bin k holds values below `upper[k]` (and at or above `upper[k - 1]`); the last
    /// bound is infinite. `missing` is the bin of NaN, if any were seen.
    Numeric {
        upper: Vec<f64>,
        missing: Option<usize>,
    },
    /// Bin k holds these category codes; an unseen category goes to `fallback`.
    Categorical {
        groups: Vec<Vec<u32>>,
        fallback: usize,
    },
}

#[derive(Debug, Clone, PartialEq)]
pub struct Binned {
    pub bins: Bins,
    /// (good, bad) per bin.
    pub counts: Vec<(u64, u64)>,
    pub woe: Vec<f64>,
    pub iv: f64,
}

impl Binned {
    /// The bin of a numeric value.
    pub fn bin_of_value(&self, x: f64) -> usize {
        match &self.bins {
            Bins::Numeric { upper, missing } => {
                if x.is_nan() {
                    return missing.unwrap_or(0);
                }
                upper.partition_point(|&u| u <= x).min(upper.len() - 1)
            }
            Bins::Categorical { fallback, .. } => *fallback,
        }
    }

    /// The bin of a category code.
    pub fn bin_of_code(&self, c: u32) -> usize {
        match &self.bins {
            Bins::Categorical { groups, fallback } => groups
                .iter()
                .position(|g| g.contains(&c))
                .unwrap_or(*fallback),
            Bins::Numeric { .. } => 0,
        }
    }
}

/// A run of adjacent pre-bins: its (good, bad) and, for numeric ones, its upper bound;
/// for categorical ones, its codes.
#[derive(Debug, Clone)]
struct Run {
    good: u64,
    bad: u64,
    upper: f64,
    codes: Vec<u32>,
}

impl Run {
    fn rate(&self) -> f64 {
        self.bad as f64 / (self.good + self.bad).max(1) as f64
    }
    fn absorb(&mut self, o: Run) {
        self.good += o.good;
        self.bad += o.bad;
        self.upper = self.upper.max(o.upper);
        self.codes.extend(o.codes);
    }
}

fn check(n: usize, bad: &[bool], o: &BinOptions) -> Result<(), FitError> {
    if bad.len() != n {
        return Err(FitError::Options(format!(
            "{} values but {} outcomes",
            n,
            bad.len()
        )));
    }
    if o.max_bins < 2 || o.max_prebins < o.max_bins || !(0.0..0.5).contains(&o.min_share) {
        return Err(FitError::Options(
            "binning needs max_bins ≥ 2, max_prebins ≥ max_bins and min_share in [0, 0.5)".into(),
        ));
    }
    Ok(())
}

/// Bins a numeric characteristic.
pub fn bin_numeric(x: &[f64], bad: &[bool], o: &BinOptions) -> Result<Binned, FitError> {
    check(x.len(), bad, o)?;
    let mut idx: Vec<u32> = (0..x.len() as u32)
        .filter(|&i| !x[i as usize].is_nan())
        .collect();
    idx.sort_unstable_by(|&a, &b| x[a as usize].total_cmp(&x[b as usize]));
    let (mut mg, mut mb) = (0u64, 0u64);
    for (i, v) in x.iter().enumerate() {
        if v.is_nan() {
            if bad[i] {
                mb += 1;
            } else {
                mg += 1;
            }
        }
    }
    // Distinct values with their counts, in order.
    let mut groups: Vec<(f64, u64, u64)> = Vec::new();
    for &i in &idx {
        let i = i as usize;
        match groups.last_mut() {
            Some(g) if g.0 == x[i] => {
                if bad[i] {
                    g.2 += 1
                } else {
                    g.1 += 1
                }
            }
            _ => groups.push((x[i], u64::from(!bad[i]), u64::from(bad[i]))),
        }
    }
    let min_leaf = ((o.min_prebin_share * idx.len() as f64).ceil() as u64).max(1);
    let cuts = tree_cuts(&groups, o.max_prebins, min_leaf);
    let mut runs: Vec<Run> = Vec::with_capacity(cuts.len() + 1);
    let mut lo = 0;
    for &hi in cuts.iter().chain(std::iter::once(&groups.len())) {
        if hi <= lo {
            continue;
        }
        let (good, bad_n) = groups[lo..hi]
            .iter()
            .fold((0, 0), |a, g| (a.0 + g.1, a.1 + g.2));
        runs.push(Run {
            good,
            bad: bad_n,
            upper: groups.get(hi).map_or(f64::INFINITY, |g| g.0),
            codes: Vec::new(),
        });
        lo = hi;
    }
    let total = x.len() as u64;
    let shape = shape_of(&runs, o.trend);
    let runs = merge(runs, total, o, shape);
    let upper: Vec<f64> = runs
        .iter()
        .enumerate()
        .map(|(k, r)| {
            if k + 1 == runs.len() {
                f64::INFINITY
            } else {
                r.upper
            }
        })
        .collect();
    let mut counts: Vec<(u64, u64)> = runs.iter().map(|r| (r.good, r.bad)).collect();
    let missing = if mg + mb > 0 {
        counts.push((mg, mb));
        Some(counts.len() - 1)
    } else {
        None
    };
    let upper = if upper.is_empty() {
        vec![f64::INFINITY]
    } else {
        upper
    };
    if counts.is_empty() {
        counts.push((0, 0));
    }
    Ok(finish(Bins::Numeric { upper, missing }, counts))
}

/// Bins a categorical characteristic given as codes `0..labels`.
pub fn bin_categorical(
    codes: &[u32],
    categories: usize,
    bad: &[bool],
    o: &BinOptions,
) -> Result<Binned, FitError> {
    check(codes.len(), bad, o)?;
    let mut per = vec![(0u64, 0u64); categories];
    for (i, &c) in codes.iter().enumerate() {
        let Some(p) = per.get_mut(c as usize) else {
            return Err(FitError::Options(format!(
                "category code {c} is not below {categories}"
            )));
        };
        if bad[i] {
            p.1 += 1;
        } else {
            p.0 += 1;
        }
    }
    let mut runs: Vec<Run> = per
        .iter()
        .enumerate()
        .filter(|(_, p)| p.0 + p.1 > 0)
        .map(|(c, p)| Run {
            good: p.0,
            bad: p.1,
            upper: 0.0,
            codes: vec![c as u32],
        })
        .collect();
    runs.sort_by(|a, b| a.rate().total_cmp(&b.rate()).then(a.codes.cmp(&b.codes)));
    let runs = merge(runs, codes.len() as u64, o, Shape::Ascending);
    let mut groups: Vec<Vec<u32>> = runs.iter().map(|r| r.codes.clone()).collect();
    groups.iter_mut().for_each(|g| g.sort_unstable());
    let counts: Vec<(u64, u64)> = runs.iter().map(|r| (r.good, r.bad)).collect();
    // An unseen category gets the largest bin's evidence.
    let fallback = counts
        .iter()
        .enumerate()
        .max_by_key(|(_, c)| c.0 + c.1)
        .map_or(0, |(k, _)| k);
    let counts = if counts.is_empty() {
        vec![(0, 0)]
    } else {
        counts
    };
    Ok(finish(Bins::Categorical { groups, fallback }, counts))
}

/// Pre-bins by a classification tree on the sorted distinct values (as optbinning
/// pre-bins): the leaf whose best split lowers the Gini impurity most is split, each side
/// keeping at least `min_leaf` rows, until `max_leaves` leaves or no split helps. Returns
/// the group indices where leaves start (after the first).
fn tree_cuts(groups: &[(f64, u64, u64)], max_leaves: usize, min_leaf: u64) -> Vec<usize> {
    // Prefix sums of good and bad over the groups.
    let mut pg = vec![0u64; groups.len() + 1];
    let mut pb = vec![0u64; groups.len() + 1];
    for (k, g) in groups.iter().enumerate() {
        pg[k + 1] = pg[k] + g.1;
        pb[k + 1] = pb[k] + g.2;
    }
    let gini = |lo: usize, hi: usize| {
        let (g, b) = ((pg[hi] - pg[lo]) as f64, (pb[hi] - pb[lo]) as f64);
        if g + b == 0.0 {
            0.0
        } else {
            2.0 * g * b / (g + b)
        }
    };
    let best = |lo: usize, hi: usize| -> Option<(f64, usize)> {
        let whole = gini(lo, hi);
        let mut out: Option<(f64, usize)> = None;
        for m in lo + 1..hi {
            let left = (pg[m] - pg[lo]) + (pb[m] - pb[lo]);
            let right = (pg[hi] - pg[m]) + (pb[hi] - pb[m]);
            if left < min_leaf || right < min_leaf {
                continue;
            }
            let gain = whole - gini(lo, m) - gini(m, hi);
            if gain > 1e-12 && out.is_none_or(|(g, _)| gain > g) {
                out = Some((gain, m));
            }
        }
        out
    };
    /// A leaf: its group range and its best split (gain, where).
    type Leaf = (usize, usize, Option<(f64, usize)>);
    let mut leaves: Vec<Leaf> = vec![(0, groups.len(), best(0, groups.len()))];
    while leaves.len() < max_leaves {
        let Some((k, _)) = leaves
            .iter()
            .enumerate()
            .filter_map(|(k, l)| l.2.map(|(g, _)| (k, g)))
            .max_by(|a, b| a.1.total_cmp(&b.1))
        else {
            break;
        };
        let (lo, hi, split) = leaves[k];
        let Some((_, m)) = split else { break };
        leaves[k] = (lo, m, best(lo, m));
        leaves.push((m, hi, best(m, hi)));
    }
    let mut cuts: Vec<usize> = leaves.iter().map(|l| l.0).filter(|&s| s > 0).collect();
    cuts.sort_unstable();
    cuts
}

/// Pooling into the trend's shape, the minimum share, then at most `max_bins`. Merging
/// adjacent runs keeps a monotonic or unimodal shape: the merged rate lies between the
/// two, and any adjacent pair lies on one side of the turn.
fn merge(runs: Vec<Run>, total: u64, o: &BinOptions, shape: Shape) -> Vec<Run> {
    let mut runs = shaped(runs, shape);
    let min = (o.min_share * total as f64).ceil() as u64;
    loop {
        if runs.len() <= 1 {
            break;
        }
        let small = runs
            .iter()
            .enumerate()
            .filter(|(_, r)| r.good + r.bad < min)
            .min_by_key(|(_, r)| r.good + r.bad)
            .map(|(k, _)| k);
        let k = match small {
            Some(k) => k,
            None if runs.len() > o.max_bins => {
                // The closest adjacent pair in bad rate.
                (0..runs.len() - 1)
                    .min_by(|&a, &b| {
                        let da = (runs[a].rate() - runs[a + 1].rate()).abs();
                        let db = (runs[b].rate() - runs[b + 1].rate()).abs();
                        da.total_cmp(&db)
                    })
                    .unwrap_or(0)
            }
            None => break,
        };
        // Merge run k with its neighbour: with a small run, the closer in bad rate;
        // `k` and `k + 1` for the closest pair.
        let j = if small.is_some() {
            match (k.checked_sub(1), (k + 1 < runs.len()).then_some(k + 1)) {
                (Some(l), Some(r)) => {
                    if (runs[l].rate() - runs[k].rate()).abs()
                        <= (runs[r].rate() - runs[k].rate()).abs()
                    {
                        l
                    } else {
                        r
                    }
                }
                (Some(l), None) => l,
                (None, Some(r)) => r,
                (None, None) => break,
            }
        } else {
            k + 1
        };
        let (lo, hi) = (k.min(j), k.max(j));
        let r = runs.remove(hi);
        runs[lo].absorb(r);
    }
    runs
}

/// The shape a numeric characteristic's pre-bins are pooled into.
fn shape_of(runs: &[Run], trend: Trend) -> Shape {
    match trend {
        Trend::Ascending => Shape::Ascending,
        Trend::Descending => Shape::Descending,
        Trend::Peak => Shape::Peak,
        Trend::Valley => Shape::Valley,
        Trend::Monotonic => {
            // The size-weighted least-squares slope of the rate over the pre-bins.
            let n: f64 = runs.iter().map(|r| (r.good + r.bad) as f64).sum();
            if n == 0.0 {
                return Shape::Ascending;
            }
            let mean_k: f64 = runs
                .iter()
                .enumerate()
                .map(|(k, r)| k as f64 * (r.good + r.bad) as f64)
                .sum::<f64>()
                / n;
            let mean_r: f64 = runs.iter().map(|r| r.bad as f64).sum::<f64>() / n;
            let slope: f64 = runs
                .iter()
                .enumerate()
                .map(|(k, r)| (k as f64 - mean_k) * (r.rate() - mean_r) * (r.good + r.bad) as f64)
                .sum();
            if slope >= 0.0 {
                Shape::Ascending
            } else {
                Shape::Descending
            }
        }
        Trend::Auto => auto_shape(runs),
    }
}

/// optbinning's `monotonic_trend="auto"` (`auto_monotonic` in optbinning 1.0.0): features
/// of the pre-bins' bad rates fed to its fixed decision tree. Flat rates (or fewer than
/// two pre-bins) need no trend: ascending.
fn auto_shape(runs: &[Run]) -> Shape {
    let n = runs.len();
    if n < 2 {
        return Shape::Ascending;
    }
    let rate: Vec<f64> = runs.iter().map(Run::rate).collect();
    let size: Vec<f64> = runs.iter().map(|r| (r.good + r.bad) as f64).collect();
    let total: f64 = size.iter().sum();
    // First lowest and first highest pre-bin, as numpy's argmin / argmax.
    let (mut pos_min, mut pos_max) = (0, 0);
    for (k, &r) in rate.iter().enumerate() {
        if r < rate[pos_min] {
            pos_min = k;
        }
        if r > rate[pos_max] {
            pos_max = k;
        }
    }
    let (lo, hi) = (rate[pos_min], rate[pos_max]);
    if total == 0.0 || hi <= lo {
        return Shape::Ascending;
    }
    // Unweighted least-squares slope of the rate over the pre-bin index.
    let mk = (n - 1) as f64 / 2.0;
    let mr = rate.iter().sum::<f64>() / n as f64;
    let slope: f64 = rate
        .iter()
        .enumerate()
        .map(|(k, &r)| (k as f64 - mk) * (r - mr))
        .sum();
    let rising = slope > 0.0;
    let share = |a: usize, b: usize| size[a..b].iter().sum::<f64>() / total;
    let min_left = share(0, pos_min);
    let min_right = share(pos_min + 1, n);
    let max_left = share(0, pos_max);
    let max_right = share(pos_max + 1, n);
    let rect = (hi - lo) * n as f64;
    // The two triangles through the first point, the extremes and (n, last rate).
    let area = if n > 2 {
        let tri = |a: (f64, f64), b: (f64, f64), c: (f64, f64)| {
            0.5 * (a.0 * (b.1 - c.1) - b.0 * (a.1 - c.1) + c.0 * (a.1 - b.1)).abs()
        };
        let (pmin, pmax) = ((pos_min as f64, lo), (pos_max as f64, hi));
        (tri((0.0, rate[0]), pmin, pmax) + tri(pmin, pmax, (n as f64, rate[n - 1]))) / rect
    } else {
        0.0
    };
    let hull = if n > 2 { hull_area(&rate) / rect } else { 0.0 };
    // optbinning's tree: 0 ascending, 1 descending, 2 peak, 3 valley.
    let t = if area <= 0.221_458_368_003_368_38 {
        if !rising {
            if hull <= 0.483_314_707_875_251_77 {
                if min_right <= 0.010_740_397_498_011_589 {
                    1
                } else if min_right <= 0.022_145_185_619_592_667 {
                    3
                } else {
                    1
                }
            } else if max_right <= 0.642_668_366_432_189_9 {
                3
            } else {
                1
            }
        } else {
            0
        }
    } else if min_right <= 0.061_379_611_492_156_98 {
        if hull <= 0.238_374_918_699_264_53 {
            1
        } else if max_left <= 0.101_700_644_940_137_86 {
            if max_left <= 0.018_170_346_505_939_96 {
                3
            } else {
                1
            }
        } else {
            2
        }
    } else if min_left <= 0.053_366_690_874_099_73 {
        if max_right <= 0.069_549_446_925_520_9 || max_left <= 0.147_053_606_808_185_58 {
            0
        } else {
            2
        }
    } else if min_left <= 0.830_895_006_656_646_7 || max_right <= 0.158_761_389_553_546_9 {
        3
    } else {
        2
    };
    match t {
        0 => Shape::Ascending,
        1 => Shape::Descending,
        2 => Shape::Peak,
        _ => Shape::Valley,
    }
}

/// The area of the convex hull of the points (k, y[k]) (monotone chain; 0 if collinear).
fn hull_area(y: &[f64]) -> f64 {
    let pts: Vec<(f64, f64)> = y.iter().enumerate().map(|(k, &v)| (k as f64, v)).collect();
    let cross = |o: (f64, f64), a: (f64, f64), b: (f64, f64)| {
        (a.0 - o.0) * (b.1 - o.1) - (a.1 - o.1) * (b.0 - o.0)
    };
    // The points are sorted by x already.
    let chain = |it: &mut dyn Iterator<Item = (f64, f64)>| {
        let mut h: Vec<(f64, f64)> = Vec::new();
        for p in it {
            while h.len() >= 2 && cross(h[h.len() - 2], h[h.len() - 1], p) <= 0.0 {
                h.pop();
            }
            h.push(p);
        }
        h.pop();
        h
    };
    let mut hull = chain(&mut pts.iter().copied());
    hull.extend(chain(&mut pts.iter().rev().copied()));
    let m = hull.len();
    if m < 3 {
        return 0.0;
    }
    let twice: f64 = (0..m)
        .map(|i| {
            let (a, b) = (hull[i], hull[(i + 1) % m]);
            a.0 * b.1 - b.0 * a.1
        })
        .sum();
    0.5 * twice.abs()
}

/// Pool adjacent violators: the bad rate made ascending (`rising`) or descending.
fn pool(runs: Vec<Run>, rising: bool) -> Vec<Run> {
    let mut out: Vec<Run> = Vec::with_capacity(runs.len());
    for r in runs {
        out.push(r);
        while out.len() > 1 {
            let (a, b) = (&out[out.len() - 2], &out[out.len() - 1]);
            let bad_order = if rising {
                b.rate() < a.rate()
            } else {
                b.rate() > a.rate()
            };
            if !bad_order {
                break;
            }
            let Some(last) = out.pop() else { break };
            if let Some(prev) = out.last_mut() {
                prev.absorb(last);
            }
        }
    }
    out
}

/// The runs pooled into the shape. Peak (valley): for every turning point the runs before
/// it pooled ascending (descending) and the rest the other way; the one of highest
/// information value is kept.
fn shaped(runs: Vec<Run>, shape: Shape) -> Vec<Run> {
    let first_rising = match shape {
        Shape::Ascending => return pool(runs, true),
        Shape::Descending => return pool(runs, false),
        Shape::Peak => true,
        Shape::Valley => false,
    };
    let mut best: Option<(f64, Vec<Run>)> = None;
    for t in 0..=runs.len() {
        let mut a = pool(runs[..t].to_vec(), first_rising);
        a.extend(pool(runs[t..].to_vec(), !first_rising));
        let counts: Vec<(u64, u64)> = a.iter().map(|r| (r.good, r.bad)).collect();
        let iv = information_value(&counts).1;
        if best.as_ref().is_none_or(|(b, _)| iv > *b + 1e-12) {
            best = Some((iv, a));
        }
    }
    best.map_or(runs, |(_, a)| a)
}

/// WOE per bin and the information value.
fn information_value(counts: &[(u64, u64)]) -> (Vec<f64>, f64) {
    let g: f64 = counts.iter().map(|c| c.0 as f64).sum();
    let b: f64 = counts.iter().map(|c| c.1 as f64).sum();
    let mut iv = 0.0;
    let woe = counts
        .iter()
        .map(|&(gk, bk)| {
            let gs = (gk as f64 + 0.5) / (g + 0.5);
            let bs = (bk as f64 + 0.5) / (b + 0.5);
            let w = (gs / bs).ln();
            // The same (smoothed) shares as the WOE, so every term is ≥ 0.
            iv += (gs - bs) * w;
            w
        })
        .collect();
    (woe, iv)
}

fn finish(bins: Bins, counts: Vec<(u64, u64)>) -> Binned {
    let (woe, iv) = information_value(&counts);
    Binned {
        bins,
        counts,
        woe,
        iv,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_rising_risk_gets_monotonic_bins_with_the_minimum_share() {
        // Bad rate rises with x, with noise.
        let n = 10_000;
        let x: Vec<f64> = (0..n).map(|i| (i % 1000) as f64).collect();
        let bad: Vec<bool> = (0..n)
            .map(|i| ((i * 7919) % 1000) < (i % 1000) / 3 + 50)
            .collect();
        let b = bin_numeric(&x, &bad, &BinOptions::default()).unwrap();
        let rates: Vec<f64> = b
            .counts
            .iter()
            .map(|c| c.1 as f64 / (c.0 + c.1) as f64)
            .collect();
        assert!(rates.windows(2).all(|w| w[0] <= w[1]), "{rates:?}");
        assert!(b.counts.len() >= 2 && b.counts.len() <= 8);
        assert!(b.counts.iter().all(|c| c.0 + c.1 >= 500));
        // WOE falls as risk rises; IV is positive.
        assert!(b.woe.windows(2).all(|w| w[0] >= w[1]));
        assert!(b.iv > 0.1, "{}", b.iv);
        assert_eq!(b.bin_of_value(-5.0), 0);
        assert_eq!(b.bin_of_value(1e9), b.counts.len() - 1);
    }

    #[test]
    fn a_dip_in_risk_gets_valley_bins_by_default() {
        // Bad rate high at both ends, lowest in the middle (as age in germancredit).
        let n = 10_000;
        let x: Vec<f64> = (0..n).map(|i| (i % 1000) as f64).collect();
        let bad: Vec<bool> = (0..n)
            .map(|i| {
                let v = (i % 1000) as f64 / 1000.0 - 0.5;
                (((i * 7919) % 1000) as f64) < 1000.0 * (0.1 + 1.6 * v * v)
            })
            .collect();
        let b = bin_numeric(&x, &bad, &BinOptions::default()).unwrap();
        let rates: Vec<f64> = b
            .counts
            .iter()
            .map(|c| c.1 as f64 / (c.0 + c.1) as f64)
            .collect();
        let low = (0..rates.len())
            .min_by(|&a, &c| rates[a].total_cmp(&rates[c]))
            .unwrap();
        assert!(low > 0 && low + 1 < rates.len(), "{rates:?}");
        assert!(rates[..=low].windows(2).all(|w| w[0] >= w[1]), "{rates:?}");
        assert!(rates[low..].windows(2).all(|w| w[0] <= w[1]), "{rates:?}");
        // Asked for a monotonic trend, the same data pools into one direction.
        let o = BinOptions {
            trend: Trend::Monotonic,
            ..BinOptions::default()
        };
        let m = bin_numeric(&x, &bad, &o).unwrap();
        let r: Vec<f64> = m
            .counts
            .iter()
            .map(|c| c.1 as f64 / (c.0 + c.1) as f64)
            .collect();
        assert!(
            r.windows(2).all(|w| w[0] <= w[1]) || r.windows(2).all(|w| w[0] >= w[1]),
            "{r:?}"
        );
        assert!(b.iv > m.iv);
    }

    #[test]
    fn categories_group_by_bad_rate_and_missing_values_get_their_own_bin() {
        let codes = [0u32, 0, 1, 1, 2, 2, 2, 2];
        let bad = [true, true, false, false, true, false, false, false];
        let o = BinOptions {
            min_share: 0.0,
            ..BinOptions::default()
        };
        let b = bin_categorical(&codes, 3, &bad, &o).unwrap();
        // Ordered by bad rate: 1 (0 %), 2 (25 %), 0 (100 %).
        assert_eq!(b.bin_of_code(1), 0);
        assert_eq!(b.bin_of_code(0), b.counts.len() - 1);
        let x = [1.0, f64::NAN, 2.0, f64::NAN];
        let b = bin_numeric(&x, &[false, true, true, true], &o).unwrap();
        assert_eq!(b.bin_of_value(f64::NAN), b.counts.len() - 1);
        assert_eq!(b.counts[b.counts.len() - 1], (0, 2));
        assert!(bin_categorical(&[5], 3, &[true], &o).is_err());
        // Every value missing: one bin, whatever the trend.
        for trend in [Trend::Auto, Trend::Peak, Trend::Valley, Trend::Monotonic] {
            let o = BinOptions { trend, ..o };
            let b = bin_numeric(&[f64::NAN; 3], &[true, false, true], &o).unwrap();
            assert_eq!(b.counts.iter().map(|c| c.0 + c.1).sum::<u64>(), 3);
        }
    }
}

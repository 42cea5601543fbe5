//! Binning and the regression against what must hold whatever the data.

use credo_fit::bin::{BinOptions, Trend, bin_categorical, bin_numeric};
use credo_fit::fit_logit;
use proptest::prelude::*;

proptest! {
    #![proptest_config(ProptestConfig::with_cases(200))]

    /// Every row lands in exactly one bin, numeric bad rates are monotonic, every bin but
    /// a lone one holds the minimum share, and the bins found by value hold the counts.
    #[test]
    fn numeric_bins_are_monotonic_and_whole(
        rows in prop::collection::vec((prop::option::weighted(0.95, -100.0f64..100.0), any::<bool>()), 1..400),
        min_share in 0.0f64..0.2, max_bins in 2usize..10,
        trend in prop_oneof![Just(Trend::Monotonic), Just(Trend::Ascending), Just(Trend::Descending)],
    ) {
        let x: Vec<f64> = rows.iter().map(|r| r.0.unwrap_or(f64::NAN)).collect();
        let bad: Vec<bool> = rows.iter().map(|r| r.1).collect();
        let o = BinOptions { min_share, max_bins, max_prebins: 20, min_prebin_share: 0.05, trend };
        let b = bin_numeric(&x, &bad, &o).map_err(|e| TestCaseError::fail(e.to_string()))?;
        let total: u64 = b.counts.iter().map(|c| c.0 + c.1).sum();
        prop_assert_eq!(total, x.len() as u64);
        let mut again = vec![(0u64, 0u64); b.counts.len()];
        for (v, &y) in x.iter().zip(&bad) {
            let k = b.bin_of_value(*v);
            if y { again[k].1 += 1 } else { again[k].0 += 1 }
        }
        prop_assert_eq!(&again, &b.counts);
        let valued: Vec<(u64, u64)> = match &b.bins {
            credo_fit::Bins::Numeric { missing: Some(m), .. } => b.counts.iter().enumerate().filter(|(k, _)| k != m).map(|(_, c)| *c).collect(),
            _ => b.counts.clone(),
        };
        let rates: Vec<f64> = valued.iter().filter(|c| c.0 + c.1 > 0).map(|c| c.1 as f64 / (c.0 + c.1) as f64).collect();
        let up = rates.windows(2).all(|w| w[0] <= w[1] + 1e-12);
        let down = rates.windows(2).all(|w| w[0] + 1e-12 >= w[1]);
        prop_assert!(up || down, "{rates:?}");
        prop_assert!(trend != Trend::Ascending || up, "{rates:?}");
        prop_assert!(trend != Trend::Descending || down, "{rates:?}");
        prop_assert!(valued.len() <= max_bins.max(1));
        if valued.len() > 1 {
            let min = (min_share * x.len() as f64).ceil() as u64;
            prop_assert!(valued.iter().all(|c| c.0 + c.1 >= min), "{valued:?} min {min}");
        }
        prop_assert!(b.iv >= -1e-12);
    }

    /// Peak and valley trends (and the automatic choice, which may pick either): every row
    /// in one bin, the bad rate unimodal (a peak never falls then rises, a valley never
    /// rises then falls), the minimum share and the maximum number of bins.
    #[test]
    fn peak_and_valley_bins_are_unimodal(
        rows in prop::collection::vec((prop::option::weighted(0.95, -100.0f64..100.0), 0.0f64..1.0), 1..400),
        min_share in 0.0f64..0.2, max_bins in 2usize..10,
        trend in prop_oneof![Just(Trend::Peak), Just(Trend::Valley), Just(Trend::Auto)],
    ) {
        // Risk peaked, dipped or sloped in x, so every shape comes up.
        let x: Vec<f64> = rows.iter().map(|r| r.0.unwrap_or(f64::NAN)).collect();
        let shape = (rows.len() % 3) as f64;
        let bad: Vec<bool> = rows.iter().map(|r| {
            let v = r.0.unwrap_or(0.0) / 100.0;
            let p = match shape as u8 { 0 => 0.7 - 0.6 * v * v, 1 => 0.1 + 0.6 * v * v, _ => 0.4 + 0.3 * v };
            r.1 < p
        }).collect();
        let o = BinOptions { min_share, max_bins, max_prebins: 20, min_prebin_share: 0.05, trend };
        let b = bin_numeric(&x, &bad, &o).map_err(|e| TestCaseError::fail(e.to_string()))?;
        let mut again = vec![(0u64, 0u64); b.counts.len()];
        for (v, &y) in x.iter().zip(&bad) {
            let k = b.bin_of_value(*v);
            if y { again[k].1 += 1 } else { again[k].0 += 1 }
        }
        prop_assert_eq!(&again, &b.counts);
        let valued: Vec<(u64, u64)> = match &b.bins {
            credo_fit::Bins::Numeric { missing: Some(m), .. } => b.counts.iter().enumerate().filter(|(k, _)| k != m).map(|(_, c)| *c).collect(),
            _ => b.counts.clone(),
        };
        let rates: Vec<f64> = valued.iter().filter(|c| c.0 + c.1 > 0).map(|c| c.1 as f64 / (c.0 + c.1) as f64).collect();
        // Falls then rises (valley) / rises then falls (peak).
        let turns = |first_down: bool| {
            let mut turned = false;
            rates.windows(2).all(|w| {
                let (fall, rise) = (w[1] < w[0] - 1e-12, w[1] > w[0] + 1e-12);
                let (before, after) = if first_down { (fall, rise) } else { (rise, fall) };
                if after { turned = true; }
                !(turned && before)
            })
        };
        let (valley, peak) = (turns(true), turns(false));
        match trend {
            Trend::Peak => prop_assert!(peak, "peak {rates:?}"),
            Trend::Valley => prop_assert!(valley, "valley {rates:?}"),
            _ => prop_assert!(peak || valley, "auto {rates:?}"),
        }
        prop_assert!(valued.len() <= max_bins.max(1));
        if valued.len() > 1 {
            let min = (min_share * x.len() as f64).ceil() as u64;
            prop_assert!(valued.iter().all(|c| c.0 + c.1 >= min), "{valued:?} min {min}");
        }
        prop_assert!(b.iv >= -1e-12);
    }

    #[test]
    fn categories_land_in_one_bin_each(
        rows in prop::collection::vec((0u32..12, any::<bool>()), 1..300),
    ) {
        let codes: Vec<u32> = rows.iter().map(|r| r.0).collect();
        let bad: Vec<bool> = rows.iter().map(|r| r.1).collect();
        let b = bin_categorical(&codes, 12, &bad, &BinOptions::default()).map_err(|e| TestCaseError::fail(e.to_string()))?;
        let mut again = vec![(0u64, 0u64); b.counts.len()];
        for (&c, &y) in codes.iter().zip(&bad) {
            let k = b.bin_of_code(c);
            if y { again[k].1 += 1 } else { again[k].0 += 1 }
        }
        prop_assert_eq!(again, b.counts);
    }

    /// At the solution the score equations hold: Xᵀ(y − μ) = 0.
    #[test]
    fn the_regression_solves_the_score_equations(
        rows in prop::collection::vec((-2.0f64..2.0, -2.0f64..2.0, 0.0f64..1.0), 60..300),
        b in (-1.0f64..1.0, -1.5f64..1.5, -1.5f64..1.5),
    ) {
        let x1: Vec<f64> = rows.iter().map(|r| r.0).collect();
        let x2: Vec<f64> = rows.iter().map(|r| r.1).collect();
        let y: Vec<bool> = rows.iter().map(|r| r.2 < 1.0 / (1.0 + (-(b.0 + b.1 * r.0 + b.2 * r.1)).exp())).collect();
        prop_assume!(y.iter().any(|&v| v) && y.iter().any(|&v| !v));
        let Ok(m) = fit_logit(&[x1.clone(), x2.clone()], &y, 100, 1e-10) else {
            // Separable data has no finite solution; that is reported, not hidden.
            return Ok(());
        };
        if !m.converged { return Ok(()); }
        let mut g = [0.0f64; 3];
        for i in 0..y.len() {
            let mu = 1.0 / (1.0 + (-(m.coef[0] + m.coef[1] * x1[i] + m.coef[2] * x2[i])).exp());
            let r = if y[i] { 1.0 } else { 0.0 } - mu;
            g[0] += r;
            g[1] += r * x1[i];
            g[2] += r * x2[i];
        }
        for v in g {
            prop_assert!(v.abs() < 1e-6, "{g:?}");
        }
    }
}

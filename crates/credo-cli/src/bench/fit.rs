//! `credo bench fit`: repeated k-fold cross-validation of `credo fit` on a labelled CSV
//! (germancredit by default): out-of-fold AUC per split and the fit time. The splits are
//! written out (`--splits FILE`: one line per repeat, the fold of each row) so that a
//! peer can be run on exactly the same ones.

use super::{Global, median};
use crate::fit::read_table;
use anyhow::Result;
use clap::Args;
use credo_fit::card::{Characteristic, FitOptions, Values};
use rand::SeedableRng;
use rand::seq::SliceRandom;
use rand_pcg::Pcg64Mcg;
use serde_json::json;
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Instant;

#[derive(Args)]
pub struct FitBench {
    #[arg(long, default_value = "data/germancredit.csv")]
    data: PathBuf,
    #[arg(long, default_value = "creditability")]
    target: String,
    #[arg(long, default_value = "good")]
    good: String,
    #[arg(long, default_value_t = 5)]
    folds: usize,
    #[arg(long, default_value_t = 5)]
    repeats: usize,
    #[arg(long, default_value_t = 7)]
    seed: u64,
    /// Characteristics below this information value are left out.
    #[arg(long, default_value_t = 0.02)]
    min_iv: f64,
    /// The smallest share of rows in a bin.
    #[arg(long, default_value_t = 0.0)]
    min_share: f64,
    /// The smallest share of rows in a pre-bin.
    #[arg(long, default_value_t = 0.05)]
    min_prebin_share: f64,
    #[arg(long, default_value_t = 8)]
    max_bins: usize,
    /// L2 penalty on the coefficients (scikit-learn's default C = 1 is ridge 1).
    #[arg(long, default_value_t = 1.0)]
    ridge: f64,
    /// Instead of cross-validation, time one fit on this many generated rows of 20
    /// characteristics (15 numeric, 5 categorical, outcome from a logistic model).
    #[arg(long)]
    synthetic: Option<usize>,
    /// Write the splits here (one line per repeat: each row's fold, comma-separated).
    #[arg(long)]
    splits: Option<PathBuf>,
}

fn subset(chars: &[Characteristic], rows: &[usize]) -> Vec<Characteristic> {
    chars
        .iter()
        .map(|c| Characteristic {
            name: c.name.clone(),
            values: match &c.values {
                Values::Numeric(x) => Values::Numeric(rows.iter().map(|&i| x[i]).collect()),
                Values::Categorical { codes, labels } => Values::Categorical {
                    codes: rows.iter().map(|&i| codes[i]).collect(),
                    labels: labels.clone(),
                },
            },
        })
        .collect()
}

/// Generated rows: 15 numeric characteristics (normal, some skewed) and 5 categorical
/// ones (8 categories), the outcome drawn from a logistic model on a few of them.
fn synthetic(rows: usize, seed: u64) -> (Vec<Characteristic>, Vec<bool>) {
    use rand::Rng;
    let mut r = Pcg64Mcg::seed_from_u64(seed);
    let mut num: Vec<Vec<f64>> = (0..15).map(|_| Vec::with_capacity(rows)).collect();
    let mut cat: Vec<Vec<u32>> = (0..5).map(|_| Vec::with_capacity(rows)).collect();
    let mut bad = Vec::with_capacity(rows);
    for _ in 0..rows {
        let mut eta = -1.2;
        for (j, col) in num.iter_mut().enumerate() {
            let u: f64 = r.random::<f64>().max(1e-12);
            let v: f64 = r.random();
            let z = (-2.0 * u.ln()).sqrt() * (std::f64::consts::TAU * v).cos();
            let x = if j % 3 == 0 {
                (z * 0.8).exp() * 1000.0
            } else {
                z
            };
            if j < 6 {
                eta += 0.3 * z * if j % 2 == 0 { 1.0 } else { -1.0 };
            }
            col.push((x * 100.0).round() / 100.0);
        }
        for (j, col) in cat.iter_mut().enumerate() {
            let c = r.random_range(0..8u32);
            if j < 2 {
                eta += (f64::from(c) - 3.5) * 0.1;
            }
            col.push(c);
        }
        bad.push(r.random::<f64>() < 1.0 / (1.0 + (-eta).exp()));
    }
    let labels: Vec<String> = (0..8).map(|c| format!("c{c}")).collect();
    let mut chars: Vec<Characteristic> = num
        .into_iter()
        .enumerate()
        .map(|(j, v)| Characteristic {
            name: format!("x{j}"),
            values: Values::Numeric(v),
        })
        .collect();
    chars.extend(
        cat.into_iter()
            .enumerate()
            .map(|(j, codes)| Characteristic {
                name: format!("k{j}"),
                values: Values::Categorical {
                    codes,
                    labels: labels.clone(),
                },
            }),
    );
    (chars, bad)
}

pub fn run(g: &Global, b: FitBench) -> Result<ExitCode> {
    if let Some(rows) = b.synthetic {
        let (chars, bad) = synthetic(rows, b.seed);
        let started = Instant::now();
        let f = credo_fit::fit(&chars, &bad, &FitOptions::default())?;
        let s = started.elapsed().as_secs_f64();
        let a = credo_fit::auc(&f.score_rows(&chars), &bad);
        if g.json {
            println!(
                "{}",
                json!({"rows": rows, "characteristics": chars.len(), "fit_s": s, "selected": f.characteristics.len(),
                       "iterations": f.logit.iterations, "train_auc": a})
            );
        } else {
            println!(
                "{rows} rows × {} characteristics: fitted in {s:.2} s ({} selected, {} IRLS iterations, training AUC {a:.3})",
                chars.len(),
                f.characteristics.len(),
                f.logit.iterations
            );
        }
        return Ok(ExitCode::SUCCESS);
    }
    let t = read_table(
        &b.data,
        &crate::fit::Read {
            target: Some((&b.target, &b.good)),
            ..Default::default()
        },
    )?;
    let n = t.bad.len();
    let mut r = Pcg64Mcg::seed_from_u64(b.seed);
    let mut split_lines = Vec::new();
    let (mut aucs, mut times) = (Vec::new(), Vec::new());
    for _ in 0..b.repeats {
        // Stratified: goods and bads dealt round the folds separately.
        let mut fold = vec![0usize; n];
        for class in [false, true] {
            let mut rows: Vec<usize> = (0..n).filter(|&i| t.bad[i] == class).collect();
            rows.shuffle(&mut r);
            for (k, i) in rows.into_iter().enumerate() {
                fold[i] = k % b.folds;
            }
        }
        split_lines.push(
            fold.iter()
                .map(|f| f.to_string())
                .collect::<Vec<_>>()
                .join(","),
        );
        for f in 0..b.folds {
            let train: Vec<usize> = (0..n).filter(|&i| fold[i] != f).collect();
            let test: Vec<usize> = (0..n).filter(|&i| fold[i] == f).collect();
            let (tr, te) = (subset(&t.chars, &train), subset(&t.chars, &test));
            let tb: Vec<bool> = train.iter().map(|&i| t.bad[i]).collect();
            let eb: Vec<bool> = test.iter().map(|&i| t.bad[i]).collect();
            let started = Instant::now();
            let d = FitOptions::default();
            let o = FitOptions {
                min_iv: b.min_iv,
                ridge: b.ridge,
                bins: credo_fit::BinOptions {
                    min_share: b.min_share,
                    min_prebin_share: b.min_prebin_share,
                    max_bins: b.max_bins,
                    ..d.bins
                },
                ..d
            };
            let fitted = credo_fit::fit(&tr, &tb, &o)?;
            times.push(started.elapsed().as_secs_f64());
            aucs.push(credo_fit::auc(&fitted.score_rows(&te), &eb));
        }
    }
    if let Some(p) = &b.splits {
        std::fs::write(p, split_lines.join("\n") + "\n")?;
    }
    let mean_auc = aucs.iter().sum::<f64>() / aucs.len().max(1) as f64;
    let total_fit_s: f64 = times.iter().sum();
    let median_fit_s = median(&mut times.clone());
    if g.json {
        println!(
            "{}",
            json!({"rows": n, "folds": b.folds, "repeats": b.repeats, "mean_auc": mean_auc, "aucs": aucs,
                   "median_fit_s": median_fit_s, "total_fit_s": total_fit_s, "splits": b.splits})
        );
    } else {
        println!(
            "{}×{}-fold cross-validation on {} rows: mean out-of-fold AUC {:.4}; fit median {:.2} ms, all {} fits {:.3} s",
            b.repeats,
            b.folds,
            n,
            mean_auc,
            median_fit_s * 1e3,
            aucs.len(),
            total_fit_s
        );
    }
    Ok(ExitCode::SUCCESS)
}

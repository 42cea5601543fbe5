//! `credo fit` and `credo evaluate`: scorecards from a CSV of labelled outcomes
//! (`credo-fit` does the work; this is the CSV and file edge).

use crate::cmd::Global;
use anyhow::{Context, Result, bail};
use credo_fit::card::{Characteristic, FitOptions, Fitted, Values};
use credo_fit::{Bins, auc, ks};
use serde::{Deserialize, Serialize};
use serde_json::json;
use std::path::Path;
use std::process::ExitCode;
use std::time::Instant;

pub struct Table {
    pub chars: Vec<Characteristic>,
    pub bad: Vec<bool>,
}

/// Reads a CSV with a header. Columns whose every non-empty value is a number are
/// numeric (empty is missing); columns listed in `categorical`, or with no numbers, are
/// categories. A column that is mostly numbers with a few words is an error naming the
/// column and line.
pub(crate) fn read_table(
    path: &Path,
    target: &str,
    good: &str,
    categorical: &[String],
) -> Result<Table> {
    let mut rdr =
        csv::Reader::from_path(path).with_context(|| format!("reading {}", path.display()))?;
    let header: Vec<String> = rdr
        .headers()
        .with_context(|| format!("reading the header of {}", path.display()))?
        .iter()
        .map(str::to_string)
        .collect();
    let Some(t) = header.iter().position(|h| h == target) else {
        bail!(
            "{}: no column {target:?} for the target; the columns are {}",
            path.display(),
            header.join(", ")
        );
    };
    let mut cells: Vec<Vec<String>> = vec![Vec::new(); header.len()];
    for (line, rec) in rdr.records().enumerate() {
        let rec = rec.with_context(|| format!("{}: line {}", path.display(), line + 2))?;
        if rec.len() != header.len() {
            bail!(
                "{}: line {} has {} fields, the header {}",
                path.display(),
                line + 2,
                rec.len(),
                header.len()
            );
        }
        for (k, v) in rec.iter().enumerate() {
            cells[k].push(v.trim().to_string());
        }
    }
    let n = cells[t].len();
    if n == 0 {
        bail!("{}: no rows", path.display());
    }
    let mut bad = Vec::with_capacity(n);
    for (i, v) in cells[t].iter().enumerate() {
        if v.is_empty() {
            bail!(
                "{}: line {}: the target {target:?} is empty",
                path.display(),
                i + 2
            );
        }
        bad.push(v != good);
    }
    if bad.iter().all(|&b| b) {
        bail!(
            "{}: no row has {target:?} = {good:?}: the target has one class only (give the good value with --good)",
            path.display()
        );
    }
    if bad.iter().all(|&b| !b) {
        bail!(
            "{}: every row has {target:?} = {good:?}: the target has one class only",
            path.display()
        );
    }
    let mut chars = Vec::new();
    for (k, col) in cells.into_iter().enumerate() {
        if k == t {
            continue;
        }
        let name = header[k].clone();
        let forced = categorical.iter().any(|c| c == &name);
        let parsed: Vec<Option<f64>> = col
            .iter()
            .map(|v| {
                if v.is_empty() {
                    Some(f64::NAN)
                } else {
                    v.parse::<f64>().ok().filter(|x| x.is_finite())
                }
            })
            .collect();
        let numbers = parsed.iter().filter(|p| p.is_some()).count();
        if !forced && numbers == n {
            chars.push(Characteristic {
                name,
                values: Values::Numeric(
                    parsed.into_iter().map(|p| p.unwrap_or(f64::NAN)).collect(),
                ),
            });
            continue;
        }
        if !forced && numbers * 10 >= n * 9 {
            let (i, v) = col
                .iter()
                .enumerate()
                .find(|(i, _)| parsed[*i].is_none())
                .map(|(i, v)| (i, v.clone()))
                .unwrap_or_default();
            bail!(
                "{}: column {name:?}, line {}: {v:?} is not a number, but the column's other values are (pass --categorical {name} to treat it as categories)",
                path.display(),
                i + 2
            );
        }
        let mut labels: Vec<String> = Vec::new();
        let mut index = std::collections::HashMap::new();
        let codes = col
            .into_iter()
            .map(|v| {
                *index.entry(v.clone()).or_insert_with(|| {
                    labels.push(v);
                    labels.len() as u32 - 1
                })
            })
            .collect();
        chars.push(Characteristic {
            name,
            values: Values::Categorical { codes, labels },
        });
    }
    Ok(Table { chars, bad })
}

/// The scorecard file `credo fit --out` writes and `credo evaluate` reads.
#[derive(Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CardFile {
    pub kind: String,
    pub target: String,
    pub good: String,
    pub base_points: f64,
    pub base_odds: f64,
    pub pdo: f64,
    pub intercept: f64,
    pub characteristic: Vec<CardChar>,
}

#[derive(Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CardChar {
    pub name: String,
    pub iv: f64,
    pub coef: f64,
    pub se: f64,
    pub bin: Vec<CardBin>,
}

#[derive(Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CardBin {
    /// Numeric: the bin holds values below this (the last bin has none).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub below: Option<f64>,
    /// Numeric: the bin of missing values.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub missing: bool,
    /// Categorical: the categories in the bin.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub values: Vec<String>,
    /// Categorical: the bin of categories not seen in fitting.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub other: bool,
    pub good: u64,
    pub bad: u64,
    pub woe: f64,
    pub points: f64,
}

fn card_file(f: &Fitted, target: &str, good: &str, o: &FitOptions) -> CardFile {
    let characteristic = f
        .characteristics
        .iter()
        .map(|c| {
            let b = &c.binned;
            let bin = (0..b.counts.len())
                .map(|k| {
                    let (below, missing, values, other) = match &b.bins {
                        Bins::Numeric { upper, missing } => {
                            let m = *missing == Some(k);
                            let below = (!m)
                                .then(|| upper.get(k).copied())
                                .flatten()
                                .filter(|u| u.is_finite());
                            (below, m, Vec::new(), false)
                        }
                        Bins::Categorical { groups, fallback } => {
                            let labels = c.labels.as_deref().unwrap_or(&[]);
                            let values = groups[k]
                                .iter()
                                .filter_map(|&code| labels.get(code as usize).cloned())
                                .collect();
                            (None, false, values, *fallback == k)
                        }
                    };
                    CardBin {
                        below,
                        missing,
                        values,
                        other,
                        good: b.counts[k].0,
                        bad: b.counts[k].1,
                        woe: b.woe[k],
                        points: c.points[k],
                    }
                })
                .collect();
            CardChar {
                name: c.name.clone(),
                iv: b.iv,
                coef: c.coef,
                se: c.se,
                bin,
            }
        })
        .collect();
    CardFile {
        kind: "credo-scorecard".into(),
        target: target.into(),
        good: good.into(),
        base_points: o.scaling.base_points,
        base_odds: o.scaling.base_odds,
        pdo: o.scaling.pdo,
        intercept: f.intercept,
        characteristic,
    }
}

impl CardFile {
    /// Scores every row of a table; a characteristic missing from it is an error.
    pub fn score(&self, t: &Table) -> Result<Vec<f64>> {
        let n = t.bad.len();
        let mut total = vec![0.0; n];
        for c in &self.characteristic {
            let Some(col) = t.chars.iter().find(|x| x.name == c.name) else {
                bail!(
                    "the table has no column {:?}, which the scorecard uses",
                    c.name
                );
            };
            for (i, s) in total.iter_mut().enumerate() {
                let bin = match &col.values {
                    Values::Numeric(x) => {
                        if x[i].is_nan() {
                            c.bin.iter().find(|b| b.missing)
                        } else {
                            c.bin
                                .iter()
                                .find(|b| !b.missing && b.below.is_none_or(|u| x[i] < u))
                        }
                    }
                    Values::Categorical { codes, labels } => {
                        let l = &labels[codes[i] as usize];
                        c.bin
                            .iter()
                            .find(|b| b.values.contains(l))
                            .or_else(|| c.bin.iter().find(|b| b.other))
                    }
                };
                *s += bin
                    .or_else(|| c.bin.iter().max_by_key(|b| b.good + b.bad))
                    .map_or(0.0, |b| b.points);
            }
        }
        Ok(total)
    }
}

pub fn fit(
    g: &Global,
    file: &Path,
    target: &str,
    good: &str,
    out: Option<&Path>,
    categorical: &[String],
) -> Result<ExitCode> {
    let started = Instant::now();
    let t = read_table(file, target, good, categorical)?;
    let read_s = started.elapsed().as_secs_f64();
    let o = FitOptions::default();
    let f = credo_fit::fit(&t.chars, &t.bad, &o)?;
    let fit_s = started.elapsed().as_secs_f64() - read_s;
    let scores = f.score_rows(&t.chars);
    let a = auc(&scores, &t.bad);
    let card = card_file(&f, target, good, &o);
    if let Some(p) = out {
        let text = toml::to_string(&card)?;
        std::fs::write(
            p,
            format!(
                "# credo scorecard fitted on {} ({} rows)\n{text}",
                file.display(),
                t.bad.len()
            ),
        )
        .with_context(|| format!("writing {}", p.display()))?;
    }
    if g.json {
        println!(
            "{}",
            serde_json::to_string_pretty(&json!({
                "rows": f.rows,
                "bads": f.bads,
                "selected": f.characteristics.iter().map(|c| json!({"name": c.name, "iv": c.binned.iv, "coef": c.coef, "se": c.se, "bins": c.binned.counts.len()})).collect::<Vec<_>>(),
                "iv": f.iv.iter().map(|(n, v)| json!({"name": n, "iv": v})).collect::<Vec<_>>(),
                "intercept": f.intercept,
                "iterations": f.logit.iterations,
                "converged": f.logit.converged,
                "deviance": f.logit.deviance,
                "train_auc": a,
                "read_s": read_s,
                "fit_s": fit_s,
                "out": out.map(|p| p.display().to_string()),
            }))?
        );
    } else {
        println!(
            "Fitted on {} rows ({} bad) in {:.3} s: {} of {} characteristics, {} IRLS iterations ({}), training AUC {:.3}.",
            f.rows,
            f.bads,
            fit_s,
            f.characteristics.len(),
            f.iv.len(),
            f.logit.iterations,
            if f.logit.converged {
                "converged"
            } else {
                "NOT converged"
            },
            a
        );
        for c in &f.characteristics {
            println!(
                "  {:<58} IV {:.3}  coef {:+.3} (se {:.3})  {} bins",
                c.name,
                c.binned.iv,
                c.coef,
                c.se,
                c.binned.counts.len()
            );
        }
        if let Some(p) = out {
            println!("Scorecard written to {}.", p.display());
        }
    }
    Ok(ExitCode::SUCCESS)
}

pub fn evaluate(
    g: &Global,
    card: &Path,
    file: &Path,
    target: &str,
    good: Option<&str>,
) -> Result<ExitCode> {
    let text =
        std::fs::read_to_string(card).with_context(|| format!("reading {}", card.display()))?;
    let c: CardFile = toml::from_str(&text)
        .with_context(|| format!("{} is not a credo scorecard", card.display()))?;
    let good = good.unwrap_or(&c.good);
    let t = read_table(file, target, good, &[])?;
    let scores = c.score(&t)?;
    let a = auc(&scores, &t.bad);
    let k = ks(&scores, &t.bad);
    // Bad rate per score decile, and the calibration: predicted bad rate from the score
    // against the observed one.
    let factor = c.pdo / std::f64::consts::LN_2;
    let offset = c.base_points - factor * c.base_odds.ln();
    let mut idx: Vec<usize> = (0..scores.len()).collect();
    idx.sort_by(|&x, &y| scores[x].total_cmp(&scores[y]));
    let bands: Vec<serde_json::Value> = (0..10)
        .filter_map(|d| {
            let part = &idx[d * idx.len() / 10..(d + 1) * idx.len() / 10];
            if part.is_empty() {
                return None;
            }
            let bads = part.iter().filter(|&&i| t.bad[i]).count();
            let predicted: f64 = part
                .iter()
                .map(|&i| 1.0 / (1.0 + ((scores[i] - offset) / factor).exp()))
                .sum::<f64>()
                / part.len() as f64;
            Some(json!({
                "from": scores[part[0]], "to": scores[part[part.len() - 1]],
                "rows": part.len(), "bad_rate": bads as f64 / part.len() as f64,
                "predicted_bad_rate": predicted,
            }))
        })
        .collect();
    if g.json {
        println!(
            "{}",
            serde_json::to_string_pretty(
                &json!({"rows": t.bad.len(), "auc": a, "gini": 2.0 * a - 1.0, "ks": k, "bands": bands})
            )?
        );
    } else {
        println!(
            "{} rows: AUC {:.3}, Gini {:.3}, KS {:.3}",
            t.bad.len(),
            a,
            2.0 * a - 1.0,
            k
        );
        println!("  score band            rows   bad rate   predicted");
        for b in &bands {
            println!(
                "  {:>7.1} – {:<7.1}  {:>7}   {:>6.1} %    {:>6.1} %",
                b["from"].as_f64().unwrap_or(0.0),
                b["to"].as_f64().unwrap_or(0.0),
                b["rows"],
                100.0 * b["bad_rate"].as_f64().unwrap_or(0.0),
                100.0 * b["predicted_bad_rate"].as_f64().unwrap_or(0.0)
            );
        }
    }
    Ok(ExitCode::SUCCESS)
}

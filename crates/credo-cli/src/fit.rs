//! `credo fit` and `credo evaluate`: scorecards from a CSV of labelled outcomes
//! (`credo-fit` does the work; this is the CSV and file edge).

use crate::cmd::Global;
use anyhow::{Context, Result, bail};
use credo_fit::card::{Characteristic, FitOptions, Fitted, Values};
use credo_fit::{Bins, auc, ks};
use credo_score::Model;
use credo_score::spec::ScalingSpec;
use serde::{Deserialize, Serialize};
use serde_json::json;
use std::path::Path;
use std::process::ExitCode;
use std::time::Instant;

pub struct Table {
    pub chars: Vec<Characteristic>,
    /// Per row, whether the outcome is bad (empty when the table was read without a
    /// target).
    pub bad: Vec<bool>,
    pub rows: usize,
    /// Columns left out, with why.
    pub skipped: Vec<(String, String)>,
}

impl Table {
    pub fn column(&self, name: &str) -> Option<&Characteristic> {
        self.chars.iter().find(|c| c.name == name)
    }
}

/// What `read_table` is asked for.
#[derive(Default)]
pub(crate) struct Read<'a> {
    /// The outcome column and its good value.
    pub target: Option<(&'a str, &'a str)>,
    pub categorical: &'a [String],
    pub ignore: &'a [String],
    /// Leave out a column of words with a different value in every row (an identifier,
    /// such as the `subject` column `credo features` writes): it can only overfit.
    pub skip_identifiers: bool,
}

/// Reads a CSV with a header. Columns whose every non-empty value is a number are
/// numeric (empty is missing); columns listed in `categorical`, or with no numbers, are
/// categories. A column that is mostly numbers with a few words is an error naming the
/// column and line.
pub(crate) fn read_table(path: &Path, r: &Read) -> Result<Table> {
    let mut rdr =
        csv::Reader::from_path(path).with_context(|| format!("reading {}", path.display()))?;
    let header: Vec<String> = rdr
        .headers()
        .with_context(|| format!("reading the header of {}", path.display()))?
        .iter()
        .map(str::to_string)
        .collect();
    let t = match r.target {
        Some((target, _)) => match header.iter().position(|h| h == target) {
            Some(t) => Some(t),
            None => bail!(
                "{}: no column {target:?} for the target; the columns are {}",
                path.display(),
                header.join(", ")
            ),
        },
        None => None,
    };
    for c in r.ignore.iter().chain(r.categorical) {
        if !header.contains(c) {
            bail!(
                "{}: no column {c:?}; the columns are {}",
                path.display(),
                header.join(", ")
            );
        }
    }
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
    let n = cells.first().map_or(0, Vec::len);
    if n == 0 {
        bail!("{}: no rows", path.display());
    }
    let mut bad = Vec::new();
    if let (Some(t), Some((target, good))) = (t, r.target) {
        bad.reserve(n);
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
    }
    let mut skipped = Vec::new();
    let mut chars = Vec::new();
    for (k, col) in cells.into_iter().enumerate() {
        if Some(k) == t {
            continue;
        }
        let name = header[k].clone();
        if r.ignore.contains(&name) {
            skipped.push((name, "ignored (--ignore)".to_string()));
            continue;
        }
        let categorical = r.categorical;
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
        if r.skip_identifiers && n > 1 && !forced {
            let distinct: std::collections::HashSet<&str> =
                col.iter().map(String::as_str).collect();
            if distinct.len() == n {
                skipped.push((
                    name,
                    "a different value in every row: an identifier".to_string(),
                ));
                continue;
            }
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
    Ok(Table {
        chars,
        bad,
        rows: n,
        skipped,
    })
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

fn card_file(f: &Fitted, target: &str, good: &str) -> CardFile {
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
        base_points: f.scaling.base_points,
        base_odds: f.scaling.base_odds,
        pdo: f.scaling.pdo,
        intercept: f.intercept,
        characteristic,
    }
}

/// A model `credo evaluate` and `credo monitor` score a table with: a scorecard from
/// `credo fit --out`, or an engine model file whose features are the table's columns
/// by name (what `credo features` writes).
pub enum Scorer {
    Card(CardFile),
    Engine(Box<Model>),
}

/// One characteristic's bin per row, and its bins' names.
pub struct Assigned {
    pub name: String,
    pub bin: Vec<usize>,
    pub labels: Vec<String>,
}

impl Scorer {
    pub fn load(path: &Path) -> Result<Scorer> {
        let text =
            std::fs::read_to_string(path).with_context(|| format!("reading {}", path.display()))?;
        let kind = toml::from_str::<toml::Table>(&text)
            .ok()
            .and_then(|t| t.get("kind").and_then(|k| k.as_str().map(str::to_string)));
        if kind.as_deref() == Some("credo-scorecard") {
            let c: CardFile = toml::from_str(&text)
                .with_context(|| format!("{} is not a valid credo scorecard", path.display()))?;
            Ok(Scorer::Card(c))
        } else {
            let m = Model::parse(&text).with_context(|| {
                format!(
                    "{} is neither a credo scorecard nor a model file",
                    path.display()
                )
            })?;
            Ok(Scorer::Engine(Box::new(m)))
        }
    }

    /// The good value the model was fitted with, if it says.
    pub fn good(&self) -> Option<&str> {
        match self {
            Scorer::Card(c) => Some(&c.good),
            Scorer::Engine(_) => None,
        }
    }

    pub fn scaling(&self) -> Option<ScalingSpec> {
        match self {
            Scorer::Card(c) => Some(ScalingSpec {
                base_points: c.base_points,
                base_odds: c.base_odds,
                pdo: c.pdo,
            }),
            Scorer::Engine(m) => m.scaling,
        }
    }

    /// Every characteristic's bin per row (of an engine model, the features that score:
    /// whose points vary). A characteristic the table lacks is an error naming it.
    pub fn assign(&self, t: &Table) -> Result<Vec<Assigned>> {
        let missing =
            |name: &str| anyhow::anyhow!("the table has no column {name:?}, which the model uses");
        match self {
            Scorer::Card(card) => {
                card.characteristic
                    .iter()
                    .map(|c| {
                        let col = t.column(&c.name).ok_or_else(|| missing(&c.name))?;
                        // A value no bin takes (a NaN where no missing bin was fitted) goes
                        // to the largest bin, as in fitting.
                        let largest = (0..c.bin.len())
                            .max_by_key(|&k| c.bin[k].good + c.bin[k].bad)
                            .unwrap_or(0);
                        let bin = (0..t.rows)
                            .map(|i| {
                                let k = match &col.values {
                                    Values::Numeric(x) if x[i].is_nan() => {
                                        c.bin.iter().position(|b| b.missing)
                                    }
                                    Values::Numeric(x) => c.bin.iter().position(|b| {
                                        !b.missing && b.below.is_none_or(|u| x[i] < u)
                                    }),
                                    Values::Categorical { codes, labels } => {
                                        let l = &labels[codes[i] as usize];
                                        c.bin
                                            .iter()
                                            .position(|b| b.values.contains(l))
                                            .or_else(|| c.bin.iter().position(|b| b.other))
                                    }
                                };
                                k.unwrap_or(largest)
                            })
                            .collect();
                        let labels = c.bin.iter().map(CardBin::label).collect();
                        Ok(Assigned {
                            name: c.name.clone(),
                            bin,
                            labels,
                        })
                    })
                    .collect()
            }
            // A feature whose points never vary (one a fit left out) scores nothing.
            Scorer::Engine(m) => m
                .features
                .iter()
                .filter(|f| f.bins.iter().any(|b| b.1 != f.missing))
                .map(|f| {
                    let x = numeric_column(t, &f.name)?;
                    let missing_bin = f.bins.len();
                    let bin = x
                        .iter()
                        .map(|&v| {
                            if v.is_nan() {
                                missing_bin
                            } else {
                                f.bins
                                    .iter()
                                    .position(|(below, _)| v < *below)
                                    .unwrap_or(missing_bin)
                            }
                        })
                        .collect();
                    let mut labels: Vec<String> = f
                        .bins
                        .iter()
                        .map(|(below, _)| {
                            if below.is_finite() {
                                format!("< {below}")
                            } else {
                                "rest".to_string()
                            }
                        })
                        .collect();
                    labels.push("missing".into());
                    Ok(Assigned {
                        name: f.name.clone(),
                        bin,
                        labels,
                    })
                })
                .collect(),
        }
    }

    /// Every row's score: the sum of its bins' points (a scorecard), or the engine's
    /// score of those feature values (base, clamped to the range and rounded).
    pub fn score(&self, t: &Table) -> Result<Vec<f64>> {
        match self {
            Scorer::Card(card) => {
                let mut total = vec![0.0; t.rows];
                for (c, a) in card.characteristic.iter().zip(self.assign(t)?) {
                    for (s, k) in total.iter_mut().zip(a.bin) {
                        *s += c.bin[k].points;
                    }
                }
                Ok(total)
            }
            Scorer::Engine(m) => {
                let cols = m
                    .features
                    .iter()
                    .map(|f| numeric_column(t, &f.name))
                    .collect::<Result<Vec<_>>>()?;
                let mut values = vec![None; cols.len()];
                Ok((0..t.rows)
                    .map(|i| {
                        for (v, x) in values.iter_mut().zip(&cols) {
                            *v = Some(x[i]).filter(|x| !x.is_nan());
                        }
                        f64::from(credo_score::ScoreCard::value(m, &values))
                    })
                    .collect())
            }
        }
    }
}

fn numeric_column<'t>(t: &'t Table, name: &str) -> Result<&'t [f64]> {
    match t.column(name).map(|c| &c.values) {
        Some(Values::Numeric(x)) => Ok(x),
        Some(Values::Categorical { .. }) => {
            bail!("column {name:?} holds words, but the model's feature {name:?} is a number")
        }
        None => bail!(
            "the table has no column {name:?}, which the model uses (a model's features are read from columns of their names, as `credo features` writes them)"
        ),
    }
}

impl CardBin {
    fn label(&self) -> String {
        if self.missing {
            "missing".into()
        } else if self.other {
            "other".into()
        } else if !self.values.is_empty() {
            self.values.join("|")
        } else {
            match self.below {
                Some(u) => format!("< {u}"),
                None => "rest".into(),
            }
        }
    }
}

pub struct FitArgs<'a> {
    pub file: &'a Path,
    pub target: &'a str,
    pub good: &'a str,
    pub out: Option<&'a Path>,
    pub categorical: &'a [String],
    pub ignore: &'a [String],
    pub engine_model: Option<&'a Path>,
    pub scaling: Option<credo_fit::Scaling>,
    pub bins: credo_fit::BinOptions,
}

pub fn fit(g: &Global, a: &FitArgs) -> Result<ExitCode> {
    let started = Instant::now();
    let t = read_table(
        a.file,
        &Read {
            target: Some((a.target, a.good)),
            categorical: a.categorical,
            ignore: a.ignore,
            skip_identifiers: true,
        },
    )?;
    let read_s = started.elapsed().as_secs_f64();
    if let Some(sc) = a.scaling
        && !(ScalingSpec {
            base_points: sc.base_points,
            base_odds: sc.base_odds,
            pdo: sc.pdo,
        })
        .is_valid()
    {
        bail!("--base-odds and --pdo must be above 0, and all three finite numbers");
    }
    // Without a scaling given, scores fill the range of the model the card is for.
    let model = g.load_model()?;
    if !(0.0..0.5).contains(&a.bins.min_share) {
        bail!("--min-share must be at least 0 and below 0.5");
    }
    if a.bins.max_bins < 2 {
        bail!("--max-bins must be at least 2");
    }
    let o = FitOptions {
        scaling: a.scaling,
        range: (f64::from(model.min), f64::from(model.max)),
        range_base_points: (f64::from(model.min) + f64::from(model.max)) / 2.0,
        ..FitOptions::default()
    };
    let f = credo_fit::fit(&t.chars, &t.bad, &o)?;
    let fit_s = started.elapsed().as_secs_f64() - read_s;
    let scores = f.score_rows(&t.chars);
    let auc_train = auc(&scores, &t.bad);
    let card = card_file(&f, a.target, a.good);
    let provenance = format!("{} ({} rows)", a.file.display(), t.rows);
    let mut capped = None;
    let mut engine_text = None;
    if let Some(p) = a.engine_model {
        let (base_text, base_name) = match &g.model {
            Some(m) => (
                std::fs::read_to_string(m)
                    .with_context(|| format!("reading model file {}", m.display()))?,
                m.display().to_string(),
            ),
            None => (
                credo_score::DEFAULT_MODEL.to_string(),
                "the embedded default model".to_string(),
            ),
        };
        let em = crate::model_out::engine_model(&base_text, &card, &provenance)
            .with_context(|| format!("making an engine model from {base_name}"))?;
        capped = em.capped;
        engine_text = Some((p, em.text));
    }
    // Nothing is written unless everything asked for could be made.
    if let Some((p, text)) = engine_text {
        std::fs::write(p, text).with_context(|| format!("writing {}", p.display()))?;
    }
    if let Some(p) = a.out {
        let text = toml::to_string(&card)?;
        std::fs::write(
            p,
            format!("# credo scorecard fitted on {provenance}\n{text}"),
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
                "dropped_wrong_sign": f.dropped.iter().map(|(n, c)| json!({"name": n, "coef": c})).collect::<Vec<_>>(),
                "skipped": t.skipped.iter().map(|(n, why)| json!({"name": n, "why": why})).collect::<Vec<_>>(),
                "intercept": f.intercept,
                "scaling": {"base_points": f.scaling.base_points, "base_odds": f.scaling.base_odds, "pdo": f.scaling.pdo, "given": a.scaling.is_some()},
                "iterations": f.logit.iterations,
                "converged": f.logit.converged,
                "deviance": f.logit.deviance,
                "train_auc": auc_train,
                "read_s": read_s,
                "fit_s": fit_s,
                "out": a.out.map(|p| p.display().to_string()),
                "engine_model": a.engine_model.map(|p| p.display().to_string()),
                "capped": capped,
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
            auc_train
        );
        println!(
            "Points: {:.0} at odds of {:.2} to 1, {:.1} to double the odds{}.",
            f.scaling.base_points,
            f.scaling.base_odds,
            f.scaling.pdo,
            if a.scaling.is_some() {
                ""
            } else {
                " (the card's lowest and highest possible scores at the ends of the range)"
            }
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
        for (n, c) in &f.dropped {
            println!(
                "  dropped {n}: coefficient {c:+.3} has the wrong sign (it would score against its own evidence)"
            );
        }
        for (n, why) in &t.skipped {
            println!("  skipped {n}: {why}");
        }
        if let Some(p) = a.out {
            println!("Scorecard written to {}.", p.display());
        }
        if let Some(p) = a.engine_model {
            println!(
                "Engine model written to {} (score with it: credo --model {} score ID).",
                p.display(),
                p.display()
            );
            if let Some(c) = &capped {
                println!("  {c}");
            }
        }
    }
    Ok(ExitCode::SUCCESS)
}

pub fn evaluate(
    g: &Global,
    model: &Path,
    file: &Path,
    target: &str,
    good: Option<&str>,
) -> Result<ExitCode> {
    let scorer = Scorer::load(model)?;
    let Some(good) = good.or(scorer.good()) else {
        bail!(
            "{} does not say which outcome is good: give it with --good",
            model.display()
        );
    };
    let t = read_table(
        file,
        &Read {
            target: Some((target, good)),
            ..Read::default()
        },
    )?;
    let scores = scorer.score(&t)?;
    let a = auc(&scores, &t.bad);
    let k = ks(&scores, &t.bad);
    // Bad rate per score decile, and the calibration: the bad rate the model's scaling
    // predicts from the score against the one observed (a hand-set model has none).
    let scaling = scorer.scaling();
    let mut idx: Vec<usize> = (0..scores.len()).collect();
    idx.sort_by(|&x, &y| scores[x].total_cmp(&scores[y]));
    let bands: Vec<serde_json::Value> = (0..10)
        .filter_map(|d| {
            let part = &idx[d * idx.len() / 10..(d + 1) * idx.len() / 10];
            let (first, last) = (part.first()?, part.last()?);
            let bads = part.iter().filter(|&&i| t.bad[i]).count();
            let predicted = scaling.map(|sc| {
                part.iter().map(|&i| sc.bad_rate(scores[i])).sum::<f64>() / part.len() as f64
            });
            Some(json!({
                "from": scores[*first], "to": scores[*last],
                "rows": part.len(), "bad_rate": bads as f64 / part.len() as f64,
                "predicted_bad_rate": predicted,
            }))
        })
        .collect();
    if g.json {
        println!(
            "{}",
            serde_json::to_string_pretty(
                &json!({"rows": t.rows, "auc": a, "gini": 2.0 * a - 1.0, "ks": k, "bands": bands})
            )?
        );
    } else {
        println!(
            "{} rows: AUC {:.3}, Gini {:.3}, KS {:.3}",
            t.rows,
            a,
            2.0 * a - 1.0,
            k
        );
        println!("  score band            rows   bad rate   predicted");
        for b in &bands {
            let predicted = b["predicted_bad_rate"]
                .as_f64()
                .map_or("–".to_string(), |p| format!("{:.1} %", 100.0 * p));
            println!(
                "  {:>7.1} – {:<7.1}  {:>7}   {:>6.1} %    {:>8}",
                b["from"].as_f64().unwrap_or(0.0),
                b["to"].as_f64().unwrap_or(0.0),
                b["rows"],
                100.0 * b["bad_rate"].as_f64().unwrap_or(0.0),
                predicted
            );
        }
    }
    Ok(ExitCode::SUCCESS)
}

/// The usual reading of a population stability index.
pub fn psi_flag(psi: f64) -> &'static str {
    if psi < 0.10 {
        "stable"
    } else if psi < 0.25 {
        "moderate shift"
    } else {
        "significant shift"
    }
}

/// `credo monitor`: how far a population moved from the one a model was built on, over
/// the score (deciles of the base scores) and over each characteristic's bins.
pub fn monitor(g: &Global, model: &Path, base: &Path, now: &Path) -> Result<ExitCode> {
    let scorer = Scorer::load(model)?;
    let read = |p: &Path| read_table(p, &Read::default());
    let (tb, tn) = (read(base)?, read(now)?);
    let (sb, sn) = (scorer.score(&tb)?, scorer.score(&tn)?);
    // Score bins: the deciles of the base scores (ties kept together).
    let mut sorted = sb.clone();
    sorted.sort_by(f64::total_cmp);
    let mut edges: Vec<f64> = (1..10).map(|d| sorted[d * sorted.len() / 10]).collect();
    edges.dedup();
    let count = |scores: &[f64]| {
        let mut c = vec![0u64; edges.len() + 1];
        for s in scores {
            c[edges.partition_point(|e| e <= s)] += 1;
        }
        c
    };
    let (cb, cn) = (count(&sb), count(&sn));
    let score_psi = credo_fit::psi(&cb, &cn);
    let (ab, an) = (scorer.assign(&tb)?, scorer.assign(&tn)?);
    let mut chars = Vec::new();
    for (b, n) in ab.iter().zip(&an) {
        let k = b.labels.len();
        let mut eb = vec![0u64; k];
        let mut en = vec![0u64; k];
        for &i in &b.bin {
            eb[i] += 1;
        }
        for &i in &n.bin {
            en[i] += 1;
        }
        let v = credo_fit::psi(&eb, &en);
        chars.push(json!({
            "name": b.name, "psi": v, "flag": psi_flag(v),
            "bins": b.labels.iter().zip(eb.iter().zip(&en)).map(|(l, (e, a))| json!({
                "bin": l,
                "base_share": *e as f64 / tb.rows as f64,
                "now_share": *a as f64 / tn.rows as f64,
            })).collect::<Vec<_>>(),
        }));
    }
    chars.sort_by(|x, y| {
        y["psi"]
            .as_f64()
            .unwrap_or(0.0)
            .total_cmp(&x["psi"].as_f64().unwrap_or(0.0))
    });
    let worst = chars.first().and_then(|c| c["psi"].as_f64()).unwrap_or(0.0);
    let out = json!({
        "base_rows": tb.rows,
        "now_rows": tn.rows,
        "score": {"psi": score_psi, "flag": psi_flag(score_psi),
            "mean_base": sb.iter().sum::<f64>() / sb.len() as f64,
            "mean_now": sn.iter().sum::<f64>() / sn.len() as f64},
        "characteristics": chars,
        "thresholds": {"stable_below": 0.10, "significant_from": 0.25},
        "flag": psi_flag(score_psi.max(worst)),
    });
    if g.json {
        println!("{}", serde_json::to_string_pretty(&out)?);
    } else {
        println!(
            "{} base rows, {} now: score PSI {:.4} ({}), mean score {:.1} → {:.1}.",
            tb.rows,
            tn.rows,
            score_psi,
            psi_flag(score_psi),
            out["score"]["mean_base"].as_f64().unwrap_or(0.0),
            out["score"]["mean_now"].as_f64().unwrap_or(0.0),
        );
        println!("  characteristic                                           PSI");
        for c in &chars {
            println!(
                "  {:<52} {:>8.4}  {}",
                c["name"].as_str().unwrap_or(""),
                c["psi"].as_f64().unwrap_or(0.0),
                c["flag"].as_str().unwrap_or("")
            );
        }
        println!("  (below 0.10 stable, 0.10–0.25 a moderate shift, from 0.25 a significant one)");
    }
    Ok(ExitCode::SUCCESS)
}

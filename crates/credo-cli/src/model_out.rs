//! `credo fit --engine-model`: a fitted scorecard written as an engine model file, so
//! that the engine scores with it. The features (what is computed from the events, the
//! dimension, the reason code) come from a base model; the points come from the fit.

use crate::fit::CardFile;
use anyhow::{Context, Result, bail};
use credo_score::Model;
use toml::{Table, Value};

pub struct EngineModel {
    pub text: String,
    /// Set when the relationships feature's fitted points were scaled down to its cap.
    pub capped: Option<String>,
}

/// The base model with each fitted characteristic's bins and points in place of its
/// feature's, every feature the fit left out worth 0 points (computed but never a
/// reason), base 0 (the fitted points hold the intercept) and the fit's `[scaling]`.
/// Every characteristic must be a numeric feature of the base model, as the columns of
/// `credo features` are.
pub fn engine_model(base_text: &str, card: &CardFile, provenance: &str) -> Result<EngineModel> {
    let base_model = Model::parse(base_text).context("the base model")?;
    let mut doc: Table = toml::from_str(base_text).context("the base model")?;
    for c in &card.characteristic {
        if !base_model.features.iter().any(|f| f.name == c.name) {
            bail!(
                "characteristic {:?} is not a feature of model {:?}: an engine model can only use the features its base model computes (fit on the CSV `credo features` writes)",
                c.name,
                base_model.name
            );
        }
        if c.bin.iter().any(|b| !b.values.is_empty() || b.other) {
            bail!(
                "characteristic {:?} was binned as categories; engine features are numbers",
                c.name
            );
        }
    }
    let range = f64::from(base_model.max - base_model.min);
    let cap = base_model
        .relationships
        .map(|r| r.max_share * range)
        .unwrap_or(f64::INFINITY);
    let mut capped = None;
    let Some(Value::Array(features)) = doc.get_mut("features") else {
        bail!("the base model has no features");
    };
    for f in features.iter_mut() {
        let Value::Table(f) = f else { continue };
        let name = f
            .get("name")
            .and_then(Value::as_str)
            .unwrap_or("")
            .to_string();
        let relationships = f.get("kind").and_then(Value::as_str) == Some("contacts_standing");
        let (mut bins, mut missing) = match card.characteristic.iter().find(|c| c.name == name) {
            Some(c) => {
                let mut bins: Vec<(Option<f64>, f64)> = c
                    .bin
                    .iter()
                    .filter(|b| !b.missing)
                    .map(|b| (b.below, b.points))
                    .collect();
                if let Some(last) = bins.last_mut() {
                    last.0 = None;
                }
                // No missing value in fitting: a missing one scores as the largest bin
                // (as the scorecard does).
                let missing = c
                    .bin
                    .iter()
                    .find(|b| b.missing)
                    .or_else(|| c.bin.iter().max_by_key(|b| b.good + b.bad))
                    .map_or(0.0, |b| b.points);
                (bins, missing)
            }
            None => (vec![(None, 0.0)], 0.0),
        };
        if relationships {
            // No one may lose more than the cap through contacts: shrink the losses
            // against the best bin proportionally, if the fit spread them wider.
            let best = bins.iter().map(|b| b.1).fold(missing, f64::max);
            let worst = bins.iter().map(|b| b.1).fold(missing, f64::min);
            if best - worst > cap {
                let k = cap / (best - worst);
                for b in &mut bins {
                    b.1 = best - (best - b.1) * k;
                }
                missing = best - (best - missing) * k;
                capped = Some(format!(
                    "feature {name:?}: fitted points spanned {:.1}, scaled to the relationships cap of {cap:.1}",
                    best - worst
                ));
            }
        }
        let round = |x: f64| (x * 100.0).round() / 100.0;
        let bins: Vec<Value> = bins
            .into_iter()
            .map(|(below, points)| {
                let mut t = Table::new();
                if let Some(u) = below {
                    t.insert("below".into(), Value::Float(u));
                }
                t.insert("points".into(), Value::Float(round(points)));
                Value::Table(t)
            })
            .collect();
        f.insert("bins".into(), Value::Array(bins));
        f.insert("missing".into(), Value::Float(round(missing)));
    }
    let name = format!("{}-fitted", base_model.name);
    doc.insert("name".into(), Value::String(name));
    doc.insert("base".into(), Value::Float(0.0));
    let mut scaling = Table::new();
    scaling.insert("base_points".into(), Value::Float(card.base_points));
    scaling.insert("base_odds".into(), Value::Float(card.base_odds));
    scaling.insert("pdo".into(), Value::Float(card.pdo));
    doc.insert("scaling".into(), Value::Table(scaling));
    let text = format!(
        "# credo model: the features of {:?} {}, points fitted on {provenance}\n# (credo fit --engine-model; target {:?}, good {:?})\n{}",
        base_model.name,
        base_model.version,
        card.target,
        card.good,
        toml::to_string(&doc)?
    );
    Model::parse(&text).context("the fitted model does not load (a bug: please report it)")?;
    Ok(EngineModel { text, capped })
}

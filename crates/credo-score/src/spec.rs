//! The model file: features, bins and points, dimensions, range and tiers.
//! See `docs/model.md` for the format.

use crate::signal::{SIGNAL_COUNT, Signal};
use serde::Deserialize;
use std::collections::HashSet;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Deserialize, PartialOrd, Ord)]
#[serde(rename_all = "snake_case")]
pub enum Dimension {
    CreditHistory,
    Behaviour,
    Capacity,
    Identity,
    Relationships,
}

impl Dimension {
    pub const ALL: [Dimension; 5] = [
        Dimension::CreditHistory,
        Dimension::Behaviour,
        Dimension::Capacity,
        Dimension::Identity,
        Dimension::Relationships,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Dimension::CreditHistory => "credit_history",
            Dimension::Behaviour => "behaviour",
            Dimension::Capacity => "capacity",
            Dimension::Identity => "identity",
            Dimension::Relationships => "relationships",
        }
    }

    pub fn index(self) -> usize {
        self as usize
    }
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ModelSpec {
    pub name: String,
    pub version: String,
    pub range: RangeSpec,
    /// Points every subject starts with, before any feature.
    pub base: f64,
    pub tiers: Vec<TierSpec>,
    pub features: Vec<FeatureSpec>,
    /// The contact-graph propagation behind a `contacts_standing` feature.
    pub relationships: Option<RelationshipsSpec>,
    /// How a score maps to odds, for a model fitted on outcomes (`credo fit`).
    pub scaling: Option<ScalingSpec>,
}

/// `[scaling]`: `score = base_points + pdo/ln 2 · ln(odds of good ÷ base_odds)`. A fitted
/// model records it so that a score can be read as a predicted bad rate.
#[derive(Debug, Clone, Copy, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ScalingSpec {
    pub base_points: f64,
    pub base_odds: f64,
    pub pdo: f64,
}

impl ScalingSpec {
    /// Finite numbers, with odds and points-to-double above 0.
    pub fn is_valid(&self) -> bool {
        self.base_odds > 0.0
            && self.pdo > 0.0
            && self.base_points.is_finite()
            && self.base_odds.is_finite()
            && self.pdo.is_finite()
    }

    /// The predicted chance of a bad outcome at a score.
    pub fn bad_rate(&self, score: f64) -> f64 {
        let factor = self.pdo / std::f64::consts::LN_2;
        let offset = self.base_points - factor * self.base_odds.ln();
        1.0 / (1.0 + ((score - offset) / factor).exp())
    }
}

/// `[relationships]`: how the contacts' standing is propagated and how much it may cost.
#[derive(Debug, Clone, Copy, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RelationshipsSpec {
    /// The weight of the contacts' mean in a subject's term (0 ≤ damping < 1).
    pub damping: f64,
    /// A full job stops when no term moved by more than this in a sweep.
    pub tolerance: f64,
    /// Between jobs, a change stops spreading once it moves a term by less than this.
    pub local_tolerance: f64,
    /// The most points anyone can lose through contacts, as a share of the score range.
    pub max_share: f64,
}

#[derive(Debug, Clone, Copy, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RangeSpec {
    pub min: u16,
    pub max: u16,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TierSpec {
    pub name: String,
    pub min: u16,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FeatureSpec {
    pub name: String,
    pub dimension: Dimension,
    pub kind: String,
    #[serde(default)]
    pub signals: Vec<Signal>,
    pub months: Option<u32>,
    pub half_life_days: Option<f64>,
    pub of: Option<String>,
    pub part: Option<String>,
    pub rest: Option<String>,
    pub bins: Vec<BinSpec>,
    /// Points when the feature has no value (e.g. "days since" something that never happened).
    pub missing: Option<f64>,
    pub reason: ReasonSpec,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct BinSpec {
    /// The bin holds values strictly below this bound; the last bin has none.
    pub below: Option<f64>,
    pub points: f64,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ReasonSpec {
    pub code: String,
    pub text: String,
}

/// A current-state quantity kept per subject.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StateVar {
    OverdueBillAmount,
    LoanBalance,
    UnpaidJudgmentAmount,
    UnpaidJudgments,
    OpenRentals,
    Contacts,
}

/// A fact read from the subject's identity and record.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ProfileVar {
    /// Age in whole years, from the resident ID's birth date; none for companies.
    Age,
    /// How many of name, address, phone and industry the record carries (0–4).
    IdentityCompleteness,
}

/// How a feature is computed from the signals.
#[derive(Debug, Clone, PartialEq)]
pub enum Aggregate {
    /// Number of signals in the last `months` calendar months (the as-of month included).
    WindowCount {
        months: u32,
    },
    /// Sum of signal values in the last `months` calendar months.
    WindowSum {
        months: u32,
    },
    /// Exponentially decayed count with the given half-life.
    DecayedCount {
        half_life_days: f64,
    },
    /// Exponentially decayed sum of values.
    DecayedSum {
        half_life_days: f64,
    },
    /// Days since the latest signal; none if there was none.
    DaysSinceLast,
    /// Whole months since the subject's first event of any kind; none before it.
    HistoryMonths,
    State(StateVar),
    Profile(ProfileVar),
    /// `part / (part + rest)` of two earlier features; none when both are zero.
    Share {
        part: usize,
        rest: usize,
    },
    /// The mean propagated term (0–1) of the subject's contacts, from the contact graph
    /// (`credo-graph`); none without contacts. The scoring state does not hold it: the
    /// engine fills it in.
    ContactsStanding,
}

#[derive(Debug, Clone)]
pub struct Feature {
    pub name: String,
    pub dimension: Dimension,
    pub signals: Vec<Signal>,
    pub aggregate: Aggregate,
    pub bins: Vec<(f64, f64)>,
    pub missing: f64,
    pub max_points: f64,
    pub code: String,
    pub text: String,
}

impl Feature {
    /// Points for a value: the first bin whose bound is above it.
    pub fn points(&self, value: Option<f64>) -> f64 {
        match value {
            None => self.missing,
            Some(v) => self
                .bins
                .iter()
                .find(|(below, _)| v < *below)
                .map_or(self.missing, |(_, p)| *p),
        }
    }
}

/// A validated, compiled model.
#[derive(Debug, Clone)]
pub struct Model {
    pub name: String,
    pub version: String,
    pub min: u16,
    pub max: u16,
    pub base: f64,
    pub tiers: Vec<(String, u16)>,
    pub features: Vec<Feature>,
    /// For each signal, the features it feeds.
    pub by_signal: [Vec<usize>; SIGNAL_COUNT],
    /// The most points each dimension can give.
    pub dimension_max: [f64; 5],
    /// A hash of the model text, recorded with every score.
    pub fingerprint: u64,
    /// The propagation's settings, when a feature is `contacts_standing`.
    pub relationships: Option<RelationshipsSpec>,
    /// The index of the `contacts_standing` feature, if any.
    pub contacts_standing: Option<usize>,
    pub scaling: Option<ScalingSpec>,
}

#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum ModelError {
    #[error("model file is not valid TOML for a model: {0}")]
    Syntax(String),
    #[error("feature {feature:?}: {problem}")]
    Feature { feature: String, problem: String },
    #[error("model: {0}")]
    Model(String),
}

/// Checks `[relationships]` against the `contacts_standing` feature; returns its index.
fn relationships(
    spec: &Option<RelationshipsSpec>,
    features: &[Feature],
    range: u16,
) -> Result<Option<usize>, ModelError> {
    let mut found = features
        .iter()
        .enumerate()
        .filter(|(_, f)| f.aggregate == Aggregate::ContactsStanding);
    let at = found.next();
    if let Some((_, f)) = found.next() {
        return Err(ferr(
            &f.name,
            "only one feature may be of kind \"contacts_standing\"",
        ));
    }
    let bad = |what: &str, v: f64| {
        Err(ModelError::Model(format!(
            "[relationships] {what} {v} is out of range"
        )))
    };
    match (spec, at) {
        (None, None) => Ok(None),
        (None, Some((_, f))) => Err(ferr(
            &f.name,
            "kind \"contacts_standing\" needs a [relationships] section",
        )),
        (Some(_), None) => Err(ModelError::Model(
            "[relationships] is set but no feature is of kind \"contacts_standing\"".into(),
        )),
        (Some(r), Some((i, f))) => {
            if !(0.0..1.0).contains(&r.damping) {
                return bad("damping (0 to below 1)", r.damping);
            }
            if !(r.tolerance > 0.0 && r.tolerance < 1.0) {
                return bad("tolerance (above 0, below 1)", r.tolerance);
            }
            if !(r.local_tolerance > 0.0 && r.local_tolerance < 1.0) {
                return bad("local_tolerance (above 0, below 1)", r.local_tolerance);
            }
            if !(r.max_share > 0.0 && r.max_share <= 0.5) {
                return bad("max_share (above 0, at most 0.5)", r.max_share);
            }
            let least = f.bins.iter().map(|b| b.1).fold(f.missing, f64::min);
            let spread = f.max_points - least;
            let cap = r.max_share * f64::from(range);
            if spread > cap + 1e-9 {
                return Err(ferr(
                    &f.name,
                    format!(
                        "its points span {spread}, more than max_share {} of the range ({cap} points): no one may lose more than that through contacts",
                        r.max_share
                    ),
                ));
            }
            Ok(Some(i))
        }
    }
}

fn ferr(feature: &str, problem: impl Into<String>) -> ModelError {
    ModelError::Feature {
        feature: feature.to_string(),
        problem: problem.into(),
    }
}

impl Model {
    pub fn parse(text: &str) -> Result<Model, ModelError> {
        let spec: ModelSpec =
            toml::from_str(text).map_err(|e| ModelError::Syntax(e.to_string()))?;
        Model::compile(spec, xxhash_rust::xxh3::xxh3_64(text.as_bytes()))
    }

    pub fn default_model() -> Model {
        #[expect(
            clippy::expect_used,
            reason = "the embedded default is checked by a unit test"
        )]
        Model::parse(crate::DEFAULT_MODEL).expect("the embedded default model is valid")
    }

    pub fn compile(spec: ModelSpec, fingerprint: u64) -> Result<Model, ModelError> {
        if spec.range.min >= spec.range.max {
            return Err(ModelError::Model(format!(
                "range min {} must be below max {}",
                spec.range.min, spec.range.max
            )));
        }
        if spec.tiers.is_empty() {
            return Err(ModelError::Model("at least one tier is needed".into()));
        }
        if spec.tiers[0].min > spec.range.min {
            return Err(ModelError::Model(format!(
                "the first tier {:?} starts at {} but scores start at {}",
                spec.tiers[0].name, spec.tiers[0].min, spec.range.min
            )));
        }
        for w in spec.tiers.windows(2) {
            if w[1].min <= w[0].min {
                return Err(ModelError::Model(format!(
                    "tier {:?} must start above tier {:?}",
                    w[1].name, w[0].name
                )));
            }
        }
        if !spec.base.is_finite() {
            return Err(ModelError::Model("base must be a finite number".into()));
        }
        let mut names: Vec<String> = Vec::new();
        let mut codes = HashSet::new();
        let mut features = Vec::with_capacity(spec.features.len());
        for f in &spec.features {
            let n = f.name.as_str();
            if n.is_empty()
                || !n
                    .bytes()
                    .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_')
            {
                return Err(ferr(n, "name must be lower-case letters, digits and '_'"));
            }
            if names.iter().any(|x| x == n) {
                return Err(ferr(n, "defined twice"));
            }
            if !codes.insert(f.reason.code.clone()) {
                return Err(ferr(
                    n,
                    format!("reason code {:?} is used by another feature", f.reason.code),
                ));
            }
            let need_signals = |agg: Aggregate| -> Result<Aggregate, ModelError> {
                if f.signals.is_empty() {
                    Err(ferr(
                        n,
                        format!("kind {:?} needs a non-empty `signals` list", f.kind),
                    ))
                } else {
                    Ok(agg)
                }
            };
            let months = || -> Result<u32, ModelError> {
                match f.months {
                    Some(m) if (1..=36).contains(&m) => Ok(m),
                    Some(m) => Err(ferr(n, format!("months must be 1 to 36, found {m}"))),
                    None => Err(ferr(n, format!("kind {:?} needs `months`", f.kind))),
                }
            };
            let half_life = || -> Result<f64, ModelError> {
                match f.half_life_days {
                    Some(h) if h.is_finite() && h >= 1.0 => Ok(h),
                    Some(h) => Err(ferr(
                        n,
                        format!("half_life_days must be at least 1, found {h}"),
                    )),
                    None => Err(ferr(n, format!("kind {:?} needs `half_life_days`", f.kind))),
                }
            };
            let earlier = |field: &Option<String>, what: &str| -> Result<usize, ModelError> {
                let name = field
                    .as_deref()
                    .ok_or_else(|| ferr(n, format!("kind \"share\" needs `{what}`")))?;
                names.iter().position(|x| x == name).ok_or_else(|| {
                    ferr(
                        n,
                        format!("`{what}` names {name:?}, which is not an earlier feature"),
                    )
                })
            };
            let aggregate = match f.kind.as_str() {
                "window_count" => need_signals(Aggregate::WindowCount { months: months()? })?,
                "window_sum" => need_signals(Aggregate::WindowSum { months: months()? })?,
                "decayed_count" => need_signals(Aggregate::DecayedCount {
                    half_life_days: half_life()?,
                })?,
                "decayed_sum" => need_signals(Aggregate::DecayedSum {
                    half_life_days: half_life()?,
                })?,
                "days_since_last" => need_signals(Aggregate::DaysSinceLast)?,
                "history_months" => Aggregate::HistoryMonths,
                "state" => Aggregate::State(match f.of.as_deref() {
                    Some("overdue_bill_amount") => StateVar::OverdueBillAmount,
                    Some("loan_balance") => StateVar::LoanBalance,
                    Some("unpaid_judgment_amount") => StateVar::UnpaidJudgmentAmount,
                    Some("unpaid_judgments") => StateVar::UnpaidJudgments,
                    Some("open_rentals") => StateVar::OpenRentals,
                    Some("contacts") => StateVar::Contacts,
                    other => {
                        return Err(ferr(
                            n,
                            format!(
                                "unknown state {:?}; expected one of overdue_bill_amount, loan_balance, unpaid_judgment_amount, unpaid_judgments, open_rentals, contacts",
                                other.unwrap_or("")
                            ),
                        ));
                    }
                }),
                "profile" => Aggregate::Profile(match f.of.as_deref() {
                    Some("age") => ProfileVar::Age,
                    Some("identity_completeness") => ProfileVar::IdentityCompleteness,
                    other => {
                        return Err(ferr(
                            n,
                            format!(
                                "unknown profile field {:?}; expected age or identity_completeness",
                                other.unwrap_or("")
                            ),
                        ));
                    }
                }),
                "share" => Aggregate::Share {
                    part: earlier(&f.part, "part")?,
                    rest: earlier(&f.rest, "rest")?,
                },
                "contacts_standing" => Aggregate::ContactsStanding,
                other => {
                    return Err(ferr(
                        n,
                        format!(
                            "unknown kind {other:?}; expected window_count, window_sum, decayed_count, decayed_sum, days_since_last, history_months, state, profile, share or contacts_standing"
                        ),
                    ));
                }
            };
            if f.bins.is_empty() {
                return Err(ferr(n, "needs at least one bin"));
            }
            let mut bins = Vec::with_capacity(f.bins.len());
            let mut prev = f64::NEG_INFINITY;
            for (i, b) in f.bins.iter().enumerate() {
                let last = i + 1 == f.bins.len();
                if !b.points.is_finite() {
                    return Err(ferr(n, format!("bin {} has non-finite points", i + 1)));
                }
                let bound = match (b.below, last) {
                    (Some(x), false) if x.is_finite() && x > prev => x,
                    (Some(x), false) => {
                        return Err(ferr(
                            n,
                            format!(
                                "bin {} bound {x} must be finite and above the previous one",
                                i + 1
                            ),
                        ));
                    }
                    (None, true) => f64::INFINITY,
                    (Some(_), true) => {
                        return Err(ferr(
                            n,
                            "the last bin must have no `below` (it catches the rest)",
                        ));
                    }
                    (None, false) => return Err(ferr(n, format!("bin {} needs `below`", i + 1))),
                };
                prev = bound;
                bins.push((bound, b.points));
            }
            let missing = f.missing.unwrap_or(0.0);
            if !missing.is_finite() {
                return Err(ferr(n, "missing points must be finite"));
            }
            let max_points = bins.iter().map(|b| b.1).fold(missing, f64::max);
            names.push(n.to_string());
            features.push(Feature {
                name: n.to_string(),
                dimension: f.dimension,
                signals: f.signals.clone(),
                aggregate,
                bins,
                missing,
                max_points,
                code: f.reason.code.clone(),
                text: f.reason.text.clone(),
            });
        }
        let mut by_signal: [Vec<usize>; SIGNAL_COUNT] = Default::default();
        for (i, f) in features.iter().enumerate() {
            for s in &f.signals {
                if !by_signal[*s as usize].contains(&i) {
                    by_signal[*s as usize].push(i);
                }
            }
        }
        let mut dimension_max = [0.0; 5];
        for f in &features {
            dimension_max[f.dimension.index()] += f.max_points;
        }
        if let Some(sc) = &spec.scaling
            && !sc.is_valid()
        {
            return Err(ModelError::Model(format!(
                "[scaling] needs base_odds and pdo above 0 and finite numbers, not {sc:?}"
            )));
        }
        let contacts_standing = relationships(
            &spec.relationships,
            &features,
            spec.range.max - spec.range.min,
        )?;
        Ok(Model {
            name: spec.name,
            version: spec.version,
            min: spec.range.min,
            max: spec.range.max,
            base: spec.base,
            tiers: spec.tiers.into_iter().map(|t| (t.name, t.min)).collect(),
            features,
            by_signal,
            dimension_max,
            fingerprint,
            relationships: spec.relationships,
            contacts_standing,
            scaling: spec.scaling,
        })
    }

    pub fn tier(&self, score: u16) -> &str {
        self.tiers
            .iter()
            .rev()
            .find(|(_, min)| score >= *min)
            .map_or("", |(n, _)| n.as_str())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn default_model_is_valid() {
        let m = Model::default_model();
        assert_eq!((m.min, m.max), (350, 950));
        for d in Dimension::ALL {
            assert!(
                m.features.iter().any(|f| f.dimension == d),
                "no feature in {}",
                d.as_str()
            );
        }
        // The best possible subject reaches the top of the range and the worst the bottom.
        let best: f64 = m.base + m.features.iter().map(|f| f.max_points).sum::<f64>();
        assert!((best - f64::from(m.max)).abs() < 1.0, "best {best}");
        let worst: f64 = m.base
            + m.features
                .iter()
                .map(|f| f.bins.iter().map(|b| b.1).fold(f.missing, f64::min))
                .sum::<f64>();
        assert!(worst <= f64::from(m.min), "worst {worst}");
    }

    fn with_feature(f: &str) -> String {
        format!(
            "name='t'\nversion='1'\nbase=500\nrange={{min=350,max=950}}\ntiers=[{{name='all',min=350}}]\n[[features]]\nname='x'\ndimension='behaviour'\n{f}\nreason={{code='X1',text='x'}}\n"
        )
    }

    #[test]
    fn the_contacts_term_is_bounded_by_its_share_of_the_range() {
        let feature = |bins: &str| {
            with_feature(&format!(
                "kind='contacts_standing'\nmissing=30\nbins={bins}"
            ))
        };
        let section =
            "[relationships]\ndamping=0.5\ntolerance=1e-9\nlocal_tolerance=1e-4\nmax_share=0.05\n";
        // 30 points is 5 % of 600: allowed.
        let ok = feature("[{below=0.3,points=0},{points=30}]") + section;
        let m = Model::parse(&ok).unwrap();
        assert_eq!(m.contacts_standing, Some(0));
        // 40 points is more than the cap.
        let e =
            Model::parse(&(feature("[{below=0.3,points=-10},{points=30}]") + section)).unwrap_err();
        assert!(e.to_string().contains("more than max_share 0.05"), "{e}");
        // The kind needs the section, and the section needs the kind.
        let e = Model::parse(&feature("[{points=30}]")).unwrap_err();
        assert!(
            e.to_string().contains("needs a [relationships] section"),
            "{e}"
        );
        let e = Model::parse(&(with_feature("kind='history_months'\nbins=[{points=1}]") + section))
            .unwrap_err();
        assert!(e.to_string().contains("no feature is of kind"), "{e}");
        let e = Model::parse(&ok.replace("damping=0.5", "damping=1.0")).unwrap_err();
        assert!(e.to_string().contains("damping"), "{e}");
    }

    #[test]
    fn errors_name_the_feature_and_problem() {
        let e = Model::parse(&with_feature(
            "kind='window_count'\nsignals=['bill_late']\nbins=[{points=1}]",
        ))
        .unwrap_err();
        assert_eq!(
            e.to_string(),
            "feature \"x\": kind \"window_count\" needs `months`"
        );
        let e = Model::parse(&with_feature("kind='decayed_sum'\nsignals=['payment']\nhalf_life_days=30\nbins=[{below=5,points=1},{below=2,points=0},{points=3}]")).unwrap_err();
        assert!(
            e.to_string()
                .contains("bin 2 bound 2 must be finite and above"),
            "{e}"
        );
        let e = Model::parse(&with_feature(
            "kind='window_count'\nsignals=['no_such']\nmonths=3\nbins=[{points=1}]",
        ))
        .unwrap_err();
        assert!(
            matches!(e, ModelError::Syntax(ref s) if s.contains("no_such")),
            "{e}"
        );
        let e = Model::parse(&with_feature(
            "kind='share'\npart='a'\nrest='b'\nbins=[{points=1}]",
        ))
        .unwrap_err();
        assert!(e.to_string().contains("not an earlier feature"), "{e}");
        let e = Model::parse(&with_feature(
            "kind='state'\nof='wealth'\nbins=[{points=1}]",
        ))
        .unwrap_err();
        assert!(e.to_string().contains("unknown state \"wealth\""), "{e}");
    }

    #[test]
    fn bins_pick_the_first_bound_above() {
        let m = Model::parse(&with_feature(
            "kind='window_count'\nsignals=['bill_late']\nmonths=12\nbins=[{below=1,points=50},{below=3,points=20},{points=0}]\nmissing=7",
        ))
        .unwrap();
        let f = &m.features[0];
        assert_eq!(f.points(Some(0.0)), 50.0);
        assert_eq!(f.points(Some(1.0)), 20.0);
        assert_eq!(f.points(Some(2.99)), 20.0);
        assert_eq!(f.points(Some(1e9)), 0.0);
        assert_eq!(f.points(None), 7.0);
        assert_eq!(f.max_points, 50.0);
    }
}

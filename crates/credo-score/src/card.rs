//! From feature values to a score: points per bin, the base, the range, the tier, the
//! five dimensions and up to four reason codes.

use crate::spec::{Dimension, Model};
use crate::state::ScoreState;
use credo_model::{Day, SubjectId};

#[derive(Debug, Clone, PartialEq)]
pub struct ScoreCard {
    pub score: u16,
    pub tier: String,
    pub as_of: Day,
    pub dimensions: Vec<DimensionScore>,
    /// At most four, the factors that cost the most points first.
    pub reasons: Vec<Reason>,
    pub features: Vec<FeatureValue>,
}

#[derive(Debug, Clone, PartialEq)]
pub struct DimensionScore {
    pub dimension: Dimension,
    pub points: f64,
    pub max_points: f64,
    /// Points earned as a share of the most the dimension can give, 0–100.
    pub percent: u8,
}

#[derive(Debug, Clone, PartialEq)]
pub struct Reason {
    pub code: String,
    pub text: String,
    pub feature: String,
    pub value: Option<f64>,
    /// Points lost against the feature's best bin.
    pub lost: f64,
}

#[derive(Debug, Clone, PartialEq)]
pub struct FeatureValue {
    pub name: String,
    pub value: Option<f64>,
    pub points: f64,
}

/// The most reason codes an answer carries (as in US adverse-action notices).
pub const MAX_REASONS: usize = 4;

impl ScoreCard {
    /// Scores a subject from the incremental state.
    pub fn from_state(
        model: &Model,
        state: &ScoreState,
        s: u32,
        id: SubjectId,
        as_of: Day,
    ) -> ScoreCard {
        let values = state.features(model, s, id, as_of);
        let as_of = state.last_day(s).map_or(as_of, |l| l.max(as_of));
        ScoreCard::from_values(model, &values, as_of)
    }

    /// Only the score of a vector of feature values: no reasons, no allocation.
    pub fn value(model: &Model, values: &[Option<f64>]) -> u16 {
        let total: f64 = model.base
            + model
                .features
                .iter()
                .zip(values)
                .map(|(f, v)| f.points(*v))
                .sum::<f64>();
        total
            .round()
            .clamp(f64::from(model.min), f64::from(model.max)) as u16
    }

    /// A subject's own standing for the relationships propagation: the score without the
    /// `contacts_standing` feature, as a share (0 to 1) of the range. No allocation.
    pub fn standing(model: &Model, values: &[Option<f64>]) -> f64 {
        let total: f64 = model.base
            + model
                .features
                .iter()
                .zip(values)
                .enumerate()
                .filter(|(i, _)| Some(*i) != model.contacts_standing)
                .map(|(_, (f, v))| f.points(*v))
                .sum::<f64>();
        let (lo, hi) = (f64::from(model.min), f64::from(model.max));
        ((total - lo) / (hi - lo)).clamp(0.0, 1.0)
    }

    /// The share (0 to 1) of a dimension's most points that the values earn: no allocation.
    pub fn dimension_share(model: &Model, values: &[Option<f64>], d: Dimension) -> f64 {
        let max = model.dimension_max[d.index()];
        if max <= 0.0 {
            return 0.0;
        }
        let pts: f64 = model
            .features
            .iter()
            .zip(values)
            .filter(|(f, _)| f.dimension == d)
            .map(|(f, v)| f.points(*v))
            .sum();
        (pts / max).clamp(0.0, 1.0)
    }

    /// The reason codes of these values: (feature index, points lost against its best
    /// bin), the costliest first, at most four. The score card's reasons, and what a
    /// decision needs of a deny without building the card.
    pub fn top_reasons(model: &Model, values: &[Option<f64>]) -> Vec<(usize, f64)> {
        let mut losses: Vec<(f64, usize)> = model
            .features
            .iter()
            .enumerate()
            .filter_map(|(i, f)| {
                let lost = f.max_points - f.points(values.get(i).copied().flatten());
                (lost > 1e-9).then_some((lost, i))
            })
            .collect();
        // Largest loss first; ties keep model order, so the answer is deterministic.
        losses.sort_by(|a, b| b.0.total_cmp(&a.0).then(a.1.cmp(&b.1)));
        losses
            .into_iter()
            .take(MAX_REASONS)
            .map(|(lost, i)| (i, lost))
            .collect()
    }

    /// Scores a vector of feature values (one per model feature, in model order).
    pub fn from_values(model: &Model, values: &[Option<f64>], as_of: Day) -> ScoreCard {
        let mut total = model.base;
        let mut dims = [0.0f64; 5];
        let mut features = Vec::with_capacity(model.features.len());
        for (i, f) in model.features.iter().enumerate() {
            let value = values.get(i).copied().flatten();
            let points = f.points(value);
            total += points;
            dims[f.dimension.index()] += points;
            features.push(FeatureValue {
                name: f.name.clone(),
                value,
                points,
            });
        }
        let reasons = Self::top_reasons(model, values)
            .into_iter()
            .map(|(i, lost)| {
                let f = &model.features[i];
                Reason {
                    code: f.code.clone(),
                    text: f.text.clone(),
                    feature: f.name.clone(),
                    value: features[i].value,
                    lost,
                }
            })
            .collect();
        let score = total
            .round()
            .clamp(f64::from(model.min), f64::from(model.max)) as u16;
        let dimensions = Dimension::ALL
            .iter()
            .map(|&d| {
                let max = model.dimension_max[d.index()];
                let pts = dims[d.index()];
                let percent = if max > 0.0 {
                    (100.0 * pts / max).round().clamp(0.0, 100.0) as u8
                } else {
                    0
                };
                DimensionScore {
                    dimension: d,
                    points: pts,
                    max_points: max,
                    percent,
                }
            })
            .collect();
        ScoreCard {
            score,
            tier: model.tier(score).to_string(),
            as_of,
            dimensions,
            reasons,
            features,
        }
    }
}

#[cfg(test)]
mod reason_tests {
    use super::*;
    use proptest::prelude::*;

    proptest! {
        // The lean path for decisions picks the same reasons as the full score card.
        #[test]
        fn top_reasons_match_the_card(raw in proptest::collection::vec(proptest::option::of(-10.0f64..5000.0), 17)) {
            let model = Model::default_model();
            let values: Vec<Option<f64>> = raw.into_iter().take(model.features.len()).collect();
            let card = ScoreCard::from_values(&model, &values, Day(20_000));
            let lean: Vec<&str> = ScoreCard::top_reasons(&model, &values).iter().map(|&(i, _)| model.features[i].code.as_str()).collect();
            let full: Vec<&str> = card.reasons.iter().map(|r| r.code.as_str()).collect();
            prop_assert_eq!(lean, full);
            let share = ScoreCard::dimension_share(&model, &values, Dimension::Capacity);
            let cap = card.dimensions.iter().find(|d| d.dimension == Dimension::Capacity).unwrap();
            prop_assert!((share * 100.0 - cap.points / cap.max_points * 100.0).abs() < 1e-9);
        }
    }
}

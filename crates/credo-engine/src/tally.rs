//! A folder's aggregates in a form that adds up across a cluster's partitions.
//!
//! `/v1/stats` shows counts, the mean and median score, the 50-point bands and the tiers.
//! A mean of means or a median of medians is not the whole's, so each partition gives its
//! counts and the number of its subjects at every score ([`Engine::tally`]); the sum of
//! the partitions' tallies ([`Tally::add`]) gives exactly the figures of one machine that
//! holds them all (`tests/tally.rs`).

use crate::Engine;
use credo_model::Day;
use credo_score::Model;
use serde::{Deserialize, Serialize};

/// Counts of one folder, or the sum of several.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Tally {
    /// The day the scores are as of (`YYYY-MM-DD`).
    pub as_of: String,
    /// The model's name and version.
    pub model: String,
    pub subjects: u64,
    pub companies: u64,
    /// Events in the log, each counted once across partitions: a contact filed in both
    /// of its ends' partitions counts in its `subject`'s.
    pub events: u64,
    /// The lowest score: `scores[i]` is the number of subjects scoring `min + i`.
    pub min: u16,
    pub scores: Vec<u64>,
    /// Subjects with an unpaid judgment.
    pub with_unpaid_judgments: u64,
    /// Subjects on the public list as of `as_of`.
    pub listed: u64,
}

/// Two tallies that do not add up: another day, model or score range.
#[derive(Debug, thiserror::Error)]
#[error("tallies differ in {0}: they cannot be added")]
pub struct TallyMismatch(&'static str);

impl Tally {
    /// Adds another folder's counts (same day, model and score range).
    pub fn add(&mut self, o: &Tally) -> Result<(), TallyMismatch> {
        if o.as_of != self.as_of {
            return Err(TallyMismatch("their day"));
        }
        if o.model != self.model {
            return Err(TallyMismatch("their model"));
        }
        if (o.min, o.scores.len()) != (self.min, self.scores.len()) {
            return Err(TallyMismatch("their score range"));
        }
        self.subjects += o.subjects;
        self.companies += o.companies;
        self.events += o.events;
        for (a, b) in self.scores.iter_mut().zip(&o.scores) {
            *a += b;
        }
        self.with_unpaid_judgments += o.with_unpaid_judgments;
        self.listed += o.listed;
        Ok(())
    }

    /// Subjects scored (every subject has a score).
    pub fn scored(&self) -> u64 {
        self.scores.iter().sum()
    }

    /// `(score, subjects)` for every score held by at least one subject.
    fn held(&self) -> impl Iterator<Item = (u16, u64)> + '_ {
        (self.min..)
            .zip(self.scores.iter().copied())
            .filter(|&(_, n)| n > 0)
    }

    /// The mean score (0 with no subjects). Sums of whole scores are exact in `f64` up
    /// to 2^53, so this is the same number as summing every subject's score.
    pub fn mean(&self) -> f64 {
        let n = self.scored();
        if n == 0 {
            return 0.0;
        }
        let sum: f64 = self.held().map(|(s, k)| f64::from(s) * k as f64).sum();
        sum / n as f64
    }

    /// The score at index `n / 2` of all scores sorted (0 with no subjects).
    pub fn median(&self) -> u16 {
        let mut rank = self.scored() / 2;
        for (s, k) in self.held() {
            if rank < k {
                return s;
            }
            rank -= k;
        }
        0
    }

    /// `(low, high, subjects)` in 50-point bands from the model's minimum; the last band
    /// includes the maximum.
    pub fn bands(&self, model: &Model) -> Vec<(u16, u16, u64)> {
        let mut out = Vec::new();
        let mut lo = model.min;
        while lo < model.max {
            let hi = (lo + 50).min(model.max);
            let n = self
                .held()
                .filter(|&(s, _)| s >= lo && (s < hi || (hi == model.max && s == hi)))
                .map(|(_, k)| k)
                .sum();
            out.push((lo, hi, n));
            lo = hi;
        }
        out
    }

    /// Subjects per tier of the model, in the model's order.
    pub fn tiers(&self, model: &Model) -> Vec<(String, u64)> {
        model
            .tiers
            .iter()
            .map(|(name, _)| {
                let n = self
                    .held()
                    .filter(|&(s, _)| model.tier(s) == name)
                    .map(|(_, k)| k)
                    .sum();
                (name.clone(), n)
            })
            .collect()
    }
}

impl Engine {
    /// This folder's counts as of `as_of` (default today), to show or to add to other
    /// partitions'.
    pub fn tally(&self, as_of: Option<Day>) -> Tally {
        let as_of = as_of.unwrap_or_else(|| self.today());
        let c = &self.core;
        let model = &c.model;
        let mut scores = vec![0u64; usize::from(model.max.saturating_sub(model.min)) + 1];
        for s in self.all_scores(as_of) {
            let i = usize::from(s.clamp(model.min, model.max) - model.min);
            scores[i] += 1;
        }
        let with_unpaid = (0..c.subjects.len() as u32)
            .filter(|&i| c.state.judgments(i).0 > 0)
            .count();
        Tally {
            as_of: as_of.to_string(),
            model: format!("{} {}", model.name, model.version),
            subjects: c.subjects.len() as u64,
            companies: c.subjects.keys.iter().filter(|&&k| k >> 127 == 1).count() as u64,
            events: c.events - c.foreign_contacts,
            min: model.min,
            scores,
            with_unpaid_judgments: with_unpaid as u64,
            listed: self.listed_count(as_of) as u64,
        }
    }
}

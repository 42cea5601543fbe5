//! The whole population at once, for analysts: every subject's feature values (`credo
//! features`, the input of a fit) and every subject's lot under the model and policies
//! in force (`credo simulate` compares two such runs).

use crate::court::Facts;
use crate::engine::Engine;
use credo_model::{Day, SubjectId};
use credo_rules::{SubjectFacts, decide};
use rayon::prelude::*;

/// One subject under the model and the policies in force on a day.
#[derive(Debug, Clone, PartialEq)]
pub struct Lot {
    pub id: SubjectId,
    pub score: u16,
    /// The capacity dimension's share of its maximum points, 0 to 1.
    pub capacity: f64,
    /// The region of the address of record (else of the ID); 0 when unknown.
    pub region: u32,
    /// Per action asked for, in order: allowed, denied, or `None` when the action is
    /// neither catalogued nor an offer in force.
    pub allowed: Vec<Option<bool>>,
}

impl Engine {
    /// The feature values of subjects `from..to` (index order) as of `as_of`, the
    /// contacts' term included: what the model scores. Computed on all cores.
    pub fn feature_rows(
        &self,
        from: usize,
        to: usize,
        as_of: Day,
    ) -> Vec<(SubjectId, Vec<Option<f64>>)> {
        let core = &self.core;
        let to = to.min(core.subjects.len());
        (from.min(to)..to)
            .into_par_iter()
            .filter_map(|i| {
                let s = i as u32;
                let id = core.subjects.id(s)?;
                let mut v = Vec::new();
                core.features_into(s, id, as_of, &mut v);
                Some((id, v))
            })
            .collect()
    }

    /// Every subject's score, capacity, region and answers to `actions` as of `as_of`,
    /// under the model and the policies in force, in index order (all cores). The answers
    /// are those `check` gives, one at a time.
    pub fn lots(&self, as_of: Day, actions: &[String]) -> Vec<Lot> {
        let core = &self.core;
        (0..core.subjects.len() as u32)
            .into_par_iter()
            .filter_map(|s| {
                let id = core.subjects.id(s)?;
                let mut facts = Facts {
                    core,
                    s,
                    id,
                    as_of,
                    values: None,
                };
                let allowed = actions
                    .iter()
                    .map(|a| {
                        decide(
                            a,
                            core.court.get(s),
                            &core.court.config,
                            &self.policies,
                            &mut facts,
                            as_of,
                        )
                        .ok()
                        .map(|d| d.outcome == credo_rules::Outcome::Allow)
                    })
                    .collect();
                Some(Lot {
                    id,
                    score: facts.score(),
                    capacity: facts.capacity(),
                    region: core.region_of(s),
                    allowed,
                })
            })
            .collect()
    }

    /// Replaces the offer policies for this process only (nothing is written): what
    /// `credo simulate --policies` runs under. The file is checked as `install_policies`
    /// checks it.
    pub fn use_policies(&mut self, file: &str, text: &str) -> Result<usize, crate::EngineError> {
        let set = self.parse_policies(file, text)?;
        let n = set.len();
        self.policies = set;
        Ok(n)
    }
}

//! The relationships dimension: each subject's own standing (its score without the
//! contacts' term, as a share of the range) propagated over the contact graph
//! (`credo-graph`), and the mean term of its contacts read by the `contacts_standing`
//! feature.
//!
//! A full job runs on open, when the day has turned since the last one, when many
//! contacts changed, and on request ([`Engine::propagate_relations`], `credo graph
//! propagate`). Between jobs, the subjects an ingest touched get their standing again and
//! the changes spread by local pushes ([`credo_graph::Relations::settle`]), within the
//! model's `local_tolerance`. Score history keeps the event-driven score: a month's
//! closing score is recorded without the contacts' term, which is read at scoring time.

use crate::engine::{Core, Engine};
use crate::error::EngineError;
use crate::error::io;
use credo_graph::{Csr, Layout, Params, Relations, Step};
use credo_model::{Day, SubjectId};
use credo_score::{Model, ScoreCard};
use rayon::prelude::*;

/// Where a cluster partition's folder keeps the last cross-node job's terms.
pub const TERMS_FILE: &str = "contact-terms.bin";

/// What a full propagation did.
#[derive(Debug, Clone, PartialEq)]
pub struct PropagationReport {
    pub as_of: Day,
    pub subjects: usize,
    pub contacts: u64,
    pub iterations: u32,
    pub residual: f64,
    pub converged: bool,
    pub edge_visits: u64,
    pub damping: f64,
    pub tolerance: f64,
    /// Subjects who lose points through their contacts, and the most anyone loses.
    pub costing: usize,
    pub max_points_lost: f64,
    /// The most points the model lets anyone lose through contacts.
    pub cap_points: f64,
    /// The contacts' mean term at the 10th, 25th, 50th, 75th and 90th percentiles, over
    /// subjects with contacts (what the feature's bins are set against).
    pub quantiles: [f64; 5],
}

/// A contact change that makes a full job cheaper than spreading it: more changed
/// contacts than this share of the graph (at least `MIN_CHANGES`).
const REBUILD_SHARE: u64 = 8;
const MIN_CHANGES: usize = 10_000;
/// Likewise more subjects with a changed standing than this share of all (at least
/// `MIN_DIRTY`).
const DIRTY_SHARE: usize = 32;
const MIN_DIRTY: usize = 1_000;
/// A graph this small is propagated again in full after every ingest: it takes well under
/// a millisecond, and then equals a rebuild exactly.
pub(crate) const FULL_JOB_BELOW: u64 = 20_000;

/// Subjects marked since the last refresh: a bit each (one event marks its subject, so
/// this is on ingest's path: a bit set, no allocation).
#[derive(Debug, Default)]
pub(crate) struct Dirty(Vec<u64>);

impl Dirty {
    pub(crate) fn mark(&mut self, s: u32) {
        let w = s as usize / 64;
        if self.0.len() <= w {
            self.0.resize((w + 1).next_power_of_two(), 0);
        }
        self.0[w] |= 1 << (s % 64);
    }

    pub(crate) fn clear(&mut self) {
        self.0.clear();
    }

    /// The marked subjects, in order; clears.
    fn take(self) -> Vec<u32> {
        let mut out = Vec::new();
        for (w, &bits) in self.0.iter().enumerate() {
            let mut b = bits;
            while b != 0 {
                out.push((w * 64) as u32 + b.trailing_zeros());
                b &= b - 1;
            }
        }
        out
    }
}

impl Core {
    /// The region of a subject's address of record, else of its ID; 0 when neither says.
    pub(crate) fn region_of(&self, s: u32) -> u32 {
        match self.profiles.region(s) {
            0 => self.subjects.id(s).and_then(|id| id.region()).unwrap_or(0),
            r => r,
        }
    }

    /// The model's feature values for a subject, the contacts' term included.
    pub(crate) fn features_into(
        &self,
        s: u32,
        id: SubjectId,
        as_of: Day,
        out: &mut Vec<Option<f64>>,
    ) {
        self.state.features_into(&self.model, s, id, as_of, out);
        if let Some(slot) = self.model.contacts_standing
            && let Some(v) = out.get_mut(slot)
        {
            *v = match &self.contact_terms {
                // A cluster partition: the terms of the last cross-node job.
                Some(terms) => terms.get(s as usize).copied().flatten(),
                None => self.relations.as_ref().and_then(|r| r.contacts_mean(s)),
            };
        }
    }

    /// A subject's own standing: its score without the contacts' term, 0 to 1.
    fn own_standing(&self, s: u32, as_of: Day, buf: &mut Vec<Option<f64>>) -> f64 {
        match self.subjects.id(s) {
            Some(id) => {
                self.state.features_into(&self.model, s, id, as_of, buf);
                ScoreCard::standing(&self.model, buf)
            }
            None => 0.0,
        }
    }
}

/// Whether two engines' propagations agree within what their updates allow.
pub(crate) fn close(a: &Core, b: &Core) -> bool {
    match (&a.relations, &b.relations) {
        (None, None) => true,
        (Some(x), Some(y)) => {
            let bound = x.error_bound() + y.error_bound();
            let n = a.subjects.len().max(b.subjects.len()) as u32;
            (0..n).all(|s| match (x.contacts_mean(s), y.contacts_mean(s)) {
                (Some(p), Some(q)) => (p - q).abs() <= bound,
                (None, None) => true,
                _ => false,
            })
        }
        _ => false,
    }
}

/// A cluster partition's part of the cross-node propagation (`credo-flow`): its subjects,
/// their own standings, and each one's contacts wherever they live.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct ContactShare {
    pub subjects: Vec<SubjectId>,
    pub own: Vec<f64>,
    pub contacts: Vec<Vec<SubjectId>>,
}

/// The propagation's settings under `model` (its `[relationships]`, when a feature is
/// `contacts_standing`), and the tolerance of local updates between full jobs: the same
/// for one machine's job and a cluster's cross-node one.
pub fn propagation_params(model: &Model) -> Option<(Params, f64)> {
    let r = model.relationships?;
    model.contacts_standing?;
    Some((
        Params {
            damping: r.damping,
            tolerance: r.tolerance,
            max_iterations: 10_000,
        },
        r.local_tolerance,
    ))
}

impl Engine {
    /// This folder's subjects with their own standings as of today and their contacts
    /// (both ends of local contacts, and the foreign end of half-edges), for a
    /// propagation run outside the engine.
    pub fn contact_share(&self) -> ContactShare {
        let core = &self.core;
        let as_of = self.today();
        let n = core.subjects.len();
        let own: Vec<f64> = (0..n as u32)
            .into_par_iter()
            .map_init(Vec::new, |buf, s| core.own_standing(s, as_of, buf))
            .collect();
        let id = |s: u32| core.subjects.id(s);
        let contacts: Vec<Vec<SubjectId>> = (0..n as u32).map(|s| core.contacts(s)).collect();
        ContactShare {
            subjects: (0..n as u32).filter_map(id).collect(),
            own,
            contacts,
        }
    }

    /// Sets the contacts' terms from a propagation run outside the engine (a cluster's
    /// dataflow job): from now on the `contacts_standing` feature reads these, and the
    /// engine runs no propagation of its own. Subjects not given have no term.
    ///
    /// The terms are kept beside the log ([`TERMS_FILE`]), so that the folder opened
    /// again (its node restarted, or took its partitions back) answers with the last
    /// job's terms, as before, until the next job.
    pub fn set_contact_terms(
        &mut self,
        terms: &[(SubjectId, Option<f64>)],
    ) -> Result<(), EngineError> {
        let core = &mut self.core;
        let mut out = vec![None; core.subjects.len()];
        for &(id, t) in terms {
            if let Some(s) = core.subjects.get(id) {
                out[s as usize] = t;
            }
        }
        core.contact_terms = Some(out);
        core.relations = None;
        for k in &mut core.day_facts_kept {
            k.score = u16::MAX;
        }
        self.save_contact_terms()
    }

    /// Writes the terms by subject number: the count (`u64`), a `f64` each (NaN: no
    /// term), and the CRC-32 of what precedes it; to a temporary file renamed over the
    /// old one. Not synced: a lost file is only the terms until the next job.
    fn save_contact_terms(&self) -> Result<(), EngineError> {
        let Some(terms) = &self.core.contact_terms else {
            return Ok(());
        };
        let mut b = Vec::with_capacity(12 + 8 * terms.len());
        b.extend_from_slice(&(terms.len() as u64).to_le_bytes());
        for t in terms {
            b.extend_from_slice(&t.unwrap_or(f64::NAN).to_le_bytes());
        }
        b.extend_from_slice(&crc32fast::hash(&b).to_le_bytes());
        let (path, tmp) = (
            self.dir.join(TERMS_FILE),
            self.dir.join("contact-terms.tmp"),
        );
        std::fs::write(&tmp, &b).map_err(io(&tmp))?;
        std::fs::rename(&tmp, &path).map_err(io(&path))?;
        Ok(())
    }

    /// Reads the terms a cluster partition's folder kept ([`Engine::set_contact_terms`]).
    /// Subject numbers come from the log's order, so they are the same after a reopen;
    /// subjects added since have no term. A file that is torn, or has more subjects than
    /// the folder, is ignored (the next job gives the terms again).
    pub(crate) fn load_contact_terms(&mut self) {
        let path = self.dir.join(TERMS_FILE);
        let Ok(b) = std::fs::read(&path) else {
            return;
        };
        let parsed = (|| {
            let (body, sum) = b.split_at_checked(b.len().checked_sub(4)?)?;
            if crc32fast::hash(body).to_le_bytes() != *sum {
                return None;
            }
            let n = usize::try_from(u64::from_le_bytes(body.get(..8)?.try_into().ok()?)).ok()?;
            let values = body.get(8..)?;
            if values.len() != n.checked_mul(8)? || n > self.core.subjects.len() {
                return None;
            }
            let mut out: Vec<Option<f64>> = values
                .chunks_exact(8)
                .map(|c| {
                    let v = f64::from_le_bytes(c.try_into().unwrap_or_default());
                    (!v.is_nan()).then_some(v)
                })
                .collect();
            out.resize(self.core.subjects.len(), None);
            Some(out)
        })();
        match parsed {
            Some(terms) => {
                self.core.contact_terms = Some(terms);
                self.core.relations = None;
            }
            None => tracing::warn!(
                path = %path.display(),
                "ignoring a torn or foreign contact-terms file; the next propagation gives the terms"
            ),
        }
    }

    fn relations_params(&self) -> Option<(Params, f64)> {
        // A cluster partition sees only its side of each contact: its terms come from the
        // cross-node job (`set_contact_terms`), never from a job of its own.
        if self.core.partition.is_some() {
            return None;
        }
        propagation_params(&self.core.model)
    }

    /// Runs the full propagation as of today and keeps it.
    pub fn propagate_relations(
        &mut self,
        progress: &mut dyn FnMut(Step),
    ) -> Result<Option<PropagationReport>, EngineError> {
        let Some((params, local)) = self.relations_params() else {
            return Ok(None);
        };
        let as_of = self.today();
        let core = &mut self.core;
        core.relations = None;
        let n = core.subjects.len();
        let edges: Vec<[u32; 2]> = core
            .edges
            .iter()
            .map(|&e| [(e >> 32) as u32, e as u32])
            .collect();
        // Rows side by side by the region of the address of record (else of the ID):
        // contacts are clustered by where people live.
        let keys: Vec<u32> = (0..n as u32).map(|s| core.region_of(s)).collect();
        let csr = Csr::build(n, &edges, Layout::ByKey(&keys), 0)?;
        drop(edges);
        let own: Vec<f64> = {
            let core = &*core;
            (0..n as u32)
                .into_par_iter()
                .map_init(Vec::new, |buf, s| core.own_standing(s, as_of, buf))
                .collect()
        };
        let contacts = csr.edges();
        let (rel, run) = Relations::full(csr, &own, params, local, 0, progress)?;
        core.relations = Some(rel);
        core.relations_as_of = Some(as_of);
        core.graph_dirty.clear();
        core.graph_edges.clear();
        for k in &mut core.day_facts_kept {
            k.score = u16::MAX;
        }
        let (costing, max_lost) = self.contacts_cost();
        let quantiles = self.contacts_quantiles();
        Ok(Some(PropagationReport {
            as_of,
            subjects: n,
            contacts,
            iterations: run.iterations,
            residual: run.residual,
            converged: run.converged,
            edge_visits: run.edge_visits,
            damping: params.damping,
            tolerance: params.tolerance,
            costing,
            max_points_lost: max_lost,
            cap_points: self.core.model.relationships.map_or(0.0, |r| {
                r.max_share * f64::from(self.core.model.max - self.core.model.min)
            }),
            quantiles,
        }))
    }

    /// Subjects whose contacts cost them points, and the most lost.
    fn contacts_cost(&self) -> (usize, f64) {
        let core = &self.core;
        let (Some(slot), Some(rel)) = (core.model.contacts_standing, &core.relations) else {
            return (0, 0.0);
        };
        let f = &core.model.features[slot];
        (0..core.subjects.len() as u32)
            .into_par_iter()
            .map(|s| f.max_points - f.points(rel.contacts_mean(s)))
            .filter(|&lost| lost > 1e-9)
            .fold(|| (0usize, 0.0f64), |(c, m), l| (c + 1, m.max(l)))
            .reduce(|| (0, 0.0), |a, b| (a.0 + b.0, a.1.max(b.1)))
    }

    fn contacts_quantiles(&self) -> [f64; 5] {
        let Some(rel) = &self.core.relations else {
            return [0.0; 5];
        };
        let mut m: Vec<f64> = (0..self.core.subjects.len() as u32)
            .filter_map(|s| rel.contacts_mean(s))
            .collect();
        m.par_sort_unstable_by(f64::total_cmp);
        [0.10, 0.25, 0.5, 0.75, 0.90].map(|q| {
            m.get(((m.len() as f64 - 1.0) * q).round().max(0.0) as usize)
                .copied()
                .unwrap_or(0.0)
        })
    }

    /// Brings the propagation up to date after events: a full job if there is none yet,
    /// the day has turned or many contacts changed; otherwise local updates.
    pub(crate) fn refresh_relations(&mut self) -> Result<(), EngineError> {
        if self.relations_params().is_none() {
            self.core.graph_dirty.clear();
            self.core.graph_edges.clear();
            return Ok(());
        }
        let today = self.today();
        let full = match &self.core.relations {
            None => true,
            Some(r) => {
                self.core.relations_as_of != Some(today)
                    || r.edges() < self.core.graph_full_below
                    || self.core.graph_edges.len()
                        > MIN_CHANGES.max((r.edges() / REBUILD_SHARE) as usize)
            }
        };
        let dirty = std::mem::take(&mut self.core.graph_dirty).take();
        // Many changed standings spread through most of the graph: sweeps over the rows
        // do that far faster than a queue of local pushes.
        let many = dirty.len() > MIN_DIRTY.max(self.core.subjects.len() / DIRTY_SHARE);
        if full || many {
            self.propagate_relations(&mut |_| {})?;
            return Ok(());
        }
        let core = &mut self.core;
        let changes = std::mem::take(&mut core.graph_edges);
        let mut buf = Vec::new();
        let own: Vec<(u32, f64)> = dirty
            .iter()
            .map(|&s| (s, core.own_standing(s, today, &mut buf)))
            .collect();
        let Some(rel) = core.relations.as_mut() else {
            return Ok(());
        };
        for (a, b, add) in changes {
            if add {
                rel.add_edge(a, b);
            } else {
                rel.remove_edge(a, b);
            }
        }
        for (s, v) in own {
            rel.set_own(s, v)?;
        }
        let touched = rel.settle();
        for s in touched {
            if let Some(k) = core.day_facts_kept.get_mut(s as usize) {
                k.score = u16::MAX;
            }
        }
        Ok(())
    }

    /// Sets the size below which every refresh is a full job (tests use 0 to exercise the
    /// local updates on small graphs).
    #[doc(hidden)]
    pub fn set_graph_full_job_below(&mut self, contacts: u64) {
        self.core.graph_full_below = contacts;
    }
}

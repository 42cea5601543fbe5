use crate::access::{Journal, JournalReport, Pending, Sealed};
use crate::chain::SubjectChain;
use crate::clock::Clock;
use crate::error::{EngineError, io};
use crate::history::History;
use crate::keyset::{KeySet, Seen, Verdicts};
use crate::subjects::Subjects;
use crate::wire::Reject;
use credo_access::{AccessOp, AccessState, InquiryLog};
use credo_model::{ContactOp, Day, Event, EventBody, SubjectId, SubjectRecord};
use credo_rules::{CourtBook, CourtConfig, PolicySet};
use credo_score::{Fact, Model, ScoreCard, ScoreState, StateFootprint};
use credo_store::{Log, RecordRef, Recovery, decode_event};
use rayon::prelude::*;
use rustc_hash::FxHashSet;
use std::fs::File;
use std::path::{Path, PathBuf};

pub(crate) const LOG_FILE: &str = "events.log";
pub(crate) const META_FILE: &str = "credo.toml";
const LOCK_FILE: &str = "LOCK";
const DATA_FORMAT: u32 = 1;

/// Everything derived from the log. Rebuilt by replay on open.
pub(crate) struct Core {
    pub model: Model,
    pub subjects: Subjects,
    /// Dedupe keys of every accepted event: xxh3-128 of `id` seeded by xxh3-64 of `source`.
    pub seen: KeySet,
    /// Undirected contact edges as (low index << 32 | high index).
    pub edges: FxHashSet<u64>,
    /// The cluster partition this folder holds (`p` of `P`), if it is one. A contact may
    /// then have one end in another partition (that end is only an ID here): those
    /// half-edges are kept as (local end, the other end's ID) packed in 16 bytes
    /// (`crate::adjacency::half_edge`), always empty on a single machine.
    pub partition: Option<(u32, u32)>,
    pub remote_edges: FxHashSet<u128>,
    /// Contacts by subject, built from `edges` and `remote_edges` when asked for and
    /// dropped whenever either changes ([`Core::adjacency`]).
    adjacency: std::sync::OnceLock<crate::adjacency::Adjacency>,
    pub state: ScoreState,
    pub history: History,
    /// Court cases, listings, restrictions and bans of the subjects that have any.
    pub court: CourtBook,
    /// What decisions need of every subject as of `day_facts_as_of`, kept by
    /// [`Engine::keep_day_facts`]; `score == u16::MAX` where an event has come since.
    pub day_facts_kept: Vec<DayFacts>,
    pub day_facts_as_of: Option<Day>,
    pub events: u64,
    /// Of `events`, the contacts filed here whose `subject` end is in another partition
    /// (a cluster partition only): the same line is in that partition too, which counts
    /// it as its own ([`Engine::tally`]).
    pub foreign_contacts: u64,
    pub by_kind: [u64; credo_model::event::KINDS.len()],
    /// Each subject's events in log order (offsets), for reports and rescoring.
    pub chain: SubjectChain,
    /// Dedupe keys of entries deleted or corrected after a dispute: logged and counted,
    /// but without effect on scores or the court book.
    pub retracted: FxHashSet<u128>,
    /// Subjects whose court record or address changed since the map was refreshed.
    pub map_dirty: Vec<u32>,
    /// The same subjects since a cluster partition's owner last published their public
    /// state (`crate::public`); `None` unless the owner asked for it.
    pub public_dirty: Option<Vec<u32>>,
    /// Each subject's address position, region and industry group (for notices).
    pub profiles: crate::notices::Profiles,
    /// The relationships propagation as of `relations_as_of` plus the updates since
    /// (`crate::relations`); `None` before the first job or without the feature.
    pub relations: Option<credo_graph::Relations>,
    pub relations_as_of: Option<Day>,
    /// In a cluster partition: the contacts' terms from the last cross-node job, by
    /// subject (`Engine::set_contact_terms`); they replace `relations`.
    pub contact_terms: Option<Vec<Option<f64>>>,
    /// Subjects whose own standing may have changed since the propagation was refreshed.
    pub graph_dirty: crate::relations::Dirty,
    /// Contacts added (true) or removed since then.
    pub graph_edges: Vec<(u32, u32, bool)>,
    /// Below this many contacts a full job is cheaper than local updates (and exact).
    pub graph_full_below: u64,
    scratch: Vec<Option<f64>>,
    last_lookup: Option<(SubjectId, u32)>,
}

pub(crate) fn dedupe_key(e: &Event) -> u128 {
    dedupe_key_of(e.source.as_bytes(), e.id.as_bytes())
}

pub(crate) fn dedupe_key_of(source: &[u8], id: &[u8]) -> u128 {
    // The 128-bit xxh3 of the id, seeded by the source's hash: no concatenation, two hash
    // calls (this runs once per ingested event). Keys are derived state, rebuilt on open.
    let seed = xxhash_rust::xxh3::xxh3_64(source);
    xxhash_rust::xxh3::xxh3_128_with_seed(id, seed)
}

/// The bytes a hash set's table holds: its buckets (a power of two, at most 7/8 full, as
/// hashbrown sizes them) of one slot and one control byte each.
fn table_bytes<T>(set: &FxHashSet<T>) -> usize {
    let cap = set.capacity();
    if cap == 0 {
        return 0;
    }
    let buckets = if cap < 8 {
        (cap + 1).next_power_of_two()
    } else {
        (cap * 8 / 7).next_power_of_two()
    };
    buckets * (std::mem::size_of::<T>() + 1)
}

/// Adds `x` to `set` or removes it; whether that changed the set (a contact's add or
/// remove counts only when it does).
fn toggle<T: std::hash::Hash + Eq>(set: &mut FxHashSet<T>, x: T, add: bool) -> bool {
    if add { set.insert(x) } else { set.remove(&x) }
}

/// What admission and apply need of an event: no strings, so it is cheap to move and the
/// single-threaded part of ingest stays small.
///
/// 96 bytes: every parsed event's `Op` is written by a parsing core and read by the
/// committing one, so its size is traffic between the cores. The subject is kept as its
/// key (16 bytes, not the 32 of a `SubjectId`), and what only contacts, subject records
/// and court events carry is in [`Rare`], behind one pointer.
#[derive(Debug, Clone)]
pub(crate) struct Op {
    pub key: u128,
    /// [`SubjectId::key`] of the event's subject (see [`Op::subject`]).
    pub subject_key: u128,
    pub fact: Fact,
    pub day: Day,
    /// `day`'s month index, computed where there are cores to spare.
    pub month: i32,
    pub kind: u8,
    pub record: bool,
    pub rare: Option<Box<Rare>>,
}

/// The part of an [`Op`] only a few kinds have (one of them per event).
#[derive(Debug, Clone)]
pub(crate) enum Rare {
    Contact(SubjectId, ContactOp),
    /// The whole event, for the kinds the court book keeps (judgments, listings,
    /// restrictions, bans).
    Court(EventBody),
    /// Where a subject record puts its subject, for notices.
    Profile(crate::notices::Profile),
}

impl Op {
    pub fn of(e: &Event) -> Op {
        let rare = match &e.body {
            EventBody::Contact { other, op } => Some(Rare::Contact(*other, *op)),
            EventBody::Subject(r) => Some(Rare::Profile(crate::notices::Profile::of(r))),
            body if credo_rules::court::is_court_event(body) => Some(Rare::Court(body.clone())),
            _ => None,
        };
        Op {
            key: dedupe_key(e),
            subject_key: e.subject.key(),
            fact: Fact::of(&e.body),
            day: e.at.day(),
            month: credo_score::pack_day(e.at.day())
                .map_or_else(|| e.at.day().month_index(), credo_score::state::month_of),
            kind: e.body.kind_index() as u8,
            record: matches!(e.body, EventBody::Subject(_)),
            rare: rare.map(Box::new),
        }
    }

    /// The event's subject (its key came from a validated ID).
    pub fn subject(&self) -> SubjectId {
        SubjectId::from_trusted_key(self.subject_key)
    }

    pub fn contact(&self) -> Option<(SubjectId, ContactOp)> {
        match self.rare.as_deref() {
            Some(&Rare::Contact(other, op)) => Some((other, op)),
            _ => None,
        }
    }

    pub fn court(&self) -> Option<&EventBody> {
        match self.rare.as_deref() {
            Some(Rare::Court(body)) => Some(body),
            _ => None,
        }
    }

    pub fn profile(&self) -> Option<crate::notices::Profile> {
        match self.rare.as_deref() {
            Some(&Rare::Profile(p)) => Some(p),
            _ => None,
        }
    }
}

/// A subject's score and what a decision may ask beside it, for one day: 8 bytes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct DayFacts {
    pub score: u16,
    /// Model feature index + 1 of the reason codes, costliest first (0: none).
    pub reasons: [u8; 4],
    /// The capacity dimension's share, in percent.
    pub capacity_pct: u8,
    pub unreturned_rentals: u8,
}

pub(crate) enum Admit {
    New(u32),
    Duplicate,
}

impl Core {
    fn new(model: Model) -> Core {
        let state = ScoreState::new(&model);
        Core {
            model,
            subjects: Subjects::default(),
            seen: KeySet::default(),
            edges: FxHashSet::default(),
            partition: None,
            remote_edges: FxHashSet::default(),
            adjacency: std::sync::OnceLock::new(),
            state,
            history: History::default(),
            court: CourtBook::default(),
            day_facts_kept: Vec::new(),
            day_facts_as_of: None,
            events: 0,
            foreign_contacts: 0,
            by_kind: Default::default(),
            chain: SubjectChain::default(),
            retracted: FxHashSet::default(),
            map_dirty: Vec::new(),
            public_dirty: None,
            profiles: Default::default(),
            relations: None,
            relations_as_of: None,
            contact_terms: None,
            graph_dirty: Default::default(),
            graph_edges: Vec::new(),
            graph_full_below: crate::relations::FULL_JOB_BELOW,
            scratch: Vec::new(),
            last_lookup: None,
        }
    }

    /// The kept facts of subject `s` for `as_of`, if there are.
    pub fn day_facts(&self, s: u32, as_of: Day) -> Option<DayFacts> {
        if self.day_facts_as_of != Some(as_of) {
            return None;
        }
        self.day_facts_kept
            .get(s as usize)
            .copied()
            .filter(|x| x.score != u16::MAX)
    }

    /// Marks a subject whose court record or address changed: for the map, and for the
    /// public replicas when this folder publishes to them.
    pub(crate) fn mark_public(&mut self, s: u32) {
        self.map_dirty.push(s);
        if let Some(d) = &mut self.public_dirty {
            d.push(s);
        }
    }

    /// Reads what [`Core::admit`] will read for `op`, to bring it into cache early.
    pub fn warm(&self, op: &Op) {
        self.subjects.warm(op.subject_key);
    }

    /// The second stage of [`Core::warm`], a few events later, once the subject index's
    /// slot has arrived: starts loading the subject's key (see [`Subjects::warm_key`]).
    #[inline]
    pub fn warm_key(&self, op: &Op) {
        self.subjects.warm_key(op.subject_key);
    }

    /// The subject's index, remembering the last one: bulk files group a subject's events.
    fn lookup(&mut self, id: SubjectId) -> Option<u32> {
        if let Some((last, i)) = self.last_lookup
            && last == id
        {
            return Some(i);
        }
        let found = self.subjects.get(id);
        if let Some(i) = found {
            self.last_lookup = Some((id, i));
        }
        found
    }

    /// Decides whether an event enters the log: a duplicate, a new event for a known
    /// subject, or a rejection. Registers a new subject on its `subject` record.
    ///
    /// The dedupe set's verdict on the event's key (`KeySet::insert` of its key and the
    /// CRC-32 of its encoded record, its content's fingerprint: an id seen before is a
    /// duplicate only if the content is the same too) comes from `verdict`, called only
    /// once the subject checks have passed. Ingest and replay probe a whole batch's keys
    /// first and give their verdicts here ([`Verdicts`]).
    pub fn admit(
        &mut self,
        op: &Op,
        verdict: impl FnOnce(&mut KeySet) -> Seen,
    ) -> Result<Admit, Reject> {
        let unknown = |what: &str, id: SubjectId| Reject {
            code: "unknown_subject",
            message: format!("{what}no `subject` record has been seen for {id}"),
        };
        let known = self.lookup(op.subject());
        // The local end the event is filed under: its subject, or for a contact whose
        // subject is in another partition, its `other` (a cluster partition only).
        let local = match op.contact() {
            Some((other, _)) => match (known, self.subjects.get(other)) {
                (Some(s), Some(_)) => Some(s),
                (Some(s), None) if self.partition.is_some() => Some(s),
                (None, Some(o)) if self.partition.is_some() => Some(o),
                (None, _) => return Err(unknown("", op.subject())),
                (Some(_), None) => return Err(unknown("`other`: ", other)),
            },
            None if known.is_none() && !op.record => return Err(unknown("", op.subject())),
            None => known,
        };
        // One probe of the (large, cache-cold) dedupe set per event.
        match verdict(&mut self.seen) {
            Seen::New => {}
            Seen::Same => return Ok(Admit::Duplicate),
            Seen::Different => {
                return Err(Reject {
                    code: "id_conflict",
                    message: "this `id` from this `source` was accepted before with different \
                              content; the first version stands (send a correction under a new \
                              `id`, or dispute the entry)"
                        .into(),
                });
            }
        }
        let idx = match local {
            Some(i) => i,
            None => {
                let (i, _) = self.subjects.insert(op.subject());
                self.state.grow(i as usize + 1);
                self.history.grow(i as usize + 1);
                i
            }
        };
        Ok(Admit::New(idx))
    }

    /// Applies a logged event to the derived state.
    pub fn apply(&mut self, s: u32, op: &Op, at: RecordRef) {
        self.events += 1;
        self.by_kind[usize::from(op.kind)] += 1;
        if op.contact().is_some()
            && let Some((p, n)) = self.partition
            && credo_cluster::Partitioning::new(n).is_ok_and(|x| x.of(op.subject()) != p)
        {
            self.foreign_contacts += 1;
        }
        self.chain.push(s, at.offset);
        if let Some((other, _)) = op.contact()
            && let Some(o) = self.subjects.get(other)
            && o != s
        {
            // A contact is in both subjects' lists: each one's count depends on it.
            self.chain.push(o, at.offset);
        }
        if op.record {
            self.subjects.set_record(s, at);
            if let Some(p) = op.profile() {
                self.profiles.set(s, p);
            }
            if self.court.get(s).is_some() {
                self.mark_public(s);
            }
        }
        if !self.retracted.is_empty() && self.retracted.contains(&op.key) {
            return;
        }
        self.effect(s, op);
    }

    /// What an event does to scores, history, edges and the court book.
    fn effect(&mut self, s: u32, op: &Op) {
        let day = op.day;
        if let Some(body) = op.court() {
            self.court.apply(s, day, body);
            self.mark_public(s);
        }
        if let Some(kept) = self.day_facts_kept.get_mut(s as usize) {
            kept.score = u16::MAX;
        }
        if let Some((other, cop)) = op.contact() {
            let add = cop == ContactOp::Add;
            match (self.subjects.get(op.subject()), self.subjects.get(other)) {
                (Some(s), Some(o)) => {
                    let edge = (u64::from(s.min(o)) << 32) | u64::from(s.max(o));
                    if toggle(&mut self.edges, edge, add) {
                        self.adjacency.take();
                        self.state.adjust_contacts(s, add);
                        self.state.adjust_contacts(o, add);
                        if self.model.contacts_standing.is_some() {
                            self.graph_edges.push((s, o, add));
                            self.graph_dirty.mark(s);
                            self.graph_dirty.mark(o);
                        }
                    }
                }
                // A half-edge (a cluster partition): only the local end's count moves.
                // The other end's partition has the same contact and counts its side.
                (Some(l), None) => self.half_edge(l, other, add),
                (None, Some(l)) => self.half_edge(l, op.subject(), add),
                (None, None) => {}
            }
            return;
        }
        if self.model.contacts_standing.is_some() {
            self.graph_dirty.mark(s);
        }
        if !op.record
            && let Some(m) = self.state.last_month(s)
        {
            // The first event of a later month closes the previous month in the history.
            if op.month > m
                && let Some(id) = self.subjects.id(s)
            {
                let mut buf = std::mem::take(&mut self.scratch);
                self.state
                    .features_into(&self.model, s, id, Day::end_of_month(m), &mut buf);
                let score = ScoreCard::value(&self.model, &buf);
                self.scratch = buf;
                self.history.record(s, m, score);
            }
        }
        self.state.apply(&self.model, s, day, &op.fact);
    }

    /// Subject `s`'s contacts as the edge sets hold them now, in key order (the lists
    /// are built at the first call after a contact changed).
    pub(crate) fn contacts(&self, s: u32) -> Vec<SubjectId> {
        self.adjacency
            .get_or_init(|| {
                crate::adjacency::Adjacency::build(
                    self.subjects.len(),
                    &self.edges,
                    &self.remote_edges,
                )
            })
            .contacts(s, |y| self.subjects.id(y))
    }

    fn half_edge(&mut self, local: u32, foreign: SubjectId, add: bool) {
        if toggle(
            &mut self.remote_edges,
            crate::adjacency::half_edge(local, foreign),
            add,
        ) {
            self.adjacency.take();
            self.state.adjust_contacts(local, add);
        }
    }

    /// Recomputes subject `s`'s score state, history and court record from its events in
    /// the log, leaving out retracted ones: what a replay of the log would give. Its contact
    /// count is replayed from its contacts (both directions) as it stood at each event.
    pub fn rebuild_subject(&mut self, s: u32, log: &Log) -> Result<(), EngineError> {
        self.state.reset(s);
        self.history.reset(s);
        self.court.reset(s);
        let mut neighbours: FxHashSet<u32> = FxHashSet::default();
        let mut remote: FxHashSet<SubjectId> = FxHashSet::default();
        for offset in self.chain.of(s) {
            let body = log.read_at(offset)?;
            let e = decode_event(&body)
                .map_err(|source| credo_store::StoreError::Decode { offset, source })?;
            let op = Op::of(&e);
            if let Some((other, cop)) = op.contact() {
                let add = cop == ContactOp::Add;
                let (a, b) = (self.subjects.get(op.subject()), self.subjects.get(other));
                let changed = match (a, b) {
                    (Some(a), Some(b)) => toggle(&mut neighbours, if a == s { b } else { a }, add),
                    (Some(_), None) => toggle(&mut remote, other, add),
                    (None, Some(_)) => toggle(&mut remote, op.subject(), add),
                    (None, None) => continue,
                };
                if changed {
                    self.state.adjust_contacts(s, add);
                    if a == b {
                        self.state.adjust_contacts(s, add);
                    }
                }
                continue;
            }
            if self.retracted.contains(&op.key) {
                continue;
            }
            self.effect(s, &op);
        }
        if let Some(kept) = self.day_facts_kept.get_mut(s as usize) {
            kept.score = u16::MAX;
        }
        self.mark_public(s);
        if self.model.contacts_standing.is_some() {
            self.graph_dirty.mark(s);
        }
        Ok(())
    }
}

/// What opening a data folder found.
#[derive(Debug, Clone)]
pub struct OpenReport {
    pub recovery: Recovery,
    /// What opening the audit log and the inquiry segments found.
    pub audit: JournalReport,
    pub events: u64,
    pub subjects: usize,
    pub seconds: f64,
}

/// A subject's score, explained.
#[derive(Debug, Clone)]
pub struct ScoreView {
    pub subject: SubjectId,
    pub name: Option<String>,
    pub card: ScoreCard,
    /// (month index, score at month end), oldest first.
    pub history: Vec<(i32, u16)>,
    pub model: String,
}

/// Memory of the derived state.
#[derive(Debug, Clone, Copy)]
pub struct Footprint {
    pub subjects: usize,
    pub scoring: StateFootprint,
    /// Subject index, key and record pointer, per subject.
    pub index_bytes_per_subject: f64,
    pub history_entries: usize,
    pub dedupe_keys: usize,
    /// Bytes held by the dedupe table.
    pub dedupe_bytes: usize,
    /// Bytes of the per-subject event lists (12 per event).
    pub chain_bytes: usize,
    pub edges: usize,
    /// Contacts with one end in another cluster partition (none on a single machine).
    pub half_edges: usize,
    /// Bytes held by the contact sets, whole edges and half-edges (hash tables: slots and
    /// control bytes).
    pub contact_bytes: usize,
}

#[derive(Debug, Clone)]
pub struct Summary {
    pub as_of: Day,
    pub subjects: usize,
    pub companies: usize,
    pub events: u64,
    pub by_kind: Vec<(&'static str, u64)>,
    pub edges: usize,
    /// (low, high, count) in 50-point bands.
    pub bands: Vec<(u16, u16, usize)>,
    pub tiers: Vec<(String, usize)>,
    pub mean: f64,
    pub median: u16,
    pub with_unpaid_judgments: usize,
    /// Subjects on the public court list, and under restriction (listing or order), as of `as_of`.
    pub listed: usize,
    pub restricted: usize,
    pub unpaid_judgment_yuan: f64,
    pub footprint: Footprint,
    pub model: String,
}

pub struct Engine {
    pub(crate) dir: PathBuf,
    pub(crate) log: Log,
    pub(crate) core: Core,
    clock: Clock,
    /// Set when a write or sync of the log failed: the dedupe set and the derived state
    /// may be ahead of the disk. The next ingest rebuilds them ([`Engine::recover`]).
    pub(crate) failed: bool,
    /// Relying parties' offers in force (the folder's `policies.toml`, or the shipped file).
    pub(crate) policies: PolicySet,
    /// Keys, consents, disputes and tip-offs, rebuilt from the audit log.
    pub(crate) access: AccessState,
    /// Third parties' reads of the last 12 months.
    pub(crate) inquiries: InquiryLog,
    /// The month of the latest inquiry applied; a new one prunes past retention.
    inquiries_month: Option<i32>,
    /// The audit log and inquiry segments; the server moves it to its commit thread.
    journal: Option<Journal>,
    /// The debtor map and its sessions.
    pub(crate) map: crate::map::MapState,
    /// Call warnings: listed subjects' numbers (kept with the map).
    pub(crate) calls: crate::calls::CallIndex,
    /// Courts' call-warning settings (`courts.toml`).
    pub(crate) courts: rustc_hash::FxHashMap<String, crate::calls::CourtCalls>,
    /// A cluster node's public replica keeps its subjects' records here
    /// ([`Engine::put_public`]); `None` on every other folder.
    pub(crate) replica: Option<crate::public::Replica>,
    _lock: File,
}

/// Rebuilds the derived state from the event log, on all cores: each batch is decoded in
/// parallel, then admitted and applied in log order. A torn tail is cut off. Entries that
/// `access` retracted after disputes replay without effect.
fn replay(
    dir: &Path,
    model: Model,
    access: &AccessState,
    court: CourtConfig,
    partition: Option<(u32, u32)>,
) -> Result<(Log, Core, credo_store::Recovery), EngineError> {
    let mut core = Core::new(model);
    core.partition = partition;
    core.retracted = access
        .retracted
        .iter()
        .map(|(source, id)| dedupe_key_of(source.as_bytes(), id.as_bytes()))
        .collect();
    core.court.config = court;
    let path = dir.join(LOG_FILE);
    // Decode each batch on all cores, then admit and apply its records in log order.
    let mut verdicts = Verdicts::default();
    let (log, recovery) = Log::open_batches(&path, |records| {
        // Collected as results (rayon fills an indexed vector in place; collecting into
        // `Result<Vec<_>>` went through lists and cost 8 % more instructions per open).
        let decoded: Vec<Result<(Op, u32, RecordRef), credo_store::StoreError>> = records
            .par_iter()
            .with_min_len(1024)
            .map(|&credo_store::Record { at: r, crc, body }| {
                // The record's CRC, checked by the read, is its content's fingerprint.
                decode_event(body)
                    .map(|e| (Op::of(&e), crc, r))
                    .map_err(|source| credo_store::StoreError::Decode {
                        offset: r.offset,
                        source,
                    })
            })
            .collect();
        // The batch's dedupe probes in the table's order, as ingest does. Any rejection
        // or undecodable record below is damage and ends the open, so no verdict is
        // withdrawn, and the verdicts' positions match the records' up to the first error.
        verdicts.probe(
            &mut core.seen,
            decoded
                .iter()
                .filter_map(|d| d.as_ref().ok())
                .map(|(op, sum, _)| (op.key, *sum)),
        );
        for (i, d) in decoded.into_iter().enumerate() {
            let (op, _, r) = d?;
            let damage = |problem: String| credo_store::StoreError::Corrupt {
                path: path.display().to_string(),
                offset: r.offset,
                problem,
            };
            match core.admit(&op, |seen| verdicts.judge(seen, i)) {
                Ok(Admit::New(i)) => core.apply(i, &op, r),
                Ok(Admit::Duplicate) => return Err(damage("an event is logged twice".into())),
                Err(rej) => {
                    return Err(damage(format!(
                        "logged event would be rejected: {}",
                        rej.message
                    )));
                }
            }
        }
        Ok(())
    })?;
    Ok((log, core, recovery))
}

/// Whether `credo.toml`'s text is what this build reads (for `credo fsck`).
pub(crate) fn parse_meta(text: &str) -> Result<(), String> {
    let meta: Meta = toml::from_str(text).map_err(|e| e.to_string())?;
    if meta.format != DATA_FORMAT {
        return Err(format!(
            "data format {} is not supported (this build: {DATA_FORMAT})",
            meta.format
        ));
    }
    Ok(())
}

#[derive(serde::Serialize, serde::Deserialize, Default)]
#[serde(deny_unknown_fields)]
struct Meta {
    format: u32,
    /// A fixed "now" for this data folder (synthetic data), as YYYY-MM-DD.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    as_of: Option<String>,
    /// Days between a listing and its publication when the court gives none.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    grace_days: Option<u16>,
    /// The debtor map's grid cell in metres (addresses are snapped to its centres).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    map_cell_m: Option<f64>,
    /// In a cluster: the partition this folder holds, as `p/P` (see docs/cluster.md).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    partition: Option<String>,
}

fn parse_partition(text: &str) -> Option<(u32, u32)> {
    let (p, n) = text.split_once('/')?;
    let (p, n) = (p.parse().ok()?, n.parse().ok()?);
    (p < n).then_some((p, n))
}

impl Engine {
    /// Opens (creating if needed) the data folder and rebuilds the state from the log.
    /// `clock` overrides the folder's own setting when given.
    pub fn open(
        dir: &Path,
        model: Model,
        clock: Option<Clock>,
    ) -> Result<(Engine, OpenReport), EngineError> {
        let started = std::time::Instant::now();
        std::fs::create_dir_all(dir).map_err(io(dir))?;
        let lock_path = dir.join(LOCK_FILE);
        let lock = File::create(&lock_path).map_err(io(&lock_path))?;
        match lock.try_lock() {
            Ok(()) => {}
            Err(std::fs::TryLockError::WouldBlock) => {
                return Err(EngineError::Locked {
                    path: dir.display().to_string(),
                });
            }
            Err(std::fs::TryLockError::Error(e)) => return Err(io(&lock_path)(e)),
        }
        let meta = Self::read_meta(dir)?;
        let folder_clock = match &meta.as_of {
            Some(d) => Clock::Fixed(Day::parse(d).map_err(|e| EngineError::Meta {
                path: dir.join(META_FILE).display().to_string(),
                problem: format!("as_of: {e}"),
            })?),
            None => Clock::System,
        };
        let policies = crate::court::load_policies(dir, &model)?;
        let courts = crate::calls::load_courts(dir)?;
        let clock = clock.unwrap_or(folder_clock);
        // The access journal first: entries retracted after disputes must be known before
        // the events replay, so that they replay without effect.
        let (journal, access, inquiries, journal_report) = Journal::open(dir, clock.today())?;
        let court = CourtConfig {
            grace_days: meta.grace_days.unwrap_or(0),
            ..CourtConfig::default()
        };
        let partition = match &meta.partition {
            None => None,
            Some(t) => Some(parse_partition(t).ok_or_else(|| EngineError::Meta {
                path: dir.join(META_FILE).display().to_string(),
                problem: format!("partition: {t:?} is not `p/P` with p < P"),
            })?),
        };
        let (log, core, recovery) = replay(dir, model, &access, court, partition)?;
        let report = OpenReport {
            recovery,
            audit: journal_report,
            events: core.events,
            subjects: core.subjects.len(),
            seconds: started.elapsed().as_secs_f64(),
        };
        let map = crate::map::MapState::new(meta.map_cell_m.unwrap_or(crate::map::DEFAULT_CELL_M))
            .map_err(|e| EngineError::Meta {
                path: dir.join(META_FILE).display().to_string(),
                problem: format!("map_cell_m: {e}"),
            })?;
        let mut engine = Engine {
            dir: dir.to_path_buf(),
            log,
            core,
            clock,
            failed: false,
            policies,
            access,
            inquiries,
            inquiries_month: None,
            journal: Some(journal),
            map,
            calls: crate::calls::CallIndex::default(),
            courts,
            replica: None,
            _lock: lock,
        };
        if engine.core.partition.is_some() {
            engine.load_contact_terms();
        }
        engine.refresh_derived()?;
        Ok((engine, report))
    }

    /// After a failed write to the event log (a full disk), rebuilds the state from what
    /// the log holds, as a reopen would, and clears the failure; `None` if nothing had
    /// failed. The access state, inquiries, policies and live sessions are kept: none of
    /// them is derived from the event log, and the audit journal never moves past a failed
    /// write ([`Journal::append`]). A torn tail left by the failed write is cut off.
    pub fn recover(&mut self) -> Result<Option<credo_store::Recovery>, EngineError> {
        if !self.failed {
            return Ok(None);
        }
        let (log, core, recovery) = replay(
            &self.dir,
            self.model().clone(),
            &self.access,
            self.core.court.config,
            self.core.partition,
        )?;
        tracing::warn!(
            events = core.events,
            torn_tail_bytes = recovery.truncated_bytes,
            "recovered the event log after a failed write"
        );
        self.log = log;
        let terms = self.core.contact_terms.take();
        let publishing = self.core.public_dirty.is_some();
        self.core = core;
        if publishing {
            // The rebuilt state may differ from what was published: publish it all again.
            self.publish_public();
        }
        // The same log gives the same subject numbers: the cross-node job's terms stand.
        self.core.contact_terms = terms;
        self.map.reset();
        self.calls = crate::calls::CallIndex::default();
        self.failed = false;
        self.refresh_derived()?;
        Ok(Some(recovery))
    }

    /// Brings what is derived from the court book and the scores, but kept apart from
    /// them, up to date after a change: the debtor map with its call warnings, and the
    /// relationships propagation. Each does nothing when nothing it depends on changed.
    pub(crate) fn refresh_derived(&mut self) -> Result<(), EngineError> {
        self.refresh_map()?;
        self.refresh_relations()
    }

    fn read_meta(dir: &Path) -> Result<Meta, EngineError> {
        // (parse_meta below is the same reading, for fsck.)
        let path = dir.join(META_FILE);
        let bad = |problem: String| EngineError::Meta {
            path: path.display().to_string(),
            problem,
        };
        match std::fs::read_to_string(&path) {
            Ok(text) => {
                let meta: Meta = toml::from_str(&text).map_err(|e| bad(e.to_string()))?;
                if meta.format != DATA_FORMAT {
                    return Err(bad(format!(
                        "data format {} is not supported (this build: {DATA_FORMAT})",
                        meta.format
                    )));
                }
                Ok(meta)
            }
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                let meta = Meta {
                    format: DATA_FORMAT,
                    as_of: None,
                    grace_days: None,
                    map_cell_m: None,
                    partition: None,
                };
                Self::write_meta(dir, &meta)?;
                Ok(meta)
            }
            Err(e) => Err(io(&path)(e)),
        }
    }

    fn write_meta(dir: &Path, meta: &Meta) -> Result<(), EngineError> {
        let path = dir.join(META_FILE);
        let tmp = dir.join("credo.toml.tmp");
        let text = toml::to_string(meta).map_err(|e| EngineError::Meta {
            path: path.display().to_string(),
            problem: e.to_string(),
        })?;
        std::fs::write(&tmp, format!("# credo data folder\n{text}")).map_err(io(&tmp))?;
        std::fs::rename(&tmp, &path).map_err(io(&path))?;
        Ok(())
    }

    /// The cluster partition this folder holds (`p` of `P`), if it is one.
    pub fn partition(&self) -> Option<(u32, u32)> {
        self.core.partition
    }

    /// Makes this folder partition `p` of `n` of a cluster: a contact may then have one
    /// end in another partition (a half-edge). Only an empty folder may become one, and a
    /// partition's folder stays the same partition.
    pub fn set_partition(&mut self, p: u32, n: u32) -> Result<(), EngineError> {
        if self.core.partition == Some((p, n)) {
            return Ok(());
        }
        let bad = |problem: String| EngineError::Meta {
            path: self.dir.join(META_FILE).display().to_string(),
            problem,
        };
        if p >= n {
            return Err(bad(format!("partition {p} of {n} does not exist")));
        }
        if let Some((q, m)) = self.core.partition {
            return Err(bad(format!(
                "this folder holds partition {q}/{m}, not {p}/{n}"
            )));
        }
        if self.core.events != 0 {
            return Err(bad(
                "only an empty folder can become a cluster partition".into()
            ));
        }
        let mut meta = Self::read_meta(&self.dir)?;
        meta.partition = Some(format!("{p}/{n}"));
        Self::write_meta(&self.dir, &meta)?;
        self.core.partition = Some((p, n));
        // A partition's terms come from the cross-node job only: drop the local job's
        // (of the empty folder), as a reopen would not have one.
        self.core.relations = None;
        self.core.relations_as_of = None;
        Ok(())
    }

    /// Fixes this folder's "now" (for synthetic data), or returns it to the system clock.
    pub fn set_folder_as_of(&mut self, as_of: Option<Day>) -> Result<(), EngineError> {
        Self::write_meta(
            &self.dir,
            &Meta {
                format: DATA_FORMAT,
                as_of: as_of.map(|d| d.to_string()),
                grace_days: Some(self.core.court.config.grace_days).filter(|&g| g != 0),
                map_cell_m: Some(self.map_cell_m()).filter(|&m| m != crate::map::DEFAULT_CELL_M),
                partition: self.core.partition.map(|(p, n)| format!("{p}/{n}")),
            },
        )?;
        self.clock = as_of.map_or(Clock::System, Clock::Fixed);
        self.refresh_derived()?;
        Ok(())
    }

    pub fn today(&self) -> Day {
        self.clock.today()
    }

    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// The event log's file and its length: a prefix that ends at a batch boundary and
    /// holds every event acknowledged so far (a cluster node's snapshot copies it).
    pub fn log_extent(&self) -> (PathBuf, u64) {
        (self.log.path().to_path_buf(), self.log.len())
    }

    pub fn model(&self) -> &Model {
        &self.core.model
    }

    /// The ID of the subject with dense index `i` (0 to `subject_count() - 1`).
    pub fn subject_at(&self, i: usize) -> Option<SubjectId> {
        u32::try_from(i).ok().and_then(|i| self.core.subjects.id(i))
    }

    pub fn subject_count(&self) -> usize {
        self.core.subjects.len()
    }

    pub fn event_count(&self) -> u64 {
        self.core.events
    }

    /// The subject's latest record, read back from the log.
    pub fn record(&self, id: SubjectId) -> Result<Option<SubjectRecord>, EngineError> {
        let Some(i) = self.core.subjects.get(id) else {
            return Ok(None);
        };
        if self.replica.is_some() {
            return Ok(self.replica_record(i));
        }
        let Some(r) = self.core.subjects.record(i) else {
            return Ok(None);
        };
        let body = self.log.read(r)?;
        let e = decode_event(&body).map_err(|source| credo_store::StoreError::Decode {
            offset: r.offset,
            source,
        })?;
        Ok(match e.body {
            EventBody::Subject(rec) => Some(rec),
            _ => None,
        })
    }

    /// Scores a subject as of `as_of` (default: today by the engine's clock).
    pub fn score(&self, id: SubjectId, as_of: Option<Day>) -> Result<ScoreView, EngineError> {
        let i = self
            .core
            .subjects
            .get(id)
            .ok_or_else(|| EngineError::UnknownSubject(id.to_string()))?;
        let as_of = as_of.unwrap_or_else(|| self.today());
        let mut values = Vec::new();
        self.core.features_into(i, id, as_of, &mut values);
        let card_as_of = self.core.state.last_day(i).map_or(as_of, |l| l.max(as_of));
        let card = ScoreCard::from_values(&self.core.model, &values, card_as_of);
        Ok(ScoreView {
            subject: id,
            name: self.record(id)?.map(|r| r.name),
            card,
            history: self.core.history.of(i),
            model: format!("{} {}", self.core.model.name, self.core.model.version),
        })
    }

    /// Makes room for about `n` more events in the dedupe set, so that a large ingest does
    /// not rehash it again and again.
    pub fn reserve_events(&mut self, n: usize) {
        self.core.seen.reserve(n);
        self.core.chain.reserve(n);
        // A history entry per subject and month with events: about one for every two
        // events in generated data (234,600 month closes in 436,401 events of 10,000
        // people). Growing it by doubling copied the whole history on the committing thread.
        self.core.history.reserve(n / 2);
    }

    /// Every subject's score as of `as_of`, in index order (parallel).
    pub fn all_scores(&self, as_of: Day) -> Vec<u16> {
        let core = &self.core;
        (0..core.subjects.len() as u32)
            .into_par_iter()
            .map_init(Vec::new, |buf, i| match core.subjects.id(i) {
                Some(id) => {
                    core.features_into(i, id, as_of, buf);
                    ScoreCard::value(&core.model, buf)
                }
                None => core.model.min,
            })
            .collect()
    }

    pub fn footprint(&self) -> Footprint {
        let c = &self.core;
        Footprint {
            subjects: c.subjects.len(),
            scoring: c.state.footprint(),
            index_bytes_per_subject: c.subjects.bytes_per_subject(),
            history_entries: c.history.len(),
            dedupe_keys: c.seen.len(),
            dedupe_bytes: c.seen.bytes(),
            chain_bytes: c.chain.bytes(),
            edges: c.edges.len(),
            half_edges: c.remote_edges.len(),
            contact_bytes: table_bytes(&c.edges) + table_bytes(&c.remote_edges),
        }
    }

    pub fn summary(&self, as_of: Option<Day>) -> Summary {
        let as_of = as_of.unwrap_or_else(|| self.today());
        // The score figures are the tally's (what `/v1/stats` shows, here and added up
        // across a cluster's partitions).
        let t = self.tally(Some(as_of));
        let c = &self.core;
        let model = &c.model;
        let bands = t
            .bands(model)
            .into_iter()
            .map(|(lo, hi, n)| (lo, hi, n as usize))
            .collect();
        let tiers = t
            .tiers(model)
            .into_iter()
            .map(|(tier, n)| (tier, n as usize))
            .collect();
        let unpaid: i64 = (0..c.subjects.len() as u32)
            .map(|i| c.state.judgments(i))
            .filter(|&(open, _)| open > 0)
            .map(|(_, fen)| fen)
            .sum();
        let (mean, median, with_unpaid) = (t.mean(), t.median(), t.with_unpaid_judgments as usize);
        Summary {
            as_of,
            subjects: c.subjects.len(),
            companies: t.companies as usize,
            events: c.events,
            by_kind: credo_model::event::KINDS
                .iter()
                .copied()
                .zip(c.by_kind.iter().copied())
                .collect(),
            edges: c.edges.len(),
            bands,
            tiers,
            mean,
            median,
            with_unpaid_judgments: with_unpaid,
            listed: t.listed as usize,
            restricted: c
                .court
                .subjects
                .values()
                .filter(|sc| {
                    sc.cases
                        .iter()
                        .any(|k| k.restricted(&c.court.config, as_of))
                })
                .count(),
            unpaid_judgment_yuan: unpaid as f64 / 100.0,
            footprint: self.footprint(),
            model: format!("{} {}", model.name, model.version),
        }
    }

    /// Whether two engines hold the same derived state: used to check that the state
    /// built incrementally by ingest equals the state rebuilt from the log.
    pub fn same_state(&self, other: &Engine) -> bool {
        self.state_diff(other).is_empty()
    }

    /// The parts of the derived state that differ from `other`'s (for test messages).
    pub fn state_diff(&self, other: &Engine) -> Vec<&'static str> {
        let (a, b) = (&self.core, &other.core);
        let hist = |c: &Core| {
            (0..c.subjects.len() as u32)
                .map(|i| c.history.of(i))
                .collect::<Vec<_>>()
        };
        let checks = [
            ("subjects", a.subjects.keys == b.subjects.keys),
            (
                "subject records",
                a.subjects.record_offset == b.subjects.record_offset
                    && a.subjects.record_len == b.subjects.record_len,
            ),
            ("dedupe keys", a.seen == b.seen),
            ("court book", a.court == b.court),
            (
                "edges",
                a.edges == b.edges && a.remote_edges == b.remote_edges,
            ),
            ("score state", a.state == b.state),
            (
                "event counts",
                a.events == b.events
                    && a.by_kind == b.by_kind
                    && a.foreign_contacts == b.foreign_contacts,
            ),
            ("event lists", a.chain == b.chain),
            ("retracted", a.retracted == b.retracted),
            ("history", hist(a) == hist(b)),
            ("relations", crate::relations::close(a, b)),
            ("profiles", a.profiles.same(&b.profiles)),
        ];
        checks
            .into_iter()
            .filter(|(_, same)| !same)
            .map(|(what, _)| what)
            .collect()
    }
}

/// The access side: keys, consents, disputes, tip-offs, inquiries and the audit log.
impl Engine {
    pub fn access(&self) -> &AccessState {
        &self.access
    }

    pub fn inquiries(&self) -> &InquiryLog {
        &self.inquiries
    }

    /// Hands the journal to a commit thread (the server's), which then logs with
    /// [`Journal::append`] and brings the results back with [`Engine::apply_sealed`].
    pub fn take_journal(&mut self) -> Option<Journal> {
        self.journal.take()
    }

    pub fn restore_journal(&mut self, journal: Journal) {
        self.journal = Some(journal);
    }

    /// Checks an operation against the state: the access rules, and for a dispute that the
    /// entry exists, is the subject's, and is a scored or court entry.
    pub fn check_access(&self, op: &AccessOp) -> Result<(), EngineError> {
        self.access.check(op, self.today())?;
        if let AccessOp::DisputeFile {
            subject,
            source,
            event,
            ..
        } = op
        {
            let found = self.find_event(*subject, source, event)?;
            match found {
                None => {
                    return Err(credo_access::AccessError::NotFound {
                        what: "entry",
                        id: format!("{source}/{event} of {subject}"),
                    }
                    .into());
                }
                Some(e) if matches!(e.body, EventBody::Subject(_) | EventBody::Contact { .. }) => {
                    return Err(credo_access::AccessError::Invalid {
                        field: "event",
                        problem: format!(
                            "{} entries are not disputed here; the furnisher sends a new record",
                            e.body.kind()
                        ),
                    }
                    .into());
                }
                Some(_) => {}
            }
        }
        Ok(())
    }

    /// Checks, logs (synced) and applies operations with the engine's own journal: the
    /// CLI's path. Fails on the first operation that does not pass its check.
    pub fn log_access(&mut self, pending: Vec<Pending>) -> Result<Vec<Sealed>, EngineError> {
        for p in &pending {
            self.check_access(&p.op)?;
        }
        let journal = self.journal.as_mut().ok_or(EngineError::JournalAway)?;
        let sealed = journal.append(pending)?;
        self.apply_sealed(&sealed)?;
        Ok(sealed)
    }

    /// Applies logged operations: access state, inquiries, and for a dispute that deletes
    /// or corrects an entry, the retraction and a rescore of its subject.
    pub fn apply_sealed(&mut self, sealed: &[Sealed]) -> Result<(), EngineError> {
        for x in sealed {
            if let Some(q) = &x.inquiry {
                if self.inquiries_month != Some(q.at.day().month_index()) {
                    // Once a month, forget what is past retention (a server runs for months).
                    self.inquiries_month = Some(q.at.day().month_index());
                    self.inquiries
                        .forget_before(credo_access::retention_cutoff(self.today()));
                }
                self.inquiries.add(q.clone());
            }
            if let Some((subject, source, id)) =
                self.access.apply_from(x.seq, x.origin, x.at, &x.op)
            {
                self.core
                    .retracted
                    .insert(dedupe_key_of(source.as_bytes(), id.as_bytes()));
                if let Some(s) = self.core.subjects.get(subject) {
                    self.core.rebuild_subject(s, &self.log)?;
                }
            }
        }
        self.refresh_derived()?;
        Ok(())
    }

    /// Every event about a subject, in log order (the self-access report's "all data held").
    pub fn subject_events(&self, id: SubjectId) -> Result<Vec<Event>, EngineError> {
        let Some(s) = self.core.subjects.get(id) else {
            return Ok(Vec::new());
        };
        self.core
            .chain
            .of(s)
            .into_iter()
            .map(|offset| {
                let body = self.log.read_at(offset)?;
                Ok(decode_event(&body)
                    .map_err(|source| credo_store::StoreError::Decode { offset, source })?)
            })
            .collect()
    }

    /// The subject's event with this source and id, if there is one.
    pub fn find_event(
        &self,
        id: SubjectId,
        source: &str,
        event: &str,
    ) -> Result<Option<Event>, EngineError> {
        Ok(self
            .subject_events(id)?
            .into_iter()
            .find(|e| e.source.as_str() == source && e.id.as_str() == event))
    }

    /// True when the event no longer counts after a dispute.
    pub fn is_retracted(&self, e: &Event) -> bool {
        self.core.retracted.contains(&dedupe_key(e))
    }
}

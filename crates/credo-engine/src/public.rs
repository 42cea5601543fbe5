//! A subject's public state, and the public replica a cluster node keeps of every
//! partition's (docs/cluster.md, "Global indexes").
//!
//! The public list, the debtor map and call screening read two things of a subject: its
//! court record and its latest `subject` record (name, address of record, phones). The
//! owner of a subject's partition publishes both as a [`PublicState`]: the record event and
//! the court events that count (in log order, retracted ones left out), in the events'
//! own JSON-lines form. A replica engine takes them with [`Engine::put_public`]: it
//! rebuilds the subject's court record from those events with the same court rules, and
//! answers the list, the map, its live sessions and call screening with the same code as
//! a single machine. The replica derives what depends on the day (grace periods,
//! expiries, ages) itself, as of its own day.

use crate::engine::{Engine, Op};
use crate::error::EngineError;
use crate::wire::{event_json, parse_line};
use credo_model::{Event, EventBody, SubjectId, SubjectRecord};
use rustc_hash::FxHashMap;

/// What a replica needs of one subject to answer for it publicly.
#[derive(Debug, Clone, PartialEq)]
pub struct PublicState {
    pub subject: SubjectId,
    /// The latest `subject` record event, if any.
    pub record: Option<Event>,
    /// The court events that count, in the owner's log order.
    pub court: Vec<Event>,
}

/// A [`PublicState`] that could not be read.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("bad public state: {0}")]
pub struct BadPublic(pub String);

impl PublicState {
    /// One JSON object, with the owner's stream position `seq` (a replica keeps the
    /// newest per subject).
    pub fn to_json(&self, seq: u64) -> Vec<u8> {
        let v = serde_json::json!({
            "subject": self.subject.to_string(),
            "seq": seq,
            "record": self.record.as_ref().map(event_json),
            "court": self.court.iter().map(event_json).collect::<Vec<_>>(),
        });
        v.to_string().into_bytes()
    }

    /// Reads [`PublicState::to_json`] back, checking every event as ingest does and that
    /// each is about the subject.
    pub fn from_json(bytes: &[u8]) -> Result<(PublicState, u64), BadPublic> {
        #[derive(serde::Deserialize)]
        #[serde(deny_unknown_fields)]
        struct Wire {
            subject: String,
            seq: u64,
            record: Option<serde_json::Value>,
            court: Vec<serde_json::Value>,
        }
        let w: Wire = serde_json::from_slice(bytes).map_err(|e| BadPublic(e.to_string()))?;
        let subject = SubjectId::parse(&w.subject).map_err(|e| BadPublic(e.to_string()))?;
        let event = |v: &serde_json::Value| -> Result<Event, BadPublic> {
            let e = parse_line(v.to_string().as_bytes())
                .map_err(|r| BadPublic(format!("{}: {}", r.code, r.message)))?;
            if e.subject != subject {
                return Err(BadPublic(format!(
                    "an event about {} in the state of {subject}",
                    e.subject
                )));
            }
            Ok(e)
        };
        let record = w.record.as_ref().map(event).transpose()?;
        if record
            .as_ref()
            .is_some_and(|e| !matches!(e.body, EventBody::Subject(_)))
        {
            return Err(BadPublic("`record` is not a subject record".into()));
        }
        let court = w.court.iter().map(event).collect::<Result<Vec<_>, _>>()?;
        if let Some(e) = court
            .iter()
            .find(|e| !credo_rules::court::is_court_event(&e.body))
        {
            return Err(BadPublic(format!(
                "`{}` is not a court event",
                e.body.kind()
            )));
        }
        Ok((
            PublicState {
                subject,
                record,
                court,
            },
            w.seq,
        ))
    }
}

/// The records a replica holds in memory (it has no log of them): subjects with a court
/// record only.
#[derive(Default)]
pub(crate) struct Replica {
    pub records: FxHashMap<u32, SubjectRecord>,
}

impl Engine {
    /// Makes this folder publish its subjects' public states (a cluster partition's
    /// owner): every subject with a court record now, then each whose court record or
    /// `subject` record changes ([`Engine::take_public`]).
    pub fn publish_public(&mut self) {
        let mut all: Vec<u32> = self.core.court.subjects.keys().copied().collect();
        all.sort_unstable();
        self.core.public_dirty = Some(all);
    }

    /// The public states of the subjects marked since the last call (each once), read
    /// back from the log. Empty unless [`Engine::publish_public`] was called.
    pub fn take_public(&mut self) -> Result<Vec<PublicState>, EngineError> {
        let Some(dirty) = self.core.public_dirty.as_mut() else {
            return Ok(Vec::new());
        };
        let mut dirty = std::mem::take(dirty);
        dirty.sort_unstable();
        dirty.dedup();
        let mut out = Vec::with_capacity(dirty.len());
        for s in dirty {
            if let Some(id) = self.core.subjects.id(s) {
                out.push(self.public_state(id)?);
            }
        }
        Ok(out)
    }

    /// A subject's public state as this folder holds it.
    pub fn public_state(&self, id: SubjectId) -> Result<PublicState, EngineError> {
        let mut record = None;
        let mut court = Vec::new();
        for e in self.subject_events(id)? {
            if e.subject != id || self.is_retracted(&e) {
                continue;
            }
            match e.body {
                EventBody::Subject(_) => record = Some(e),
                ref b if credo_rules::court::is_court_event(b) => court.push(e),
                _ => {}
            }
        }
        Ok(PublicState {
            subject: id,
            record,
            court,
        })
    }

    /// Replaces the public state of subjects in this replica with what their owners
    /// published, then brings the map and call warnings up to date. A replica folder
    /// takes nothing else: its subjects exist only here.
    pub fn put_public(&mut self, states: Vec<PublicState>) -> Result<(), EngineError> {
        for st in states {
            let (s, _) = self.core.subjects.insert(st.subject);
            self.core.state.grow(s as usize + 1);
            self.core.history.grow(s as usize + 1);
            let records = &mut self.replica.get_or_insert_with(Default::default).records;
            match st.record.map(|e| e.body) {
                Some(EventBody::Subject(r)) => {
                    records.insert(s, r);
                }
                _ => {
                    records.remove(&s);
                }
            }
            self.core.court.reset(s);
            for e in &st.court {
                let op = Op::of(e);
                if let Some(body) = op.court() {
                    self.core.court.apply(s, op.day, body);
                }
            }
            if self.core.court.get(s).is_none() {
                // Nothing public is left: the subject's record is not needed any more.
                records.remove(&s);
            }
            self.core.mark_public(s);
        }
        self.refresh_derived()
    }

    /// A record this replica holds for `s` (see [`Replica`]); `None` on an ordinary folder.
    pub(crate) fn replica_record(&self, s: u32) -> Option<SubjectRecord> {
        self.replica.as_ref()?.records.get(&s).cloned()
    }
}

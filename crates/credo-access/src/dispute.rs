//! Disputes and tip-offs.
//!
//! A subject disputes one entry, named by its `(source, id)`. The party that furnished it
//! (the `source`) resolves the dispute once: it upholds the entry, deletes it, or corrects
//! it with a replacement event. The engine stops counting a deleted or corrected entry and
//! rescores the subject at once; the report shows the dispute and its outcome.

use crate::AccessError;
use credo_model::{SubjectId, Timestamp};
use rustc_hash::FxHashMap;

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Resolution {
    Upheld,
    Deleted,
    /// Replaced by the event with this id (same source).
    Corrected {
        replacement: String,
    },
}

impl Resolution {
    pub fn name(&self) -> &'static str {
        match self {
            Resolution::Upheld => "upheld",
            Resolution::Deleted => "deleted",
            Resolution::Corrected { .. } => "corrected",
        }
    }

    /// True when the disputed entry no longer counts.
    pub fn removes_entry(&self) -> bool {
        !matches!(self, Resolution::Upheld)
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum DisputeState {
    Open,
    Resolved {
        resolution: Resolution,
        by: String,
        at: Timestamp,
        note: String,
    },
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Dispute {
    /// The audit sequence number of the entry that filed it.
    pub id: u64,
    pub subject: SubjectId,
    /// The disputed entry's source (the furnisher or court that sent it) and id.
    pub source: String,
    pub event: String,
    pub reason: String,
    pub filed: Timestamp,
    pub state: DisputeState,
}

#[derive(Debug, Default, Clone)]
pub struct DisputeBook {
    disputes: Vec<Dispute>,
    by_id: FxHashMap<u64, usize>,
}

pub const MAX_TEXT: usize = 2000;

/// Checks a free text field: not empty, at most [`MAX_TEXT`] bytes.
pub fn check_text(field: &'static str, s: &str) -> Result<(), AccessError> {
    if s.trim().is_empty() || s.len() > MAX_TEXT {
        return Err(AccessError::Invalid {
            field,
            problem: format!("must be 1–{MAX_TEXT} bytes of text"),
        });
    }
    Ok(())
}

impl DisputeBook {
    pub fn add(&mut self, d: Dispute) {
        self.by_id.insert(d.id, self.disputes.len());
        self.disputes.push(d);
    }

    pub fn get(&self, id: u64) -> Option<&Dispute> {
        self.by_id.get(&id).map(|&i| &self.disputes[i])
    }

    /// An open dispute about the same entry, if there is one.
    pub fn open_about(&self, source: &str, event: &str) -> Option<&Dispute> {
        self.disputes
            .iter()
            .find(|d| d.state == DisputeState::Open && d.source == source && d.event == event)
    }

    /// Checks that `party` may resolve dispute `id` now: it is open and about its entry.
    pub fn check_resolve(&self, id: u64, party: &str) -> Result<&Dispute, AccessError> {
        let d = self.get(id).ok_or_else(|| AccessError::NotFound {
            what: "dispute",
            id: id.to_string(),
        })?;
        if d.source != party {
            return Err(AccessError::Forbidden(format!(
                "the dispute is about an entry from `{}`; only that party resolves it",
                d.source
            )));
        }
        if d.state != DisputeState::Open {
            return Err(AccessError::Conflict(
                "the dispute is resolved already".into(),
            ));
        }
        Ok(d)
    }

    /// Resolves an open dispute (the first resolution wins; a later one is refused).
    pub fn resolve(&mut self, id: u64, state: DisputeState) -> Result<(), AccessError> {
        let i = *self.by_id.get(&id).ok_or_else(|| AccessError::NotFound {
            what: "dispute",
            id: id.to_string(),
        })?;
        if self.disputes[i].state != DisputeState::Open {
            return Err(AccessError::Conflict(format!(
                "dispute {id} is resolved already"
            )));
        }
        self.disputes[i].state = state;
        Ok(())
    }

    pub fn iter(&self) -> impl Iterator<Item = &Dispute> {
        self.disputes.iter()
    }
}

/// An asset lead about a listed debtor, for the court's inbox.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Tipoff {
    pub id: u64,
    pub subject: SubjectId,
    /// The case it is about, when the sender knows it.
    pub case: Option<String>,
    pub text: String,
    pub at: Timestamp,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_the_source_resolves_and_only_once() {
        let mut book = DisputeBook::default();
        book.add(Dispute {
            id: 3,
            subject: SubjectId::parse("11010519491231002X").unwrap(),
            source: "bank-a".into(),
            event: "e-1".into(),
            reason: "I paid this bill on time".into(),
            filed: Timestamp(0),
            state: DisputeState::Open,
        });
        assert!(book.open_about("bank-a", "e-1").is_some());
        assert_eq!(
            book.check_resolve(3, "bank-b").unwrap_err().code(),
            "forbidden"
        );
        assert_eq!(
            book.check_resolve(4, "bank-a").unwrap_err().code(),
            "not_found"
        );
        assert!(book.check_resolve(3, "bank-a").is_ok());
        let done = DisputeState::Resolved {
            resolution: Resolution::Deleted,
            by: "bank-a".into(),
            at: Timestamp(1),
            note: "our error".into(),
        };
        book.resolve(3, done.clone()).unwrap();
        assert_eq!(
            book.check_resolve(3, "bank-a").unwrap_err().code(),
            "conflict"
        );
        assert_eq!(book.resolve(3, done).unwrap_err().code(), "conflict");
        assert!(book.open_about("bank-a", "e-1").is_none());
    }

    #[test]
    fn text_fields_are_bounded() {
        assert!(check_text("reason", "wrong amount").is_ok());
        assert!(check_text("reason", "   ").is_err());
        assert!(check_text("reason", &"x".repeat(MAX_TEXT + 1)).is_err());
    }
}

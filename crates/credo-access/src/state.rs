//! The access state as a function of the audit log: each entry carries one [`AccessOp`],
//! and [`AccessState::apply`] folds them in order. Ids of grants, disputes and tip-offs are
//! the sequence numbers of the entries that made them, so a replay gives the same ids.

use crate::AccessError;
use crate::consent::{ConsentBook, Grant};
use crate::dispute::{Dispute, DisputeBook, DisputeState, Resolution, Tipoff};
use crate::key::{KeyRecord, KeyRing};
use credo_model::{Day, SubjectId, Timestamp};
use rustc_hash::FxHashSet;

/// What an audit entry records.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum AccessOp {
    KeyCreate(KeyRecord),
    KeyRevoke {
        id: String,
    },
    ConsentGrant {
        subject: SubjectId,
        party: String,
        purpose: String,
        until: Day,
    },
    ConsentRevoke {
        subject: SubjectId,
        id: u64,
    },
    DisputeFile {
        subject: SubjectId,
        source: String,
        event: String,
        reason: String,
    },
    DisputeResolve {
        id: u64,
        by: String,
        resolution: Resolution,
        note: String,
    },
    Tipoff {
        subject: SubjectId,
        case: Option<String>,
        text: String,
    },
    /// A court notice about a listed case was delivered to this many people.
    Impressions {
        case: String,
        delivered: u64,
    },
    /// Events were written to the event log (counts only: the events are in their log).
    Ingest {
        accepted: u64,
        duplicates: u64,
        rejected: u64,
    },
    /// Relying-party policies were replaced.
    PolicyInstall {
        offers: u64,
        sha256: String,
    },
    /// A third party read a subject's data. The entry keeps the SHA-256 of the inquiry
    /// record, not the subject: inquiries are deleted after 12 months, the chain is not.
    Read {
        inquiry: [u8; 32],
    },
}

impl AccessOp {
    /// The operation's name in the log.
    pub fn name(&self) -> &'static str {
        match self {
            AccessOp::KeyCreate(_) => "key.create",
            AccessOp::KeyRevoke { .. } => "key.revoke",
            AccessOp::ConsentGrant { .. } => "consent.grant",
            AccessOp::ConsentRevoke { .. } => "consent.revoke",
            AccessOp::DisputeFile { .. } => "dispute.file",
            AccessOp::DisputeResolve { .. } => "dispute.resolve",
            AccessOp::Tipoff { .. } => "tipoff",
            AccessOp::Impressions { .. } => "notice.impressions",
            AccessOp::Ingest { .. } => "ingest",
            AccessOp::PolicyInstall { .. } => "policy.install",
            AccessOp::Read { .. } => "read",
        }
    }
}

#[derive(Debug, Default, Clone)]
pub struct AccessState {
    pub keys: KeyRing,
    pub consents: ConsentBook,
    pub disputes: DisputeBook,
    pub tipoffs: Vec<Tipoff>,
    /// Delivered impressions of court notices, per case.
    pub impressions: rustc_hash::FxHashMap<String, u64>,
    /// `(source, id)` of entries deleted or replaced after a dispute: they no longer count.
    pub retracted: FxHashSet<(String, String)>,
    /// The last sequence number applied.
    pub seq: u64,
    /// The last sequence number of the cluster's access log applied (0 on one machine):
    /// a cluster partition's operations are applied in that log's order ([`Self::apply_from`]).
    pub origin: u64,
}

impl AccessState {
    /// Checks an operation against the state before it is logged, so that what is logged
    /// applies. (A check and the append are not atomic across concurrent writers; `apply`
    /// therefore treats a late duplicate revoke or resolution as a no-op, first wins.)
    pub fn check(&self, op: &AccessOp, today: Day) -> Result<(), AccessError> {
        match op {
            AccessOp::KeyCreate(k) => {
                match k.subject {
                    Some(s) if k.party != s.to_string() => {
                        return Err(AccessError::Invalid {
                            field: "party",
                            problem: "a subject's key is named after its subject".into(),
                        });
                    }
                    Some(_) => {}
                    None => crate::check_name("party", &k.party)?,
                }
                if self.keys.contains_id(&k.id) {
                    return Err(AccessError::Conflict(format!("key {} exists", k.id)));
                }
                if (k.role == crate::Role::Subject) != k.subject.is_some() {
                    return Err(AccessError::Invalid {
                        field: "subject",
                        problem: "a subject's key, and only a subject's key, names its subject"
                            .into(),
                    });
                }
                Ok(())
            }
            AccessOp::KeyRevoke { id } => match self.keys.get(id) {
                None => Err(AccessError::NotFound {
                    what: "key",
                    id: id.clone(),
                }),
                Some(k) if k.revoked.is_some() => Err(AccessError::Conflict(format!(
                    "key {id} is revoked already"
                ))),
                Some(_) => Ok(()),
            },
            AccessOp::ConsentGrant {
                party,
                purpose,
                until,
                ..
            } => ConsentBook::check_grant(party, purpose, *until, today),
            AccessOp::ConsentRevoke { subject, id } => match self.consents.get(*id) {
                Some(g) if g.subject == *subject && g.revoked.is_none() => Ok(()),
                Some(g) if g.subject == *subject => Err(AccessError::Conflict(format!(
                    "consent {id} is revoked already"
                ))),
                _ => Err(AccessError::NotFound {
                    what: "consent",
                    id: id.to_string(),
                }),
            },
            AccessOp::DisputeFile {
                source,
                event,
                reason,
                ..
            } => {
                crate::dispute::check_text("reason", reason)?;
                if self.disputes.open_about(source, event).is_some() {
                    return Err(AccessError::Conflict(format!(
                        "entry {source}/{event} is already under dispute"
                    )));
                }
                if self.retracted.contains(&(source.clone(), event.clone())) {
                    return Err(AccessError::Conflict(format!(
                        "entry {source}/{event} was deleted or corrected after a dispute"
                    )));
                }
                Ok(())
            }
            AccessOp::DisputeResolve { id, by, note, .. } => {
                if note.len() > crate::dispute::MAX_TEXT {
                    return Err(AccessError::Invalid {
                        field: "note",
                        problem: "too long".into(),
                    });
                }
                self.disputes.check_resolve(*id, by).map(|_| ())
            }
            AccessOp::Tipoff { text, .. } => crate::dispute::check_text("text", text),
            AccessOp::Impressions { case, delivered } => {
                if case.is_empty() || case.len() > 100 {
                    return Err(AccessError::Invalid {
                        field: "case",
                        problem: "must be 1 to 100 bytes".into(),
                    });
                }
                if !(1..=1_000_000_000).contains(delivered) {
                    return Err(AccessError::Invalid {
                        field: "delivered",
                        problem: "must be 1 to 1,000,000,000".into(),
                    });
                }
                Ok(())
            }
            AccessOp::Ingest { .. } | AccessOp::PolicyInstall { .. } | AccessOp::Read { .. } => {
                Ok(())
            }
        }
    }

    /// Folds one logged operation in. Returns the entry retracted by a resolution, so the
    /// caller can rescore its subject.
    pub fn apply(
        &mut self,
        seq: u64,
        at: Timestamp,
        op: &AccessOp,
    ) -> Option<(SubjectId, String, String)> {
        self.apply_from(seq, None, at, op)
    }

    /// [`Self::apply`] of an operation that came from the cluster's access log at sequence
    /// `origin`: the grant, dispute or tip-off it makes takes that number as its id
    /// instead of the local entry's, so every node that applies the log gives the same ids.
    pub fn apply_from(
        &mut self,
        seq: u64,
        origin: Option<u64>,
        at: Timestamp,
        op: &AccessOp,
    ) -> Option<(SubjectId, String, String)> {
        self.seq = seq;
        if let Some(o) = origin {
            self.origin = self.origin.max(o);
        }
        let id = origin.unwrap_or(seq);
        match op {
            AccessOp::KeyCreate(k) => {
                if !self.keys.contains_id(&k.id) {
                    self.keys.add(k.clone());
                }
            }
            AccessOp::KeyRevoke { id } => {
                self.keys.revoke(id, at);
            }
            AccessOp::ConsentGrant {
                subject,
                party,
                purpose,
                until,
            } => self.consents.add(Grant {
                id,
                subject: *subject,
                party: party.clone(),
                purpose: purpose.clone(),
                granted: at,
                until: *until,
                revoked: None,
            }),
            AccessOp::ConsentRevoke { subject, id } => {
                let _ = self.consents.revoke(*subject, *id, at);
            }
            AccessOp::DisputeFile {
                subject,
                source,
                event,
                reason,
            } => self.disputes.add(Dispute {
                id,
                subject: *subject,
                source: source.clone(),
                event: event.clone(),
                reason: reason.clone(),
                filed: at,
                state: DisputeState::Open,
            }),
            AccessOp::DisputeResolve {
                id,
                by,
                resolution,
                note,
            } => {
                let state = DisputeState::Resolved {
                    resolution: resolution.clone(),
                    by: by.clone(),
                    at,
                    note: note.clone(),
                };
                if self.disputes.resolve(*id, state).is_ok() && resolution.removes_entry() {
                    let d = self.disputes.get(*id)?;
                    let entry = (d.source.clone(), d.event.clone());
                    let subject = d.subject;
                    self.retracted.insert(entry.clone());
                    return Some((subject, entry.0, entry.1));
                }
            }
            AccessOp::Tipoff {
                subject,
                case,
                text,
            } => self.tipoffs.push(Tipoff {
                id,
                subject: *subject,
                case: case.clone(),
                text: text.clone(),
                at,
            }),
            AccessOp::Impressions { case, delivered } => {
                *self.impressions.entry(case.clone()).or_default() += delivered;
            }
            AccessOp::Ingest { .. } | AccessOp::PolicyInstall { .. } | AccessOp::Read { .. } => {}
        }
        None
    }
}

/// The digest an audit `read` entry keeps of its inquiry: SHA-256 of the inquiry's bytes
/// as the inquiry log stores them.
pub fn inquiry_digest(encoded: &[u8]) -> [u8; 32] {
    use sha2::{Digest, Sha256};
    Sha256::digest(encoded).into()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::Role;
    use crate::key::hash_token;

    fn sid(s: &str) -> SubjectId {
        SubjectId::parse(s).unwrap()
    }

    #[test]
    fn a_replay_of_the_same_operations_gives_the_same_ids_and_outcomes() {
        let a = sid("11010519491231002X");
        let today = Day::parse("2026-11-22").unwrap();
        let ops = [
            AccessOp::KeyCreate(KeyRecord {
                id: "0000000a".into(),
                hash: hash_token("t"),
                role: Role::Subject,
                party: "11010519491231002X".into(),
                subject: Some(a),
                created: Timestamp(0),
                revoked: None,
            }),
            AccessOp::ConsentGrant {
                subject: a,
                party: "bank-a".into(),
                purpose: "score".into(),
                until: Day::parse("2027-01-01").unwrap(),
            },
            AccessOp::DisputeFile {
                subject: a,
                source: "bank-a".into(),
                event: "b-17".into(),
                reason: "never had this loan".into(),
            },
            AccessOp::DisputeResolve {
                id: 3,
                by: "bank-a".into(),
                resolution: Resolution::Deleted,
                note: "identity mix-up".into(),
            },
            AccessOp::ConsentRevoke { subject: a, id: 2 },
        ];
        let run = || {
            let mut s = AccessState::default();
            let mut retracted = Vec::new();
            for (i, op) in ops.iter().enumerate() {
                s.check(op, today).unwrap();
                retracted.extend(s.apply(i as u64 + 1, Timestamp(i as i64), op));
            }
            (s, retracted)
        };
        let (s1, r1) = run();
        let (s2, r2) = run();
        assert_eq!(r1, vec![(a, "bank-a".to_string(), "b-17".to_string())]);
        assert_eq!(r1, r2);
        assert!(
            s1.retracted
                .contains(&("bank-a".to_string(), "b-17".to_string()))
        );
        assert!(s1.consents.get(2).unwrap().revoked.is_some());
        assert_eq!(s1.consents.get(2), s2.consents.get(2));
        // What was applied is now refused by `check`.
        assert_eq!(s1.check(&ops[4], today).unwrap_err().code(), "conflict");
        assert_eq!(s1.check(&ops[3], today).unwrap_err().code(), "conflict");
        assert_eq!(s1.check(&ops[0], today).unwrap_err().code(), "conflict");
        let again = AccessOp::DisputeFile {
            subject: a,
            source: "bank-a".into(),
            event: "b-17".into(),
            reason: "again".into(),
        };
        assert_eq!(s1.check(&again, today).unwrap_err().code(), "conflict");
    }
}

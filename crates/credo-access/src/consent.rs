//! Consent: a subject grants a named relying party one purpose until a day (inclusive), and
//! can revoke it at once. A purpose is `score` (read the score and its reasons) or the name
//! of one of the party's offers (ask decisions on it). The court list needs no grant: it is
//! public law.

use crate::AccessError;
use credo_model::{Day, SubjectId, Timestamp};
use rustc_hash::FxHashMap;

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Grant {
    /// The audit sequence number of the entry that made it.
    pub id: u64,
    pub subject: SubjectId,
    pub party: String,
    pub purpose: String,
    pub granted: Timestamp,
    /// The last day the grant is valid.
    pub until: Day,
    pub revoked: Option<Timestamp>,
}

impl Grant {
    pub fn valid_on(&self, day: Day) -> bool {
        self.revoked.is_none() && day <= self.until
    }
}

#[derive(Debug, Default, Clone)]
pub struct ConsentBook {
    grants: Vec<Grant>,
    by_id: FxHashMap<u64, usize>,
    /// Per subject key, the grants' positions (a subject has a handful).
    by_subject: FxHashMap<u128, Vec<u32>>,
}

impl ConsentBook {
    /// Checks a new grant: a future last day and a named party.
    pub fn check_grant(
        party: &str,
        purpose: &str,
        until: Day,
        today: Day,
    ) -> Result<(), AccessError> {
        crate::check_name("party", party)?;
        crate::check_name("purpose", purpose)?;
        if until < today {
            return Err(AccessError::Invalid {
                field: "until",
                problem: format!("{until} is in the past (today is {today})"),
            });
        }
        Ok(())
    }

    pub fn add(&mut self, grant: Grant) {
        let i = self.grants.len();
        self.by_id.insert(grant.id, i);
        self.by_subject
            .entry(grant.subject.key())
            .or_default()
            .push(i as u32);
        self.grants.push(grant);
    }

    pub fn get(&self, id: u64) -> Option<&Grant> {
        self.by_id.get(&id).map(|&i| &self.grants[i])
    }

    /// Revokes grant `id` of `subject`; a grant of another subject is not found.
    pub fn revoke(
        &mut self,
        subject: SubjectId,
        id: u64,
        at: Timestamp,
    ) -> Result<(), AccessError> {
        let missing = || AccessError::NotFound {
            what: "consent",
            id: id.to_string(),
        };
        let &i = self.by_id.get(&id).ok_or_else(missing)?;
        let g = &mut self.grants[i];
        if g.subject != subject {
            return Err(missing());
        }
        if g.revoked.is_some() {
            return Err(AccessError::Conflict(format!(
                "consent {id} is revoked already"
            )));
        }
        g.revoked = Some(at);
        Ok(())
    }

    /// Every grant a subject has made, revoked and expired ones included.
    pub fn of(&self, subject: SubjectId) -> impl Iterator<Item = &Grant> {
        self.by_subject
            .get(&subject.key())
            .into_iter()
            .flatten()
            .map(|&i| &self.grants[i as usize])
    }

    /// The valid grant that lets `party` use `purpose` for `subject` on `day`, if any.
    pub fn valid(
        &self,
        subject: SubjectId,
        party: &str,
        purpose: &str,
        day: Day,
    ) -> Option<&Grant> {
        self.of(subject)
            .find(|g| g.party == party && g.purpose == purpose && g.valid_on(day))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn subject(s: &str) -> SubjectId {
        SubjectId::parse(s).unwrap()
    }

    #[test]
    fn a_grant_is_valid_through_its_last_day_for_its_party_and_purpose_only() {
        let a = subject("11010519491231002X");
        let b = subject("440524188001010014");
        let day = |s| Day::parse(s).unwrap();
        let mut book = ConsentBook::default();
        book.add(Grant {
            id: 7,
            subject: a,
            party: "bank-a".into(),
            purpose: "score".into(),
            granted: Timestamp(0),
            until: day("2026-12-31"),
            revoked: None,
        });
        assert!(
            book.valid(a, "bank-a", "score", day("2026-12-31"))
                .is_some()
        );
        assert!(
            book.valid(a, "bank-a", "score", day("2027-01-01"))
                .is_none()
        );
        assert!(
            book.valid(a, "bank-b", "score", day("2026-06-01"))
                .is_none()
        );
        assert!(
            book.valid(a, "bank-a", "deposit_free", day("2026-06-01"))
                .is_none()
        );
        assert!(
            book.valid(b, "bank-a", "score", day("2026-06-01"))
                .is_none()
        );
        // Another subject cannot revoke it; its own subject can, once.
        assert_eq!(
            book.revoke(b, 7, Timestamp(1)).unwrap_err().code(),
            "not_found"
        );
        book.revoke(a, 7, Timestamp(1)).unwrap();
        assert_eq!(
            book.revoke(a, 7, Timestamp(2)).unwrap_err().code(),
            "conflict"
        );
        assert!(
            book.valid(a, "bank-a", "score", day("2026-06-01"))
                .is_none()
        );
        assert_eq!(book.of(a).count(), 1, "a revoked grant stays in the record");
    }

    #[test]
    fn a_grant_must_name_a_party_and_end_today_or_later() {
        let day = |s| Day::parse(s).unwrap();
        let today = day("2026-11-22");
        assert!(ConsentBook::check_grant("bank-a", "score", today, today).is_ok());
        let past = ConsentBook::check_grant("bank-a", "score", day("2026-11-21"), today);
        assert!(matches!(
            past,
            Err(AccessError::Invalid { field: "until", .. })
        ));
        let bad = ConsentBook::check_grant("Bank A", "score", today, today);
        assert!(matches!(
            bad,
            Err(AccessError::Invalid { field: "party", .. })
        ));
    }
}

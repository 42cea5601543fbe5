//! Inquiries: every read of a subject's data by a third party, with what it was told.
//! A subject sees them in its report; they are deleted 12 months after they were made
//! (Schufa's rule for inquiries).

use crate::role::Role;
use credo_model::{Day, SubjectId, Timestamp};
use rustc_hash::FxHashMap;

pub const RETENTION_MONTHS: i32 = 12;

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Inquiry {
    pub at: Timestamp,
    pub subject: SubjectId,
    pub role: Role,
    pub party: String,
    /// What was asked: `score`, `check:ACTION`, `report`.
    pub what: String,
    /// What was sent: `allow`, `deny`, `score 652`, …
    pub answer: String,
}

/// The first day whose inquiries are still kept on `today`: the same day 12 months earlier
/// (the last day of the month where that day does not exist).
pub fn retention_cutoff(today: Day) -> Day {
    let (y, m, d) = today.ymd();
    let months = y * 12 + m as i32 - 1 - RETENTION_MONTHS;
    let (y, m) = (months.div_euclid(12), months.rem_euclid(12) as u32 + 1);
    let d = d.min(credo_model::time::days_in_month(y, m));
    Day::from_ymd(y, m, d).unwrap_or(today)
}

#[derive(Debug, Default, Clone)]
pub struct InquiryLog {
    by_subject: FxHashMap<u128, Vec<Inquiry>>,
    len: usize,
}

impl InquiryLog {
    pub fn add(&mut self, q: Inquiry) {
        self.by_subject.entry(q.subject.key()).or_default().push(q);
        self.len += 1;
    }

    /// The subject's inquiries, oldest first.
    pub fn of(&self, subject: SubjectId) -> &[Inquiry] {
        self.by_subject
            .get(&subject.key())
            .map_or(&[], |v| v.as_slice())
    }

    /// Forgets every inquiry made before `cutoff`; returns how many.
    pub fn forget_before(&mut self, cutoff: Day) -> usize {
        let before = self.len;
        self.by_subject.retain(|_, v| {
            v.retain(|q| q.at.day() >= cutoff);
            !v.is_empty()
        });
        self.len = self.by_subject.values().map(Vec::len).sum();
        before - self.len
    }

    pub fn len(&self) -> usize {
        self.len
    }

    pub fn is_empty(&self) -> bool {
        self.len == 0
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn the_cutoff_is_twelve_months_back_and_clamps_to_the_month_end() {
        let d = |s| Day::parse(s).unwrap();
        assert_eq!(retention_cutoff(d("2026-11-22")), d("2025-11-22"));
        assert_eq!(retention_cutoff(d("2028-02-29")), d("2027-02-28"));
        assert_eq!(retention_cutoff(d("2026-01-31")), d("2025-01-31"));
    }

    proptest! {
        #[test]
        fn forgetting_keeps_exactly_the_inquiries_on_or_after_the_cutoff(
            days in proptest::collection::vec(0i32..800, 0..60),
            cut in 0i32..800,
        ) {
            let subject = SubjectId::parse("11010519491231002X").unwrap();
            let mut log = InquiryLog::default();
            for &d in &days {
                log.add(Inquiry {
                    at: Day(20_000 + d).start(),
                    subject,
                    role: Role::RelyingParty,
                    party: "rail".into(),
                    what: "check:rail_g".into(),
                    answer: "allow".into(),
                });
            }
            let forgotten = log.forget_before(Day(20_000 + cut));
            let kept = days.iter().filter(|&&d| d >= cut).count();
            prop_assert_eq!(log.len(), kept);
            prop_assert_eq!(forgotten, days.len() - kept);
            prop_assert!(log.of(subject).iter().all(|q| q.at.day() >= Day(20_000 + cut)));
        }
    }
}

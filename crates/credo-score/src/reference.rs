//! A naive recomputation of every feature from a subject's full event list, written
//! independently of [`crate::state`]: it keeps every event and filters them at `as_of`.
//! Tests compare the incremental state with it; nothing in production calls it.

use crate::signal::Signal;
use crate::spec::{Aggregate, Model, ProfileVar, StateVar};
use credo_model::{BillStatus, Day, EventBody, RentalStatus, SubjectId};

/// One subject's events in log order, and its contact count.
pub struct History<'a> {
    pub id: SubjectId,
    pub events: &'a [(Day, EventBody)],
    pub contacts: u32,
}

pub fn features(model: &Model, h: &History<'_>, as_of: Day) -> Vec<Option<f64>> {
    let scored: Vec<(Day, Signal, f64)> = h
        .events
        .iter()
        .filter(|(d, _)| crate::pack_day(*d).is_some())
        .filter_map(|(d, b)| Signal::of(b).map(|(s, v)| (*d, s, f64::from(v))))
        .collect();
    let last = scored.iter().map(|e| e.0).max();
    let a = last.map_or(as_of, |l| l.max(as_of));
    let am = a.month_index();
    let mut out: Vec<Option<f64>> = Vec::new();
    for f in &model.features {
        let mine = || scored.iter().filter(|e| f.signals.contains(&e.1));
        let v = match f.aggregate {
            Aggregate::WindowCount { months } => Some(
                mine()
                    .filter(|e| e.0.month_index() > am - months as i32)
                    .count() as f64,
            ),
            Aggregate::WindowSum { months } => Some(
                mine()
                    .filter(|e| e.0.month_index() > am - months as i32)
                    .map(|e| e.2)
                    .sum(),
            ),
            Aggregate::DecayedCount { half_life_days } => Some(
                mine()
                    .map(|e| (-f64::from(a.0 - e.0.0) / half_life_days).exp2())
                    .sum(),
            ),
            Aggregate::DecayedSum { half_life_days } => Some(
                mine()
                    .map(|e| e.2 * (-f64::from(a.0 - e.0.0) / half_life_days).exp2())
                    .sum(),
            ),
            Aggregate::DaysSinceLast => mine().map(|e| e.0).max().map(|d| f64::from(a.0 - d.0)),
            Aggregate::HistoryMonths => scored
                .iter()
                .filter(|e| {
                    !matches!(
                        e.1,
                        Signal::Judgment | Signal::Performance | Signal::Violation
                    )
                })
                .map(|e| e.0)
                .min()
                .map(|d| f64::from(am - d.month_index())),
            Aggregate::State(var) => Some(state_var(h, var)),
            // From the contact graph, not the subject's own events: filled in by the engine.
            Aggregate::ContactsStanding => None,
            Aggregate::Profile(ProfileVar::Age) => match h.id {
                SubjectId::Person(r) => Some(f64::from(a.years_since(r.birth()))),
                SubjectId::Company(_) => None,
            },
            Aggregate::Profile(ProfileVar::IdentityCompleteness) => {
                let rec = h.events.iter().rev().find_map(|(_, b)| match b {
                    EventBody::Subject(r) => Some(r),
                    _ => None,
                });
                Some(rec.map_or(0.0, |r| {
                    [
                        !r.name.is_empty(),
                        !r.address.is_empty(),
                        !r.phones.is_empty(),
                        !r.industry.is_empty(),
                    ]
                    .iter()
                    .filter(|x| **x)
                    .count() as f64
                }))
            }
            Aggregate::Share { part, rest } => {
                let p = out[part].unwrap_or(0.0);
                let r = out[rest].unwrap_or(0.0);
                if p + r > 1e-9 {
                    Some(p / (p + r))
                } else {
                    None
                }
            }
        };
        out.push(v);
    }
    out
}

fn state_var(h: &History<'_>, var: StateVar) -> f64 {
    let events = h
        .events
        .iter()
        .filter(|(d, _)| crate::pack_day(*d).is_some());
    match var {
        StateVar::OverdueBillAmount => {
            let mut open: Vec<(&str, i64)> = Vec::new();
            for (_, b) in events {
                if let EventBody::Bill {
                    reference,
                    amount,
                    status,
                } = b
                {
                    match status {
                        BillStatus::Unpaid => match open.iter_mut().find(|(r, _)| r == reference) {
                            Some(e) => e.1 += amount.0,
                            None => open.push((reference, amount.0)),
                        },
                        BillStatus::Paid | BillStatus::Late { .. } => {
                            open.retain(|(r, _)| r != reference)
                        }
                        BillStatus::Due => {}
                    }
                }
            }
            open.iter().map(|e| e.1).sum::<i64>() as f64 / 100.0
        }
        StateVar::LoanBalance => events
            .map(|(_, b)| match b {
                EventBody::Loan { amount, .. } => amount.yuan(),
                EventBody::Repayment { amount, .. } => -amount.yuan(),
                _ => 0.0,
            })
            .sum::<f64>()
            .max(0.0),
        StateVar::UnpaidJudgmentAmount | StateVar::UnpaidJudgments => {
            let mut cases: Vec<(&str, i64)> = Vec::new();
            for (_, b) in events {
                let (case, delta) = match b {
                    EventBody::Judgment { case, amount, .. } => (case.as_str(), amount.0),
                    EventBody::Performance { case, amount } => (case.as_str(), -amount.0),
                    _ => continue,
                };
                match cases.iter_mut().find(|(c, _)| *c == case) {
                    Some(e) => e.1 += delta,
                    None => cases.push((case, delta)),
                }
            }
            let open = cases.iter().filter(|c| c.1 > 0);
            if var == StateVar::UnpaidJudgments {
                open.count() as f64
            } else {
                open.map(|c| c.1).sum::<i64>() as f64 / 100.0
            }
        }
        StateVar::OpenRentals => {
            let mut open: u32 = 0;
            for (_, b) in events {
                if let EventBody::Rental { status, .. } = b {
                    open = match status {
                        RentalStatus::Started => (open + 1).min(255),
                        _ => open.saturating_sub(1),
                    };
                }
            }
            f64::from(open)
        }
        StateVar::Contacts => f64::from(h.contacts),
    }
}

//! Signals: what an event means to the scorecard. Each event maps to at most one signal,
//! with a value (an amount in yuan, or points).

use credo_model::{BillStatus, EventBody, RentalStatus};
use serde::Deserialize;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Signal {
    Payment,
    BillDue,
    BillPaid,
    BillLate,
    BillUnpaid,
    LoanOpened,
    Repayment,
    RepaymentLate,
    LoanDefault,
    RentalStarted,
    RentalReturned,
    RentalUnreturned,
    Judgment,
    Performance,
    Violation,
}

pub const SIGNAL_COUNT: usize = 15;

impl Signal {
    pub const ALL: [Signal; SIGNAL_COUNT] = [
        Signal::Payment,
        Signal::BillDue,
        Signal::BillPaid,
        Signal::BillLate,
        Signal::BillUnpaid,
        Signal::LoanOpened,
        Signal::Repayment,
        Signal::RepaymentLate,
        Signal::LoanDefault,
        Signal::RentalStarted,
        Signal::RentalReturned,
        Signal::RentalUnreturned,
        Signal::Judgment,
        Signal::Performance,
        Signal::Violation,
    ];

    /// Whether the signal is part of a credit relationship and so dates the start of the
    /// subject's credit history. Court and legal events do not: otherwise an old judgment
    /// would lengthen the history and raise the score.
    pub fn opens_history(self) -> bool {
        !matches!(
            self,
            Signal::Judgment | Signal::Performance | Signal::Violation
        )
    }

    /// The signal of an event and its value, or `None` for subject records and contacts.
    pub fn of(body: &EventBody) -> Option<(Signal, f32)> {
        let yuan = |a: &credo_model::Amount| a.yuan() as f32;
        Some(match body {
            // Court lifecycle events and bans drive decisions (credo-rules), not features:
            // the judgment behind a listing is already scored as an unpaid judgment.
            EventBody::Subject(_)
            | EventBody::Contact { .. }
            | EventBody::Listing { .. }
            | EventBody::Restriction { .. }
            | EventBody::Extension { .. }
            | EventBody::Removal { .. }
            | EventBody::Ban { .. } => return None,
            EventBody::Payment { amount } => (Signal::Payment, yuan(amount)),
            EventBody::Bill { amount, status, .. } => (
                match status {
                    BillStatus::Due => Signal::BillDue,
                    BillStatus::Paid => Signal::BillPaid,
                    BillStatus::Late { .. } => Signal::BillLate,
                    BillStatus::Unpaid => Signal::BillUnpaid,
                },
                yuan(amount),
            ),
            EventBody::Loan { amount, .. } => (Signal::LoanOpened, yuan(amount)),
            EventBody::Repayment {
                amount, days_late, ..
            } => (
                if *days_late > 0 {
                    Signal::RepaymentLate
                } else {
                    Signal::Repayment
                },
                yuan(amount),
            ),
            EventBody::Default { amount, .. } => (Signal::LoanDefault, yuan(amount)),
            EventBody::Rental { status, .. } => (
                match status {
                    RentalStatus::Started => Signal::RentalStarted,
                    RentalStatus::Returned => Signal::RentalReturned,
                    RentalStatus::Unreturned => Signal::RentalUnreturned,
                },
                1.0,
            ),
            EventBody::Judgment { amount, .. } => (Signal::Judgment, yuan(amount)),
            EventBody::Performance { amount, .. } => (Signal::Performance, yuan(amount)),
            EventBody::Violation { points, .. } => (Signal::Violation, f32::from(*points)),
        })
    }
}

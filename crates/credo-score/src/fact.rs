//! What one event changes in the scoring state, as a small `Copy` value. Ingest derives
//! facts on all cores while parsing, so the single-threaded apply step touches no strings.

use crate::signal::Signal;
use credo_model::{BillStatus, EventBody, RentalStatus};
use xxhash_rust::xxh3::xxh3_64;

#[derive(Debug, Clone, Copy, PartialEq)]
pub enum LedgerOp {
    None,
    /// The subject's record: which of name, address, phone, industry it has (bit flags).
    Identity(u8),
    BillUnpaid {
        bill: u64,
        fen: i64,
    },
    BillSettled {
        bill: u64,
    },
    LoanOpened(f32),
    Repaid(f32),
    RentalStarted,
    RentalEnded,
    /// A judgment (positive) or a performance (negative) on a case.
    Case {
        case: u64,
        delta: i64,
    },
}

#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Fact {
    pub signal: Option<(Signal, f32)>,
    pub ledger: LedgerOp,
}

pub const ID_NAME: u8 = 1;
pub const ID_ADDRESS: u8 = 2;
pub const ID_PHONE: u8 = 4;
pub const ID_INDUSTRY: u8 = 8;

impl Fact {
    pub fn of(body: &EventBody) -> Fact {
        let ledger = match body {
            EventBody::Subject(rec) => {
                let mut flags = 0;
                if !rec.name.is_empty() {
                    flags |= ID_NAME;
                }
                if !rec.address.is_empty() {
                    flags |= ID_ADDRESS;
                }
                if !rec.phones.is_empty() {
                    flags |= ID_PHONE;
                }
                if !rec.industry.is_empty() {
                    flags |= ID_INDUSTRY;
                }
                LedgerOp::Identity(flags)
            }
            EventBody::Bill {
                reference,
                amount,
                status,
            } => match status {
                BillStatus::Unpaid => LedgerOp::BillUnpaid {
                    bill: xxh3_64(reference.as_bytes()),
                    fen: amount.0,
                },
                BillStatus::Paid | BillStatus::Late { .. } => LedgerOp::BillSettled {
                    bill: xxh3_64(reference.as_bytes()),
                },
                BillStatus::Due => LedgerOp::None,
            },
            EventBody::Loan { amount, .. } => LedgerOp::LoanOpened(amount.yuan() as f32),
            EventBody::Repayment { amount, .. } => LedgerOp::Repaid(amount.yuan() as f32),
            EventBody::Rental { status, .. } => match status {
                RentalStatus::Started => LedgerOp::RentalStarted,
                RentalStatus::Returned | RentalStatus::Unreturned => LedgerOp::RentalEnded,
            },
            EventBody::Judgment { case, amount, .. } => LedgerOp::Case {
                case: xxh3_64(case.as_bytes()),
                delta: amount.0,
            },
            EventBody::Performance { case, amount } => LedgerOp::Case {
                case: xxh3_64(case.as_bytes()),
                delta: -amount.0,
            },
            _ => LedgerOp::None,
        };
        Fact {
            signal: Signal::of(body),
            ledger,
        }
    }
}

//! Events as domain values. The wire format (JSON lines) lives at the ingest edge
//! and the disk format in the store; both convert to and from these types.

use crate::{Amount, SubjectId, Timestamp};

/// Short text (ids, references, case numbers): stored inline up to 24 bytes, so most
/// events allocate nothing for them (ingest builds millions a second).
pub type Text = compact_str::CompactString;

/// One fact reported by a furnisher or a court. `(source, id)` identifies it: sending
/// the same pair again is a duplicate and changes nothing.
#[derive(Debug, Clone, PartialEq)]
pub struct Event {
    /// The furnisher or court that sent it; may be empty, and then `id` must be globally unique.
    pub source: Text,
    pub id: Text,
    pub subject: SubjectId,
    pub at: Timestamp,
    pub body: EventBody,
}

#[derive(Debug, Clone, PartialEq)]
pub enum EventBody {
    /// The subject's record: name, region, industry, address of record and phones.
    Subject(SubjectRecord),
    /// An ordinary payment made by the subject.
    Payment { amount: Amount },
    /// A bill: issued (due), paid on time, paid late, or overdue and unpaid.
    Bill {
        reference: Text,
        amount: Amount,
        status: BillStatus,
    },
    /// A loan opened for `amount`.
    Loan { reference: Text, amount: Amount },
    /// A repayment on a loan, `days_late` after its due date (0 = on time).
    Repayment {
        reference: Text,
        amount: Amount,
        days_late: u16,
    },
    /// A loan declared in default with `amount` outstanding.
    Default { reference: Text, amount: Amount },
    /// A rental (bike, power bank, car, flat): started, returned, or not returned.
    Rental {
        reference: Text,
        status: RentalStatus,
    },
    /// A court judgment ordering the subject to pay `amount` in `case`.
    Judgment {
        case: Text,
        court: Text,
        amount: Amount,
    },
    /// Payment toward a judgment; the case is performed when payments reach its amount.
    Performance { case: Text, amount: Amount },
    /// An administrative or legal violation with a point deduction.
    Violation {
        code: Text,
        points: u16,
        authority: Text,
    },
    /// A social-graph edge between the subject and `other`, added or removed.
    Contact { other: SubjectId, op: ContactOp },
}

#[derive(Debug, Clone, PartialEq, Default)]
pub struct SubjectRecord {
    pub name: String,
    /// Six-digit GB/T 2260 region code of the address of record.
    pub region: u32,
    /// Industry code (GB/T 4754 section letter, e.g. `I` for IT).
    pub industry: String,
    pub lat: f64,
    pub lon: f64,
    pub address: String,
    pub phones: Vec<String>,
    /// A company's legal representative.
    pub legal_rep: Option<String>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BillStatus {
    Due,
    Paid,
    Late { days: u16 },
    Unpaid,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RentalStatus {
    Started,
    Returned,
    Unreturned,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ContactOp {
    Add,
    Remove,
}

impl EventBody {
    /// The `kind` string used on the wire and in the documentation.
    pub fn kind(&self) -> &'static str {
        match self {
            EventBody::Subject(_) => "subject",
            EventBody::Payment { .. } => "payment",
            EventBody::Bill { .. } => "bill",
            EventBody::Loan { .. } => "loan",
            EventBody::Repayment { .. } => "repayment",
            EventBody::Default { .. } => "default",
            EventBody::Rental { .. } => "rental",
            EventBody::Judgment { .. } => "judgment",
            EventBody::Performance { .. } => "performance",
            EventBody::Violation { .. } => "violation",
            EventBody::Contact { .. } => "contact",
        }
    }
}

/// Every kind, in documentation order.
pub const KINDS: &[&str] = &[
    "subject",
    "payment",
    "bill",
    "loan",
    "repayment",
    "default",
    "rental",
    "judgment",
    "performance",
    "violation",
    "contact",
];

impl BillStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            BillStatus::Due => "due",
            BillStatus::Paid => "paid",
            BillStatus::Late { .. } => "late",
            BillStatus::Unpaid => "unpaid",
        }
    }
}

impl RentalStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            RentalStatus::Started => "started",
            RentalStatus::Returned => "returned",
            RentalStatus::Unreturned => "unreturned",
        }
    }
}

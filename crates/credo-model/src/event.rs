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
    /// The court puts the subject on the list of dishonest judgment defaulters for `case`,
    /// on one of the six triggers (1: able to perform but refuses; 2: obstructs; 3: evades;
    /// 4: fails to report assets; 5: breaks a restriction order; 6: breaks a settlement).
    /// `grace_days` delays publication; `None` means the configured default.
    Listing {
        case: Text,
        court: Text,
        trigger: u8,
        grace_days: Option<u16>,
    },
    /// A consumption-restriction order in `case` (the separate restriction list).
    Restriction { case: Text, court: Text },
    /// The listing in `case` is extended by 1–3 years (violent obstruction, repeated acts).
    Extension { case: Text, years: u8 },
    /// The court removes the listing and lifts the restriction order in `case`.
    Removal { case: Text, reason: RemovalReason },
    /// A temporary ban from an authority (e.g. 180 days off trains for smoking on a
    /// bullet train): it ends by itself after `days`.
    Ban {
        scope: BanScope,
        days: u16,
        code: Text,
        authority: Text,
    },
}

/// Why a court removed a listing before its period ran out (performance of the whole
/// obligation removes it too, without a removal event).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum RemovalReason {
    Performed,
    Settlement,
    CreditorRequest,
    EnforcementEnded,
    Suspended,
    SetAside,
}

impl RemovalReason {
    pub const ALL: [RemovalReason; 6] = [
        RemovalReason::Performed,
        RemovalReason::Settlement,
        RemovalReason::CreditorRequest,
        RemovalReason::EnforcementEnded,
        RemovalReason::Suspended,
        RemovalReason::SetAside,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            RemovalReason::Performed => "performed",
            RemovalReason::Settlement => "settlement",
            RemovalReason::CreditorRequest => "creditor_request",
            RemovalReason::EnforcementEnded => "enforcement_ended",
            RemovalReason::Suspended => "suspended",
            RemovalReason::SetAside => "set_aside",
        }
    }

    pub fn parse(s: &str) -> Option<RemovalReason> {
        Self::ALL.into_iter().find(|r| r.as_str() == s)
    }
}

/// What a temporary ban covers.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum BanScope {
    Rail,
    Flight,
    /// Both trains and flights (e.g. one year for court and tax defaulters).
    Travel,
}

impl BanScope {
    pub const ALL: [BanScope; 3] = [BanScope::Rail, BanScope::Flight, BanScope::Travel];

    pub fn as_str(self) -> &'static str {
        match self {
            BanScope::Rail => "rail",
            BanScope::Flight => "flight",
            BanScope::Travel => "travel",
        }
    }

    pub fn parse(s: &str) -> Option<BanScope> {
        Self::ALL.into_iter().find(|r| r.as_str() == s)
    }
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
    /// The position of [`EventBody::kind`] in [`KINDS`], without comparing strings.
    pub fn kind_index(&self) -> usize {
        match self {
            EventBody::Subject(_) => 0,
            EventBody::Payment { .. } => 1,
            EventBody::Bill { .. } => 2,
            EventBody::Loan { .. } => 3,
            EventBody::Repayment { .. } => 4,
            EventBody::Default { .. } => 5,
            EventBody::Rental { .. } => 6,
            EventBody::Judgment { .. } => 7,
            EventBody::Performance { .. } => 8,
            EventBody::Violation { .. } => 9,
            EventBody::Contact { .. } => 10,
            EventBody::Listing { .. } => 11,
            EventBody::Restriction { .. } => 12,
            EventBody::Extension { .. } => 13,
            EventBody::Removal { .. } => 14,
            EventBody::Ban { .. } => 15,
        }
    }

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
            EventBody::Listing { .. } => "listing",
            EventBody::Restriction { .. } => "restriction",
            EventBody::Extension { .. } => "extension",
            EventBody::Removal { .. } => "removal",
            EventBody::Ban { .. } => "ban",
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
    "listing",
    "restriction",
    "extension",
    "removal",
    "ban",
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

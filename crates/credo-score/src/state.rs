//! The incremental feature state of every subject: one fixed-size row of bytes per
//! subject, in one flat vector indexed by a dense subject index (`u32`). A row holds the
//! fields every subject has and each feature's accumulator at offsets computed from the
//! model, so the event of a subject touches one or two cache lines, not one per column.
//! Hot state stays small: see [`ScoreState::footprint`].
//!
//! Out-of-order events are handled: decayed sums are kept as of the subject's latest
//! event day and older events are added pre-decayed; window rings are anchored at the
//! latest event's month, and an event already outside every future window is dropped.
//! A score is never evaluated before the subject's latest event (see [`ScoreState::features`]).

use crate::fact::{Fact, LedgerOp};
use crate::spec::{Aggregate, Model, ProfileVar, StateVar};
use crate::{pack_day, unpack_day};
use credo_model::{Day, EventBody, SubjectId};
use rustc_hash::FxHashMap as HashMap;

/// How a feature is kept and read: where its accumulator lies in the row, or what else
/// it is read from. Resolved from the model once, when the state is built, so neither an
/// event nor a score matches on the model.
#[derive(Debug, Clone, Copy, PartialEq)]
enum Column {
    /// `months` saturating `u8` counters, one per calendar month, as a ring.
    WinCount {
        off: usize,
        months: u32,
    },
    /// `months` `f32` sums, as a ring.
    WinSum {
        off: usize,
        months: u32,
    },
    /// An `f32` decayed as of the subject's latest event day; `k` is the index of its
    /// half-life in [`ScoreState::half_lives`]; `sum` adds each signal's value, not 1.
    Decayed {
        off: usize,
        half_life: f64,
        k: usize,
        sum: bool,
    },
    /// A `u16` packed day.
    LastDay {
        off: usize,
    },
    // No accumulator of their own: read from the fixed fields or the ledgers.
    HistoryMonths,
    State(StateVar),
    Age,
    IdentityCompleteness,
    Share {
        part: usize,
        rest: usize,
    },
    /// Not held by the state (the engine fills in the propagated term).
    Missing,
}

// Fixed fields at the start of every row.
const LAST_DAY: usize = 0; // u16: latest scored event day, packed (0 = none)
const FIRST_DAY: usize = 2; // u16: first scored event day
const CONTACTS: usize = 4; // u16
const IDENTITY: usize = 6; // u8: identity flags
const OPEN_RENTALS: usize = 7; // u8
const LOAN_BALANCE: usize = 8; // f32, yuan
const FIXED: usize = 12;

// One range check per access instead of one per byte: these run for every feature of
// every score and every event.
fn rd_u16(row: &[u8], off: usize) -> u16 {
    let mut b = [0u8; 2];
    b.copy_from_slice(&row[off..off + 2]);
    u16::from_le_bytes(b)
}
fn wr_u16(row: &mut [u8], off: usize, v: u16) {
    row[off..off + 2].copy_from_slice(&v.to_le_bytes());
}
fn rd_f32(row: &[u8], off: usize) -> f32 {
    let mut b = [0u8; 4];
    b.copy_from_slice(&row[off..off + 4]);
    f32::from_le_bytes(b)
}
fn wr_f32(row: &mut [u8], off: usize, v: f32) {
    row[off..off + 4].copy_from_slice(&v.to_le_bytes());
}

/// Open-item ledgers: only subjects with unpaid bills or judgments have entries.
#[derive(Debug, Clone, Default, PartialEq)]
struct Ledger {
    /// Unpaid bills by (subject, reference hash), in fen.
    bills: HashMap<(u32, u64), i64>,
    /// Overdue fen per subject (the sum of its open bills).
    overdue: HashMap<u32, i64>,
    /// Remaining fen per judgment case; negative when paid ahead of the judgment's arrival.
    cases: HashMap<(u32, u64), i64>,
    /// (open cases, unpaid fen) per subject.
    judgments: HashMap<u32, (u32, i64)>,
}

#[derive(Debug, Clone, PartialEq)]
pub struct ScoreState {
    n: usize,
    stride: usize,
    rows: Vec<u8>,
    cols: Vec<Column>,
    /// The distinct half-lives of the decayed features, and for each decayed column its
    /// index in this list, so one advance computes each decay factor once.
    half_lives: Vec<f64>,
    /// `2^(-d / h)` for each half-life `h` and whole days `d` below [`DECAY_TABLE_DAYS`]:
    /// the same values `exp2` gives, looked up (a subject's next event, and the close of
    /// its month, are nearly always less than two months after its last one).
    decay_table: Vec<[f64; DECAY_TABLE_DAYS]>,
    ledger: Ledger,
}

const DECAY_TABLE_DAYS: usize = 64;

/// Memory used by the scoring state.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct StateFootprint {
    /// Bytes of dense columns per subject (every subject pays this).
    pub dense_bytes_per_subject: usize,
    /// Entries in the sparse open-item ledgers (unpaid bills and judgment cases).
    pub sparse_entries: usize,
    /// Approximate bytes of the sparse ledgers, hash-table overhead included.
    pub sparse_bytes: usize,
}

/// Month index of a packed day, from a table built once (it runs several times per event).
pub fn month_of(d: u16) -> i32 {
    static TABLE: std::sync::OnceLock<Vec<u16>> = std::sync::OnceLock::new();
    let t = TABLE.get_or_init(|| {
        (0..=u16::MAX)
            .map(|d| unpack_day(d).month_index() as u16)
            .collect()
    });
    i32::from(t[usize::from(d)])
}

impl ScoreState {
    pub fn new(model: &Model) -> ScoreState {
        let mut off = FIXED;
        let mut half_lives: Vec<f64> = Vec::new();
        let cols = model
            .features
            .iter()
            .map(|f| {
                let (col, size) = match f.aggregate {
                    Aggregate::WindowCount { months } => {
                        (Column::WinCount { off, months }, months as usize)
                    }
                    Aggregate::WindowSum { months } => {
                        (Column::WinSum { off, months }, 4 * months as usize)
                    }
                    Aggregate::DecayedCount { half_life_days }
                    | Aggregate::DecayedSum { half_life_days } => {
                        let k = match half_lives.iter().position(|&h| h == half_life_days) {
                            Some(k) => k,
                            None => {
                                half_lives.push(half_life_days);
                                half_lives.len() - 1
                            }
                        };
                        (
                            Column::Decayed {
                                off,
                                half_life: half_life_days,
                                k,
                                sum: matches!(f.aggregate, Aggregate::DecayedSum { .. }),
                            },
                            4,
                        )
                    }
                    Aggregate::DaysSinceLast => (Column::LastDay { off }, 2),
                    Aggregate::HistoryMonths => (Column::HistoryMonths, 0),
                    Aggregate::State(var) => (Column::State(var), 0),
                    Aggregate::Profile(ProfileVar::Age) => (Column::Age, 0),
                    Aggregate::Profile(ProfileVar::IdentityCompleteness) => {
                        (Column::IdentityCompleteness, 0)
                    }
                    Aggregate::Share { part, rest } => (Column::Share { part, rest }, 0),
                    Aggregate::ContactsStanding => (Column::Missing, 0),
                };
                off += size;
                col
            })
            .collect();
        let decay_table = half_lives
            .iter()
            .map(|h| std::array::from_fn(|d| (-(d as f64) / h).exp2()))
            .collect();
        ScoreState {
            n: 0,
            stride: off,
            rows: Vec::new(),
            cols,
            half_lives,
            decay_table,
            ledger: Ledger::default(),
        }
    }

    pub fn len(&self) -> usize {
        self.n
    }

    pub fn is_empty(&self) -> bool {
        self.n == 0
    }

    /// Makes room for subjects `0..n`.
    pub fn grow(&mut self, n: usize) {
        if n > self.n {
            self.rows.resize(n * self.stride, 0);
            self.n = n;
        }
    }

    fn row(&self, s: u32) -> Option<&[u8]> {
        let i = s as usize;
        self.rows.get(i * self.stride..(i + 1) * self.stride)
    }

    /// The day of the subject's latest scored event, if any.
    pub fn last_day(&self, s: u32) -> Option<Day> {
        self.row(s)
            .map(|r| rd_u16(r, LAST_DAY))
            .filter(|&d| d != 0)
            .map(unpack_day)
    }

    /// The month index of the subject's latest scored event, if any.
    pub fn last_month(&self, s: u32) -> Option<i32> {
        self.row(s)
            .map(|r| rd_u16(r, LAST_DAY))
            .filter(|&d| d != 0)
            .map(month_of)
    }

    /// Unpaid judgments: (open cases, unpaid amount in fen).
    pub fn judgments(&self, s: u32) -> (u32, i64) {
        self.ledger.judgments.get(&s).copied().unwrap_or((0, 0))
    }

    pub fn contacts(&self, s: u32) -> u16 {
        self.row(s).map_or(0, |r| rd_u16(r, CONTACTS))
    }

    /// Adds or removes one contact edge end. The caller keeps the edge set.
    /// Clears the subject's row and its ledger entries: the start of a recompute from its
    /// events (contacts included).
    pub fn reset(&mut self, s: u32) {
        let stride = self.stride;
        let i = s as usize;
        if let Some(row) = self.rows.get_mut(i * stride..(i + 1) * stride) {
            row.fill(0);
        }
        let l = &mut self.ledger;
        l.bills.retain(|&(k, _), _| k != s);
        l.overdue.remove(&s);
        l.cases.retain(|&(k, _), _| k != s);
        l.judgments.remove(&s);
    }

    pub fn adjust_contacts(&mut self, s: u32, add: bool) {
        let stride = self.stride;
        let i = s as usize;
        if let Some(row) = self.rows.get_mut(i * stride..(i + 1) * stride) {
            let c = rd_u16(row, CONTACTS);
            wr_u16(
                row,
                CONTACTS,
                if add {
                    c.saturating_add(1)
                } else {
                    c.saturating_sub(1)
                },
            );
        }
    }

    /// Applies one event to subject `s` (see [`ScoreState::apply`]).
    pub fn apply_event(&mut self, model: &Model, s: u32, day: Day, body: &EventBody) {
        self.apply(model, s, day, &Fact::of(body));
    }

    /// Applies one event's fact to subject `s`. Events before 2000-01-01 or after 2179 are
    /// ignored (the engine rejects them at ingest).
    pub fn apply(&mut self, model: &Model, s: u32, day: Day, fact: &Fact) {
        let i = s as usize;
        if i >= self.n {
            self.grow(i + 1);
        }
        let stride = self.stride;
        if let LedgerOp::Identity(flags) = fact.ledger {
            self.rows[i * stride + IDENTITY] = flags;
            return;
        }
        let Some((signal, value)) = fact.signal else {
            return;
        };
        let Some(d) = pack_day(day) else { return };
        self.ledger_apply(s, fact.ledger);
        self.advance(i, d, signal.opens_history());
        let row = &mut self.rows[i * stride..(i + 1) * stride];
        let last = rd_u16(row, LAST_DAY);
        let last_month = month_of(last);
        let month = month_of(d);
        for &f in &model.by_signal[signal as usize] {
            match self.cols[f] {
                Column::WinCount { off, months } => {
                    let k = months as i32;
                    if month > last_month - k {
                        let slot = &mut row[off + month.rem_euclid(k) as usize];
                        *slot = slot.saturating_add(1);
                    }
                }
                Column::WinSum { off, months } => {
                    let k = months as i32;
                    if month > last_month - k {
                        let at = off + 4 * month.rem_euclid(k) as usize;
                        wr_f32(row, at, rd_f32(row, at) + value);
                    }
                }
                Column::Decayed {
                    off,
                    half_life,
                    sum,
                    ..
                } => {
                    let w = if sum { f64::from(value) } else { 1.0 };
                    let add = if last == d {
                        w
                    } else {
                        w * (-f64::from(last - d) / half_life).exp2()
                    };
                    wr_f32(row, off, rd_f32(row, off) + add as f32);
                }
                Column::LastDay { off } => {
                    let v = rd_u16(row, off).max(d);
                    wr_u16(row, off, v);
                }
                _ => {}
            }
        }
    }

    /// Moves the subject's reference day forward to `d`: decays the decayed sums and
    /// clears the window months that passed. The first day of the credit history moves
    /// back only for a credit event (see [`crate::Signal::opens_history`]).
    fn advance(&mut self, i: usize, d: u16, opens_history: bool) {
        let stride = self.stride;
        let row = &mut self.rows[i * stride..(i + 1) * stride];
        let last = rd_u16(row, LAST_DAY);
        let first = rd_u16(row, FIRST_DAY);
        if opens_history && (first == 0 || d < first) {
            wr_u16(row, FIRST_DAY, d);
        }
        if d <= last {
            return;
        }
        if last != 0 {
            let delta = f64::from(d - last);
            let (from, to) = (month_of(last), month_of(d));
            let factors = Decay::new(&self.half_lives, &self.decay_table, delta);
            for c in &self.cols {
                match *c {
                    Column::Decayed {
                        off, half_life, k, ..
                    } => {
                        let f = factors.factor(k, half_life);
                        wr_f32(row, off, (f64::from(rd_f32(row, off)) * f) as f32);
                    }
                    Column::WinCount { off, months } => {
                        for slot in ring_slots(from + 1, to.min(from + months as i32), months) {
                            row[off + slot] = 0;
                        }
                    }
                    Column::WinSum { off, months } => {
                        for slot in ring_slots(from + 1, to.min(from + months as i32), months) {
                            wr_f32(row, off + 4 * slot, 0.0);
                        }
                    }
                    _ => {}
                }
            }
        }
        wr_u16(row, LAST_DAY, d);
    }

    fn ledger_apply(&mut self, s: u32, op: LedgerOp) {
        let i = s as usize;
        let l = &mut self.ledger;
        match op {
            LedgerOp::BillUnpaid { bill, fen } => {
                *l.bills.entry((s, bill)).or_insert(0) += fen;
                *l.overdue.entry(s).or_insert(0) += fen;
            }
            LedgerOp::BillSettled { bill } => {
                if let Some(v) = l.bills.remove(&(s, bill)) {
                    let left = l.overdue.get(&s).copied().unwrap_or(0) - v;
                    if left == 0 {
                        l.overdue.remove(&s);
                    } else {
                        l.overdue.insert(s, left);
                    }
                }
            }
            LedgerOp::LoanOpened(_)
            | LedgerOp::Repaid(_)
            | LedgerOp::RentalStarted
            | LedgerOp::RentalEnded => {
                if i >= self.n {
                    return;
                }
                let row = &mut self.rows[i * self.stride..(i + 1) * self.stride];
                match op {
                    LedgerOp::LoanOpened(y) => {
                        wr_f32(row, LOAN_BALANCE, rd_f32(row, LOAN_BALANCE) + y)
                    }
                    LedgerOp::Repaid(y) => wr_f32(row, LOAN_BALANCE, rd_f32(row, LOAN_BALANCE) - y),
                    LedgerOp::RentalStarted => {
                        row[OPEN_RENTALS] = row[OPEN_RENTALS].saturating_add(1)
                    }
                    _ => row[OPEN_RENTALS] = row[OPEN_RENTALS].saturating_sub(1),
                }
            }
            LedgerOp::Case { case, delta } => Self::case_delta(l, s, case, delta),
            LedgerOp::None | LedgerOp::Identity(_) => {}
        }
    }

    fn case_delta(l: &mut Ledger, s: u32, case: u64, delta: i64) {
        let key = (s, case);
        let old = l.cases.get(&key).copied().unwrap_or(0);
        let new = old + delta;
        if new == 0 {
            l.cases.remove(&key);
        } else {
            l.cases.insert(key, new);
        }
        let open_delta = i64::from(new > 0) - i64::from(old > 0);
        let unpaid_delta = new.max(0) - old.max(0);
        if open_delta != 0 || unpaid_delta != 0 {
            let e = l.judgments.entry(s).or_insert((0, 0));
            e.0 = (i64::from(e.0) + open_delta).max(0) as u32;
            e.1 += unpaid_delta;
            if *e == (0, 0) {
                l.judgments.remove(&s);
            }
        }
    }

    /// Every feature's value for subject `s` as of `as_of` (or the subject's latest event,
    /// whichever is later).
    pub fn features(&self, model: &Model, s: u32, id: SubjectId, as_of: Day) -> Vec<Option<f64>> {
        let mut out = Vec::with_capacity(model.features.len());
        self.features_into(model, s, id, as_of, &mut out);
        out
    }

    /// [`ScoreState::features`] into a caller's buffer (cleared first), to score many
    /// subjects without allocating.
    pub fn features_into(
        &self,
        model: &Model,
        s: u32,
        id: SubjectId,
        as_of: Day,
        out: &mut Vec<Option<f64>>,
    ) {
        out.clear();
        const EMPTY: [u8; 256] = [0; 256];
        let row = match self.row(s) {
            Some(r) => r,
            None if self.stride <= EMPTY.len() => &EMPTY[..self.stride],
            None => return out.extend(std::iter::repeat_n(None, model.features.len())),
        };
        let last = rd_u16(row, LAST_DAY);
        let a = pack_day(as_of).unwrap_or(u16::MAX).max(last);
        let a_month = month_of(a);
        let age = f64::from(a - last.min(a));
        let factors = Decay::new(&self.half_lives, &self.decay_table, age);
        for col in &self.cols {
            let v = match *col {
                Column::WinCount { off, months } => Some(window(last, a_month, months, |slot| {
                    f64::from(row[off + slot])
                })),
                Column::WinSum { off, months } => Some(window(last, a_month, months, |slot| {
                    f64::from(rd_f32(row, off + 4 * slot))
                })),
                Column::Decayed {
                    off, half_life, k, ..
                } => Some(f64::from(rd_f32(row, off)) * factors.factor(k, half_life)),
                Column::LastDay { off } => Some(rd_u16(row, off))
                    .filter(|&d| d != 0)
                    .map(|d| f64::from(a - d)),
                Column::HistoryMonths => Some(rd_u16(row, FIRST_DAY))
                    .filter(|&d| d != 0)
                    .map(|d| f64::from(a_month - month_of(d))),
                Column::State(var) => Some(match var {
                    StateVar::OverdueBillAmount => {
                        self.ledger.overdue.get(&s).copied().unwrap_or(0).max(0) as f64 / 100.0
                    }
                    StateVar::LoanBalance => f64::from(rd_f32(row, LOAN_BALANCE)).max(0.0),
                    StateVar::UnpaidJudgmentAmount => self.judgments(s).1 as f64 / 100.0,
                    StateVar::UnpaidJudgments => f64::from(self.judgments(s).0),
                    StateVar::OpenRentals => f64::from(row[OPEN_RENTALS]),
                    StateVar::Contacts => f64::from(rd_u16(row, CONTACTS)),
                }),
                Column::Age => match id {
                    SubjectId::Person(r) => Some(f64::from(unpack_day(a).years_since(r.birth()))),
                    SubjectId::Company(_) => None,
                },
                Column::IdentityCompleteness => Some(f64::from(row[IDENTITY].count_ones())),
                Column::Share { part, rest } => {
                    let p = out.get(part).copied().flatten().unwrap_or(0.0);
                    let r = out.get(rest).copied().flatten().unwrap_or(0.0);
                    if p + r > 1e-9 {
                        Some(p / (p + r))
                    } else {
                        None
                    }
                }
                Column::Missing => None,
            };
            out.push(v);
        }
    }

    pub fn footprint(&self) -> StateFootprint {
        let l = &self.ledger;
        // hashbrown stores key+value per slot plus one control byte, at a load of up to 7/8.
        let slot = |kv: usize| (kv + 1) * 8 / 7;
        let sparse_entries = l.bills.len() + l.cases.len() + l.overdue.len() + l.judgments.len();
        let sparse_bytes = l.bills.capacity() * slot(24)
            + l.cases.capacity() * slot(24)
            + l.overdue.capacity() * slot(16)
            + l.judgments.capacity() * slot(24);
        StateFootprint {
            dense_bytes_per_subject: self.stride,
            sparse_entries,
            sparse_bytes,
        }
    }
}

/// Decay factors `2^(-days / half-life)` for a model's distinct half-lives, each computed
/// once (models reuse a few; `exp2` is the costly part of moving a subject's day forward).
struct Decay {
    days: f64,
    factors: [f64; 8],
}

impl Decay {
    fn new(half_lives: &[f64], table: &[[f64; DECAY_TABLE_DAYS]], days: f64) -> Self {
        let mut factors = [1.0f64; 8];
        let whole = (days >= 0.0 && days < DECAY_TABLE_DAYS as f64 && days.fract() == 0.0)
            .then_some(days as usize);
        for (k, (f, h)) in factors.iter_mut().zip(half_lives).enumerate() {
            *f = match (whole, table.get(k)) {
                (Some(d), Some(t)) => t[d],
                _ => (-days / h).exp2(),
            };
        }
        Decay { days, factors }
    }

    /// The factor of the `k`-th half-life, `half_life`.
    fn factor(&self, k: usize, half_life: f64) -> f64 {
        self.factors
            .get(k)
            .copied()
            .unwrap_or_else(|| (-self.days / half_life).exp2())
    }
}

/// Sums the ring slots of the months in the window ending at `a_month` that the ring
/// (anchored at the month of `last`) still holds.
fn window(last: u16, a_month: i32, months: u32, slot: impl Fn(usize) -> f64) -> f64 {
    if last == 0 {
        return 0.0;
    }
    let k = months as i32;
    let l = month_of(last);
    let lo = (a_month - k + 1).max(l - k + 1);
    ring_slots(lo, l, months).map(slot).sum()
}

/// The ring slots (`m mod months`) of months `from..=to`, in month order: one division,
/// not one per month (this runs for every window of every month close). The range is at
/// most `months` long (a window, or the months a ring clears), so it wraps at most once.
fn ring_slots(from: i32, to: i32, months: u32) -> impl Iterator<Item = usize> {
    let k = months.max(1) as usize;
    let first = from.rem_euclid(months.max(1) as i32) as usize;
    (0..(to - from + 1).max(0) as usize).map(move |j| {
        let slot = first + j;
        if slot >= k { slot - k } else { slot }
    })
}

//! The incremental feature state of every subject, in flat columns indexed by a dense
//! subject index (`u32`). Hot state stays small: see [`ScoreState::footprint`].
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

#[derive(Debug, Clone, PartialEq)]
enum Column {
    None,
    WinCount { months: u32, data: Vec<u8> },
    WinSum { months: u32, data: Vec<f32> },
    Decayed { half_life: f64, data: Vec<f32> },
    LastDay(Vec<u16>),
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
    last_day: Vec<u16>,
    first_day: Vec<u16>,
    identity: Vec<u8>,
    open_rentals: Vec<u8>,
    contacts: Vec<u16>,
    loan_balance: Vec<f32>,
    cols: Vec<Column>,
    ledger: Ledger,
}

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
        let cols = model
            .features
            .iter()
            .map(|f| match f.aggregate {
                Aggregate::WindowCount { months } => Column::WinCount {
                    months,
                    data: Vec::new(),
                },
                Aggregate::WindowSum { months } => Column::WinSum {
                    months,
                    data: Vec::new(),
                },
                Aggregate::DecayedCount { half_life_days }
                | Aggregate::DecayedSum { half_life_days } => Column::Decayed {
                    half_life: half_life_days,
                    data: Vec::new(),
                },
                Aggregate::DaysSinceLast => Column::LastDay(Vec::new()),
                _ => Column::None,
            })
            .collect();
        ScoreState {
            n: 0,
            last_day: Vec::new(),
            first_day: Vec::new(),
            identity: Vec::new(),
            open_rentals: Vec::new(),
            contacts: Vec::new(),
            loan_balance: Vec::new(),
            cols,
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
        if n <= self.n {
            return;
        }
        self.last_day.resize(n, 0);
        self.first_day.resize(n, 0);
        self.identity.resize(n, 0);
        self.open_rentals.resize(n, 0);
        self.contacts.resize(n, 0);
        self.loan_balance.resize(n, 0.0);
        for c in &mut self.cols {
            match c {
                Column::None => {}
                Column::WinCount { months, data } => data.resize(n * *months as usize, 0),
                Column::WinSum { months, data } => data.resize(n * *months as usize, 0.0),
                Column::Decayed { data, .. } => data.resize(n, 0.0),
                Column::LastDay(data) => data.resize(n, 0),
            }
        }
        self.n = n;
    }

    /// The day of the subject's latest scored event, if any.
    pub fn last_day(&self, s: u32) -> Option<Day> {
        self.last_day
            .get(s as usize)
            .copied()
            .filter(|&d| d != 0)
            .map(unpack_day)
    }

    /// The month index of the subject's latest scored event, if any.
    pub fn last_month(&self, s: u32) -> Option<i32> {
        self.last_day
            .get(s as usize)
            .copied()
            .filter(|&d| d != 0)
            .map(month_of)
    }

    /// Unpaid judgments: (open cases, unpaid amount in fen).
    pub fn judgments(&self, s: u32) -> (u32, i64) {
        self.ledger.judgments.get(&s).copied().unwrap_or((0, 0))
    }

    pub fn contacts(&self, s: u32) -> u16 {
        self.contacts.get(s as usize).copied().unwrap_or(0)
    }

    /// Adds or removes one contact edge end. The caller keeps the edge set.
    pub fn adjust_contacts(&mut self, s: u32, add: bool) {
        if let Some(c) = self.contacts.get_mut(s as usize) {
            *c = if add {
                c.saturating_add(1)
            } else {
                c.saturating_sub(1)
            };
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
        if let LedgerOp::Identity(flags) = fact.ledger {
            self.identity[i] = flags;
            return;
        }
        let Some((signal, value)) = fact.signal else {
            return;
        };
        let Some(d) = pack_day(day) else { return };
        self.ledger_apply(s, fact.ledger);
        self.advance(i, d);
        let last = self.last_day[i];
        let last_month = month_of(last);
        let month = month_of(d);
        for &f in &model.by_signal[signal as usize] {
            match &mut self.cols[f] {
                Column::None => {}
                Column::WinCount { months, data } => {
                    let k = *months as i32;
                    if month > last_month - k {
                        let slot = &mut data[i * k as usize + month.rem_euclid(k) as usize];
                        *slot = slot.saturating_add(1);
                    }
                }
                Column::WinSum { months, data } => {
                    let k = *months as i32;
                    if month > last_month - k {
                        data[i * k as usize + month.rem_euclid(k) as usize] += value;
                    }
                }
                Column::Decayed { half_life, data } => {
                    let w = match model.features[f].aggregate {
                        Aggregate::DecayedSum { .. } => f64::from(value),
                        _ => 1.0,
                    };
                    if last == d {
                        data[i] += w as f32;
                    } else {
                        let age = f64::from(last - d);
                        data[i] += (w * (-age / *half_life).exp2()) as f32;
                    }
                }
                Column::LastDay(data) => data[i] = data[i].max(d),
            }
        }
    }

    /// Moves the subject's reference day forward to `d`: decays the decayed sums and
    /// clears the window months that passed.
    fn advance(&mut self, i: usize, d: u16) {
        let last = self.last_day[i];
        if self.first_day[i] == 0 || d < self.first_day[i] {
            self.first_day[i] = d;
        }
        if d <= last {
            return;
        }
        if last != 0 {
            let delta = f64::from(d - last);
            let (from, to) = (month_of(last), month_of(d));
            // Models reuse a few half-lives: compute each decay factor once per advance.
            let mut factors: [(f64, f64); 4] = [(0.0, 0.0); 4];
            let mut known = 0;
            for c in &mut self.cols {
                match c {
                    Column::Decayed { half_life, data } => {
                        let f = match factors[..known].iter().find(|(h, _)| h == half_life) {
                            Some(&(_, f)) => f,
                            None => {
                                let f = (-delta / *half_life).exp2();
                                if known < factors.len() {
                                    factors[known] = (*half_life, f);
                                    known += 1;
                                }
                                f
                            }
                        };
                        data[i] = (f64::from(data[i]) * f) as f32;
                    }
                    Column::WinCount { months, data } => {
                        let k = *months as i32;
                        for m in (from + 1)..=to.min(from + k) {
                            data[i * k as usize + m.rem_euclid(k) as usize] = 0;
                        }
                    }
                    Column::WinSum { months, data } => {
                        let k = *months as i32;
                        for m in (from + 1)..=to.min(from + k) {
                            data[i * k as usize + m.rem_euclid(k) as usize] = 0.0;
                        }
                    }
                    Column::None | Column::LastDay(_) => {}
                }
            }
        }
        self.last_day[i] = d;
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
            LedgerOp::LoanOpened(y) => self.loan_balance[i] += y,
            LedgerOp::Repaid(y) => self.loan_balance[i] -= y,
            LedgerOp::RentalStarted => {
                self.open_rentals[i] = self.open_rentals[i].saturating_add(1)
            }
            LedgerOp::RentalEnded => self.open_rentals[i] = self.open_rentals[i].saturating_sub(1),
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
        let i = s as usize;
        let last = self.last_day.get(i).copied().unwrap_or(0);
        let a = pack_day(as_of).unwrap_or(u16::MAX).max(last);
        let a_month = month_of(a);
        for (f, feat) in model.features.iter().enumerate() {
            let v = match (&feat.aggregate, self.cols.get(f)) {
                (Aggregate::WindowCount { .. }, Some(Column::WinCount { months, data })) => {
                    Some(window(last, a_month, *months, |slot| {
                        f64::from(data[i * *months as usize + slot])
                    }))
                }
                (Aggregate::WindowSum { .. }, Some(Column::WinSum { months, data })) => {
                    Some(window(last, a_month, *months, |slot| {
                        f64::from(data[i * *months as usize + slot])
                    }))
                }
                (
                    Aggregate::DecayedCount { .. } | Aggregate::DecayedSum { .. },
                    Some(Column::Decayed { half_life, data }),
                ) => {
                    let v = data.get(i).copied().unwrap_or(0.0);
                    Some(f64::from(v) * (-f64::from(a - last.min(a)) / half_life).exp2())
                }
                (Aggregate::DaysSinceLast, Some(Column::LastDay(data))) => data
                    .get(i)
                    .copied()
                    .filter(|&d| d != 0)
                    .map(|d| f64::from(a - d)),
                (Aggregate::HistoryMonths, _) => self
                    .first_day
                    .get(i)
                    .copied()
                    .filter(|&d| d != 0)
                    .map(|d| f64::from(a_month - month_of(d))),
                (Aggregate::State(var), _) => Some(match var {
                    StateVar::OverdueBillAmount => {
                        self.ledger.overdue.get(&s).copied().unwrap_or(0).max(0) as f64 / 100.0
                    }
                    StateVar::LoanBalance => {
                        f64::from(self.loan_balance.get(i).copied().unwrap_or(0.0)).max(0.0)
                    }
                    StateVar::UnpaidJudgmentAmount => self.judgments(s).1 as f64 / 100.0,
                    StateVar::UnpaidJudgments => f64::from(self.judgments(s).0),
                    StateVar::OpenRentals => {
                        f64::from(self.open_rentals.get(i).copied().unwrap_or(0))
                    }
                    StateVar::Contacts => f64::from(self.contacts(s)),
                }),
                (Aggregate::Profile(ProfileVar::Age), _) => match id {
                    SubjectId::Person(r) => Some(f64::from(unpack_day(a).years_since(r.birth()))),
                    SubjectId::Company(_) => None,
                },
                (Aggregate::Profile(ProfileVar::IdentityCompleteness), _) => Some(f64::from(
                    self.identity.get(i).copied().unwrap_or(0).count_ones(),
                )),
                (Aggregate::Share { part, rest }, _) => {
                    let p = out.get(*part).copied().flatten().unwrap_or(0.0);
                    let r = out.get(*rest).copied().flatten().unwrap_or(0.0);
                    if p + r > 1e-9 {
                        Some(p / (p + r))
                    } else {
                        None
                    }
                }
                _ => None,
            };
            out.push(v);
        }
    }

    pub fn footprint(&self) -> StateFootprint {
        let mut dense = 2 + 2 + 1 + 1 + 2 + 4;
        for c in &self.cols {
            dense += match c {
                Column::None => 0,
                Column::WinCount { months, .. } => *months as usize,
                Column::WinSum { months, .. } => 4 * *months as usize,
                Column::Decayed { .. } => 4,
                Column::LastDay(_) => 2,
            };
        }
        let l = &self.ledger;
        // hashbrown stores key+value per slot plus one control byte, at a load of up to 7/8.
        let slot = |kv: usize| (kv + 1) * 8 / 7;
        let sparse_entries = l.bills.len() + l.cases.len() + l.overdue.len() + l.judgments.len();
        let sparse_bytes = l.bills.capacity() * slot(24)
            + l.cases.capacity() * slot(24)
            + l.overdue.capacity() * slot(16)
            + l.judgments.capacity() * slot(24);
        StateFootprint {
            dense_bytes_per_subject: dense,
            sparse_entries,
            sparse_bytes,
        }
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
    (lo..=l).map(|m| slot(m.rem_euclid(k) as usize)).sum()
}

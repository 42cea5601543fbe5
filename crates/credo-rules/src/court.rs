//! Court cases, listings on the dishonest-defaulter list, restriction orders and
//! temporary bans, per subject, as they follow from the event log.
//!
//! The rules (`shared/design/facts.md`): triggers 2–6 list for two years, extendable by
//! one to three years; trigger 1 lists until performance. A court may give a grace period
//! before publishing. A listing ends on performance, settlement, the creditor's request,
//! the end or suspension of enforcement, or when the judgment is set aside; it also ends
//! when its period runs out. A removed debtor can be listed again.
//!
//! Periods follow the Civil Code (arts. 201–203): the day of the listing or ban is not
//! counted, and a period in years ends on the corresponding day of the final year, or on
//! the month's last day when there is none (a listing of 29 February 2024 for two years
//! runs through 28 February 2026). A period in days ends that many days after its start.
//! A listing or ban is in force through its last day.

use credo_model::{Amount, BanScope, Day, EventBody, RemovalReason, Text};
use rustc_hash::FxHashMap;

/// Settings a deployment may change; the defaults are the rules' own.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CourtConfig {
    /// Days between listing and publication when the listing does not say (0: publish at once).
    pub grace_days: u16,
    /// Years a listing on triggers 2–6 lasts before any extension.
    pub term_years: u8,
}

impl Default for CourtConfig {
    fn default() -> Self {
        CourtConfig {
            grace_days: 0,
            term_years: 2,
        }
    }
}

/// `day` plus `years` calendar years: the corresponding day, or the month's last day
/// when there is none (29 February into a common year gives 28 February).
pub fn add_years(day: Day, years: i32) -> Day {
    let (y, m, d) = day.ymd();
    let y = y + years;
    (0..4)
        .find_map(|back| d.checked_sub(back).and_then(|d| Day::from_ymd(y, m, d)))
        .unwrap_or(day)
}

/// The dishonest behaviour a trigger stands for, as published.
pub fn behaviour(trigger: u8) -> &'static str {
    match trigger {
        1 => "has the ability to perform but refuses to perform the obligation",
        2 => "obstructs enforcement by forgery, violence or threats",
        3 => "evades enforcement by sham litigation, sham arbitration or hiding assets",
        4 => "breaks the duty to report assets",
        5 => "breaks a consumption-restriction order",
        6 => "refuses to honour a settlement agreement without a legitimate reason",
        _ => "unknown trigger",
    }
}

/// One listing of one case. A case can be listed again after a listing ends.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Listing {
    pub trigger: u8,
    pub listed_on: Day,
    /// The first day the listing is public (after any grace period).
    pub published_on: Day,
    /// Years added by extensions.
    pub extension_years: u8,
    /// When and why the court removed it (expiry is computed, not recorded).
    pub removed: Option<(Day, RemovalReason)>,
}

/// Where a listing stands on a given day.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ListingState {
    /// Listed, but publication waits for the grace period to end on `published_on`.
    Grace {
        published_on: Day,
    },
    /// On the public list.
    Published,
    /// Its period ran out after `last_day`.
    Expired {
        last_day: Day,
    },
    Removed {
        on: Day,
        reason: RemovalReason,
    },
    /// Dated after the day asked about.
    NotYet,
}

impl Listing {
    /// The last day in force, or `None` for trigger 1 (until performance).
    pub fn last_day(&self, config: &CourtConfig) -> Option<Day> {
        (self.trigger != 1).then(|| {
            add_years(
                self.listed_on,
                i32::from(config.term_years) + i32::from(self.extension_years),
            )
        })
    }

    pub fn state(&self, config: &CourtConfig, as_of: Day) -> ListingState {
        if as_of < self.listed_on {
            return ListingState::NotYet;
        }
        if let Some((on, reason)) = self.removed
            && on <= as_of
        {
            return ListingState::Removed { on, reason };
        }
        if let Some(last_day) = self.last_day(config)
            && as_of > last_day
        {
            return ListingState::Expired { last_day };
        }
        if as_of < self.published_on {
            return ListingState::Grace {
                published_on: self.published_on,
            };
        }
        ListingState::Published
    }

    /// In force on `as_of`, published or not.
    pub fn in_force(&self, config: &CourtConfig, as_of: Day) -> bool {
        matches!(
            self.state(config, as_of),
            ListingState::Grace { .. } | ListingState::Published
        )
    }

    /// Whether a later event can still act on it: not removed and not run out by `day`.
    fn open_on(&self, config: &CourtConfig, day: Day) -> bool {
        self.removed.is_none() && self.last_day(config).is_none_or(|l| day <= l)
    }
}

/// One enforcement case of a subject.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CaseRecord {
    pub case: Text,
    pub court: Text,
    /// The day of the judgment, if it has been reported.
    pub filed_on: Option<Day>,
    /// What the judgment orders paid, and what has been paid toward it.
    pub obligation: Amount,
    pub performed: Amount,
    /// Every listing of the case, oldest first.
    pub listings: Vec<Listing>,
    /// A consumption-restriction order: from, and lifted on (with why).
    pub restriction: Option<(Day, Option<(Day, RemovalReason)>)>,
}

impl CaseRecord {
    fn new(case: &Text) -> CaseRecord {
        CaseRecord {
            case: case.clone(),
            court: Text::default(),
            filed_on: None,
            obligation: Amount(0),
            performed: Amount(0),
            listings: Vec::new(),
            restriction: None,
        }
    }

    pub fn unperformed(&self) -> Amount {
        Amount((self.obligation.0 - self.performed.0).max(0))
    }

    /// The listing in force on `as_of` that weighs most: a published one before one under
    /// grace, then the latest. Listings of one case may overlap (a court may list again
    /// on another trigger); each runs its own period, so an added listing never shortens
    /// another.
    pub fn listing_in_force(&self, config: &CourtConfig, as_of: Day) -> Option<&Listing> {
        self.listings
            .iter()
            .filter(|l| l.in_force(config, as_of))
            .max_by_key(|l| {
                (
                    l.state(config, as_of) == ListingState::Published,
                    l.listed_on,
                )
            })
    }

    /// A listing on the public list on `as_of`.
    pub fn published(&self, config: &CourtConfig, as_of: Day) -> Option<&Listing> {
        self.listing_in_force(config, as_of)
            .filter(|l| l.state(config, as_of) == ListingState::Published)
    }

    /// A restriction order in force on `as_of`.
    pub fn restriction_order(&self, as_of: Day) -> bool {
        matches!(self.restriction, Some((from, lifted))
            if from <= as_of && lifted.is_none_or(|(on, _)| as_of < on))
    }

    /// Consumption restrictions in force on `as_of`: an order, or a listing in force
    /// (a listed debtor is restricted for as long as the listing lasts, grace included).
    pub fn restricted(&self, config: &CourtConfig, as_of: Day) -> bool {
        self.restriction_order(as_of) || self.listing_in_force(config, as_of).is_some()
    }

    fn end_all(&mut self, config: &CourtConfig, day: Day, reason: RemovalReason) {
        for l in &mut self.listings {
            if l.open_on(config, day) {
                l.removed = Some((day, reason));
            }
        }
        if let Some((_, lifted @ None)) = &mut self.restriction {
            *lifted = Some((day, reason));
        }
    }
}

/// A temporary ban, in force from `from` through `last_day`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Ban {
    pub scope: BanScope,
    pub from: Day,
    pub last_day: Day,
    pub code: Text,
    pub authority: Text,
}

impl Ban {
    pub fn in_force(&self, as_of: Day) -> bool {
        self.from <= as_of && as_of <= self.last_day
    }
}

/// Everything the court side knows of one subject.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct SubjectCourt {
    pub cases: Vec<CaseRecord>,
    pub bans: Vec<Ban>,
}

impl SubjectCourt {
    fn case_mut(&mut self, case: &Text) -> &mut CaseRecord {
        match self.cases.iter().position(|c| c.case == *case) {
            Some(i) => &mut self.cases[i],
            None => {
                self.cases.push(CaseRecord::new(case));
                let last = self.cases.len() - 1;
                &mut self.cases[last]
            }
        }
    }

    /// Applies one court event dated `day`. Other kinds change nothing.
    pub fn apply(&mut self, config: &CourtConfig, day: Day, body: &EventBody) {
        match body {
            EventBody::Judgment {
                case,
                court,
                amount,
            } => {
                let c = self.case_mut(case);
                c.court = court.clone();
                c.filed_on.get_or_insert(day);
                c.obligation = Amount(c.obligation.0.saturating_add(amount.0));
            }
            EventBody::Performance { case, amount } => {
                let c = self.case_mut(case);
                c.performed = Amount(c.performed.0.saturating_add(amount.0));
                // Performing the whole obligation lifts the listing and the restriction at once.
                if c.obligation.0 > 0 && c.performed.0 >= c.obligation.0 {
                    c.end_all(config, day, RemovalReason::Performed);
                }
            }
            EventBody::Listing {
                case,
                court,
                trigger,
                grace_days,
            } => {
                let c = self.case_mut(case);
                if c.court.is_empty() {
                    c.court = court.clone();
                }
                // Every listing order starts a listing: after a removal this is relisting,
                // and beside an open one it runs its own period.
                let grace = grace_days.unwrap_or(config.grace_days);
                c.listings.push(Listing {
                    trigger: *trigger,
                    listed_on: day,
                    published_on: Day(day.0 + i32::from(grace)),
                    extension_years: 0,
                    removed: None,
                });
            }
            EventBody::Restriction { case, court } => {
                let c = self.case_mut(case);
                if c.court.is_empty() {
                    c.court = court.clone();
                }
                if !c.restriction_order(day) {
                    c.restriction = Some((day, None));
                }
            }
            EventBody::Extension { case, years } => {
                let c = self.case_mut(case);
                if let Some(l) = c
                    .listings
                    .iter_mut()
                    .rev()
                    .find(|l| l.open_on(config, day) && l.trigger != 1)
                {
                    l.extension_years = l.extension_years.saturating_add(*years);
                }
            }
            EventBody::Removal { case, reason } => {
                self.case_mut(case).end_all(config, day, *reason);
            }
            EventBody::Ban {
                scope,
                days,
                code,
                authority,
            } => self.bans.push(Ban {
                scope: *scope,
                from: day,
                last_day: Day(day.0 + i32::from(*days)),
                code: code.clone(),
                authority: authority.clone(),
            }),
            _ => {}
        }
    }

    /// Cases with a listing in force on `as_of` (published or under grace).
    pub fn listed_cases(
        &self,
        config: &CourtConfig,
        as_of: Day,
    ) -> impl Iterator<Item = &CaseRecord> {
        self.cases
            .iter()
            .filter(move |c| c.listing_in_force(config, as_of).is_some())
    }

    /// Whether anything is on the public list on `as_of` (grace periods excluded).
    pub fn published(&self, config: &CourtConfig, as_of: Day) -> bool {
        self.cases
            .iter()
            .any(|c| c.published(config, as_of).is_some())
    }
}

/// Whether an event kind concerns the court side.
pub fn is_court_event(body: &EventBody) -> bool {
    matches!(
        body,
        EventBody::Judgment { .. }
            | EventBody::Performance { .. }
            | EventBody::Listing { .. }
            | EventBody::Restriction { .. }
            | EventBody::Extension { .. }
            | EventBody::Removal { .. }
            | EventBody::Ban { .. }
    )
}

/// The court side of every subject that has any, keyed by a caller's subject handle.
#[derive(Debug, Clone, Default)]
pub struct CourtBook {
    pub config: CourtConfig,
    pub subjects: FxHashMap<u32, SubjectCourt>,
    /// One bit per subject handle: set when `subjects` has an entry. Nearly every decision
    /// is about a subject with no court record, and this answers that from 1/8 byte per
    /// subject (in cache) instead of a probe of the map (a cache miss at 10 M subjects).
    present: Vec<u64>,
}

/// Equal when they hold the same records (the presence bitset is derived from them; its
/// length depends on history, e.g. a record that was reset).
impl PartialEq for CourtBook {
    fn eq(&self, other: &CourtBook) -> bool {
        self.config == other.config && self.subjects == other.subjects
    }
}

impl Eq for CourtBook {}

impl CourtBook {
    pub fn new(config: CourtConfig) -> CourtBook {
        CourtBook {
            config,
            ..CourtBook::default()
        }
    }

    pub fn apply(&mut self, subject: u32, day: Day, body: &EventBody) {
        if is_court_event(body) {
            let config = self.config;
            let word = subject as usize / 64;
            if word >= self.present.len() {
                self.present.resize(word + 1, 0);
            }
            self.present[word] |= 1 << (subject % 64);
            self.subjects
                .entry(subject)
                .or_default()
                .apply(&config, day, body);
        }
    }

    /// Forgets a subject's court record (before it is recomputed from its events).
    pub fn reset(&mut self, subject: u32) {
        self.subjects.remove(&subject);
        if let Some(w) = self.present.get_mut(subject as usize / 64) {
            *w &= !(1 << (subject % 64));
        }
    }

    pub fn get(&self, subject: u32) -> Option<&SubjectCourt> {
        let bit = self
            .present
            .get(subject as usize / 64)
            .is_some_and(|w| w & (1 << (subject % 64)) != 0);
        if bit {
            self.subjects.get(&subject)
        } else {
            None
        }
    }

    /// Subjects with a listing on the public list on `as_of`.
    pub fn published(&self, as_of: Day) -> impl Iterator<Item = (u32, &SubjectCourt)> {
        self.subjects
            .iter()
            .filter(move |(_, s)| s.published(&self.config, as_of))
            .map(|(&k, s)| (k, s))
    }
}

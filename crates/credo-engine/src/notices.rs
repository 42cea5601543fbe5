//! Targeted court notices (the Ouhai court's practice): for a listed debtor, the people to
//! show the court's notice to — those whose address lies within R km of the debtor's,
//! those in the debtor's region code, those in the same or a related industry, and the
//! debtor's contacts within k hops — counted per criterion, merged without repeats and
//! capped (`credo_graph::audience`). Delivered impressions are logged per case in the
//! audit log (`AccessOp::Impressions`) and counted.
//!
//! Each subject's position, region and industry group are kept in small columns, set
//! from its latest subject record on apply (so rebuilt on open like everything else).

use crate::engine::Engine;
use crate::error::EngineError;
use credo_graph::audience::{self, Attrs, Centre, Criteria, GroupMatch};
use credo_model::{SubjectId, SubjectRecord};
use serde::{Deserialize, Serialize};

/// What notices need of a subject's record.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Profile {
    pub pos: [f32; 2],
    pub region: u32,
    pub group: u8,
}

impl Profile {
    pub(crate) fn of(r: &SubjectRecord) -> Profile {
        let known = r.lat.is_finite() && r.lon.is_finite();
        Profile {
            pos: if known {
                [r.lat as f32, r.lon as f32]
            } else {
                [f32::NAN; 2]
            },
            region: r.region,
            group: r.industry.bytes().next().unwrap_or(0),
        }
    }
}

/// The columns, indexed by subject.
#[derive(Debug, Clone, Default)]
pub struct Profiles {
    pos: Vec<[f32; 2]>,
    region: Vec<u32>,
    group: Vec<u8>,
}

impl Profiles {
    pub(crate) fn set(&mut self, s: u32, p: Profile) {
        let i = s as usize;
        if self.pos.len() <= i {
            self.pos.resize(i + 1, [f32::NAN; 2]);
            self.region.resize(i + 1, 0);
            self.group.resize(i + 1, 0);
        }
        self.pos[i] = p.pos;
        self.region[i] = p.region;
        self.group[i] = p.group;
    }

    /// A subject's region code (0: none known).
    pub(crate) fn region(&self, s: u32) -> u32 {
        self.region.get(s as usize).copied().unwrap_or(0)
    }

    fn grow(&mut self, n: usize) {
        if self.pos.len() < n {
            self.pos.resize(n, [f32::NAN; 2]);
            self.region.resize(n, 0);
            self.group.resize(n, 0);
        }
    }

    /// Equal, NaN positions included (for `same_state`).
    pub(crate) fn same(&self, o: &Profiles) -> bool {
        let bits = |v: &[[f32; 2]]| {
            v.iter()
                .map(|p| (p[0].to_bits(), p[1].to_bits()))
                .collect::<Vec<_>>()
        };
        bits(&self.pos) == bits(&o.pos) && self.region == o.region && self.group == o.group
    }
}

/// Related industries: GB/T 4754 sections grouped by the kind of work (the notice goes
/// to people who deal with the same trades). A section is related to itself and to the
/// sections of its group.
pub const INDUSTRY_GROUPS: &[&str] = &["A", "BCD", "EK", "FGHLNO", "IM", "J", "PQRST"];

fn related(a: u8, b: u8) -> bool {
    INDUSTRY_GROUPS
        .iter()
        .any(|g| g.as_bytes().contains(&a) && g.as_bytes().contains(&b))
}

#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct NoticeOptions {
    /// People within this many km of the debtor's address (0: off).
    pub radius_km: f64,
    /// People in the debtor's region code.
    pub same_region: bool,
    /// `same`, `related` or off (`None`).
    pub industry: Option<IndustryMatch>,
    /// The debtor's contacts within this many hops (0: off).
    pub hops: u8,
    /// The most people in the audience.
    pub cap: usize,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum IndustryMatch {
    Same,
    Related,
}

impl IndustryMatch {
    /// `same`, `related` or `off` (`None`), as the CLI and the API spell them.
    pub fn parse(s: &str) -> Result<Option<IndustryMatch>, EngineError> {
        match s {
            "same" => Ok(Some(IndustryMatch::Same)),
            "related" => Ok(Some(IndustryMatch::Related)),
            "off" => Ok(None),
            x => Err(EngineError::BadNotice(format!(
                "industry must be same, related or off, not {x:?}"
            ))),
        }
    }

    pub fn name(m: Option<IndustryMatch>) -> &'static str {
        match m {
            None => "off",
            Some(IndustryMatch::Same) => "same",
            Some(IndustryMatch::Related) => "related",
        }
    }
}

impl Default for NoticeOptions {
    fn default() -> NoticeOptions {
        NoticeOptions {
            radius_km: 3.0,
            same_region: true,
            industry: Some(IndustryMatch::Related),
            hops: 2,
            cap: 100_000,
        }
    }
}

/// The most km and hops a plan may ask for.
pub const MAX_RADIUS_KM: f64 = 50.0;
pub const MAX_HOPS: u8 = 3;
pub const MAX_CAP: usize = 1_000_000;

#[derive(Debug, Clone, PartialEq)]
pub struct NoticePlan {
    pub case: String,
    pub court: String,
    pub debtor: SubjectId,
    pub options: NoticeOptions,
    /// How many people each criterion selects on its own.
    pub by_radius: usize,
    pub by_region: usize,
    pub by_industry: usize,
    pub by_contacts: usize,
    /// The merged audience's size (at most `cap`).
    pub size: usize,
    /// The merged audience (circle first, then area, region, industry), at most `cap`;
    /// in a cluster ([`merge_plan`]), only its first members.
    pub members: Vec<SubjectId>,
    pub capped: bool,
    /// Impressions delivered for this case so far.
    pub delivered: u64,
}

impl Engine {
    /// The audience for a notice about a published case.
    pub fn notice_plan(&self, case: &str, o: &NoticeOptions) -> Result<NoticePlan, EngineError> {
        o.check()?;
        let (s, record) = self
            .published_case(case)
            .ok_or_else(|| EngineError::NoCase(case.to_string()))?;
        let court = record.court.to_string();
        let debtor = self
            .core
            .subjects
            .id(s)
            .ok_or_else(|| EngineError::UnknownSubject(format!("#{s}")))?;
        let a = self.with_attrs(|attrs| {
            audience::select(attrs, self.core.relations.as_ref(), s, &o.criteria())
        })?;
        Ok(NoticePlan {
            case: case.to_string(),
            court,
            debtor,
            options: *o,
            by_radius: a.by_radius,
            by_region: a.by_area,
            by_industry: a.by_group,
            by_contacts: a.by_hops,
            size: a.members.len(),
            members: a
                .members
                .iter()
                .filter_map(|&i| self.core.subjects.id(i))
                .collect(),
            capped: a.capped,
            delivered: self.access.impressions.get(case).copied().unwrap_or(0),
        })
    }
}

impl NoticeOptions {
    /// The bounds of a plan's options: radius, hops and cap.
    pub fn check(&self) -> Result<(), EngineError> {
        let bad = |what: String| Err(EngineError::BadNotice(what));
        if !(0.0..=MAX_RADIUS_KM).contains(&self.radius_km) {
            return bad(format!("radius must be 0 to {MAX_RADIUS_KM} km"));
        }
        if self.hops > MAX_HOPS {
            return bad(format!("hops must be 0 to {MAX_HOPS}"));
        }
        if self.cap == 0 || self.cap > MAX_CAP {
            return bad(format!("cap must be 1 to {MAX_CAP}"));
        }
        Ok(())
    }

    fn criteria(&self) -> Criteria {
        Criteria {
            radius_m: self.radius_km * 1000.0,
            same_area: self.same_region,
            group: match self.industry {
                None => GroupMatch::Off,
                Some(IndustryMatch::Same) => GroupMatch::Same,
                Some(IndustryMatch::Related) => GroupMatch::Related(related),
            },
            hops: self.hops,
            cap: self.cap,
        }
    }
}

/// A notice's debtor as its own cluster partition knows it: what the other partitions
/// need to select its audience ([`Engine::notice_share`]).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct NoticeCentre {
    pub case: String,
    pub court: String,
    pub debtor: SubjectId,
    /// Latitude and longitude of the address of record, if known.
    pub pos: Option<[f32; 2]>,
    pub region: u32,
    pub group: u8,
    /// Impressions delivered for the case so far.
    pub delivered: u64,
}

/// What one cluster partition gives a notice's audience ([`Engine::notice_share`]).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct NoticeShare {
    /// Its people meeting each criterion (the debtor aside).
    pub by_radius: usize,
    pub by_region: usize,
    pub by_industry: usize,
    /// Its people meeting any of them.
    pub any: usize,
    /// Of the circle's people it holds, those meeting any of them.
    pub circle_any: usize,
    /// Its first people meeting each criterion, in its subjects' order.
    pub hits: [Vec<SubjectId>; 3],
}

/// A cluster's plan from its partitions' answers: `circle` is the debtor's contacts
/// within the hops asked, nearest first, found across the partitions (the debtor
/// excluded); `shares` are every partition's, in partition order; `keep` the members to
/// list. The counts, the size and whether the cap cut it are one machine's
/// (`crates/credo-engine/tests/notices.rs`); the members are the circle's first, then
/// each partition's by criterion, so past the circle they may be other people than one
/// machine lists first when the audience is larger than `keep`.
pub fn merge_plan(
    centre: &NoticeCentre,
    o: &NoticeOptions,
    circle: &[SubjectId],
    shares: &[NoticeShare],
    keep: usize,
) -> NoticePlan {
    let circle: Vec<SubjectId> = circle
        .iter()
        .copied()
        .filter(|id| !id.is_company())
        .collect();
    let sum = |f: fn(&NoticeShare) -> usize| shares.iter().map(f).sum::<usize>();
    let union = circle.len() + sum(|s| s.any) - sum(|s| s.circle_any);
    let keep = keep.min(o.cap);
    let mut seen = rustc_hash::FxHashSet::default();
    let mut members = Vec::with_capacity(keep);
    let candidates = circle
        .iter()
        .chain((0..3).flat_map(|b| shares.iter().flat_map(move |s| &s.hits[b])));
    for &id in candidates {
        if members.len() == keep {
            break;
        }
        if seen.insert(id) {
            members.push(id);
        }
    }
    NoticePlan {
        case: centre.case.clone(),
        court: centre.court.clone(),
        debtor: centre.debtor,
        options: *o,
        by_radius: sum(|s| s.by_radius),
        by_region: sum(|s| s.by_region),
        by_industry: sum(|s| s.by_industry),
        by_contacts: circle.len(),
        size: union.min(o.cap),
        members,
        capped: union > o.cap,
        delivered: centre.delivered,
    }
}

/// The debtor's contacts within k hops, found a hop at a time across partitions
/// ([`Engine::contacts_of`] of the frontier on every partition), nearest first.
#[derive(Debug, Clone)]
pub struct Circle {
    seen: rustc_hash::FxHashSet<SubjectId>,
    frontier: Vec<SubjectId>,
    members: Vec<SubjectId>,
}

impl Circle {
    pub fn new(debtor: SubjectId) -> Circle {
        Circle {
            seen: [debtor].into_iter().collect(),
            frontier: vec![debtor],
            members: Vec::new(),
        }
    }

    /// Whose contacts the next hop needs.
    pub fn frontier(&self) -> &[SubjectId] {
        &self.frontier
    }

    /// The next hop from the frontier's contacts (as the partitions gave them, in any
    /// order): the contacts not met yet, in the frontier's order.
    pub fn hop(&mut self, contacts: impl IntoIterator<Item = (SubjectId, Vec<SubjectId>)>) {
        let mut of: rustc_hash::FxHashMap<SubjectId, Vec<SubjectId>> =
            rustc_hash::FxHashMap::default();
        for (id, list) in contacts {
            of.entry(id).or_default().extend(list);
        }
        let mut next = Vec::new();
        for id in &self.frontier {
            for &w in of.get(id).into_iter().flatten() {
                if self.seen.insert(w) {
                    next.push(w);
                }
            }
        }
        self.members.extend_from_slice(&next);
        self.frontier = next;
    }

    /// Everyone met so far, nearest first (the debtor aside).
    pub fn members(&self) -> &[SubjectId] {
        &self.members
    }
}

/// A cluster partition's part of a notice plan.
impl Engine {
    /// `f` over the subjects' attributes for audiences: the profile columns, whole (every
    /// subject has a record before anything else is admitted, so they are; a copy only if
    /// not), and people only (companies are never in an audience).
    fn with_attrs<R>(&self, f: impl FnOnce(&Attrs<'_>) -> R) -> R {
        let n = self.core.subjects.len();
        let cols = if self.core.profiles.pos.len() >= n {
            std::borrow::Cow::Borrowed(&self.core.profiles)
        } else {
            let mut c = self.core.profiles.clone();
            c.grow(n);
            std::borrow::Cow::Owned(c)
        };
        let subjects = &self.core.subjects;
        let eligible = |i: u32| subjects.id(i).is_some_and(|id| !id.is_company());
        f(&Attrs {
            pos: &cols.pos,
            area: &cols.region,
            group: &cols.group,
            eligible: &eligible,
        })
    }

    /// The debtor of a published case, if this folder holds it.
    pub fn notice_centre(&self, case: &str) -> Option<NoticeCentre> {
        let (s, record) = self.published_case(case)?;
        let debtor = self.core.subjects.id(s)?;
        let p = &self.core.profiles;
        let pos = p.pos.get(s as usize).copied().filter(|x| !x[0].is_nan());
        Some(NoticeCentre {
            case: case.to_string(),
            court: record.court.to_string(),
            debtor,
            pos,
            region: p.region(s),
            group: p.group.get(s as usize).copied().unwrap_or(0),
            delivered: self.access.impressions.get(case).copied().unwrap_or(0),
        })
    }

    /// The contacts of each of `ids` that this folder holds (both ends of its own
    /// contacts, and the other end of half-edges); an ID it does not hold has none here.
    pub fn contacts_of(&self, ids: &[SubjectId]) -> Vec<(SubjectId, Vec<SubjectId>)> {
        let core = &self.core;
        let mut out: Vec<(SubjectId, Vec<SubjectId>)> = Vec::new();
        let mut asked: rustc_hash::FxHashSet<u32> = rustc_hash::FxHashSet::default();
        for &id in ids {
            let Some(s) = core.subjects.get(id).filter(|&s| asked.insert(s)) else {
                continue;
            };
            out.push((id, core.contacts(s)));
        }
        out.sort_unstable_by_key(|(id, _)| id.key());
        out
    }

    /// This folder's part of the audience around `centre`: its people meeting each
    /// criterion, and of the circle's people it holds (`circle`, found across the
    /// partitions), those meeting any; the first `keep` of each criterion.
    pub fn notice_share(
        &self,
        centre: &NoticeCentre,
        o: &NoticeOptions,
        circle: &[SubjectId],
        keep: usize,
    ) -> Result<NoticeShare, EngineError> {
        o.check()?;
        let subjects = &self.core.subjects;
        let at = Centre {
            pos: centre.pos.unwrap_or([f32::NAN; 2]),
            area: centre.region,
            group: centre.group,
        };
        let local: Vec<u32> = circle.iter().filter_map(|&id| subjects.get(id)).collect();
        let s = self.with_attrs(|attrs| {
            audience::share(
                attrs,
                at,
                subjects.get(centre.debtor),
                &local,
                &o.criteria(),
                keep,
            )
        })?;
        let ids = |v: &[u32]| v.iter().filter_map(|&i| subjects.id(i)).collect::<Vec<_>>();
        Ok(NoticeShare {
            by_radius: s.by_radius,
            by_region: s.by_area,
            by_industry: s.by_group,
            any: s.any,
            circle_any: s.circle_any,
            hits: [ids(&s.hits[0]), ids(&s.hits[1]), ids(&s.hits[2])],
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn industries_relate_within_their_group_only() {
        assert!(related(b'E', b'K'));
        assert!(related(b'C', b'C'));
        assert!(!related(b'C', b'J'));
        assert!(!related(b'Z', b'Z'));
    }
}

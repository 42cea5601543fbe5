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
use credo_graph::audience::{self, Attrs, Criteria, GroupMatch};
use credo_model::{SubjectId, SubjectRecord};

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

#[derive(Debug, Clone, Copy, PartialEq)]
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

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
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
    /// The merged audience (circle first, then area, region, industry), at most `cap`.
    pub members: Vec<SubjectId>,
    pub capped: bool,
    /// Impressions delivered for this case so far.
    pub delivered: u64,
}

impl Engine {
    /// The audience for a notice about a published case.
    pub fn notice_plan(&self, case: &str, o: &NoticeOptions) -> Result<NoticePlan, EngineError> {
        let bad = |what: &str| EngineError::BadNotice(what.to_string());
        if !(0.0..=MAX_RADIUS_KM).contains(&o.radius_km) {
            return Err(bad(&format!("radius must be 0 to {MAX_RADIUS_KM} km")));
        }
        if o.hops > MAX_HOPS {
            return Err(bad(&format!("hops must be 0 to {MAX_HOPS}")));
        }
        if o.cap == 0 || o.cap > MAX_CAP {
            return Err(bad(&format!("cap must be 1 to {MAX_CAP}")));
        }
        let (s, record) = self
            .published_case(case)
            .ok_or_else(|| EngineError::NoCase(case.to_string()))?;
        let court = record.court.to_string();
        let debtor = self
            .core
            .subjects
            .id(s)
            .ok_or_else(|| EngineError::UnknownSubject(format!("#{s}")))?;
        let n = self.core.subjects.len();
        // Every subject has a record before anything else is admitted, so the columns
        // are whole; a copy only if not.
        let cols = if self.core.profiles.pos.len() >= n {
            std::borrow::Cow::Borrowed(&self.core.profiles)
        } else {
            let mut c = self.core.profiles.clone();
            c.grow(n);
            std::borrow::Cow::Owned(c)
        };
        let subjects = &self.core.subjects;
        let eligible = |i: u32| subjects.id(i).is_some_and(|id| !id.is_company());
        let attrs = Attrs {
            pos: &cols.pos,
            area: &cols.region,
            group: &cols.group,
            eligible: &eligible,
        };
        let criteria = Criteria {
            radius_m: o.radius_km * 1000.0,
            same_area: o.same_region,
            group: match o.industry {
                None => GroupMatch::Off,
                Some(IndustryMatch::Same) => GroupMatch::Same,
                Some(IndustryMatch::Related) => GroupMatch::Related(related),
            },
            hops: o.hops,
            cap: o.cap,
        };
        let a = audience::select(&attrs, self.core.relations.as_ref(), s, &criteria)?;
        Ok(NoticePlan {
            case: case.to_string(),
            court,
            debtor,
            options: *o,
            by_radius: a.by_radius,
            by_region: a.by_area,
            by_industry: a.by_group,
            by_contacts: a.by_hops,
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

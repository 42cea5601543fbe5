//! The court side of the engine: decisions for relying parties, the public list, and the
//! folder's policy file.

use crate::engine::{Core, Engine};
use crate::error::{EngineError, io};
use credo_model::{Day, SubjectId};
use credo_rules::{CaseRecord, Decision, PolicySet, SubjectFacts, behaviour, decide};
use credo_score::{Dimension, Model, ScoreCard};
use std::path::Path;

pub(crate) const POLICY_FILE: &str = "policies.toml";

/// The folder's policy file if one was installed, else the shipped one.
pub(crate) fn load_policies(dir: &Path, model: &Model) -> Result<PolicySet, EngineError> {
    let path = dir.join(POLICY_FILE);
    let range = (model.min, model.max);
    match std::fs::read_to_string(&path) {
        Ok(text) => Ok(PolicySet::parse(&path.display().to_string(), &text, range)?),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(PolicySet::default_set(range)?),
        Err(e) => Err(io(&path)(e)),
    }
}

/// A subject's facts for a decision, computed only when an offer asks for them.
pub(crate) struct Facts<'a> {
    pub(crate) core: &'a Core,
    pub(crate) s: u32,
    pub(crate) id: SubjectId,
    pub(crate) as_of: Day,
    pub(crate) values: Option<Vec<Option<f64>>>,
}

impl Facts<'_> {
    fn values(&mut self) -> &[Option<f64>] {
        let (core, s, id, as_of) = (self.core, self.s, self.id, self.as_of);
        self.values.get_or_insert_with(|| {
            let mut v = Vec::new();
            core.features_into(s, id, as_of, &mut v);
            v
        })
    }
}

impl SubjectFacts for Facts<'_> {
    fn score(&mut self) -> u16 {
        match self.kept() {
            Some(k) => k.score,
            None => {
                let core = self.core;
                ScoreCard::value(&core.model, self.values())
            }
        }
    }

    fn capacity(&mut self) -> f64 {
        let pct = match self.kept() {
            Some(k) => k.capacity_pct,
            None => {
                let core = self.core;
                capacity_pct(&core.model, self.values())
            }
        };
        f64::from(pct) / 100.0
    }

    fn factors(&mut self) -> Vec<(String, String)> {
        let core = self.core;
        let features = &core.model.features;
        match self.kept() {
            Some(k) => k
                .reasons
                .iter()
                .filter_map(|&r| features.get(usize::from(r).checked_sub(1)?))
                .map(|f| (f.code.clone(), f.text.clone()))
                .collect(),
            None => ScoreCard::top_reasons(&core.model, self.values())
                .into_iter()
                .filter_map(|(i, _)| features.get(i))
                .map(|f| (f.code.clone(), f.text.clone()))
                .collect(),
        }
    }

    fn unreturned_rentals(&mut self) -> u32 {
        match self.kept() {
            Some(k) => u32::from(k.unreturned_rentals),
            None => {
                let core = self.core;
                unreturned(&core.model, self.values())
            }
        }
    }
}

impl Facts<'_> {
    fn kept(&self) -> Option<crate::engine::DayFacts> {
        self.core.day_facts(self.s, self.as_of)
    }
}

/// The capacity dimension's share in whole percent, as the score card shows it.
fn capacity_pct(model: &Model, values: &[Option<f64>]) -> u8 {
    (ScoreCard::dimension_share(model, values, Dimension::Capacity) * 100.0).round() as u8
}

fn unreturned(model: &Model, values: &[Option<f64>]) -> u32 {
    model
        .features
        .iter()
        .position(|f| f.name == "rentals_unreturned")
        .and_then(|i| values.get(i).copied().flatten())
        .map_or(0, |x| x.round().max(0.0) as u32)
}

/// Everything a decision may ask of one subject on one day.
pub(crate) fn day_facts(model: &Model, values: &[Option<f64>]) -> crate::engine::DayFacts {
    let mut reasons = [0u8; 4];
    for (slot, (i, _)) in reasons
        .iter_mut()
        .zip(ScoreCard::top_reasons(model, values))
    {
        *slot = u8::try_from(i + 1).unwrap_or(0);
    }
    crate::engine::DayFacts {
        score: ScoreCard::value(model, values),
        reasons,
        capacity_pct: capacity_pct(model, values),
        unreturned_rentals: u8::try_from(unreturned(model, values)).unwrap_or(u8::MAX),
    }
}

/// One published entry of the court list: the published fields and nothing else.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct PublicEntry {
    pub name: String,
    /// `male` / `female` for people; absent for companies.
    pub gender: Option<&'static str>,
    pub age: Option<i32>,
    pub masked_id: String,
    /// A company's unified social credit code (published in full) and legal representative.
    pub credit_code: Option<String>,
    pub legal_representative: Option<String>,
    pub court: String,
    pub province: Option<String>,
    pub case: String,
    pub filed_on: Option<String>,
    /// The obligation in yuan, and how much of it is performed.
    pub obligation: f64,
    pub performed: f64,
    pub unperformed: f64,
    pub performance: &'static str,
    pub behaviour: &'static str,
    pub published_on: String,
}

/// What to look for on the public list.
#[derive(Debug, Clone, Default)]
pub struct ListQuery {
    pub name: String,
    pub id: Option<SubjectId>,
    pub province: Option<String>,
}

impl Engine {
    pub fn policies(&self) -> &PolicySet {
        &self.policies
    }

    /// Validates a policy file and, only if it is valid, makes it the folder's policies
    /// (written to a temporary file, synced, then renamed over the old one).
    /// Validates a policy file against this folder's score range; the number of offers.
    pub fn check_policies(&self, file: &str, text: &str) -> Result<usize, EngineError> {
        Ok(self.parse_policies(file, text)?.len())
    }

    pub(crate) fn parse_policies(&self, file: &str, text: &str) -> Result<PolicySet, EngineError> {
        let model = &self.core.model;
        Ok(PolicySet::parse(file, text, (model.min, model.max))?)
    }

    pub fn install_policies(&mut self, file: &str, text: &str) -> Result<usize, EngineError> {
        let set = self.parse_policies(file, text)?;
        let path = self.dir.join(POLICY_FILE);
        let tmp = self.dir.join("policies.toml.tmp");
        {
            use std::io::Write;
            let mut f = std::fs::File::create(&tmp).map_err(io(&tmp))?;
            f.write_all(text.as_bytes()).map_err(io(&tmp))?;
            f.sync_all().map_err(io(&tmp))?;
        }
        std::fs::rename(&tmp, &path).map_err(io(&path))?;
        let n = set.len();
        self.policies = set;
        Ok(n)
    }

    /// May `id` do `action` on `as_of` (default today)? A deny is an answer, not an error;
    /// so is any answer about a valid ID that no event has mentioned yet.
    pub fn check(
        &self,
        id: SubjectId,
        action: &str,
        as_of: Option<Day>,
    ) -> Result<Decision, EngineError> {
        let as_of = as_of.unwrap_or_else(|| self.today());
        let core = &self.core;
        // A valid ID credo knows nothing of is a person with no record: no court record
        // (a ticket counter sells), and the score of an empty history for offers. The
        // handle `u32::MAX` is never a subject's, so every lookup finds nothing.
        let s = core.subjects.get(id).unwrap_or(u32::MAX);
        let mut facts = Facts {
            core,
            s,
            id,
            as_of,
            values: None,
        };
        Ok(decide(
            action,
            core.court.get(s),
            &core.court.config,
            &self.policies,
            &mut facts,
            as_of,
        )?)
    }

    /// Scores every subject as of `as_of` (on all cores) and keeps, for decisions on that
    /// day, the score, the reason codes, the capacity share and the unreturned rentals: an
    /// offer's answer is then a read, not a score computation. An event for a subject drops
    /// what was kept for it (computed again when asked); another day is computed as usual.
    /// Costs 8 bytes a subject.
    pub fn keep_day_facts(&mut self, as_of: Day) {
        use rayon::prelude::*;
        let core = &self.core;
        let kept = (0..core.subjects.len() as u32)
            .into_par_iter()
            .map_init(Vec::new, |buf, i| {
                let id = core
                    .subjects
                    .id(i)
                    .unwrap_or(SubjectId::from_trusted_key(0));
                core.features_into(i, id, as_of, buf);
                day_facts(&core.model, buf)
            })
            .collect();
        self.core.day_facts_kept = kept;
        self.core.day_facts_as_of = Some(as_of);
    }

    /// How many subjects are on the public list on `as_of`.
    /// Whether the subject has a listing on the public list on `as_of` (default: today).
    pub fn is_published(&self, id: SubjectId, as_of: Option<Day>) -> bool {
        let as_of = as_of.unwrap_or_else(|| self.today());
        let court = &self.core.court;
        self.core
            .subjects
            .get(id)
            .and_then(|s| court.get(s))
            .is_some_and(|c| c.published(&court.config, as_of))
    }

    pub fn listed_count(&self, as_of: Day) -> usize {
        self.core.court.published(as_of).count()
    }

    /// Searches the public list as the court's site does: by name, optionally narrowed by
    /// ID and province. Only published listings appear, with the published fields.
    pub fn list_search(
        &self,
        q: &ListQuery,
        as_of: Option<Day>,
    ) -> Result<Vec<PublicEntry>, EngineError> {
        let as_of = as_of.unwrap_or_else(|| self.today());
        let core = &self.core;
        let config = &core.court.config;
        let want = q.name.trim();
        let mut out = Vec::new();
        for (s, court) in core.court.published(as_of) {
            let Some(id) = core.subjects.id(s) else {
                continue;
            };
            if q.id.is_some_and(|w| w != id) {
                continue;
            }
            let Some(rec) = self.record(id)? else {
                continue;
            };
            if !rec.name.eq_ignore_ascii_case(want) {
                continue;
            }
            if let Some(p) = &q.province
                && !credo_model::region::province_matches(region_of(id, &rec), p)
            {
                continue;
            }
            out.extend(entries(id, &rec, court, config, as_of));
        }
        out.sort_by(|a, b| (&a.published_on, &a.case).cmp(&(&b.published_on, &b.case)));
        Ok(out)
    }

    /// The published entries of subject handle `s` on `as_of` (none if not listed).
    pub(crate) fn published_entries(
        &self,
        s: u32,
        as_of: Day,
    ) -> Result<Vec<PublicEntry>, EngineError> {
        let core = &self.core;
        let (Some(court), Some(id)) = (core.court.get(s), core.subjects.id(s)) else {
            return Ok(Vec::new());
        };
        let Some(rec) = self.record(id)? else {
            return Ok(Vec::new());
        };
        Ok(entries(id, &rec, court, &core.court.config, as_of).collect())
    }
}

/// The region a subject is published under: its record's, else its ID's.
fn region_of(id: SubjectId, rec: &credo_model::SubjectRecord) -> u32 {
    if rec.region != 0 {
        rec.region
    } else {
        id.region().unwrap_or(0)
    }
}

/// One entry per case of the subject published on `as_of`.
fn entries<'a>(
    id: SubjectId,
    rec: &'a credo_model::SubjectRecord,
    court: &'a credo_rules::SubjectCourt,
    config: &'a credo_rules::CourtConfig,
    as_of: Day,
) -> impl Iterator<Item = PublicEntry> + 'a {
    let region = region_of(id, rec);
    court.cases.iter().filter_map(move |c| {
        Some(entry(
            id,
            rec,
            region,
            c,
            c.published(config, as_of)?,
            as_of,
        ))
    })
}

fn entry(
    id: SubjectId,
    rec: &credo_model::SubjectRecord,
    region: u32,
    c: &CaseRecord,
    l: &credo_rules::Listing,
    as_of: Day,
) -> PublicEntry {
    let (gender, age, credit_code, legal_representative) = match id {
        SubjectId::Person(r) => (
            Some(if r.is_male() { "male" } else { "female" }),
            Some(as_of.years_since(r.birth())),
            None,
            None,
        ),
        SubjectId::Company(code) => (None, None, Some(code.to_string()), rec.legal_rep.clone()),
    };
    let unperformed = c.unperformed();
    PublicEntry {
        name: rec.name.clone(),
        gender,
        age,
        masked_id: id.masked(),
        credit_code,
        legal_representative,
        court: c.court.to_string(),
        province: credo_model::region::province(region).map(|p| p.1.to_string()),
        case: c.case.to_string(),
        filed_on: c.filed_on.map(|d| d.to_string()),
        obligation: c.obligation.yuan(),
        performed: c.performed.yuan().min(c.obligation.yuan()),
        unperformed: unperformed.yuan(),
        performance: if c.performed.0 == 0 {
            "unperformed"
        } else {
            "partly performed"
        },
        behaviour: behaviour(l.trigger),
        published_on: l.published_on.to_string(),
    }
}

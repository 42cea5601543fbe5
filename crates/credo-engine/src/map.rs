//! The debtor map: every published listing at its subject's address of record, snapped
//! to the grid (`credo_geo`), and the geofence sessions of users walking about.
//!
//! The index holds what is published on the map's day. Court events and new subject
//! records mark their subject; [`Engine::refresh_map`] (after every ingest, on open, and
//! when the day changes) re-checks marked subjects, or every subject with a court record
//! on a new day (grace periods end and listings expire by date), moves their points and
//! tells open sessions about points that left.

use crate::court::PublicEntry;
use crate::engine::Engine;
use crate::error::EngineError;
use credo_geo::{Alert, Cell, Grid, Index, SessionId, Sessions};
use credo_model::{Day, SubjectId};
use credo_rules::court::CaseRecord;
use rustc_hash::{FxHashMap, FxHashSet};
use std::sync::{Mutex, MutexGuard};

/// The grid's cell size when the folder names none (`map_cell_m` in `credo.toml`).
pub const DEFAULT_CELL_M: f64 = credo_geo::grid::DEFAULT_CELL_M;

pub(crate) struct MapState {
    index: Index,
    /// Where each subject on the map is.
    at: FxHashMap<u32, Cell>,
    day: Option<Day>,
    /// Counts refreshes that changed the map.
    generation: u64,
    sessions: Mutex<Sessions>,
}

impl MapState {
    pub(crate) fn new(cell_m: f64) -> Result<MapState, EngineError> {
        Ok(MapState {
            index: Index::new(Grid::new(cell_m)?),
            at: FxHashMap::default(),
            day: None,
            generation: 0,
            sessions: Mutex::new(Sessions::new()),
        })
    }

    /// Forgets where every subject is, for a state rebuilt from the log: the next
    /// refresh places every listed subject again. Open sessions stay, and see the
    /// difference as `enter` and `leave` on their next step.
    pub(crate) fn reset(&mut self) {
        self.index = Index::new(self.index.grid().clone());
        self.at.clear();
        self.day = None;
    }

    fn sessions(&self) -> MutexGuard<'_, Sessions> {
        // A panic while holding the lock leaves valid sessions (each step is whole).
        self.sessions.lock().unwrap_or_else(|p| p.into_inner())
    }
}

/// How many listed debtors an area has, in words (the Hebei app's warning level).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Level {
    /// None within the radius.
    Clear,
    /// One or two.
    Low,
    /// Three to nine.
    Elevated,
    /// Ten or more.
    High,
}

impl Level {
    pub fn of(debtors: usize) -> Level {
        match debtors {
            0 => Level::Clear,
            1..=2 => Level::Low,
            3..=9 => Level::Elevated,
            _ => Level::High,
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Level::Clear => "clear",
            Level::Low => "low",
            Level::Elevated => "elevated",
            Level::High => "high",
        }
    }
}

/// One published case on the map: the published fields, the debtor's map key (opaque,
/// stable while they are on the map), and the snapped location.
#[derive(Debug, Clone, PartialEq)]
pub struct MapEntry {
    pub key: String,
    pub distance_m: Option<f64>,
    pub lat: f64,
    pub lon: f64,
    pub entry: PublicEntry,
}

/// Debtors within a radius, nearest first.
#[derive(Debug, Clone, PartialEq)]
pub struct Nearby {
    /// Debtors (people and companies) within the radius, all of them.
    pub debtors: usize,
    pub level: Level,
    /// Their published cases, nearest debtor first, at most the limit asked for.
    pub entries: Vec<MapEntry>,
    /// Whether the limit cut the list.
    pub truncated: bool,
    pub radius_m: f64,
    pub cell_m: f64,
    pub as_of: Day,
}

/// What a map shows for a box: the debtors themselves when few and close, else counts.
#[derive(Debug, Clone, PartialEq)]
pub enum MapView {
    Debtors(Vec<MapEntry>),
    /// (lat, lon, debtors) per area: the index's tiles (about 1.6 × 6.4 km at 100 m)
    /// merged into at most `AREA_BINS` × `AREA_BINS` areas over the box, each at the
    /// weighted centre of its tiles.
    Areas(Vec<(f64, f64, u64)>),
}

/// Areas per side of a box that a map view shows counts for.
pub const AREA_BINS: f64 = 48.0;

/// What an open session hears.
#[derive(Debug, Clone, PartialEq)]
pub enum MapAlert {
    /// A listed debtor is now within the radius: their published cases.
    Enter(Vec<MapEntry>),
    /// The debtor with this key is no longer within the radius (or no longer listed).
    Leave { key: String },
}

fn key_of(s: u32) -> String {
    format!("d{s:x}")
}

impl Engine {
    pub fn map_cell_m(&self) -> f64 {
        self.map.index.grid().cell_m()
    }

    /// Debtors on the map.
    pub fn map_len(&self) -> usize {
        self.map.index.len()
    }

    /// Goes up with every refresh that changed the map (sessions may have alerts waiting).
    pub fn map_generation(&self) -> u64 {
        self.map.generation
    }

    /// Whether the day has changed since the map was refreshed.
    pub fn map_is_stale(&self) -> bool {
        self.map.day != Some(self.today())
    }

    /// Brings the map up to date with the court book as of today; (added or moved,
    /// removed). Sessions that had a removed debtor get a `Leave`.
    pub fn refresh_map(&mut self) -> Result<(usize, usize), EngineError> {
        let today = self.today();
        let candidates: Vec<u32> = if self.map.day != Some(today) {
            self.core.map_dirty.clear();
            let mut all: Vec<u32> = self.core.court.subjects.keys().copied().collect();
            all.extend(self.map.at.keys().copied());
            all.sort_unstable();
            all.dedup();
            all
        } else {
            let mut d = std::mem::take(&mut self.core.map_dirty);
            d.sort_unstable();
            d.dedup();
            d
        };
        let (mut moved, mut gone) = (0, FxHashSet::default());
        for s in candidates {
            let court = &self.core.court;
            let listed = court
                .get(s)
                .is_some_and(|c| c.published(&court.config, today));
            let rec = match (listed, self.core.subjects.id(s)) {
                (true, Some(id)) => self.record(id)?,
                _ => None,
            };
            self.refresh_calls(s, rec.as_ref(), today);
            let want = rec.as_ref().and_then(|r| self.cell_of(r));
            let have = self.map.at.get(&s).copied();
            if want == have {
                continue;
            }
            if let Some(c) = have {
                self.map.index.remove(s, c);
                self.map.at.remove(&s);
            }
            match want {
                Some(c) => {
                    self.map.index.insert(s, c);
                    self.map.at.insert(s, c);
                    moved += 1;
                }
                None => {
                    gone.insert(s);
                }
            }
        }
        self.map.day = Some(today);
        if moved > 0 || !gone.is_empty() {
            self.map.generation += 1;
        }
        self.map.sessions().removed(&gone);
        Ok((moved, gone.len()))
    }

    /// The address of record, snapped; `None` without one.
    fn cell_of(&self, rec: &credo_model::SubjectRecord) -> Option<Cell> {
        if rec.lat.is_nan() || rec.lon.is_nan() {
            return None;
        }
        self.map.index.grid().snap(rec.lat, rec.lon).ok()
    }

    /// A listed subject's numbers warn of its first published case; others warn of none.
    fn refresh_calls(&mut self, s: u32, rec: Option<&credo_model::SubjectRecord>, today: Day) {
        // The court book names the case and court: no need to read or format the entry.
        let court = &self.core.court;
        let first = court.get(s).and_then(|c| {
            c.cases
                .iter()
                .find(|k| k.published(&court.config, today).is_some())
        });
        let entry = match (rec, first) {
            (Some(r), Some(k)) if !r.phones.is_empty() => {
                let numbers = r
                    .phones
                    .iter()
                    .filter_map(|p| crate::calls::Number::parse(p).ok())
                    .collect();
                Some((numbers, k.court.to_string(), k.case.to_string()))
            }
            _ => None,
        };
        self.calls.set(s, entry);
    }

    /// The published cases of debtor `s` as map entries.
    fn map_entries(
        &self,
        s: u32,
        cell: Cell,
        from: Option<(f64, f64)>,
    ) -> Result<Vec<MapEntry>, EngineError> {
        let as_of = self.map.day.unwrap_or_else(|| self.today());
        let grid = self.map.index.grid();
        let (lat, lon) = grid.centre(cell);
        let distance_m = from.map(|(la, lo)| grid.distance_m(la, lo, cell));
        Ok(self
            .published_entries(s, as_of)?
            .into_iter()
            .map(|entry| MapEntry {
                key: key_of(s),
                distance_m,
                lat,
                lon,
                entry,
            })
            .collect())
    }

    /// Listed debtors within `radius_m` of a point, nearest first, with at most `limit`
    /// published cases.
    pub fn nearby(
        &self,
        lat: f64,
        lon: f64,
        radius_m: f64,
        limit: usize,
    ) -> Result<Nearby, EngineError> {
        let grid = self.map.index.grid();
        let mut found: Vec<(f64, u32, Cell)> = Vec::new();
        self.map.index.within(lat, lon, radius_m, |cell, ids| {
            let d = grid.distance_m(lat, lon, cell);
            found.extend(ids.iter().map(|&s| (d, s, cell)));
        })?;
        found.sort_by(|a, b| a.0.total_cmp(&b.0).then(a.1.cmp(&b.1)));
        let mut entries = Vec::new();
        let mut truncated = false;
        for &(_, s, cell) in &found {
            if entries.len() >= limit {
                truncated = true;
                break;
            }
            entries.extend(self.map_entries(s, cell, Some((lat, lon)))?);
        }
        truncated |= entries.len() > limit;
        entries.truncate(limit);
        Ok(Nearby {
            debtors: found.len(),
            level: Level::of(found.len()),
            entries,
            truncated,
            radius_m,
            cell_m: grid.cell_m(),
            as_of: self.map.day.unwrap_or_else(|| self.today()),
        })
    }

    /// What the map shows in a box: the debtors when there are at most `limit` and the
    /// box is at most `max_individual_m` across, else counts per area.
    pub fn map_view(
        &self,
        (south, west, north, east): (f64, f64, f64, f64),
        limit: usize,
        max_individual_m: f64,
    ) -> Result<MapView, EngineError> {
        let ix = &self.map.index;
        let across = credo_geo::lattice::distance_m(south, west, north, east);
        if across <= max_individual_m {
            let mut found: Vec<(u32, Cell)> = Vec::new();
            ix.in_box(south, west, north, east, |cell, ids| {
                found.extend(ids.iter().map(|&s| (s, cell)));
            })?;
            if found.len() <= limit {
                found.sort_unstable();
                let mut out = Vec::new();
                for (s, cell) in found {
                    out.extend(self.map_entries(s, cell, None)?);
                }
                return Ok(MapView::Debtors(out));
            }
        }
        let (dlat, dlon) = ((north - south) / AREA_BINS, (east - west) / AREA_BINS);
        let mut bins: std::collections::BTreeMap<(i64, i64), (f64, f64, u64)> = Default::default();
        ix.tile_counts(south, west, north, east, |lat, lon, n| {
            #[allow(clippy::cast_possible_truncation)]
            let k = (
                ((lat - south) / dlat.max(1e-9)) as i64,
                ((lon - west) / dlon.max(1e-9)) as i64,
            );
            let b = bins.entry(k).or_default();
            b.0 += lat * f64::from(n);
            b.1 += lon * f64::from(n);
            b.2 += u64::from(n);
        })?;
        Ok(MapView::Areas(
            bins.into_values()
                .map(|(la, lo, n)| (la / n as f64, lo / n as f64, n))
                .collect(),
        ))
    }

    /// Opens a geofence session with a radius; it is stepped with positions.
    pub fn open_session(&self, radius_m: f64) -> Result<SessionId, EngineError> {
        Ok(self.map.sessions().open(radius_m)?)
    }

    pub fn close_session(&self, id: SessionId) -> bool {
        self.map.sessions().close(id)
    }

    /// Moves a session: debtors that came within its radius (`Enter`, with their cases)
    /// and those that left it (`Leave`), each once; waiting leaves (lifted listings) first.
    pub fn step_session(
        &self,
        id: SessionId,
        lat: f64,
        lon: f64,
    ) -> Result<Vec<MapAlert>, EngineError> {
        let mut alerts = Vec::new();
        self.map
            .sessions()
            .step(id, &self.map.index, lat, lon, &mut alerts)?;
        self.alerts(alerts, Some((lat, lon)))
    }

    /// Alerts waiting in a session (leaves after a listing was lifted), without moving it.
    pub fn take_session_alerts(&self, id: SessionId) -> Result<Vec<MapAlert>, EngineError> {
        let alerts = self.map.sessions().take(id)?;
        self.alerts(alerts, None)
    }

    fn alerts(
        &self,
        alerts: Vec<Alert>,
        from: Option<(f64, f64)>,
    ) -> Result<Vec<MapAlert>, EngineError> {
        let mut out = Vec::with_capacity(alerts.len());
        for a in alerts {
            out.push(match a {
                Alert::Enter { id, cell } => MapAlert::Enter(self.map_entries(id, cell, from)?),
                Alert::Leave { id } => MapAlert::Leave { key: key_of(id) },
            });
        }
        Ok(out)
    }

    /// The debtor with a published case of this number, for tip-offs from the map (which
    /// shows no full ID).
    pub fn published_case_subject(&self, case: &str) -> Option<SubjectId> {
        self.published_case(case)
            .and_then(|(s, _)| self.core.subjects.id(s))
    }

    /// The subject handle and record of a case published today.
    pub(crate) fn published_case(&self, case: &str) -> Option<(u32, &CaseRecord)> {
        let today = self.today();
        let config = &self.core.court.config;
        self.core.court.published(today).find_map(|(s, c)| {
            c.cases
                .iter()
                .find(|k| k.case.as_str() == case && k.published(config, today).is_some())
                .map(|k| (s, k))
        })
    }

    /// Every point on the map with its subject, for tests and `credo fsck`-style checks.
    pub fn map_points(&self) -> Vec<(SubjectId, (f64, f64))> {
        let grid = self.map.index.grid();
        let mut v: Vec<_> = self
            .map
            .index
            .points()
            .into_iter()
            .filter_map(|(c, s)| Some((self.core.subjects.id(s)?, grid.centre(c))))
            .collect();
        v.sort_by_key(|p| p.0);
        v
    }
}

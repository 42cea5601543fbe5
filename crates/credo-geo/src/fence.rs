//! Geofence sessions: a moving user, a radius, and the points inside it. Stepping a
//! session to a new position yields `Enter` for points that came within the radius and
//! `Leave` for those that fell out; a point that stays inside is not repeated. Removing a
//! point from the map (a lifted listing) yields `Leave` in every session that had it.
//!
//! State is a sorted list of ids per session, so a step is a radius query and a merge.
//! Alerts wait in the session until taken, so a slow client holds only its own alerts
//! (at most one per point it has seen), and nothing else waits for it.

use crate::GeoError;
use crate::grid::Cell;
use crate::index::{Index, MAX_RADIUS_M};
use rustc_hash::{FxBuildHasher, FxHashSet};

pub type SessionId = u64;

#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Alert {
    /// `id` at `cell` is now within the radius.
    Enter { id: u32, cell: Cell },
    /// `id` is no longer within the radius (the user moved, or the point left the map).
    Leave { id: u32 },
}

#[derive(Debug, Clone)]
struct Fence {
    radius_m: f64,
    inside: Vec<u32>,
    pending: Vec<Alert>,
}

#[derive(Debug, Clone, Default)]
pub struct Sessions {
    next: SessionId,
    fences: hashbrown::HashMap<SessionId, Fence, FxBuildHasher>,
    scratch: Vec<(u32, Cell)>,
}

impl Sessions {
    pub fn new() -> Sessions {
        Sessions::default()
    }

    /// Opens a session with a radius in metres.
    pub fn open(&mut self, radius_m: f64) -> Result<SessionId, GeoError> {
        if !(radius_m > 0.0 && radius_m <= MAX_RADIUS_M) {
            return Err(GeoError::Radius {
                metres: radius_m,
                max: MAX_RADIUS_M,
            });
        }
        self.next += 1;
        self.fences.insert(
            self.next,
            Fence {
                radius_m,
                inside: Vec::new(),
                pending: Vec::new(),
            },
        );
        Ok(self.next)
    }

    pub fn close(&mut self, s: SessionId) -> bool {
        self.fences.remove(&s).is_some()
    }

    pub fn len(&self) -> usize {
        self.fences.len()
    }

    pub fn is_empty(&self) -> bool {
        self.fences.is_empty()
    }

    /// Moves session `s` to (`lat`, `lon`) and appends its alerts to `out`: any waiting
    /// ones first, then leaves, then enters (each sorted by id).
    pub fn step(
        &mut self,
        s: SessionId,
        index: &Index,
        lat: f64,
        lon: f64,
        out: &mut Vec<Alert>,
    ) -> Result<(), GeoError> {
        let fence = self.fences.get_mut(&s).ok_or(GeoError::NoSession)?;
        let now = &mut self.scratch;
        now.clear();
        index.within(lat, lon, fence.radius_m, |cell, ids| {
            now.extend(ids.iter().map(|&id| (id, cell)));
        })?;
        now.sort_unstable_by_key(|p| p.0);
        now.dedup_by_key(|p| p.0);
        out.append(&mut fence.pending);
        // Merge the old and new sorted lists.
        let (old, new) = (&fence.inside, &*now);
        let (mut i, mut j) = (0, 0);
        let mut enters = Vec::new();
        while i < old.len() || j < new.len() {
            match (old.get(i), new.get(j)) {
                (Some(&a), Some(&(b, _))) if a == b => {
                    i += 1;
                    j += 1;
                }
                (Some(&a), Some(&(b, _))) if a < b => {
                    out.push(Alert::Leave { id: a });
                    i += 1;
                }
                (Some(&a), None) => {
                    out.push(Alert::Leave { id: a });
                    i += 1;
                }
                (_, Some(&(b, cell))) => {
                    enters.push(Alert::Enter { id: b, cell });
                    j += 1;
                }
                (None, None) => break,
            }
        }
        out.extend(enters);
        fence.inside.clear();
        fence.inside.extend(new.iter().map(|p| p.0));
        Ok(())
    }

    /// Points that left the map: every session that had one gets a `Leave`, waiting until
    /// its next step or [`Sessions::take`].
    pub fn removed(&mut self, ids: &FxHashSet<u32>) {
        if ids.is_empty() {
            return;
        }
        for fence in self.fences.values_mut() {
            let Fence {
                inside, pending, ..
            } = fence;
            inside.retain(|id| {
                let gone = ids.contains(id);
                if gone {
                    pending.push(Alert::Leave { id: *id });
                }
                !gone
            });
        }
    }

    /// Takes the alerts waiting in session `s`.
    pub fn take(&mut self, s: SessionId) -> Result<Vec<Alert>, GeoError> {
        let fence = self.fences.get_mut(&s).ok_or(GeoError::NoSession)?;
        Ok(std::mem::take(&mut fence.pending))
    }
}

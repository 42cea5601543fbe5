//! The debtor map's geometry: a fixed-point lattice shared with Redis (`lattice`), the
//! snapping grid (`grid`), the location index (`index`) and geofence sessions (`fence`).
//!
//! Pure: no I/O, no clock, and no people. A point is a `u32` the caller gives meaning to.

pub mod fence;
pub mod grid;
pub mod index;
pub mod lattice;

pub use fence::{Alert, SessionId, Sessions};
pub use grid::{Cell, Grid};
pub use index::{Index, MAX_RADIUS_M, prefetch};

#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum GeoError {
    #[error(
        "({lat}, {lon}) is not a position on the map (latitude −85.05..85.05, longitude −180..180)"
    )]
    OffMap { lat: f64, lon: f64 },
    #[error("radius {metres} m is out of range (more than 0, at most {max} m)")]
    Radius { metres: f64, max: f64 },
    #[error("grid cell size {metres} m is out of range (20 to 2000 m)")]
    CellSize { metres: f64 },
    #[error(
        "the box's south edge is north of its north edge, or its west edge east of its east edge"
    )]
    Box,
    #[error("no such session")]
    NoSession,
}

impl GeoError {
    /// A stable code for APIs.
    pub fn code(&self) -> &'static str {
        match self {
            GeoError::OffMap { .. } => "bad_position",
            GeoError::Radius { .. } => "bad_radius",
            GeoError::CellSize { .. } => "bad_cell_size",
            GeoError::Box => "bad_box",
            GeoError::NoSession => "no_session",
        }
    }
}

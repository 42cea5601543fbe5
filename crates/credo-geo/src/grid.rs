//! The snapping grid: every published location is the centre of a grid cell, never the
//! address itself (privacy by snapping, not jitter: the same address always lands on the
//! same point, so nothing can be averaged out by asking twice).
//!
//! Rows are `lat_step` lattice steps tall (the cell size in metres). Rows come in bands of
//! [`BAND_ROWS`]; within a band every column has the same width, chosen so that a cell is
//! about square at the band's middle latitude. A cell is `(row, col)` and its centre is a
//! lattice point (see [`crate::lattice`]).

use crate::GeoError;
use crate::lattice::{self, STEPS};

/// Rows per band (and per index tile).
pub const BAND_ROWS: u32 = 16;
/// The default cell size in metres.
pub const DEFAULT_CELL_M: f64 = 100.0;
/// Accepted cell sizes in metres.
pub const CELL_M_RANGE: std::ops::RangeInclusive<f64> = 20.0..=2000.0;

/// A grid cell: a row of latitude and a column within the row's band.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Cell {
    pub row: u32,
    pub col: u32,
}

#[derive(Debug, Clone)]
pub struct Grid {
    cell_m: f64,
    lat_step: u32,
    /// Column width in lattice steps, per band.
    lon_step: Vec<u32>,
    /// 1 / cos(latitude) of each row's centre.
    sec_row: Vec<f64>,
    /// Per band: columns, and 1 / column width in lattice steps.
    cols: Vec<u32>,
    inv_lon_step: Vec<f64>,
}

impl PartialEq for Grid {
    fn eq(&self, other: &Grid) -> bool {
        self.cell_m == other.cell_m
    }
}

impl Grid {
    /// A grid of cells about `cell_m` metres on a side.
    pub fn new(cell_m: f64) -> Result<Grid, GeoError> {
        if !CELL_M_RANGE.contains(&cell_m) {
            return Err(GeoError::CellSize { metres: cell_m });
        }
        #[allow(clippy::cast_possible_truncation, clippy::cast_sign_loss)]
        let lat_step = ((cell_m / lattice::lat_step_m()).round() as u32).max(1);
        let rows = STEPS.div_ceil(lat_step);
        let bands = rows.div_ceil(BAND_ROWS);
        let lon_step: Vec<u32> = (0..bands)
            .map(|b| {
                let mid = (b * BAND_ROWS + BAND_ROWS / 2).min(rows - 1);
                let lat = lattice::lat_of((mid * lat_step).min(STEPS - 1));
                let metres = lattice::lon_step_m() * lattice::to_rad(lat).cos();
                #[allow(clippy::cast_possible_truncation, clippy::cast_sign_loss)]
                let w = (cell_m / metres).round() as u32;
                w.clamp(1, STEPS)
            })
            .collect();
        let mut grid = Grid {
            cell_m,
            lat_step,
            cols: lon_step.iter().map(|&w| STEPS.div_ceil(w)).collect(),
            inv_lon_step: lon_step.iter().map(|&w| 1.0 / f64::from(w)).collect(),
            lon_step,
            sec_row: Vec::new(),
        };
        grid.sec_row = (0..rows)
            .map(|r| 1.0 / lattice::to_rad(grid.row_lat(r)).cos())
            .collect();
        Ok(grid)
    }

    pub fn cell_m(&self) -> f64 {
        self.cell_m
    }

    pub fn rows(&self) -> u32 {
        self.sec_row.len() as u32
    }

    pub(crate) fn lat_step(&self) -> u32 {
        self.lat_step
    }

    /// Column width of `row`'s band, in lattice steps.
    #[inline]
    pub(crate) fn lon_step(&self, row: u32) -> u32 {
        self.lon_step
            .get((row / BAND_ROWS) as usize)
            .copied()
            .unwrap_or(1)
    }

    #[inline]
    pub(crate) fn sec_row(&self, row: u32) -> f64 {
        self.sec_row
            .get(row as usize)
            .copied()
            .unwrap_or(f64::INFINITY)
    }

    /// Columns in `row`'s band.
    #[inline]
    pub(crate) fn cols(&self, row: u32) -> u32 {
        self.cols
            .get((row / BAND_ROWS) as usize)
            .copied()
            .unwrap_or(1)
    }

    #[inline]
    pub(crate) fn inv_lon_step(&self, row: u32) -> f64 {
        self.inv_lon_step
            .get((row / BAND_ROWS) as usize)
            .copied()
            .unwrap_or(1.0)
    }

    /// The cell that holds a coordinate, or an error off the lattice.
    pub fn snap(&self, lat: f64, lon: f64) -> Result<Cell, GeoError> {
        let (Some(i), Some(j)) = (lattice::lat_index(lat), lattice::lon_index(lon)) else {
            return Err(GeoError::OffMap { lat, lon });
        };
        let row = i / self.lat_step;
        Ok(Cell {
            row,
            col: j / self.lon_step(row),
        })
    }

    /// The latitude of a row's centre (a lattice point).
    #[inline]
    pub fn row_lat(&self, row: u32) -> f64 {
        let i = row * self.lat_step + self.lat_step / 2;
        lattice::lat_of(i.min(STEPS - 1))
    }

    /// The longitude of a column's centre in `row`'s band (a lattice point).
    #[inline]
    pub fn col_lon(&self, row: u32, col: u32) -> f64 {
        let w = self.lon_step(row);
        let j = u64::from(col) * u64::from(w) + u64::from(w / 2);
        #[allow(clippy::cast_possible_truncation)]
        lattice::lon_of(j.min(u64::from(STEPS - 1)) as u32)
    }

    /// A cell's centre: the published location of everything in it, as (lat, lon).
    pub fn centre(&self, c: Cell) -> (f64, f64) {
        (self.row_lat(c.row), self.col_lon(c.row, c.col))
    }

    /// Distance in metres from a point to a cell's centre.
    pub fn distance_m(&self, lat: f64, lon: f64, c: Cell) -> f64 {
        let (clat, clon) = self.centre(c);
        lattice::distance_m(lat, lon, clat, clon)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn cells_are_about_square_and_the_size_asked_for() {
        for size in [50.0, 100.0, 250.0] {
            let g = Grid::new(size).unwrap();
            for lat in [18.3, 31.2, 39.9, 53.0] {
                let c = g.snap(lat, 116.4).unwrap();
                let (la, lo) = g.centre(c);
                let up = g.centre(Cell {
                    row: c.row + 1,
                    col: c.col,
                });
                let right = g.centre(Cell {
                    row: c.row,
                    col: c.col + 1,
                });
                let h = crate::lattice::distance_m(la, lo, up.0, lo);
                let w = crate::lattice::distance_m(la, lo, la, right.1);
                assert!((h - size).abs() < size * 0.01, "{size} at {lat}: h {h}");
                assert!((w - size).abs() < size * 0.02, "{size} at {lat}: w {w}");
            }
        }
    }

    /// The index's tile map keeps a tile key in 32 bits (band, tile column: 16 each).
    #[test]
    fn tile_keys_fit_in_32_bits() {
        for size in [*CELL_M_RANGE.start(), 100.0, *CELL_M_RANGE.end()] {
            let g = Grid::new(size).unwrap();
            assert!(g.rows().div_ceil(BAND_ROWS) < 0xFFFF, "{size}");
            let widest = g.cols.iter().max().copied().unwrap_or(0);
            assert!(widest.div_ceil(64) <= 0x1_0000, "{size}: {widest} columns");
        }
    }

    #[test]
    fn bad_sizes_and_places_are_errors() {
        assert!(Grid::new(5.0).is_err());
        assert!(Grid::new(f64::NAN).is_err());
        let g = Grid::new(100.0).unwrap();
        assert!(g.snap(89.0, 0.0).is_err());
        assert!(g.snap(f64::INFINITY, 0.0).is_err());
    }

    proptest! {
        #[test]
        fn snapping_moves_a_point_less_than_a_cell_diagonal(lat in 18.0..54.0f64, lon in 73.0..135.0f64) {
            let g = Grid::new(100.0).unwrap();
            let c = g.snap(lat, lon).unwrap();
            let d = g.distance_m(lat, lon, c);
            prop_assert!(d <= 100.0 * 0.75, "{d}");
            // And the centre snaps to its own cell.
            let (la, lo) = g.centre(c);
            prop_assert_eq!(g.snap(la, lo).unwrap(), c);
        }
    }
}

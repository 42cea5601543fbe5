//! The location index: points (a `u32` each) at grid cells, answering radius, box and
//! per-area count queries.
//!
//! Written by hand because it is the hot path of the map (the issue asks for 2 M radius
//! queries a second per core at 15 M points, five times an R*-tree). Points are sorted by
//! tile (16 rows × 64 columns of the grid), then row, then column; a tile's header keeps
//! one 64-bit occupancy word per row and, per row, the occupied cells and points before
//! it, and its cells' point counts are a byte each, cumulative within the row. So the
//! occupied cells of any run of columns in a row are a popcount away and their points are
//! one contiguous slice. Because every point sits exactly on its cell's centre, a cell is
//! wholly in or out of a circle, and a radius query is, per row, a column range worked out
//! in closed form (with an exact check where it is within rounding of the edge); no point
//! is tested one by one. At 15 M points the headers, counts and tile map take about 34 MB
//! (ids aside): sized so that what a query reads mostly stays in a server's last-level
//! cache (BENCHMARKS.md, "The debtor map's index").
//!
//! Changes go to a small overlay (added points by tile, removed points by id) that
//! queries merge; when it grows past a share of the base, the index is rebuilt.

use crate::GeoError;
use crate::grid::{BAND_ROWS, Cell, Grid};
use crate::lattice::{self, LON_MIN, STEPS};
use rustc_hash::FxBuildHasher;

type FxMap<K, V> = hashbrown::HashMap<K, V, FxBuildHasher>;

/// The largest radius the index answers (the API caps lower).
pub const MAX_RADIUS_M: f64 = 50_000.0;
const TILE_COLS: u32 = 64;
/// Relative margin around the radius inside which the exact distance decides.
const GUARD: f64 = 1e-9;
/// A column boundary nearer than this (in columns) to the edge is checked exactly.
const COL_MARGIN: f64 = 1e-6;

/// A tile's header: 200 bytes. Its cells' counts are in `cum` (one byte per occupied
/// cell, the row's cumulative points up to and including the cell), or for a tile with a
/// row of more than 255 points or more than 65 535 points in all, in `cum_wide` (32 bits
/// per cell, the tile's cumulative points). The points of row `lr`'s cells `k..k + n` are
/// `pbase + row_pts[lr] + cum[.. k − 1] .. pbase + row_pts[lr] + cum[.. k + n − 1]`.
///
/// Sized for the cache: at 15 M points the headers and counts take about 30 MB, which a
/// server's last-level cache nearly holds (the layout before, 256-byte tiles and 16-bit
/// counts in their own array, took 47 MB). A query's misses are its tiles' headers and
/// its rows' counts. `Visit::warm` asks for all of them before the query reads any: the
/// tile map gives where a tile's counts start and where the next tile's do, so the rows'
/// counts are asked for where a uniform tile would have them, at the same time as the
/// header, instead of after it (from the header only where the map does not know).
#[derive(Debug, Clone, Copy, Default)]
#[repr(C)]
struct Tile {
    /// Occupancy of each row's 64 columns.
    bits: [u64; BAND_ROWS as usize],
    /// The tile's first point in `ids`.
    pbase: u32,
    /// Where the tile's counts start in `cum`, or with `WIDE` set in `cum_wide`.
    cum: u32,
    /// Points of the tile before each row (unused in a wide tile).
    row_pts: [u16; BAND_ROWS as usize],
    /// Occupied cells of the tile before each row.
    row_cells: [u16; BAND_ROWS as usize],
}

const WIDE: u32 = 1 << 31;

/// Cache lines of a tile's counts read ahead of a query.
const WARM_LINES: usize = 12;

/// Tile key → tile. A band whose tiles are not too sparse between its first and last
/// keeps a dense array of its tile columns (a band's tiles are where a query looks next to
/// each other, so they share cache lines, and the band table is small enough to stay in
/// cache); other bands go to an open-addressing table with linear probing, at most half
/// full, 8 bytes a slot. Written by hand because a query looks up one to four tiles, each
/// a cache miss in a general map (its control bytes and slots apart).
#[derive(Debug, Clone)]
struct TileMap {
    /// Per band: (first tile column, columns, where they start in `dense`); `HASHED` as
    /// the column count sends the band to `slots`.
    bands: Vec<(u32, u32, u32)>,
    dense: Vec<u32>,
    /// Where each tile's counts start in `cum`, and one more for the end: 4 bytes a
    /// tile, small enough to stay in cache, so a query knows where its rows' counts are
    /// before the tile's header arrives. (A wide tile has none there: its entry equals
    /// the next one.)
    counts_at: Vec<u32>,
    /// (band << 16 | tile column, tile).
    slots: Vec<(u32, u32)>,
    shift: u32,
}

impl TileMap {
    const EMPTY: u32 = u32::MAX;
    const HASHED: u32 = u32::MAX;

    /// A tile key in 32 bits: every grid of `CELL_M_RANGE` has fewer than 65 535 bands and
    /// 65 536 tile columns (`grid::tests::tile_keys_fit_in_32_bits`).
    #[inline(always)]
    fn short(key: u64) -> u32 {
        (((key >> 32) as u32) << 16) | (key as u32 & 0xFFFF)
    }

    /// The map of `keys`, in sort order (band, then tile column).
    fn with_keys(keys: &[u64], tiles: &[Tile], cum_len: usize) -> TileMap {
        let bands_n = keys.last().map_or(0, |k| (k >> 32) as usize + 1);
        let mut bands = vec![(0, 0, 0); bands_n];
        let mut dense = Vec::new();
        let mut hashed = Vec::new();
        let mut at = 0;
        while at < keys.len() {
            let band = keys[at] >> 32;
            let end = at + keys[at..].partition_point(|k| k >> 32 == band);
            let (first, last) = (keys[at] as u32, keys[end - 1] as u32);
            let cols = last - first + 1;
            if cols as usize <= 4 * (end - at) + 64 {
                bands[band as usize] = (first, cols, dense.len() as u32);
                let off = dense.len();
                dense.resize(off + cols as usize, Self::EMPTY);
                for (i, &k) in keys[at..end].iter().enumerate() {
                    dense[off + (k as u32 - first) as usize] = (at + i) as u32;
                }
            } else {
                bands[band as usize] = (0, Self::HASHED, 0);
                hashed.extend((at..end).map(|i| (keys[i], i as u32)));
            }
            at = end;
        }
        let mut counts_at = Vec::with_capacity(tiles.len() + 1);
        let mut end = cum_len as u32;
        for t in tiles.iter().rev() {
            if t.cum & WIDE == 0 {
                end = t.cum;
            }
            counts_at.push(end);
        }
        counts_at.reverse();
        counts_at.push(cum_len as u32);
        let cap = (hashed.len() * 2).next_power_of_two().max(16);
        let mut m = TileMap {
            bands,
            dense,
            counts_at,
            slots: vec![(Self::EMPTY, 0); cap],
            shift: 64 - cap.trailing_zeros(),
        };
        for (k, i) in hashed {
            debug_assert!(k >> 32 < 0xFFFF && (k as u32) < 0x1_0000, "tile key {k:x}");
            let k = Self::short(k);
            let mut s = m.slot(k);
            while m.slots[s].0 != Self::EMPTY {
                s = (s + 1) & (cap - 1);
            }
            m.slots[s] = (k, i);
        }
        m
    }

    fn heap_bytes(&self) -> usize {
        self.bands.capacity() * 12
            + self.dense.capacity() * 4
            + self.counts_at.capacity() * 4
            + self.slots.capacity() * 8
    }

    #[inline(always)]
    fn slot(&self, key: u32) -> usize {
        (u64::from(key).wrapping_mul(0x9E37_79B9_7F4A_7C15) >> self.shift) as usize
    }

    /// The tile, and where its counts start and end in `cum` (equal for a wide tile).
    #[inline(always)]
    fn get_ahead(&self, key: u64) -> Option<(u32, u32, u32)> {
        let t = self.get(key)? as usize;
        match (self.counts_at.get(t), self.counts_at.get(t + 1)) {
            (Some(&c), Some(&e)) => Some((t as u32, c, e)),
            _ => Some((t as u32, 0, 0)),
        }
    }

    #[inline(always)]
    fn get(&self, key: u64) -> Option<u32> {
        let (first, cols, off) = *self.bands.get((key >> 32) as usize)?;
        if cols != Self::HASHED {
            let i = (key as u32).wrapping_sub(first);
            if i >= cols {
                return None;
            }
            return self
                .dense
                .get((off + i) as usize)
                .copied()
                .filter(|&t| t != Self::EMPTY);
        }
        let key = Self::short(key);
        let mask = self.slots.len() - 1;
        let mut s = self.slot(key);
        loop {
            let (k, v) = self.slots[s];
            if k == key {
                return Some(v);
            }
            if k == Self::EMPTY {
                return None;
            }
            s = (s + 1) & mask;
        }
    }
}

/// The tile of row `row`, tile column `tcol` (columns `64·tcol..64·tcol + 63`).
fn tile_key_at(row: u32, tcol: u32) -> u64 {
    (u64::from(row / BAND_ROWS) << 32) | u64::from(tcol)
}

fn tile_key(c: Cell) -> u64 {
    tile_key_at(c.row, c.col / TILE_COLS)
}

/// Sort order: tile (band, then tile column), then row, then column.
fn sort_key(c: Cell) -> u64 {
    (u64::from(c.row / BAND_ROWS) << 40)
        | (u64::from(c.col / TILE_COLS) << 10)
        | (u64::from(c.row % BAND_ROWS) << 6)
        | u64::from(c.col % TILE_COLS)
}

/// A radius query, prepared once.
struct Circle {
    lat: f64,
    lon: f64,
    radius: f64,
    lat_rad: f64,
    lon_rad: f64,
    cos_lat: f64,
    sec_lat: f64,
    /// The centre's longitude in lattice steps (continuous), and radians to steps.
    lon_steps: f64,
    rad_to_steps: f64,
    /// The haversine term at the radius: inside ⇔ a ≤ a_r.
    a_r: f64,
}

/// sin(x) for the small angles of a query (Taylor to x⁵; relative error below 1e-13 for
/// |x| < 0.05, far inside `GUARD`), else the library's.
#[inline(always)]
fn sin_small(x: f64) -> f64 {
    if x.abs() < 0.05 {
        let x2 = x * x;
        x * (1.0 - x2 / 6.0 * (1.0 - x2 / 20.0))
    } else {
        x.sin()
    }
}

#[derive(Debug, Clone)]
pub struct Index {
    grid: Grid,
    /// Tile key → position in `tiles`.
    tile_at: TileMap,
    /// Tile keys in sort order, parallel to `tiles`.
    tile_keys: Vec<u64>,
    tiles: Vec<Tile>,
    /// Cumulative point counts of each row's cells (see [`Tile`]).
    cum: Vec<u8>,
    cum_wide: Vec<u32>,
    ids: Vec<u32>,
    /// Points added since the last build, by tile.
    added: FxMap<u64, Vec<(Cell, u32)>>,
    added_len: usize,
    /// Points of the base removed since the last build, with their cells.
    removed: FxMap<u32, Cell>,
    /// Net change of each tile's count from the overlay.
    tile_delta: FxMap<u64, i64>,
    /// The overlay size that triggers a rebuild (besides a 64th of the base).
    rebuild_min: usize,
}

impl Index {
    pub fn new(grid: Grid) -> Index {
        Index::build(grid, Vec::new())
    }

    /// An index of `points`. An id should be at one cell at most.
    pub fn build(grid: Grid, mut points: Vec<(Cell, u32)>) -> Index {
        points.sort_unstable_by_key(|&(c, id)| (sort_key(c), id));
        points.dedup();
        let mut tile_keys = Vec::new();
        let mut tiles: Vec<Tile> = Vec::new();
        let mut cum: Vec<u8> = Vec::new();
        let mut cum_wide: Vec<u32> = Vec::new();
        let ids: Vec<u32> = points.iter().map(|p| p.1).collect();
        // One tile at a time: its cells as (local row, column bit, points).
        let mut cells: Vec<(usize, u32, u32)> = Vec::new();
        let mut at = 0;
        while at < points.len() {
            let key = tile_key(points[at].0);
            let end = at + points[at..].partition_point(|p| tile_key(p.0) == key);
            cells.clear();
            for &(c, _) in &points[at..end] {
                let (lr, bit) = ((c.row % BAND_ROWS) as usize, c.col % TILE_COLS);
                match cells.last_mut() {
                    Some(last) if (last.0, last.1) == (lr, bit) => last.2 += 1,
                    _ => cells.push((lr, bit, 1)),
                }
            }
            let mut t = Tile {
                pbase: at as u32,
                ..Tile::default()
            };
            let mut row_pts = [0u32; BAND_ROWS as usize];
            for &(lr, bit, n) in &cells {
                t.bits[lr] |= 1 << bit;
                row_pts[lr] += n;
            }
            let wide = end - at > usize::from(u16::MAX) || row_pts.iter().any(|&n| n > 255);
            let (mut before_pts, mut before_cells) = (0u32, 0u32);
            for (lr, pts) in row_pts.iter().enumerate() {
                // Both fit: a narrow tile has at most 65 535 points, any tile 1024 cells.
                t.row_pts[lr] = before_pts.min(u32::from(u16::MAX)) as u16;
                t.row_cells[lr] = before_cells as u16;
                before_pts += pts;
                before_cells += t.bits[lr].count_ones();
            }
            if wide {
                t.cum = WIDE | cum_wide.len() as u32;
                let mut acc = 0;
                for &(_, _, n) in &cells {
                    acc += n;
                    cum_wide.push(acc);
                }
            } else {
                t.cum = cum.len() as u32;
                let mut row = usize::MAX;
                let mut acc = 0u32;
                for &(lr, _, n) in &cells {
                    if lr != row {
                        (row, acc) = (lr, 0);
                    }
                    acc += n;
                    cum.push(acc as u8);
                }
            }
            tile_keys.push(key);
            tiles.push(t);
            at = end;
        }
        Index {
            grid,
            tile_at: TileMap::with_keys(&tile_keys, &tiles, cum.len()),
            tile_keys,
            tiles,
            cum,
            cum_wide,
            ids,
            added: FxMap::default(),
            added_len: 0,
            removed: FxMap::default(),
            tile_delta: FxMap::default(),
            rebuild_min: 4096,
        }
    }

    /// Sets the overlay size that triggers a rebuild (tests use a small one).
    pub fn set_rebuild_min(&mut self, n: usize) {
        self.rebuild_min = n;
    }

    pub fn grid(&self) -> &Grid {
        &self.grid
    }

    /// Points in the index.
    pub fn len(&self) -> usize {
        self.ids.len() + self.added_len - self.removed.len()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Bytes held by the base layout (tiles, cells, ids), for the benchmarks.
    pub fn heap_bytes(&self) -> usize {
        self.tiles.capacity() * std::mem::size_of::<Tile>()
            + self.tile_keys.capacity() * 8
            + self.tile_at.heap_bytes()
            + self.cum.capacity()
            + self.cum_wide.capacity() * 4
            + self.ids.capacity() * 4
    }

    /// (tiles, occupied cells) of the base layout, for the benchmarks.
    pub fn shape(&self) -> (usize, usize) {
        let cells = self
            .tiles
            .iter()
            .flat_map(|t| t.bits)
            .map(|b| b.count_ones() as usize)
            .sum();
        (self.tiles.len(), cells)
    }

    /// The points of row `lr`'s cells `k..k + n`.
    #[inline(always)]
    fn cells_ids(&self, t: &Tile, lr: usize, k: u32, n: u32) -> &[u32] {
        if n == 0 {
            return &[];
        }
        let first = t.row_cells[lr] as usize;
        let (k, n) = (k as usize, n as usize);
        let (s, e) = if t.cum & WIDE == 0 {
            let c = &self.cum[t.cum as usize + first..];
            let base = t.pbase + u32::from(t.row_pts[lr]);
            let s = if k == 0 { 0 } else { u32::from(c[k - 1]) };
            (base + s, base + u32::from(c[k + n - 1]))
        } else {
            let c = &self.cum_wide[(t.cum & !WIDE) as usize..];
            let j = first + k;
            let s = if j == 0 { 0 } else { c[j - 1] };
            (t.pbase + s, t.pbase + c[j + n - 1])
        };
        &self.ids[s as usize..e as usize]
    }

    /// The tile's points.
    fn tile_points(&self, i: usize) -> u32 {
        let end = self
            .tiles
            .get(i + 1)
            .map_or(self.ids.len() as u32, |n| n.pbase);
        end - self.tiles[i].pbase
    }

    /// Every point, base and overlay.
    pub fn points(&self) -> Vec<(Cell, u32)> {
        let mut out = Vec::with_capacity(self.len());
        for (t, &key) in self.tiles.iter().zip(&self.tile_keys) {
            let band = (key >> 32) as u32;
            let tcol = key as u32;
            for lr in 0..BAND_ROWS {
                let mut m = t.bits[lr as usize];
                let mut k = 0;
                while m != 0 {
                    let cell = Cell {
                        row: band * BAND_ROWS + lr,
                        col: tcol * TILE_COLS + m.trailing_zeros(),
                    };
                    for &id in self.cells_ids(t, lr as usize, k, 1) {
                        if self.removed.get(&id) != Some(&cell) {
                            out.push((cell, id));
                        }
                    }
                    k += 1;
                    m &= m - 1;
                }
            }
        }
        for v in self.added.values() {
            out.extend_from_slice(v);
        }
        out
    }

    fn base_cell_ids(&self, c: Cell) -> &[u32] {
        let Some(t) = self.tile_at.get(tile_key(c)) else {
            return &[];
        };
        let t = &self.tiles[t as usize];
        let lr = (c.row % BAND_ROWS) as usize;
        let bit = c.col % TILE_COLS;
        if t.bits[lr] & (1 << bit) == 0 {
            return &[];
        }
        let k = (t.bits[lr] & ((1u64 << bit) - 1)).count_ones();
        self.cells_ids(t, lr, k, 1)
    }

    /// Adds point `id` at `cell` (the caller removes it from any other cell first).
    pub fn insert(&mut self, id: u32, cell: Cell) {
        if self.removed.get(&id) == Some(&cell) {
            self.removed.remove(&id);
        } else if self.base_cell_ids(cell).binary_search(&id).is_ok()
            || self
                .added
                .get(&tile_key(cell))
                .is_some_and(|v| v.contains(&(cell, id)))
        {
            return;
        } else {
            self.added
                .entry(tile_key(cell))
                .or_default()
                .push((cell, id));
            self.added_len += 1;
        }
        *self.tile_delta.entry(tile_key(cell)).or_default() += 1;
        self.maybe_rebuild();
    }

    /// Removes point `id` from `cell`; false if it was not there.
    pub fn remove(&mut self, id: u32, cell: Cell) -> bool {
        let key = tile_key(cell);
        let from_added = self.added.get_mut(&key).and_then(|v| {
            let i = v.iter().position(|&p| p == (cell, id))?;
            v.swap_remove(i);
            Some(v.is_empty())
        });
        match from_added {
            Some(empty) => {
                if empty {
                    self.added.remove(&key);
                }
                self.added_len -= 1;
            }
            None => {
                if self.removed.contains_key(&id)
                    || self.base_cell_ids(cell).binary_search(&id).is_err()
                {
                    return false;
                }
                self.removed.insert(id, cell);
            }
        }
        *self.tile_delta.entry(key).or_default() -= 1;
        self.maybe_rebuild();
        true
    }

    fn maybe_rebuild(&mut self) {
        if self.added_len + self.removed.len() > self.rebuild_min + self.ids.len() / 64 {
            let points = self.points();
            let min = self.rebuild_min;
            *self = Index::build(self.grid.clone(), points);
            self.rebuild_min = min;
        }
    }

    fn circle(&self, lat: f64, lon: f64, radius_m: f64) -> Result<Circle, GeoError> {
        if lattice::lat_index(lat).is_none() || lattice::lon_index(lon).is_none() {
            return Err(GeoError::OffMap { lat, lon });
        }
        if !(radius_m > 0.0 && radius_m <= MAX_RADIUS_M) {
            return Err(GeoError::Radius {
                metres: radius_m,
                max: MAX_RADIUS_M,
            });
        }
        let lat_rad = lattice::to_rad(lat);
        let cos_lat = lat_rad.cos();
        // sin(x) by Taylor: x ≤ 0.004 here, so the x⁵ term is below 1e-12 of it.
        let x = radius_m / (2.0 * lattice::EARTH_RADIUS_M);
        let h = x * (1.0 - x * x / 6.0 * (1.0 - x * x / 20.0));
        Ok(Circle {
            lat,
            lon,
            radius: radius_m,
            lat_rad,
            lon_rad: lattice::to_rad(lon),
            cos_lat,
            sec_lat: 1.0 / cos_lat,
            lon_steps: (lon - LON_MIN) * (f64::from(STEPS) / 360.0),
            // Δλ = 2·half radians, in degrees, in steps.
            rad_to_steps: 2.0 / lattice::to_rad(1.0) * (f64::from(STEPS) / 360.0),
            a_r: h * h,
        })
    }

    /// Whether cell (row, col) is inside: closed form, exact near the edge.
    fn inside(&self, q: &Circle, row: u32, u2: f64, col: u32) -> bool {
        let lon_c = self.grid.col_lon(row, col);
        let v = sin_small((lattice::to_rad(lon_c) - q.lon_rad) / 2.0);
        let a = u2 + q.cos_lat / self.grid.sec_row(row) * v * v;
        if a < q.a_r * (1.0 - GUARD) {
            true
        } else if a > q.a_r * (1.0 + GUARD) {
            false
        } else {
            lattice::distance_m(q.lat, q.lon, self.grid.row_lat(row), lon_c) <= q.radius
        }
    }

    /// The exact end of a span the closed form could not settle. The span is contiguous
    /// (distance grows with the longitude gap), so both ends walk to where the exact test
    /// puts them.
    #[cold]
    #[inline(never)]
    fn walk_span(
        &self,
        q: &Circle,
        row: u32,
        u2: f64,
        mut lo: i64,
        mut hi: i64,
        mid: f64,
    ) -> Option<(u32, u32)> {
        let cols = i64::from(self.grid.cols(row));
        let ins = |c: i64| (0..cols).contains(&c) && self.inside(q, row, u2, c as u32);
        if lo > hi {
            // Nothing in the closed form: at most the columns nearest the centre.
            #[allow(clippy::cast_possible_truncation)]
            let mid = mid.round() as i64;
            match [mid, mid - 1, mid + 1].into_iter().find(|&c| ins(c)) {
                Some(c) => {
                    lo = c;
                    hi = c;
                }
                None => return None,
            }
        }
        while ins(lo - 1) {
            lo -= 1;
        }
        while lo <= hi && !ins(lo) {
            lo += 1;
        }
        while ins(hi + 1) {
            hi += 1;
        }
        while hi >= lo && !ins(hi) {
            hi -= 1;
        }
        (lo <= hi).then_some((lo as u32, hi as u32))
    }

    /// Calls `f(cell, ids)` for every occupied cell within `radius_m` metres of
    /// (`lat`, `lon`), in no particular order. Distances are great-circle distances to the
    /// cell's centre as [`lattice::distance_m`] computes them (a cell at exactly the radius
    /// is in). Circles are not wrapped across the antimeridian.
    pub fn within(
        &self,
        lat: f64,
        lon: f64,
        radius_m: f64,
        mut f: impl FnMut(Cell, &[u32]),
    ) -> Result<(), GeoError> {
        let mut visit = Visit::new(self);
        self.spans(lat, lon, radius_m, &mut visit, |visit, spans| {
            for &(row, lo, hi) in spans {
                visit.span(row, lo, hi, &mut f);
            }
        })
    }

    /// The same points as [`Index::within`], as runs: `f(row, ids)` with the points of a
    /// row's cells in range together (cells are not told apart). For counts and sets.
    pub fn within_runs(
        &self,
        lat: f64,
        lon: f64,
        radius_m: f64,
        mut f: impl FnMut(u32, &[u32]),
    ) -> Result<(), GeoError> {
        let mut visit = Visit::new(self);
        self.spans(lat, lon, radius_m, &mut visit, |visit, spans| {
            visit.runs(spans, &mut f)
        })
    }

    /// Points within the radius.
    pub fn count_within(&self, lat: f64, lon: f64, radius_m: f64) -> Result<usize, GeoError> {
        let mut n = 0;
        self.within_runs(lat, lon, radius_m, |_, ids| n += ids.len())?;
        Ok(n)
    }

    /// Calls `f(spans)` with `(row, lo, hi)` for every row with cells in the circle, a
    /// chunk of rows at a time.
    #[inline(always)]
    fn spans<'a>(
        &'a self,
        lat: f64,
        lon: f64,
        radius_m: f64,
        visit: &mut Visit<'a>,
        mut f: impl FnMut(&mut Visit<'a>, &[(u32, u32, u32)]),
    ) -> Result<(), GeoError> {
        let q = self.circle(lat, lon, radius_m)?;
        let g = &self.grid;
        // Rows whose centres can be within the radius: a great-circle distance is at least
        // the meridian distance R·|Δφ|, so a centre more than r/R from the latitude is out
        // (widened by a lattice step and a relative 1e-9 against rounding).
        let step_deg = (lattice::LAT_MAX - lattice::LAT_MIN) / f64::from(STEPS);
        let dlat =
            radius_m / lattice::EARTH_RADIUS_M / lattice::to_rad(1.0) * (1.0 + 1e-9) + step_deg;
        let first =
            lattice::lat_index((lat - dlat).max(lattice::LAT_MIN)).unwrap_or(0) / g.lat_step();
        let last = (lattice::lat_index((lat + dlat).min(lattice::LAT_MAX)).unwrap_or(STEPS - 1)
            / g.lat_step())
        .min(g.rows() - 1);
        visit.warm(&q, dlat, first, last);
        // Rows go in chunks, in two passes: the closed form for every row of the chunk with
        // no branches (the compiler vectorises it, and no row waits for another's square
        // root), then the ends checked and the spans visited.
        const CHUNK: usize = 16;
        let row_rad = lattice::to_rad(f64::from(g.lat_step()) * step_deg);
        let mut t_lo = [0.0f64; CHUNK];
        let mut t_hi = [0.0f64; CHUNK];
        let mut rem = [0.0f64; CHUNK];
        let mut out = [(0u32, 0u32, 0u32); CHUNK];
        let mut start = first;
        while start <= last {
            let m = ((last - start) as usize + 1).min(CHUNK);
            let x0 = (lattice::to_rad(g.row_lat(start)) - q.lat_rad) / 2.0;
            for i in 0..m {
                let row = start + i as u32;
                // Half the latitude gap (rows are equally spaced), sin² of it by Taylor.
                let x = x0 + i as f64 * (row_rad / 2.0);
                let x2 = x * x;
                let u2 = x2 * (1.0 - x2 / 3.0 * (1.0 - x2 * (2.0 / 15.0)));
                let r = q.a_r - u2;
                // hav(Δλ) = r / (cos φ cos φ_row); Δλ/2 = asin(√·) by Taylor.
                let y2 = r.max(0.0) * q.sec_lat * g.sec_row(row);
                let half = y2.sqrt() * (1.0 + y2 * (1.0 / 6.0 + y2 * (3.0 / 40.0)));
                let d = half * q.rad_to_steps;
                // Column c's centre is at lattice step c·w + ⌊w/2⌋, whose centre is half a
                // step on.
                let w = g.lon_step(row);
                let offset = 0.5 + f64::from(w / 2);
                let inv_w = g.inv_lon_step(row);
                t_lo[i] = (q.lon_steps - d - offset) * inv_w;
                t_hi[i] = (q.lon_steps + d - offset) * inv_w;
                rem[i] = r;
            }
            let mut n = 0;
            for i in 0..m {
                let row = start + i as u32;
                if rem[i] < -q.a_r * GUARD {
                    continue;
                }
                let (tl, th) = (t_lo[i], t_hi[i]);
                let cols = i64::from(g.cols(row));
                // Truncation is floor here: both are ≥ −1 in range (checked below).
                #[allow(clippy::cast_possible_truncation)]
                let (fl, fh) = ((tl + 1.0) as i64 - 1, (th + 1.0) as i64 - 1);
                let (frac_lo, frac_hi) = (tl - fl as f64, th - fh as f64);
                let lo = if frac_lo > 0.0 { fl + 1 } else { fl };
                let hi = fh;
                let near = |f: f64| !(COL_MARGIN..=1.0 - COL_MARGIN).contains(&f);
                if rem[i] < q.a_r * GUARD
                    || near(frac_lo)
                    || near(frac_hi)
                    || lo > hi
                    || lo < 0
                    || hi >= cols
                {
                    let u = sin_small((lattice::to_rad(g.row_lat(row)) - q.lat_rad) / 2.0);
                    let (lo, hi) = (lo.clamp(0, cols - 1), hi.clamp(0, cols - 1));
                    if let Some((lo, hi)) = self.walk_span(&q, row, u * u, lo, hi, (tl + th) / 2.0)
                    {
                        out[n] = (row, lo, hi);
                        n += 1;
                    }
                } else {
                    out[n] = (row, lo as u32, hi as u32);
                    n += 1;
                }
            }
            f(visit, &out[..n]);
            start += m as u32;
        }
        Ok(())
    }

    /// Calls `f(cell, ids)` for every occupied cell whose centre is inside the box.
    pub fn in_box(
        &self,
        south: f64,
        west: f64,
        north: f64,
        east: f64,
        mut f: impl FnMut(Cell, &[u32]),
    ) -> Result<(), GeoError> {
        let g = &self.grid;
        let sw = g.snap(south, west)?;
        let ne = g.snap(north, east)?;
        if south > north || west > east {
            return Err(GeoError::Box);
        }
        let mut visit = Visit::new(self);
        for row in sw.row..=ne.row {
            let lat = g.row_lat(row);
            if lat < south || lat > north {
                continue;
            }
            let Ok(a) = g.snap(lat, west) else { continue };
            let Ok(b) = g.snap(lat, east) else { continue };
            let lo = if g.col_lon(row, a.col) < west {
                a.col + 1
            } else {
                a.col
            };
            let hi = if g.col_lon(row, b.col) > east {
                b.col.checked_sub(1)
            } else {
                Some(b.col)
            };
            if let Some(hi) = hi.filter(|&h| h >= lo) {
                visit.span(row, lo, hi, &mut f);
            }
        }
        Ok(())
    }

    /// Points per tile (16 × 64 cells) for tiles whose centre is inside the box: the map's
    /// view at low zoom. `f(lat, lon, count)` with the tile's centre.
    pub fn tile_counts(
        &self,
        south: f64,
        west: f64,
        north: f64,
        east: f64,
        mut f: impl FnMut(f64, f64, u32),
    ) -> Result<(), GeoError> {
        let g = &self.grid;
        let sw = g.snap(south, west)?;
        let ne = g.snap(north, east)?;
        if south > north || west > east {
            return Err(GeoError::Box);
        }
        for band in sw.row / BAND_ROWS..=ne.row / BAND_ROWS {
            let mid = (band * BAND_ROWS + BAND_ROWS / 2).min(g.rows() - 1);
            let lat = g.row_lat(mid);
            if lat < south || lat > north {
                continue;
            }
            let (Ok(a), Ok(b)) = (g.snap(lat, west), g.snap(lat, east)) else {
                continue;
            };
            let lo = (u64::from(band) << 32) | u64::from(a.col / TILE_COLS);
            let hi = (u64::from(band) << 32) | u64::from(b.col / TILE_COLS);
            let start = self.tile_keys.partition_point(|&k| k < lo);
            for (i, &key) in self.tile_keys[start..].iter().enumerate() {
                if key > hi {
                    break;
                }
                let n = i64::from(self.tile_points(start + i))
                    + self.tile_delta.get(&key).copied().unwrap_or(0);
                self.emit_tile(key, n, west, east, &mut f);
            }
            for (&key, &d) in &self.tile_delta {
                if (lo..=hi).contains(&key) && self.tile_keys.binary_search(&key).is_err() {
                    self.emit_tile(key, d, west, east, &mut f);
                }
            }
        }
        Ok(())
    }

    fn emit_tile(&self, key: u64, n: i64, west: f64, east: f64, f: &mut impl FnMut(f64, f64, u32)) {
        let g = &self.grid;
        let row = ((key >> 32) as u32 * BAND_ROWS + BAND_ROWS / 2).min(g.rows() - 1);
        let col = (key as u32) * TILE_COLS + TILE_COLS / 2;
        let (lat, lon) = (g.row_lat(row), g.col_lon(row, col));
        if n > 0 && (west..=east).contains(&lon) {
            f(lat, lon, u32::try_from(n).unwrap_or(u32::MAX));
        }
    }
}

/// Asks for the cache line holding `x`, without waiting for it: a hint, which reads
/// nothing the program sees and cannot fault. `Visit::warm` asks for every line a query
/// will read before reading any, so that their misses overlap; plain loads did the same
/// but each held the core's retirement until it arrived (4 % slower in an A/B).
///
/// The workspace's one `unsafe` block; credo-engine's dedupe table uses it too
/// (re-exported as `credo_geo::prefetch`).
#[inline(always)]
pub fn prefetch<T>(x: &T) {
    #[cfg(target_arch = "x86_64")]
    // SAFETY: `_mm_prefetch` only hints the cache about an address (here of a live
    // reference); it never faults and has no effect the program can observe. SSE is part
    // of every x86-64 target.
    #[allow(unsafe_code)]
    unsafe {
        use std::arch::x86_64::{_MM_HINT_T0, _mm_prefetch};
        _mm_prefetch::<_MM_HINT_T0>(std::ptr::from_ref(x).cast());
    }
    #[cfg(not(target_arch = "x86_64"))]
    let _ = x;
}

/// One query's walk over tiles, remembering the last tile looked up (consecutive rows of
/// a query nearly always share it).
struct Visit<'a> {
    index: &'a Index,
    key: u64,
    tile: Option<&'a Tile>,
    /// Tiles looked up ahead by `warm`.
    ahead: [(u64, Option<&'a Tile>); 6],
    scratch: Vec<u32>,
}

impl<'a> Visit<'a> {
    fn new(index: &'a Index) -> Visit<'a> {
        Visit {
            index,
            key: u64::MAX,
            tile: None,
            ahead: [(u64::MAX, None); 6],
            scratch: Vec::new(),
        }
    }

    /// Looks up the tiles a query will need and asks for their headers and rows' counts,
    /// before the query's arithmetic: the cache misses then overlap with each other and
    /// with it instead of following it. Nothing here waits for a header, except for a
    /// tile whose counts the map does not place. A hint only: a tile it misses is looked
    /// up when visited.
    fn warm(&mut self, q: &Circle, dlat: f64, first: u32, last: u32) {
        let ix = self.index;
        let g = &ix.grid;
        let d = dlat * q.sec_lat * (f64::from(STEPS) / 360.0);
        #[allow(clippy::cast_possible_truncation, clippy::cast_sign_loss)]
        let (w, e) = ((q.lon_steps - d).max(0.0), (q.lon_steps + d).max(0.0));
        let mut n = 0;
        for band in first / BAND_ROWS..=last / BAND_ROWS {
            let row = (band * BAND_ROWS).max(first);
            let inv = g.inv_lon_step(row) / f64::from(TILE_COLS);
            #[allow(clippy::cast_possible_truncation, clippy::cast_sign_loss)]
            for tcol in (w * inv) as u32..=(e * inv) as u32 {
                if n == self.ahead.len() {
                    break;
                }
                let key = tile_key_at(band * BAND_ROWS, tcol);
                let entry = ix.tile_at.get_ahead(key);
                let tile = entry.map(|(t, _, _)| &ix.tiles[t as usize]);
                if let (Some(t), Some((_, c, next))) = (tile, entry) {
                    let (a, b) = (
                        (row % BAND_ROWS) as usize,
                        ((last.min(band * BAND_ROWS + BAND_ROWS - 1)) % BAND_ROWS) as usize,
                    );
                    prefetch(&t.bits[a]);
                    prefetch(&t.bits[b]);
                    prefetch(&t.row_cells[b]);
                    // The rows' counts where a uniform tile would have them, without
                    // waiting for the header (none in a wide tile: `len` is 0).
                    let len = next.saturating_sub(c) as usize;
                    let from = c as usize + len * a / BAND_ROWS as usize;
                    let to = c as usize + len * (b + 1) / BAND_ROWS as usize;
                    for at in (from..to.min(ix.cum.len())).step_by(64).take(WARM_LINES) {
                        prefetch(&ix.cum[at]);
                    }
                }
                self.ahead[n] = (key, tile);
                n += 1;
            }
        }
    }

    #[inline(always)]
    fn tile(&mut self, key: u64) -> Option<&'a Tile> {
        if key != self.key {
            self.key = key;
            let ix = self.index;
            self.tile = match self.ahead.iter().find(|a| a.0 == key) {
                Some(a) => a.1,
                None => ix.tile_at.get(key).map(|t| &ix.tiles[t as usize]),
            };
        }
        self.tile
    }

    /// The part of row `row`'s columns `lo..=hi` in tile column `tcol`: the tile, the
    /// occupancy of those columns, and the index in the row of their first occupied cell.
    #[inline(always)]
    fn segment(&mut self, row: u32, tcol: u32, lo: u32, hi: u32) -> Option<(&'a Tile, u64, u32)> {
        let t = self.tile(tile_key_at(row, tcol))?;
        let base = tcol * TILE_COLS;
        let a = lo.max(base) - base;
        let b = hi.min(base + TILE_COLS - 1) - base;
        let bits = t.bits[(row % BAND_ROWS) as usize];
        let occ = bits & (u64::MAX >> (63 - b)) & (u64::MAX << a);
        Some((t, occ, (bits & ((1u64 << a) - 1)).count_ones()))
    }

    /// Visits the occupied cells of `row` in columns `lo..=hi`.
    fn span(&mut self, row: u32, lo: u32, hi: u32, f: &mut impl FnMut(Cell, &[u32])) {
        let ix = self.index;
        let lr = (row % BAND_ROWS) as usize;
        for tcol in lo / TILE_COLS..=hi / TILE_COLS {
            if let Some((t, mut occ, mut k)) = self.segment(row, tcol, lo, hi) {
                while occ != 0 {
                    let cell = Cell {
                        row,
                        col: tcol * TILE_COLS + occ.trailing_zeros(),
                    };
                    let ids = ix.cells_ids(t, lr, k, 1);
                    if ix.removed.is_empty() {
                        f(cell, ids);
                    } else {
                        self.scratch.clear();
                        self.scratch
                            .extend(ids.iter().filter(|&&id| ix.removed.get(&id) != Some(&cell)));
                        if !self.scratch.is_empty() {
                            f(cell, &self.scratch);
                        }
                    }
                    k += 1;
                    occ &= occ - 1;
                }
            }
            self.added(tile_key_at(row, tcol), row, lo, hi, f);
        }
    }

    fn added(&self, key: u64, row: u32, lo: u32, hi: u32, f: &mut impl FnMut(Cell, &[u32])) {
        if self.index.added.is_empty() {
            return;
        }
        if let Some(v) = self.index.added.get(&key) {
            for &(c, id) in v {
                if c.row == row && (lo..=hi).contains(&c.col) {
                    f(c, &[id]);
                }
            }
        }
    }

    /// Like `span` over many rows, but the points of a row's occupied cells come as one
    /// slice (they are contiguous). In two passes, so that the loads of one pass do not
    /// wait on each other: the tiles' occupancy words for every row, then the rows' counts.
    fn runs(&mut self, spans: &[(u32, u32, u32)], f: &mut impl FnMut(u32, &[u32])) {
        let ix = self.index;
        if !ix.removed.is_empty() || !ix.added.is_empty() {
            for &(row, lo, hi) in spans {
                self.span(row, lo, hi, &mut |c: Cell, ids: &[u32]| f(c.row, ids));
            }
            return;
        }
        // (row, tile, first cell in the row, cells) for each tile a span touches; a span
        // crosses at most a few tiles at query radii, more only for very large ones.
        let mut segs: [(u32, Option<&Tile>, u32, u32); 48] = [(0, None, 0, 0); 48];
        let mut n = 0;
        for &(row, lo, hi) in spans {
            for tcol in lo / TILE_COLS..=hi / TILE_COLS {
                let Some((t, occ, k)) = self.segment(row, tcol, lo, hi) else {
                    continue;
                };
                if n == segs.len() {
                    Self::emit(ix, &segs[..n], f);
                    n = 0;
                }
                segs[n] = (row, Some(t), k, occ.count_ones());
                n += usize::from(occ != 0);
            }
        }
        Self::emit(ix, &segs[..n], f);
    }

    fn emit(ix: &Index, segs: &[(u32, Option<&Tile>, u32, u32)], f: &mut impl FnMut(u32, &[u32])) {
        for &(row, t, k, cells) in segs {
            if let Some(t) = t {
                f(row, ix.cells_ids(t, (row % BAND_ROWS) as usize, k, cells));
            }
        }
    }
}

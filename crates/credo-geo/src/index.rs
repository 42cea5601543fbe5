//! The location index: points (a `u32` each) at grid cells, answering radius, box and
//! per-area count queries.
//!
//! Written by hand because it is the hot path of the map (the issue asks for 2 M radius
//! queries a second per core at 15 M points, five times an R*-tree). Points are sorted by
//! tile (16 rows × 64 columns of the grid), then row, then column; a tile keeps one 64-bit
//! occupancy word per row and the number of occupied cells before each row, so the
//! occupied cells of any run of columns in a row are a popcount away and their points are
//! one contiguous slice. Because every point sits exactly on its cell's centre, a cell is
//! wholly in or out of a circle, and a radius query is, per row, a column range worked out
//! in closed form (with an exact check where it is within rounding of the edge); no point
//! is tested one by one.
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

/// 256 bytes on four cache lines. A row's points are `ids[pbase..]`, its occupied cells'
/// cumulative point counts `cum[cbase..]` (a zero, then one per cell): the points of the
/// row's cells `k..k + n` are `pbase + cum[cbase + k] .. pbase + cum[cbase + k + n]`.
/// Counts in 16 bits per cell (a 32-bit array of cell starts was as fast and 40 MB larger
/// at 15 M points).
#[derive(Debug, Clone, Copy, Default)]
#[repr(align(64))]
struct Tile {
    /// Occupancy of each row's 64 columns.
    bits: [u64; BAND_ROWS as usize],
    /// Where each row's points start in `ids` (rows without points too: monotone).
    pbase: [u32; BAND_ROWS as usize],
    /// Where each row's cumulative counts start: in `cum` (u16), or with `WIDE` set in
    /// `cum_wide` (u32) for a row of more than 65 535 points.
    cbase: [u32; BAND_ROWS as usize],
}

const WIDE: u32 = 1 << 31;

/// Tile key → tile, open addressing with linear probing in one array of (key, index)
/// pairs at most half full. Written by hand because a query looks up one or two tiles
/// and a general map's separate control bytes cost a second cache miss each time; this
/// one is 16 bytes a slot (4 MB at 92 k tiles) and one probe nearly always.
#[derive(Debug, Clone)]
struct TileMap {
    slots: Vec<(u64, u32)>,
    shift: u32,
}

impl TileMap {
    const EMPTY: u64 = u64::MAX;

    fn with_keys(keys: &[u64]) -> TileMap {
        let cap = (keys.len() * 2).next_power_of_two().max(16);
        let mut m = TileMap {
            slots: vec![(Self::EMPTY, 0); cap],
            shift: 64 - cap.trailing_zeros(),
        };
        for (i, &k) in keys.iter().enumerate() {
            let mut s = m.slot(k);
            while m.slots[s].0 != Self::EMPTY {
                s = (s + 1) & (cap - 1);
            }
            m.slots[s] = (k, i as u32);
        }
        m
    }

    #[inline(always)]
    fn slot(&self, key: u64) -> usize {
        (key.wrapping_mul(0x9E37_79B9_7F4A_7C15) >> self.shift) as usize
    }

    #[inline(always)]
    fn get(&self, key: u64) -> Option<u32> {
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
    cum: Vec<u16>,
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
        let mut cum: Vec<u16> = Vec::new();
        let mut cum_wide: Vec<u32> = Vec::new();
        let mut ids = Vec::with_capacity(points.len());
        // The open row: (tile, local row) and its cumulative counts.
        let mut row: Option<(usize, usize)> = None;
        let mut counts: Vec<u32> = Vec::new();
        let close = |tiles: &mut Vec<Tile>,
                     row: Option<(usize, usize)>,
                     counts: &mut Vec<u32>,
                     cum: &mut Vec<u16>,
                     wide: &mut Vec<u32>| {
            let Some((t, lr)) = row else { return };
            if counts.last().is_some_and(|&n| n > u32::from(u16::MAX)) {
                tiles[t].cbase[lr] = WIDE | wide.len() as u32;
                wide.push(0);
                wide.extend_from_slice(counts);
            } else {
                tiles[t].cbase[lr] = cum.len() as u32;
                cum.push(0);
                cum.extend(counts.iter().map(|&n| n as u16));
            }
            counts.clear();
        };
        let mut last: Option<Cell> = None;
        for &(c, id) in &points {
            if last != Some(c) {
                let key = tile_key(c);
                let lr = (c.row % BAND_ROWS) as usize;
                if tile_keys.last() != Some(&key) {
                    close(&mut tiles, row.take(), &mut counts, &mut cum, &mut cum_wide);
                    tile_keys.push(key);
                    tiles.push(Tile::default());
                }
                let t = tiles.len() - 1;
                if row != Some((t, lr)) {
                    close(&mut tiles, row.take(), &mut counts, &mut cum, &mut cum_wide);
                    row = Some((t, lr));
                    for r in &mut tiles[t].pbase[lr..] {
                        *r = ids.len() as u32;
                    }
                }
                tiles[t].bits[lr] |= 1 << (c.col % TILE_COLS);
                counts.push(counts.last().copied().unwrap_or(0));
                last = Some(c);
            }
            if let Some(n) = counts.last_mut() {
                *n += 1;
            }
            ids.push(id);
        }
        close(&mut tiles, row.take(), &mut counts, &mut cum, &mut cum_wide);
        // Rows after a tile's last occupied row start where the next tile starts.
        let mut next = ids.len() as u32;
        for t in tiles.iter_mut().rev() {
            for lr in (0..BAND_ROWS as usize).rev() {
                if t.bits[lr] == 0 {
                    t.pbase[lr] = next;
                } else {
                    next = t.pbase[lr];
                }
            }
        }
        Index {
            grid,
            tile_at: TileMap::with_keys(&tile_keys),
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
            + self.tile_at.slots.capacity() * 16
            + self.cum.capacity() * 2
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

    /// The cumulative count of row `lr`'s first `k` cells.
    #[inline(always)]
    fn cum(&self, t: &Tile, lr: usize, k: u32) -> u32 {
        let c = t.cbase[lr];
        if c & WIDE == 0 {
            u32::from(self.cum[(c + k) as usize])
        } else {
            self.cum_wide[((c & !WIDE) + k) as usize]
        }
    }

    /// The points of row `lr`'s cells `k..k + n`.
    #[inline(always)]
    fn cells_ids(&self, t: &Tile, lr: usize, k: u32, n: u32) -> &[u32] {
        let p = t.pbase[lr];
        let (s, e) = (p + self.cum(t, lr, k), p + self.cum(t, lr, k + n));
        &self.ids[s as usize..e as usize]
    }

    /// The tile's points.
    fn tile_points(&self, i: usize) -> u32 {
        let end = self
            .tiles
            .get(i + 1)
            .map_or(self.ids.len() as u32, |n| n.pbase[0]);
        end - self.tiles[i].pbase[0]
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

    /// Looks up the tiles a query will need and reads their rows, before the query's
    /// arithmetic: the cache misses then overlap with it instead of following it.
    /// A hint only: a tile it misses is looked up when visited.
    fn warm(&mut self, q: &Circle, dlat: f64, first: u32, last: u32) {
        let ix = self.index;
        let g = &ix.grid;
        let d = dlat * q.sec_lat * (f64::from(STEPS) / 360.0);
        #[allow(clippy::cast_possible_truncation, clippy::cast_sign_loss)]
        let (w, e) = ((q.lon_steps - d).max(0.0), (q.lon_steps + d).max(0.0));
        let mut n = 0;
        let mut touched = 0u64;
        for band in first / BAND_ROWS..=last / BAND_ROWS {
            let row = (band * BAND_ROWS).max(first);
            let inv = g.inv_lon_step(row) / f64::from(TILE_COLS);
            #[allow(clippy::cast_possible_truncation, clippy::cast_sign_loss)]
            for tcol in (w * inv) as u32..=(e * inv) as u32 {
                if n == self.ahead.len() {
                    break;
                }
                let key = tile_key_at(band * BAND_ROWS, tcol);
                let tile = ix.tile_at.get(key).map(|t| &ix.tiles[t as usize]);
                if let Some(t) = tile {
                    let (a, b) = (
                        (row % BAND_ROWS) as usize,
                        ((last.min(band * BAND_ROWS + BAND_ROWS - 1)) % BAND_ROWS) as usize,
                    );
                    touched ^= t.bits[a] ^ t.bits[b] ^ u64::from(t.pbase[a] ^ t.cbase[b]);
                }
                self.ahead[n] = (key, tile);
                n += 1;
            }
        }
        std::hint::black_box(touched);
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

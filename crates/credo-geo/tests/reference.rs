#![allow(clippy::unwrap_used, clippy::expect_used)]
//! The index and the sessions against brute force.

use credo_geo::{Alert, Cell, Grid, Index, Sessions, lattice};
use proptest::prelude::*;
use std::collections::{BTreeMap, BTreeSet};

/// Points scattered around a centre (dense: many share cells).
fn cluster(
    g: &Grid,
    lat: f64,
    lon: f64,
    spread_m: f64,
    offsets: &[(f64, f64)],
) -> Vec<(Cell, u32)> {
    let deg = spread_m / 111_000.0;
    offsets
        .iter()
        .enumerate()
        .map(|(i, &(a, b))| {
            let c = g
                .snap(lat + a * deg, lon + b * deg / lat.to_radians().cos())
                .unwrap();
            (c, i as u32)
        })
        .collect()
}

fn brute(g: &Grid, points: &[(Cell, u32)], lat: f64, lon: f64, r: f64) -> BTreeSet<u32> {
    points
        .iter()
        .filter(|&&(c, _)| {
            let (clat, clon) = g.centre(c);
            lattice::distance_m(lat, lon, clat, clon) <= r
        })
        .map(|p| p.1)
        .collect()
}

fn query(ix: &Index, lat: f64, lon: f64, r: f64) -> BTreeSet<u32> {
    let mut got = BTreeSet::new();
    let mut dup = false;
    ix.within(lat, lon, r, |_, ids| {
        for &id in ids {
            dup |= !got.insert(id);
        }
    })
    .unwrap();
    assert!(!dup, "an id was visited twice");
    got
}

fn cell_size() -> impl Strategy<Value = f64> {
    prop_oneof![Just(50.0), Just(100.0), Just(250.0), 20.0..400.0f64]
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(96))]

    #[test]
    fn radius_queries_equal_brute_force(
        size in cell_size(),
        lat in 18.0..54.0f64,
        lon in 73.0..135.0f64,
        offsets in prop::collection::vec((-1.0..1.0f64, -1.0..1.0f64), 1..600),
        queries in prop::collection::vec((-1.2..1.2f64, -1.2..1.2f64, 1.0..3000.0f64), 1..20),
    ) {
        let g = Grid::new(size).unwrap();
        let points = cluster(&g, lat, lon, 3000.0, &offsets);
        let ix = Index::build(g.clone(), points.clone());
        prop_assert_eq!(ix.len(), points.len());
        for (a, b, r) in queries {
            let (qlat, qlon) = (lat + a * 0.027, lon + b * 0.03);
            prop_assert_eq!(query(&ix, qlat, qlon, r), brute(&g, &points, qlat, qlon, r), "query ({}, {}) r {}", qlat, qlon, r);
        }
    }

    /// Radii exactly at a cell's distance (the edge is in) and a hair under it.
    #[test]
    fn the_edge_is_exact(
        size in cell_size(),
        lat in 18.0..54.0f64,
        lon in 73.0..135.0f64,
        offsets in prop::collection::vec((-1.0..1.0f64, -1.0..1.0f64), 2..300),
        pick in 0usize..300,
        (a, b) in (-0.5..0.5f64, -0.5..0.5f64),
    ) {
        let g = Grid::new(size).unwrap();
        let points = cluster(&g, lat, lon, 2000.0, &offsets);
        let ix = Index::build(g.clone(), points.clone());
        let (qlat, qlon) = (lat + a * 0.01, lon + b * 0.01);
        let target = points[pick % points.len()].0;
        let (tlat, tlon) = g.centre(target);
        let r = lattice::distance_m(qlat, qlon, tlat, tlon);
        if r > 0.0 {
            for r in [r, r.next_down(), r.next_up()] {
                prop_assert_eq!(query(&ix, qlat, qlon, r), brute(&g, &points, qlat, qlon, r));
            }
        }
    }

    /// Queries from a cell's centre (the longitude equal: Redis's meridian branch) and
    /// from the same latitude.
    #[test]
    fn queries_on_centres(
        size in cell_size(),
        offsets in prop::collection::vec((-1.0..1.0f64, -1.0..1.0f64), 2..300),
        pick in 0usize..300,
        r in 1.0..2000.0f64,
    ) {
        let g = Grid::new(size).unwrap();
        let points = cluster(&g, 31.23, 121.47, 2000.0, &offsets);
        let ix = Index::build(g.clone(), points.clone());
        let (qlat, qlon) = g.centre(points[pick % points.len()].0);
        prop_assert_eq!(query(&ix, qlat, qlon, r), brute(&g, &points, qlat, qlon, r));
    }

    #[test]
    fn box_queries_equal_brute_force(
        size in cell_size(),
        offsets in prop::collection::vec((-1.0..1.0f64, -1.0..1.0f64), 1..400),
        (s, w, h, wd) in (-0.03..0.03f64, -0.03..0.03f64, 0.0..0.04f64, 0.0..0.04f64),
    ) {
        let g = Grid::new(size).unwrap();
        let points = cluster(&g, 39.9, 116.4, 3000.0, &offsets);
        let ix = Index::build(g.clone(), points.clone());
        let (south, west, north, east) = (39.9 + s, 116.4 + w, 39.9 + s + h, 116.4 + w + wd);
        let mut got = BTreeSet::new();
        ix.in_box(south, west, north, east, |_, ids| got.extend(ids.iter().copied())).unwrap();
        let want: BTreeSet<u32> = points.iter().filter(|&&(c, _)| {
            let (la, lo) = g.centre(c);
            (south..=north).contains(&la) && (west..=east).contains(&lo)
        }).map(|p| p.1).collect();
        prop_assert_eq!(got, want);
    }

    /// Inserts and removes against a map, through rebuilds: queries, `points`, `len` and
    /// the per-tile counts agree.
    #[test]
    fn changes_equal_a_model(
        base in prop::collection::vec((-1.0..1.0f64, -1.0..1.0f64), 0..200),
        ops in prop::collection::vec((any::<bool>(), 0u32..300, -1.0..1.0f64, -1.0..1.0f64), 0..300),
        queries in prop::collection::vec((-1.0..1.0f64, -1.0..1.0f64, 10.0..2500.0f64), 1..8),
        rebuild_min in 0usize..64,
    ) {
        let g = Grid::new(100.0).unwrap();
        let (lat, lon) = (30.6, 104.06);
        let points = cluster(&g, lat, lon, 2000.0, &base);
        let mut ix = Index::build(g.clone(), points.clone());
        ix.set_rebuild_min(rebuild_min);
        let mut model: BTreeMap<u32, Cell> = points.iter().map(|&(c, id)| (id, c)).collect();
        for (add, id, a, b) in ops {
            if add {
                let c = cluster(&g, lat, lon, 2000.0, &[(a, b)])[0].0;
                if let Some(old) = model.insert(id, c) {
                    prop_assert!(ix.remove(id, old));
                }
                ix.insert(id, c);
            } else {
                let had = model.remove(&id);
                prop_assert_eq!(ix.remove(id, had.unwrap_or(Cell { row: 0, col: 0 })), had.is_some());
            }
        }
        let now: Vec<(Cell, u32)> = model.iter().map(|(&id, &c)| (c, id)).collect();
        prop_assert_eq!(ix.len(), now.len());
        let mut listed = ix.points();
        listed.sort_by_key(|p| p.1);
        let mut want = now.clone();
        want.sort_by_key(|p| p.1);
        prop_assert_eq!(listed, want);
        for (a, b, r) in queries {
            let (qlat, qlon) = (lat + a * 0.02, lon + b * 0.02);
            prop_assert_eq!(query(&ix, qlat, qlon, r), brute(&g, &now, qlat, qlon, r));
        }
        let mut total = 0u64;
        ix.tile_counts(lat - 1.0, lon - 1.0, lat + 1.0, lon + 1.0, |_, _, n| total += u64::from(n)).unwrap();
        prop_assert_eq!(total, now.len() as u64);
    }

    /// Sessions walking about report exactly the set differences, once each.
    #[test]
    fn sessions_report_set_differences(
        base in prop::collection::vec((-1.0..1.0f64, -1.0..1.0f64), 1..300),
        walk in prop::collection::vec((-1.0..1.0f64, -1.0..1.0f64), 1..30),
        lift in prop::collection::vec(0u32..300, 0..20),
        r in 100.0..1500.0f64,
    ) {
        let g = Grid::new(100.0).unwrap();
        let (lat, lon) = (22.54, 114.06);
        let points = cluster(&g, lat, lon, 2000.0, &base);
        let mut ix = Index::build(g.clone(), points.clone());
        let mut model: BTreeMap<u32, Cell> = points.iter().map(|&(c, id)| (id, c)).collect();
        let mut sessions = Sessions::new();
        let s = sessions.open(r).unwrap();
        let mut inside = BTreeSet::new();
        for (k, (a, b)) in walk.iter().enumerate() {
            let (qlat, qlon) = (lat + a * 0.02, lon + b * 0.02);
            let mut out = Vec::new();
            sessions.step(s, &ix, qlat, qlon, &mut out).unwrap();
            let now: Vec<(Cell, u32)> = model.iter().map(|(&id, &c)| (c, id)).collect();
            let want = brute(&g, &now, qlat, qlon, r);
            let enters: BTreeSet<u32> = out.iter().filter_map(|a| match a { Alert::Enter { id, .. } => Some(*id), _ => None }).collect();
            let leaves: BTreeSet<u32> = out.iter().filter_map(|a| match a { Alert::Leave { id } => Some(*id), _ => None }).collect();
            prop_assert_eq!(enters.len() + leaves.len(), out.len(), "no repeats");
            prop_assert_eq!(&enters, &want.difference(&inside).copied().collect());
            prop_assert_eq!(&leaves, &inside.difference(&want).copied().collect());
            inside = want;
            // Lift one listing now and then: a leave waits if it was inside.
            if let Some(&id) = lift.get(k) && let Some(c) = model.remove(&id) {
                ix.remove(id, c);
                sessions.removed(&[id].into_iter().collect());
                let waiting = sessions.take(s).unwrap();
                if inside.remove(&id) {
                    prop_assert_eq!(waiting, vec![Alert::Leave { id }]);
                } else {
                    prop_assert!(waiting.is_empty());
                }
            }
        }
    }
}

#[test]
fn bad_queries_are_errors() {
    let ix = Index::new(Grid::new(100.0).unwrap());
    assert!(ix.within(91.0, 0.0, 500.0, |_, _| {}).is_err());
    assert!(ix.within(30.0, 120.0, 0.0, |_, _| {}).is_err());
    assert!(ix.within(30.0, 120.0, f64::NAN, |_, _| {}).is_err());
    assert!(ix.within(30.0, 120.0, 60_000.0, |_, _| {}).is_err());
    assert!(ix.in_box(31.0, 120.0, 30.0, 121.0, |_, _| {}).is_err());
    let mut s = Sessions::new();
    assert!(s.open(-1.0).is_err());
    assert!(s.step(7, &ix, 30.0, 120.0, &mut Vec::new()).is_err());
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(64))]

    /// Runs hold the same points as cells, with and without an overlay.
    #[test]
    fn runs_equal_cells(
        base in prop::collection::vec((-1.0..1.0f64, -1.0..1.0f64), 1..400),
        drop in prop::collection::vec(0u32..400, 0..10),
        add in prop::collection::vec((-1.0..1.0f64, -1.0..1.0f64), 0..10),
        (a, b, r) in (-1.0..1.0f64, -1.0..1.0f64, 10.0..3000.0f64),
    ) {
        let g = Grid::new(100.0).unwrap();
        let points = cluster(&g, 45.75, 126.6, 2000.0, &base);
        let mut ix = Index::build(g.clone(), points.clone());
        for id in drop {
            if let Some(&(c, _)) = points.get(id as usize) {
                ix.remove(id, c);
            }
        }
        for (k, p) in cluster(&g, 45.75, 126.6, 2000.0, &add).into_iter().enumerate() {
            ix.insert(10_000 + k as u32, p.0);
        }
        let (qlat, qlon) = (45.75 + a * 0.02, 126.6 + b * 0.02);
        let mut runs = Vec::new();
        ix.within_runs(qlat, qlon, r, |_, ids| runs.extend_from_slice(ids)).unwrap();
        runs.sort_unstable();
        let cells: Vec<u32> = query(&ix, qlat, qlon, r).into_iter().collect();
        prop_assert_eq!(&runs, &cells);
        prop_assert_eq!(ix.count_within(qlat, qlon, r).unwrap(), cells.len());
    }
}

/// A row of more than 65 535 points keeps its counts in 32 bits.
#[test]
fn a_crowded_row_is_counted_in_full() {
    let g = Grid::new(100.0).unwrap();
    let c = g.snap(31.23, 121.47).unwrap();
    let next = Cell {
        row: c.row,
        col: c.col + 1,
    };
    let mut points: Vec<(Cell, u32)> = (0..70_000).map(|i| (c, i)).collect();
    points.extend((70_000..70_010).map(|i| (next, i)));
    let ix = Index::build(g.clone(), points.clone());
    let (lat, lon) = g.centre(c);
    assert_eq!(ix.count_within(lat, lon, 50.0).unwrap(), 70_000);
    assert_eq!(ix.count_within(lat, lon, 150.0).unwrap(), 70_010);
    let mut cells = Vec::new();
    ix.within(lat, lon, 150.0, |cell, ids| cells.push((cell, ids.len())))
        .unwrap();
    cells.sort();
    assert_eq!(cells, vec![(c, 70_000), (next, 10)]);
    assert_eq!(ix.points().len(), points.len());
}

/// A tile-row with every one of its 64 cells occupied keeps its counts outside its slot.
#[test]
fn a_full_row_of_cells_is_counted_in_full() {
    let g = Grid::new(100.0).unwrap();
    let c = g.snap(39.9, 116.4).unwrap();
    let first = c.col - c.col % 64;
    let points: Vec<(Cell, u32)> = (0..64)
        .flat_map(|i| {
            (0..3).map(move |j| {
                (
                    Cell {
                        row: c.row,
                        col: first + i,
                    },
                    i * 3 + j,
                )
            })
        })
        .collect();
    let ix = Index::build(g.clone(), points.clone());
    let (lat, lon) = g.centre(Cell {
        row: c.row,
        col: first + 32,
    });
    let want = brute(&g, &points, lat, lon, 1500.0);
    assert_eq!(query(&ix, lat, lon, 1500.0), want);
    assert_eq!(ix.count_within(lat, lon, 1500.0).unwrap(), want.len());
    assert_eq!(ix.points().len(), 192);
}

/// A row's counts are kept in a byte per cell up to 255 points in the row; a tile with a
/// row of more goes to 32-bit counts. Both sides of the edge, against brute force.
#[test]
fn rows_at_the_edge_of_byte_counts() {
    let g = Grid::new(100.0).unwrap();
    let c = g.snap(30.27, 120.15).unwrap();
    let first = c.col - c.col % 64;
    for in_row in [254u32, 255, 256, 300] {
        // Three cells of the row share `in_row` points; the rows above and below hold a
        // few, so the same tile has narrow rows too.
        let mut points = Vec::new();
        for i in 0..in_row {
            let col = first + 10 + i % 3;
            points.push((Cell { row: c.row, col }, i));
        }
        for (k, dr) in [1u32, 2].iter().enumerate() {
            for i in 0..5 {
                let cell = Cell {
                    row: c.row - c.row % 16 + (c.row % 16 + dr) % 16,
                    col: first + 9 + i,
                };
                points.push((cell, 10_000 + k as u32 * 10 + i));
            }
        }
        let ix = Index::build(g.clone(), points.clone());
        for dc in [8u32, 10, 11, 12, 13] {
            let (lat, lon) = g.centre(Cell {
                row: c.row,
                col: first + dc,
            });
            for r in [60.0, 120.0, 250.0, 900.0] {
                let want = brute(&g, &points, lat, lon, r);
                assert_eq!(query(&ix, lat, lon, r), want, "{in_row} at {dc}, {r} m");
                assert_eq!(ix.count_within(lat, lon, r).unwrap(), want.len());
            }
        }
        assert_eq!(ix.points().len(), points.len());
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(48))]

    /// Points strewn along a few latitudes across the whole country (bands whose tiles
    /// are far apart, which the tile map hashes) beside a dense cluster (bands it keeps
    /// as arrays): every point is found where it is, and nothing where it is not.
    #[test]
    fn sparse_and_dense_bands_equal_brute_force(
        strewn in prop::collection::vec((0usize..3, 73.0..135.0f64), 1..200),
        dense in prop::collection::vec((-1.0..1.0f64, -1.0..1.0f64), 0..200),
        r in 50.0..2000.0f64,
        pick in 0usize..400,
    ) {
        let g = Grid::new(100.0).unwrap();
        let lats = [23.13, 31.23, 39.9];
        let mut points: Vec<(Cell, u32)> = strewn
            .iter()
            .enumerate()
            .map(|(i, &(k, lon))| (g.snap(lats[k], lon).unwrap(), i as u32))
            .collect();
        for (c, id) in cluster(&g, 31.23, 121.47, 3000.0, &dense) {
            points.push((c, 1000 + id));
        }
        let ix = Index::build(g.clone(), points.clone());
        // Around a point, and beside it (a tile column further east: empty there).
        let (c, _) = points[pick % points.len()];
        let (lat, lon) = g.centre(c);
        for (qlat, qlon) in [(lat, lon), (lat, lon + 0.07), (lat + 0.01, lon - 0.01)] {
            let want = brute(&g, &points, qlat, qlon, r);
            prop_assert_eq!(query(&ix, qlat, qlon, r), want.clone());
            prop_assert_eq!(ix.count_within(qlat, qlon, r).unwrap(), want.len());
        }
        prop_assert_eq!(ix.points().len(), points.len());
    }
}

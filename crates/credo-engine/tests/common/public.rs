//! The public answers of two engines compared (the engine's public replica test, and the
//! cluster node's, which includes this file by path).
#![allow(dead_code, clippy::unwrap_used)]

use credo_engine::{Engine, ListQuery, MapEntry, MapView};

/// A map entry without its key: keys are opaque handles of the folder that answers.
fn unkeyed(v: &[MapEntry]) -> Vec<MapEntry> {
    v.iter()
        .map(|m| MapEntry {
            key: String::new(),
            ..m.clone()
        })
        .collect()
}

/// Every public answer of `replica` equals `owner`'s; returns how many listed subjects
/// were compared.
pub fn same_answers(owner: &Engine, replica: &Engine) -> usize {
    let points = owner.map_points();
    assert_eq!(replica.map_points(), points);
    assert_eq!(replica.map_len(), owner.map_len());
    assert_eq!(replica.warned_numbers(), owner.warned_numbers());
    let today = owner.today();
    assert_eq!(replica.listed_count(today), owner.listed_count(today));
    for &(id, (lat, lon)) in &points {
        for radius in [500.0, 5000.0] {
            let (a, b) = (
                owner.nearby(lat, lon, radius, 50).unwrap(),
                replica.nearby(lat, lon, radius, 50).unwrap(),
            );
            assert_eq!((a.debtors, a.truncated), (b.debtors, b.truncated));
            assert_eq!(unkeyed(&a.entries), unkeyed(&b.entries), "near {id}");
        }
        let rec = owner.record(id).unwrap().unwrap();
        let q = ListQuery {
            name: rec.name.clone(),
            id: None,
            province: None,
        };
        assert_eq!(
            replica.list_search(&q, None).unwrap(),
            owner.list_search(&q, None).unwrap()
        );
        for phone in &rec.phones {
            let (a, b) = (
                owner.screen_call(phone).unwrap(),
                replica.screen_call(phone).unwrap(),
            );
            assert_eq!(a, b, "{phone}");
        }
        let b = (lat - 0.05, lon - 0.05, lat + 0.05, lon + 0.05);
        match (
            owner.map_view(b, 200, 20_000.0).unwrap(),
            replica.map_view(b, 200, 20_000.0).unwrap(),
        ) {
            (MapView::Debtors(x), MapView::Debtors(y)) => assert_eq!(unkeyed(&x), unkeyed(&y)),
            (x, y) => assert_eq!(x, y),
        }
    }
    points.len()
}

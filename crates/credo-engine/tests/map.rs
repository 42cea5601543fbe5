#![allow(clippy::unwrap_used, clippy::expect_used)]
//! The debtor map on a data folder: what is on it against a brute-force reading of the
//! court book, after ingest and after reopening; radius queries; sessions hearing about
//! debtors that come near and about listings that are lifted.

mod common;
use common::{ingest_clean as ingest, open};
use credo_engine::{Engine, MapAlert};
use credo_model::{Day, SubjectId};
use proptest::prelude::*;

const A: &str = "11010519491231002X";
const B: &str = "440524188001010014";
const C: &str = "91350100M000100Y43";
/// Tiananmen, about 300 m north of it, and about 3 km east.
const PLACES: [(f64, f64); 3] = [
    (39.9087, 116.3975),
    (39.9114, 116.3975),
    (39.9087, 116.4327),
];

fn subjects() -> String {
    [A, B, C]
        .iter()
        .zip(["王芳", "李强", "某某科技有限公司"])
        .zip(PLACES)
        .map(|((id, name), (lat, lon))| {
            format!(r#"{{"id":"{id}","kind":"subject","at":"2024-11-01","name":"{name}","lat":{lat},"lon":{lon},"address":"x"}}"#)
        })
        .collect::<Vec<_>>()
        .join("\n")
        + "\n"
}

fn court_line(i: usize, kind: u8, who: usize, day: u16, amount: u32) -> String {
    let s = [A, B, C][who % 3];
    let at = Day(Day::from_ymd(2024, 1, 1).unwrap().0 + i32::from(day));
    let case = amount % 2;
    let body = match kind % 6 {
        0 => format!(r#""kind":"judgment","case":"c{case}","court":"x","amount":{amount}"#),
        1 => format!(r#""kind":"performance","case":"c{case}","amount":{amount}"#),
        2 => format!(
            r#""kind":"listing","case":"c{case}","court":"x","trigger":{},"grace_days":{}"#,
            1 + amount % 6,
            amount % 40
        ),
        3 => format!(
            r#""kind":"extension","case":"c{case}","years":{}"#,
            1 + amount % 3
        ),
        4 => format!(r#""kind":"removal","case":"c{case}","reason":"creditor_request""#),
        // A move: a new address of record.
        _ => {
            let (lat, lon) = PLACES[amount as usize % 3];
            return format!(
                r#"{{"id":"m{i}","subject":"{s}","kind":"subject","at":"{at}","name":"n","lat":{},"lon":{lon}}}"#,
                lat + f64::from(amount % 7) * 0.001
            );
        }
    };
    format!(r#"{{"id":"e{i}","source":"court","subject":"{s}","at":"{at}",{body}}}"#)
}

/// What the map should hold: every subject published today, at its snapped address.
fn reference(e: &Engine) -> Vec<(SubjectId, (f64, f64))> {
    let grid = credo_geo::Grid::new(e.map_cell_m()).unwrap();
    let mut v: Vec<_> = [A, B, C]
        .iter()
        .map(|s| s.parse::<SubjectId>().unwrap())
        .filter(|&id| e.is_published(id, None))
        .filter_map(|id| {
            let r = e.record(id).unwrap()?;
            Some((id, grid.centre(grid.snap(r.lat, r.lon).ok()?)))
        })
        .collect();
    v.sort_by_key(|p| p.0);
    v
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(48))]

    #[test]
    fn the_map_holds_what_is_published_and_replays_the_same(
        events in proptest::collection::vec((0u8..6, 0usize..3, 0u16..1000, 1u32..100_000), 1..60),
        chunk in 1usize..2048,
    ) {
        let dir = tempfile::tempdir().unwrap();
        let mut e = open(dir.path());
        ingest(&mut e, &subjects(), chunk);
        let text: String = events.iter().enumerate().map(|(i, &(k, w, d, a))| court_line(i, k, w, d, a) + "\n").collect();
        let mid = text[..text.len() / 2].rfind('\n').map_or(0, |p| p + 1);
        ingest(&mut e, &text[..mid], chunk);
        prop_assert_eq!(e.map_points(), reference(&e));
        ingest(&mut e, &text[mid..], chunk);
        let now = e.map_points();
        prop_assert_eq!(&now, &reference(&e));
        prop_assert_eq!(e.map_len(), now.len());
        drop(e);
        let e = open(dir.path());
        prop_assert_eq!(e.map_points(), now);
    }
}

#[test]
fn a_walker_hears_of_a_debtor_once_and_of_the_lift() {
    let dir = tempfile::tempdir().unwrap();
    let mut e = open(dir.path());
    ingest(&mut e, &subjects(), 1 << 20);
    let court = [
        format!(r#"{{"id":"j","source":"court","subject":"{A}","at":"2025-01-10","kind":"judgment","case":"(2025)京0105执88号","court":"北京市朝阳区人民法院","amount":52000}}"#),
        format!(r#"{{"id":"l","source":"court","subject":"{A}","at":"2025-01-10","kind":"listing","case":"(2025)京0105执88号","court":"北京市朝阳区人民法院","trigger":1}}"#),
    ]
    .join("\n");
    ingest(&mut e, &court, 1 << 20);
    assert_eq!(e.map_len(), 1);

    // Nearby from B's address, about 300 m north.
    let (lat, lon) = PLACES[1];
    let n = e.nearby(lat, lon, 500.0, 50).unwrap();
    assert_eq!(n.debtors, 1);
    assert_eq!(n.level, credo_engine::Level::Low);
    let hit = &n.entries[0];
    assert_eq!(hit.entry.case, "(2025)京0105执88号");
    assert!(hit.entry.masked_id.contains("****"));
    let d = hit.distance_m.unwrap();
    assert!((250.0..350.0).contains(&d), "{d}");
    assert_eq!(e.nearby(lat, lon, 200.0, 50).unwrap().debtors, 0);
    assert!(e.nearby(lat, lon, 0.0, 50).is_err());

    // A walker comes from the east toward A's address: one Enter, then nothing more.
    let s = e.open_session(500.0).unwrap();
    let mut enters = 0;
    for k in 0..=30 {
        let lon = PLACES[2].1 - (PLACES[2].1 - PLACES[0].1) * f64::from(k) / 30.0;
        for a in e.step_session(s, PLACES[0].0, lon).unwrap() {
            match a {
                MapAlert::Enter(cases) => {
                    enters += 1;
                    assert_eq!(cases[0].entry.name, "王芳");
                    assert!(cases[0].distance_m.unwrap() <= 500.0);
                }
                MapAlert::Leave { .. } => panic!("nobody left"),
            }
        }
    }
    assert_eq!(enters, 1);

    // The tip-off route finds the debtor by case number.
    assert_eq!(
        e.published_case_subject("(2025)京0105执88号"),
        Some(A.parse().unwrap())
    );

    // Paying the judgment lifts the listing: the session hears it without moving.
    let pay = format!(
        r#"{{"id":"p","source":"court","subject":"{A}","at":"2025-03-01","kind":"performance","case":"(2025)京0105执88号","amount":52000}}"#
    );
    ingest(&mut e, &pay, 1 << 20);
    assert_eq!(e.map_len(), 0);
    let waiting = e.take_session_alerts(s).unwrap();
    assert!(
        matches!(&waiting[..], [MapAlert::Leave { .. }]),
        "{waiting:?}"
    );
    assert!(
        e.step_session(s, PLACES[0].0, PLACES[0].1)
            .unwrap()
            .is_empty()
    );
    assert_eq!(e.nearby(lat, lon, 500.0, 50).unwrap().debtors, 0);
    assert!(e.close_session(s));
    assert!(e.step_session(s, 39.9, 116.4).is_err());
}

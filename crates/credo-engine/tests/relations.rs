#![allow(clippy::unwrap_used, clippy::expect_used)]
//! The relationships dimension on a data folder: local updates between full jobs stay
//! within their proven bound of a rebuild, contacts in poor standing cost points with a
//! reason code, and never more than the model's cap.

mod common;
use common::{ingest_clean as ingest, open, person};
use credo_engine::Engine;
use credo_model::{Day, SubjectId};
use proptest::prelude::*;

fn subjects(n: usize) -> String {
    (0..n)
        .map(|i| {
            format!(
                r#"{{"id":"{}","kind":"subject","at":"2024-11-01","name":"p{i}","address":"x","industry":"C","phones":["1380013{i:04}"]}}"#,
                person(i)
            ) + "\n"
        })
        .collect()
}

fn line(i: usize, kind: u8, a: usize, b: usize, day: u16, amount: u32) -> String {
    let at = Day(Day::from_ymd(2025, 1, 1).unwrap().0 + i32::from(day));
    let body = match kind % 6 {
        0 => format!(r#""kind":"payment","amount":{amount}"#),
        1 => format!(r#""kind":"bill","ref":"b{i}","amount":{amount},"status":"unpaid""#),
        2 => format!(r#""kind":"judgment","case":"c{i}","court":"x","amount":{amount}"#),
        3 => format!(r#""kind":"contact","other":"{}","op":"remove""#, person(b)),
        _ => format!(r#""kind":"contact","other":"{}","op":"add""#, person(b)),
    };
    format!(
        r#"{{"id":"e{i}","source":"s","subject":"{}","at":"{at}",{body}}}"#,
        person(a)
    ) + "\n"
}

fn feature(e: &Engine, id: &SubjectId) -> Option<f64> {
    let v = e.score(*id, None).unwrap();
    v.card
        .features
        .iter()
        .find(|f| f.name == "contacts_standing")
        .unwrap()
        .value
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(24))]

    /// Ingest with local updates only (no full job after the first), then reopen (a full
    /// job on the log): every contacts' term agrees within the bound, and every score
    /// but for the contacts' bin (a term at a bin's edge may fall either way).
    #[test]
    fn local_updates_stay_within_the_bound_of_a_rebuild(
        events in proptest::collection::vec((0u8..6, 0usize..30, 0usize..30, 0u16..600, 1u32..200_000), 1..160),
        cut in 0usize..160,
    ) {
        let dir = tempfile::tempdir().unwrap();
        let copy = tempfile::tempdir().unwrap();
        let mut e = open(dir.path());
        e.set_graph_full_job_below(0);
        ingest(&mut e, &subjects(30), 4096);
        // Never a contact with oneself (that is a rejected line).
        let lines: Vec<String> = events.iter().enumerate().map(|(i, &(k, a, b, d, x))| line(i, k, a, (a + 1 + b % 29) % 30, d, x)).collect();
        let cut = cut.min(lines.len());
        ingest(&mut e, &lines[..cut].concat(), 512);
        ingest(&mut e, &lines[cut..].concat(), 512);
        std::fs::copy(dir.path().join("events.log"), copy.path().join("events.log")).unwrap();
        let rebuilt = open(copy.path());
        prop_assert!(e.same_state(&rebuilt), "{:?}", e.state_diff(&rebuilt));
        for i in 0..30 {
            let id: SubjectId = person(i).parse().unwrap();
            let (x, y) = (e.score(id, None).unwrap(), rebuilt.score(id, None).unwrap());
            // The scores agree but for the contacts' bin: a term within the bound of a
            // bin's edge may fall on either side of it, and then the score moves by the
            // difference between those bins' points (and by a rounding point).
            let pts = |v: &credo_engine::ScoreView| v.card.features.iter().find(|f| f.name == "contacts_standing").unwrap().points;
            let diff = f64::from(x.card.score) - f64::from(y.card.score);
            let explained = pts(&x) - pts(&y);
            let clamped = [x.card.score, y.card.score].iter().any(|&s| s == 350 || s == 950);
            prop_assert!(clamped || (diff - explained).abs() <= 1.0, "{i}: {} vs {} ({explained} points from the contacts' bins)", x.card.score, y.card.score);
            match (feature(&e, &id), feature(&rebuilt, &id)) {
                (Some(p), Some(q)) => prop_assert!((p - q).abs() < 1e-3, "{p} vs {q}"),
                (None, None) => {}
                (p, q) => prop_assert!(false, "{i}: {p:?} vs {q:?}"),
            }
        }
    }
}

#[test]
fn contacts_in_poor_standing_cost_points_with_a_reason_and_never_more_than_the_cap() {
    let dir = tempfile::tempdir().unwrap();
    let mut e = open(dir.path());
    ingest(&mut e, &subjects(13), 4096);
    // Person 0 knows 1–5, who have large unpaid judgments and bills; person 6 knows
    // 7–11, who pay on time every month.
    let mut text = String::new();
    let mut i = 0;
    let mut push = |t: &mut String, kind: u8, a: usize, b: usize, day: u16, amount: u32| {
        t.push_str(&line(i, kind, a, b, day, amount));
        i += 1;
    };
    for k in 1..=5 {
        push(&mut text, 4, 0, k, 10, 0);
        push(&mut text, 2, k, 0, 20, 150_000);
        for m in 0..6 {
            push(&mut text, 1, k, 0, 30 + 30 * m, 5_000);
        }
    }
    for k in 7..=11 {
        push(&mut text, 4, 6, k, 10, 0);
        for m in 0..20 {
            push(&mut text, 0, k, 0, 15 * m, 800);
        }
    }
    // Both have good histories of their own, so the contacts' term is among their reasons.
    for who in [0, 6] {
        for m in 0..44u16 {
            push(&mut text, 0, who, 0, 15 * m, 3_000);
            let at = Day(Day::from_ymd(2025, 1, 1).unwrap().0 + i32::from(15 * m));
            text.push_str(&format!(
                r#"{{"id":"paid{who}-{m}","source":"s","subject":"{}","at":"{at}","kind":"bill","ref":"p{m}","amount":2000,"status":"paid"}}"#,
                person(who)
            ));
            text.push('\n');
        }
    }
    ingest(&mut e, &text, 1 << 16);
    let poor: SubjectId = person(0).parse().unwrap();
    let good: SubjectId = person(6).parse().unwrap();
    let card = e.score(poor, None).unwrap().card;
    let model = e.model();
    let f = &model.features[model.contacts_standing.unwrap()];
    let points = card
        .features
        .iter()
        .find(|v| v.name == f.name)
        .unwrap()
        .points;
    let lost = f.max_points - points;
    assert!(lost > 0.0, "{:?}", card.features);
    let re02 = card.reasons.iter().find(|r| r.code == "RE02");
    assert_eq!(re02.map(|r| r.lost), Some(lost), "{:?}", card.reasons);
    let cap = model.relationships.unwrap().max_share * f64::from(model.max - model.min);
    assert!(lost <= cap + 1e-9, "lost {lost}, cap {cap}");
    let card = e.score(good, None).unwrap().card;
    assert!(
        card.reasons.iter().all(|r| r.code != "RE02"),
        "{:?}",
        card.reasons
    );
    assert!(feature(&e, &good).unwrap() > feature(&e, &poor).unwrap());
    // A subject without contacts has no term, and loses nothing through it.
    let alone: SubjectId = person(12).parse().unwrap();
    assert_eq!(feature(&e, &alone), None);
    let card = e.score(alone, None).unwrap().card;
    assert!(card.reasons.iter().all(|r| r.code != "RE02"));
    // The full job reports the same cap and converges.
    let r = e.propagate_relations(&mut |_| {}).unwrap().unwrap();
    assert!(r.converged);
    assert!(r.costing >= 1);
    assert!(r.max_points_lost <= r.cap_points);
}

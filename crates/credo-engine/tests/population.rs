#![allow(clippy::unwrap_used, clippy::expect_used)]
//! The population at once (`credo features`, `credo simulate`) against one subject at a
//! time: `lots` must answer as `check` and `score` do, and `feature_rows` must hold the
//! values the score is computed from.

mod common;

use credo_engine::Engine;
use credo_model::Day;
use credo_score::ScoreCard;

fn generated(dir: &std::path::Path, people: usize) -> Engine {
    let g = credo_sim::generate_in_memory(people, 11).unwrap();
    let (s, e, c) = (g.subjects, g.events, g.contacts);
    let mut engine = common::open(dir);
    for text in [&s, &e, &c] {
        common::ingest_clean(&mut engine, std::str::from_utf8(text).unwrap(), 1 << 16);
    }
    engine
}

#[test]
fn lots_answer_as_check_and_score_do() {
    let dir = tempfile::tempdir().unwrap();
    let mut engine = generated(dir.path(), 1500);
    let as_of = Day::from_ymd(2026, 10, 31).unwrap();
    let mut actions: Vec<String> = engine
        .policies()
        .offers
        .iter()
        .map(|o| o.id.clone())
        .collect();
    actions.push("flight".into());
    actions.push("no.such.offer".into());
    let lots = engine.lots(as_of, &actions);
    assert_eq!(lots.len(), engine.subject_count());
    let rows = engine.feature_rows(0, usize::MAX, as_of);
    assert_eq!(rows.len(), lots.len());
    let (mut allowed, mut denied) = (0, 0);
    for (lot, (id, values)) in lots.iter().zip(&rows) {
        assert_eq!(lot.id, *id);
        let view = engine.score(lot.id, Some(as_of)).unwrap();
        assert_eq!(lot.score, view.card.score, "{}", lot.id);
        assert_eq!(ScoreCard::value(engine.model(), values), lot.score);
        for (a, got) in actions.iter().zip(&lot.allowed) {
            let want = engine
                .check(lot.id, a, Some(as_of))
                .ok()
                .map(|d| d.outcome == credo_engine::Outcome::Allow);
            assert_eq!(*got, want, "{} {a}", lot.id);
            match got {
                Some(true) => allowed += 1,
                Some(false) => denied += 1,
                None => {}
            }
        }
        assert_eq!(lot.allowed.last(), Some(&None));
    }
    // Both answers occur, or the comparison above proves little.
    assert!(
        allowed > 0 && denied > 0,
        "{allowed} allowed, {denied} denied"
    );

    // Proposed policies apply in memory only: a higher threshold loses answers, and
    // nothing is written to the folder.
    let text = std::fs::read_to_string(
        std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("../credo-rules/policies/default.toml"),
    )
    .unwrap()
    .replace("min_score = 650", "min_score = 700");
    engine.use_policies("proposed.toml", &text).unwrap();
    assert!(!dir.path().join("policies.toml").exists());
    let stricter = engine.lots(as_of, &actions);
    let k = actions
        .iter()
        .position(|a| a == "bike.deposit_free")
        .unwrap();
    let lost = lots
        .iter()
        .zip(&stricter)
        .filter(|(a, b)| a.allowed[k] == Some(true) && b.allowed[k] == Some(false))
        .count();
    let gained = lots
        .iter()
        .zip(&stricter)
        .filter(|(a, b)| a.allowed[k] == Some(false) && b.allowed[k] == Some(true))
        .count();
    let between = lots
        .iter()
        .filter(|l| l.allowed[k] == Some(true) && (650..700).contains(&l.score))
        .count();
    assert_eq!(gained, 0);
    assert_eq!(lost, between);
    assert!(lost > 0);
}

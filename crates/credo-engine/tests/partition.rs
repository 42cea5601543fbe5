#![allow(clippy::unwrap_used, clippy::expect_used)]
//! A cluster partition's folder: a contact with one end in another partition is a
//! half-edge that counts for the local end only, each way round, with the same add and
//! remove rules as a whole edge; a single machine still refuses such contacts; and the
//! state replayed from the folder equals the state built by ingest.

use credo_engine::{Clock, Engine, IngestOptions};
use credo_model::{Day, SubjectId};
use credo_score::Model;

const A: &str = "420102198811252731";
const B: &str = "320213200205299493";
/// Ends whose records live in other partitions.
const X: &str = "420102199201077416";
const Y: &str = "420102198608169297";

fn record(id: &str) -> String {
    format!(
        r#"{{"id":"{id}","kind":"subject","at":"2024-11-01T00:00:00+08:00","name":"某某","region":"420102","industry":"I","lat":30.6,"lon":114.3}}"#
    )
}

fn contact(n: u32, subject: &str, other: &str, op: &str) -> String {
    format!(
        r#"{{"id":"c{n}","source":"contacts","subject":"{subject}","at":"2025-0{}-01T10:00:00+08:00","kind":"contact","other":"{other}","op":"{op}"}}"#,
        1 + n % 9
    )
}

fn input() -> String {
    [
        record(A),
        record(B),
        contact(1, A, X, "add"),
        // The mirror copy of a contact filed under the other partition's subject.
        contact(2, Y, A, "add"),
        // X again under another id: no new edge.
        contact(3, X, A, "add"),
        contact(4, A, B, "add"),
        contact(5, B, X, "add"),
        contact(6, A, X, "remove"),
        // Neither end here: refused.
        contact(7, X, Y, "add"),
    ]
    .join("\n")
}

fn contacts(e: &Engine, id: &str) -> f64 {
    let card = e
        .score(id.parse::<SubjectId>().unwrap(), None)
        .unwrap()
        .card;
    card.features
        .iter()
        .find(|f| f.name == "contacts")
        .and_then(|f| f.value)
        .unwrap()
}

fn ingest(e: &mut Engine) -> credo_engine::IngestReport {
    e.ingest(
        "in",
        input().as_bytes(),
        &IngestOptions::default(),
        &mut |_| {},
    )
    .unwrap()
}

fn open(dir: &std::path::Path) -> Engine {
    let day = Day::parse("2026-06-30").unwrap();
    Engine::open(dir, Model::default_model(), Some(Clock::Fixed(day)))
        .unwrap()
        .0
}

#[test]
fn half_edges_count_for_the_local_end() {
    let dir = tempfile::tempdir().unwrap();
    let part = dir.path().join("p3");
    let mut e = open(&part);
    e.set_partition(3, 16).unwrap();
    let r = ingest(&mut e);
    assert_eq!((r.accepted, r.rejected), (8, 1), "{:?}", r.errors);
    assert_eq!(r.errors[0].code, "unknown_subject");
    assert_eq!(r.errors[0].line, 9);
    // A: Y and B (X added, added again, removed); B: A and X.
    assert_eq!(contacts(&e, A), 2.0);
    assert_eq!(contacts(&e, B), 2.0);
    // A foreign end is only an ID here.
    assert!(e.score(X.parse().unwrap(), None).is_err());

    // Sent again: duplicates, nothing moves.
    let again = ingest(&mut e);
    assert_eq!((again.accepted, again.duplicates), (0, 8));
    assert_eq!(contacts(&e, A), 2.0);

    // A partition's folder stays one.
    assert!(e.set_partition(4, 16).is_err());
    assert!(e.set_partition(3, 16).is_ok());

    // Replayed from the folder: the same state as a fresh partition that ingested the
    // input once, and still partition 3 of 16.
    drop(e);
    let mut fresh = open(&dir.path().join("fresh"));
    fresh.set_partition(3, 16).unwrap();
    ingest(&mut fresh);
    let replayed = open(&part);
    assert_eq!(replayed.partition(), Some((3, 16)));
    assert_eq!(fresh.state_diff(&replayed), Vec::<&str>::new());
    assert_eq!(contacts(&replayed, A), 2.0);
}

#[test]
fn one_machine_refuses_a_contact_with_an_unknown_end() {
    let dir = tempfile::tempdir().unwrap();
    let mut e = open(dir.path());
    let r = ingest(&mut e);
    // Only A–B is a contact between known subjects.
    assert_eq!((r.accepted, r.rejected), (3, 6));
    assert!(r.errors.iter().all(|x| x.code == "unknown_subject"));
    assert_eq!(contacts(&e, A), 1.0);
    // A folder with events cannot become a partition.
    assert!(e.set_partition(0, 4).is_err());
}

/// The contacts a notice plan's hops read follow every change of the edges (their lists
/// are kept between calls), and equal a folder opened afresh.
#[test]
fn contacts_of_follow_each_change() {
    let dir = tempfile::tempdir().unwrap();
    let part = dir.path().join("p3");
    let mut e = open(&part);
    e.set_partition(3, 16).unwrap();
    ingest(&mut e);
    let ids: Vec<SubjectId> = [A, B, X].iter().map(|s| s.parse().unwrap()).collect();
    let sorted = |mut v: Vec<&str>| {
        let mut v: Vec<SubjectId> = v.drain(..).map(|s| s.parse().unwrap()).collect();
        v.sort_unstable_by_key(|id: &SubjectId| id.key());
        v
    };
    let of = |e: &Engine| {
        e.contacts_of(&ids)
            .into_iter()
            .map(|(id, c)| (id.to_string(), c))
            .collect::<std::collections::BTreeMap<_, _>>()
    };
    // X is held elsewhere: no entry for it here.
    let before = of(&e);
    assert_eq!(before.len(), 2);
    assert_eq!(before[A], sorted(vec![B, Y]));
    assert_eq!(before[B], sorted(vec![A, X]));
    let more = [
        contact(10, A, B, "remove"),
        contact(11, X, A, "add"),
        contact(12, B, Y, "add"),
        contact(13, B, X, "remove"),
    ]
    .join("\n");
    let r = e
        .ingest(
            "more",
            more.as_bytes(),
            &IngestOptions::default(),
            &mut |_| {},
        )
        .unwrap();
    assert_eq!(r.accepted, 4, "{:?}", r.errors);
    let after = of(&e);
    assert_eq!(after[A], sorted(vec![X, Y]));
    assert_eq!(after[B], sorted(vec![Y]));
    drop(e);
    assert_eq!(of(&open(&part)), after);
}

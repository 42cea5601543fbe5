#![allow(clippy::unwrap_used, clippy::expect_used)]
//! Ingest end to end on a data folder: idempotence, rejections with line numbers, and the
//! incremental state against a rebuild from the log.

mod common;
use common::{ingest, open};
use credo_access::{AccessOp, Resolution};
use credo_engine::Engine;
use credo_engine::Outcome::{Allow, Deny};
use credo_engine::access::Pending;
use credo_model::{Day, SubjectId, Timestamp};
use credo_score::Model;
use proptest::prelude::*;

const A: &str = "11010519491231002X";
const B: &str = "440524188001010014";
const C: &str = "91350100M000100Y43";

fn subjects() -> String {
    [
        format!(r#"{{"id":"{A}","kind":"subject","at":"2024-11-01","name":"王芳","phones":["13800138000"],"address":"x","industry":"I"}}"#),
        format!(r#"{{"id":"{B}","kind":"subject","at":"2024-11-01","name":"李强"}}"#),
        format!(r#"{{"id":"{C}","kind":"subject","at":"2024-11-01","name":"某某科技有限公司","legal_rep":"张三"}}"#),
    ]
    .join("\n")
}

#[test]
fn bad_lines_are_rejected_with_line_numbers_and_good_ones_land() {
    let dir = tempfile::tempdir().unwrap();
    let mut e = open(dir.path());
    let lines = [
        subjects(),
        format!(r#"{{"id":"p1","subject":"{A}","at":"2025-01-05","kind":"payment","amount":100}}"#),
        "not json\n".to_string(),
        r#"{"id":"p2","subject":"110105194912310021","at":"2025-01-05","kind":"payment","amount":100}"#.to_string(),
        r#"{"id":"p3","subject":"110101199003078515","at":"2025-01-05","kind":"payment","amount":100}"#.to_string(),
        format!(r#"{{"id":"c1","subject":"{A}","at":"2025-01-05","kind":"contact","other":"{B}"}}"#),
    ];
    let text = lines.join("\n") + "\n";
    let r = ingest(&mut e, &text, 1 << 20);
    assert_eq!((r.accepted, r.duplicates, r.rejected), (5, 0, 3));
    let lines: Vec<(u64, &str)> = r.errors.iter().map(|x| (x.line, x.code)).collect();
    assert_eq!(
        lines,
        [(5, "bad_json"), (7, "bad_id"), (8, "unknown_subject")]
    );
    assert_eq!(
        r.errors[1].message,
        "`subject`: resident id check character is '1' but should be 'X'"
    );
    // The same file again adds nothing.
    let again = ingest(&mut e, &text, 1 << 20);
    assert_eq!(
        (again.accepted, again.duplicates, again.rejected),
        (0, 5, 3)
    );
    assert_eq!(e.event_count(), 5);
    let a: SubjectId = A.parse().unwrap();
    let b: SubjectId = B.parse().unwrap();
    assert_eq!(e.record(a).unwrap().unwrap().name, "王芳");
    let sa = e.score(a, None).unwrap();
    let sb = e.score(b, None).unwrap();
    // A has a complete identity record and a payment; B has only a name.
    assert!(
        sa.card.score > sb.card.score,
        "{} vs {}",
        sa.card.score,
        sb.card.score
    );
    assert!(sb.card.reasons.iter().any(|r| r.code == "ID01"));
}

#[test]
fn an_over_long_line_is_rejected_and_the_next_lands() {
    let dir = tempfile::tempdir().unwrap();
    let mut e = open(dir.path());
    let long = format!(r#"{{"id":"{}"}}"#, "a".repeat(3 << 20));
    let pay =
        format!(r#"{{"id":"p1","subject":"{A}","at":"2025-01-05","kind":"payment","amount":1}}"#);
    let text = format!("{}\n{long}\n{pay}\n", subjects());
    let r = ingest(&mut e, &text, 1);
    assert_eq!((r.accepted, r.rejected), (4, 1));
    assert_eq!((r.errors[0].line, r.errors[0].code), (4, "line_too_long"));
}

fn event_line(i: usize, kind: u8, who: u8, day: u16, amount: u32) -> String {
    let s = [A, B, C][who as usize % 3];
    let o = [B, C, A][who as usize % 3];
    let at = Day(Day::from_ymd(2024, 1, 1).unwrap().0 + i32::from(day));
    let body = match kind % 14 {
        0 => format!(r#""kind":"payment","amount":{amount}"#),
        1 => format!(
            r#""kind":"bill","ref":"b{}","amount":{amount},"status":"unpaid""#,
            amount % 3
        ),
        2 => format!(
            r#""kind":"bill","ref":"b{}","amount":{amount},"status":"late","days_late":5"#,
            amount % 3
        ),
        3 => format!(r#""kind":"loan","ref":"l","amount":{amount}"#),
        4 => format!(
            r#""kind":"repayment","ref":"l","amount":{amount},"days_late":{}"#,
            amount % 2
        ),
        5 => format!(
            r#""kind":"judgment","case":"c{}","court":"x","amount":{amount}"#,
            amount % 2
        ),
        6 => format!(
            r#""kind":"performance","case":"c{}","amount":{amount}"#,
            amount % 2
        ),
        7 => format!(
            r#""kind":"violation","code":"red_light","points":{}"#,
            amount % 100
        ),
        9 => format!(
            r#""kind":"listing","case":"c{}","court":"x","trigger":{},"grace_days":{}"#,
            amount % 2,
            1 + amount % 6,
            amount % 40
        ),
        10 => format!(
            r#""kind":"restriction","case":"c{}","court":"x""#,
            amount % 2
        ),
        11 => format!(
            r#""kind":"extension","case":"c{}","years":{}"#,
            amount % 2,
            1 + amount % 3
        ),
        12 => format!(
            r#""kind":"removal","case":"c{}","reason":"creditor_request""#,
            amount % 2
        ),
        13 => format!(
            r#""kind":"ban","scope":"{}","days":{},"code":"x""#,
            ["rail", "flight", "travel"][amount as usize % 3],
            1 + amount % 300
        ),
        _ => format!(
            r#""kind":"contact","other":"{o}","op":"{}""#,
            if amount.is_multiple_of(4) {
                "remove"
            } else {
                "add"
            }
        ),
    };
    format!(
        r#"{{"id":"e{}","source":"s{}","subject":"{s}","at":"{at}",{body}}}"#,
        i % 97,
        i % 3
    )
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(40))]

    /// Whatever the batching and however many duplicates, the state built by ingest equals
    /// the state rebuilt by replaying the log.
    #[test]
    fn incremental_state_equals_rebuild(
        events in proptest::collection::vec((0u8..14, 0u8..3, 0u16..900, 1u32..100_000), 1..150),
        chunk in 1usize..4096,
    ) {
        let dir = tempfile::tempdir().unwrap();
        let copy = tempfile::tempdir().unwrap();
        let mut e = open(dir.path());
        ingest(&mut e, &subjects(), chunk);
        let text: String = events.iter().enumerate().map(|(i, &(k, w, d, a))| event_line(i, k, w, d, a) + "\n").collect();
        // Split the input in two ingests to exercise more than one call.
        let mid = text.len() / 2;
        let mid = text[..mid].rfind('\n').map_or(0, |p| p + 1);
        let r1 = ingest(&mut e, &text[..mid], chunk);
        let r2 = ingest(&mut e, &text[mid..], chunk);
        prop_assert_eq!(r1.rejected + r2.rejected, 0, "{:?} {:?}", r1.errors, r2.errors);
        prop_assert_eq!(r1.accepted + r2.accepted, events.len() as u64);
        prop_assert_eq!(e.event_count(), events.len() as u64 + 3);
        std::fs::copy(dir.path().join("events.log"), copy.path().join("events.log")).unwrap();
        let rebuilt = open(copy.path());
        prop_assert!(e.same_state(&rebuilt));
        // Scores kept for a day answer exactly as computed ones.
        e.keep_day_facts(Day::parse("2025-06-30").unwrap());
        for id in [A, B, C] {
            let id: SubjectId = id.parse().unwrap();
            let x = e.score(id, None).unwrap();
            let y = rebuilt.score(id, None).unwrap();
            prop_assert_eq!(x.card, y.card);
            prop_assert_eq!(x.history, y.history);
            for action in ["flight", "rail", "golf", "bike.deposit_free", "bank.preapproved"] {
                for day in ["2024-03-01", "2025-06-30", "2027-01-01"] {
                    let d = Some(Day::parse(day).unwrap());
                    prop_assert_eq!(e.check(id, action, d).unwrap(), rebuilt.check(id, action, d).unwrap());
                }
            }
        }
    }
}

fn pending(op: AccessOp) -> Pending {
    Pending {
        at: Timestamp(1_790_000_000),
        actor: "test".into(),
        key: None,
        op,
        inquiry: None,
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(24))]

    /// Deleting or correcting disputed entries rescores at once to what a replay of the log
    /// gives, and to what an engine that never saw those entries gives.
    #[test]
    fn disputes_rescore_as_replay_and_as_if_never_sent(
        events in proptest::collection::vec((0u8..14, 0u8..3, 0u16..900, 1u32..100_000), 1..120),
        picks in proptest::collection::vec((any::<prop::sample::Index>(), any::<bool>()), 1..4),
    ) {
        let dir = tempfile::tempdir().unwrap();
        let mut e = open(dir.path());
        ingest(&mut e, &subjects(), 4096);
        let lines: Vec<String> = events.iter().enumerate().map(|(i, &(k, w, d, a))| event_line(i, k, w, d, a)).collect();
        ingest(&mut e, &(lines.join("\n") + "\n"), 4096);
        // Disputable entries: every logged event but subject records and contacts.
        let mut entries = Vec::new();
        for id in [A, B, C] {
            let id: SubjectId = id.parse().unwrap();
            for ev in e.subject_events(id).unwrap() {
                if !matches!(ev.body.kind(), "subject" | "contact") {
                    entries.push((id, ev.source.to_string(), ev.id.to_string()));
                }
            }
        }
        prop_assume!(!entries.is_empty());
        let mut retracted: Vec<(String, String)> = Vec::new();
        let mut replacements = Vec::new();
        for (n, (pick, correct)) in picks.iter().enumerate() {
            let (subject, source, event) = pick.get(&entries).clone();
            if retracted.contains(&(source.clone(), event.clone())) {
                continue;
            }
            let filed = e.log_access(vec![pending(AccessOp::DisputeFile {
                subject, source: source.clone(), event: event.clone(), reason: "not mine".into(),
            })]).unwrap();
            let resolution = if *correct {
                let line = format!(r#"{{"id":"fix{n}","source":"{source}","subject":"{subject}","at":"2025-01-15","kind":"payment","amount":10}}"#);
                let r = ingest(&mut e, &line, 4096);
                prop_assert_eq!(r.accepted, 1);
                replacements.push(line);
                Resolution::Corrected { replacement: format!("fix{n}") }
            } else {
                Resolution::Deleted
            };
            e.log_access(vec![pending(AccessOp::DisputeResolve {
                id: filed[0].seq, by: source.clone(), resolution, note: String::new(),
            })]).unwrap();
            retracted.push((source, event));
        }
        // A replay of the three files.
        let copy = tempfile::tempdir().unwrap();
        for f in ["events.log", "audit.log", "audit.head"] {
            std::fs::copy(dir.path().join(f), copy.path().join(f)).unwrap();
        }
        let rebuilt = open(copy.path());
        for id in [A, B, C] {
            let id: SubjectId = id.parse().unwrap();
            let evs: Vec<String> = e.subject_events(id).unwrap().iter().map(|x| format!("{} {} {} {}", x.id.as_str(), x.source.as_str(), x.at, x.body.kind())).collect();
            prop_assert_eq!(e.score(id, None).unwrap().history, rebuilt.score(id, None).unwrap().history, "{} {:?} {:?}", id, evs, retracted);
        }
        prop_assert_eq!(e.state_diff(&rebuilt), Vec::<&str>::new());
        // An engine that was never sent the retracted entries (nor their duplicates).
        let never = tempfile::tempdir().unwrap();
        let mut n = open(never.path());
        ingest(&mut n, &subjects(), 4096);
        let kept: Vec<&String> = lines.iter().filter(|l| {
            !retracted.iter().any(|(s, i)| l.contains(&format!(r#""id":"{i}","source":"{s}""#)))
        }).collect();
        let kept: String = kept.into_iter().chain(replacements.iter()).map(|l| l.clone() + "\n").collect();
        ingest(&mut n, &kept, 4096);
        for id in [A, B, C] {
            let id: SubjectId = id.parse().unwrap();
            let (x, y) = (e.score(id, None).unwrap(), n.score(id, None).unwrap());
            prop_assert_eq!(x.card, y.card);
            prop_assert_eq!(x.history, y.history);
            for action in ["flight", "rail", "bike.deposit_free"] {
                let d = Some(Day::parse("2025-06-30").unwrap());
                prop_assert_eq!(e.check(id, action, d).unwrap(), n.check(id, action, d).unwrap());
            }
        }
    }
}

fn outcome(e: &Engine, id: SubjectId, action: &str, day: &str) -> credo_engine::Outcome {
    e.check(id, action, Some(Day::parse(day).unwrap()))
        .unwrap()
        .outcome
}

/// The whole path a relying party sees: a judgment and a listing deny the flight, a
/// partial payment does not lift it, paying the rest does at once, and a reopened folder
/// (state rebuilt from the log) answers the same.
#[test]
fn paying_the_judgment_lifts_the_flight_ban_end_to_end() {
    let dir = tempfile::tempdir().unwrap();
    let mut e = open(dir.path());
    ingest(&mut e, &subjects(), 1 << 20);
    let id: SubjectId = A.parse().unwrap();
    let line = |n: &str, day: &str, body: &str| {
        format!(r#"{{"id":"{n}","source":"court","subject":"{A}","at":"{day}",{body}}}"#) + "\n"
    };
    let text = line(
        "j",
        "2025-01-10",
        r#""kind":"judgment","case":"K1","court":"北京市朝阳区人民法院","amount":5000"#,
    ) + &line(
        "l",
        "2025-02-01",
        r#""kind":"listing","case":"K1","court":"北京市朝阳区人民法院","trigger":1"#,
    );
    assert_eq!(ingest(&mut e, &text, 1 << 20).accepted, 2);
    let on = |d: &str| Some(Day::parse(d).unwrap());
    let d = e.check(id, "flight", on("2025-03-01")).unwrap();
    assert_eq!(d.outcome, credo_engine::Outcome::Deny);
    assert_eq!(d.reasons[0].code, "listed_dishonest");
    assert_eq!(d.reasons[0].case.as_deref(), Some("K1"));
    assert!(
        d.lift
            .iter()
            .any(|l| l.code == "perform" && l.text.contains("5000.00"))
    );
    // Before the listing, and for an ordinary train seat, nothing stops the subject.
    assert_eq!(outcome(&e, id, "flight", "2025-01-31"), Allow);
    assert_eq!(outcome(&e, id, "rail", "2025-03-01"), Allow);

    ingest(
        &mut e,
        &line(
            "p1",
            "2025-03-02",
            r#""kind":"performance","case":"K1","amount":3000"#,
        ),
        1 << 20,
    );
    let d = e.check(id, "flight", on("2025-03-03")).unwrap();
    assert_eq!(d.outcome, credo_engine::Outcome::Deny);
    assert!(d.lift.iter().any(|l| l.text.contains("2000.00")));

    ingest(
        &mut e,
        &line(
            "p2",
            "2025-03-05",
            r#""kind":"performance","case":"K1","amount":2000"#,
        ),
        1 << 20,
    );
    assert_eq!(outcome(&e, id, "flight", "2025-03-05"), Allow);
    assert_eq!(e.listed_count(Day::parse("2025-03-05").unwrap()), 0);
    assert_eq!(e.listed_count(Day::parse("2025-03-04").unwrap()), 1);

    drop(e);
    let e = open(dir.path());
    assert_eq!(outcome(&e, id, "flight", "2025-03-03"), Deny);
    assert_eq!(outcome(&e, id, "flight", "2025-03-05"), Allow);
    assert!(matches!(
        e.check(id, "no_such_action", None),
        Err(credo_engine::EngineError::UnknownAction(_))
    ));
}

/// The public list shows published listings only, with the published fields: nothing
/// under a grace period, and never an address or phone.
#[test]
fn the_public_list_shows_only_what_is_published() {
    let dir = tempfile::tempdir().unwrap();
    let mut e = open(dir.path());
    ingest(&mut e, &subjects(), 1 << 20);
    let text = [
        format!(r#"{{"id":"j","subject":"{A}","at":"2025-01-10","kind":"judgment","case":"K1","court":"c","amount":100}}"#),
        format!(r#"{{"id":"l","subject":"{A}","at":"2025-01-10","kind":"listing","case":"K1","court":"c","trigger":1,"grace_days":30}}"#),
    ]
    .join("\n");
    ingest(&mut e, &text, 1 << 20);
    let name = e.record(A.parse().unwrap()).unwrap().unwrap().name;
    let q = credo_engine::ListQuery {
        name: name.clone(),
        ..Default::default()
    };
    let on = |d: &str| Some(Day::parse(d).unwrap());
    assert!(
        e.list_search(&q, on("2025-02-08")).unwrap().is_empty(),
        "under grace"
    );
    let found = e.list_search(&q, on("2025-02-09")).unwrap();
    assert_eq!(found.len(), 1);
    let entry = serde_json::to_string(&found[0]).unwrap();
    assert!(entry.contains("****"), "{entry}");
    assert!(!entry.contains(A), "the full ID is not published: {entry}");
    for field in ["address", "phone", "lat", "lon"] {
        assert!(!entry.contains(field), "{field} in {entry}");
    }
    let other = credo_engine::ListQuery {
        name: "nobody".into(),
        ..Default::default()
    };
    assert!(e.list_search(&other, on("2025-02-09")).unwrap().is_empty());
}

#[test]
fn a_second_process_cannot_open_the_same_folder() {
    let dir = tempfile::tempdir().unwrap();
    let _e = open(dir.path());
    let err = Engine::open(dir.path(), Model::default_model(), None)
        .err()
        .unwrap();
    assert_eq!(err.code(), "data_locked");
}

proptest! {
    /// The report's event form reads back to the same event.
    #[test]
    fn event_json_reads_back_to_the_same_event(k in 0u8..14, w in 0u8..3, d in 0u16..900, a in 1u32..100_000) {
        for line in [event_line(0, k, w, d, a), subjects().lines().nth(usize::from(w)).unwrap().to_string()] {
            let e = credo_engine::wire::parse_line(line.as_bytes()).unwrap();
            let back = serde_json::to_string(&credo_engine::wire::event_json(&e)).unwrap();
            // Compared as text: a record without coordinates holds NaN, which is not equal to itself.
            let again = credo_engine::wire::parse_line(back.as_bytes()).unwrap();
            prop_assert_eq!(format!("{again:?}"), format!("{e:?}"), "{}", back);
        }
    }
}

#[test]
fn inquiries_past_twelve_months_are_deleted_while_running_and_on_open() {
    let dir = tempfile::tempdir().unwrap();
    let mut e = open(dir.path());
    ingest(&mut e, &subjects(), 4096);
    let a: SubjectId = A.parse().unwrap();
    let read = |day: &str| {
        let at = Day::parse(day).unwrap().start();
        Pending::read(
            "relying_party:rail-1".into(),
            None,
            credo_access::Inquiry {
                at,
                subject: a,
                role: credo_access::Role::RelyingParty,
                party: "rail-1".into(),
                what: "check:rail_g".into(),
                answer: "allow".into(),
            },
        )
    };
    e.log_access(vec![read("2025-06-15")]).unwrap();
    let old = dir.path().join("inquiries").join("2025-06.log");
    assert!(old.exists());
    assert_eq!(e.inquiries().of(a).len(), 1);
    // The engine's today is 2026-10-31: kept from 2025-10-31 on.
    e.log_access(vec![read("2026-10-20")]).unwrap();
    assert!(!old.exists(), "the old month's segment is deleted");
    let days: Vec<String> = e
        .inquiries()
        .of(a)
        .iter()
        .map(|q| q.at.day().to_string())
        .collect();
    assert_eq!(days, vec!["2026-10-20"]);
    drop(e);
    let e = open(dir.path());
    assert_eq!(e.inquiries().of(a).len(), 1);
    // The audit chain keeps both reads (as digests).
    assert_eq!(
        credo_engine::access::verify_audit(dir.path())
            .unwrap()
            .entries,
        2
    );
}

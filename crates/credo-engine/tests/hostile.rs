#![allow(clippy::unwrap_used, clippy::expect_used)]
//! Hostile input, one kind per line, each between good lines: every bad line gets its
//! own specific code and line number, and the good lines of the same batch land exactly
//! as if the bad ones had never been sent.

mod common;
use common::{open, person};

fn good(i: usize) -> Vec<u8> {
    format!(
        r#"{{"id":"g{i}","source":"s","subject":"{}","at":"2025-01-{:02}","kind":"payment","amount":{}}}"#,
        person(i % 3),
        1 + i % 28,
        100 + i
    )
    .into_bytes()
}

fn subjects() -> Vec<Vec<u8>> {
    (0..3)
        .map(|i| {
            format!(
                r#"{{"id":"{}","kind":"subject","at":"2024-11-01","name":"p{i}"}}"#,
                person(i)
            )
            .into_bytes()
        })
        .collect()
}

#[test]
fn every_kind_of_hostile_line_gets_its_own_error_and_the_good_lines_land() {
    let a = person(0);
    let mut bad_id = a.clone().into_bytes();
    // Another check character: a bad check digit.
    bad_id[17] = if bad_id[17] == b'1' { b'2' } else { b'1' };
    let bad_id = String::from_utf8(bad_id).unwrap();
    let pay = |extra: &str| {
        format!(r#"{{"id":"h","source":"s","subject":"{a}","at":"2025-01-05","kind":"payment",{extra}}}"#)
            .into_bytes()
    };
    let mut non_utf8 = pay(r#""amount":1,"x":"#);
    non_utf8.truncate(non_utf8.len() - 1);
    non_utf8.extend_from_slice(b"\"\xff\xfe\"}");
    let cases: Vec<(&str, Vec<u8>)> = vec![
        ("bad_json", b"{\"id\":\"h1\",\"subject\":".to_vec()),
        ("bad_json", b"[\"h2\",\"s\"]".to_vec()),
        ("bad_json", b"\"just a string\"".to_vec()),
        ("bad_field", pay(r#""amount":"12""#)),
        ("bad_field", format!(r#"{{"id":7,"subject":"{a}","at":"2025-01-05","kind":"payment","amount":1}}"#).into_bytes()),
        ("bad_id", format!(r#"{{"id":"h3","subject":"{bad_id}","at":"2025-01-05","kind":"payment","amount":1}}"#).into_bytes()),
        ("bad_id", br#"{"id":"h4","subject":"11010519800230001X","at":"2025-01-05","kind":"payment","amount":1}"#.to_vec()),
        ("bad_time", format!(r#"{{"id":"h5","subject":"{a}","at":"2025-02-30","kind":"payment","amount":1}}"#).into_bytes()),
        ("bad_time", format!(r#"{{"id":"h6","subject":"{a}","at":"1999-12-31","kind":"payment","amount":1}}"#).into_bytes()),
        ("bad_time", format!(r#"{{"id":"h7","subject":"{a}","at":"yesterday","kind":"payment","amount":1}}"#).into_bytes()),
        ("bad_json", pay(r#""amount":NaN"#)),
        // An infinite amount cannot be written in JSON; 1e999 is out of any number's range.
        ("bad_json", pay(r#""amount":1e999"#)),
        ("bad_amount", pay(r#""amount":-5"#)),
        ("bad_amount", pay(r#""amount":1e30"#)),
        ("not_utf8", non_utf8),
        ("missing_field", format!(r#"{{"id":"h8","subject":"{a}","kind":"payment","amount":1}}"#).into_bytes()),
        ("unknown_field", pay(r#""amount":1,"colour":"red""#)),
        ("unknown_kind", format!(r#"{{"id":"h9","subject":"{a}","at":"2025-01-05","kind":"opinion"}}"#).into_bytes()),
        // A field no kind has is named before the kind is looked at (as serde does).
        ("unknown_field", format!(r#"{{"id":"h9b","subject":"{a}","at":"2025-01-05","kind":"opinion","text":"x"}}"#).into_bytes()),
        ("unknown_subject", format!(r#"{{"id":"h10","subject":"{}","at":"2025-01-05","kind":"payment","amount":1}}"#, person(9)).into_bytes()),
        // The first good line's id again, with another amount: the first version stands.
        ("id_conflict", format!(r#"{{"id":"g0","source":"s","subject":"{}","at":"2025-01-01","kind":"payment","amount":999}}"#, person(0)).into_bytes()),
        ("line_too_long", format!(r#"{{"id":"{}"}}"#, "a".repeat(1 << 20)).into_bytes()),
    ];
    let mut text: Vec<u8> = Vec::new();
    for s in subjects() {
        text.extend_from_slice(&s);
        text.push(b'\n');
    }
    let mut goods: Vec<u8> = text.clone();
    let mut want = Vec::new();
    let mut line = 3u64;
    for (i, (code, bad)) in cases.iter().enumerate() {
        for g in [good(2 * i), good(2 * i + 1)] {
            text.extend_from_slice(&g);
            text.push(b'\n');
            goods.extend_from_slice(&g);
            goods.push(b'\n');
            line += 1;
        }
        text.extend_from_slice(bad);
        text.push(b'\n');
        line += 1;
        want.push((line, *code));
    }
    // A good event sent again, same content: a duplicate, not an error.
    text.extend_from_slice(&good(0));
    text.push(b'\n');

    let dir = tempfile::tempdir().unwrap();
    let mut e = open(dir.path());
    let opts = credo_engine::IngestOptions {
        chunk_bytes: 4096,
        keep_errors: 100,
        sender: None,
    };
    let r = e
        .ingest("hostile.jsonl", &text[..], &opts, &mut |_| {})
        .unwrap();
    let got: Vec<(u64, &str)> = r.errors.iter().map(|x| (x.line, x.code)).collect();
    assert_eq!(got, want, "{:#?}", r.errors);
    assert_eq!(r.rejected as usize, cases.len());
    assert_eq!(r.duplicates, 1);
    assert_eq!(r.accepted as usize, 3 + 2 * cases.len());
    for err in &r.errors {
        assert!(!err.message.is_empty() && err.file == "hostile.jsonl");
    }

    // The good lines alone give the same state.
    let clean = tempfile::tempdir().unwrap();
    let mut c = open(clean.path());
    common::ingest_clean(&mut c, std::str::from_utf8(&goods).unwrap(), 4096);
    let diff = e.state_diff(&c);
    assert!(diff.iter().all(|d| *d == "event lists"), "{diff:?}");
    for i in 0..3 {
        let id = person(i).parse().unwrap();
        assert_eq!(
            e.score(id, None).unwrap().card,
            c.score(id, None).unwrap().card
        );
    }
}

/// An id sent again with other content is an `id_conflict` in a later file too, and
/// after the folder is reopened (the fingerprint is rebuilt from the log); the same
/// content sent again is a plain duplicate, and the first version stands throughout.
#[test]
fn an_id_sent_again_with_other_content_is_a_conflict_across_files_and_reopens() {
    let dir = tempfile::tempdir().unwrap();
    let opts = credo_engine::IngestOptions {
        chunk_bytes: 4096,
        keep_errors: 100,
        sender: None,
    };
    let mut first: Vec<u8> = Vec::new();
    for line in subjects().into_iter().chain((0..40).map(good)) {
        first.extend_from_slice(&line);
        first.push(b'\n');
    }
    // Same ids, the content changed in three ways (amount, day, time of day), or written
    // another way with the same meaning (the same instant, the same amount to the fen),
    // which is the same content: a duplicate.
    let again = |i: usize, change: &str| {
        let g = String::from_utf8(good(i)).unwrap();
        let day = format!("2025-01-{:02}", 1 + i % 28);
        match change {
            "amount" => g.replace(&format!(r#""amount":{}"#, 100 + i), r#""amount":7"#),
            "day" => g.replace("2025-01-", "2025-03-"),
            "time" => g.replace(&day, &format!("{day}T08:00:00Z")),
            _ => g.replace(&day, &format!("{day}T08:00:00+08:00")).replace(
                &format!(r#""amount":{}"#, 100 + i),
                &format!(r#""amount":{}.00"#, 100 + i),
            ),
        }
    };
    let mut second: Vec<u8> = Vec::new();
    let mut want = Vec::new();
    for (n, (i, change)) in [
        (5, "amount"),
        (6, "same"),
        (17, "day"),
        (30, "reworded"),
        (31, "time"),
    ]
    .into_iter()
    .enumerate()
    {
        let line = if change == "same" {
            String::from_utf8(good(i)).unwrap()
        } else if change == "reworded" {
            again(i, "reworded")
        } else {
            want.push((n as u64 + 1, "id_conflict"));
            again(i, change)
        };
        second.extend_from_slice(line.as_bytes());
        second.push(b'\n');
    }

    let mut e = open(dir.path());
    let r = e
        .ingest("first.jsonl", &first[..], &opts, &mut |_| {})
        .unwrap();
    assert_eq!((r.accepted, r.rejected), (43, 0), "{:#?}", r.errors);
    let before = e.score(person(2).parse().unwrap(), None).unwrap().card;
    for reopened in [false, true] {
        if reopened {
            drop(e);
            e = open(dir.path());
        }
        let r = e
            .ingest("second.jsonl", &second[..], &opts, &mut |_| {})
            .unwrap();
        let got: Vec<(u64, &str)> = r.errors.iter().map(|x| (x.line, x.code)).collect();
        assert_eq!(got, want, "reopened {reopened}: {:#?}", r.errors);
        assert_eq!((r.accepted, r.duplicates), (0, 2));
        assert_eq!(e.event_count(), 43);
        assert_eq!(
            e.score(person(2).parse().unwrap(), None).unwrap().card,
            before
        );
    }
}

/// Ingest judges a chunk's ids against the dedupe set all at once, before it looks at the
/// subjects; an event rejected for its subject must still leave its id free, so a later
/// line with that id (for a known subject) is new, and everything comes out as if the
/// lines were taken one at a time. Checked with the whole file in one chunk and with a
/// chunk a line.
#[test]
fn an_id_whose_event_was_rejected_for_its_subject_stays_free_within_the_chunk() {
    let line = |id: &str, who: usize, amount: u32| {
        format!(
            r#"{{"id":"{id}","source":"s","subject":"{}","at":"2025-01-02","kind":"payment","amount":{amount}}}"#,
            person(who)
        )
        .into_bytes()
    };
    // People 0 to 2 have subject records; 5 to 7 do not.
    let lines: Vec<Vec<u8>> = subjects()
        .into_iter()
        .chain([
            line("x", 5, 10), // 4: unknown subject
            line("x", 1, 10), // 5: new
            line("x", 1, 10), // 6: duplicate of 5
            line("x", 1, 11), // 7: conflict with 5
            line("y", 6, 10), // 8: unknown subject
            line("y", 6, 10), // 9: unknown subject again
            line("y", 0, 10), // 10: new
            line("z", 0, 10), // 11: new
            line("z", 7, 10), // 12: unknown subject (its content differs from 11)
            line("z", 0, 10), // 13: duplicate of 11
        ])
        .collect();
    let mut text: Vec<u8> = Vec::new();
    for l in &lines {
        text.extend_from_slice(l);
        text.push(b'\n');
    }
    let want = vec![
        (4, "unknown_subject"),
        (7, "id_conflict"),
        (8, "unknown_subject"),
        (9, "unknown_subject"),
        (12, "unknown_subject"),
    ];
    for chunk_bytes in [1 << 20, 1] {
        let dir = tempfile::tempdir().unwrap();
        let opts = credo_engine::IngestOptions {
            chunk_bytes,
            keep_errors: 100,
            sender: None,
        };
        let mut e = open(dir.path());
        let r = e.ingest("x.jsonl", &text[..], &opts, &mut |_| {}).unwrap();
        let got: Vec<(u64, &str)> = r.errors.iter().map(|x| (x.line, x.code)).collect();
        assert_eq!(got, want, "chunk of {chunk_bytes} bytes: {:#?}", r.errors);
        assert_eq!(
            (r.accepted, r.duplicates),
            (6, 2),
            "chunk of {chunk_bytes} bytes"
        );
        assert_eq!(e.event_count(), 6);
        // The same file again: every accepted line is a duplicate now, and the rejected
        // ones are rejected the same way (line 5's version of `x` stands).
        let r = e.ingest("x.jsonl", &text[..], &opts, &mut |_| {}).unwrap();
        let got: Vec<(u64, &str)> = r.errors.iter().map(|x| (x.line, x.code)).collect();
        assert_eq!(got, want, "again, chunk of {chunk_bytes} bytes");
        assert_eq!((r.accepted, r.duplicates), (0, 8));
    }
}

#![allow(clippy::unwrap_used, clippy::expect_used)]
//! Backward compatibility: a data folder written by an earlier version (checked in under
//! `fixtures/v1`, made by its `make.sh` at the commit in its `VERSION`) must open in
//! this one, hold every event it was given exactly as given, verify its audit chain, and
//! derive the same state as ingesting the same input afresh.

mod common;

use credo_engine::wire::parse_line;
use std::path::{Path, PathBuf};

fn fixture() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/v1")
}

fn copy_dir(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).unwrap();
    for e in std::fs::read_dir(from).unwrap() {
        let e = e.unwrap();
        if e.file_type().unwrap().is_dir() {
            copy_dir(&e.path(), &to.join(e.file_name()));
        } else {
            std::fs::copy(e.path(), to.join(e.file_name())).unwrap();
        }
    }
}

const INPUTS: [&str; 4] = [
    "subjects.jsonl",
    "contacts.jsonl",
    "events.jsonl",
    "court.jsonl",
];

#[test]
fn a_folder_written_by_format_v1_opens_with_every_event_as_given() {
    let tmp = tempfile::tempdir().unwrap();
    let old_dir = tmp.path().join("old");
    copy_dir(&fixture().join("data"), &old_dir);
    let old = common::open(&old_dir);

    let ingest: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(fixture().join("ingest.json")).unwrap())
            .unwrap();
    assert_eq!(old.event_count(), ingest["accepted"].as_u64().unwrap());

    let mut lines = 0;
    for name in INPUTS {
        let text = std::fs::read_to_string(fixture().join("input").join(name)).unwrap();
        for line in text.lines() {
            let want = parse_line(line.as_bytes()).unwrap();
            let got = old
                .find_event(want.subject, want.source.as_str(), want.id.as_str())
                .unwrap();
            assert_eq!(got.as_ref(), Some(&want), "{line}");
            lines += 1;
        }
    }
    assert_eq!(lines, old.event_count());

    let audit = credo_engine::access::verify_audit(&old_dir).unwrap();
    assert!(audit.result.is_ok());
    assert_eq!(audit.entries, 1);

    // The same input ingested by this version derives the same state.
    let fresh_dir = tmp.path().join("fresh");
    let mut fresh = common::open(&fresh_dir);
    for name in INPUTS {
        let text = std::fs::read_to_string(fixture().join("input").join(name)).unwrap();
        common::ingest_clean(&mut fresh, &text, 1 << 16);
    }
    // (Each subject's event list points at log offsets, which depend on how the input
    // was cut into batches; the events themselves were compared above.)
    let diff = old.state_diff(&fresh);
    assert!(diff.iter().all(|d| *d == "event lists"), "{diff:?}");
    for name in INPUTS {
        let text = std::fs::read_to_string(fixture().join("input").join(name)).unwrap();
        for line in text.lines() {
            let e = parse_line(line.as_bytes()).unwrap();
            assert_eq!(
                old.score(e.subject, None).unwrap().card,
                fresh.score(e.subject, None).unwrap().card
            );
        }
    }
    let fsck = credo_engine::fsck::fsck(&old_dir, (350, 950)).unwrap();
    assert!(fsck.ok(), "{fsck:?}");
}

#![allow(clippy::unwrap_used, clippy::expect_used, unsafe_code)]
//! A full disk without root: the file-size limit (`RLIMIT_FSIZE`) makes every write past
//! it fail, as a full disk does. Ingest and the audit journal must stop with an error,
//! keep everything acknowledged, and carry on in the same process once there is room:
//! the engine rebuilds its state from the log ([`Engine::recover`]), and the audit chain
//! never moves past an entry that was not written.
//!
//! This file holds one test on purpose: the limit is per process.

mod common;

use credo_access::state::AccessOp;
use credo_engine::access::{AUDIT_FILE, Pending};
use credo_engine::{Engine, IngestOptions};
use credo_model::{Day, SubjectId, Timestamp};

/// Sets the soft file-size limit (`None`: up to the hard limit, no root needed).
fn limit_file_size(bytes: Option<u64>) {
    let mut lim = libc::rlimit {
        rlim_cur: 0,
        rlim_max: 0,
    };
    // SAFETY: plain system calls on a valid struct; SIGXFSZ is ignored so that a write
    // past the limit fails with EFBIG instead of killing the process.
    unsafe {
        libc::signal(libc::SIGXFSZ, libc::SIG_IGN);
        assert_eq!(libc::getrlimit(libc::RLIMIT_FSIZE, &mut lim), 0);
        lim.rlim_cur = bytes.map_or(lim.rlim_max, |b| b.min(lim.rlim_max));
        assert_eq!(libc::setrlimit(libc::RLIMIT_FSIZE, &lim), 0);
    }
}

fn population() -> Vec<Vec<u8>> {
    let g = credo_sim::generate_in_memory(1500, 3).unwrap();
    vec![g.subjects, g.events, g.contacts]
}

fn lines(text: &[u8]) -> u64 {
    text.iter().filter(|&&b| b == b'\n').count() as u64
}

fn grant(subject: SubjectId, party: &str) -> Pending {
    Pending {
        at: Timestamp(1_790_000_000),
        actor: "subject".into(),
        key: None,
        op: AccessOp::ConsentGrant {
            subject,
            party: party.into(),
            purpose: "loan".into(),
            until: Day::from_ymd(2027, 12, 31).unwrap(),
        },
        inquiry: None,
    }
}

#[test]
fn a_full_disk_stops_ingest_and_the_audit_log_and_both_resume_in_the_same_process() {
    let files = population();
    let total: u64 = files.iter().map(|f| lines(f)).sum();
    let dir = tempfile::tempdir().unwrap();
    let mut e = common::open(dir.path());
    common::ingest_clean(&mut e, std::str::from_utf8(&files[0]).unwrap(), 1 << 16);
    let subjects = e.event_count();
    let someone = e.subject_at(0).unwrap();

    // 1. Ingest meets the "full disk" 256 KiB past the log's end.
    let log = dir.path().join("events.log");
    limit_file_size(Some(std::fs::metadata(&log).unwrap().len() + (256 << 10)));
    let opts = IngestOptions {
        chunk_bytes: 32 << 10,
        keep_errors: 10,
        sender: None,
    };
    let mut acked = 0;
    let err = e
        .ingest("events.jsonl", &files[1][..], &opts, &mut |p| {
            acked = p.accepted
        })
        .unwrap_err();
    assert_eq!(err.code(), "storage_io", "{err}");
    assert!(err.to_string().contains("File too large"), "{err}");
    assert!(acked > 0, "some batches were acknowledged before the limit");
    // Acknowledged batches are in the state; the failed one is not.
    assert_eq!(e.event_count(), subjects + acked);

    // 2. Still full: the next ingest rebuilds the state from the log, then fails again,
    //    and loses nothing.
    let err = e
        .ingest("events.jsonl", &files[1][..], &opts, &mut |_| {})
        .unwrap_err();
    assert_eq!(err.code(), "storage_io", "{err}");
    assert!(e.event_count() >= subjects + acked);

    // 3. The audit journal on the full disk: the append fails, the chain stays put.
    let audit = dir.path().join(AUDIT_FILE);
    limit_file_size(Some(std::fs::metadata(&audit).unwrap().len()));
    assert!(e.log_access(vec![grant(someone, "bank-a")]).is_err());

    // 4. Room again: everything resumes without reopening.
    limit_file_size(None);
    let mut resumed = (0, 0);
    for f in &files[1..] {
        let r = e.ingest("again.jsonl", &f[..], &opts, &mut |_| {}).unwrap();
        assert_eq!(r.rejected, 0, "{:?}", r.errors);
        resumed = (resumed.0 + r.accepted, resumed.1 + r.duplicates);
    }
    assert!(
        resumed.1 >= acked,
        "{resumed:?}: every acknowledged event is held"
    );
    assert_eq!(resumed.0 + resumed.1 + subjects, total);
    assert_eq!(e.event_count(), total);
    e.log_access(vec![grant(someone, "bank-b")]).unwrap();
    e.log_access(vec![grant(someone, "bank-c")]).unwrap();
    let v = credo_engine::access::verify_audit(dir.path()).unwrap();
    assert!(v.result.is_ok(), "{:?}", v.result);
    assert_eq!(v.entries, 2, "the failed grant is not in the chain");

    // The recovered state is the state of a reopen, and of the same input ingested
    // with no failure (the event lists' offsets differ, as batches were cut elsewhere).
    let as_of = e.today();
    let reopened_dir = tempfile::tempdir().unwrap();
    let mut clean = common::open(reopened_dir.path());
    for f in &files {
        common::ingest_clean(&mut clean, std::str::from_utf8(f).unwrap(), 1 << 16);
    }
    let diff = e.state_diff(&clean);
    assert!(diff.iter().all(|d| *d == "event lists"), "{diff:?}");
    assert_eq!(e.all_scores(as_of), clean.all_scores(as_of));
    let live_scores = e.all_scores(as_of);
    drop(e);
    let e: Engine = common::open(dir.path());
    assert_eq!(e.event_count(), total);
    assert_eq!(e.all_scores(as_of), live_scores);
    assert!(e.state_diff(&clean).iter().all(|d| *d == "event lists"));
}

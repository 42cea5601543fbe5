//! Helpers shared by the engine's integration tests.
#![allow(dead_code, clippy::unwrap_used)]

use credo_engine::{Clock, Engine, IngestOptions, IngestReport};
use credo_model::Day;
use credo_score::Model;
use std::path::Path;

/// Opens (creating) a data folder whose "today" is 2026-10-31.
pub fn open(dir: &Path) -> Engine {
    Engine::open(
        dir,
        Model::default_model(),
        Some(Clock::Fixed(Day::from_ymd(2026, 10, 31).unwrap())),
    )
    .unwrap()
    .0
}

/// Ingests JSON lines in chunks of `chunk` bytes, keeping up to 100 rejections.
pub fn ingest(e: &mut Engine, text: &str, chunk: usize) -> IngestReport {
    let opts = IngestOptions {
        chunk_bytes: chunk,
        keep_errors: 100,
        sender: None,
    };
    e.ingest("test.jsonl", text.as_bytes(), &opts, &mut |_| {})
        .unwrap()
}

/// Ingests JSON lines that must all be accepted.
pub fn ingest_clean(e: &mut Engine, text: &str, chunk: usize) {
    let r = ingest(e, text, chunk);
    assert_eq!(r.rejected, 0, "{:?}", r.errors);
}

/// A valid resident ID for person `i` (Beijing, born 1980-01-01; `i` below 1,000).
pub fn person(i: usize) -> String {
    let body = format!("11010519800101{:03}", i % 1000);
    let digits: [u8; 17] = std::array::from_fn(|k| body.as_bytes()[k] - b'0');
    format!("{body}{}", credo_model::id::resident_check(&digits))
}

/// The partitions a line goes to: its subject's, and a contact's other end's.
pub fn partitions_of(line: &str, parts: credo_cluster::Partitioning) -> Vec<u32> {
    let v: serde_json::Value = serde_json::from_str(line).unwrap();
    let id = |f: &str| {
        v[f].as_str()
            .map(|s| parts.of(s.parse::<credo_model::SubjectId>().unwrap()))
    };
    let mut out: Vec<u32> = if v["kind"] == "subject" {
        id("id").into_iter().collect()
    } else {
        id("subject").into_iter().chain(id("other")).collect()
    };
    out.dedup();
    out
}

/// Partition `p` of `n` as a cluster node holds it: a folder under `dir` with the lines
/// of `files` that go to it (a subject's, and both ends of a contact).
pub fn partition_folder(dir: &Path, p: u32, n: u32, files: &[&str]) -> Engine {
    let parts = credo_cluster::Partitioning::new(n).unwrap();
    let mut e = open(&dir.join(format!("p{p}")));
    e.set_partition(p, n).unwrap();
    for text in files {
        let mine: String = text
            .lines()
            .filter(|l| partitions_of(l, parts).contains(&p))
            .map(|l| format!("{l}\n"))
            .collect();
        ingest_clean(&mut e, &mine, 1 << 16);
    }
    e
}

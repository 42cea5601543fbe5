#![allow(clippy::unwrap_used, clippy::expect_used)]
//! Kill the real `credo` process with SIGKILL during ingest, again and again, and prove
//! that nothing acknowledged is lost, nothing is duplicated, and the state after all the
//! crashes equals the state of one clean ingest.
//!
//! CREDO_CRASH_CYCLES sets the number of kill cycles (default 8; the reliability run uses 100).

use std::io::{BufRead, BufReader};
use std::path::Path;
use std::process::{Command, Stdio};

fn credo(data: &Path) -> Command {
    let mut c = Command::new(env!("CARGO_BIN_EXE_credo"));
    c.arg("--data").arg(data);
    c
}

fn json(out: std::process::Output) -> serde_json::Value {
    assert!(
        out.status.success(),
        "credo failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_slice(&out.stdout).unwrap()
}

fn line_count(p: &Path) -> u64 {
    std::fs::read(p)
        .unwrap()
        .iter()
        .filter(|&&b| b == b'\n')
        .count() as u64
}

#[test]
fn sigkill_during_ingest_loses_nothing_acknowledged() {
    let dir = tempfile::tempdir().unwrap();
    let pop = dir.path().join("pop");
    let out = Command::new(env!("CARGO_BIN_EXE_credo"))
        .args(["generate", "--people", "3000", "--seed", "5", "--out"])
        .arg(&pop)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let files = ["subjects.jsonl", "contacts.jsonl", "events.jsonl"];
    let sizes: Vec<u64> = files.iter().map(|f| line_count(&pop.join(f))).collect();
    let total: u64 = sizes.iter().sum();
    let bytes: u64 = files
        .iter()
        .map(|f| std::fs::metadata(pop.join(f)).unwrap().len())
        .sum();
    let data = dir.path().join("data");
    let cycles: u64 = std::env::var("CREDO_CRASH_CYCLES")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(8);
    let mut rng = 0x9E37_79B9_7F4A_7C15u64;
    let mut kills = 0;
    let mut interrupted = 0;
    let mut torn = 0;
    let mut max_acked = 0;
    for cycle in 0..cycles {
        let mut child = credo(&data)
            .args(["ingest", "--progress-json", "--batch-bytes", "32768"])
            .args(files.iter().map(|f| pop.join(f)))
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        rng ^= rng << 13;
        rng ^= rng >> 7;
        rng ^= rng << 17;
        // Anywhere in the run: the batches are about 32 KiB of input each.
        let kill_after = 1 + rng % (bytes / 32768 + 1);
        let mut acked: u64 = 0; // events durable by the last acknowledgement read
        let mut seen = 0;
        let stdout = BufReader::new(child.stdout.take().unwrap());
        for line in stdout.lines() {
            let Ok(line) = line else { break };
            let v: serde_json::Value = serde_json::from_str(&line).unwrap();
            if v.get("acked_line").is_none() {
                continue; // the final report
            }
            let file = v["file"].as_str().unwrap();
            let idx = files.iter().position(|f| file.ends_with(f)).unwrap();
            acked = sizes[..idx].iter().sum::<u64>() + v["acked_line"].as_u64().unwrap();
            seen += 1;
            if seen == kill_after {
                child.kill().unwrap(); // SIGKILL
                kills += 1;
                break;
            }
        }
        let _ = child.wait();
        let out = credo(&data).args(["summary", "--json"]).output().unwrap();
        if String::from_utf8_lossy(&out.stderr).contains("torn batch") {
            torn += 1;
        }
        let s = json(out);
        let events = s["events"].as_u64().unwrap();
        assert!(
            events >= acked,
            "cycle {cycle}: {events} events in the log but {acked} were acknowledged"
        );
        assert!(
            events <= total,
            "cycle {cycle}: {events} events, more than the {total} lines given"
        );
        if events < total {
            interrupted += 1;
        }
        max_acked = max_acked.max(acked);
    }
    eprintln!(
        "{cycles} cycles, {kills} SIGKILLs, {interrupted} left the log short of the input, {torn} left a torn tail; \
         at most {max_acked} of {total} events acknowledged before a kill"
    );
    assert!(
        kills > 0 && interrupted > 0,
        "no cycle was killed mid-ingest"
    );
    // Finish the job, then compare with one clean ingest of the same files.
    let fin = json(
        credo(&data)
            .arg("ingest")
            .arg("--json")
            .args(files.iter().map(|f| pop.join(f)))
            .output()
            .unwrap(),
    );
    assert_eq!(fin["rejected"], 0);
    assert_eq!(
        fin["accepted"].as_u64().unwrap() + fin["duplicates"].as_u64().unwrap(),
        total
    );
    let clean = dir.path().join("clean");
    json(
        credo(&clean)
            .arg("ingest")
            .arg("--json")
            .args(files.iter().map(|f| pop.join(f)))
            .output()
            .unwrap(),
    );
    let a = json(
        credo(&data)
            .args(["summary", "--json", "--as-of", "2026-10-31"])
            .output()
            .unwrap(),
    );
    let b = json(
        credo(&clean)
            .args(["summary", "--json", "--as-of", "2026-10-31"])
            .output()
            .unwrap(),
    );
    assert_eq!(
        a["events"].as_u64().unwrap(),
        total,
        "every event exactly once"
    );
    for k in [
        "subjects",
        "events",
        "events_by_kind",
        "contact_edges",
        "score",
        "bands",
        "tiers",
        "with_unpaid_judgments",
    ] {
        assert_eq!(
            a[k], b[k],
            "{k} differs between the crashed and the clean folder"
        );
    }
}

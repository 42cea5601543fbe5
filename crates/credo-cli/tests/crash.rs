#![allow(clippy::unwrap_used, clippy::expect_used)]
//! Kill the real `credo` process with SIGKILL during ingest, again and again, and prove
//! that nothing acknowledged is lost, nothing is duplicated, and the state after all the
//! crashes equals the state of one clean ingest.
//!
//! CREDO_CRASH_CYCLES sets the number of kill cycles (default 8; the reliability run uses 100).

mod common;

use common::{credo, free_port, generate, http, json, key};
use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

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
    generate(3000, 5, &pop);
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
    let a = same_as_clean(
        &data,
        &dir.path().join("clean"),
        &files.iter().map(|f| pop.join(f)).collect::<Vec<_>>(),
        &[
            "subjects",
            "events",
            "events_by_kind",
            "contact_edges",
            "score",
            "bands",
            "tiers",
            "with_unpaid_judgments",
        ],
    );
    assert_eq!(
        a["events"].as_u64().unwrap(),
        total,
        "every event exactly once"
    );
}

/// Ingests `inputs` into the fresh folder `clean`, then requires `data`'s summary (as of
/// 2026-10-31) to equal `clean`'s on `keys`: a folder that was killed again and again
/// must hold what one that never was holds. Returns `data`'s summary.
fn same_as_clean(
    data: &Path,
    clean: &Path,
    inputs: &[PathBuf],
    keys: &[&str],
) -> serde_json::Value {
    json(
        credo(clean)
            .args(["ingest", "--json"])
            .args(inputs)
            .output()
            .unwrap(),
    );
    let summary = |d: &Path| {
        json(
            credo(d)
                .args(["summary", "--json", "--as-of", "2026-10-31"])
                .output()
                .unwrap(),
        )
    };
    let (a, b) = (summary(data), summary(clean));
    for k in keys {
        assert_eq!(
            a[k], b[k],
            "{k} differs between the crashed and the clean folder"
        );
    }
    a
}

/// The server killed with SIGKILL at random moments while a furnisher posts events and
/// a relying party asks questions (each answer an audit-logged inquiry). After every
/// kill: every event the server acknowledged (HTTP 200) is in the log, none twice, the
/// audit chain verifies and `fsck` is clean. The client retries what was not
/// acknowledged, as a furnisher would; at the end every event is there exactly once and
/// the folder equals one clean ingest of the same lines.
#[test]
fn sigkill_while_serving_loses_nothing_acknowledged_and_keeps_the_audit_chain() {
    let dir = tempfile::tempdir().unwrap();
    let pop = dir.path().join("pop");
    generate(300, 9, &pop);
    let data = dir.path().join("data");
    json(
        credo(&data)
            .args(["ingest", "--json"])
            .arg(pop.join("subjects.jsonl"))
            .output()
            .unwrap(),
    );
    let ids: Vec<String> = std::fs::read_to_string(pop.join("subjects.jsonl"))
        .unwrap()
        .lines()
        .map(|l| {
            serde_json::from_str::<serde_json::Value>(l).unwrap()["id"]
                .as_str()
                .unwrap()
                .to_string()
        })
        .collect();
    let furnisher = key(&data, "furnisher", "bank");
    let shop = key(&data, "relying_party", "shop");
    let cycles: u64 = std::env::var("CREDO_SERVE_CRASH_CYCLES")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(6);
    let line = |n: u64| {
        format!(
            r#"{{"id":"p{n}","source":"bank","subject":"{}","at":"2026-0{}-1{}","kind":"payment","amount":{}}}"#,
            ids[(n as usize * 7) % ids.len()],
            1 + n % 9,
            n % 10,
            10 + n % 500
        ) + "\n"
    };
    let mut rng = 0x2545_F491_4F6C_DD1Du64;
    let mut next = |m: u64| {
        rng ^= rng << 13;
        rng ^= rng >> 7;
        rng ^= rng << 17;
        rng % m
    };
    let mut sent_upto = 0u64; // lines p0..sent_upto have been offered at least once
    let mut pending: Vec<u64> = Vec::new(); // offered but not acknowledged
    let mut acked = std::collections::BTreeSet::new();
    let (mut kills, mut lost_requests, mut answers) = (0, 0, 0);
    for cycle in 0..cycles {
        let port = free_port();
        let mut child = credo(&data)
            .args(["serve", "--listen", &format!("127.0.0.1:{port}")])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        let t0 = std::time::Instant::now();
        while http(port, "GET", "/healthz", "", "").is_none() {
            assert!(
                t0.elapsed().as_secs() < 60,
                "cycle {cycle}: the server did not start"
            );
            std::thread::sleep(std::time::Duration::from_millis(20));
        }
        // The kill comes from another thread at a random moment, mid-request or not.
        let pid = child.id();
        let delay = 20 + next(400);
        let killer = std::thread::spawn(move || {
            std::thread::sleep(std::time::Duration::from_millis(delay));
            let _ = Command::new("kill").args(["-9", &pid.to_string()]).status();
        });
        loop {
            // Retry what was not acknowledged first, then new lines.
            let mut batch: Vec<u64> = std::mem::take(&mut pending);
            while batch.len() < 40 {
                batch.push(sent_upto);
                sent_upto += 1;
            }
            let body: String = batch.iter().map(|&n| line(n)).collect();
            match http(port, "POST", "/v1/events", &furnisher, &body) {
                Some((200, resp)) => {
                    let r: serde_json::Value = serde_json::from_str(&resp).unwrap();
                    assert_eq!(r["rejected"], 0, "{resp}");
                    acked.extend(batch);
                }
                Some((status, resp)) => panic!("cycle {cycle}: {status} {resp}"),
                None => {
                    lost_requests += 1;
                    pending = batch;
                    break;
                }
            }
            let who = &ids[next(ids.len() as u64) as usize];
            match http(
                port,
                "GET",
                &format!("/v1/subjects/{who}/check/rail_g"),
                &shop,
                "",
            ) {
                Some((200, _)) => answers += 1,
                Some((status, resp)) => panic!("cycle {cycle}: check {status} {resp}"),
                None => break,
            }
        }
        killer.join().unwrap();
        let _ = child.wait();
        kills += 1;
        // Offline, after the crash: everything acknowledged is there, nothing twice.
        let s = json(credo(&data).args(["summary", "--json"]).output().unwrap());
        let payments = s["events_by_kind"]["payment"].as_u64().unwrap_or(0);
        assert!(
            payments >= acked.len() as u64 && payments <= sent_upto,
            "cycle {cycle}: {payments} payments logged, {} acknowledged, {sent_upto} offered",
            acked.len()
        );
        let v = credo(&data).args(["audit", "verify"]).output().unwrap();
        assert!(
            v.status.success(),
            "cycle {cycle}: {}",
            String::from_utf8_lossy(&v.stdout)
        );
        let f = credo(&data).args(["fsck"]).output().unwrap();
        assert!(
            f.status.success(),
            "cycle {cycle}: {}",
            String::from_utf8_lossy(&f.stdout)
        );
    }
    eprintln!(
        "{cycles} server kills: {} events acknowledged, {lost_requests} requests cut by a kill, {answers} audited answers",
        acked.len()
    );
    assert_eq!(kills, cycles);
    assert!(
        !acked.is_empty() && answers > 0,
        "the server answered nothing before the kills"
    );
    // Deliver the rest offline; then every offered line is there exactly once.
    let rest: String = pending.iter().map(|&n| line(n)).collect();
    let rest_file = dir.path().join("rest.jsonl");
    std::fs::write(&rest_file, rest).unwrap();
    json(
        credo(&data)
            .args(["ingest", "--json"])
            .arg(&rest_file)
            .output()
            .unwrap(),
    );
    let all: String = (0..sent_upto).map(line).collect();
    let all_file = dir.path().join("all.jsonl");
    std::fs::write(&all_file, all).unwrap();
    let again = json(
        credo(&data)
            .args(["ingest", "--json"])
            .arg(&all_file)
            .output()
            .unwrap(),
    );
    assert_eq!(
        again["accepted"], 0,
        "every offered line was already held: {again}"
    );
    assert_eq!(again["duplicates"].as_u64().unwrap(), sent_upto);
    same_as_clean(
        &data,
        &dir.path().join("clean"),
        &[pop.join("subjects.jsonl"), all_file],
        &[
            "subjects",
            "events",
            "events_by_kind",
            "score",
            "bands",
            "tiers",
        ],
    );
}

#![allow(clippy::unwrap_used, clippy::expect_used)]
//! A peer process that dies in the middle of a job (SIGKILL) fails the job on the others
//! with an error, soon, instead of leaving them waiting or panicking the caller. The
//! peers are this test binary again (`child_entry`, run with `FLOW_CHILD`).

use credo_flow::{Owner, Share};
use credo_graph::Params;
use std::sync::Arc;
use std::time::{Duration, Instant};

/// Slow to converge: the job is still running when the peer is killed.
const PARAMS: Params = Params {
    damping: 0.999,
    tolerance: 1e-300,
    max_iterations: 1_000_000,
};
const SUBJECTS: u32 = 30_000;

fn owner(workers: usize) -> Owner {
    Arc::new(move |k: u128| (k % workers as u128) as usize)
}

/// Worker `p`'s third of a ring with chords.
fn share(p: usize) -> Share {
    let mut s = Share::default();
    for i in (0..SUBJECTS).filter(|&i| (i % 3) as usize == p) {
        s.keys.push(u128::from(i));
        s.own.push(f64::from(i % 100) / 100.0);
        s.contacts.push(
            [1u32, 7, 101]
                .iter()
                .map(|d| u128::from((i + d) % SUBJECTS))
                .collect(),
        );
    }
    s
}

/// A peer, when run as one; a no-op otherwise.
#[test]
fn child_entry() {
    let Ok(p) = std::env::var("FLOW_CHILD") else {
        return;
    };
    let p: usize = p.parse().unwrap();
    let addresses = std::env::var("FLOW_ADDRS")
        .unwrap()
        .split(',')
        .map(String::from)
        .collect();
    let _ = credo_flow::run_process(p, addresses, share(p), owner(3), PARAMS);
}

#[test]
fn a_peer_killed_mid_job_fails_the_job_on_the_others() {
    if std::env::var("FLOW_CHILD").is_ok() {
        return;
    }
    let addresses: Vec<String> = (0..3)
        .map(|_| {
            let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
            format!("127.0.0.1:{}", l.local_addr().unwrap().port())
        })
        .collect();
    let exe = std::env::current_exe().unwrap();
    let mut peers: Vec<_> = (1..3)
        .map(|p| {
            std::process::Command::new(&exe)
                .args(["--exact", "child_entry", "--nocapture"])
                .env("FLOW_CHILD", p.to_string())
                .env("FLOW_ADDRS", addresses.join(","))
                .stdout(std::process::Stdio::null())
                .stderr(std::process::Stdio::null())
                .spawn()
                .unwrap()
        })
        .collect();
    let a = addresses.clone();
    let job = std::thread::spawn(move || credo_flow::run_process(0, a, share(0), owner(3), PARAMS));
    // Connected and sweeping by then (the job takes far longer than this).
    std::thread::sleep(Duration::from_secs(3));
    assert!(
        !job.is_finished(),
        "the job ended before the peer was killed"
    );
    peers[1].kill().unwrap();
    let t = Instant::now();
    while !job.is_finished() {
        assert!(
            t.elapsed() < Duration::from_secs(60),
            "still waiting 60 s after the peer died"
        );
        std::thread::sleep(Duration::from_millis(100));
    }
    let got = job.join().expect("run_process panicked instead of failing");
    assert!(got.is_err(), "the job finished without its peer: {got:?}");
    for mut p in peers {
        let _ = p.kill();
        let _ = p.wait();
    }
}

/// A peer that never connects (it said it was ready, then died) fails the job within the
/// time given, on a process that waits for it and on one that must connect to it, and
/// leaves the listening port free for the next round.
#[test]
fn a_peer_that_never_connects_fails_the_job_within_the_limit() {
    if std::env::var("FLOW_CHILD").is_ok() {
        return;
    }
    let free = || {
        let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        format!("127.0.0.1:{}", l.local_addr().unwrap().port())
    };
    let addresses: Vec<String> = (0..3).map(|_| free()).collect();
    let within = Duration::from_secs(2);
    // Process 0 waits for 1 and 2; process 2 connects to 0 and to 1; nobody is 1.
    let run = |p: usize| {
        let a = addresses.clone();
        std::thread::spawn(move || {
            let t = Instant::now();
            let got = credo_flow::run_process_within(p, a, share(p), owner(3), PARAMS, within);
            (got, t.elapsed())
        })
    };
    let (zero, two) = (run(0), run(2));
    for (p, job) in [(0, zero), (2, two)] {
        let (got, took) = job.join().expect("run_process panicked instead of failing");
        let err = got.expect_err("the job ran without its peer");
        assert!(err.to_string().contains("within 2 s"), "process {p}: {err}");
        assert!(took < Duration::from_secs(10), "process {p} took {took:?}");
    }
    // The port is free again: the next round's process 0 can listen on it.
    std::net::TcpListener::bind(addresses[0].as_str()).expect("the port is still held");
}

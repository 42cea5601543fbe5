#![allow(clippy::unwrap_used, clippy::expect_used)]
//! The dataflow job against the naive loop (`credo_graph::reference::propagate`): on
//! random graphs split over 1 to 4 worker threads, and over 3 processes talking TCP
//! on 127.0.0.1, every term and every contacts' mean is within the tolerance's bound.

use credo_flow::{Owner, Share};
use credo_graph::Params;
use proptest::prelude::*;
use std::collections::BTreeSet;
use std::sync::Arc;

const PARAMS: Params = Params {
    damping: 0.5,
    tolerance: 1e-10,
    max_iterations: 500,
};

/// Keys far from node numbers, so that a mix-up of index and key shows.
fn key(i: u32) -> u128 {
    u128::from(i).wrapping_mul(0x9E37_79B9_7F4A_7C15_F39C_C060_5CED_C835) >> 1
}

fn owner(workers: usize) -> Owner {
    Arc::new(move |k: u128| (k % workers as u128) as usize)
}

fn shares(adj: &[BTreeSet<u32>], own: &[f64], workers: usize) -> Vec<Share> {
    let owner = owner(workers);
    let mut shares = vec![Share::default(); workers];
    for (i, nb) in adj.iter().enumerate() {
        let k = key(i as u32);
        let s = &mut shares[owner(k)];
        s.keys.push(k);
        s.own.push(own[i]);
        s.contacts.push(nb.iter().map(|&j| key(j)).collect());
    }
    shares
}

fn graph() -> impl Strategy<Value = (Vec<BTreeSet<u32>>, Vec<f64>)> {
    (1usize..120).prop_flat_map(|n| {
        (
            proptest::collection::vec((0..n as u32, 0..n as u32), 0..n * 4),
            proptest::collection::vec(0.0f64..1.0, n),
        )
            .prop_map(move |(edges, own)| {
                let mut adj = vec![BTreeSet::new(); n];
                for (a, b) in edges {
                    if a != b {
                        adj[a as usize].insert(b);
                        adj[b as usize].insert(a);
                    }
                }
                (adj, own)
            })
    })
}

/// Every worker's outcome against the reference, by key.
fn check(adj: &[BTreeSet<u32>], own: &[f64], shares: &[Share], outs: &[credo_flow::Outcome]) {
    let (x, mean) = credo_graph::reference::propagate(adj, own, PARAMS.damping, PARAMS.tolerance);
    // Both stop within tolerance·a/(1−a) of the one fixed point.
    let bound = 2.0 * PARAMS.tolerance * PARAMS.damping / (1.0 - PARAMS.damping) + 1e-12;
    let mut seen = 0;
    for (share, out) in shares.iter().zip(outs) {
        assert!(out.converged);
        for (j, &k) in share.keys.iter().enumerate() {
            let i = (0..adj.len() as u32).find(|&i| key(i) == k).unwrap() as usize;
            assert!(
                (out.values[j] - x[i]).abs() <= bound,
                "node {i}: {} vs {}",
                out.values[j],
                x[i]
            );
            match (out.contacts[j], mean[i]) {
                (None, None) => {}
                (Some(a), Some(b)) => assert!((a - b).abs() <= bound, "node {i}: mean {a} vs {b}"),
                (a, b) => panic!("node {i}: mean {a:?} vs {b:?}"),
            }
            seen += 1;
        }
    }
    assert_eq!(seen, adj.len());
    // Every worker saw the same residual, so all stopped after the same sweep.
    assert!(outs.windows(2).all(|w| w[0].iterations == w[1].iterations));
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(24))]

    #[test]
    fn threads_agree_with_the_naive_loop((adj, own) in graph(), workers in 1usize..=4) {
        let shares = shares(&adj, &own, workers);
        let outs = credo_flow::run_threads(shares.clone(), owner(workers), PARAMS).unwrap();
        check(&adj, &own, &shares, &outs);
    }
}

/// Every outcome by key: its term, its contacts' mean, and the sweeps it took.
fn by_key(shares: &[Share], outs: &[credo_flow::Outcome]) -> Vec<(u128, u64, Option<u64>, u32)> {
    let mut all: Vec<_> = shares
        .iter()
        .zip(outs)
        .flat_map(|(share, out)| {
            share.keys.iter().enumerate().map(|(j, &k)| {
                (
                    k,
                    out.values[j].to_bits(),
                    out.contacts[j].map(f64::to_bits),
                    out.iterations,
                )
            })
        })
        .collect();
    all.sort_unstable();
    all
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(16))]

    /// The sums are exact (fixed point), so how the subjects are split does not change
    /// a single bit of the outcome.
    #[test]
    fn the_split_does_not_change_a_bit((adj, own) in graph(), workers in 2usize..=4) {
        let one = shares(&adj, &own, 1);
        let alone = credo_flow::run_threads(one.clone(), owner(1), PARAMS).unwrap();
        let split = shares(&adj, &own, workers);
        let outs = credo_flow::run_threads(split.clone(), owner(workers), PARAMS).unwrap();
        prop_assert_eq!(by_key(&one, &alone), by_key(&split, &outs));
    }
}

/// Rounds after the first carry only the terms that moved: a component whose standings
/// are all equal is at its fixed point from the start and sends nothing after round 0,
/// however long the rest takes.
#[test]
fn terms_that_do_not_move_send_nothing() {
    // Nodes 0..100: a path with varied standings; 100..300: a ring, all standings 0.25.
    let n = 300;
    let mut adj = vec![BTreeSet::new(); n];
    for i in 0..99 {
        adj[i].insert(i as u32 + 1);
        adj[i + 1].insert(i as u32);
    }
    for i in 100..300 {
        let j = if i == 299 { 100 } else { i + 1 };
        adj[i].insert(j as u32);
        adj[j].insert(i as u32);
    }
    let own: Vec<f64> = (0..n)
        .map(|i| {
            if i < 100 {
                (i % 10) as f64 / 10.0
            } else {
                0.25
            }
        })
        .collect();
    let entries: u64 = adj.iter().map(|a| a.len() as u64).sum();
    let path_entries: u64 = adj[..100].iter().map(|a| a.len() as u64).sum();
    for workers in [1, 3] {
        let shares = shares(&adj, &own, workers);
        let outs = credo_flow::run_threads(shares.clone(), owner(workers), PARAMS).unwrap();
        check(&adj, &own, &shares, &outs);
        let sweeps = u64::from(outs[0].iterations);
        assert!(sweeps > 10, "the path took {sweeps} sweeps");
        let changes: u64 = outs.iter().map(|o| o.changes).sum();
        let visits: u64 = outs.iter().map(|o| o.edge_visits).sum();
        // Only the path's 100 terms ever move, and the join reads only their contacts.
        assert!(
            changes <= 100 * sweeps,
            "{changes} changes in {sweeps} sweeps"
        );
        assert!(changes >= 100, "{changes} changes");
        assert!(
            visits <= entries + path_entries * sweeps,
            "{visits} visits, {entries} entries, {sweeps} sweeps"
        );
    }
    // All equal: nothing moves at all, one sweep finds a residual of 0.
    let flat = vec![0.25; n];
    let shares = shares(&adj, &flat, 2);
    let outs = credo_flow::run_threads(shares.clone(), owner(2), PARAMS).unwrap();
    check(&adj, &flat, &shares, &outs);
    for o in &outs {
        assert_eq!((o.iterations, o.residual, o.changes), (1, 0.0, 0));
    }
    assert_eq!(outs.iter().map(|o| o.edge_visits).sum::<u64>(), entries);
}

/// Partial sums are combined before the exchange: on a star whose leaves are all held by
/// one worker, that worker sends the hub one record per sweep, not one per leaf.
#[test]
fn partial_sums_are_combined_before_the_exchange() {
    let n = 201;
    let mut adj = vec![BTreeSet::new(); n];
    for leaf in 1..n as u32 {
        adj[0].insert(leaf);
        adj[leaf as usize].insert(0);
    }
    let own: Vec<f64> = (0..n).map(|i| (i % 7) as f64 / 7.0).collect();
    // Worker 0 holds the hub, worker 1 every leaf.
    let hub = key(0);
    let owner: Owner = Arc::new(move |k| usize::from(k != hub));
    let mut shares = vec![Share::default(), Share::default()];
    for (i, nb) in adj.iter().enumerate() {
        let s = &mut shares[usize::from(i != 0)];
        s.keys.push(key(i as u32));
        s.own.push(own[i]);
        s.contacts.push(nb.iter().map(|&j| key(j)).collect());
    }
    let outs = credo_flow::run_threads(shares.clone(), owner, PARAMS).unwrap();
    check(&adj, &own, &shares, &outs);
    // Per sweep and the final pass: one partial sum, plus one residual per worker.
    let sweeps = u64::from(outs[1].iterations);
    assert_eq!(outs[1].records_sent, (sweeps + 1) + 2 * sweeps);
}

#[test]
fn bad_shares_are_refused() {
    let mut s = Share {
        keys: vec![1, 1],
        own: vec![0.5, 0.5],
        contacts: vec![vec![], vec![]],
    };
    let err = credo_flow::run_threads(vec![s.clone()], owner(1), PARAMS).unwrap_err();
    assert_eq!(err, credo_flow::FlowError::DuplicateKey(1));
    s.keys = vec![1, 2];
    s.own[1] = 2e12;
    assert!(matches!(
        credo_flow::run_threads(vec![s.clone()], owner(1), PARAMS).unwrap_err(),
        credo_flow::FlowError::OutOfRange { key: 2, .. }
    ));
    s.own[1] = f64::NAN;
    assert!(matches!(
        credo_flow::run_threads(vec![s], owner(1), PARAMS).unwrap_err(),
        credo_flow::FlowError::NotFinite { key: 2, .. }
    ));
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// Three processes' workers, each with its own timely instance over TCP (as three nodes
/// run it); run here as three threads of the test, each with its own sockets.
#[test]
fn processes_over_tcp_agree_with_the_naive_loop() {
    let n = 3000u32;
    // A ring with chords: every node has contacts on the other workers.
    let mut adj = vec![BTreeSet::new(); n as usize];
    for i in 0..n {
        for d in [1, 7, 101] {
            let j = (i + d) % n;
            adj[i as usize].insert(j);
            adj[j as usize].insert(i);
        }
    }
    let own: Vec<f64> = (0..n).map(|i| f64::from(i * 37 % 100) / 100.0).collect();
    let shares = shares(&adj, &own, 3);
    let addresses: Vec<String> = (0..3)
        .map(|_| format!("127.0.0.1:{}", free_port()))
        .collect();
    let handles: Vec<_> = shares
        .iter()
        .cloned()
        .enumerate()
        .map(|(p, share)| {
            let addresses = addresses.clone();
            std::thread::spawn(move || {
                credo_flow::run_process(p, addresses, share, owner(3), PARAMS).unwrap()
            })
        })
        .collect();
    let outs: Vec<_> = handles.into_iter().map(|h| h.join().unwrap()).collect();
    check(&adj, &own, &shares, &outs);
}

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

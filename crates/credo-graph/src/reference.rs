//! Naive recomputations that the tests hold the fast paths to: adjacency as a vector of
//! sets, one plain loop per sweep, and a breadth-first search over the same sets.

use std::collections::{BTreeSet, VecDeque};

/// Adjacency sets, without self-loops or repeats.
pub fn adjacency(n: usize, edges: &[[u32; 2]]) -> Vec<BTreeSet<u32>> {
    let mut adj = vec![BTreeSet::new(); n];
    for &[a, b] in edges {
        if a != b {
            adj[a as usize].insert(b);
            adj[b as usize].insert(a);
        }
    }
    adj
}

/// The propagation by a plain loop, to `tolerance`: (terms, contacts' means).
pub fn propagate(
    adj: &[BTreeSet<u32>],
    own: &[f64],
    damping: f64,
    tolerance: f64,
) -> (Vec<f64>, Vec<Option<f64>>) {
    let mut x = own.to_vec();
    loop {
        let mut next = x.clone();
        let mut moved = 0.0f64;
        for i in 0..adj.len() {
            if adj[i].is_empty() {
                next[i] = own[i];
            } else {
                let mut sum = 0.0;
                for &j in &adj[i] {
                    sum += x[j as usize];
                }
                next[i] = (1.0 - damping) * own[i] + damping * sum / adj[i].len() as f64;
            }
            moved = moved.max((next[i] - x[i]).abs());
        }
        x = next;
        if moved <= tolerance {
            break;
        }
    }
    let mean = adj
        .iter()
        .map(|nb| {
            (!nb.is_empty())
                .then(|| nb.iter().map(|&j| x[j as usize]).sum::<f64>() / nb.len() as f64)
        })
        .collect();
    (x, mean)
}

/// Every node within `k` hops of `start` (itself excluded), with its distance.
pub fn within_hops(adj: &[BTreeSet<u32>], start: u32, k: u8) -> Vec<(u32, u8)> {
    let mut dist = vec![u8::MAX; adj.len()];
    dist[start as usize] = 0;
    let mut queue = VecDeque::from([start]);
    let mut out = Vec::new();
    while let Some(v) = queue.pop_front() {
        let d = dist[v as usize];
        if d == k {
            continue;
        }
        for &w in &adj[v as usize] {
            if dist[w as usize] == u8::MAX {
                dist[w as usize] = d + 1;
                out.push((w, d + 1));
                queue.push_back(w);
            }
        }
    }
    out
}

//! A debtor's circle: contacts within k hops, by breadth-first search on the rows.

use crate::{Csr, GraphError};

/// Nodes within `k` hops of `start` (itself excluded), nearest first, with their hop count,
/// by the caller's ids; at most `cap` of them. Also returns whether the cap cut the search.
pub fn within_hops(
    g: &Csr,
    start: u32,
    k: u8,
    cap: usize,
) -> Result<(Vec<(u32, u8)>, bool), GraphError> {
    let s = g.internal(start).ok_or(GraphError::NoNode(start))?;
    let mut seen = vec![0u64; g.nodes().div_ceil(64)];
    let mark = |seen: &mut [u64], i: u32| {
        let (w, b) = (i as usize / 64, 1u64 << (i % 64));
        let new = seen[w] & b == 0;
        seen[w] |= b;
        new
    };
    mark(&mut seen, s);
    let mut out: Vec<(u32, u8)> = Vec::new();
    let mut frontier = vec![s];
    for hop in 1..=k {
        let mut next = Vec::new();
        for &v in &frontier {
            for &w in g.row(v as usize) {
                if mark(&mut seen, w) {
                    if out.len() == cap {
                        return Ok((out, true));
                    }
                    out.push((g.external(w), hop));
                    next.push(w);
                }
            }
        }
        if next.is_empty() {
            break;
        }
        frontier = next;
    }
    Ok((out, false))
}

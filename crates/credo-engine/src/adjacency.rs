//! Each subject's contacts as lists, built from the edge sets when first asked for and
//! kept until an edge changes: a notice plan's hops ([`crate::Engine::contacts_of`]) and a
//! cluster job's share ([`crate::Engine::contact_share`]) read them.
//!
//! The edge sets (`Core::edges`, `Core::remote_edges`) answer "is this contact there?"
//! for ingest; they cannot answer "whose contacts are these?" without a scan of every
//! edge, which a plan of three hops did three times over a partition's whole graph.
//!
//! Cost: one pass over the edge sets to build; while kept, 4 bytes a direction of a
//! whole edge and 16 a half-edge, plus 16 a subject. A partition that keeps taking
//! contacts drops the lists at each change, so under that churn a plan builds them once
//! (not once per hop); between changes they are reused.

use credo_model::SubjectId;
use rustc_hash::FxHashSet;

/// Contacts by subject number, as compressed rows: whole edges as local numbers (no
/// self-loops, 4 bytes a direction), half-edges as they are kept ([`half_edge`], 16 bytes).
#[derive(Debug, Default)]
pub(crate) struct Adjacency {
    local: Rows<u32>,
    remote: Rows<u128>,
}

#[derive(Debug, Default)]
struct Rows<T> {
    start: Vec<usize>,
    items: Vec<T>,
}

impl<T: Copy + Default> Rows<T> {
    /// Rows over `n` subjects from (subject, item) pairs; pairs outside are left out.
    fn build<I: Iterator<Item = (u32, T)> + Clone>(n: usize, pairs: I) -> Rows<T> {
        let mut start = vec![0usize; n + 1];
        for (s, _) in pairs.clone() {
            if let Some(c) = start.get_mut(s as usize + 1) {
                *c += 1;
            }
        }
        for i in 1..=n {
            start[i] += start[i - 1];
        }
        let mut fill = start.clone();
        let mut items = vec![T::default(); start[n]];
        for (s, x) in pairs {
            if (s as usize) < n {
                items[fill[s as usize]] = x;
                fill[s as usize] += 1;
            }
        }
        Rows { start, items }
    }

    fn row(&self, s: u32) -> &[T] {
        let s = s as usize;
        match (self.start.get(s), self.start.get(s + 1)) {
            (Some(&a), Some(&b)) => &self.items[a..b],
            _ => &[],
        }
    }
}

/// A subject key's company tag ([`SubjectId::key`]: bit 127), and where a half-edge keeps
/// it (bit 95).
const COMPANY_KEY: u128 = 1 << 127;
const COMPANY_HALF: u128 = 1 << 95;

/// A half-edge (local end, the other end's ID) in 16 bytes, as `Core::remote_edges` keeps
/// it: the local number in the top 32 bits, the ID's key below. A person's key is its
/// digits (under 2^64), a company's its 17 base-31 characters (under 2^85), so the key
/// fits in 96 bits with the company tag moved to bit 95. A `(u32, SubjectId)` pair took
/// 48 bytes a slot, and a cluster partition holds nearly all its contacts as half-edges.
pub(crate) fn half_edge(local: u32, id: SubjectId) -> u128 {
    let k = id.key();
    let k = if k & COMPANY_KEY != 0 {
        (k & !COMPANY_KEY) | COMPANY_HALF
    } else {
        k
    };
    (u128::from(local) << 96) | k
}

/// The two ends of a [`half_edge`]. The key came from a validated ID, so it is not
/// validated again (`SubjectId::from_trusted_key`, as `Subjects::id` reads its keys).
pub(crate) fn half_edge_ends(h: u128) -> (u32, SubjectId) {
    let local = (h >> 96) as u32;
    let k = h & ((1u128 << 96) - 1);
    let k = if k & COMPANY_HALF != 0 {
        (k & !COMPANY_HALF) | COMPANY_KEY
    } else {
        k
    };
    (local, SubjectId::from_trusted_key(k))
}

impl Adjacency {
    /// From undirected edges (low << 32 | high) and half-edges ([`half_edge`]), over `n`
    /// subjects.
    pub(crate) fn build(
        n: usize,
        edges: &FxHashSet<u64>,
        remote_edges: &FxHashSet<u128>,
    ) -> Adjacency {
        let whole = edges.iter().flat_map(|&e| {
            let (a, b) = ((e >> 32) as u32, e as u32);
            let both = (a != b && (a as usize) < n && (b as usize) < n).then_some([(a, b), (b, a)]);
            both.into_iter().flatten()
        });
        let half = remote_edges.iter().map(|&h| ((h >> 96) as u32, h));
        Adjacency {
            local: Rows::build(n, whole),
            remote: Rows::build(n, half),
        }
    }

    /// Subject `s`'s contacts, those held here (`id` of their subject numbers) and those
    /// held by other partitions, in key order.
    pub(crate) fn contacts(&self, s: u32, id: impl Fn(u32) -> Option<SubjectId>) -> Vec<SubjectId> {
        let mut out: Vec<SubjectId> = self
            .local
            .row(s)
            .iter()
            .filter_map(|&y| id(y))
            .chain(self.remote.row(s).iter().map(|&h| half_edge_ends(h).1))
            .collect();
        out.sort_unstable_by_key(|id| id.key());
        // A contact kept as a half-edge before its other end's record came here is also
        // a whole edge after it.
        out.dedup();
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_half_edge_keeps_both_ends() {
        let ids = [
            "420102198811252731",
            "11010519491231002X",
            "91110000802100433B",
            "9144030071526726XG",
            "91350100M000100Y43",
        ];
        for (i, text) in ids.iter().enumerate() {
            let id: SubjectId = text.parse().unwrap_or_else(|e| panic!("{text}: {e}"));
            for local in [0, 1, i as u32 * 77_777, u32::MAX] {
                let h = half_edge(local, id);
                assert_eq!(half_edge_ends(h), (local, id), "{text} at {local}");
            }
        }
        // Distinct pairs stay distinct.
        let a: SubjectId = ids[0].parse().unwrap_or_else(|e| panic!("{e}"));
        let b: SubjectId = ids[2].parse().unwrap_or_else(|e| panic!("{e}"));
        assert_ne!(half_edge(1, a), half_edge(1, b));
        assert_ne!(half_edge(1, a), half_edge(2, a));
    }
}

//! Each subject's contacts as lists, built from the edge sets when first asked for and
//! kept until an edge changes: a notice plan's hops ([`crate::Engine::contacts_of`]) and a
//! cluster job's share ([`crate::Engine::contact_share`]) read them.
//!
//! The edge sets (`Core::edges`, `Core::remote_edges`) answer "is this contact there?"
//! for ingest; they cannot answer "whose contacts are these?" without a scan of every
//! edge, which a plan of three hops did three times over a partition's whole graph.

use credo_model::SubjectId;
use rustc_hash::{FxHashMap, FxHashSet};

/// Contacts by subject number: whole edges as local numbers (compressed rows, no
/// self-loops), half-edges as the other end's ID.
#[derive(Debug, Default)]
pub(crate) struct Adjacency {
    start: Vec<usize>,
    local: Vec<u32>,
    remote: FxHashMap<u32, Vec<SubjectId>>,
}

impl Adjacency {
    /// From undirected edges (low << 32 | high) and half-edges, over `n` subjects.
    pub(crate) fn build(
        n: usize,
        edges: &FxHashSet<u64>,
        remote_edges: &FxHashSet<(u32, SubjectId)>,
    ) -> Adjacency {
        let ends = |e: u64| ((e >> 32) as u32, e as u32);
        let mut degree = vec![0usize; n + 1];
        for &e in edges {
            let (a, b) = ends(e);
            if a != b && (a as usize) < n && (b as usize) < n {
                degree[a as usize + 1] += 1;
                degree[b as usize + 1] += 1;
            }
        }
        for i in 1..=n {
            degree[i] += degree[i - 1];
        }
        let start = degree;
        let mut fill = start.clone();
        let mut local = vec![0u32; start[n]];
        for &e in edges {
            let (a, b) = ends(e);
            if a != b && (a as usize) < n && (b as usize) < n {
                for (x, y) in [(a, b), (b, a)] {
                    local[fill[x as usize]] = y;
                    fill[x as usize] += 1;
                }
            }
        }
        let mut remote: FxHashMap<u32, Vec<SubjectId>> = FxHashMap::default();
        for &(s, other) in remote_edges {
            remote.entry(s).or_default().push(other);
        }
        Adjacency {
            start,
            local,
            remote,
        }
    }

    /// Subject `s`'s contacts held here (whole edges), as subject numbers.
    pub(crate) fn local(&self, s: u32) -> &[u32] {
        let s = s as usize;
        match (self.start.get(s), self.start.get(s + 1)) {
            (Some(&a), Some(&b)) => &self.local[a..b],
            _ => &[],
        }
    }

    /// Subject `s`'s contacts held by other partitions (half-edges).
    pub(crate) fn remote(&self, s: u32) -> &[SubjectId] {
        self.remote.get(&s).map_or(&[], Vec::as_slice)
    }
}

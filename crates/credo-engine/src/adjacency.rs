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
/// self-loops, 4 bytes a direction), half-edges as the other end's key (16 bytes).
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

impl Adjacency {
    /// From undirected edges (low << 32 | high) and half-edges, over `n` subjects.
    pub(crate) fn build(
        n: usize,
        edges: &FxHashSet<u64>,
        remote_edges: &FxHashSet<(u32, SubjectId)>,
    ) -> Adjacency {
        let whole = edges.iter().flat_map(|&e| {
            let (a, b) = ((e >> 32) as u32, e as u32);
            let both = (a != b && (a as usize) < n && (b as usize) < n).then_some([(a, b), (b, a)]);
            both.into_iter().flatten()
        });
        let half = remote_edges.iter().map(|&(s, other)| (s, other.key()));
        Adjacency {
            local: Rows::build(n, whole),
            remote: Rows::build(n, half),
        }
    }

    /// Subject `s`'s contacts held here (whole edges), as subject numbers.
    pub(crate) fn local(&self, s: u32) -> &[u32] {
        self.local.row(s)
    }

    /// Subject `s`'s contacts held by other partitions (half-edges), as their IDs.
    pub(crate) fn remote(&self, s: u32) -> impl Iterator<Item = SubjectId> + '_ {
        self.remote
            .row(s)
            .iter()
            .filter_map(|&k| SubjectId::from_key(k).ok())
    }
}

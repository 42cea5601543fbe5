//! Compressed sparse rows of an undirected graph, with rows renumbered for locality.
//!
//! Callers name nodes by their own dense ids ("external"). Inside, rows are kept in an
//! order chosen by [`Layout`]: the propagation reads every neighbour's value once per
//! sweep, and on a graph clustered by city and industry, putting each community's rows
//! side by side keeps most of those reads in cache. Each row's targets are sorted and
//! without duplicates or self-loops.

use crate::GraphError;

/// How rows are ordered in memory.
#[derive(Debug, Clone, Copy)]
pub enum Layout<'a> {
    /// In the caller's order.
    Given,
    /// Sorted by a community key per node (for people: region and industry), then by the
    /// caller's id. The key slice has one entry per node.
    ByKey(&'a [u32]),
}

#[derive(Debug, Clone, Default)]
pub struct Csr {
    /// `offsets[i]..offsets[i + 1]` is row `i` (internal order) in `targets`.
    pub(crate) offsets: Vec<u64>,
    /// Neighbours, as internal ids.
    pub(crate) targets: Vec<u32>,
    /// Internal id → the caller's id.
    pub(crate) to_ext: Vec<u32>,
    /// The caller's id → internal id.
    pub(crate) to_int: Vec<u32>,
}

impl Csr {
    /// Builds the graph of `n` nodes from undirected edges, each given once in either
    /// direction. Self-loops and repeated edges are dropped. Uses up to `threads` threads.
    pub fn build(
        n: usize,
        edges: &[[u32; 2]],
        layout: Layout<'_>,
        threads: usize,
    ) -> Result<Csr, GraphError> {
        if n >= u32::MAX as usize {
            return Err(GraphError::TooManyNodes {
                n,
                max: u32::MAX as usize - 1,
            });
        }
        if let Some(&[a, b]) = edges
            .iter()
            .find(|[a, b]| *a as usize >= n || *b as usize >= n)
        {
            return Err(GraphError::NodeOutOfRange { a, b, n });
        }
        let to_ext = match layout {
            Layout::Given => (0..n as u32).collect::<Vec<u32>>(),
            Layout::ByKey(keys) => {
                if keys.len() != n {
                    return Err(GraphError::Length {
                        what: "the layout key",
                        got: keys.len(),
                        n,
                    });
                }
                let mut order: Vec<u32> = (0..n as u32).collect();
                order.sort_by_key(|&i| (keys[i as usize], i));
                order
            }
        };
        let mut to_int = vec![0u32; n];
        for (int, &ext) in to_ext.iter().enumerate() {
            to_int[ext as usize] = int as u32;
        }

        let mut degree = vec![0u64; n + 1];
        for &[a, b] in edges {
            if a != b {
                degree[to_int[a as usize] as usize] += 1;
                degree[to_int[b as usize] as usize] += 1;
            }
        }
        let mut offsets = Vec::with_capacity(n + 1);
        let mut total = 0u64;
        for d in &degree[..n] {
            offsets.push(total);
            total += d;
        }
        offsets.push(total);
        drop(degree);

        // Fill: each thread owns a contiguous range of rows and scans every edge, writing
        // only into its own rows; no atomics, and the edge list is read sequentially.
        let mut targets = vec![0u32; total as usize];
        let parts = row_parts(&offsets, threads.max(1));
        {
            let mut rest: &mut [u32] = &mut targets;
            let mut slices = Vec::with_capacity(parts.len());
            for w in parts.windows(2) {
                let len = (offsets[w[1]] - offsets[w[0]]) as usize;
                let (head, tail) = rest.split_at_mut(len);
                slices.push((w[0], w[1], head));
                rest = tail;
            }
            let (to_int, offsets) = (&to_int, &offsets);
            rayon::scope(|scope| {
                for (lo, hi, slice) in slices {
                    scope.spawn(move |_| fill_rows(lo, hi, slice, edges, to_int, offsets));
                }
            });
        }
        let mut csr = Csr {
            offsets,
            targets,
            to_ext,
            to_int,
        };
        csr.dedupe();
        Ok(csr)
    }

    /// Drops repeated targets within rows (rows are sorted by `fill_rows`).
    fn dedupe(&mut self) {
        let n = self.nodes();
        let dup = (0..n).any(|i| self.row(i).windows(2).any(|w| w[0] == w[1]));
        if !dup {
            return;
        }
        let mut offsets = Vec::with_capacity(n + 1);
        let mut targets = Vec::with_capacity(self.targets.len());
        for i in 0..n {
            offsets.push(targets.len() as u64);
            let row = self.row(i);
            for (k, &t) in row.iter().enumerate() {
                if k == 0 || row[k - 1] != t {
                    targets.push(t);
                }
            }
        }
        offsets.push(targets.len() as u64);
        self.offsets = offsets;
        self.targets = targets;
    }

    pub fn nodes(&self) -> usize {
        self.to_ext.len()
    }

    /// Undirected edges.
    pub fn edges(&self) -> u64 {
        self.targets.len() as u64 / 2
    }

    /// Directed entries: the edge visits of one sweep.
    pub fn entries(&self) -> u64 {
        self.targets.len() as u64
    }

    pub(crate) fn row(&self, int: usize) -> &[u32] {
        &self.targets[self.offsets[int] as usize..self.offsets[int + 1] as usize]
    }

    /// The caller's id of an internal row.
    pub fn external(&self, int: u32) -> u32 {
        self.to_ext[int as usize]
    }

    /// The internal row of the caller's id.
    pub fn internal(&self, ext: u32) -> Option<u32> {
        self.to_int.get(ext as usize).copied()
    }

    pub fn degree(&self, ext: u32) -> usize {
        self.internal(ext).map_or(0, |i| self.row(i as usize).len())
    }

    /// A node's neighbours, by the caller's ids (in internal order).
    pub fn neighbours(&self, ext: u32) -> impl Iterator<Item = u32> + '_ {
        let row = match self.internal(ext) {
            Some(i) => self.row(i as usize),
            None => &[],
        };
        row.iter().map(|&t| self.to_ext[t as usize])
    }

    /// Bytes held.
    pub fn heap_bytes(&self) -> usize {
        self.offsets.capacity() * 8
            + self.targets.capacity() * 4
            + (self.to_ext.capacity() + self.to_int.capacity()) * 4
    }
}

/// Splits rows into about `parts` ranges of similar edge counts; returns the boundaries.
pub(crate) fn row_parts(offsets: &[u64], parts: usize) -> Vec<usize> {
    let n = offsets.len() - 1;
    let total = offsets[n];
    let mut bounds = vec![0usize];
    for p in 1..parts {
        let want = total * p as u64 / parts as u64;
        let at = offsets.partition_point(|&o| o < want).min(n);
        if at > *bounds.last().unwrap_or(&0) {
            bounds.push(at);
        }
    }
    if *bounds.last().unwrap_or(&0) != n || bounds.len() == 1 {
        bounds.push(n);
    }
    bounds
}

fn fill_rows(
    lo: usize,
    hi: usize,
    slice: &mut [u32],
    edges: &[[u32; 2]],
    to_int: &[u32],
    offsets: &[u64],
) {
    let base = offsets[lo];
    let mut cursor: Vec<u64> = offsets[lo..hi].iter().map(|o| o - base).collect();
    let mut put = |row: u32, target: u32| {
        let r = row as usize;
        if r >= lo && r < hi {
            let c = &mut cursor[r - lo];
            slice[*c as usize] = target;
            *c += 1;
        }
    };
    for &[a, b] in edges {
        if a != b {
            let (ia, ib) = (to_int[a as usize], to_int[b as usize]);
            put(ia, ib);
            put(ib, ia);
        }
    }
    for r in lo..hi {
        let (s, e) = (
            (offsets[r] - base) as usize,
            (offsets[r + 1] - base) as usize,
        );
        slice[s..e].sort_unstable();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rows_are_sorted_symmetric_and_without_loops_or_repeats() -> Result<(), GraphError> {
        let edges = [[0, 1], [1, 0], [2, 2], [3, 1], [0, 3], [0, 1]];
        let keys = [5, 1, 5, 1];
        for layout in [Layout::Given, Layout::ByKey(&keys)] {
            for threads in [1, 2, 3] {
                let g = Csr::build(4, &edges, layout, threads)?;
                assert_eq!(g.edges(), 3);
                let mut n0: Vec<u32> = g.neighbours(0).collect();
                n0.sort();
                assert_eq!(n0, vec![1, 3]);
                let mut n1: Vec<u32> = g.neighbours(1).collect();
                n1.sort();
                assert_eq!(n1, vec![0, 3]);
                assert_eq!(g.degree(2), 0);
                assert_eq!(g.degree(3), 2);
            }
        }
        let g = Csr::build(4, &edges, Layout::ByKey(&keys), 2)?;
        // Key 1 first: nodes 1 and 3, then 0 and 2.
        assert_eq!(g.external(0), 1);
        assert_eq!(g.external(1), 3);
        assert_eq!(g.internal(0), Some(2));
        Ok(())
    }

    #[test]
    fn bad_input_is_an_error() {
        assert_eq!(
            Csr::build(2, &[[0, 2]], Layout::Given, 1).err(),
            Some(GraphError::NodeOutOfRange { a: 0, b: 2, n: 2 })
        );
        assert!(matches!(
            Csr::build(2, &[[0, 1]], Layout::ByKey(&[1]), 1),
            Err(GraphError::Length { .. })
        ));
    }

    #[test]
    fn parts_cover_all_rows_once() {
        let offsets = [0u64, 5, 5, 6, 20, 21, 40];
        for p in 1..8 {
            let b = row_parts(&offsets, p);
            assert_eq!(b[0], 0);
            assert_eq!(*b.last().unwrap_or(&0), 6);
            assert!(b.windows(2).all(|w| w[0] < w[1]));
        }
        assert_eq!(row_parts(&[0], 2), vec![0, 0]);
    }
}

//! The propagation kept current between full jobs.
//!
//! A full job ([`Relations::full`]) leaves every node's residual `|F(x)ᵢ − xᵢ|` at most
//! `a · tolerance`. After that, a changed standing or an added or removed contact puts the
//! nodes it touches on a queue, and [`Relations::settle`] recomputes them: a node whose
//! term moves by more than `local_tolerance` takes the new term and queues its contacts;
//! a smaller move is left alone. When the queue is empty every residual is at most
//! `max(local_tolerance, a · tolerance)`, so every term is within that over `1 − a` of the
//! fixed point of the graph as it now stands (tested against a fresh full job). Each hop
//! divides a change by about `degree / a`, so a change settles within a few hops.
//!
//! Contacts' means are always exact for the current terms: a node's mean is recomputed
//! whenever one of its contacts takes a new term.

use rustc_hash::{FxHashMap, FxHashSet};

use crate::{Csr, GraphError, Params, Propagation, Step, propagate};

#[derive(Debug, Clone)]
pub struct Relations {
    params: Params,
    local_tolerance: f64,
    /// The rows of the last full job. Nodes that arrived after it are appended with
    /// internal id = caller's id (the caller's ids are dense), so the CSR's renumbering
    /// covers everything.
    csr: Csr,
    s: Vec<f64>,
    x: Vec<f64>,
    mean: Vec<f64>,
    added: FxHashMap<u32, Vec<u32>>,
    removed: FxHashSet<u64>,
    queue: Vec<u32>,
    queued: Vec<u64>,
}

fn pair(a: u32, b: u32) -> u64 {
    let (lo, hi) = if a < b { (a, b) } else { (b, a) };
    (u64::from(lo) << 32) | u64::from(hi)
}

impl Relations {
    /// Runs a full job on `csr` and keeps its result.
    pub fn full(
        csr: Csr,
        own: &[f64],
        params: Params,
        local_tolerance: f64,
        threads: usize,
        progress: &mut dyn FnMut(Step),
    ) -> Result<(Relations, Propagation), GraphError> {
        if !(local_tolerance > 0.0 && local_tolerance < 1.0) {
            return Err(GraphError::Tolerance(local_tolerance));
        }
        let run = propagate(&csr, own, &params, threads, progress)?;
        let n = csr.nodes();
        let mut s = vec![0.0; n];
        let mut x = vec![0.0; n];
        let mut mean = vec![0.0; n];
        for (ext, &o) in own.iter().enumerate() {
            let i = csr.to_int[ext] as usize;
            s[i] = o;
            x[i] = run.values[ext];
            mean[i] = run.contacts[ext];
        }
        let rel = Relations {
            params,
            local_tolerance,
            csr,
            s,
            x,
            mean,
            added: FxHashMap::default(),
            removed: FxHashSet::default(),
            queue: Vec::new(),
            queued: vec![0; n.div_ceil(64)],
        };
        Ok((rel, run))
    }

    pub fn nodes(&self) -> usize {
        self.x.len()
    }

    /// Undirected edges as the graph now stands.
    pub fn edges(&self) -> u64 {
        let added = self.added.values().map(Vec::len).sum::<usize>() as u64 / 2;
        self.csr.edges() + added - self.removed.len() as u64
    }

    fn int(&self, ext: u32) -> Option<usize> {
        match self.csr.internal(ext) {
            Some(i) => Some(i as usize),
            None => ((ext as usize) < self.x.len()).then_some(ext as usize),
        }
    }

    fn ext(&self, int: u32) -> u32 {
        if (int as usize) < self.csr.nodes() {
            self.csr.external(int)
        } else {
            int
        }
    }

    /// The node's term.
    pub fn term(&self, ext: u32) -> Option<f64> {
        self.int(ext).map(|i| self.x[i])
    }

    /// The mean term of the node's contacts; `None` without contacts.
    pub fn contacts_mean(&self, ext: u32) -> Option<f64> {
        self.int(ext).map(|i| self.mean[i]).filter(|m| !m.is_nan())
    }

    /// Makes room for the caller's ids up to `ext`: a new node has standing 0 until set.
    fn ensure(&mut self, ext: u32) -> usize {
        let n = (ext as usize + 1).max(self.x.len());
        self.s.resize(n, 0.0);
        self.x.resize(n, 0.0);
        self.mean.resize(n, f64::NAN);
        self.queued.resize(n.div_ceil(64), 0);
        self.int(ext).unwrap_or(ext as usize)
    }

    fn push(&mut self, i: usize) {
        let (w, b) = (i / 64, 1u64 << (i % 64));
        if self.queued[w] & b == 0 {
            self.queued[w] |= b;
            self.queue.push(i as u32);
        }
    }

    fn for_each_neighbour(&self, i: usize, mut f: impl FnMut(u32)) {
        if i < self.csr.nodes() {
            for &t in self.csr.row(i) {
                if self.removed.is_empty() || !self.removed.contains(&pair(i as u32, t)) {
                    f(t);
                }
            }
        }
        if let Some(v) = self.added.get(&(i as u32)) {
            v.iter().copied().for_each(f);
        }
    }

    fn in_csr(&self, a: usize, b: u32) -> bool {
        a < self.csr.nodes() && self.csr.row(a).binary_search(&b).is_ok()
    }

    /// Sets a node's own standing (a new node joins with no contacts).
    pub fn set_own(&mut self, ext: u32, own: f64) -> Result<(), GraphError> {
        if !own.is_finite() {
            return Err(GraphError::NotFinite {
                node: ext,
                value: own,
            });
        }
        let i = self.ensure(ext);
        if self.s[i] != own {
            self.s[i] = own;
            self.push(i);
        }
        Ok(())
    }

    /// Adds a contact (nothing if it is already there, or a self-loop).
    pub fn add_edge(&mut self, a: u32, b: u32) {
        if a == b {
            return;
        }
        let (ia, ib) = (self.ensure(a), self.ensure(b));
        let key = pair(ia as u32, ib as u32);
        if self.in_csr(ia, ib as u32) {
            if !self.removed.remove(&key) {
                return;
            }
        } else {
            let list = self.added.entry(ia as u32).or_default();
            if list.contains(&(ib as u32)) {
                return;
            }
            list.push(ib as u32);
            self.added.entry(ib as u32).or_default().push(ia as u32);
        }
        self.push(ia);
        self.push(ib);
    }

    /// Removes a contact (nothing if it is not there).
    pub fn remove_edge(&mut self, a: u32, b: u32) {
        let (Some(ia), Some(ib)) = (self.int(a), self.int(b)) else {
            return;
        };
        if self.in_csr(ia, ib as u32) {
            if !self.removed.insert(pair(ia as u32, ib as u32)) {
                return;
            }
        } else {
            let mut gone = false;
            for (from, to) in [(ia, ib), (ib, ia)] {
                if let Some(list) = self.added.get_mut(&(from as u32))
                    && let Some(p) = list.iter().position(|&t| t == to as u32)
                {
                    list.swap_remove(p);
                    gone = true;
                }
            }
            if !gone {
                return;
            }
        }
        self.push(ia);
        self.push(ib);
    }

    /// Recomputes queued nodes until every residual is within the local tolerance.
    /// Returns the caller's ids of the nodes whose contacts' mean changed.
    pub fn settle(&mut self) -> Vec<u32> {
        let mut touched = Vec::new();
        let a = self.params.damping;
        while let Some(i) = self.queue.pop() {
            let i = i as usize;
            self.queued[i / 64] &= !(1u64 << (i % 64));
            let (mut sum, mut count) = (0.0f64, 0u32);
            self.for_each_neighbour(i, |t| {
                sum += self.x[t as usize];
                count += 1;
            });
            let mean = if count == 0 {
                f64::NAN
            } else {
                sum / f64::from(count)
            };
            if mean.to_bits() != self.mean[i].to_bits() {
                self.mean[i] = mean;
                touched.push(i as u32);
            }
            let v = if count == 0 {
                self.s[i]
            } else {
                (1.0 - a) * self.s[i] + a * mean
            };
            if (v - self.x[i]).abs() > self.local_tolerance {
                self.x[i] = v;
                let mut nb = Vec::new();
                self.for_each_neighbour(i, |t| nb.push(t as usize));
                for t in nb {
                    self.push(t);
                }
            }
        }
        touched.into_iter().map(|i| self.ext(i)).collect()
    }

    /// The bound on any term's distance from the fixed point once settled.
    pub fn error_bound(&self) -> f64 {
        let a = self.params.damping;
        self.local_tolerance.max(a * self.params.tolerance) / (1.0 - a)
    }

    /// Nodes within `k` hops of `start` as the graph now stands (itself excluded), nearest
    /// first, by the caller's ids; empty for an unknown node.
    pub fn within_hops(&self, start: u32, k: u8) -> Vec<(u32, u8)> {
        let Some(s) = self.int(start) else {
            return Vec::new();
        };
        let mut seen = rustc_hash::FxHashSet::default();
        seen.insert(s as u32);
        let mut out = Vec::new();
        let mut frontier = vec![s as u32];
        for hop in 1..=k {
            let mut next = Vec::new();
            for &v in &frontier {
                self.for_each_neighbour(v as usize, |w| {
                    if seen.insert(w) {
                        next.push(w);
                    }
                });
            }
            out.extend(next.iter().map(|&w| (self.ext(w), hop)));
            if next.is_empty() {
                break;
            }
            frontier = next;
        }
        out
    }
}

//! Score history: one entry per subject per month in which it had events, recorded as
//! the score at the end of that month when the first event of a later month arrives.
//! Entries form a per-subject linked list in one flat vector (4 bytes of head per subject).

#[derive(Clone, Copy)]
struct Entry {
    month: i32,
    score: u16,
    prev: u32,
}

#[derive(Default)]
pub(crate) struct History {
    head: Vec<u32>,
    entries: Vec<Entry>,
}

impl History {
    pub fn grow(&mut self, n: usize) {
        if self.head.len() < n {
            self.head.resize(n, 0);
        }
    }

    /// Room for `n` more entries.
    pub fn reserve(&mut self, n: usize) {
        self.entries.reserve(n);
    }

    pub fn record(&mut self, s: u32, month: i32, score: u16) {
        let i = s as usize;
        self.grow(i + 1);
        let prev = self.head[i];
        self.entries.push(Entry { month, score, prev });
        self.head[i] = self.entries.len() as u32;
    }

    /// Forgets a subject's history (before it is recomputed); its entries stay unused.
    pub fn reset(&mut self, s: u32) {
        if let Some(h) = self.head.get_mut(s as usize) {
            *h = 0;
        }
    }

    /// (month index, score at the end of that month), oldest first.
    pub fn of(&self, s: u32) -> Vec<(i32, u16)> {
        let mut out = Vec::new();
        let mut at = self.head.get(s as usize).copied().unwrap_or(0);
        while at != 0 {
            let e = self.entries[at as usize - 1];
            out.push((e.month, e.score));
            at = e.prev;
        }
        out.reverse();
        out
    }

    pub fn len(&self) -> usize {
        self.entries.len()
    }
}

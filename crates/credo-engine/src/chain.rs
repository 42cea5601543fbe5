//! Each subject's events, as a linked list of log offsets in two flat vectors (12 bytes per
//! event, 4 per subject): what the self-access report lists and what a dispute's rescoring
//! replays. Appending touches the subject's head and the vectors' ends only.

#[derive(Default, Clone, PartialEq, Eq)]
pub(crate) struct SubjectChain {
    /// Per subject: 1 + the index of its latest event in `offsets` (0: none).
    head: Vec<u32>,
    /// Per event: 1 + the index of the subject's previous event (0: none).
    prev: Vec<u32>,
    /// Per event: where its record's body starts in the event log.
    offsets: Vec<u64>,
}

impl SubjectChain {
    pub fn push(&mut self, s: u32, offset: u64) {
        let i = s as usize;
        if i >= self.head.len() {
            self.head.resize(i + 1, 0);
        }
        self.prev.push(self.head[i]);
        self.offsets.push(offset);
        self.head[i] = self.offsets.len() as u32;
    }

    /// The subject's events' offsets, in log order.
    pub fn of(&self, s: u32) -> Vec<u64> {
        let mut out = Vec::new();
        let mut at = self.head.get(s as usize).copied().unwrap_or(0);
        while at != 0 {
            out.push(self.offsets[at as usize - 1]);
            at = self.prev[at as usize - 1];
        }
        out.reverse();
        out
    }

    pub fn reserve(&mut self, n: usize) {
        self.prev.reserve(n);
        self.offsets.reserve(n);
    }

    pub fn bytes(&self) -> usize {
        self.head.capacity() * 4 + self.prev.capacity() * 4 + self.offsets.capacity() * 8
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    proptest! {
        /// Against the obvious model: a vector of offsets per subject.
        #[test]
        fn lists_each_subjects_offsets_in_order(events in proptest::collection::vec(0u32..20, 0..300)) {
            let mut chain = SubjectChain::default();
            let mut model: Vec<Vec<u64>> = vec![Vec::new(); 21];
            for (k, &s) in events.iter().enumerate() {
                chain.push(s, k as u64 * 10);
                model[s as usize].push(k as u64 * 10);
            }
            for s in 0..21u32 {
                prop_assert_eq!(chain.of(s), model[s as usize].clone());
            }
        }
    }
}

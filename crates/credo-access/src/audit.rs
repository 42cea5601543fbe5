//! The audit log's hash chain.
//!
//! Entry `n` carries `hash_n = SHA-256(hash_{n-1} ‖ n as 8 little-endian bytes ‖ body_n)`,
//! with `hash_0` = [`GENESIS`] before the first entry (sequence 1). Editing a body breaks
//! its own hash; removing or reordering entries breaks the sequence or the link to the
//! previous hash; cutting entries off the end is caught against a head (the last sequence
//! and hash) kept apart from the log, or published. The head may lag the log (it is
//! written after the log is synced), so entries past it are accepted.

use sha2::{Digest, Sha256};

pub const GENESIS: [u8; 32] = [0; 32];

/// One entry's place in the chain.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Link {
    pub seq: u64,
    pub prev: [u8; 32],
    pub hash: [u8; 32],
}

pub fn link(prev: &[u8; 32], seq: u64, body: &[u8]) -> [u8; 32] {
    let mut h = Sha256::new();
    h.update(prev);
    h.update(seq.to_le_bytes());
    h.update(body);
    h.finalize().into()
}

/// What is wrong with a chain.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ChainBreak {
    /// The entry's body or hash was changed.
    Edited,
    /// The entry expected here is missing: removed, or moved further on.
    Removed,
    /// The entry comes again or after its place: moved back, or repeated.
    Reordered,
    /// The entry does not link to the one before it.
    Unlinked,
    /// The log ends before the recorded head.
    Truncated,
    /// The log's entry at the recorded head's sequence has another hash.
    HeadMismatch,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("audit chain broken at entry {position} (sequence {seq}): {kind:?}")]
pub struct ChainError {
    /// 0-based position in the log as read.
    pub position: u64,
    /// The sequence number the entry claims (or the head's, for a truncation).
    pub seq: u64,
    pub kind: ChainBreak,
}

/// Checks a chain entry by entry, as it is read: the journal's open and `credo audit
/// verify` push each record without collecting the log.
#[derive(Debug, Clone)]
pub struct Chain {
    head: Option<(u64, [u8; 32])>,
    prev: [u8; 32],
    count: u64,
    at_head: Option<[u8; 32]>,
}

impl Chain {
    /// `head`, when known, is the last `(seq, hash)` recorded apart from the log.
    pub fn new(head: Option<(u64, [u8; 32])>) -> Chain {
        Chain {
            head,
            prev: GENESIS,
            count: 0,
            at_head: head.filter(|&(seq, _)| seq == 0).map(|_| GENESIS),
        }
    }

    /// The last sequence number and hash accepted.
    pub fn last(&self) -> (u64, [u8; 32]) {
        (self.count, self.prev)
    }

    /// Checks the next entry.
    pub fn push(&mut self, l: Link, body: &[u8]) -> Result<(), ChainError> {
        let expect = self.count + 1;
        let fail = |kind| ChainError {
            position: self.count,
            seq: l.seq,
            kind,
        };
        if link(&l.prev, l.seq, body) != l.hash {
            return Err(fail(ChainBreak::Edited));
        }
        if l.seq > expect {
            return Err(fail(ChainBreak::Removed));
        }
        if l.seq < expect {
            return Err(fail(ChainBreak::Reordered));
        }
        if l.prev != self.prev {
            return Err(fail(ChainBreak::Unlinked));
        }
        self.prev = l.hash;
        if self.head.is_some_and(|(seq, _)| seq == l.seq) {
            self.at_head = Some(l.hash);
        }
        self.count = expect;
        Ok(())
    }

    /// Checks the end against the head; returns the number of entries.
    pub fn finish(&self) -> Result<u64, ChainError> {
        if let Some((seq, hash)) = self.head {
            // The head is written after the log is synced, so a crash can leave it behind
            // the log, never ahead: the log must reach it and agree with it there.
            if self.count < seq {
                return Err(ChainError {
                    position: self.count,
                    seq,
                    kind: ChainBreak::Truncated,
                });
            }
            if self.at_head != Some(hash) {
                return Err(ChainError {
                    position: seq.saturating_sub(1),
                    seq,
                    kind: ChainBreak::HeadMismatch,
                });
            }
        }
        Ok(self.count)
    }
}

/// Verifies a whole chain read back in log order against `head` (see [`Chain`]).
/// Returns the number of entries.
pub fn verify<'a>(
    entries: impl IntoIterator<Item = (Link, &'a [u8])>,
    head: Option<(u64, [u8; 32])>,
) -> Result<u64, ChainError> {
    let mut chain = Chain::new(head);
    for (l, body) in entries {
        chain.push(l, body)?;
    }
    chain.finish()
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn chain(bodies: &[Vec<u8>]) -> Vec<(Link, Vec<u8>)> {
        let mut prev = GENESIS;
        bodies
            .iter()
            .enumerate()
            .map(|(i, b)| {
                let seq = i as u64 + 1;
                let hash = link(&prev, seq, b);
                let l = Link { seq, prev, hash };
                prev = hash;
                (l, b.clone())
            })
            .collect()
    }

    fn check(c: &[(Link, Vec<u8>)], head: Option<(u64, [u8; 32])>) -> Result<u64, ChainError> {
        verify(c.iter().map(|(l, b)| (*l, b.as_slice())), head)
    }

    fn head(c: &[(Link, Vec<u8>)]) -> Option<(u64, [u8; 32])> {
        c.last()
            .map(|(l, _)| (l.seq, l.hash))
            .or(Some((0, GENESIS)))
    }

    #[derive(Debug, Clone)]
    enum Tamper {
        EditByte(usize, usize, u8),
        Remove(usize),
        Swap(usize, usize),
        CutTail(usize),
        Duplicate(usize),
    }

    fn tamper() -> impl Strategy<Value = Tamper> {
        prop_oneof![
            (any::<usize>(), any::<usize>(), 1u8..=255)
                .prop_map(|(i, j, x)| Tamper::EditByte(i, j, x)),
            any::<usize>().prop_map(Tamper::Remove),
            (any::<usize>(), any::<usize>()).prop_map(|(i, j)| Tamper::Swap(i, j)),
            (1usize..4).prop_map(Tamper::CutTail),
            any::<usize>().prop_map(Tamper::Duplicate),
        ]
    }

    proptest! {
        #[test]
        fn an_untouched_chain_verifies(bodies in proptest::collection::vec(proptest::collection::vec(any::<u8>(), 0..40), 0..30)) {
            let c = chain(&bodies);
            prop_assert_eq!(check(&c, head(&c)), Ok(bodies.len() as u64));
        }

        /// Any edit, removal, reordering, duplication or cut is detected.
        #[test]
        fn every_tampering_is_detected(
            bodies in proptest::collection::vec(proptest::collection::vec(any::<u8>(), 1..40), 2..30),
            t in tamper(),
        ) {
            let c = chain(&bodies);
            let h = head(&c);
            let n = c.len();
            let mut bad = c.clone();
            match t {
                Tamper::EditByte(i, j, x) => {
                    let e = &mut bad[i % n].1;
                    let k = j % e.len();
                    e[k] ^= x;
                }
                Tamper::Remove(i) => { bad.remove(i % n); }
                Tamper::Swap(i, j) => {
                    let (i, j) = (i % n, j % n);
                    prop_assume!(i != j);
                    bad.swap(i, j);
                }
                Tamper::CutTail(k) => { bad.truncate(n.saturating_sub(k)); }
                Tamper::Duplicate(i) => { let e = bad[i % n].clone(); bad.insert(i % n + 1, e); }
            }
            prop_assert!(check(&bad, h).is_err(), "{:?} went unnoticed", t);
        }
    }

    #[test]
    fn the_break_names_its_kind_and_place() {
        let bodies: Vec<Vec<u8>> = (0..5u8).map(|i| vec![i; 3]).collect();
        let c = chain(&bodies);
        let h = head(&c);
        let mut edited = c.clone();
        edited[2].1[0] = 9;
        assert_eq!(
            check(&edited, h).unwrap_err(),
            ChainError {
                position: 2,
                seq: 3,
                kind: ChainBreak::Edited
            }
        );
        let mut removed = c.clone();
        removed.remove(1);
        assert_eq!(check(&removed, h).unwrap_err().kind, ChainBreak::Removed);
        let mut swapped = c.clone();
        swapped.swap(3, 4);
        assert_eq!(check(&swapped, h).unwrap_err().kind, ChainBreak::Removed);
        let cut = &c[..3];
        assert_eq!(check(cut, h).unwrap_err().kind, ChainBreak::Truncated);
        assert_eq!(
            check(cut, None),
            Ok(3),
            "without a head a cut cannot be seen"
        );
    }
}

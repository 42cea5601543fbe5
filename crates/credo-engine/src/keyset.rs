//! The dedupe set: every accepted event's 128-bit key, in one flat open-addressing table.
//!
//! Written by hand because it is the hottest random access of ingest and replay: one
//! probe per event into a table far larger than the caches. A general hash set touches
//! a control-byte array and a slot array (two cache misses) and cannot be prefetched;
//! here the keys are already uniform hashes, so a key's low bits are its home slot,
//! a probe is one cache line, and [`KeySet::prefetch`] can start that line's load a few
//! events ahead so the misses overlap.

/// A set of `u128` keys that are uniformly distributed (hash outputs).
#[derive(Clone)]
pub(crate) struct KeySet {
    /// Slots; 0 marks an empty slot (the key 0 is kept in `has_zero`).
    slots: Vec<u128>,
    mask: usize,
    len: usize,
    has_zero: bool,
}

impl Default for KeySet {
    fn default() -> Self {
        KeySet::with_capacity(0)
    }
}

/// Slots are grown when the table would be more than 5/8 full: linear probing stays
/// short (about 1.8 probes on a miss) and the table costs at most 51 bytes a key.
fn slots_for(n: usize) -> usize {
    (n.saturating_mul(8) / 5 + 1).next_power_of_two().max(16)
}

impl KeySet {
    pub fn with_capacity(n: usize) -> KeySet {
        let cap = slots_for(n);
        KeySet {
            slots: vec![0; cap],
            mask: cap - 1,
            len: 0,
            has_zero: false,
        }
    }

    pub fn len(&self) -> usize {
        self.len + usize::from(self.has_zero)
    }

    /// Bytes held by the table.
    pub fn bytes(&self) -> usize {
        self.slots.len() * 16
    }

    #[inline]
    fn home(&self, k: u128) -> usize {
        (k as usize) & self.mask
    }

    /// Makes room for `n` more keys without growing on the way.
    pub fn reserve(&mut self, n: usize) {
        let want = slots_for(self.len + n);
        if want > self.slots.len() {
            self.rehash(want);
        }
    }

    fn rehash(&mut self, cap: usize) {
        let old = std::mem::replace(&mut self.slots, vec![0; cap]);
        self.mask = cap - 1;
        for k in old.into_iter().filter(|&k| k != 0) {
            if let Err(i) = self.probe(k) {
                self.slots[i] = k;
            }
        }
    }

    /// Linear probing from `k`'s home slot (`k != 0`): `Ok(slot)` holding `k`, or
    /// `Err(slot)`, the empty slot where it would go.
    #[inline]
    fn probe(&self, k: u128) -> Result<usize, usize> {
        let mut i = self.home(k);
        loop {
            match self.slots[i] {
                s if s == k => return Ok(i),
                0 => return Err(i),
                _ => i = (i + 1) & self.mask,
            }
        }
    }

    /// Starts loading `k`'s home slot into cache; it has no other effect.
    #[inline]
    #[allow(unsafe_code)]
    pub fn prefetch(&self, k: u128) {
        #[cfg(target_arch = "x86_64")]
        {
            let p = self.slots.as_ptr().wrapping_add(self.home(k));
            // SAFETY: a prefetch is a hint; it never faults and reads nothing observable,
            // and `p` is inside the allocation (home < slots.len()).
            unsafe {
                std::arch::x86_64::_mm_prefetch::<{ std::arch::x86_64::_MM_HINT_T0 }>(
                    p as *const i8,
                )
            };
        }
        #[cfg(not(target_arch = "x86_64"))]
        let _ = k;
    }

    pub fn contains(&self, k: u128) -> bool {
        if k == 0 {
            return self.has_zero;
        }
        self.probe(k).is_ok()
    }

    /// Adds `k`; false if it was already there.
    pub fn insert(&mut self, k: u128) -> bool {
        if k == 0 {
            return !std::mem::replace(&mut self.has_zero, true);
        }
        if (self.len + 1) * 8 > self.slots.len() * 5 {
            self.rehash(self.slots.len() * 2);
        }
        match self.probe(k) {
            Ok(_) => false,
            Err(i) => {
                self.slots[i] = k;
                self.len += 1;
                true
            }
        }
    }

    /// The keys, in no particular order.
    pub fn iter(&self) -> impl Iterator<Item = u128> + '_ {
        self.has_zero
            .then_some(0)
            .into_iter()
            .chain(self.slots.iter().copied().filter(|&k| k != 0))
    }
}

impl PartialEq for KeySet {
    fn eq(&self, other: &Self) -> bool {
        self.len() == other.len() && self.iter().all(|k| other.contains(k))
    }
}

impl std::fmt::Debug for KeySet {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("KeySet").field("len", &self.len()).finish()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;
    use std::collections::HashSet;

    proptest! {
        // The reference is std's HashSet. Keys are drawn from a small range as well as
        // the full one, so duplicates, the key 0 and long probe runs (keys sharing low
        // bits) all occur; growth happens along the way from a tiny start.
        #[test]
        fn matches_std_hash_set(
            keys in prop::collection::vec(
                prop_oneof![
                    0u128..64,
                    any::<u128>(),
                    (0u128..8).prop_map(|x| x << 64), // same home slot
                ],
                0..600,
            ),
            reserve in 0usize..100,
        ) {
            let mut ours = KeySet::with_capacity(0);
            ours.reserve(reserve);
            let mut reference = HashSet::new();
            for &k in &keys {
                prop_assert_eq!(ours.contains(k), reference.contains(&k));
                prop_assert_eq!(ours.insert(k), reference.insert(k));
                prop_assert_eq!(ours.len(), reference.len());
            }
            let mut a: Vec<u128> = ours.iter().collect();
            let mut b: Vec<u128> = reference.into_iter().collect();
            a.sort_unstable();
            b.sort_unstable();
            prop_assert_eq!(a, b);
        }
    }
}

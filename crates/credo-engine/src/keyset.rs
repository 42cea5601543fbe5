//! The dedupe set: every accepted event's key with its content's fingerprint, in one flat
//! open-addressing table.
//!
//! Written by hand because it is the hottest random access of ingest and replay: one
//! probe per event into a table far larger than the caches. A general hash set touches
//! a control-byte array and a slot array (two cache misses) and cannot be prefetched;
//! here the keys are already uniform hashes, so a key's low bits are its home slot,
//! a probe is one cache line, and [`KeySet::prefetch`] can start that line's load a few
//! events ahead so the misses overlap.

/// A set of keys that are uniformly distributed (hash outputs), each with a 32-bit
/// fingerprint of what it names.
///
/// A slot is 16 bytes: the key's low 96 bits, and the fingerprint in the top 32. Keeping
/// the fingerprint in the key's own slot costs no memory and no second cache miss; the
/// price is a key of 96 bits instead of 128. Two different `(source, id)` pairs share 96
/// bits with probability about n²/2⁹⁷ over n keys: 6·10⁻¹² for a billion events.
#[derive(Clone)]
pub(crate) struct KeySet {
    /// Slots; 0 marks an empty slot (a key whose 96 bits are 0 is kept in `zero`).
    slots: Vec<u128>,
    mask: usize,
    len: usize,
    /// The fingerprint of the key whose 96 bits are 0, if it is in the set.
    zero: Option<u32>,
}

/// What [`KeySet::insert`] found.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Seen {
    /// The key is new, and now in the set.
    New,
    /// The key was there with the same fingerprint.
    Same,
    /// The key was there with another fingerprint, which is kept.
    Different,
}

/// How far ahead of its probe [`KeySet::insert_all`] starts loading a slot.
const PROBE_AHEAD: usize = 16;

const KEY_BITS: u128 = (1u128 << 96) - 1;

#[inline]
fn slot_of(key: u128, sum: u32) -> u128 {
    key | (u128::from(sum) << 96)
}

#[inline]
fn sum_of(slot: u128) -> u32 {
    (slot >> 96) as u32
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
            zero: None,
        }
    }

    pub fn len(&self) -> usize {
        self.len + usize::from(self.zero.is_some())
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
        for slot in old.into_iter().filter(|&s| s != 0) {
            if let Err(i) = self.probe(slot & KEY_BITS) {
                self.slots[i] = slot;
            }
        }
    }

    /// Linear probing from `k`'s home slot (`k` is 96 bits, not 0): `Ok(slot)` holding
    /// `k`, or `Err(slot)`, the empty slot where it would go.
    #[inline]
    fn probe(&self, k: u128) -> Result<usize, usize> {
        let mut i = self.home(k);
        loop {
            match self.slots[i] {
                0 => return Err(i),
                s if s & KEY_BITS == k => return Ok(i),
                _ => i = (i + 1) & self.mask,
            }
        }
    }

    /// Starts loading `k`'s home slot into cache; it has no other effect.
    #[inline]
    pub fn prefetch(&self, k: u128) {
        if let Some(slot) = self.slots.get(self.home(k)) {
            credo_geo::prefetch(slot);
        }
    }

    /// The fingerprint kept with `k`, if `k` is in the set.
    pub fn get(&self, k: u128) -> Option<u32> {
        let k = k & KEY_BITS;
        if k == 0 {
            return self.zero;
        }
        self.probe(k).ok().map(|i| sum_of(self.slots[i]))
    }

    /// Adds `k` with the fingerprint `sum`, unless `k` is there already.
    pub fn insert(&mut self, k: u128, sum: u32) -> Seen {
        let k = k & KEY_BITS;
        let found = |kept: u32| {
            if kept == sum {
                Seen::Same
            } else {
                Seen::Different
            }
        };
        if k == 0 {
            return match self.zero {
                Some(kept) => found(kept),
                None => {
                    self.zero = Some(sum);
                    Seen::New
                }
            };
        }
        if (self.len + 1) * 8 > self.slots.len() * 5 {
            self.rehash(self.slots.len() * 2);
        }
        match self.probe(k) {
            Ok(i) => found(sum_of(self.slots[i])),
            Err(i) => {
                self.slots[i] = slot_of(k, sum);
                self.len += 1;
                Seen::New
            }
        }
    }

    /// [`KeySet::insert`] of every `(key, fingerprint)` of `keys`, with each one's result
    /// in `out` (as long as `keys`): the same results, and the same set, as inserting
    /// them one by one in order.
    ///
    /// The probes go in the table's order, by region, not in the keys' order. A probe
    /// into a table of a hundred megabytes is a TLB miss as well as a cache miss; the page
    /// walk held the committing core at every prefetch (about a tenth of ingest's cycles
    /// in slow hours). Within a region of 512 kB, the pages' translations stay cached.
    /// The order among keys of one region is kept, so the same key's results come in order.
    /// `sorted` is scratch space (see [`Verdicts`]).
    pub fn insert_all(
        &mut self,
        keys: &[(u128, u32)],
        out: &mut [Seen],
        sorted: &mut Vec<(u128, u32, u32)>,
    ) {
        /// Regions: 256 at most; a region of a 128 MB table is 128 pages.
        const REGION_BITS: u32 = 8;
        // No growth below: each key's region is where it is probed.
        self.reserve(keys.len());
        let shift = self
            .slots
            .len()
            .trailing_zeros()
            .saturating_sub(REGION_BITS);
        let region = |k: u128| self.home(k & KEY_BITS) >> shift;
        let mut at = [0usize; (1 << REGION_BITS) + 1];
        for &(k, _) in keys {
            at[region(k) + 1] += 1;
        }
        for r in 1..at.len() {
            at[r] += at[r - 1];
        }
        sorted.clear();
        sorted.resize(keys.len(), (0, 0, 0));
        for (i, &(k, sum)) in keys.iter().enumerate() {
            let r = region(k);
            sorted[at[r]] = (k, sum, i as u32);
            at[r] += 1;
        }
        for (j, &(k, sum, i)) in sorted.iter().enumerate() {
            if let Some(&(ahead, ..)) = sorted.get(j + PROBE_AHEAD) {
                self.prefetch(ahead);
            }
            let seen = self.insert(k, sum);
            if let Some(o) = out.get_mut(i as usize) {
                *o = seen;
            }
        }
    }

    /// Takes `k` out of the set; whether it was there. (Backward-shift deletion: the
    /// entries after it in its run move up, so probing needs no tombstones.)
    pub fn remove(&mut self, k: u128) -> bool {
        let k = k & KEY_BITS;
        if k == 0 {
            return self.zero.take().is_some();
        }
        let Ok(mut hole) = self.probe(k) else {
            return false;
        };
        let mut j = hole;
        loop {
            j = (j + 1) & self.mask;
            let s = self.slots[j];
            if s == 0 {
                break;
            }
            // The entry at `j` may fill the hole unless its home lies cyclically in
            // (hole, j]: then the hole is before its home, and it must stay.
            let h = self.home(s & KEY_BITS);
            let stays = if hole <= j {
                hole < h && h <= j
            } else {
                hole < h || h <= j
            };
            if !stays {
                self.slots[hole] = s;
                hole = j;
            }
        }
        self.slots[hole] = 0;
        self.len -= 1;
        true
    }

    /// The keys (their 96 bits) with their fingerprints, in no particular order.
    pub fn iter(&self) -> impl Iterator<Item = (u128, u32)> + '_ {
        self.zero.map(|sum| (0, sum)).into_iter().chain(
            self.slots
                .iter()
                .filter(|&&s| s != 0)
                .map(|&s| (s & KEY_BITS, sum_of(s))),
        )
    }
}

/// One batch's dedupe verdicts: probed all at once in the table's order
/// ([`KeySet::insert_all`]), then taken by admission in the batch's order, as inserting
/// the keys one by one would give them. The buffers are kept from batch to batch, so
/// their pages stay mapped (allocated afresh, they were faulted in again every batch).
#[derive(Default)]
pub(crate) struct Verdicts {
    /// The batch's `(key, fingerprint)`s, in its order.
    keys: Vec<(u128, u32)>,
    seen: Vec<Seen>,
    sorted: Vec<(u128, u32, u32)>,
    /// Keys taken out again in this batch (their 96 bits): see [`Verdicts::withdraw`].
    withdrawn: rustc_hash::FxHashSet<u128>,
}

impl Verdicts {
    /// Probes `set` with every `(key, fingerprint)` of the batch, inserting the new ones.
    pub fn probe(&mut self, set: &mut KeySet, keys: impl IntoIterator<Item = (u128, u32)>) {
        self.keys.clear();
        self.keys.extend(keys);
        self.seen.clear();
        self.seen.resize(self.keys.len(), Seen::New);
        self.withdrawn.clear();
        set.insert_all(&self.keys, &mut self.seen, &mut self.sorted);
    }

    /// The verdict on the batch's `i`th key. A key withdrawn earlier in the batch is
    /// judged against the set as it is now, as one-by-one insertion would have it.
    pub fn judge(&self, set: &mut KeySet, i: usize) -> Seen {
        let (k, sum) = self.keys[i];
        if !self.withdrawn.is_empty() && self.withdrawn.contains(&(k & KEY_BITS)) {
            set.insert(k, sum)
        } else {
            self.seen[i]
        }
    }

    /// The batch's `i`th event was rejected before its key was judged (its subject is
    /// unknown): if the probe inserted the key, it is taken out again, so the set holds
    /// what one-by-one admission would have left in it.
    pub fn withdraw(&mut self, set: &mut KeySet, i: usize) {
        let (k, _) = self.keys[i];
        if self.seen[i] == Seen::New && self.withdrawn.insert(k & KEY_BITS) {
            set.remove(k);
        }
    }
}

impl PartialEq for KeySet {
    fn eq(&self, other: &Self) -> bool {
        self.len() == other.len() && self.iter().all(|(k, sum)| other.get(k) == Some(sum))
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
    use std::collections::HashMap;
    use std::collections::hash_map::Entry;

    proptest! {
        // The reference is std's HashMap from the key's 96 bits to the first fingerprint.
        // Keys are drawn from a small range as well as the full one, so duplicates, the
        // key 0, keys equal in their 96 bits (differing above) and long probe runs (keys
        // sharing low bits) all occur; fingerprints come from a small range, so the same
        // key comes back with the same and with another fingerprint. Growth happens along
        // the way from a tiny start.
        #[test]
        fn matches_std_hash_map(
            keys in prop::collection::vec(
                (
                    prop_oneof![
                        0u128..64,
                        any::<u128>(),
                        (0u128..8).prop_map(|x| x << 64), // same home slot
                        (0u128..4).prop_map(|x| x << 100), // 96 bits all 0
                    ],
                    prop_oneof![0u32..3, any::<u32>()],
                ),
                0..600,
            ),
            reserve in 0usize..100,
        ) {
            let mut ours = KeySet::with_capacity(0);
            ours.reserve(reserve);
            let mut reference: HashMap<u128, u32> = HashMap::new();
            for &(k, sum) in &keys {
                let k96 = k & ((1u128 << 96) - 1);
                prop_assert_eq!(ours.get(k), reference.get(&k96).copied());
                let expected = match reference.entry(k96) {
                    Entry::Vacant(v) => {
                        v.insert(sum);
                        Seen::New
                    }
                    Entry::Occupied(o) if *o.get() == sum => Seen::Same,
                    Entry::Occupied(_) => Seen::Different,
                };
                prop_assert_eq!(ours.insert(k, sum), expected);
                prop_assert_eq!(ours.len(), reference.len());
            }
            let mut a: Vec<(u128, u32)> = ours.iter().collect();
            let mut b: Vec<(u128, u32)> = reference.into_iter().collect();
            a.sort_unstable();
            b.sort_unstable();
            prop_assert_eq!(a, b);
        }

        // `insert_all` against one-by-one inserts into the reference, and `remove` (of
        // keys that are there, mostly, and of others) against its `remove`; batches
        // alternate with removals, so later batches probe runs that removals shortened.
        #[test]
        fn batches_and_removals_match_std_hash_map(
            rounds in prop::collection::vec(
                (
                    prop::collection::vec(
                        (
                            prop_oneof![
                                0u128..64,
                                any::<u128>(),
                                (0u128..8).prop_map(|x| x << 64),
                                (0u128..4).prop_map(|x| x << 100),
                            ],
                            prop_oneof![0u32..3, any::<u32>()],
                        ),
                        0..400,
                    ),
                    prop::collection::vec(any::<prop::sample::Index>(), 0..60),
                    prop::collection::vec(0u128..64, 0..5),
                ),
                1..5,
            ),
        ) {
            let mut ours = KeySet::with_capacity(0);
            let mut reference: HashMap<u128, u32> = HashMap::new();
            let k96 = |k: u128| k & ((1u128 << 96) - 1);
            for (keys, picks, others) in rounds {
                let mut out = vec![Seen::New; keys.len()];
                ours.insert_all(&keys, &mut out, &mut Vec::new());
                for (&(k, sum), &got) in keys.iter().zip(&out) {
                    let expected = match reference.entry(k96(k)) {
                        Entry::Vacant(v) => {
                            v.insert(sum);
                            Seen::New
                        }
                        Entry::Occupied(o) if *o.get() == sum => Seen::Same,
                        Entry::Occupied(_) => Seen::Different,
                    };
                    prop_assert_eq!(got, expected);
                }
                let gone = picks
                    .iter()
                    .filter(|_| !keys.is_empty())
                    .map(|p| keys[p.index(keys.len())].0)
                    .chain(others);
                for k in gone {
                    prop_assert_eq!(ours.remove(k), reference.remove(&k96(k)).is_some());
                    prop_assert_eq!(ours.get(k), None);
                }
                prop_assert_eq!(ours.len(), reference.len());
                for (&k, &sum) in &reference {
                    prop_assert_eq!(ours.get(k), Some(sum));
                }
            }
        }
    }
}

//! The subject index: subject key (u128) → dense index (u32).
//!
//! The table is written by hand (open addressing over 8-byte slots, each the subject's
//! index and 32 bits of its key's hash; the keys live once, in `keys`) because ingest
//! looks a subject up for nearly every second event, and a general hash table's three
//! dependent cache misses (control bytes, slot, key) were 5 % of ingest's CPU time. Here a
//! lookup touches one slot and one key, and both can be loaded ahead ([`Subjects::warm`],
//! [`Subjects::warm_key`]) while earlier events are admitted.

use credo_model::SubjectId;
use credo_store::RecordRef;

#[derive(Default)]
pub(crate) struct Subjects {
    table: Table,
    pub keys: Vec<u128>,
    /// Where each subject's latest `subject` record lies in the log (offset 0 = none).
    pub record_offset: Vec<u64>,
    pub record_len: Vec<u32>,
}

fn hash(k: u128) -> u64 {
    // Keys are structured (digits, base-31 codes): mix them before hashing into buckets.
    let x = (k as u64) ^ ((k >> 64) as u64).rotate_left(29);
    let x = (x ^ (x >> 33)).wrapping_mul(0xff51_afd7_ed55_8ccd);
    let x = (x ^ (x >> 33)).wrapping_mul(0xc4ce_b9fe_1a85_ec53);
    x ^ (x >> 33)
}

/// Linear probing over slots that hold `index + 1` in their low 32 bits (0: empty) and
/// the top 32 bits of the key's hash above (compared before the key is loaded). At most
/// 3/4 full: about 2.5 probes for a key that is there, all in one or two cache lines.
#[derive(Default)]
struct Table {
    slots: Vec<u64>,
    len: usize,
}

impl Table {
    #[inline]
    fn home(&self, h: u64) -> usize {
        // `slots.len()` is 0 or a power of two.
        (h as usize) & self.slots.len().wrapping_sub(1)
    }

    #[inline]
    fn find(&self, k: u128, keys: &[u128]) -> Option<u32> {
        if self.slots.is_empty() {
            return None;
        }
        let h = hash(k);
        let tag = h >> 32;
        let mask = self.slots.len() - 1;
        let mut i = self.home(h);
        loop {
            let s = self.slots[i];
            if s == 0 {
                return None;
            }
            let idx = (s as u32).wrapping_sub(1);
            if s >> 32 == tag && keys.get(idx as usize) == Some(&k) {
                return Some(idx);
            }
            i = (i + 1) & mask;
        }
    }

    /// Adds `idx` for `k`, which is not in the table.
    fn insert_new(&mut self, k: u128, idx: u32, keys: &[u128]) {
        if (self.len + 1) * 4 > self.slots.len() * 3 {
            self.grow(keys);
        }
        let h = hash(k);
        self.place(h, (h >> 32) << 32 | u64::from(idx + 1));
        self.len += 1;
    }

    /// Puts slot `s`, whose key hashes to `h`, in the first empty slot from its home.
    fn place(&mut self, h: u64, s: u64) {
        let mask = self.slots.len() - 1;
        let mut i = self.home(h);
        while self.slots[i] != 0 {
            i = (i + 1) & mask;
        }
        self.slots[i] = s;
    }

    fn grow(&mut self, keys: &[u128]) {
        let cap = (self.slots.len() * 2).max(16);
        let old = std::mem::replace(&mut self.slots, vec![0; cap]);
        for s in old.into_iter().filter(|&s| s != 0) {
            self.place(hash(keys[(s as u32 - 1) as usize]), s);
        }
    }
}

impl Subjects {
    pub fn get(&self, id: SubjectId) -> Option<u32> {
        self.get_key(id.key())
    }

    /// [`Subjects::get`] by the subject's key.
    #[inline]
    pub fn get_key(&self, k: u128) -> Option<u32> {
        self.table.find(k, &self.keys)
    }

    /// Starts loading the slot where a lookup of `k` begins; it has no other effect.
    #[inline]
    pub fn warm(&self, k: u128) {
        if let Some(s) = self.table.slots.get(self.table.home(hash(k))) {
            credo_geo::prefetch(s);
        }
    }

    /// Once [`Subjects::warm`]'s load has arrived: starts loading the key that the home
    /// slot names, if its hash matches (the key a lookup of `k` compares first).
    #[inline]
    pub fn warm_key(&self, k: u128) {
        let h = hash(k);
        if let Some(&s) = self.table.slots.get(self.table.home(h))
            && s >> 32 == h >> 32
            && let Some(key) = self.keys.get((s as u32).wrapping_sub(1) as usize)
        {
            credo_geo::prefetch(key);
        }
    }

    /// The index of `id`, adding it if new; the bool tells whether it was added.
    pub fn insert(&mut self, id: SubjectId) -> (u32, bool) {
        if let Some(i) = self.get(id) {
            return (i, false);
        }
        let k = id.key();
        let i = self.keys.len() as u32;
        self.keys.push(k);
        self.record_offset.push(0);
        self.record_len.push(0);
        self.table.insert_new(k, i, &self.keys);
        (i, true)
    }

    pub fn len(&self) -> usize {
        self.keys.len()
    }

    /// The ID of subject `i`. Keys enter the index only from validated IDs, so they are
    /// not validated again (that cost ~300 instructions per call on the month-closing path).
    pub fn id(&self, i: u32) -> Option<SubjectId> {
        self.keys
            .get(i as usize)
            .map(|&k| SubjectId::from_trusted_key(k))
    }

    pub fn record(&self, i: u32) -> Option<RecordRef> {
        let off = *self.record_offset.get(i as usize)?;
        (off != 0).then(|| RecordRef {
            offset: off,
            len: self.record_len[i as usize],
        })
    }

    pub fn set_record(&mut self, i: u32, r: RecordRef) {
        if let Some(o) = self.record_offset.get_mut(i as usize) {
            *o = r.offset;
            self.record_len[i as usize] = r.len;
        }
    }

    /// Bytes per subject: the key, the record pointer and the table's slots.
    pub fn bytes_per_subject(&self) -> f64 {
        let n = self.keys.len().max(1) as f64;
        16.0 + 8.0 + 4.0 + (self.table.slots.len() as f64 * 8.0) / n
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;
    use std::collections::HashMap;

    proptest! {
        // The reference is std's HashMap from key to index. Keys are drawn from a small
        // range (so the same subject comes back, and neighbouring keys crowd the same
        // slots of a small table) and from the whole range, people and companies (the top
        // bit) both; the table grows from empty along the way. Every key looked up, there
        // or not, and the warming calls, which must change nothing.
        #[test]
        fn matches_std_hash_map(
            keys in prop::collection::vec(
                prop_oneof![0u128..200, any::<u64>().prop_map(u128::from), (0u128..200).prop_map(|x| x | 1 << 127)],
                0..800,
            ),
        ) {
            let mut ours = Subjects::default();
            let mut reference: HashMap<u128, u32> = HashMap::new();
            for &k in &keys {
                let id = SubjectId::from_trusted_key(k);
                prop_assert_eq!(id.key(), k);
                ours.warm(k);
                ours.warm_key(k);
                prop_assert_eq!(ours.get(id), reference.get(&k).copied());
                let next = reference.len() as u32;
                let added = !reference.contains_key(&k);
                let i = *reference.entry(k).or_insert(next);
                prop_assert_eq!(ours.insert(id), (i, added));
                prop_assert_eq!(ours.len(), reference.len());
                prop_assert_eq!(ours.id(i), Some(id));
            }
            for (&k, &i) in &reference {
                prop_assert_eq!(ours.get_key(k), Some(i));
            }
            prop_assert!(ours.table.len * 4 <= ours.table.slots.len() * 3);
        }
    }
}

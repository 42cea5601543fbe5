//! The subject index: subject key (u128) → dense index (u32), in a hash table that stores
//! only the `u32` (the keys live once, in `keys`), so it costs about 5 bytes a subject.

use credo_model::SubjectId;
use credo_store::RecordRef;
use hashbrown::HashTable;

#[derive(Default)]
pub(crate) struct Subjects {
    table: HashTable<u32>,
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

impl Subjects {
    pub fn get(&self, id: SubjectId) -> Option<u32> {
        let k = id.key();
        self.table
            .find(hash(k), |&i| self.keys[i as usize] == k)
            .copied()
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
        let keys = &self.keys;
        self.table
            .insert_unique(hash(k), i, |&j| hash(keys[j as usize]));
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

    /// Bytes per subject: the key, the record pointer and the table's slot and control byte.
    pub fn bytes_per_subject(&self) -> f64 {
        let n = self.keys.len().max(1) as f64;
        16.0 + 8.0 + 4.0 + (self.table.capacity() as f64 * 5.0) / n
    }
}

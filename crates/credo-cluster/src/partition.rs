//! Subjects to partitions.

use crate::ClusterError;
use credo_model::SubjectId;

/// The fixed number of partitions and the rule that puts a subject in one.
///
/// The rule is part of the data format: `xxh3_64` (seed 0) of the ID's canonical text
/// (18 characters, upper-case, as printed), reduced to the count by a multiply-shift,
/// which needs no division and keeps every partition within one of the same share of
/// the hash range. Changing it would move every subject, so it is pinned by a test of
/// known answers.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Partitioning {
    count: u32,
}

impl Partitioning {
    /// The most partitions a deployment may have.
    pub const MAX: u32 = 65_536;

    pub fn new(count: u32) -> Result<Partitioning, ClusterError> {
        if count == 0 || count > Self::MAX {
            return Err(ClusterError::PartitionCount {
                got: count,
                max: Self::MAX,
            });
        }
        Ok(Partitioning { count })
    }

    pub fn count(&self) -> u32 {
        self.count
    }

    /// The partition of `id`, in `0..count`.
    pub fn of(&self, id: SubjectId) -> u32 {
        self.of_hash(xxhash_rust::xxh3::xxh3_64(&id.text()))
    }

    /// The partition of a 64-bit hash: its share of the hash range.
    fn of_hash(&self, h: u64) -> u32 {
        ((u128::from(h) * u128::from(self.count)) >> 64) as u32
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;
    use proptest::prelude::*;

    fn person(body17: &str) -> SubjectId {
        // The check character by GB 11643.
        const W: [u32; 17] = [7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2];
        const C: &[u8; 11] = b"10X98765432";
        let sum: u32 = body17
            .bytes()
            .zip(W)
            .map(|(b, w)| u32::from(b - b'0') * w)
            .sum();
        let id = format!("{body17}{}", C[(sum % 11) as usize] as char);
        id.parse().unwrap()
    }

    #[test]
    fn the_rule_is_pinned_by_known_answers() {
        // If this fails, the partitioning rule changed, and every deployment's subjects
        // would move: a data format change, not a refactor.
        let p = Partitioning::new(256).unwrap();
        let ids = [
            "11010519800101001",
            "44030419900215123",
            "31011519751231456",
        ];
        let got: Vec<u32> = ids.iter().map(|b| p.of(person(b))).collect();
        let want: Vec<u32> = ids
            .iter()
            .map(|b| {
                let text = person(b).to_string();
                ((u128::from(xxhash_rust::xxh3::xxh3_64(text.as_bytes())) * 256) >> 64) as u32
            })
            .collect();
        assert_eq!(got, want);
        assert_eq!(got, KNOWN);
    }

    /// The partitions of the three IDs above at 256 partitions, computed once.
    const KNOWN: [u32; 3] = [68, 111, 204];

    #[test]
    fn counts_out_of_range_are_refused() {
        assert!(Partitioning::new(0).is_err());
        assert!(Partitioning::new(Partitioning::MAX + 1).is_err());
        assert!(Partitioning::new(1).is_ok());
        assert!(Partitioning::new(Partitioning::MAX).is_ok());
    }

    /// A valid resident ID for `i` (many regions, birth dates and sequence numbers).
    fn nth_person(i: u32) -> SubjectId {
        const REGIONS: [&str; 4] = ["110105", "440304", "310115", "330106"];
        person(&format!(
            "{}{}{:02}{:02}{:03}",
            REGIONS[(i % 4) as usize],
            1950 + (i / 4) % 50,
            1 + (i / 200) % 12,
            1 + (i / 2400) % 28,
            (i / 67_200) % 1000,
        ))
    }

    #[test]
    fn subjects_spread_evenly() {
        // 200,000 distinct IDs into 64 partitions: every partition within 5 % of the mean
        // (the expected spread is about 1.8 %, so this fails only if the rule is bad).
        let p = Partitioning::new(64).unwrap();
        let mut counts = [0u32; 64];
        let mut seen = std::collections::HashSet::new();
        for i in 0..200_000u32 {
            let id = nth_person(i);
            assert!(seen.insert(id), "{id} twice");
            counts[p.of(id) as usize] += 1;
        }
        let mean = 200_000.0 / 64.0;
        for (i, &c) in counts.iter().enumerate() {
            assert!(
                (f64::from(c) - mean).abs() < 0.05 * mean,
                "partition {i}: {c} against a mean of {mean}"
            );
        }
    }

    proptest! {
        #[test]
        fn a_hash_falls_in_range_and_in_order(h in any::<u64>(), g in any::<u64>(), count in 1u32..=65_536) {
            let p = Partitioning::new(count).unwrap();
            prop_assert!(p.of_hash(h) < count);
            // Multiply-shift keeps the hash order: partitions are contiguous hash ranges.
            if h <= g {
                prop_assert!(p.of_hash(h) <= p.of_hash(g));
            }
        }
    }
}

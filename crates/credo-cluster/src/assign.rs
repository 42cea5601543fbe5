//! Partitions to nodes, by rendezvous (highest random weight) hashing.

use crate::{ClusterError, Partitioning};

/// Which node owns each partition.
///
/// Partition `p` goes to the node with the highest weight `xxh3_64(name, seed = p)`
/// (ties, which need equal 64-bit hashes, go to the smaller name). The answer depends
/// only on the set of node names and the partition count, so every node computes the
/// same one without talking, and the key-value store only has to agree on the node
/// list. A node that leaves gives up exactly its own partitions, spread over the others
/// by their weights; a node that joins takes only the partitions it now wins.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Assignment {
    partitioning: Partitioning,
    /// Sorted, without repeats.
    nodes: Vec<String>,
    /// Per partition, an index into `nodes`.
    owner: Vec<u16>,
}

/// A partition that changes owner between two assignments.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Move {
    pub partition: u32,
    /// `None` when the old assignment had no such partition (a first assignment).
    pub from: Option<String>,
    pub to: String,
}

/// The weight of `node` for partition `p`.
fn weight(node: &str, p: u32) -> u64 {
    xxhash_rust::xxh3::xxh3_64_with_seed(node.as_bytes(), u64::from(p))
}

fn check_name(n: &str) -> Result<(), ClusterError> {
    let ok = (1..=64).contains(&n.len())
        && n.bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_');
    if ok {
        Ok(())
    } else {
        Err(ClusterError::NodeName(n.to_string()))
    }
}

impl Assignment {
    /// The assignment of `partitioning`'s partitions to `nodes` (in any order).
    pub fn compute<S: AsRef<str>>(
        partitioning: Partitioning,
        nodes: &[S],
    ) -> Result<Assignment, ClusterError> {
        if nodes.is_empty() {
            return Err(ClusterError::NoNodes);
        }
        let mut names: Vec<String> = Vec::with_capacity(nodes.len());
        for n in nodes {
            check_name(n.as_ref())?;
            names.push(n.as_ref().to_string());
        }
        names.sort_unstable();
        if let Some(w) = names.windows(2).find(|w| w[0] == w[1]) {
            return Err(ClusterError::DuplicateNode(w[0].clone()));
        }
        if names.len() > usize::from(u16::MAX) {
            return Err(ClusterError::NodeName(format!("{} nodes", names.len())));
        }
        let owner = (0..partitioning.count())
            .map(|p| {
                // Names are sorted, so keeping the first of equal weights keeps the
                // smaller name.
                let mut best = (0u16, weight(&names[0], p));
                for (i, n) in names.iter().enumerate().skip(1) {
                    let w = weight(n, p);
                    if w > best.1 {
                        best = (i as u16, w);
                    }
                }
                best.0
            })
            .collect();
        Ok(Assignment {
            partitioning,
            nodes: names,
            owner,
        })
    }

    pub fn partitioning(&self) -> Partitioning {
        self.partitioning
    }

    /// The nodes, sorted.
    pub fn nodes(&self) -> &[String] {
        &self.nodes
    }

    /// The owner of partition `p`, or `None` if there is no such partition.
    pub fn owner(&self, p: u32) -> Option<&str> {
        self.owner
            .get(p as usize)
            .map(|&i| self.nodes[usize::from(i)].as_str())
    }

    /// The partitions `node` owns, in order.
    pub fn partitions_of(&self, node: &str) -> Vec<u32> {
        let Ok(i) = self.nodes.binary_search_by(|n| n.as_str().cmp(node)) else {
            return Vec::new();
        };
        (0..self.partitioning.count())
            .filter(|&p| usize::from(self.owner[p as usize]) == i)
            .collect()
    }

    /// The partitions whose owner differs in `next`, in partition order.
    pub fn moves_to(&self, next: &Assignment) -> Vec<Move> {
        (0..next.partitioning.count())
            .filter_map(|p| {
                let from = self.owner(p);
                let to = next.owner(p)?;
                (from != Some(to)).then(|| Move {
                    partition: p,
                    from: from.map(str::to_string),
                    to: to.to_string(),
                })
            })
            .collect()
    }

    /// The text kept in the cluster's key-value store: the format's name and version, the
    /// partition count and the node list. The owners follow from these.
    pub fn to_text(&self) -> String {
        format!(
            "credo-assignment 1\npartitions {}\nnodes {}\n",
            self.partitioning.count(),
            self.nodes.join(" ")
        )
    }

    /// Reads [`Assignment::to_text`]'s text back.
    pub fn parse(text: &str) -> Result<Assignment, ClusterError> {
        let bad = |line: usize, problem: &str| ClusterError::BadText {
            line,
            problem: problem.to_string(),
        };
        let mut lines = text.lines();
        if lines.next() != Some("credo-assignment 1") {
            return Err(bad(1, "expected `credo-assignment 1`"));
        }
        let count = lines
            .next()
            .and_then(|l| l.strip_prefix("partitions "))
            .and_then(|n| n.parse::<u32>().ok())
            .ok_or_else(|| bad(2, "expected `partitions N`"))?;
        let nodes: Vec<&str> = lines
            .next()
            .and_then(|l| l.strip_prefix("nodes "))
            .ok_or_else(|| bad(3, "expected `nodes NAME…`"))?
            .split(' ')
            .collect();
        if let Some(extra) = lines.find(|l| !l.is_empty()) {
            return Err(bad(4, &format!("unexpected `{extra}`")));
        }
        Assignment::compute(Partitioning::new(count)?, &nodes)
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;
    use proptest::prelude::*;

    fn names(n: usize) -> Vec<String> {
        (0..n).map(|i| format!("node-{i}")).collect()
    }

    /// The reference: every node's weight for the partition, the highest (then the
    /// smallest name) wins, by sorting.
    fn naive_owner(nodes: &[String], p: u32) -> String {
        let mut w: Vec<(std::cmp::Reverse<u64>, &String)> = nodes
            .iter()
            .map(|n| (std::cmp::Reverse(weight(n, p)), n))
            .collect();
        w.sort();
        w[0].1.clone()
    }

    #[test]
    fn three_nodes_share_256_partitions_fairly() {
        let a = Assignment::compute(Partitioning::new(256).unwrap(), &names(3)).unwrap();
        let shares: Vec<usize> = names(3).iter().map(|n| a.partitions_of(n).len()).collect();
        assert_eq!(shares.iter().sum::<usize>(), 256);
        // The mean is 85.3; rendezvous hashing's spread is about ±9.
        assert!(
            shares.iter().all(|&s| (60..=110).contains(&s)),
            "{shares:?}"
        );
    }

    #[test]
    fn bad_node_lists_are_refused() {
        let p = Partitioning::new(8).unwrap();
        let none: [&str; 0] = [];
        assert_eq!(Assignment::compute(p, &none), Err(ClusterError::NoNodes));
        assert!(matches!(
            Assignment::compute(p, &["a", "b", "a"]),
            Err(ClusterError::DuplicateNode(n)) if n == "a"
        ));
        for bad in ["", "has space", "dot.ted", &"x".repeat(65)] {
            assert!(matches!(
                Assignment::compute(p, &[bad]),
                Err(ClusterError::NodeName(_))
            ));
        }
    }

    #[test]
    fn bad_text_is_refused_with_its_line() {
        for (text, line) in [
            ("", 1),
            ("credo-assignment 2\n", 1),
            ("credo-assignment 1\npartitions x\nnodes a\n", 2),
            ("credo-assignment 1\npartitions 4\n", 3),
            ("credo-assignment 1\npartitions 4\nnodes a\nmore\n", 4),
        ] {
            match Assignment::parse(text) {
                Err(ClusterError::BadText { line: l, .. }) => assert_eq!(l, line, "{text:?}"),
                other => panic!("{text:?}: {other:?}"),
            }
        }
        assert!(matches!(
            Assignment::parse("credo-assignment 1\npartitions 0\nnodes a\n"),
            Err(ClusterError::PartitionCount { .. })
        ));
    }

    proptest! {
        #[test]
        fn owners_match_the_reference_and_ignore_the_list_order(
            n in 1usize..12,
            count in 1u32..600,
            rot in 0usize..12,
        ) {
            let nodes = names(n);
            let mut shuffled = nodes.clone();
            shuffled.rotate_left(rot % n);
            shuffled.reverse();
            let p = Partitioning::new(count).unwrap();
            let a = Assignment::compute(p, &nodes).unwrap();
            prop_assert_eq!(&a, &Assignment::compute(p, &shuffled).unwrap());
            let mut owned = 0;
            for q in 0..count {
                prop_assert_eq!(a.owner(q).unwrap(), naive_owner(&nodes, q));
            }
            for node in &nodes {
                owned += a.partitions_of(node).len();
            }
            prop_assert_eq!(owned, count as usize);
            prop_assert_eq!(a.owner(count), None);
            prop_assert_eq!(Assignment::parse(&a.to_text()).unwrap(), a);
        }

        #[test]
        fn a_node_leaving_moves_only_its_partitions_and_joining_takes_only_what_it_wins(
            n in 2usize..10,
            leave in 0usize..10,
            count in 1u32..600,
        ) {
            let p = Partitioning::new(count).unwrap();
            let all = names(n);
            let gone = all[leave % n].clone();
            let rest: Vec<String> = all.iter().filter(|x| **x != gone).cloned().collect();
            let before = Assignment::compute(p, &all).unwrap();
            let after = Assignment::compute(p, &rest).unwrap();
            let moves = before.moves_to(&after);
            // Exactly the partitions the leaving node owned move, and no others.
            let moved: Vec<u32> = moves.iter().map(|m| m.partition).collect();
            prop_assert_eq!(moved, before.partitions_of(&gone));
            prop_assert!(moves.iter().all(|m| m.from.as_deref() == Some(gone.as_str())));
            // The way back: the node rejoins and takes back exactly those partitions.
            let back = after.moves_to(&before);
            prop_assert!(back.iter().all(|m| m.to == gone));
            prop_assert_eq!(back.len(), before.partitions_of(&gone).len());
        }
    }
}

//! How a cluster spreads its work (issue 9), with no I/O and no clock.
//!
//! - [`Partitioning`]: a subject belongs to one of a fixed number of partitions, chosen by
//!   a stable hash of its ID's canonical 18-character text. The count is fixed for the
//!   life of a deployment and is many times the number of nodes, so that work moves
//!   between nodes a partition at a time.
//! - [`Assignment`]: which node owns each partition, by rendezvous (highest random
//!   weight) hashing over the live nodes. Every node computes the same answer from the
//!   same node list; when a node leaves, only its own partitions move, and when one
//!   joins, only the partitions it wins move to it.
//!
//! The transport (NATS JetStream subjects, the key-value store that holds the
//! assignment) is an edge and lives elsewhere; this crate only decides.

mod assign;
mod partition;

pub use assign::{Assignment, Move};
pub use partition::Partitioning;

/// What a cluster setting can get wrong.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ClusterError {
    #[error("the partition count must be 1 to {max}; got {got}")]
    PartitionCount { got: u32, max: u32 },
    #[error("a node name must be 1 to 64 characters of a-z, A-Z, 0-9, '-' and '_'; got {0:?}")]
    NodeName(String),
    #[error("node {0:?} is listed twice")]
    DuplicateNode(String),
    #[error("an assignment needs at least one node")]
    NoNodes,
    #[error("bad assignment text at line {line}: {problem}")]
    BadText { line: usize, problem: String },
}

//! A partition's access operations through the cluster (docs/cluster.md, "Access
//! operations").
//!
//! Consents, disputes, tip-offs, notice impressions and third parties' reads are about a
//! partition's subjects, so they must move with the partition when another node takes it
//! over, as its events do. The partition's commit thread therefore sends each one, once
//! checked, to the access stream's subject of its partition ([`PartLog`]) and applies
//! nothing itself. [`follow`] reads that subject back in order and hands each operation to
//! the commit thread ([`credo_server::commit::Committer::replay`]), which logs and applies
//! it and answers the handler waiting for it. The folder's audit log keeps each entry's
//! stream sequence (`stream`), and the engine's access state the last one applied
//! (`origin`), where reading starts again after a restart or a takeover.
//!
//! A grant's, dispute's or tip-off's id is its stream sequence, so every node that
//! applies the partition's operations gives the same ids.

use crate::{NodeError, Part};
use credo_bus::Bus;
use credo_engine::access::{Pending, pending_from_json, pending_to_json};
use credo_server::ApiError;
use std::sync::Arc;
use std::time::Duration;

/// Messages per replayed batch.
const BATCH: usize = 256;

/// How long the access stream keeps a third party's read (its inquiry): a folder keeps
/// inquiries 12 months, deleting a month's at once, so at most 13; the stream keeps them
/// 400 days, long enough that a folder rebuilt from it has every inquiry its old owner
/// still kept, and not for good (consents, disputes and tip-offs are kept for good).
pub const INQUIRY_TTL: Duration = Duration::from_secs(400 * 24 * 3600);

/// The access stream's subject of one partition, as its commit thread's
/// [`credo_server::commit::AccessLog`].
pub struct PartLog {
    pub bus: Arc<Bus>,
    pub partition: u32,
    /// The node's runtime: the commit thread blocks on the bus's acknowledgements.
    pub runtime: tokio::runtime::Handle,
}

impl credo_server::commit::AccessLog for PartLog {
    fn append(&self, ops: &[&Pending]) -> Result<Vec<u64>, ApiError> {
        let msgs: Vec<(bytes::Bytes, Option<Duration>)> = ops
            .iter()
            .map(|p| {
                let ttl = p.inquiry.is_some().then_some(INQUIRY_TTL);
                (bytes::Bytes::from(pending_to_json(p)), ttl)
            })
            .collect();
        // The timer is made inside the runtime's context (this is the commit thread).
        let sent = self.runtime.block_on(async {
            tokio::time::timeout(
                Duration::from_secs(10),
                self.bus.publish_access(self.partition, &msgs),
            )
            .await
        });
        let unavailable = |code: &'static str, m: String| {
            ApiError::new(axum::http::StatusCode::SERVICE_UNAVAILABLE, code, m)
        };
        match sent {
            Ok(Ok(seqs)) => Ok(seqs),
            Ok(Err(e)) => Err(unavailable(e.code(), e.to_string())),
            Err(_) => Err(unavailable(
                "bus_unavailable",
                "the cluster's access log did not acknowledge within 10 s".into(),
            )),
        }
    }
}

/// The last access-stream sequence applied in the partition's folder.
pub fn applied(part: &Part) -> u64 {
    part.engine()
        .read()
        .unwrap_or_else(std::sync::PoisonError::into_inner)
        .access()
        .origin
}

/// Applies the partition's access operations up to the stream's last one for it, as it
/// is now: a partition answers no one before this (a revoked consent must not be read
/// as granted on the node that takes it over or takes it back).
pub async fn catch_up(bus: &Bus, part: &Part) -> Result<(), NodeError> {
    let last = bus.access_last_sequence(part.partition).await?;
    if applied(part) >= last {
        return Ok(());
    }
    let mut reader = bus.access_reader(part.partition, applied(part) + 1).await?;
    while applied(part) < last {
        let batch = reader.next(BATCH, Duration::from_secs(5)).await?;
        if batch.is_empty() {
            return Err(NodeError::Stalled {
                partition: part.partition,
                applied: applied(part),
            });
        }
        replay(part, &batch).await?;
    }
    Ok(())
}

/// Reads the partition's access operations from the last applied on and applies them,
/// until aborted (the node's partition task).
pub async fn follow(bus: &Bus, part: &Part) -> Result<(), NodeError> {
    let mut reader = bus.access_reader(part.partition, applied(part) + 1).await?;
    let mut idle = 0u32;
    loop {
        let batch = reader.next(BATCH, Duration::from_secs(1)).await?;
        if batch.is_empty() {
            // An ordered consumer whose server died can go quiet instead of failing
            // (as the events' reader): ask the stream now and then.
            idle += 1;
            if idle.is_multiple_of(3)
                && bus.access_last_sequence(part.partition).await? > applied(part)
            {
                return Err(NodeError::Stalled {
                    partition: part.partition,
                    applied: applied(part),
                });
            }
            continue;
        }
        idle = 0;
        replay(part, &batch).await?;
    }
}

async fn replay(part: &Part, batch: &[credo_bus::Read]) -> Result<(), NodeError> {
    let mut ops = Vec::with_capacity(batch.len());
    for r in batch {
        // Only a partition's own commit thread writes here, after its checks: an
        // unreadable message is a bug or a foreign writer, and the partition's access
        // stops there (retried, and logged) rather than skip a consent's revocation.
        let p = pending_from_json(&r.lines).map_err(|e| NodeError::Access {
            partition: part.partition,
            code: "bad_access_log",
            message: format!(
                "unreadable operation at stream sequence {}: {e}",
                r.sequence
            ),
        })?;
        ops.push((r.sequence, p));
    }
    part.state
        .commits
        .replay(ops)
        .await
        .map_err(|e| NodeError::Access {
            partition: part.partition,
            code: e.code,
            message: e.message,
        })?;
    Ok(())
}

//! The cluster's API keys.
//!
//! A single machine keeps its keys in its audit log. A cluster keeps them in the bus's
//! bucket: `key.<id>` holds the key's creation (the audit log's JSON of `key.create`, with
//! the SHA-256 of the token, never the token), `revoked.<id>` its revocation. Every node
//! reads them each [`SYNC`] into its own key ring (which `POST /v1/events` checks), and
//! logs each one it has not logged yet into every partition's audit log, as
//! `admin:cluster`, so that each partition's own API answers to the same keys.

use crate::{NodeError, Running};
use bytes::Bytes;
use credo_access::{AccessOp, KeyRecord, KeyRing};
use credo_bus::Bus;
use credo_engine::Clock;
use credo_engine::access::{Pending, op_from_json, op_to_json};
use std::collections::BTreeMap;
use std::sync::{Arc, Mutex, RwLock};
use std::time::Duration;

/// How often a node reads the cluster's keys.
pub const SYNC: Duration = Duration::from_secs(1);

/// Stores a new key in the cluster's bucket (the token is the caller's to hand out).
pub async fn create(bus: &Bus, key: &KeyRecord) -> Result<(), NodeError> {
    let json = op_to_json(&AccessOp::KeyCreate(key.clone()), key.created);
    bus.put_value(&format!("key.{}", key.id), Bytes::from(json))
        .await?;
    Ok(())
}

/// Revokes a key cluster-wide.
pub async fn revoke(bus: &Bus, id: &str) -> Result<bool, NodeError> {
    if bus.value(&format!("key.{id}")).await?.is_none() {
        return Ok(false);
    }
    let json = op_to_json(&AccessOp::KeyRevoke { id: id.into() }, Clock::now());
    bus.put_value(&format!("revoked.{id}"), Bytes::from(json))
        .await?;
    Ok(true)
}

/// The cluster's keys as stored: creations, then revocations.
pub async fn load(bus: &Bus) -> Result<Vec<AccessOp>, NodeError> {
    let mut names = bus.keys_under(&["key.", "revoked."]).await?;
    // Creations before revocations.
    names.sort_by_key(|k| k.starts_with("revoked."));
    let mut out = Vec::new();
    for k in names {
        let Some(v) = bus.value(&k).await? else {
            continue;
        };
        match op_from_json(&v) {
            Ok(op) => out.push(op),
            Err(e) => tracing::warn!(key = k, error = e, "an unreadable cluster key"),
        }
    }
    Ok(out)
}

/// Brings the node's ring, every open partition's audit log and the public replica's up
/// to the bucket.
pub(crate) async fn sync(
    bus: &Bus,
    ring: &RwLock<KeyRing>,
    parts: &Arc<Mutex<BTreeMap<u32, Running>>>,
    public: &credo_server::AppState,
) -> Result<(), NodeError> {
    let ops = load(bus).await?;
    {
        let mut r = ring
            .write()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        for op in &ops {
            match op {
                AccessOp::KeyCreate(k) if !r.contains_id(&k.id) => r.add(k.clone()),
                AccessOp::KeyRevoke { id } => {
                    r.revoke(id, Clock::now());
                }
                _ => {}
            }
        }
    }
    for state in crate::folders(parts, public) {
        log_into(&state, &ops).await?;
    }
    Ok(())
}

/// Logs into one partition's audit log the keys of `ops` it has not logged yet: creations
/// first, then revocations (a revocation whose key is not logged yet waits for the next
/// round).
pub(crate) async fn log_into(
    state: &credo_server::AppState,
    ops: &[AccessOp],
) -> Result<(), NodeError> {
    let missing: Vec<Pending> = {
        let e = state
            .engine
            .read()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        let keys = &e.access().keys;
        ops.iter()
            .filter(|op| match op {
                AccessOp::KeyCreate(k) => !keys.contains_id(&k.id),
                AccessOp::KeyRevoke { id } => keys.get(id).is_some_and(|k| k.revoked.is_none()),
                _ => false,
            })
            .map(|op| Pending {
                at: Clock::now(),
                actor: "admin:cluster".into(),
                key: None,
                op: op.clone(),
                inquiry: None,
            })
            .collect()
    };
    let (creates, revokes): (Vec<Pending>, Vec<Pending>) = missing
        .into_iter()
        .partition(|p| matches!(p.op, AccessOp::KeyCreate(_)));
    for group in [creates, revokes] {
        if !group.is_empty() {
            state
                .commits
                .submit(group)
                .await
                .map_err(|e| NodeError::Keys(e.message))?;
        }
    }
    Ok(())
}

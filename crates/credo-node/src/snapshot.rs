//! Snapshots of partitions in the bus's object store (docs/cluster.md, "Nodes").
//!
//! - **Taking one.** Every [`NodeConfig::snapshot_every`](crate::NodeConfig), a node
//!   copies the event log of each partition it owns that has moved since its last
//!   snapshot: the stream position `S` is read first, then, under the engine's lock, the
//!   log's length `L`; the log's first `L` bytes hold every event up to `S` (a position is
//!   recorded only after its batch is in the log) and maybe a few after it, which a
//!   restore reads again as duplicates. The copy goes to the object store as `p<p>` with
//!   `S`; the store replaces the previous one only once the new one is whole.
//! - **Restoring.** A node that opens a partition whose folder holds nothing of the stream
//!   (a takeover, a new node) writes the snapshot's log into the folder, syncs its name,
//!   then writes `restored.seq = S` and `stream.seq = S` (in that order: a crash before
//!   `stream.seq` redoes the restore), opens it as any folder (the engine replays the log)
//!   and reads the stream from `S + 1`. `restored.seq` stays: the folder was made from a
//!   snapshot even if the takeover failed after the restore and is tried again. Without a
//!   snapshot it reads the stream from the start. A folder that holds part of the stream
//!   is kept and catches up from where it is.
//! - What a snapshot does not carry: a partition's audit log, consents and inquiries,
//!   which are not in the stream either (docs/cluster.md, "Not built yet").

use crate::{NodeConfig, NodeError, Part, Shared, io, write_seq};
use credo_bus::Bus;
use credo_engine::{Clock, Engine};
use std::collections::HashMap;
use std::path::Path;
use std::sync::Arc;
use tokio::io::AsyncReadExt;

/// Fills a partition's folder from its snapshot, if there is one and the folder holds
/// nothing of the stream yet (no folder, or one this node opened and let go before any
/// event came); the stream sequence the folder then holds. A folder that holds part of the
/// stream is kept (it has its own audit log) and catches up from the stream.
pub(crate) async fn restore(
    bus: &Bus,
    config: &NodeConfig,
    (p, n): (u32, u32),
    dir: &Path,
) -> Result<Option<u64>, NodeError> {
    let log = dir.join("events.log");
    if crate::read_seq(dir)? > 0 {
        // A folder made from a snapshot says so for as long as it lives: a takeover that
        // restored it and then failed (a request timed out) opens it again from here.
        return crate::read_number(dir, RESTORED_FILE);
    }
    if bus.snapshot_info(p).await?.is_none_or(|(seq, _)| seq == 0) {
        return Ok(None);
    }
    // The folder is made a partition first, empty, as any new partition's folder: its
    // log is replayed as a partition's when it opens (contacts with one end elsewhere).
    let (d, model, as_of) = (dir.to_path_buf(), config.model.clone(), config.as_of);
    tokio::task::spawn_blocking(move || -> Result<(), NodeError> {
        let (mut engine, _) = Engine::open(&d, model, as_of.map(Clock::Fixed))?;
        if engine.event_count() == 0 {
            engine.set_partition(p, n)?;
            if as_of.is_some() {
                engine.set_folder_as_of(as_of)?;
            }
        }
        Ok(())
    })
    .await
    .map_err(|e| crate::joined("restoring a partition", e))??;
    let tmp = dir.join("events.log.snapshot");
    let mut f = tokio::fs::File::create(&tmp).await.map_err(io(&tmp))?;
    let Some(seq) = bus.get_snapshot(p, &mut f).await? else {
        return Ok(None);
    };
    f.sync_all().await.map_err(io(&tmp))?;
    drop(f);
    // The log is in place, and its name durable, before the folder claims the stream up
    // to `seq`: a crash in between leaves `stream.seq` absent and the restore is redone.
    tokio::fs::rename(&tmp, &log).await.map_err(io(&log))?;
    sync_dir(dir)?;
    crate::write_number(dir, RESTORED_FILE, seq)?;
    write_seq(dir, seq)?;
    tracing::info!(partition = p, seq, "partition restored from its snapshot");
    Ok(Some(seq))
}

/// Where a folder made from a snapshot keeps the snapshot's stream sequence.
const RESTORED_FILE: &str = "restored.seq";

fn sync_dir(dir: &Path) -> Result<(), NodeError> {
    std::fs::File::open(dir)
        .and_then(|d| d.sync_all())
        .map_err(io(dir))
}

/// Takes a snapshot of every owned partition that moved since the last, every `every`.
pub(crate) async fn snapshot_loop(node: Shared, every: std::time::Duration) {
    let mut taken: HashMap<u32, u64> = HashMap::new();
    loop {
        tokio::time::sleep(every).await;
        for p in node.owned() {
            let Some(part) = node.part(p) else { continue };
            if let Err(e) = take(&node.bus, &part, &mut taken).await {
                tracing::warn!(node = %node.config.name, partition = p, error = %e, "taking a snapshot");
            }
        }
    }
}

async fn take(bus: &Bus, part: &Arc<Part>, taken: &mut HashMap<u32, u64>) -> Result<(), NodeError> {
    let p = part.partition;
    let seq = part.applied();
    let last = match taken.get(&p) {
        Some(&s) => s,
        None => bus.snapshot_info(p).await?.map_or(0, |(s, _)| s),
    };
    if seq <= last {
        taken.insert(p, last);
        return Ok(());
    }
    let (path, len) = part
        .engine()
        .read()
        .unwrap_or_else(std::sync::PoisonError::into_inner)
        .log_extent();
    let file = tokio::fs::File::open(&path).await.map_err(io(&path))?;
    let mut prefix = file.take(len);
    bus.put_snapshot(p, seq, &mut prefix).await?;
    taken.insert(p, seq);
    tracing::debug!(partition = p, seq, bytes = len, "snapshot taken");
    Ok(())
}

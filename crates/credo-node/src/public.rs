//! The public indexes on every node (docs/cluster.md, "Global indexes").
//!
//! - **Owners publish.** Each partition's folder publishes its subjects' public states
//!   (`Engine::publish_public`): after every batch it applies, the states of subjects
//!   whose court record or `subject` record changed go to the bus's public stream, one
//!   message subject per subject ID, stamped with the partition's stream position. The
//!   partition records that position only once they are acknowledged, so a crash
//!   publishes them again; a partition that opens publishes all of its states.
//! - **Every node keeps a replica.** It reads the whole public stream in order into an
//!   engine of its own (`DIR/public`, its state in memory and read again at each start:
//!   the stream keeps the last state of every subject) and answers the list, the map and call screening from it with
//!   the single machine's handlers. Per subject it keeps the state with the highest
//!   position, so a late message from a partition's previous owner cannot undo a newer
//!   one.

use crate::{NodeConfig, NodeError, Part, io, lock};
use bytes::Bytes;
use credo_bus::Bus;
use credo_engine::public::PublicState;
use credo_engine::{Clock, Engine};
use credo_model::SubjectId;
use std::collections::HashMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

/// States read per replica update.
const BATCH: usize = 512;

/// A node's replica of every partition's public state.
pub struct Public {
    pub state: credo_server::AppState,
    pub(crate) app: axum::Router,
    applied: AtomicU64,
}

impl Public {
    /// The last public stream sequence the replica holds.
    pub fn applied(&self) -> u64 {
        self.applied.load(Ordering::Acquire)
    }
}

/// Opens the replica in `DIR/public`. Its state is in memory and starts empty (it is
/// read again from the public stream); the folder keeps the node's own audit log: the
/// cluster's keys, and the ingest requests this node took (`POST /v1/events`).
pub(crate) fn open(config: &NodeConfig) -> Result<Public, NodeError> {
    let dir = config.dir.join("public");
    let (mut engine, _) = Engine::open(&dir, config.model.clone(), config.as_of.map(Clock::Fixed))?;
    if config.as_of.is_some() {
        engine.set_folder_as_of(config.as_of)?;
    }
    engine.put_public(Vec::new())?;
    let state = credo_server::AppState::new(engine, config.server).map_err(|e| io(&dir)(e))?;
    Ok(Public {
        app: credo_server::app(state.clone()),
        state,
        applied: AtomicU64::new(0),
    })
}

/// Reads the public stream into the replica, until aborted; errors are logged and the
/// reading starts again from the replica's position.
pub(crate) async fn replica_loop(bus: Arc<Bus>, public: Arc<Public>, node: String) {
    let mut held: HashMap<SubjectId, u64> = HashMap::new();
    loop {
        if let Err(e) = read_from(&bus, &public, &mut held).await {
            tracing::warn!(node, code = e.code(), error = %e, "reading the public stream; retrying");
            tokio::time::sleep(Duration::from_millis(250)).await;
        }
    }
}

async fn read_from(
    bus: &Bus,
    public: &Arc<Public>,
    held: &mut HashMap<SubjectId, u64>,
) -> Result<(), NodeError> {
    let mut reader = bus.public_reader(public.applied() + 1).await?;
    let mut idle = 0;
    loop {
        let batch = reader.next(BATCH, Duration::from_secs(1)).await?;
        let Some(last) = batch.last().map(|r| r.sequence) else {
            // As a partition's reader: an ordered consumer may go quiet after its server
            // died; read again if the stream has more than the replica.
            idle += 1;
            if idle % 3 == 0 && bus.public_last_sequence().await? > public.applied() {
                return Err(NodeError::Stalled {
                    partition: u32::MAX,
                    applied: public.applied(),
                });
            }
            continue;
        };
        idle = 0;
        let mut states = Vec::with_capacity(batch.len());
        for r in &batch {
            match PublicState::from_json(&r.lines) {
                Ok((st, seq)) => {
                    let newest = held.get(&st.subject).is_none_or(|&h| seq >= h);
                    if newest {
                        held.insert(st.subject, seq);
                        states.push(st);
                    }
                }
                Err(e) => {
                    tracing::warn!(sequence = r.sequence, error = %e, "an unreadable public state")
                }
            }
        }
        let p = public.clone();
        tokio::task::spawn_blocking(move || -> Result<(), NodeError> {
            let mut engine = p
                .state
                .engine
                .write()
                .unwrap_or_else(std::sync::PoisonError::into_inner);
            engine.put_public(states)?;
            // A lifted listing waits in open live sessions as a `leave`: wake them, as
            // one machine does after an ingest.
            p.state.wake_sessions(&engine);
            Ok(())
        })
        .await
        .map_err(|e| crate::joined("the public replica", e))??;
        public.applied.store(last, Ordering::Release);
    }
}

/// Takes the partition's changed public states into its queue, stamped with `seq`.
pub(crate) fn take(engine: &mut Engine, part: &Part, seq: u64) -> Result<(), NodeError> {
    let states = engine.take_public()?;
    if !states.is_empty() {
        let mut q = lock(&part.public);
        q.extend(states.into_iter().map(|st| {
            let json = Bytes::from(st.to_json(seq));
            (part.partition, st.subject.to_string(), json)
        }));
    }
    Ok(())
}

/// Publishes the partition's queued states; they leave the queue once acknowledged.
pub(crate) async fn flush(bus: &Bus, part: &Part) -> Result<(), NodeError> {
    let queued: Vec<(u32, String, Bytes)> = lock(&part.public).clone();
    if queued.is_empty() {
        return Ok(());
    }
    bus.publish_public(&queued).await?;
    lock(&part.public).drain(..queued.len());
    Ok(())
}

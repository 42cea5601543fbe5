//! A cluster node (docs/cluster.md).
//!
//! - **Ownership.** The node joins the assignment kept in the bus's key-value bucket
//!   (compare-and-set) and owns the partitions that rendezvous hashing gives its name.
//!   It reads the assignment again every [`POLL`] and starts or stops partitions to match.
//! - **Data.** Each owned partition has its own credo data folder, `DIR/p<p>/`, marked as
//!   that partition (`Engine::set_partition`), with the same engine, log and checks as a
//!   single machine. Beside the log, `stream.seq` holds the last stream sequence whose
//!   events the folder holds.
//! - **Applying.** A partition reads its stream subject in order from `stream.seq + 1`
//!   ([`credo_bus::Reader`]), ingests each batch (written and synced to the folder's log),
//!   then records the batch's last sequence. A crash between the two reads the batch
//!   again, and the engine counts its events as duplicates: nothing acknowledged by the
//!   stream is lost, and nothing is applied twice.
//! - **Failure.** Every node counts up its heartbeat each [`BEAT`]. The lowest-named node
//!   whose heartbeat moves removes from the assignment any node whose count has not moved
//!   for [`SILENT`]; the others then take its partitions, each rebuilt from its folder if
//!   the node had it before, else from the start of the stream.

pub mod access;
pub mod flow;
pub mod http;
pub mod keys;
mod notices;
mod policies;
pub mod public;
pub mod snapshot;

use credo_bus::{Bus, BusError};
use credo_cluster::{Assignment, ClusterError, Partitioning};
use credo_engine::{Clock, Engine, EngineError, IngestOptions};
use credo_model::Day;
use credo_score::Model;
use std::collections::{BTreeMap, HashMap};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, RwLock};
use std::time::Duration;
use tokio::task::JoinHandle;

/// How often a node reads the assignment.
pub const POLL: Duration = Duration::from_millis(250);
/// How often a node beats.
pub const BEAT: Duration = Duration::from_millis(500);
/// A node whose heartbeat has not moved for this long is removed from the assignment.
pub const SILENT: Duration = Duration::from_secs(5);
/// Messages per ingested batch.
const BATCH: usize = 64;
const SEQ_FILE: &str = "stream.seq";

#[derive(Debug, thiserror::Error)]
pub enum NodeError {
    #[error(transparent)]
    Bus(#[from] BusError),
    #[error(transparent)]
    Engine(#[from] EngineError),
    #[error(transparent)]
    Cluster(#[from] ClusterError),
    #[error("{path}: {source}")]
    Io {
        path: String,
        source: std::io::Error,
    },
    #[error("{path}: not a stream sequence: {text:?}")]
    BadSequence { path: String, text: String },
    #[error(
        "partition {partition}: no messages after sequence {applied} although the stream has more; reading again"
    )]
    Stalled { partition: u32, applied: u64 },
    #[error(transparent)]
    Flow(#[from] credo_flow::FlowError),
    #[error("no assignment is stored yet")]
    NoAssignment,
    #[error("node {0} has not published a flow address")]
    NoFlowAddress(String),
    #[error("propagation round {round} did not finish on every node in time")]
    FlowTimeout { round: u64 },
    #[error(
        "propagation round {round}: node {node} did not hold all its partitions (a handover); ask again"
    )]
    FlowIncomplete { round: u64, node: String },
    #[error("propagation round {round} failed on node {node}: {message}; ask again")]
    FlowFailed {
        round: u64,
        node: String,
        message: String,
    },
    #[error("logging the cluster's keys: {0}")]
    Keys(String),
    #[error("partition {partition}'s access operations: {message}")]
    Access {
        partition: u32,
        code: &'static str,
        message: String,
    },
    #[error("partition {partition} is this node's but not open yet")]
    NotOpen { partition: u32 },
    #[error("the assignment has {found} partitions; this node was started for {expected}")]
    Partitions { found: u32, expected: u32 },
}

impl NodeError {
    /// The stable error code (docs/errors.md).
    pub fn code(&self) -> &'static str {
        match self {
            NodeError::Bus(e) => e.code(),
            NodeError::Engine(e) => e.code(),
            NodeError::Cluster(_) => "bad_assignment",
            NodeError::Io { .. } => "storage_io",
            NodeError::BadSequence { .. } => "bad_data_folder",
            NodeError::Partitions { .. } => "bad_assignment",
            NodeError::Stalled { .. } => "bus_unavailable",
            NodeError::Flow(_) => "propagation_failed",
            NodeError::NotOpen { .. } => "bus_unavailable",
            NodeError::Keys(_) => "storage_io",
            NodeError::Access { code, .. } => code,
            NodeError::NoAssignment | NodeError::NoFlowAddress(_) => "bus_unavailable",
            NodeError::FlowTimeout { .. }
            | NodeError::FlowIncomplete { .. }
            | NodeError::FlowFailed { .. } => "propagation_failed",
        }
    }
}

#[derive(Clone)]
pub struct NodeConfig {
    pub name: String,
    /// The node's folder; partition `p` lives in `dir/p<p>`.
    pub dir: PathBuf,
    pub model: Model,
    /// A fixed "now" for every partition's folder (synthetic data), as a single machine's
    /// `set_folder_as_of`.
    pub as_of: Option<Day>,
    /// Where this node's worker listens for the cross-node propagation (TCP), if it takes
    /// part in jobs asked for in the bucket ([`flow`]).
    pub flow: Option<String>,
    /// The HTTP settings of every partition's app and the public replica's (the public
    /// routes' rate limit).
    pub server: credo_server::Config,
    /// How often the node snapshots the partitions it owns into the object store
    /// ([`snapshot`]); `None`: never.
    pub snapshot_every: Option<Duration>,
    /// How often the lowest-named node checks whether the relationships terms need a
    /// propagation round ([`flow`]: the keeper); `None`: only when asked.
    pub propagate_every: Option<Duration>,
}

/// One owned partition: its engine, served by the same HTTP state as a single machine's
/// (its own audit log and commit thread), and the last stream sequence it holds.
pub struct Part {
    pub partition: u32,
    pub state: credo_server::AppState,
    /// The single machine's router over `state`, built once.
    app: axum::Router,
    applied: AtomicU64,
    /// Public states taken from the engine and not yet acknowledged by the bus
    /// ([`public`]): (partition, subject ID, JSON).
    public: Mutex<Vec<(u32, String, bytes::Bytes)>>,
    /// The stream sequence of the snapshot the folder was made from, if it was.
    pub restored: Option<u64>,
}

impl Part {
    pub fn engine(&self) -> &Arc<RwLock<Engine>> {
        &self.state.engine
    }

    /// The last stream sequence whose events this partition's folder holds.
    pub fn applied(&self) -> u64 {
        self.applied.load(Ordering::Acquire)
    }
}

struct Running {
    part: Arc<Part>,
    task: JoinHandle<()>,
}

/// What a node's tasks share.
#[derive(Clone)]
pub struct Shared {
    config: NodeConfig,
    bus: Arc<Bus>,
    parts: Arc<Mutex<BTreeMap<u32, Running>>>,
    /// The cluster's API keys ([`keys`]).
    keys: Arc<RwLock<credo_access::KeyRing>>,
    /// The assignment as last read (every [`POLL`]) and the other nodes' addresses as
    /// looked up: what routing a request reads, without a round trip to the bucket.
    view: Arc<RwLock<View>>,
    /// The replica of every partition's public state ([`public`]).
    public: Arc<public::Public>,
    /// The last propagation round this node completed.
    propagated: Arc<AtomicU64>,
    /// The cluster's policy file as last installed in every folder ([`policies`]).
    policy: Arc<Mutex<Option<String>>>,
    /// The secret nodes show each other on internal legs ([`notices`]), from the bucket.
    internal: Arc<String>,
}

#[derive(Default)]
struct View {
    assignment: Option<Assignment>,
    addrs: HashMap<String, String>,
}

/// A node's partitions: those the assignment gives it, the stream position of each it
/// holds, and whether it holds all of them up to the stream's last message.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct Progress {
    pub partitions: Vec<u32>,
    pub applied: BTreeMap<u32, u64>,
    /// The public stream's position in this node's replica.
    pub public_applied: u64,
    /// Partitions whose folder this node made from a snapshot, and the snapshot's
    /// stream sequence.
    pub restored: BTreeMap<u32, u64>,
    /// Every partition holds the stream's last message and has published its public
    /// states, and the replica holds the public stream's last message.
    pub caught_up: bool,
}

/// A running node. Dropping it without [`Node::stop`] leaves its tasks running.
pub struct Node {
    shared: Shared,
    /// The node's loops: assignment, liveness, keys, propagation.
    tasks: Vec<JoinHandle<()>>,
}

impl std::ops::Deref for Node {
    type Target = Shared;
    fn deref(&self) -> &Shared {
        &self.shared
    }
}

impl Node {
    /// Joins the assignment and starts applying the owned partitions.
    pub async fn start(bus: Arc<Bus>, config: NodeConfig) -> Result<Node, NodeError> {
        std::fs::create_dir_all(&config.dir).map_err(io(&config.dir))?;
        join(&bus, &config.name).await?;
        let parts: Arc<Mutex<BTreeMap<u32, Running>>> = Arc::default();
        if let Some(addr) = &config.flow {
            bus.put_value(
                &flow::flow_key(&config.name),
                bytes::Bytes::from(addr.clone()),
            )
            .await?;
        }
        let public = Arc::new(public::open(&config)?);
        let internal = Arc::new(internal_token(&bus).await?);
        let node = Shared {
            config,
            bus,
            parts,
            keys: Arc::default(),
            view: Arc::default(),
            public,
            propagated: Arc::default(),
            policy: Arc::default(),
            internal,
        };
        // A stream or bucket just created in a cluster may have no leader for a moment:
        // the poll below tries again every 250 ms.
        if let Err(e) = node.reconcile().await {
            tracing::warn!(node = %node.config.name, error = %e, "reading the assignment");
        }
        if let Err(e) = node.sync_keys().await {
            tracing::warn!(node = %node.config.name, error = %e, "reading the cluster's keys");
        }
        let mut tasks = Vec::new();
        let (bus, public, name) = (
            node.bus.clone(),
            node.public.clone(),
            node.config.name.clone(),
        );
        tasks.push(tokio::spawn(async move {
            public::replica_loop(bus, public, name).await
        }));
        let n = node.clone();
        tasks.push(tokio::spawn(async move {
            loop {
                tokio::time::sleep(POLL).await;
                if let Err(e) = n.reconcile().await {
                    tracing::warn!(node = %n.config.name, error = %e, "reading the assignment");
                }
            }
        }));
        let (bus, name) = (node.bus.clone(), node.config.name.clone());
        tasks.push(tokio::spawn(async move { liveness(bus, name).await }));
        let n = node.clone();
        tasks.push(tokio::spawn(async move {
            loop {
                if let Err(e) = n.sync_keys().await {
                    tracing::warn!(node = %n.config.name, error = %e, "reading the cluster's keys");
                }
                if let Err(e) = policies::sync(&n.bus, &n.parts, &n.public.state, &n.policy).await {
                    tracing::warn!(node = %n.config.name, error = %e, "installing the cluster's policies");
                }
                tokio::time::sleep(keys::SYNC).await;
            }
        }));
        if let Some(every) = node.config.snapshot_every {
            let n = node.clone();
            tasks.push(tokio::spawn(snapshot::snapshot_loop(n, every)));
        }
        if node.config.flow.is_some() {
            let n = node.clone();
            tasks.push(tokio::spawn(async move { n.flow_loop().await }));
            if let Some(every) = node.config.propagate_every {
                let n = node.clone();
                tasks.push(tokio::spawn(async move { n.keeper(every).await }));
            }
        }
        Ok(Node {
            shared: node,
            tasks,
        })
    }

    /// The node's HTTP API ([`http`]); `addr` is where other nodes reach it, published
    /// in the bucket for forwarding.
    pub async fn router(&self, addr: &str) -> Result<axum::Router, NodeError> {
        self.bus
            .put_value(
                &http::addr_key(&self.config.name),
                bytes::Bytes::from(addr.to_string()),
            )
            .await?;
        Ok(http::Http::new(self.shared.clone()).router())
    }

    pub fn bus(&self) -> &Arc<Bus> {
        &self.bus
    }

    pub fn name(&self) -> &str {
        &self.config.name
    }

    /// Whether every partition the assignment gives this node is open and holds its
    /// stream subject's last message.
    pub async fn caught_up(&self) -> Result<bool, NodeError> {
        Ok(self.progress().await?.caught_up)
    }

    /// Stops at once, as a crash would: no partition finishes its batch or records it,
    /// and the assignment still lists the node until the others find it silent.
    pub fn stop(self) {
        for t in &self.tasks {
            t.abort();
        }
        for (_, r) in std::mem::take(&mut *lock(&self.parts)) {
            r.task.abort();
        }
    }
}

/// What a cross-node propagation did (`propagate_threads`).
#[derive(Debug, Clone, PartialEq)]
pub struct PropagationRun {
    pub subjects: usize,
    pub iterations: u32,
    pub residual: f64,
    pub converged: bool,
    /// Records all workers sent into the exchange.
    pub records: u64,
}

impl Shared {
    /// The partitions this node applies now.
    pub fn owned(&self) -> Vec<u32> {
        lock(&self.parts).keys().copied().collect()
    }

    /// Partition `p`, if this node applies it now.
    pub fn part(&self, p: u32) -> Option<Arc<Part>> {
        lock(&self.parts).get(&p).map(|r| r.part.clone())
    }

    /// This node's partitions under the stored assignment (read now, not the cached one)
    /// and how far each is applied.
    pub async fn progress(&self) -> Result<Progress, NodeError> {
        let (applied, queued, restored): (BTreeMap<u32, u64>, usize, BTreeMap<u32, u64>) = {
            let parts = lock(&self.parts);
            (
                parts.iter().map(|(&p, r)| (p, r.part.applied())).collect(),
                parts.values().map(|r| lock(&r.part.public).len()).sum(),
                parts
                    .iter()
                    .filter_map(|(&p, r)| Some((p, r.part.restored?)))
                    .collect(),
            )
        };
        let Some((a, _)) = self.bus.assignment().await? else {
            return Ok(Progress {
                partitions: Vec::new(),
                applied,
                public_applied: self.public.applied(),
                restored,
                caught_up: false,
            });
        };
        let partitions = a.partitions_of(&self.config.name);
        let mut caught_up = queued == 0;
        for &p in &partitions {
            let last = self.bus.last_sequence(p).await?;
            caught_up &= applied.get(&p).is_some_and(|&at| at >= last);
        }
        // After the partitions: what they published is in the stream by now.
        let public_applied = self.public.applied();
        caught_up &= public_applied >= self.bus.public_last_sequence().await?;
        Ok(Progress {
            partitions,
            applied,
            public_applied,
            restored,
            caught_up,
        })
    }

    /// This node's part of the cross-node job under assignment `a`: the shares of the
    /// partitions `a` gives it that it holds (a partition being handed over may still be
    /// applied here too; it is left out).
    pub fn contact_share(&self, a: &Assignment) -> FlowShare {
        let mut out = FlowShare {
            complete: true,
            ..FlowShare::default()
        };
        for p in a.partitions_of(&self.config.name) {
            let Some(part) = self.part(p) else {
                out.complete = false;
                continue;
            };
            let share = part
                .engine()
                .read()
                .unwrap_or_else(std::sync::PoisonError::into_inner)
                .contact_share();
            out.share
                .keys
                .extend(share.subjects.iter().map(|id| id.key()));
            out.share.own.extend(share.own);
            out.share.contacts.extend(
                share
                    .contacts
                    .into_iter()
                    .map(|c| c.into_iter().map(|id| id.key()).collect()),
            );
            out.parts.push((part, share.subjects));
        }
        out
    }

    /// Gives each partition of `share` the terms of its subjects from the job's outcome
    /// (kept in its folder too, for a reopen).
    pub fn set_contact_terms(
        &self,
        share: &FlowShare,
        outcome: &credo_flow::Outcome,
    ) -> Result<(), NodeError> {
        let mut terms = outcome.contacts.iter();
        for (part, subjects) in &share.parts {
            let mine: Vec<_> = subjects
                .iter()
                .copied()
                .zip(terms.by_ref())
                .map(|(id, &t)| (id, t))
                .collect();
            part.engine()
                .write()
                .unwrap_or_else(std::sync::PoisonError::into_inner)
                .set_contact_terms(&mine)?;
        }
        Ok(())
    }

    /// Starts the partitions the assignment gives this node and stops the others; keeps
    /// the assignment for routing.
    async fn reconcile(&self) -> Result<(), NodeError> {
        let Some((a, _)) = self.bus.assignment().await? else {
            return Ok(());
        };
        let expected = self.bus.partitioning().count();
        if a.partitioning().count() != expected {
            return Err(NodeError::Partitions {
                found: a.partitioning().count(),
                expected,
            });
        }
        let want: Vec<u32> = a.partitions_of(&self.config.name);
        write(&self.view).assignment = Some(a.clone());
        let stale: Vec<u32> = lock(&self.parts)
            .keys()
            .copied()
            .filter(|p| !want.contains(p))
            .collect();
        for p in stale {
            if let Some(r) = lock(&self.parts).remove(&p) {
                r.task.abort();
                tracing::info!(node = %self.config.name, partition = p, "partition handed over");
            }
        }
        let mut keys = None;
        let mut policy = None;
        for p in want {
            if lock(&self.parts).contains_key(&p) {
                continue;
            }
            let metrics = self.public.state.metrics.clone();
            let part = open_part(&self.bus, &self.config, p, a.partitioning(), metrics).await?;
            // The cluster's keys and policies before the partition answers anyone.
            let ops = match &keys {
                Some(ops) => ops,
                None => keys.insert(keys::load(&self.bus).await?),
            };
            keys::log_into(&part.state, ops).await?;
            let text = match &policy {
                Some(t) => t,
                None => policy.insert(policies::load(&self.bus).await?),
            };
            if let Some(text) = text {
                policies::install_into(&part.state, text).await?;
            }
            // Its consents, disputes and reads as the cluster has them, before it answers.
            access::catch_up(&self.bus, &part).await?;
            let part2 = part.clone();
            let (bus, name) = (self.bus.clone(), self.config.name.clone());
            let task = tokio::spawn(async move {
                tokio::join!(
                    apply_loop(bus.clone(), part2.clone(), name.clone()),
                    access_loop(bus, part2, name)
                );
            });
            lock(&self.parts).insert(p, Running { part, task });
        }
        Ok(())
    }

    async fn sync_keys(&self) -> Result<(), NodeError> {
        keys::sync(&self.bus, &self.keys, &self.parts, &self.public.state).await
    }

    /// The node's public replica.
    pub fn public(&self) -> &public::Public {
        &self.public
    }

    /// The owner of partition `p` under the assignment last read.
    pub(crate) fn owner_of(&self, p: u32) -> Option<String> {
        read(&self.view)
            .assignment
            .as_ref()
            .and_then(|a| a.owner(p))
            .map(str::to_string)
    }

    /// A node's HTTP address: looked up in the bucket once, then kept until
    /// [`Shared::forget_addr`].
    pub(crate) async fn addr_of(&self, node: &str) -> Result<Option<String>, NodeError> {
        if let Some(a) = read(&self.view).addrs.get(node) {
            return Ok(Some(a.clone()));
        }
        let Some(v) = self.bus.value(&http::addr_key(node)).await? else {
            return Ok(None);
        };
        let addr = String::from_utf8_lossy(&v).to_string();
        write(&self.view)
            .addrs
            .insert(node.to_string(), addr.clone());
        Ok(Some(addr))
    }

    /// Drops a node's address after it did not answer (it may have restarted elsewhere).
    pub(crate) fn forget_addr(&self, node: &str) {
        write(&self.view).addrs.remove(node);
    }
}

/// A node's part of a cross-node propagation: the job's input, the partitions it came
/// from with their subjects in the same order (where the outcome's terms go back), and
/// whether the node held every partition the job's assignment gives it.
#[derive(Default)]
pub struct FlowShare {
    pub share: credo_flow::Share,
    parts: Vec<(Arc<Part>, Vec<credo_model::SubjectId>)>,
    pub complete: bool,
}

impl FlowShare {
    /// Subjects in the share (also once its input has been handed to the job).
    pub fn share_len(&self) -> usize {
        self.parts.iter().map(|(_, s)| s.len()).sum()
    }
}

/// Which worker (index in `nodes`) holds a subject key under assignment `a`.
pub fn flow_owner(a: &Assignment, nodes: &[String]) -> credo_flow::Owner {
    let a = a.clone();
    let nodes = nodes.to_vec();
    std::sync::Arc::new(move |k: u128| {
        credo_model::SubjectId::from_key(k)
            .ok()
            .and_then(|id| a.owner(a.partitioning().of(id)))
            .and_then(|name| nodes.iter().position(|n| n == name))
            // A key no node owns (no such subject anywhere) goes to worker 0, which
            // holds no subject by that key and so drops its sums.
            .unwrap_or(0)
    })
}

/// Runs the cross-node propagation for nodes of this process, one worker thread each,
/// and gives every partition its terms. The nodes must be all the assignment's nodes.
pub async fn propagate_threads(
    nodes: &[&Node],
    model: &Model,
) -> Result<Option<PropagationRun>, NodeError> {
    let Some((params, _)) = credo_engine::propagation_params(model) else {
        return Ok(None);
    };
    let Some(bus) = nodes.first().map(|n| n.bus.clone()) else {
        return Ok(None);
    };
    let Some((a, _)) = bus.assignment().await? else {
        return Ok(None);
    };
    let names: Vec<String> = nodes.iter().map(|n| n.name().to_string()).collect();
    let shares: Vec<FlowShare> = nodes.iter().map(|n| n.contact_share(&a)).collect();
    if let Some(i) = shares.iter().position(|s| !s.complete) {
        return Err(NodeError::FlowIncomplete {
            round: 0,
            node: names[i].clone(),
        });
    }
    let mut shares = shares;
    let inputs: Vec<credo_flow::Share> = shares
        .iter_mut()
        .map(|s| std::mem::take(&mut s.share))
        .collect();
    let owner = flow_owner(&a, &names);
    let outcomes =
        tokio::task::spawn_blocking(move || credo_flow::run_threads(inputs, owner, params))
            .await
            .map_err(|e| NodeError::Io {
                path: "propagation".into(),
                source: std::io::Error::other(e.to_string()),
            })??;
    for ((n, share), o) in nodes.iter().zip(&shares).zip(&outcomes) {
        n.set_contact_terms(share, o)?;
    }
    Ok(outcomes.first().map(|o| PropagationRun {
        subjects: shares.iter().map(FlowShare::share_len).sum(),
        iterations: o.iterations,
        residual: o.residual,
        converged: o.converged,
        records: outcomes.iter().map(|o| o.records_sent).sum(),
    }))
}

/// The app states of every open partition and of the public replica: the folders a
/// cluster-wide setting (keys, policies) goes into.
fn folders(
    parts: &Mutex<BTreeMap<u32, Running>>,
    public: &credo_server::AppState,
) -> Vec<credo_server::AppState> {
    let mut states: Vec<credo_server::AppState> =
        lock(parts).values().map(|r| r.part.state.clone()).collect();
    states.push(public.clone());
    states
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    // A task that panicked holding the map left it consistent (inserts and removes only).
    m.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
}

fn read<T>(m: &RwLock<T>) -> std::sync::RwLockReadGuard<'_, T> {
    m.read().unwrap_or_else(std::sync::PoisonError::into_inner)
}

fn write<T>(m: &RwLock<T>) -> std::sync::RwLockWriteGuard<'_, T> {
    m.write().unwrap_or_else(std::sync::PoisonError::into_inner)
}

fn io(path: &Path) -> impl Fn(std::io::Error) -> NodeError + '_ {
    move |source| NodeError::Io {
        path: path.display().to_string(),
        source,
    }
}

/// Adds `name` to the stored assignment (compare-and-set, retried on a conflict). A
/// cluster that has just started answers with errors for a few seconds while it elects
/// its leaders: those are retried for up to 30 s.
async fn join(bus: &Bus, name: &str) -> Result<(), NodeError> {
    let start = tokio::time::Instant::now();
    loop {
        match join_once(bus, name).await {
            Err(NodeError::Bus(e)) if start.elapsed() < Duration::from_secs(30) => {
                tracing::debug!(node = name, error = %e, "joining: retrying");
                tokio::time::sleep(Duration::from_millis(250)).await;
            }
            r => return r,
        }
    }
}

async fn join_once(bus: &Bus, name: &str) -> Result<(), NodeError> {
    loop {
        let (next, rev) = match bus.assignment().await? {
            Some((a, _)) if a.nodes().iter().any(|n| n == name) => return Ok(()),
            Some((a, rev)) => {
                let mut nodes = a.nodes().to_vec();
                nodes.push(name.to_string());
                (Assignment::compute(a.partitioning(), &nodes)?, Some(rev))
            }
            None => (Assignment::compute(bus.partitioning(), &[name])?, None),
        };
        match bus.put_assignment(&next, rev).await {
            Ok(_) => {
                tracing::info!(node = name, nodes = ?next.nodes(), "joined the assignment");
                return Ok(());
            }
            Err(BusError::Conflict { .. }) => continue,
            Err(e) => return Err(e.into()),
        }
    }
}

/// The cluster's internal token: made by the first node that starts (compare-and-set),
/// read by the others.
async fn internal_token(bus: &Bus) -> Result<String, NodeError> {
    loop {
        if let Some(v) = bus.value(notices::TOKEN_KEY).await? {
            return Ok(String::from_utf8_lossy(&v).into_owned());
        }
        let token = credo_engine::access::hex(&rand::random::<[u8; 32]>());
        match bus
            .put_value_if(notices::TOKEN_KEY, bytes::Bytes::from(token.clone()), None)
            .await
        {
            Ok(_) => return Ok(token),
            Err(BusError::Conflict { .. }) => continue,
            Err(e) => return Err(e.into()),
        }
    }
}

/// Opens (creating if needed) partition `p`'s folder and reads its stream position.
async fn open_part(
    bus: &Arc<Bus>,
    config: &NodeConfig,
    p: u32,
    partitioning: Partitioning,
    metrics: Arc<credo_server::guard::Metrics>,
) -> Result<Arc<Part>, NodeError> {
    let dir = config.dir.join(format!("p{p}"));
    // A partition this node has no folder for starts from its snapshot, if there is one.
    let restored = snapshot::restore(bus, config, (p, partitioning.count()), &dir).await?;
    let (model, as_of, server) = (config.model.clone(), config.as_of, config.server);
    let n = partitioning.count();
    let log: Arc<dyn credo_server::commit::AccessLog> = Arc::new(access::PartLog {
        bus: bus.clone(),
        partition: p,
        runtime: tokio::runtime::Handle::current(),
    });
    // A partition that was just handed over may still be closing in its old task (an
    // aborted ingest finishes its batch first): its folder stays locked until then.
    let mut tries = 0;
    loop {
        let d = dir.clone();
        let m = model.clone();
        let metrics = metrics.clone();
        let log = log.clone();
        let opened = tokio::task::spawn_blocking(move || -> Result<Part, NodeError> {
            let (mut engine, report) = Engine::open(&d, m, as_of.map(Clock::Fixed))?;
            engine.set_partition(p, n)?;
            engine.publish_public();
            if as_of.is_some() && engine.event_count() == 0 {
                engine.set_folder_as_of(as_of)?;
            }
            let applied = read_seq(&d)?;
            tracing::info!(
                partition = p,
                events = report.events,
                applied,
                "partition opened"
            );
            let mut state = credo_server::AppState::with_access_log(engine, server, Some(log))
                .map_err(|e| NodeError::Io {
                    path: d.display().to_string(),
                    source: e,
                })?;
            // One registry for the node: its `/metrics` counts every request it answered.
            state.metrics = metrics;
            // No rate limit of its own: a request reaches a partition's app through a
            // node's edge, which limits per client (the owner would see the forwarding
            // node's address, and limit every client behind it together).
            state.limiter = Arc::new(credo_server::guard::RateLimiter::new(f64::MAX, f64::MAX));
            Ok(Part {
                partition: p,
                app: credo_server::app(state.clone()),
                state,
                applied: AtomicU64::new(applied),
                public: Mutex::default(),
                restored,
            })
        })
        .await
        .map_err(|e| NodeError::Io {
            path: dir.display().to_string(),
            source: std::io::Error::other(e.to_string()),
        })?;
        match opened {
            Ok(part) => return Ok(Arc::new(part)),
            Err(NodeError::Engine(EngineError::Locked { .. })) if tries < 200 => {
                tries += 1;
                tokio::time::sleep(Duration::from_millis(50)).await;
            }
            Err(e) => return Err(e),
        }
    }
}

fn read_seq(dir: &Path) -> Result<u64, NodeError> {
    Ok(read_number(dir, SEQ_FILE)?.unwrap_or(0))
}

/// Records that the folder holds the stream up to `seq`. Written after the events are
/// synced to the log; a stale file (the rename lost in a crash) only means a batch is
/// read again and counted as duplicates, so the file itself needs no sync.
fn write_seq(dir: &Path, seq: u64) -> Result<(), NodeError> {
    write_number(dir, SEQ_FILE, seq)
}

/// A stream sequence kept in the folder's file `name` (`None`: no such file).
fn read_number(dir: &Path, name: &str) -> Result<Option<u64>, NodeError> {
    let path = dir.join(name);
    match std::fs::read_to_string(&path) {
        Ok(text) => match text.trim().parse() {
            Ok(n) => Ok(Some(n)),
            Err(_) => Err(NodeError::BadSequence {
                path: path.display().to_string(),
                text,
            }),
        },
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
        Err(e) => Err(io(&path)(e)),
    }
}

/// Replaces the folder's file `name` with `seq` whole (written beside it, then renamed).
fn write_number(dir: &Path, name: &str, seq: u64) -> Result<(), NodeError> {
    let tmp = dir.join(format!("{name}.tmp"));
    std::fs::write(&tmp, format!("{seq}\n")).map_err(io(&tmp))?;
    let path = dir.join(name);
    std::fs::rename(&tmp, &path).map_err(io(&path))
}

/// Reads partition `part` from its position on and applies it, until aborted. Errors
/// (a server gone, a full disk) are logged and retried after a pause; the position is
/// only moved after a batch is durable, so a retry never skips anything.
async fn apply_loop(bus: Arc<Bus>, part: Arc<Part>, node: String) {
    let p = part.partition;
    loop {
        if let Err(e) = apply_from(&bus, &part).await {
            tracing::warn!(node, partition = p, code = e.code(), error = %e, "applying; retrying");
            tokio::time::sleep(Duration::from_millis(250)).await;
        }
    }
}

/// Follows partition `part`'s access operations ([`access::follow`]) until aborted;
/// errors are logged and retried after a pause.
async fn access_loop(bus: Arc<Bus>, part: Arc<Part>, node: String) {
    loop {
        if let Err(e) = access::follow(&bus, &part).await {
            tracing::warn!(node, partition = part.partition, code = e.code(), error = %e,
                "following access operations; retrying");
            tokio::time::sleep(Duration::from_millis(250)).await;
        }
    }
}

async fn apply_from(bus: &Bus, part: &Arc<Part>) -> Result<(), NodeError> {
    let mut reader = bus.reader(part.partition, part.applied() + 1).await?;
    let mut idle = 0;
    loop {
        let batch = reader.next(BATCH, Duration::from_secs(1)).await?;
        let Some(last) = batch.last().map(|r| r.sequence) else {
            // Public states changed outside the stream (a dispute upheld over the API).
            let part2 = part.clone();
            tokio::task::spawn_blocking(move || {
                let mut engine = part2
                    .engine()
                    .write()
                    .unwrap_or_else(std::sync::PoisonError::into_inner);
                public::take(&mut engine, &part2, part2.applied())
            })
            .await
            .map_err(|e| joined("a partition", e))??;
            public::flush(bus, part).await?;
            // An ordered consumer whose server died can go quiet instead of failing:
            // after a few idle seconds, ask the stream whether anything is missing, and
            // read again from the position if so.
            idle += 1;
            if idle % 3 == 0 && bus.last_sequence(part.partition).await? > part.applied() {
                return Err(NodeError::Stalled {
                    partition: part.partition,
                    applied: part.applied(),
                });
            }
            continue;
        };
        idle = 0;
        let mut lines = Vec::with_capacity(batch.iter().map(|r| r.lines.len()).sum());
        for r in &batch {
            lines.extend_from_slice(&r.lines);
        }
        let part2 = part.clone();
        tokio::task::spawn_blocking(move || -> Result<(), NodeError> {
            let mut engine = part2
                .engine()
                .write()
                .unwrap_or_else(std::sync::PoisonError::into_inner);
            let report = engine.ingest(
                &format!("stream:{}", part2.partition),
                &lines[..],
                &IngestOptions::default(),
                &mut |_| {},
            )?;
            if report.rejected > 0 {
                tracing::debug!(
                    partition = part2.partition,
                    rejected = report.rejected,
                    first = ?report.errors.first(),
                    "lines rejected by the partition's engine"
                );
            }
            public::take(&mut engine, &part2, last)
        })
        .await
        .map_err(|e| joined("a partition", e))??;
        // The batch's public states reach the bus before its position is recorded: a
        // crash in between applies the batch again (duplicates) and publishes them again.
        public::flush(bus, part).await?;
        let dir = part
            .engine()
            .read()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .dir()
            .to_path_buf();
        write_seq(&dir, last)?;
        part.applied.store(last, Ordering::Release);
    }
}

/// A blocking task that did not finish (it panicked or was cancelled).
pub(crate) fn joined(what: &str, e: tokio::task::JoinError) -> NodeError {
    NodeError::Io {
        path: what.to_string(),
        source: std::io::Error::other(e.to_string()),
    }
}

/// Beats, and when this is the lowest-named node with a moving heartbeat, removes nodes
/// that have been silent for [`SILENT`] from the assignment.
async fn liveness(bus: Arc<Bus>, name: String) {
    let mut count = 0u64;
    // Per node: the last count seen and when it last moved (this node's clock).
    let mut seen: HashMap<String, (Option<u64>, tokio::time::Instant)> = HashMap::new();
    loop {
        count += 1;
        if let Err(e) = bus.beat(&name, count).await {
            tracing::warn!(node = %name, error = %e, "heartbeat");
        }
        match bus.assignment().await {
            Ok(Some((a, rev))) => {
                if let Err(e) = reap(&bus, &name, &a, rev, &mut seen).await {
                    tracing::warn!(node = %name, error = %e, "checking the other nodes");
                }
                // A node that was found silent while alive (a heartbeat stuck behind a
                // saturated server) adds itself back, and so takes its partitions back
                // from its folders.
                if !a.nodes().contains(&name) {
                    tracing::warn!(node = %name, "not in the assignment; joining again");
                    if let Err(e) = join_once(&bus, &name).await {
                        tracing::warn!(node = %name, error = %e, "joining again");
                    }
                }
            }
            Ok(None) => {}
            Err(e) => tracing::warn!(node = %name, error = %e, "reading the assignment"),
        }
        tokio::time::sleep(BEAT).await;
    }
}

async fn reap(
    bus: &Bus,
    name: &str,
    a: &Assignment,
    rev: u64,
    seen: &mut HashMap<String, (Option<u64>, tokio::time::Instant)>,
) -> Result<(), NodeError> {
    let now = tokio::time::Instant::now();
    let mut silent = Vec::new();
    for n in a.nodes() {
        let beat = bus.beat_of(n).await?;
        let e = seen.entry(n.clone()).or_insert((beat, now));
        if e.0 != beat {
            *e = (beat, now);
        }
        if n != name && now.duration_since(e.1) >= SILENT {
            silent.push(n.clone());
        }
    }
    // Only the lowest-named live node removes others, so two do not race (and if they
    // do, compare-and-set lets one win).
    let lowest_live = a.nodes().iter().filter(|n| !silent.contains(n)).min();
    if silent.is_empty() || lowest_live.map(String::as_str) != Some(name) {
        return Ok(());
    }
    let keep: Vec<&String> = a.nodes().iter().filter(|n| !silent.contains(n)).collect();
    let next = Assignment::compute(a.partitioning(), &keep)?;
    match bus.put_assignment(&next, Some(rev)).await {
        Ok(_) => {
            tracing::warn!(node = name, removed = ?silent, "silent nodes removed from the assignment");
            for n in &silent {
                seen.remove(n);
            }
            Ok(())
        }
        Err(BusError::Conflict { .. }) => Ok(()),
        Err(e) => Err(e.into()),
    }
}

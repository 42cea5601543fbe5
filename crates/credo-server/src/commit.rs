//! The commit thread: the only writer of the access journal. Handlers send it operations
//! and wait; it takes everything that has queued up, checks the writes against the state,
//! logs the whole group with one write and one sync per file (group commit), applies it to
//! the engine under a short write lock, and answers each handler. A third party's read is
//! answered only once its inquiry and audit entry are on disk.
//!
//! In a cluster partition, the operations about its subjects (consents, disputes,
//! tip-offs, impressions, reads) go through the cluster's access log ([`AccessLog`]) first
//! and are applied when they come back from it, in its order, on whichever node holds the
//! partition.

use crate::error::ApiError;
use credo_access::AccessOp;
use credo_engine::Engine;
use credo_engine::access::{Journal, Pending, Sealed, replicated};
use std::sync::mpsc;
use std::sync::{Arc, RwLock};
use std::time::Duration;
use tokio::sync::oneshot;

struct Job {
    pending: Vec<Pending>,
    /// For operations read back from the cluster's access log: each one's sequence there.
    origins: Option<Vec<u64>>,
    reply: oneshot::Sender<Result<Vec<Sealed>, ApiError>>,
}

/// The cluster's access log, for a cluster partition: where its operations about its
/// subjects go before they are applied, so that they move with the partition when another
/// node takes it over, and give the same ids on every node.
///
/// The commit thread sends such an operation there (after its check) and does not apply
/// it; the node reads the log back in order and hands each operation to
/// [`Committer::replay`], which applies it once (operations at or below the state's
/// `origin` are skipped) and answers the handler that waits for it.
pub trait AccessLog: Send + Sync + 'static {
    /// Appends the operations in order; returns each one's sequence number once the log
    /// has acknowledged it. Blocking: it runs on the commit thread.
    fn append(&self, ops: &[&Pending]) -> Result<Vec<u64>, ApiError>;
}

#[derive(Clone)]
pub struct Committer {
    tx: mpsc::Sender<Job>,
}

/// The most operations one group commit takes.
const MAX_GROUP: usize = 8192;

/// How long a handler waits for its operation to come back from the cluster's access log.
const REPLICATED_WAIT: Duration = Duration::from_secs(30);

/// A handler waiting for its operations to come back from the cluster's access log.
struct Waiter {
    origins: Vec<u64>,
    got: Vec<Sealed>,
    reply: oneshot::Sender<Result<Vec<Sealed>, ApiError>>,
}

impl Committer {
    pub fn start(engine: Arc<RwLock<Engine>>, journal: Journal) -> std::io::Result<Committer> {
        Committer::start_with(engine, journal, None)
    }

    /// A commit thread whose operations about subjects go through `log` first.
    pub fn start_with(
        engine: Arc<RwLock<Engine>>,
        mut journal: Journal,
        log: Option<Arc<dyn AccessLog>>,
    ) -> std::io::Result<Committer> {
        let (tx, rx) = mpsc::channel::<Job>();
        std::thread::Builder::new()
            .name("credo-commit".into())
            .spawn(move || {
                let mut waiting: Vec<Waiter> = Vec::new();
                while let Ok(first) = rx.recv() {
                    let mut jobs = vec![first];
                    let mut n = jobs[0].pending.len();
                    while n < MAX_GROUP {
                        match rx.try_recv() {
                            Ok(j) => {
                                n += j.pending.len();
                                jobs.push(j);
                            }
                            Err(_) => break,
                        }
                    }
                    waiting.retain(|w| !w.reply.is_closed());
                    commit_group(&engine, &mut journal, log.as_deref(), &mut waiting, jobs);
                }
                // Every sender is gone: the server stopped. Hand the journal back.
                if let Ok(mut e) = engine.write() {
                    e.restore_journal(journal);
                }
            })?;
        Ok(Committer { tx })
    }

    /// Logs `pending` (checked, synced, applied) and returns what was logged.
    pub async fn submit(&self, pending: Vec<Pending>) -> Result<Vec<Sealed>, ApiError> {
        self.send(pending, None).await
    }

    /// Applies operations read back from the cluster's access log, each with its sequence
    /// number there, in the log's order: unchecked (they were checked when they were
    /// sent), and only those past the state's `origin`. Returns what was applied.
    pub async fn replay(&self, ops: Vec<(u64, Pending)>) -> Result<Vec<Sealed>, ApiError> {
        let (origins, pending) = ops.into_iter().unzip();
        self.send(pending, Some(origins)).await
    }

    async fn send(
        &self,
        pending: Vec<Pending>,
        origins: Option<Vec<u64>>,
    ) -> Result<Vec<Sealed>, ApiError> {
        let (reply, rx) = oneshot::channel();
        self.tx
            .send(Job {
                pending,
                origins,
                reply,
            })
            .map_err(|_| ApiError::internal("the commit thread has stopped"))?;
        match tokio::time::timeout(REPLICATED_WAIT, rx).await {
            // Stopped with the operation queued or waiting: the server is stopping, or in a
            // cluster the partition moved to another node (where it may still be applied).
            Ok(r) => r.map_err(|_| {
                ApiError::new(
                    axum::http::StatusCode::SERVICE_UNAVAILABLE,
                    "not_applied",
                    "the commit thread stopped before the operation was answered (the server \
                     is stopping, or the partition moved); check before sending it again",
                )
            })?,
            Err(_) => Err(ApiError::new(
                axum::http::StatusCode::SERVICE_UNAVAILABLE,
                "not_applied",
                "the operation was not applied within 30 s (in a cluster: it may still be, once \
                 its partition's access log is read); check before sending it again",
            )),
        }
    }
}

fn commit_group(
    engine: &RwLock<Engine>,
    journal: &mut Journal,
    log: Option<&dyn AccessLog>,
    waiting: &mut Vec<Waiter>,
    jobs: Vec<Job>,
) {
    // Check the writes (reads need no check) against the state as it is now. Operations
    // read back from the cluster's access log were checked when sent: they only need to
    // be past what is applied.
    let mut ok: Vec<(Job, Vec<Option<u64>>)> = Vec::with_capacity(jobs.len());
    let mut send: Vec<Job> = Vec::new();
    {
        let Ok(e) = engine.read() else {
            for j in jobs {
                let _ = j.reply.send(Err(ApiError::internal("state lock poisoned")));
            }
            return;
        };
        let mut applied = e.access().origin;
        for mut j in jobs {
            if let Some(origins) = j.origins.take() {
                let (mut pending, mut keep) = (Vec::new(), Vec::new());
                for (p, o) in j.pending.into_iter().zip(origins) {
                    if o > applied {
                        applied = o;
                        pending.push(p);
                        keep.push(Some(o));
                    }
                }
                j.pending = pending;
                ok.push((j, keep));
                continue;
            }
            let refused = j
                .pending
                .iter()
                .filter(|p| !matches!(p.op, AccessOp::Read { .. }))
                .find_map(|p| e.check_access(&p.op).err());
            match refused {
                Some(err) => {
                    let _ = j.reply.send(Err(err.into()));
                }
                None if log.is_some() && j.pending.iter().any(|p| replicated(&p.op)) => {
                    if j.pending.iter().all(|p| replicated(&p.op)) {
                        send.push(j);
                    } else {
                        let _ = j.reply.send(Err(ApiError::internal(
                            "a partition's own and its subjects' operations sent together",
                        )));
                    }
                }
                None => {
                    let n = j.pending.len();
                    ok.push((j, vec![None; n]));
                }
            }
        }
    }
    if let (Some(log), false) = (log, send.is_empty()) {
        // One append for the group; the operations wait for the log to come back.
        let refs: Vec<&Pending> = send.iter().flat_map(|j| &j.pending).collect();
        match log.append(&refs) {
            Ok(origins) => {
                let mut it = origins.into_iter();
                for j in send {
                    waiting.push(Waiter {
                        origins: it.by_ref().take(j.pending.len()).collect(),
                        got: Vec::new(),
                        reply: j.reply,
                    });
                }
            }
            Err(err) => {
                for j in send {
                    let _ = j.reply.send(Err(err.clone()));
                }
            }
        }
    }
    if ok.is_empty() {
        return;
    }
    let counts: Vec<usize> = ok.iter().map(|(j, _)| j.pending.len()).collect();
    let mut all = Vec::with_capacity(counts.iter().sum());
    let mut replies = Vec::with_capacity(ok.len());
    for (j, origins) in ok {
        all.extend(j.pending.into_iter().zip(origins));
        replies.push(j.reply);
    }
    let sealed = match journal.append_from(all) {
        Ok(s) => s,
        Err(err) => {
            // Logged by the conversion; a full disk is `storage_io` (503), to retry.
            let err = ApiError::from(err);
            for r in replies {
                let _ = r.send(Err(err.clone()));
            }
            return;
        }
    };
    let applied = match engine.write() {
        Ok(mut e) => e.apply_sealed(&sealed).map_err(ApiError::from),
        Err(_) => Err(ApiError::internal("state lock poisoned")),
    };
    // Handlers waiting for operations that came back from the access log.
    if applied.is_ok() {
        for x in sealed.iter().filter(|x| x.origin.is_some()) {
            if let Some(i) = waiting
                .iter()
                .position(|w| w.origins.get(w.got.len()) == x.origin.as_ref())
            {
                waiting[i].got.push(x.clone());
                if waiting[i].got.len() == waiting[i].origins.len() {
                    let w = waiting.swap_remove(i);
                    let _ = w.reply.send(Ok(w.got));
                }
            }
        }
    }
    let mut it = sealed.into_iter();
    for (r, n) in replies.into_iter().zip(counts) {
        let part: Vec<Sealed> = it.by_ref().take(n).collect();
        let _ = r.send(match &applied {
            Ok(()) => Ok(part),
            Err(e) => Err(e.clone()),
        });
    }
}

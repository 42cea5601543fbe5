//! The commit thread: the only writer of the access journal. Handlers send it operations
//! and wait; it takes everything that has queued up, checks the writes against the state,
//! logs the whole group with one write and one sync per file (group commit), applies it to
//! the engine under a short write lock, and answers each handler. A third party's read is
//! answered only once its inquiry and audit entry are on disk.

use crate::error::ApiError;
use credo_access::AccessOp;
use credo_engine::Engine;
use credo_engine::access::{Journal, Pending, Sealed};
use std::sync::mpsc;
use std::sync::{Arc, RwLock};
use tokio::sync::oneshot;

struct Job {
    pending: Vec<Pending>,
    reply: oneshot::Sender<Result<Vec<Sealed>, ApiError>>,
}

#[derive(Clone)]
pub struct Committer {
    tx: mpsc::Sender<Job>,
}

/// The most operations one group commit takes.
const MAX_GROUP: usize = 8192;

impl Committer {
    pub fn start(engine: Arc<RwLock<Engine>>, mut journal: Journal) -> std::io::Result<Committer> {
        let (tx, rx) = mpsc::channel::<Job>();
        std::thread::Builder::new()
            .name("credo-commit".into())
            .spawn(move || {
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
                    commit_group(&engine, &mut journal, jobs);
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
        let (reply, rx) = oneshot::channel();
        self.tx
            .send(Job { pending, reply })
            .map_err(|_| ApiError::internal("the commit thread has stopped"))?;
        rx.await
            .map_err(|_| ApiError::internal("the commit thread has stopped"))?
    }
}

fn commit_group(engine: &RwLock<Engine>, journal: &mut Journal, jobs: Vec<Job>) {
    // Check the writes (reads need no check) against the state as it is now.
    let mut ok: Vec<Job> = Vec::with_capacity(jobs.len());
    {
        let Ok(e) = engine.read() else {
            for j in jobs {
                let _ = j.reply.send(Err(ApiError::internal("state lock poisoned")));
            }
            return;
        };
        for j in jobs {
            let refused = j
                .pending
                .iter()
                .filter(|p| !matches!(p.op, AccessOp::Read { .. }))
                .find_map(|p| e.check_access(&p.op).err());
            match refused {
                Some(err) => {
                    let _ = j.reply.send(Err(err.into()));
                }
                None => ok.push(j),
            }
        }
    }
    if ok.is_empty() {
        return;
    }
    let counts: Vec<usize> = ok.iter().map(|j| j.pending.len()).collect();
    let mut all = Vec::with_capacity(counts.iter().sum());
    let mut replies = Vec::with_capacity(ok.len());
    for j in ok {
        all.extend(j.pending);
        replies.push(j.reply);
    }
    let sealed = match journal.append(all) {
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
    let mut it = sealed.into_iter();
    for (r, n) in replies.into_iter().zip(counts) {
        let part: Vec<Sealed> = it.by_ref().take(n).collect();
        let _ = r.send(match &applied {
            Ok(()) => Ok(part),
            Err(e) => Err(e.clone()),
        });
    }
}

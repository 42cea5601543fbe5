//! The cross-node propagation between node processes (`credo-flow` over TCP).
//!
//! A job is asked for by writing `propagate` in the bus's bucket (compare-and-set on its
//! revision): a round number, the nodes of the assignment at that moment, and each
//! node's flow address (`flow.<name>`, published when the node starts). Every node listed sees the new round within
//! [`crate::POLL`], says it is ready (`flow-ready.<name>`), waits until every listed node
//! is (at most [`READY_WITHIN`]: a node that died since the request fails the round before
//! anyone opens a timely connection, which would wait for it forever), joins the timely
//! computation as process *i* of the list, gives its partitions their terms, and reports
//! `propagated.<name>` with the round, or the round's error. A peer that dies during the
//! computation fails it on the others within moments (`credo_flow::run_process`); the
//! requester sees the error report and the round is asked for again.

use crate::{NodeError, Shared, flow_owner};
use credo_cluster::Assignment;

/// How long a node waits for a propagation job to finish before it gives up the round.
const FLOW_TIMEOUT: Duration = Duration::from_secs(600);
/// How long a node waits for the other listed nodes to be ready for a round.
pub const READY_WITHIN: Duration = Duration::from_secs(30);
use bytes::Bytes;
use credo_bus::Bus;
use serde_json::{Value, json};

/// A propagation asked for: its round, the nodes taking part (process *i* is the *i*-th),
/// and their flow addresses in the same order.
#[derive(serde::Serialize, serde::Deserialize)]
struct Job {
    round: u64,
    nodes: Vec<String>,
    addresses: Vec<String>,
    /// The assignment the job computes over (its text), the same on every node.
    assignment: String,
}

/// What a completed round covered, for the keeper.
#[derive(Debug, PartialEq, Eq)]
struct Kept {
    assignment: String,
    events: u64,
    day: credo_model::Day,
}

async fn job(bus: &Bus) -> Result<Option<Job>, NodeError> {
    Ok(bus
        .value("propagate")
        .await?
        .and_then(|v| serde_json::from_slice(&v).ok()))
}
use std::time::Duration;

pub(crate) fn flow_key(node: &str) -> String {
    format!("flow.{node}")
}

fn done_key(node: &str) -> String {
    format!("propagated.{node}")
}

fn ready_key(node: &str) -> String {
    format!("flow-ready.{node}")
}

/// Asks every node of the current assignment for a propagation; returns its round.
pub async fn request(bus: &Bus) -> Result<(u64, Vec<String>), NodeError> {
    let Some((a, _)) = bus.assignment().await? else {
        return Err(NodeError::NoAssignment);
    };
    let nodes: Vec<String> = a.nodes().to_vec();
    let mut addresses = Vec::new();
    for n in &nodes {
        let addr = bus
            .value(&flow_key(n))
            .await?
            .ok_or_else(|| NodeError::NoFlowAddress(n.clone()))?;
        addresses.push(String::from_utf8_lossy(&addr).to_string());
    }
    // Compare-and-set: two requesters at once (the keeper and an operator) cannot both
    // write the same round with different contents; the later one asks for the next round.
    let mut tries = 0;
    loop {
        let (prev, rev) = match bus.value_entry("propagate").await? {
            Some((v, rev)) => (serde_json::from_slice::<Job>(&v).ok(), Some(rev)),
            None => (None, None),
        };
        let round = prev.map_or(0, |j| j.round) + 1;
        let next = Job {
            round,
            nodes: nodes.clone(),
            addresses: addresses.clone(),
            assignment: a.to_text(),
        };
        match bus
            .put_value_if("propagate", Bytes::from(json!(next).to_string()), rev)
            .await
        {
            Ok(_) => return Ok((round, nodes)),
            Err(credo_bus::BusError::Conflict { .. }) if tries < 10 => tries += 1,
            Err(e) => return Err(e.into()),
        }
    }
}

/// Waits until every node of `nodes` reports `round` (or a later one); their reports.
pub async fn wait(
    bus: &Bus,
    round: u64,
    nodes: &[String],
    within: Duration,
) -> Result<Vec<Value>, NodeError> {
    let start = tokio::time::Instant::now();
    loop {
        let mut reports = Vec::new();
        for n in nodes {
            if let Some(v) = bus.value(&done_key(n)).await?
                && let Ok(r) = serde_json::from_slice::<Value>(&v)
                && r["round"].as_u64().is_some_and(|x| x >= round)
            {
                reports.push(r);
            }
        }
        if let Some(r) = reports.iter().find(|r| r["error"].is_string()) {
            return Err(NodeError::FlowFailed {
                round,
                node: r["node"].as_str().unwrap_or_default().to_string(),
                message: r["error"].as_str().unwrap_or_default().to_string(),
            });
        }
        if reports.len() == nodes.len() {
            // A node that did not hold all its partitions under the job's assignment took
            // part with what it had (its peers would wait for it otherwise): the terms
            // are incomplete, and the job must be asked for again.
            if let Some(r) = reports.iter().find(|r| r["complete"] == false) {
                return Err(NodeError::FlowIncomplete {
                    round,
                    node: r["node"].as_str().unwrap_or_default().to_string(),
                });
            }
            return Ok(reports);
        }
        if start.elapsed() > within {
            return Err(NodeError::FlowTimeout { round });
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

impl Shared {
    /// Takes part in each propagation asked for, until aborted.
    pub(crate) async fn flow_loop(&self) {
        let mut done = 0u64;
        loop {
            tokio::time::sleep(crate::POLL).await;
            let Ok(Some(job)) = job(&self.bus).await else {
                continue;
            };
            if job.round <= done {
                continue;
            }
            done = job.round;
            let round = job.round;
            let report = match self.join_flow(job).await {
                Ok(Some(report)) => {
                    self.propagated
                        .store(round, std::sync::atomic::Ordering::Release);
                    tracing::info!(
                        node = %self.config.name,
                        round,
                        complete = %report["complete"],
                        caught_up = %report["caught_up"],
                        "propagation round done"
                    );
                    report
                }
                Ok(None) => continue,
                Err(e) => {
                    tracing::warn!(round, error = %e, "propagation round failed");
                    json!({"round": round, "node": self.config.name, "error": e.to_string()})
                }
            };
            if let Err(e) = self
                .bus
                .put_value(
                    &done_key(&self.config.name),
                    Bytes::from(report.to_string()),
                )
                .await
            {
                tracing::warn!(error = %e, "reporting a propagation");
            }
        }
    }

    /// Keeps the relationships terms current without being asked, as one machine does
    /// after an ingest: every `every`, the lowest-named node of the assignment asks for a
    /// round if the assignment, the events stream's last sequence or the day moved since
    /// the last round it saw complete with every node caught up. A takeover, a node back,
    /// new events or a new day each bring a round; a quiet cluster runs none.
    pub(crate) async fn keeper(&self, every: Duration) {
        let mut last: Option<Kept> = None;
        loop {
            tokio::time::sleep(every).await;
            match self.keep_once(last.as_ref()).await {
                Ok(Some(kept)) => last = Some(kept),
                Ok(None) => {}
                Err(e) => tracing::warn!(
                    node = %self.config.name,
                    error = %e,
                    "keeping the relationships terms current"
                ),
            }
        }
    }

    async fn keep_once(&self, last: Option<&Kept>) -> Result<Option<Kept>, NodeError> {
        let Some((a, _)) = self.bus.assignment().await? else {
            return Ok(None);
        };
        if a.nodes().iter().min() != Some(&self.config.name) {
            return Ok(None);
        }
        let today = self
            .config
            .as_of
            .unwrap_or_else(|| credo_engine::Clock::System.today());
        let now = Kept {
            assignment: a.to_text(),
            events: self.bus.stream_state().await?.1,
            day: today,
        };
        if last == Some(&now) {
            return Ok(None);
        }
        let (round, nodes) = request(&self.bus).await?;
        let reports = wait(&self.bus, round, &nodes, FLOW_TIMEOUT).await?;
        tracing::info!(node = %self.config.name, round, "propagation round asked for by the keeper");
        Ok(reports
            .iter()
            .all(|r| r["caught_up"] == true)
            .then_some(now))
    }

    /// Says this node is ready for `round` and waits until every node of `nodes` is.
    async fn ready(&self, round: u64, nodes: &[String]) -> Result<(), NodeError> {
        let bus = &self.bus;
        bus.put_value(
            &ready_key(&self.config.name),
            Bytes::from(round.to_string()),
        )
        .await?;
        let start = tokio::time::Instant::now();
        loop {
            let mut missing = None;
            for n in nodes {
                let at = bus
                    .value(&ready_key(n))
                    .await?
                    .and_then(|v| String::from_utf8_lossy(&v).parse::<u64>().ok());
                // Exactly this round: a node already on a later one is not in this one
                // (taking it as ready let two rounds, over different node lists, connect
                // their timely processes to each other and hang until FLOW_TIMEOUT).
                if at != Some(round) {
                    missing = Some(n.clone());
                    break;
                }
            }
            let Some(n) = missing else {
                return Ok(());
            };
            if start.elapsed() > READY_WITHIN {
                return Err(NodeError::FlowFailed {
                    round,
                    node: n,
                    message: format!("not ready within {} s", READY_WITHIN.as_secs()),
                });
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    async fn join_flow(&self, job: Job) -> Result<Option<Value>, NodeError> {
        let Job {
            round,
            nodes,
            addresses,
            assignment,
        } = job;
        let Some(me) = nodes.iter().position(|n| *n == self.config.name) else {
            return Ok(None);
        };
        let Some((params, _)) = credo_engine::propagation_params(&self.config.model) else {
            return Ok(None);
        };
        let a = Assignment::parse(&assignment)?;
        // Whether the share holds the whole stream: the keeper asks again if not.
        let caught_up = self.progress().await.is_ok_and(|p| p.caught_up);
        let mut mine = self.contact_share(&a);
        let (share, subjects) = (std::mem::take(&mut mine.share), mine.share_len());
        let owner = flow_owner(&a, &nodes);
        self.ready(round, &nodes).await?;
        let t = std::time::Instant::now();
        let job = tokio::task::spawn_blocking(move || {
            credo_flow::run_process(me, addresses, share, owner, params)
        });
        // A peer that dies during a job leaves the others waiting in timely: give up on
        // this round after a while, so that later rounds are joined.
        let outcome = tokio::time::timeout(FLOW_TIMEOUT, job)
            .await
            .map_err(|_| NodeError::FlowTimeout { round })?
            .map_err(|e| NodeError::Io {
                path: "propagation".into(),
                source: std::io::Error::other(e.to_string()),
            })??;
        self.set_contact_terms(&mine, &outcome)?;
        Ok(Some(json!({
            "round": round,
            "node": self.config.name,
            "subjects": subjects,
            "iterations": outcome.iterations,
            "residual": outcome.residual,
            "converged": outcome.converged,
            "records_sent": outcome.records_sent,
            "changes": outcome.changes,
            "complete": mine.complete,
            "caught_up": caught_up,
            "seconds": t.elapsed().as_secs_f64(),
        })))
    }
}

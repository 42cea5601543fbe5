//! The cross-node propagation between node processes (`credo-flow` over TCP).
//!
//! A job is asked for by writing `propagate` in the bus's bucket: a round number, the
//! nodes of the assignment at that moment, and each node's flow address (`flow.<name>`,
//! published when the node starts). Every node listed sees the new round within
//! [`crate::POLL`], joins the timely computation as process *i* of the list, gives its
//! partitions their terms, and reports `propagated.<name>` with the round. A job needs
//! every listed node: one that is down holds it up until the others' timely connection
//! attempts fail, and the round is then asked for again.

use crate::{NodeError, Shared, flow_owner, flow_params};
use bytes::Bytes;
use credo_bus::Bus;
use serde_json::{Value, json};
use std::time::Duration;

pub(crate) fn flow_key(node: &str) -> String {
    format!("flow.{node}")
}

fn done_key(node: &str) -> String {
    format!("propagated.{node}")
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
    let round = match bus.value("propagate").await? {
        Some(v) => serde_json::from_slice::<Value>(&v)
            .ok()
            .and_then(|v| v["round"].as_u64())
            .unwrap_or(0),
        None => 0,
    } + 1;
    let job = json!({"round": round, "nodes": nodes, "addresses": addresses});
    bus.put_value("propagate", Bytes::from(job.to_string()))
        .await?;
    Ok((round, nodes))
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
        if reports.len() == nodes.len() {
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
            let job = match self.bus.value("propagate").await {
                Ok(Some(v)) => serde_json::from_slice::<Value>(&v).ok(),
                _ => None,
            };
            let Some(job) = job else { continue };
            let round = job["round"].as_u64().unwrap_or(0);
            if round <= done {
                continue;
            }
            done = round;
            match self.join_flow(&job).await {
                Ok(Some(report)) => {
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
                Ok(None) => {}
                Err(e) => tracing::warn!(round, error = %e, "propagation round failed"),
            }
        }
    }

    async fn join_flow(&self, job: &Value) -> Result<Option<Value>, NodeError> {
        let round = job["round"].as_u64().unwrap_or(0);
        let nodes: Vec<String> = job["nodes"]
            .as_array()
            .map(|a| {
                a.iter()
                    .filter_map(|n| n.as_str().map(String::from))
                    .collect()
            })
            .unwrap_or_default();
        let addresses: Vec<String> = job["addresses"]
            .as_array()
            .map(|a| {
                a.iter()
                    .filter_map(|n| n.as_str().map(String::from))
                    .collect()
            })
            .unwrap_or_default();
        let Some(me) = nodes.iter().position(|n| *n == self.config.name) else {
            return Ok(None);
        };
        let Some(params) = flow_params(&self.config.model) else {
            return Ok(None);
        };
        let Some((a, _)) = self.bus.assignment().await? else {
            return Err(NodeError::NoAssignment);
        };
        // The partitions this node holds now, whoever the assignment lists: a job started
        // during a handover computes on what each node has.
        let share = self.contact_share(&a)?;
        let keys = share.keys.clone();
        let owner = flow_owner(&a, &nodes);
        let t = std::time::Instant::now();
        let outcome = tokio::task::spawn_blocking(move || {
            credo_flow::run_process(me, addresses, share, owner, params)
        })
        .await
        .map_err(|e| NodeError::Io {
            path: "propagation".into(),
            source: std::io::Error::other(e.to_string()),
        })??;
        self.set_contact_terms(&keys, &outcome);
        Ok(Some(json!({
            "round": round,
            "node": self.config.name,
            "subjects": keys.len(),
            "iterations": outcome.iterations,
            "residual": outcome.residual,
            "converged": outcome.converged,
            "records_sent": outcome.records_sent,
            "seconds": t.elapsed().as_secs_f64(),
        })))
    }
}

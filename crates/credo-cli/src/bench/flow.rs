//! `credo bench flow`: the cross-node relationships job (`credo-flow`, differential
//! dataflow on timely) on a generated contact graph (`credo_sim::graph`, 1 M people and
//! 10 M contacts by default), its subjects split over `--workers` worker threads by key
//! as the cluster splits them over nodes.
//!
//! Reported side by side in the same run, on the same graph and standings:
//! - the dataflow job, `--runs` times: wall time, sweeps, records into the exchange,
//!   contact entries the join read, terms put in as changes;
//! - one machine's job (`credo_graph::propagate`, compressed rows on all threads), whose
//!   terms and contacts' means the dataflow job's must match to within the tolerance's
//!   bound.

use super::{Global, machine, median};
use anyhow::{Context, Result, bail};
use clap::Args;
use credo_flow::{Owner, Share};
use credo_graph::{Csr, Layout, Params, propagate};
use credo_sim::graph::{GraphConfig, contact_graph};
use serde_json::json;
use std::process::ExitCode;
use std::sync::Arc;
use std::time::Instant;

#[derive(Args)]
pub struct FlowBench {
    #[arg(long, default_value_t = 1_000_000)]
    nodes: usize,
    /// Contacts (undirected edges) asked of the generator; repeats are dropped.
    #[arg(long, default_value_t = 10_000_000)]
    edges: u64,
    #[arg(long, default_value_t = 7)]
    seed: u64,
    #[arg(long, default_value_t = 0.5)]
    damping: f64,
    #[arg(long, default_value_t = 1e-9)]
    tolerance: f64,
    /// Worker threads, each holding the subjects whose key it owns (a node each in a
    /// cluster).
    #[arg(long, default_value_t = 3)]
    workers: usize,
    #[arg(long, default_value_t = 3)]
    runs: usize,
}

/// A subject's key: node numbers spread over 128 bits, as `SubjectId::key`s are.
fn key(i: u32) -> u128 {
    u128::from(i).wrapping_mul(0x9E37_79B9_7F4A_7C15_F39C_C060_5CED_C835) >> 1
}

pub fn run(g: &Global, b: FlowBench) -> Result<ExitCode> {
    if b.nodes < 2 || b.nodes >= u32::MAX as usize {
        bail!("--nodes must be between 2 and {}", u32::MAX - 1);
    }
    if b.workers == 0 || b.runs == 0 {
        bail!("--workers and --runs must be at least 1");
    }
    let say = super::progress(g);
    let params = Params {
        damping: b.damping,
        tolerance: b.tolerance,
        max_iterations: 1_000,
    };
    params.check()?;
    say(format!(
        "generating {} people and about {} contacts…",
        b.nodes, b.edges
    ));
    let graph = contact_graph(&GraphConfig {
        nodes: b.nodes,
        edges: b.edges,
        seed: b.seed,
    });
    let workers = b.workers;
    let owner: Owner = Arc::new(move |k: u128| (k % workers as u128) as usize);
    let mut adj: Vec<Vec<u128>> = vec![Vec::new(); b.nodes];
    for &[x, y] in &graph.edges {
        adj[x as usize].push(key(y));
        adj[y as usize].push(key(x));
    }
    let mut shares = vec![Share::default(); workers];
    let mut place = Vec::with_capacity(b.nodes);
    for (i, contacts) in adj.into_iter().enumerate() {
        let k = key(i as u32);
        let w = owner(k);
        place.push((w, shares[w].keys.len()));
        shares[w].keys.push(k);
        shares[w].own.push(graph.own[i]);
        shares[w].contacts.push(contacts);
    }
    let entries = 2 * graph.edges.len() as u64;

    say("one machine's job…".into());
    let csr = Csr::build(b.nodes, &graph.edges, Layout::Given, 0)?;
    let t = Instant::now();
    let single = propagate(&csr, &graph.own, &params, 0, &mut |_| {})?;
    let single_s = t.elapsed().as_secs_f64();
    drop(csr);

    let mut times = Vec::new();
    let mut last = None;
    for run in 0..b.runs {
        let t = Instant::now();
        let outs = credo_flow::run_threads(shares.clone(), owner.clone(), params)
            .context("the dataflow job")?;
        let s = t.elapsed().as_secs_f64();
        times.push(s);
        say(format!(
            "run {}: {:.2} s, {} sweeps",
            run + 1,
            s,
            outs.first().map_or(0, |o| o.iterations)
        ));
        last = Some(outs);
    }
    let outs = last.context("no run")?;
    // Against one machine, subject by subject.
    let (mut worst_value, mut worst_mean) = (0.0f64, 0.0f64);
    for (i, &(w, j)) in place.iter().enumerate() {
        let o = &outs[w];
        worst_value = worst_value.max((o.values[j] - single.values[i]).abs());
        let theirs = single.contacts_mean(i as u32);
        match (o.contacts[j], theirs) {
            (Some(a), Some(b)) => worst_mean = worst_mean.max((a - b).abs()),
            (None, None) => {}
            (a, b) => bail!("subject {i}: contacts' mean {a:?} here, {b:?} on one machine"),
        }
    }
    let bound = 2.0 * b.tolerance * b.damping / (1.0 - b.damping) + 1e-12;
    let sum = |f: fn(&credo_flow::Outcome) -> u64| outs.iter().map(f).sum::<u64>();
    let (records, visits, changes) = (
        sum(|o| o.records_sent),
        sum(|o| o.edge_visits),
        sum(|o| o.changes),
    );
    let sweeps = outs.first().map_or(0, |o| o.iterations);
    let job_s = median(&mut times);
    let out = json!({
        "machine": machine(),
        "nodes": b.nodes,
        "contact_entries": entries,
        "workers": workers,
        "sweeps": sweeps,
        "single_sweeps": single.iterations,
        "flow_s_median": job_s,
        "flow_s": times,
        "single_s": single_s,
        "ratio": job_s / single_s,
        "records_sent": records,
        "edge_visits": visits,
        "changes": changes,
        "full_visits": entries * (u64::from(sweeps) + 1),
        "max_value_diff": worst_value,
        "max_mean_diff": worst_mean,
        "bound": bound,
    });
    if g.json {
        println!("{}", serde_json::to_string_pretty(&out)?);
    } else {
        println!(
            "dataflow job, {workers} workers: median {job_s:.2} s for {sweeps} sweeps ({:.2}× one machine's {single_s:.2} s, {} sweeps)",
            job_s / single_s,
            single.iterations
        );
        println!(
            "  {records} records into the exchange, {visits} contact entries read ({:.0} % of {} for every sweep and the first round), {changes} changes",
            100.0 * visits as f64 / (entries * (u64::from(sweeps) + 1)) as f64,
            entries * (u64::from(sweeps) + 1)
        );
        println!(
            "  against one machine: terms within {worst_value:.1e}, contacts' means within {worst_mean:.1e} (bound {bound:.1e})"
        );
    }
    if worst_value > bound || worst_mean > bound {
        bail!("the dataflow job's terms differ from one machine's beyond {bound:.1e}");
    }
    Ok(ExitCode::SUCCESS)
}

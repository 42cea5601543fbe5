//! `credo bench graph`: the relationships propagation on a generated contact graph
//! (10 M people and 200 M contacts by default, `credo_sim::graph`: heavy-tailed degrees,
//! homophilous by city and industry, node numbers independent of community).
//!
//! Reported side by side in the same run, on the same graph and standings:
//! - credo: rows laid out by community (city, industry), sweeps on all threads;
//! - naive: the same sweep on one thread over rows in node order, the plain CSR loop;
//!   rounds of `--sweeps` sweeps each, interleaved, medians quoted;
//! - one full job of credo's to the tolerance, whose terms the naive layout must match
//!   to 1e-9;
//! - with `--peer igraph`, python-igraph's personalized PageRank (PRPACK) solving the same
//!   fixed point (`bench/graph-peer.py`), timed by the script, terms compared.

use super::{Global, machine, median};
use anyhow::{Context, Result, bail};
use clap::Args;
use credo_graph::{Csr, Layout, Params, Relations, propagate};
use credo_sim::graph::{GraphConfig, contact_graph};
use credo_sim::normal;
use rand::{Rng, SeedableRng};
use rand_pcg::Pcg64Mcg;
use serde_json::json;
use std::io::Write;
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Instant;

#[derive(Args)]
pub struct GraphBench {
    #[arg(long, default_value_t = 10_000_000)]
    nodes: usize,
    /// Contacts (undirected edges) asked of the generator; repeats are dropped.
    #[arg(long, default_value_t = 200_000_000)]
    edges: u64,
    #[arg(long, default_value_t = 7)]
    seed: u64,
    #[arg(long, default_value_t = 0.5)]
    damping: f64,
    #[arg(long, default_value_t = 1e-9)]
    tolerance: f64,
    /// Timed rounds, each `--sweeps` sweeps of credo and of the naive loop.
    #[arg(long, default_value_t = 3)]
    runs: usize,
    #[arg(long, default_value_t = 4)]
    sweeps: u32,
    /// Threads for credo's sweeps (0: all cores).
    #[arg(long, default_value_t = 0)]
    threads: usize,
    /// Peers: naive (the plain CSR loop, in process) and igraph (python-igraph, by
    /// `bench/graph-peer.py`).
    #[arg(long, value_delimiter = ',', default_value = "naive", value_parser = ["naive", "igraph", "none"])]
    peer: Vec<String>,
    /// The Python with igraph installed (`pip install -r bench/graph-peer-requirements.txt`).
    #[arg(long, default_value = "python3")]
    python: String,
    /// The igraph peer script.
    #[arg(long, default_value = "bench/graph-peer.py")]
    script: PathBuf,
    /// Debtors whose notice audience is planned and timed.
    #[arg(long, default_value_t = 50)]
    audiences: usize,
    /// Numbers looked up for call screening (a tenth of them warn).
    #[arg(long, default_value_t = 4_000_000)]
    lookups: usize,
}

/// Notice audiences on the generated people: each lives around its city's centre (a
/// normal spread of about 8 km), its region is its city and its group its industry.
fn audiences(
    b: &GraphBench,
    graph: &credo_sim::graph::SynthGraph,
    rel: &Relations,
) -> Result<serde_json::Value> {
    use credo_graph::audience::{Attrs, Criteria, GroupMatch, select};
    use credo_sim::cities::CITIES;
    let mut r = Pcg64Mcg::seed_from_u64(b.seed ^ 0xA0D1);
    let n = b.nodes;
    let pos: Vec<[f32; 2]> = graph
        .community
        .iter()
        .map(|&c| {
            let city = &CITIES[(c / 16) as usize];
            [
                (city.lat + normal(&mut r) * 0.07) as f32,
                (city.lon + normal(&mut r) * 0.09) as f32,
            ]
        })
        .collect();
    let area: Vec<u32> = graph.community.iter().map(|&c| c / 16 + 1).collect();
    let group: Vec<u8> = graph
        .community
        .iter()
        .map(|&c| (c % 16) as u8 + 1)
        .collect();
    fn related(a: u8, b: u8) -> bool {
        (a - 1) / 4 == (b - 1) / 4
    }
    let all = |_: u32| true;
    let attrs = Attrs {
        pos: &pos,
        area: &area,
        group: &group,
        eligible: &all,
    };
    let c = Criteria {
        radius_m: 3000.0,
        same_area: true,
        group: GroupMatch::Related(related),
        hops: 2,
        cap: 100_000,
    };
    let (mut ms, mut sizes) = (Vec::new(), 0usize);
    for _ in 0..b.audiences {
        let centre = r.random_range(0..n) as u32;
        let t = Instant::now();
        let a = select(&attrs, Some(rel), centre, &c)?;
        ms.push(t.elapsed().as_secs_f64() * 1e3);
        sizes += a.members.len();
    }
    let max = ms.iter().copied().fold(0.0, f64::max);
    Ok(json!({
        "median_ms": median(&mut ms),
        "max_ms": max,
        "debtors": b.audiences,
        "mean_size": sizes as f64 / b.audiences.max(1) as f64,
        "criteria": "3 km, same region, related industry, 2 hops, cap 100000",
    }))
}

/// Call screening: 1 % of the people listed with one or two mobile numbers each; numbers
/// looked up as the strings a telco sends, parsed and looked up on one thread.
fn screening(b: &GraphBench) -> serde_json::Value {
    use credo_engine::calls::{CallIndex, Number};
    let mut r = Pcg64Mcg::seed_from_u64(b.seed ^ 0xCA11);
    let mut index = CallIndex::default();
    let mobile = |r: &mut Pcg64Mcg| {
        format!(
            "1{}{:09}",
            r.random_range(3..10),
            r.random_range(0..1_000_000_000u64)
        )
    };
    let mut listed = Vec::new();
    for s in 0..(b.nodes / 100) as u32 {
        let k = 1 + r.random_range(0..2);
        let numbers: Vec<String> = (0..k).map(|_| mobile(&mut r)).collect();
        let parsed = numbers
            .iter()
            .filter_map(|n| Number::parse(n).ok())
            .collect();
        listed.extend(numbers);
        index.set(
            s,
            Some((parsed, "某某区人民法院".into(), "(2026)京0101执1号".into())),
        );
    }
    let queries: Vec<String> = (0..b.lookups)
        .map(|i| {
            if i % 10 == 0 && !listed.is_empty() {
                listed[r.random_range(0..listed.len())].clone()
            } else {
                mobile(&mut r)
            }
        })
        .collect();
    let t = Instant::now();
    let mut hits = 0usize;
    for q in &queries {
        if let Ok(n) = Number::parse(q)
            && index.get(n).is_some()
        {
            hits += 1;
        }
    }
    let s = t.elapsed().as_secs_f64();
    json!({
        "lookups_per_s": queries.len() as f64 / s,
        "lookups": queries.len(),
        "hits": hits,
        "numbers": index.len(),
    })
}

pub fn run(g: &Global, b: GraphBench) -> Result<ExitCode> {
    if b.nodes < 2 || b.nodes >= u32::MAX as usize {
        bail!("--nodes must be between 2 and {}", u32::MAX - 1);
    }
    let say = super::progress(g);
    let threads = if b.threads == 0 {
        rayon::current_num_threads()
    } else {
        b.threads
    };
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
    let t = Instant::now();
    let mut graph = contact_graph(&GraphConfig {
        nodes: b.nodes,
        edges: b.edges,
        seed: b.seed,
    });
    let generate_s = t.elapsed().as_secs_f64();
    let m = graph.edges.len() as u64;
    say(format!("{m} contacts in {generate_s:.1} s; building rows…"));

    let t = Instant::now();
    let credo = Csr::build(
        b.nodes,
        &graph.edges,
        Layout::ByKey(&graph.community),
        threads,
    )?;
    let build_s = t.elapsed().as_secs_f64();
    let naive_peer = b.peer.iter().any(|p| p == "naive");
    let naive = if naive_peer {
        Some(Csr::build(b.nodes, &graph.edges, Layout::Given, threads)?)
    } else {
        None
    };
    say(format!(
        "rows built in {build_s:.1} s ({} MB); {} rounds of {} sweeps…",
        credo.heap_bytes() >> 20,
        b.runs,
        b.sweeps
    ));

    let fixed = Params {
        max_iterations: b.sweeps,
        tolerance: f64::MIN_POSITIVE,
        ..params
    };
    let rate = |csr: &Csr, threads: usize| -> Result<f64> {
        let t = Instant::now();
        let r = propagate(csr, &graph.own, &fixed, threads, &mut |_| {})?;
        Ok(r.edge_visits as f64 / t.elapsed().as_secs_f64())
    };
    let (mut ours, mut theirs, mut ours_1) = (Vec::new(), Vec::new(), Vec::new());
    for round in 0..b.runs {
        let a = rate(&credo, threads)?;
        ours.push(a);
        let c = rate(&credo, 1)?;
        ours_1.push(c);
        let n = match &naive {
            Some(csr) => Some(rate(csr, 1)?),
            None => None,
        };
        if let Some(n) = n {
            theirs.push(n);
        }
        say(format!(
            "round {}: credo {:.0} M edge visits/s ({} threads), {:.0} M/s (1 thread){}",
            round + 1,
            a / 1e6,
            threads,
            c / 1e6,
            n.map(|n| format!(", naive {:.0} M/s", n / 1e6))
                .unwrap_or_default()
        ));
    }
    let edges_per_s = median(&mut ours);
    let one_thread = median(&mut ours_1);
    let naive_per_s = (!theirs.is_empty()).then(|| median(&mut theirs));

    say("one full job to the tolerance…".into());
    let t = Instant::now();
    let (rel, full) = Relations::full(credo, &graph.own, params, 1e-4, threads, &mut |s| {
        if !g.json && s.iteration % 5 == 0 {
            eprintln!("  sweep {}: residual {:.2e}", s.iteration, s.residual);
        }
    })?;
    let full_s = t.elapsed().as_secs_f64();
    let mut agree_naive = None;
    if let Some(csr) = &naive {
        let r = propagate(csr, &graph.own, &params, threads, &mut |_| {})?;
        agree_naive = Some(max_diff(&full.values, &r.values));
    }
    drop(naive);

    say(format!("notice audiences for {} debtors…", b.audiences));
    let audiences = audiences(&b, &graph, &rel)?;
    drop(rel);
    say("call screening…".into());
    let screening = screening(&b);

    let mut igraph = None;
    if b.peer.iter().any(|p| p == "igraph") {
        say("igraph: writing the graph for the peer…".into());
        let edges = std::mem::take(&mut graph.edges);
        igraph = Some(run_igraph(&b, edges, &graph.own, &full.values)?);
    }

    let out = json!({
        "edges_per_s": edges_per_s,
        "edges": m,
        "nodes": b.nodes,
        "directed_entries": 2 * m,
        "threads": threads,
        "edges_per_s_one_thread": one_thread,
        "naive_edges_per_s": naive_per_s,
        "ratio_to_naive": naive_per_s.map(|n| edges_per_s / n),
        "rounds": {"credo": ours, "credo_one_thread": ours_1, "naive": theirs, "sweeps": b.sweeps},
        "full": {
            "seconds": full_s,
            "iterations": full.iterations,
            "residual": full.residual,
            "converged": full.converged,
            "edge_visits": full.edge_visits,
            "edges_per_s": full.edge_visits as f64 / full_s,
            "max_diff_naive_layout": agree_naive,
        },
        "igraph": igraph,
        "audience": audiences,
        "screen": screening,
        "damping": b.damping,
        "tolerance": b.tolerance,
        "generate_s": generate_s,
        "build_s": build_s,
        "machine": machine(),
    });
    if g.json {
        println!("{out}");
    } else {
        println!(
            "graph: {} people, {m} contacts ({} directed entries)",
            b.nodes,
            2 * m
        );
        println!(
            "credo: {:.0} M edge visits/s on {threads} threads (median of {} rounds), {:.0} M/s on one",
            edges_per_s / 1e6,
            b.runs,
            one_thread / 1e6
        );
        if let Some(n) = naive_per_s {
            println!(
                "naive CSR loop, one thread, node order: {:.0} M/s; credo is {:.2}×",
                n / 1e6,
                edges_per_s / n
            );
        }
        println!(
            "full job: {} sweeps to residual {:.1e} in {full_s:.1} s ({:.0} M visits/s){}",
            full.iterations,
            full.residual,
            full.edge_visits as f64 / full_s / 1e6,
            agree_naive
                .map(|d| format!("; naive layout agrees to {d:.1e}"))
                .unwrap_or_default()
        );
        println!(
            "notice audience (3 km, region, related industry, 2 hops, cap 100,000): median {:.1} ms, max {:.1} ms over {} debtors, {:.0} people on average",
            audiences["median_ms"].as_f64().unwrap_or(0.0),
            audiences["max_ms"].as_f64().unwrap_or(0.0),
            b.audiences,
            audiences["mean_size"].as_f64().unwrap_or(0.0)
        );
        println!(
            "call screening: {:.2} M lookups/s on one thread ({} numbers warn; {} of {} looked up did)",
            screening["lookups_per_s"].as_f64().unwrap_or(0.0) / 1e6,
            screening["numbers"],
            screening["hits"],
            screening["lookups"]
        );
        if let Some(i) = &igraph {
            println!(
                "igraph {}: build {:.1} s, solve {:.1} s (credo's full job {:.1} s: {:.1}× faster); terms agree to {:.1e}",
                i["igraph_version"].as_str().unwrap_or("?"),
                i["build_s"].as_f64().unwrap_or(0.0),
                i["solve_s"].as_f64().unwrap_or(0.0),
                full_s,
                i["solve_s"].as_f64().unwrap_or(0.0) / full_s,
                i["max_diff"].as_f64().unwrap_or(f64::NAN)
            );
        }
    }
    Ok(ExitCode::SUCCESS)
}

fn max_diff(a: &[f64], b: &[f64]) -> f64 {
    a.iter()
        .zip(b)
        .map(|(x, y)| (x - y).abs())
        .fold(0.0, f64::max)
}

/// Runs the igraph script on the same graph; returns its JSON plus the comparison.
fn run_igraph(
    b: &GraphBench,
    edges: Vec<[u32; 2]>,
    own: &[f64],
    ours: &[f64],
) -> Result<serde_json::Value> {
    let dir = tempfile::tempdir()?;
    let (ep, op, xp) = (
        dir.path().join("edges.u32"),
        dir.path().join("own.f64"),
        dir.path().join("x.f64"),
    );
    {
        let mut w = std::io::BufWriter::with_capacity(1 << 22, std::fs::File::create(&ep)?);
        for [a, b] in &edges {
            w.write_all(&a.to_le_bytes())?;
            w.write_all(&b.to_le_bytes())?;
        }
        w.flush()?;
        // The peer needs the memory more than this process does.
        drop(edges);
        let mut w = std::io::BufWriter::with_capacity(1 << 22, std::fs::File::create(&op)?);
        for s in own {
            w.write_all(&s.to_le_bytes())?;
        }
        w.flush()?;
    }
    let output = std::process::Command::new(&b.python)
        .arg(&b.script)
        .args(["--edges".as_ref(), ep.as_os_str()])
        .args(["--own".as_ref(), op.as_os_str()])
        .args(["--damping", &b.damping.to_string()])
        .args(["--out".as_ref(), xp.as_os_str()])
        .stderr(std::process::Stdio::inherit())
        .output()
        .with_context(|| format!("running {} {}", b.python, b.script.display()))?;
    if !output.status.success() {
        bail!(
            "the igraph peer failed ({}); install it with `pip install -r bench/graph-peer-requirements.txt`",
            output.status
        );
    }
    let line = String::from_utf8_lossy(&output.stdout);
    let mut v: serde_json::Value = serde_json::from_str(line.trim().lines().last().unwrap_or(""))
        .with_context(|| format!("the igraph peer printed {line:?}"))?;
    let bytes = std::fs::read(&xp)?;
    let theirs: Vec<f64> = bytes
        .chunks_exact(8)
        .map(|c| f64::from_le_bytes(c.try_into().unwrap_or([0; 8])))
        .collect();
    if theirs.len() != ours.len() {
        bail!(
            "the igraph peer wrote {} terms for {} people",
            theirs.len(),
            ours.len()
        );
    }
    v["max_diff"] = json!(max_diff(ours, &theirs));
    Ok(v)
}

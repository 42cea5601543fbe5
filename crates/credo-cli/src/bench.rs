//! `credo bench …`: the project's own benchmarks. Each prints human text or `--json`,
//! and runs a peer side by side in the same run where one is named.

use crate::cmd::{self, Global};
use anyhow::{Context, Result};
use clap::{Args, Subcommand};
use credo_engine::{Clock, Engine};
use serde_json::json;
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Instant;

mod bus;
mod decide;
mod fit;
mod flow;
mod geo;
mod graph;
mod live;
mod postgres;

#[derive(Subcommand)]
pub enum BenchCmd {
    /// Durable ingest of generated JSON-lines events, with scores updated.
    Ingest(IngestBench),
    /// Resident memory of the derived state for many subjects (default 10 million).
    Memory(MemoryBench),
    /// Decisions per second on one core with many offers loaded, and cedar-policy as a peer.
    Decide(decide::DecideBench),
    /// Radius queries per second on the debtor map's index (15 M points by default), with
    /// rstar side by side, Redis GEOSEARCH as a peer, and geofence sessions.
    Geo(geo::GeoBench),
    /// Live map sessions over WebSockets against a running `credo serve`: many users, one
    /// position a second each, acknowledged; reports throughput and lag.
    Live(live::LiveBench),
    /// The relationships propagation on a generated contact graph (10 M people, 200 M
    /// contacts by default), with the plain CSR loop side by side and igraph as a peer.
    Graph(graph::GraphBench),
    /// The cross-node relationships job (differential dataflow on timely) on a generated
    /// contact graph split over worker threads, with one machine's job side by side.
    Flow(flow::FlowBench),
    /// Repeated k-fold cross-validation of `credo fit` (germancredit by default): mean
    /// out-of-fold AUC and fit time; writes the splits for a peer.
    Fit(fit::FitBench),
    /// The cluster's transport on a running NATS server or cluster: events routed by
    /// partition, published and acknowledged, then pulled back by durable consumers.
    Bus(bus::BusBench),
}

#[derive(Args)]
pub struct MemoryBench {
    #[arg(long, default_value_t = 10_000_000)]
    subjects: u64,
    /// Events per subject after its record (a bill and a payment per month).
    #[arg(long, default_value_t = 2)]
    events: u64,
    #[arg(long)]
    work: Option<PathBuf>,
}

#[derive(Args)]
pub struct IngestBench {
    /// People in the generated population (events are about 40 a person).
    #[arg(long, default_value_t = 100_000)]
    people: usize,
    #[arg(long, default_value_t = 7)]
    seed: u64,
    /// Reuse a population folder written by `credo generate` instead of generating one.
    #[arg(long)]
    input: Option<PathBuf>,
    /// Repeat the timed ingest this many times (each into a fresh folder) and report the median.
    #[arg(long, default_value_t = 3)]
    runs: usize,
    /// Also load the same events into PostgreSQL (COPY) and compute the same features in SQL.
    #[arg(long, value_parser = ["postgres"])]
    peer: Option<String>,
    /// Where to work (default: a temporary folder that is removed afterwards).
    #[arg(long)]
    work: Option<PathBuf>,
}

pub fn run(g: &Global, cmd: BenchCmd) -> Result<ExitCode> {
    match cmd {
        BenchCmd::Ingest(b) => ingest(g, b),
        BenchCmd::Memory(b) => memory(g, b),
        BenchCmd::Decide(b) => decide::run(g, b),
        BenchCmd::Geo(b) => geo::run(g, b),
        BenchCmd::Live(b) => live::run(g, b),
        BenchCmd::Graph(b) => graph::run(g, b),
        BenchCmd::Flow(b) => flow::run(g, b),
        BenchCmd::Fit(b) => fit::run(g, b),
        BenchCmd::Bus(b) => bus::run(g, b),
    }
}

/// Progress lines on standard error, unless the output is JSON.
fn progress(g: &Global) -> impl Fn(String) + '_ {
    move |s| {
        if !g.json {
            eprintln!("{s}");
        }
    }
}

fn median(v: &mut [f64]) -> f64 {
    v.sort_by(f64::total_cmp);
    v.get(v.len() / 2).copied().unwrap_or(0.0)
}

fn machine() -> serde_json::Value {
    let cpu = std::fs::read_to_string("/proc/cpuinfo")
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("model name"))
                .map(|l| l.split(':').nth(1).unwrap_or("").trim().to_string())
        })
        .unwrap_or_default();
    json!({"cpus": std::thread::available_parallelism().map(|n| n.get()).unwrap_or(1), "cpu": cpu})
}

fn ingest(g: &Global, b: IngestBench) -> Result<ExitCode> {
    let tmp = tempfile::tempdir().context("creating a temporary folder")?;
    let work = b.work.clone().unwrap_or_else(|| tmp.path().to_path_buf());
    let pop = match &b.input {
        Some(p) => p.clone(),
        None => {
            let p = work.join("population");
            if !g.json {
                eprintln!("generating {} people into {} …", b.people, p.display());
            }
            cmd::write_population(b.people, b.seed, &p, None)?;
            p
        }
    };
    let events = pop.join("events.jsonl");
    let event_bytes = std::fs::metadata(&events)
        .with_context(|| format!("reading {}", events.display()))?
        .len();
    let mut rates = Vec::new();
    let mut mbps = Vec::new();
    let mut last = None;
    for run in 0..b.runs.max(1) {
        // Each run starts clean: the previous run's engine is dropped and its folder removed,
        // so no run pays for another's memory or pending writeback.
        if let Some((engine, _, _, old)) = last.take() {
            drop(engine);
            let _ = std::fs::remove_dir_all(old);
        }
        let data = work.join(format!("data-{run}"));
        let _ = std::fs::remove_dir_all(&data);
        let (mut engine, _) = Engine::open(
            &data,
            g.load_model()?,
            Some(Clock::Fixed(credo_sim::Config::default().end)),
        )?;
        let setup = cmd::ingest_files(
            &mut engine,
            &[pop.join("subjects.jsonl"), pop.join("contacts.jsonl")],
            false,
            8 << 20,
        )?;
        let t = Instant::now();
        let r = cmd::ingest_files(&mut engine, std::slice::from_ref(&events), false, 8 << 20)?;
        let secs = t.elapsed().as_secs_f64();
        anyhow::ensure!(
            r.rejected == 0,
            "the generated events had {} rejections: {:?}",
            r.rejected,
            r.errors.first()
        );
        rates.push(r.accepted as f64 / secs);
        mbps.push(event_bytes as f64 / 1e6 / secs);
        if !g.json {
            eprintln!(
                "run {}: {} events in {secs:.2} s = {:.0} events/s",
                run + 1,
                r.accepted,
                r.accepted as f64 / secs
            );
        }
        last = Some((engine, setup, r, data));
    }
    let Some((engine, setup, report, data)) = last else {
        anyhow::bail!("no run")
    };
    let footprint = engine.footprint();
    let subjects = engine.subject_count();
    let total_events = engine.event_count();
    drop(engine);
    let t = Instant::now();
    let (reopened, _) = Engine::open(&data, g.load_model()?, None)?;
    let replay_secs = t.elapsed().as_secs_f64();
    drop(reopened);
    let events_per_s = median(&mut rates);
    let mut out = json!({
        "benchmark": "ingest",
        "machine": machine(),
        "people": b.people,
        "subjects": subjects,
        "events": report.accepted,
        "event_file_bytes": event_bytes,
        "setup_lines": setup.accepted,
        "runs": rates.len(),
        "events_per_s": events_per_s.round(),
        "events_per_s_runs": rates.iter().map(|r| r.round()).collect::<Vec<_>>(),
        "mb_per_s": (median(&mut mbps) * 10.0).round() / 10.0,
        "replay_events_per_s": (total_events as f64 / replay_secs).round(),
        "memory": {
            "scoring_state_bytes_per_subject": footprint.scoring.dense_bytes_per_subject + 4,
            "index_bytes_per_subject": (footprint.index_bytes_per_subject * 10.0).round() / 10.0,
            "sparse_ledger_bytes": footprint.scoring.sparse_bytes,
            "sparse_ledger_bytes_per_subject": (footprint.scoring.sparse_bytes as f64 / subjects.max(1) as f64 * 10.0).round() / 10.0,
            "history_entries": footprint.history_entries,
            "dedupe_keys": footprint.dedupe_keys,
            "event_list_bytes_per_event": (footprint.chain_bytes as f64 / footprint.dedupe_keys.max(1) as f64 * 10.0).round() / 10.0,
            "dedupe_bytes_per_key": (footprint.dedupe_bytes as f64 / footprint.dedupe_keys.max(1) as f64 * 10.0).round() / 10.0,
        },
    });
    if b.peer.as_deref() == Some("postgres") {
        let peer = postgres::run(&pop, &work.join("pg"), !g.json)?;
        let ratio = events_per_s / peer.events_per_s.max(1e-9);
        out["peer"] = peer.json();
        out["ratio_vs_peer"] = json!((ratio * 10.0).round() / 10.0);
    }
    if g.json {
        println!("{}", serde_json::to_string_pretty(&out)?);
    } else {
        println!(
            "durable ingest: {} events/s (median of {}), {} MB/s; replay on open: {} events/s",
            out["events_per_s"], out["runs"], out["mb_per_s"], out["replay_events_per_s"]
        );
        println!(
            "scoring state: {} bytes/subject dense (+ {} bytes/subject sparse ledgers); subject index {} bytes/subject",
            out["memory"]["scoring_state_bytes_per_subject"],
            out["memory"]["sparse_ledger_bytes_per_subject"],
            out["memory"]["index_bytes_per_subject"]
        );
        if let Some(p) = out.get("peer") {
            println!(
                "postgres peer: {} events/s end to end ({}); credo is {}× faster",
                p["events_per_s"], p["steps"], out["ratio_vs_peer"]
            );
        }
    }
    drop(tmp);
    Ok(ExitCode::SUCCESS)
}

fn rss_bytes() -> u64 {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("VmRSS:"))
                .and_then(|l| l.split_whitespace().nth(1)?.parse::<u64>().ok())
        })
        .map_or(0, |kb| kb * 1024)
}

/// JSON lines for `n` subjects, made on the fly: a record and `events` events each.
struct Lines {
    n: u64,
    events: u64,
    i: u64,
    k: u64,
    buf: Vec<u8>,
    pos: usize,
}

impl Lines {
    fn id(i: u64) -> String {
        // Distinct valid IDs: birth dates from 1950 on, 1000 sequence numbers a day.
        let day = credo_model::Day(
            credo_model::Day::from_ymd(1950, 1, 1).map_or(0, |d| d.0) + (i / 1000) as i32,
        );
        let (y, m, d) = day.ymd();
        let body = format!("110101{y:04}{m:02}{d:02}{:03}", i % 1000);
        let mut digits = [0u8; 17];
        for (slot, c) in digits.iter_mut().zip(body.bytes()) {
            *slot = c - b'0';
        }
        format!("{body}{}", credo_model::id::resident_check(&digits))
    }

    fn refill(&mut self) {
        self.buf.clear();
        self.pos = 0;
        while self.buf.len() < 1 << 20 && self.i < self.n {
            let id = Self::id(self.i);
            let line = if self.k == 0 {
                format!(
                    r#"{{"id":"{id}","kind":"subject","at":"2025-01-01","name":"张三","phones":["13800138000"],"address":"x","industry":"C"}}"#
                )
            } else if self.k % 2 == 1 {
                format!(
                    r#"{{"id":"b{}-{}","source":"grid","subject":"{id}","at":"2025-{:02}-15T10:00:00+08:00","kind":"bill","ref":"r{}","amount":120.5,"status":"paid"}}"#,
                    self.i,
                    self.k,
                    1 + (self.k / 2) % 12,
                    self.k
                )
            } else {
                format!(
                    r#"{{"id":"p{}-{}","source":"pay","subject":"{id}","at":"2025-{:02}-20T10:00:00+08:00","kind":"payment","amount":88}}"#,
                    self.i,
                    self.k,
                    1 + (self.k / 2) % 12
                )
            };
            self.buf.extend_from_slice(line.as_bytes());
            self.buf.push(b'\n');
            self.k += 1;
            if self.k > self.events {
                self.k = 0;
                self.i += 1;
            }
        }
    }
}

impl std::io::Read for Lines {
    fn read(&mut self, out: &mut [u8]) -> std::io::Result<usize> {
        if self.pos == self.buf.len() {
            self.refill();
        }
        let n = out.len().min(self.buf.len() - self.pos);
        out[..n].copy_from_slice(&self.buf[self.pos..self.pos + n]);
        self.pos += n;
        Ok(n)
    }
}

fn memory(g: &Global, b: MemoryBench) -> Result<ExitCode> {
    let tmp = tempfile::tempdir().context("creating a temporary folder")?;
    let work = b.work.clone().unwrap_or_else(|| tmp.path().to_path_buf());
    let data = work.join("data");
    let _ = std::fs::remove_dir_all(&data);
    let before = rss_bytes();
    let (mut engine, _) = Engine::open(
        &data,
        g.load_model()?,
        Some(Clock::Fixed(credo_sim::Config::default().end)),
    )?;
    let lines = Lines {
        n: b.subjects,
        events: b.events,
        i: 0,
        k: 0,
        buf: Vec::new(),
        pos: 0,
    };
    let pb = cmd::bar(None, "memory");
    let t = Instant::now();
    let report = engine.ingest("generated", lines, &Default::default(), &mut |p| {
        pb.set_position(p.bytes)
    })?;
    pb.finish_and_clear();
    let secs = t.elapsed().as_secs_f64();
    anyhow::ensure!(
        report.rejected == 0,
        "rejections: {:?}",
        report.errors.first()
    );
    let after = rss_bytes();
    let f = engine.footprint();
    let n = f.subjects.max(1) as f64;
    let out = json!({
        "benchmark": "memory",
        "machine": machine(),
        "subjects": f.subjects,
        "events": report.accepted,
        "ingest_seconds": (secs * 10.0).round() / 10.0,
        "scoring_state_bytes_per_subject": f.scoring.dense_bytes_per_subject + 4,
        "subject_index_bytes_per_subject": (f.index_bytes_per_subject * 10.0).round() / 10.0,
        "sparse_ledger_bytes_per_subject": (f.scoring.sparse_bytes as f64 / n * 10.0).round() / 10.0,
        "dedupe_keys": f.dedupe_keys,
        "dedupe_bytes_per_key": (f.dedupe_bytes as f64 / f.dedupe_keys.max(1) as f64 * 10.0).round() / 10.0,
        "history_entries": f.history_entries,
        "event_list_bytes_per_subject": (f.chain_bytes as f64 / n * 10.0).round() / 10.0,
        "rss_bytes": after,
        "rss_growth_bytes_per_subject": ((after.saturating_sub(before)) as f64 / n).round(),
    });
    if g.json {
        println!("{}", serde_json::to_string_pretty(&out)?);
    } else {
        println!(
            "{} subjects, {} events in {secs:.1} s: scoring state {} bytes/subject (row + history head), subject index {} bytes/subject; process RSS grew {} bytes/subject (dedupe keys and history included)",
            f.subjects,
            report.accepted,
            out["scoring_state_bytes_per_subject"],
            out["subject_index_bytes_per_subject"],
            out["rss_growth_bytes_per_subject"]
        );
    }
    Ok(ExitCode::SUCCESS)
}

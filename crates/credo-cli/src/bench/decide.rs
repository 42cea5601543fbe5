//! `credo bench decide`: decisions per second on one core, with many relying-party offers
//! loaded and a large population, and the same policies evaluated by cedar-policy (the
//! peer in `bench/cedar-peer`, built apart because cedar takes minutes to compile).
//!
//! The population and the requests are defined by splitmix64 so that the peer builds
//! the very same ones: subject `j` has score `350 + h % 601`, is listed when
//! `(h >> 20) % 100 == 0` and restricted when listed or `(h >> 40) % 200 == 0`, with
//! `h = splitmix64(seed ^ j)`; request `k` asks for subject `r % N` and offer
//! `(r >> 32) % P`, with `r = splitmix64((seed + 0x5EED) ^ k)`.

use super::{Global, machine, median};
use anyhow::{Context, Result, bail};
use clap::Args;
use credo_model::{Amount, Day, EventBody};
use credo_rules::{CourtBook, CourtConfig, Outcome, PolicySet, SubjectFacts, decide};
use rustc_hash::FxHashMap;
use serde_json::json;
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Instant;

#[derive(Args)]
pub struct DecideBench {
    /// Subjects in the population.
    #[arg(long, default_value_t = 10_000_000)]
    subjects: u64,
    /// Relying-party offers loaded (generated; see `--write-policies`).
    #[arg(long, default_value_t = 1000)]
    policies: usize,
    /// Decisions per timed run.
    #[arg(long, default_value_t = 2_000_000)]
    decisions: u64,
    #[arg(long, default_value_t = 5)]
    runs: usize,
    #[arg(long, default_value_t = 7)]
    seed: u64,
    /// Also run cedar-policy on the same policies and requests (the binary built from
    /// bench/cedar-peer; see its README).
    #[arg(long, value_parser = ["cedar"])]
    peer: Option<String>,
    /// The peer binary.
    #[arg(
        long,
        default_value = "bench/cedar-peer/target/release/credo-cedar-peer"
    )]
    peer_bin: PathBuf,
    /// Decisions the (slow) peer makes.
    #[arg(long, default_value_t = 20_000)]
    peer_decisions: u64,
    /// Also time `Engine::check` on the data folder (`--data`, e.g. after `credo demo`):
    /// real subjects, scores computed from their feature state, the folder's offers.
    #[arg(long)]
    engine: bool,
}

/// `Engine::check` over the folder's subjects: each request a random subject and, in turn,
/// each offer in force and `flight`. Returns (decisions/s, decisions/s for offers only).
fn engine_rate(g: &Global, decisions: u64, seed: u64) -> Result<serde_json::Value> {
    let mut engine = g.open()?;
    let n = engine.subject_count() as u64;
    if n == 0 {
        bail!("--engine needs a data folder with subjects (run `credo demo --no-serve` first)");
    }
    let offers: Vec<String> = engine
        .policies()
        .offers
        .iter()
        .map(|o| o.id.clone())
        .collect();
    let as_of = engine.today();
    let computed = |engine: &credo_engine::Engine, actions: &[&str]| -> Result<f64> {
        let t = Instant::now();
        for k in 0..decisions {
            let r = splitmix64(seed.wrapping_add(0x5EED) ^ k);
            let Some(id) = engine.subject_at((r % n) as usize) else {
                continue;
            };
            let action = actions[((r >> 32) % actions.len() as u64) as usize];
            std::hint::black_box(engine.check(id, action, Some(as_of))?);
        }
        Ok(decisions as f64 / t.elapsed().as_secs_f64())
    };
    let offer_ids: Vec<&str> = offers.iter().map(String::as_str).collect();
    let offers_computed = computed(&engine, &offer_ids)?;
    let t = Instant::now();
    engine.keep_day_scores(as_of);
    let keep_secs = t.elapsed().as_secs_f64();
    let time = |actions: &[&str]| -> Result<f64> {
        let t = Instant::now();
        for k in 0..decisions {
            let r = splitmix64(seed.wrapping_add(0x5EED) ^ k);
            let Some(id) = engine.subject_at((r % n) as usize) else {
                continue;
            };
            let action = actions[((r >> 32) % actions.len() as u64) as usize];
            std::hint::black_box(engine.check(id, action, Some(as_of))?);
        }
        Ok(decisions as f64 / t.elapsed().as_secs_f64())
    };
    let offers_rate = time(&offer_ids)?;
    let flight_rate = time(&["flight"])?;
    Ok(json!({
        "data": g.data.display().to_string(),
        "subjects": n,
        "offers": offers,
        "offer_decisions_per_s": offers_rate.round(),
        "offer_decisions_per_s_scores_computed": offers_computed.round(),
        "keep_day_scores_seconds": (keep_secs * 100.0).round() / 100.0,
        "flight_decisions_per_s": flight_rate.round(),
    }))
}

pub fn splitmix64(mut x: u64) -> u64 {
    x = x.wrapping_add(0x9E37_79B9_7F4A_7C15);
    let mut z = x;
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^ (z >> 31)
}

/// The generated policy file: offer `i` needs `350 + (i * 37) % 600`, denies on a published
/// listing, and every third one on a restriction too.
pub fn policy_file(n: usize) -> String {
    let mut t = String::from("# generated by `credo bench decide`\n");
    for i in 0..n {
        t.push_str(&format!(
            "\n[[offer]]\nid = \"offer-{i}\"\nparty = \"party-{}\"\nmin_score = {}\ndeny_if_listed = true\ndeny_if_restricted = {}\n",
            i % 97,
            350 + (i * 37) % 600,
            i % 3 == 0
        ));
    }
    t
}

struct Population {
    /// Subject key → dense index: the lookup a relying party's ID goes through.
    index: FxHashMap<u128, u32>,
    scores: Vec<u16>,
    court: CourtBook,
}

fn key_of(j: u64) -> u128 {
    (u128::from(splitmix64(j ^ 0xC0FFEE)) << 64) | u128::from(j)
}

fn population(n: u64, seed: u64) -> Population {
    let mut index = FxHashMap::default();
    index.reserve(n as usize);
    let mut scores = Vec::with_capacity(n as usize);
    let mut court = CourtBook::new(CourtConfig::default());
    let filed = Day::from_ymd(2025, 1, 10).unwrap_or_default();
    for j in 0..n {
        let h = splitmix64(seed ^ j);
        let k = key_of(j);
        index.insert(k, j as u32);
        scores.push(350 + (h % 601) as u16);
        let listed = (h >> 20).is_multiple_of(100);
        let restricted = listed || (h >> 40).is_multiple_of(200);
        let case = format!("({})执{j}号", 2025);
        if listed || restricted {
            court.apply(
                j as u32,
                filed,
                &EventBody::Judgment {
                    case: case.as_str().into(),
                    court: "court".into(),
                    amount: Amount(1_000_000),
                },
            );
        }
        if listed {
            court.apply(
                j as u32,
                Day(filed.0 + 20),
                &EventBody::Listing {
                    case: case.as_str().into(),
                    court: "court".into(),
                    trigger: 1,
                    grace_days: None,
                },
            );
        } else if restricted {
            court.apply(
                j as u32,
                Day(filed.0 + 20),
                &EventBody::Restriction {
                    case: case.as_str().into(),
                    court: "court".into(),
                },
            );
        }
    }
    Population {
        index,
        scores,
        court,
    }
}

struct Facts {
    score: u16,
}

impl SubjectFacts for Facts {
    fn score(&mut self) -> u16 {
        self.score
    }
    fn capacity(&mut self) -> f64 {
        0.5
    }
    fn factors(&mut self) -> Vec<(String, String)> {
        vec![(
            "CH01".into(),
            "Bills or repayments late in the last 12 months".into(),
        )]
    }
    fn unreturned_rentals(&mut self) -> u32 {
        0
    }
}

/// One timed run: `decisions` requests, one core. Returns (seconds, allowed).
fn run_once(
    p: &Population,
    policies: &PolicySet,
    ids: &[&str],
    seed: u64,
    decisions: u64,
    as_of: Day,
) -> (f64, u64) {
    let n = p.scores.len() as u64;
    let config = p.court.config;
    let mut allowed = 0u64;
    let t = Instant::now();
    for k in 0..decisions {
        let r = splitmix64(seed.wrapping_add(0x5EED) ^ k);
        // The request names the subject by ID (it arrives with the request, so it costs
        // no memory read here); resolving it to the dense index is part of the work.
        let key = key_of(r % n);
        let Some(&s) = p.index.get(&key) else {
            continue;
        };
        let action = ids[((r >> 32) % ids.len() as u64) as usize];
        let mut facts = Facts {
            score: p.scores[s as usize],
        };
        if let Ok(d) = decide(action, p.court.get(s), &config, policies, &mut facts, as_of)
            && d.outcome == Outcome::Allow
        {
            allowed += 1;
        }
    }
    (t.elapsed().as_secs_f64(), allowed)
}

pub fn run(g: &Global, b: DecideBench) -> Result<ExitCode> {
    if b.subjects == 0 || b.policies == 0 || b.decisions == 0 {
        bail!("--subjects, --policies and --decisions must be positive");
    }
    let tmp = tempfile::tempdir().context("creating a temporary folder")?;
    let policy_path = tmp.path().join("policies.toml");
    let text = policy_file(b.policies);
    std::fs::write(&policy_path, &text).context("writing the generated policy file")?;
    let policies = PolicySet::parse(&policy_path.display().to_string(), &text, (350, 950))?;
    let ids: Vec<&str> = policies.offers.iter().map(|o| o.id.as_str()).collect();
    let t = Instant::now();
    let pop = population(b.subjects, b.seed);
    let setup = t.elapsed().as_secs_f64();
    let as_of = Day::from_ymd(2025, 6, 1).unwrap_or_default();
    let mut rates = Vec::new();
    let mut allowed = 0;
    for _ in 0..b.runs.max(1) {
        let (secs, a) = run_once(&pop, &policies, &ids, b.seed, b.decisions, as_of);
        rates.push(b.decisions as f64 / secs);
        allowed = a;
    }
    // The catalogue path (a ticket counter asking about a flight) on the same population.
    let (fsecs, _) = run_once(&pop, &policies, &["flight"], b.seed, b.decisions, as_of);
    let mut sorted = rates.clone();
    let per_s = median(&mut sorted);
    let listed = pop.court.published(as_of).count();
    let mut out = json!({
        "benchmark": "decide",
        "machine": machine(),
        "threads": 1,
        "subjects": b.subjects,
        "listed": listed,
        "policies": b.policies,
        "decisions": b.decisions,
        "runs": rates.len(),
        "decisions_per_s": per_s.round(),
        "decisions_per_s_runs": rates.iter().map(|r| r.round()).collect::<Vec<_>>(),
        "allowed": allowed,
        "flight_decisions_per_s": (b.decisions as f64 / fsecs).round(),
        "setup_seconds": (setup * 10.0).round() / 10.0,
    });
    if b.engine {
        out["engine"] = engine_rate(g, b.decisions.min(1_000_000), b.seed)?;
    }
    if b.peer.is_some() {
        if !b.peer_bin.exists() {
            bail!(
                "the cedar peer is not built: cargo build --release --manifest-path bench/cedar-peer/Cargo.toml (expected {})",
                b.peer_bin.display()
            );
        }
        let o = std::process::Command::new(&b.peer_bin)
            .arg("--policies")
            .arg(&policy_path)
            .arg("--subjects")
            .arg(b.subjects.to_string())
            .arg("--decisions")
            .arg(b.peer_decisions.to_string())
            .arg("--seed")
            .arg(b.seed.to_string())
            .output()
            .context("running the cedar peer")?;
        if !o.status.success() {
            bail!(
                "the cedar peer failed: {}",
                String::from_utf8_lossy(&o.stderr)
            );
        }
        let peer: serde_json::Value =
            serde_json::from_slice(&o.stdout).context("reading the peer's JSON")?;
        // The same requests: the first `peer_decisions` of ours must allow as many.
        let (_, ours) = run_once(&pop, &policies, &ids, b.seed, b.peer_decisions, as_of);
        let theirs = peer["allowed"].as_u64().unwrap_or(u64::MAX);
        out["peer_agrees"] = json!(ours == theirs);
        out["our_allowed_on_peer_requests"] = json!(ours);
        if let Some(x) = peer["decisions_per_s"].as_f64() {
            out["ratio_vs_peer"] = json!((per_s / x.max(1e-9) * 10.0).round() / 10.0);
        }
        out["peer"] = peer;
    }
    if g.json {
        println!("{}", serde_json::to_string_pretty(&out)?);
    } else {
        println!(
            "{:.0} decisions/s on one core (median of {}), {} offers, {} subjects ({} listed); flight checks {:.0}/s",
            per_s,
            rates.len(),
            b.policies,
            b.subjects,
            listed,
            out["flight_decisions_per_s"].as_f64().unwrap_or(0.0)
        );
        if let Some(peer) = out.get("peer") {
            println!(
                "cedar-policy: {} decisions/s; ratio {}; same answers: {}",
                peer["decisions_per_s"], out["ratio_vs_peer"], out["peer_agrees"]
            );
        }
    }
    Ok(ExitCode::SUCCESS)
}

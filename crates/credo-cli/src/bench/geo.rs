//! `credo bench geo`: the debtor map's index.
//!
//! Points are listed debtors around the fifty cities of `credo-sim`, in proportion to
//! their population, each city a normal spread whose centre has `--density` points per
//! km² (100 by default: 1 % of a dense city's people), snapped to the grid. Queries come
//! from the same spread (users are where people live). Reported side by side in the same
//! run, on the same points and queries:
//! - credo's index on one core, and rstar's R*-tree (envelope query, then the same exact
//!   distance), interleaved round by round, with their result counts checked equal;
//! - with `--peer redis`, Redis `GEOSEARCH … BYRADIUS` on the same points: the result sets
//!   must be equal on `--redis-queries` queries, and throughput at equal client concurrency;
//! - geofence sessions: `--sessions` users each moving and stepping once a second.

use super::{Global, machine, median};
use anyhow::{Context, Result, bail};
use clap::Args;
use credo_geo::{Cell, Grid, Index, Sessions, lattice};
use credo_sim::cities::CITIES;
use credo_sim::normal;
use rand::{Rng, SeedableRng};
use rand_pcg::Pcg64Mcg;
use rstar::primitives::GeomWithData;
use rstar::{AABB, RTree};
use serde_json::json;
use std::collections::BTreeSet;
use std::process::ExitCode;
use std::time::Instant;

#[derive(Args)]
pub struct GeoBench {
    /// Listed points on the map.
    #[arg(long, default_value_t = 15_000_000)]
    points: usize,
    /// Query radius in metres.
    #[arg(long, default_value_t = 500.0)]
    radius: f64,
    /// Grid cell size in metres.
    #[arg(long, default_value_t = credo_geo::grid::DEFAULT_CELL_M)]
    cell: f64,
    /// Points per km² at a city's centre.
    #[arg(long, default_value_t = 100.0)]
    density: f64,
    /// Queries per timed round for credo's index (rstar gets a fifth of them).
    #[arg(long, default_value_t = 2_000_000)]
    queries: usize,
    #[arg(long, default_value_t = 5)]
    runs: usize,
    #[arg(long, default_value_t = 7)]
    seed: u64,
    /// Peers besides credo's index: rstar (in process) and redis (GEOSEARCH over TCP).
    #[arg(long, value_delimiter = ',', default_value = "rstar", value_parser = ["rstar", "redis", "none"])]
    peer: Vec<String>,
    /// The Redis server for `--peer redis` (its key `credo:bench:geo` is replaced).
    #[arg(long, default_value = "127.0.0.1:6379")]
    redis: String,
    /// Queries whose result sets are compared with Redis's.
    #[arg(long, default_value_t = 10_000)]
    redis_queries: usize,
    /// Client threads for the throughput comparison with Redis (and credo's threads).
    #[arg(long, default_value_t = 2)]
    concurrency: usize,
    /// Geofence sessions stepped once per simulated second (0: skip).
    #[arg(long, default_value_t = 100_000)]
    sessions: usize,
    /// Simulated seconds of session movement.
    #[arg(long, default_value_t = 10)]
    seconds: usize,
}

const REDIS_KEY: &str = "credo:bench:geo";

/// Draws positions from the population's spread: a city by weight, then a normal offset.
struct Spread {
    cumulative: Vec<f64>,
    sigma_km: Vec<f64>,
}

impl Spread {
    fn new(points: usize, density: f64) -> Spread {
        let total: f64 = CITIES.iter().map(|c| c.millions).sum();
        let mut acc = 0.0;
        let cumulative = CITIES
            .iter()
            .map(|c| {
                acc += c.millions / total;
                acc
            })
            .collect();
        // A 2-D normal with N points has density N / (2π σ²) at its centre.
        let sigma_km = CITIES
            .iter()
            .map(|c| {
                (points as f64 * c.millions / total / (std::f64::consts::TAU * density)).sqrt()
            })
            .collect();
        Spread {
            cumulative,
            sigma_km,
        }
    }

    fn sample(&self, r: &mut impl Rng) -> (f64, f64) {
        let x: f64 = r.random();
        let i = self
            .cumulative
            .partition_point(|&c| c < x)
            .min(CITIES.len() - 1);
        let c = &CITIES[i];
        let s = self.sigma_km[i] / 111.2;
        let lat = (c.lat + normal(r) * s).clamp(-80.0, 80.0);
        let lon = (c.lon + normal(r) * s / c.lat.to_radians().cos()).clamp(-179.0, 179.0);
        (lat, lon)
    }
}

type Pt = GeomWithData<[f64; 2], u32>;

fn rstar_count(tree: &RTree<Pt>, lat: f64, lon: f64, r: f64, mut f: impl FnMut(u32)) {
    let dlat = (r / lattice::EARTH_RADIUS_M).to_degrees() * 1.000_001;
    let dlon = dlat / (lat.abs() + dlat).to_radians().cos();
    let env = AABB::from_corners([lon - dlon, lat - dlat], [lon + dlon, lat + dlat]);
    for p in tree.locate_in_envelope(env) {
        let [plon, plat] = *p.geom();
        if lattice::distance_m(lat, lon, plat, plon) <= r {
            f(p.data);
        }
    }
}

/// The product's query (`Engine::nearby`'s): cell by cell, with each cell's distance.
fn ours_cells(ix: &Index, q: &[(f64, f64)], r: f64) -> u64 {
    let mut n = 0u64;
    let g = ix.grid();
    let mut d = 0.0;
    for &(lat, lon) in q {
        let _ = ix.within(lat, lon, r, |cell, ids| {
            d += g.distance_m(lat, lon, cell);
            n += ids.len() as u64;
        });
    }
    std::hint::black_box(d);
    n
}

fn ours(ix: &Index, q: &[(f64, f64)], r: f64) -> u64 {
    let mut n = 0u64;
    for &(lat, lon) in q {
        let _ = ix.within_runs(lat, lon, r, |_, ids| n += ids.len() as u64);
    }
    n
}

pub fn run(g: &Global, b: GeoBench) -> Result<ExitCode> {
    let say = super::progress(g);
    let grid = Grid::new(b.cell)?;
    let spread = Spread::new(b.points, b.density);
    let mut rng = Pcg64Mcg::seed_from_u64(b.seed);
    say(format!("generating {} points", b.points));
    let t = Instant::now();
    let points: Vec<(Cell, u32)> = (0..b.points as u32)
        .map(|id| {
            let (lat, lon) = spread.sample(&mut rng);
            grid.snap(lat, lon).map(|c| (c, id))
        })
        .collect::<Result<_, _>>()?;
    let gen_s = t.elapsed().as_secs_f64();
    let t = Instant::now();
    let ix = Index::build(grid.clone(), points.clone());
    let build_s = t.elapsed().as_secs_f64();
    say(format!("credo index built in {build_s:.2} s"));
    let queries: Vec<(f64, f64)> = (0..b.queries).map(|_| spread.sample(&mut rng)).collect();
    let with_rstar = b.peer.iter().any(|p| p == "rstar");
    let (tree, rstar_build_s) = if with_rstar {
        say("building the rstar tree (bulk load)".into());
        let t = Instant::now();
        let tree = RTree::bulk_load(
            points
                .iter()
                .map(|&(c, id)| {
                    let (lat, lon) = grid.centre(c);
                    GeomWithData::new([lon, lat], id)
                })
                .collect(),
        );
        (Some(tree), t.elapsed().as_secs_f64())
    } else {
        (None, 0.0)
    };
    // Same answers first: sets on a sample, counts on every rstar query.
    let rq = (b.queries / 5).max(1);
    let mut results = 0u64;
    if let Some(tree) = &tree {
        for &(lat, lon) in queries.iter().take(2000) {
            let mut a = BTreeSet::new();
            ix.within(lat, lon, b.radius, |_, ids| a.extend(ids.iter().copied()))?;
            let mut c = BTreeSet::new();
            rstar_count(tree, lat, lon, b.radius, |id| {
                c.insert(id);
            });
            if a != c {
                bail!(
                    "credo and rstar disagree at ({lat}, {lon}): {} vs {} points",
                    a.len(),
                    c.len()
                );
            }
        }
    }
    let mut ours_qps = Vec::new();
    let mut cells_qps = Vec::new();
    let mut rstar_qps = Vec::new();
    for run in 0..b.runs {
        let t = Instant::now();
        results = ours(&ix, &queries, b.radius);
        ours_qps.push(b.queries as f64 / t.elapsed().as_secs_f64());
        let t = Instant::now();
        let n = ours_cells(&ix, &queries[..rq], b.radius);
        cells_qps.push(rq as f64 / t.elapsed().as_secs_f64());
        if n != ours(&ix, &queries[..rq], b.radius) {
            bail!("credo's cells and runs disagree on the result count");
        }
        if let Some(tree) = &tree {
            let t = Instant::now();
            let mut n = 0u64;
            for &(lat, lon) in &queries[..rq] {
                rstar_count(tree, lat, lon, b.radius, |_| n += 1);
            }
            rstar_qps.push(rq as f64 / t.elapsed().as_secs_f64());
            let want = ours(&ix, &queries[..rq], b.radius);
            if n != want {
                bail!("credo and rstar disagree on the result count: {want} vs {n}");
            }
        }
        say(format!(
            "round {}: credo {:.0} q/s{}",
            run + 1,
            ours_qps[run],
            rstar_qps
                .get(run)
                .map(|r| format!(", rstar {r:.0} q/s"))
                .unwrap_or_default()
        ));
    }
    let mean_results = results as f64 / b.queries as f64;
    let q = median(&mut ours_qps.clone());
    let rs = median(&mut rstar_qps.clone());
    let mut out = json!({
        "points": b.points,
        "radius_m": b.radius,
        "cell_m": b.cell,
        "density_per_km2": b.density,
        "queries_per_run": b.queries,
        "mean_results": mean_results,
        "queries_per_s": q,
        "runs_queries_per_s": ours_qps,
        // Cell by cell with each cell's distance, as `credo nearby` and the API query.
        "cells_queries_per_s": median(&mut cells_qps.clone()),
        "runs_cells_queries_per_s": cells_qps,
        "build_s": build_s,
        "generate_s": gen_s,
        "index_bytes": ix.heap_bytes(),
        "tiles": ix.shape().0,
        "occupied_cells": ix.shape().1,
        "machine": machine(),
    });
    if tree.is_some() {
        out["rstar"] = json!({
            "queries_per_s": rs,
            "runs_queries_per_s": rstar_qps,
            "queries_per_run": rq,
            "build_s": rstar_build_s,
            "ratio": q / rs,
        });
    }
    drop(tree);
    if b.peer.iter().any(|p| p == "redis") {
        out["redis"] = redis_peer(&b, &grid, &points, &ix, &queries, &say)?;
    }
    if b.sessions > 0 {
        out["sessions"] = sessions(&b, &ix, &spread, &mut rng)?;
    }
    if g.json {
        println!("{}", serde_json::to_string_pretty(&out)?);
    } else {
        println!(
            "{} points, radius {} m, cell {} m: credo {:.0} queries/s on one core (median of {}), {:.1} results a query",
            b.points, b.radius, b.cell, q, b.runs, mean_results
        );
        println!(
            "cell by cell with distances (the API's query): {:.0} queries/s",
            median(&mut cells_qps.clone())
        );
        if rs > 0.0 {
            println!("rstar {:.0} queries/s: credo is {:.1}× rstar", rs, q / rs);
        }
        if let Some(r) = out.get("redis") {
            println!(
                "redis: {} of {} result sets equal; at concurrency {}: credo {:.0} q/s, redis {:.0} q/s ({:.0}×)",
                r["equal"],
                r["compared"],
                b.concurrency,
                r["credo_queries_per_s"].as_f64().unwrap_or(0.0),
                r["queries_per_s"].as_f64().unwrap_or(0.0),
                r["ratio"].as_f64().unwrap_or(0.0)
            );
        }
        if let Some(s) = out.get("sessions") {
            println!(
                "sessions: {} stepped once a simulated second: median {:.3} s of work per second ({:.1} % of one core), worst {:.3} s",
                s["sessions"],
                s["median_step_s"].as_f64().unwrap_or(0.0),
                100.0 * s["median_step_s"].as_f64().unwrap_or(0.0),
                s["worst_step_s"].as_f64().unwrap_or(0.0)
            );
        }
    }
    Ok(ExitCode::SUCCESS)
}

fn redis_peer(
    b: &GeoBench,
    grid: &Grid,
    points: &[(Cell, u32)],
    ix: &Index,
    queries: &[(f64, f64)],
    say: &impl Fn(String),
) -> Result<serde_json::Value> {
    let url = format!("redis://{}/", b.redis);
    let client = redis::Client::open(url.as_str()).context("redis address")?;
    let mut con = client.get_connection().with_context(|| {
        format!(
            "connecting to redis at {} (is redis-server running?)",
            b.redis
        )
    })?;
    redis::cmd("DEL").arg(REDIS_KEY).exec(&mut con)?;
    say(format!("loading {} points into redis", points.len()));
    let t = Instant::now();
    let bar = crate::cmd::bar(Some(points.len() as u64), "GEOADD");
    for chunk in points.chunks(100_000) {
        let mut pipe = redis::pipe();
        for part in chunk.chunks(10_000) {
            let c = pipe.cmd("GEOADD").arg(REDIS_KEY);
            for &(cell, id) in part {
                let (lat, lon) = grid.centre(cell);
                // Rust prints the shortest decimal that reads back as the same f64.
                c.arg(lon.to_string()).arg(lat.to_string()).arg(id);
            }
            c.ignore();
        }
        pipe.exec(&mut con)?;
        bar.inc(chunk.len() as u64);
    }
    bar.finish_and_clear();
    let load_s = t.elapsed().as_secs_f64();
    // Redis keeps the very same lattice points.
    let mut pos_cmd = redis::cmd("GEOPOS");
    pos_cmd.arg(REDIS_KEY);
    let sample: Vec<(Cell, u32)> = points
        .iter()
        .step_by((points.len() / 1000).max(1))
        .copied()
        .collect();
    for &(_, id) in &sample {
        pos_cmd.arg(id);
    }
    let pos: Vec<Option<(String, String)>> = pos_cmd.query(&mut con)?;
    for ((cell, id), p) in sample.iter().zip(pos) {
        let (lat, lon) = grid.centre(*cell);
        let Some((plon, plat)) = p else {
            bail!("redis lost point {id}");
        };
        if plon.parse::<f64>()? != lon || plat.parse::<f64>()? != lat {
            bail!("redis keeps point {id} at ({plat}, {plon}), credo at ({lat}, {lon})");
        }
    }
    let search = |con: &mut redis::Connection, lat: f64, lon: f64| -> Result<Vec<u32>> {
        let members: Vec<u32> = redis::cmd("GEOSEARCH")
            .arg(REDIS_KEY)
            .arg("FROMLONLAT")
            .arg(lon.to_string())
            .arg(lat.to_string())
            .arg("BYRADIUS")
            .arg(b.radius.to_string())
            .arg("m")
            .query(con)?;
        Ok(members)
    };
    say(format!(
        "comparing {} result sets with redis",
        b.redis_queries
    ));
    let n = b.redis_queries.min(queries.len());
    let mut equal = 0usize;
    let mut first_diff = None;
    let mut results = 0usize;
    for &(lat, lon) in &queries[..n] {
        let theirs: BTreeSet<u32> = search(&mut con, lat, lon)?.into_iter().collect();
        let mut mine = BTreeSet::new();
        ix.within(lat, lon, b.radius, |_, ids| {
            mine.extend(ids.iter().copied())
        })?;
        results += mine.len();
        if mine == theirs {
            equal += 1;
        } else if first_diff.is_none() {
            first_diff = Some(
                json!({"lat": lat, "lon": lon, "credo": mine.len(), "redis": theirs.len(),
                "only_credo": mine.difference(&theirs).take(5).collect::<Vec<_>>(),
                "only_redis": theirs.difference(&mine).take(5).collect::<Vec<_>>()}),
            );
        }
    }
    // Throughput at equal concurrency: C connections, each one query at a time, against
    // C threads querying credo's index.
    let c = b.concurrency.max(1);
    let per = n / c;
    let t = Instant::now();
    std::thread::scope(|s| -> Result<()> {
        let hs: Vec<_> = (0..c)
            .map(|k| {
                let client = client.clone();
                let qs = &queries[k * per..(k + 1) * per];
                s.spawn(move || -> Result<usize> {
                    let mut con = client.get_connection()?;
                    let mut n = 0;
                    for &(lat, lon) in qs {
                        n += search(&mut con, lat, lon)?.len();
                    }
                    Ok(n)
                })
            })
            .collect();
        for h in hs {
            h.join()
                .map_err(|_| anyhow::anyhow!("a redis client thread panicked"))??;
        }
        Ok(())
    })?;
    let redis_qps = (per * c) as f64 / t.elapsed().as_secs_f64();
    // credo with the same number of threads, over more queries for a readable time.
    let cq = (queries.len() / c).min(1_000_000);
    let t = Instant::now();
    std::thread::scope(|s| {
        for k in 0..c {
            let qs = &queries[k * cq..(k + 1) * cq];
            s.spawn(move || ours(ix, qs, b.radius));
        }
    });
    let credo_qps = (cq * c) as f64 / t.elapsed().as_secs_f64();
    let info: String = redis::cmd("INFO").arg("memory").query(&mut con)?;
    let used = info
        .lines()
        .find_map(|l| l.strip_prefix("used_memory:"))
        .and_then(|v| v.trim().parse::<u64>().ok());
    let version: String = redis::cmd("INFO").arg("server").query(&mut con)?;
    let version = version
        .lines()
        .find_map(|l| l.strip_prefix("redis_version:"))
        .unwrap_or("")
        .trim()
        .to_string();
    redis::cmd("DEL").arg(REDIS_KEY).exec(&mut con)?;
    if equal != n {
        bail!(
            "redis and credo disagree on {} of {n} queries; first: {}",
            n - equal,
            first_diff.unwrap_or_default()
        );
    }
    Ok(json!({
        "version": version,
        "compared": n,
        "equal": equal,
        "mean_results": results as f64 / n.max(1) as f64,
        "concurrency": c,
        "queries_per_s": redis_qps,
        "credo_queries_per_s": credo_qps,
        "ratio": credo_qps / redis_qps,
        "load_s": load_s,
        "used_memory_bytes": used,
    }))
}

/// `--sessions` users, each walking at about 1.4 m/s in its own direction, stepped once
/// per simulated second; the time each second's steps take must stay well under a second.
fn sessions(
    b: &GeoBench,
    ix: &Index,
    spread: &Spread,
    rng: &mut Pcg64Mcg,
) -> Result<serde_json::Value> {
    let mut hub = Sessions::new();
    let mut users: Vec<(u64, f64, f64, f64, f64)> = (0..b.sessions)
        .map(|_| {
            let (lat, lon) = spread.sample(rng);
            let dir: f64 = rng.random::<f64>() * std::f64::consts::TAU;
            let m = 1.4 / 111_200.0;
            Ok((
                hub.open(b.radius)?,
                lat,
                lon,
                dir.sin() * m,
                dir.cos() * m / lat.to_radians().cos(),
            ))
        })
        .collect::<Result<_, credo_geo::GeoError>>()?;
    let mut out = Vec::new();
    let mut step_s = Vec::new();
    let mut alerts = 0u64;
    for _ in 0..b.seconds.max(1) {
        let t = Instant::now();
        for u in &mut users {
            u.1 += u.3;
            u.2 += u.4;
            out.clear();
            hub.step(u.0, ix, u.1, u.2, &mut out)?;
            alerts += out.len() as u64;
        }
        step_s.push(t.elapsed().as_secs_f64());
    }
    let first = step_s.first().copied().unwrap_or(0.0);
    let worst = step_s.iter().skip(1).copied().fold(0.0, f64::max);
    Ok(json!({
        "sessions": b.sessions,
        "seconds": b.seconds,
        "first_step_s": first,
        "median_step_s": median(&mut step_s.clone()),
        "worst_step_s": worst,
        "alerts": alerts,
        "step_s": step_s,
    }))
}

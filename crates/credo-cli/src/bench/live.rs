//! `credo bench live`: many users of the debtor map at once, against a running server.
//!
//! Each session is a WebSocket to `/v1/map/live` that sends one position a second (a
//! walk at 1.4 m/s from a start drawn near listed debtors, so alerts happen) with a
//! sequence number, and waits for the server's `ack` of it. Connections come from several
//! loopback addresses (127.0.0.2, .3, …: one address has about 28 000 ephemeral ports).
//! Reported per second of the measured period: positions sent, acknowledged, and the
//! acknowledgement delay (p50, p99, max); "keeping up" means acknowledged ≈ sent, every
//! second, with the delay far under a second. CPU of this process and, with
//! `--server-pid`, of the server, from /proc.

use super::{Global, machine};
use anyhow::{Context, Result, bail};
use clap::Args;
use futures_util::{SinkExt, StreamExt};
use rand::{Rng, SeedableRng};
use rand_pcg::Pcg64Mcg;
use serde_json::{Value, json};
use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::process::ExitCode;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering::Relaxed};
use std::time::{Duration, Instant};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::tungstenite::protocol::WebSocketConfig;

#[derive(Args)]
pub struct LiveBench {
    /// The server's address (host:port of `credo serve`).
    #[arg(long, default_value = "127.0.0.1:8080")]
    addr: SocketAddr,
    #[arg(long, default_value_t = 100_000)]
    sessions: usize,
    /// Seconds measured once every session is connected.
    #[arg(long, default_value_t = 30)]
    seconds: u64,
    /// New connections per second while ramping up.
    #[arg(long, default_value_t = 5_000)]
    ramp: usize,
    #[arg(long, default_value_t = 500.0)]
    radius: f64,
    /// Sessions per loopback source address.
    #[arg(long, default_value_t = 20_000)]
    per_source: usize,
    /// The server's process id, to report its CPU.
    #[arg(long)]
    server_pid: Option<u32>,
    #[arg(long, default_value_t = 7)]
    seed: u64,
}

/// Acknowledgement delays in a log-scale histogram (1 µs … 100 s).
struct Stats {
    sent: AtomicU64,
    acked: AtomicU64,
    enters: AtomicU64,
    leaves: AtomicU64,
    errors: AtomicU64,
    connected: AtomicU64,
    lag: Vec<AtomicU64>,
}

const BUCKETS: usize = 160;

fn bucket(us: u64) -> usize {
    // 20 buckets per decade from 1 µs.
    let x = (us.max(1) as f64).log10() * 20.0;
    (x as usize).min(BUCKETS - 1)
}

fn bucket_us(b: usize) -> f64 {
    10f64.powf((b as f64 + 1.0) / 20.0)
}

impl Stats {
    fn new() -> Stats {
        Stats {
            sent: AtomicU64::new(0),
            acked: AtomicU64::new(0),
            enters: AtomicU64::new(0),
            leaves: AtomicU64::new(0),
            errors: AtomicU64::new(0),
            connected: AtomicU64::new(0),
            lag: (0..BUCKETS).map(|_| AtomicU64::new(0)).collect(),
        }
    }

    fn take_lag(&self) -> Vec<u64> {
        self.lag.iter().map(|b| b.swap(0, Relaxed)).collect()
    }
}

fn quantile(h: &[u64], q: f64) -> f64 {
    let total: u64 = h.iter().sum();
    if total == 0 {
        return 0.0;
    }
    let want = (total as f64 * q).ceil() as u64;
    let mut acc = 0;
    for (b, &n) in h.iter().enumerate() {
        acc += n;
        if acc >= want {
            return bucket_us(b);
        }
    }
    bucket_us(BUCKETS - 1)
}

fn cpu_seconds(pid: &str) -> Option<f64> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    let rest = stat.rsplit_once(')')?.1;
    let f: Vec<&str> = rest.split_whitespace().collect();
    let ticks: f64 = f.get(11)?.parse::<f64>().ok()? + f.get(12)?.parse::<f64>().ok()?;
    Some(ticks / 100.0)
}

/// A plain HTTP/1.0 GET of a JSON body (the bench's one request for starting points).
async fn get_json(addr: SocketAddr, path: &str) -> Result<Value> {
    let mut s = tokio::net::TcpStream::connect(addr).await?;
    s.write_all(format!("GET {path} HTTP/1.0\r\nHost: {addr}\r\n\r\n").as_bytes())
        .await?;
    let mut buf = Vec::new();
    s.read_to_end(&mut buf).await?;
    let text = String::from_utf8_lossy(&buf);
    let body = text.split_once("\r\n\r\n").map_or("", |p| p.1);
    serde_json::from_str(body)
        .with_context(|| format!("GET {path}: {}", &text[..text.len().min(200)]))
}

pub fn run(g: &Global, b: LiveBench) -> Result<ExitCode> {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()?;
    let out = rt.block_on(drive(g, &b))?;
    if g.json {
        println!("{}", serde_json::to_string_pretty(&out)?);
    } else {
        println!(
            "{} sessions, one position a second each, {} s measured: {:.0} positions/s sent, {:.0} acknowledged; delay p50 {:.1} ms, p99 {:.1} ms, max {:.0} ms; worst second acknowledged {:.1} % of sent",
            out["sessions"],
            b.seconds,
            out["sent_per_s"].as_f64().unwrap_or(0.0),
            out["acked_per_s"].as_f64().unwrap_or(0.0),
            out["lag_p50_ms"].as_f64().unwrap_or(0.0),
            out["lag_p99_ms"].as_f64().unwrap_or(0.0),
            out["lag_max_ms"].as_f64().unwrap_or(0.0),
            100.0 * out["worst_second_ratio"].as_f64().unwrap_or(0.0)
        );
        println!(
            "alerts: {} enter, {} leave; CPU: client {:.2} cores{}",
            out["enters"],
            out["leaves"],
            out["client_cores"].as_f64().unwrap_or(0.0),
            out["server_cores"]
                .as_f64()
                .map(|c| format!(", server {c:.2} cores"))
                .unwrap_or_default()
        );
    }
    Ok(ExitCode::SUCCESS)
}

async fn drive(g: &Global, b: &LiveBench) -> Result<Value> {
    // Starting points: the country's areas with listed debtors, by count.
    let view = get_json(b.addr, "/v1/map/view?south=18&west=73&north=54&east=135").await?;
    let areas: Vec<(f64, f64, f64)> = view["areas"]
        .as_array()
        .map(|a| {
            a.iter()
                .filter_map(|x| {
                    Some((x["lat"].as_f64()?, x["lon"].as_f64()?, x["count"].as_f64()?))
                })
                .collect()
        })
        .unwrap_or_default();
    if areas.is_empty() {
        bail!(
            "the map at {} has no listed debtors (run credo demo first)",
            b.addr
        );
    }
    let total: f64 = areas.iter().map(|a| a.2).sum();
    let stats = Arc::new(Stats::new());
    let mut rng = Pcg64Mcg::seed_from_u64(b.seed);
    let started = Instant::now();
    let pid = b.server_pid.map(|p| p.to_string());
    let mut tasks = Vec::with_capacity(b.sessions);
    let say = super::progress(g);
    say(format!("opening {} sessions at {}/s", b.sessions, b.ramp));
    for i in 0..b.sessions {
        let mut x = rng.random::<f64>() * total;
        let mut start = areas[0];
        for a in &areas {
            x -= a.2;
            start = *a;
            if x <= 0.0 {
                break;
            }
        }
        let lat = start.0 + (rng.random::<f64>() - 0.5) * 0.04;
        let lon = start.1 + (rng.random::<f64>() - 0.5) * 0.05;
        let dir = rng.random::<f64>() * std::f64::consts::TAU;
        let phase = Duration::from_micros(rng.random_range(0..1_000_000));
        let source = Ipv4Addr::new(127, 0, 0, 2 + (i / b.per_source.max(1)) as u8);
        let st = stats.clone();
        let addr = b.addr;
        let radius = b.radius;
        tasks.push(tokio::spawn(async move {
            if let Err(e) = user(addr, source, radius, (lat, lon, dir), phase, &st).await {
                st.errors.fetch_add(1, Relaxed);
                tracing::debug!(error = %e, "session ended");
            }
        }));
        if (i + 1) % (b.ramp / 10).max(1) == 0 {
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        if (i + 1) % 10_000 == 0 {
            say(format!(
                "  {} opened, {} connected, {} failed",
                i + 1,
                stats.connected.load(Relaxed),
                stats.errors.load(Relaxed)
            ));
        }
    }
    // Wait until every session is connected (or failed) and has sent a few positions.
    let deadline = Instant::now() + Duration::from_secs(60);
    while (stats.connected.load(Relaxed) + stats.errors.load(Relaxed)) < b.sessions as u64
        && Instant::now() < deadline
    {
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    tokio::time::sleep(Duration::from_secs(5)).await;
    let connected = stats.connected.load(Relaxed);
    say(format!(
        "{connected} connected after {:.0} s; measuring {} s",
        started.elapsed().as_secs_f64(),
        b.seconds
    ));
    let _ = stats.take_lag();
    let (s0, a0) = (stats.sent.load(Relaxed), stats.acked.load(Relaxed));
    let (c0, sc0) = (cpu_seconds("self"), pid.as_deref().and_then(cpu_seconds));
    let t0 = Instant::now();
    let mut all_lag = vec![0u64; BUCKETS];
    let mut worst: f64 = 1.0;
    let mut per_second = Vec::new();
    let (mut ps, mut pa) = (s0, a0);
    for sec in 0..b.seconds {
        tokio::time::sleep_until(tokio::time::Instant::from_std(
            t0 + Duration::from_secs(sec + 1),
        ))
        .await;
        let (s, a) = (stats.sent.load(Relaxed), stats.acked.load(Relaxed));
        let lag = stats.take_lag();
        let ratio = (a - pa) as f64 / ((s - ps).max(1)) as f64;
        worst = worst.min(ratio);
        per_second.push(
            json!({"sent": s - ps, "acked": a - pa, "p99_ms": quantile(&lag, 0.99) / 1000.0}),
        );
        say(format!(
            "  second {}: sent {}, acked {}, p50 {:.1} ms, p99 {:.1} ms",
            sec + 1,
            s - ps,
            a - pa,
            quantile(&lag, 0.5) / 1000.0,
            quantile(&lag, 0.99) / 1000.0
        ));
        for (x, y) in all_lag.iter_mut().zip(&lag) {
            *x += y;
        }
        (ps, pa) = (s, a);
    }
    let dt = t0.elapsed().as_secs_f64();
    let (s1, a1) = (stats.sent.load(Relaxed), stats.acked.load(Relaxed));
    let client_cores = match (c0, cpu_seconds("self")) {
        (Some(a), Some(b)) => (b - a) / dt,
        _ => f64::NAN,
    };
    let server_cores = match (sc0, pid.as_deref().and_then(cpu_seconds)) {
        (Some(a), Some(b)) => Some((b - a) / dt),
        _ => None,
    };
    for t in &tasks {
        t.abort();
    }
    let max_b = all_lag.iter().rposition(|&n| n > 0).unwrap_or(0);
    Ok(json!({
        "sessions": b.sessions,
        "connected": connected,
        "failed": stats.errors.load(Relaxed),
        "seconds": dt,
        "sent_per_s": (s1 - s0) as f64 / dt,
        "acked_per_s": (a1 - a0) as f64 / dt,
        "worst_second_ratio": worst,
        "lag_p50_ms": quantile(&all_lag, 0.5) / 1000.0,
        "lag_p99_ms": quantile(&all_lag, 0.99) / 1000.0,
        "lag_max_ms": bucket_us(max_b) / 1000.0,
        "enters": stats.enters.load(Relaxed),
        "leaves": stats.leaves.load(Relaxed),
        "client_cores": client_cores,
        "server_cores": server_cores,
        "per_second": per_second,
        "machine": machine(),
    }))
}

async fn user(
    addr: SocketAddr,
    source: Ipv4Addr,
    radius: f64,
    (mut lat, mut lon, dir): (f64, f64, f64),
    phase: Duration,
    stats: &Stats,
) -> Result<()> {
    let sock = tokio::net::TcpSocket::new_v4()?;
    sock.bind(SocketAddr::new(IpAddr::V4(source), 0))?;
    let tcp = sock.connect(addr).await?;
    tcp.set_nodelay(true)?;
    let config = WebSocketConfig::default()
        .read_buffer_size(4096)
        .write_buffer_size(0);
    let url = format!("ws://{addr}/v1/map/live?radius={radius}");
    let (mut ws, _) = tokio_tungstenite::client_async_with_config(url, tcp, Some(config)).await?;
    stats.connected.fetch_add(1, Relaxed);
    let (dlat, dlon) = (
        dir.sin() * 1.4 / 111_200.0,
        dir.cos() * 1.4 / 111_200.0 / lat.to_radians().cos(),
    );
    let mut next = tokio::time::Instant::now() + phase;
    let mut seq = 0u64;
    let mut sent_at = Instant::now();
    let mut waiting = false;
    loop {
        tokio::select! {
            _ = tokio::time::sleep_until(next) => {
                next += Duration::from_secs(1);
                if waiting {
                    // The previous position is not acknowledged yet: this one is late too.
                    continue;
                }
                lat += dlat;
                lon += dlon;
                seq += 1;
                let m = json!({"lat": lat, "lon": lon, "seq": seq}).to_string();
                sent_at = Instant::now();
                ws.send(Message::text(m)).await?;
                stats.sent.fetch_add(1, Relaxed);
                waiting = true;
            }
            m = ws.next() => {
                let Some(m) = m else { bail!("closed") };
                let m = m?;
                let Ok(text) = m.to_text() else { continue };
                let v: Value = serde_json::from_str(text)?;
                match v["type"].as_str() {
                    Some("ack") if v["seq"].as_u64() == Some(seq) => {
                        let us = sent_at.elapsed().as_micros() as u64;
                        stats.lag[bucket(us)].fetch_add(1, Relaxed);
                        stats.acked.fetch_add(1, Relaxed);
                        waiting = false;
                    }
                    Some("enter") => { stats.enters.fetch_add(1, Relaxed); }
                    Some("leave") => { stats.leaves.fetch_add(1, Relaxed); }
                    Some("error") => bail!("server error: {text}"),
                    _ => {}
                }
            }
        }
    }
}

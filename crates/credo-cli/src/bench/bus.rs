//! `credo bench bus`: the cluster's transport (issue 9) on a running NATS server or
//! cluster. A generated population's events are routed (each line checked by the
//! engine's parser), published to one subject per partition and acknowledged by the
//! stream, then pulled back partition by partition by durable consumers and
//! acknowledged. Reports events/s each way. The stream and bucket are the run's own,
//! deleted afterwards. `bench/bus.sh` starts one server or a cluster of three.

use super::Global;
use anyhow::{Context, Result};
use clap::Args;
use credo_bus::{Bus, BusConfig};
use credo_cluster::Partitioning;
use futures::StreamExt;
use serde_json::json;
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::{Duration, Instant};

#[derive(Args)]
pub struct BusBench {
    /// NATS server URLs with JetStream, comma-separated.
    #[arg(long)]
    nats: String,
    /// Copies of each message: 1 for one server, 3 for a three-server cluster.
    #[arg(long, default_value_t = 1)]
    replicas: usize,
    #[arg(long, default_value_t = 64)]
    partitions: u32,
    /// A population folder written by `credo generate`: its `events.jsonl` is sent.
    #[arg(long)]
    input: PathBuf,
    /// Send only the first this many bytes of it (cut at a line).
    #[arg(long)]
    max_bytes: Option<usize>,
    /// Bytes of input per publish call (routed, published and acknowledged as a whole).
    #[arg(long, default_value_t = 4 << 20)]
    piece: usize,
    /// Publish calls in flight at once.
    #[arg(long, default_value_t = 4)]
    inflight: usize,
}

pub fn run(g: &Global, b: BusBench) -> Result<ExitCode> {
    let path = b.input.join("events.jsonl");
    let mut text = std::fs::read(&path).with_context(|| format!("reading {}", path.display()))?;
    if let Some(max) = b.max_bytes
        && max < text.len()
    {
        let end = text[..max]
            .iter()
            .rposition(|&x| x == b'\n')
            .map_or(0, |i| i + 1);
        text.truncate(end);
    }
    let lines = text.iter().filter(|&&x| x == b'\n').count() as u64;
    let partitioning = Partitioning::new(b.partitions)?;
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()?;
    let out = rt.block_on(async {
        let tag = std::process::id();
        let mut config = BusConfig::new(b.nats.clone(), b.replicas);
        config.stream = format!("BENCH_{tag}");
        config.prefix = format!("bench{tag}.ev");
        config.bucket = format!("bench-{tag}");
        let bus = Bus::connect_within(config, partitioning, Duration::from_secs(30)).await?;

        let t = Instant::now();
        let pieces = credo_bus::cut(&text, b.piece);
        let mut published = futures::stream::iter(pieces.iter().map(|p| bus.publish(p)))
            .buffer_unordered(b.inflight.max(1));
        let (mut sent, mut messages) = (0u64, 0u64);
        while let Some(r) = published.next().await {
            let r = r?;
            anyhow::ensure!(r.refused.is_empty(), "refused lines: {:?}", &r.refused[..1]);
            sent += r.lines;
            messages += r.messages;
        }
        drop(published);
        let publish_s = t.elapsed().as_secs_f64();

        // What each partition must deliver (counted outside the timing), so that a
        // consumer stops when it has it instead of waiting out an empty fetch.
        let want: Vec<u64> = {
            let routed = credo_bus::route(partitioning, &text);
            (0..partitioning.count())
                .map(|p| {
                    routed
                        .parts
                        .get(&p)
                        .map_or(0, |l| l.iter().filter(|&&x| x == b'\n').count() as u64)
                })
                .collect()
        };
        let t = Instant::now();
        let bus_ref = &bus;
        let per_partition = futures::stream::iter((0..partitioning.count()).map(|p| {
            let want = want[p as usize];
            async move {
                let feed = bus_ref.feed(p).await?;
                let mut got = 0u64;
                let mut failures = 0;
                while got < want {
                    // A consumer just created in a cluster answers once its replicas have
                    // a leader: retry for a while, as a node does.
                    let batch = match feed.next(256, Duration::from_secs(5)).await {
                        Ok(b) => b,
                        Err(e) if failures < 100 => {
                            failures += 1;
                            tracing::debug!(partition = p, error = %e, "fetch retried");
                            tokio::time::sleep(Duration::from_millis(100)).await;
                            continue;
                        }
                        Err(e) => return Err(e.into()),
                    };
                    if batch.is_empty() {
                        // A pull now and then comes back empty with messages pending:
                        // only the consumer's own count says nothing more will come.
                        let pending = feed.pending().await?;
                        anyhow::ensure!(
                            pending > 0,
                            "partition {p}: {got} of {want} lines, and nothing pending"
                        );
                        tracing::warn!(partition = p, pending, "an empty pull; pulling again");
                        continue;
                    }
                    for d in &batch {
                        got += d.lines().iter().filter(|&&x| x == b'\n').count() as u64;
                    }
                    // Each acknowledgement confirmed by the server, as a node does after
                    // applying a message.
                    futures::future::try_join_all(batch.iter().map(|d| d.ack())).await?;
                }
                Ok::<u64, anyhow::Error>(got)
            }
        }))
        .buffer_unordered(8)
        .collect::<Vec<_>>()
        .await;
        let mut received = 0u64;
        for r in per_partition {
            received += r?;
        }
        let consume_s = t.elapsed().as_secs_f64();
        bus.destroy().await?;
        anyhow::ensure!(
            sent == lines && received == lines,
            "sent {sent}, received {received}, of {lines} lines"
        );
        Ok::<_, anyhow::Error>(json!({
            "benchmark": "bus",
            "events": lines,
            "bytes": text.len(),
            "partitions": b.partitions,
            "replicas": b.replicas,
            "messages": messages,
            "publish_s": (publish_s * 1000.0).round() / 1000.0,
            "publish_events_per_s": (lines as f64 / publish_s).round(),
            "publish_mb_per_s": (text.len() as f64 / publish_s / 1e5).round() / 10.0,
            "consume_s": (consume_s * 1000.0).round() / 1000.0,
            "consume_events_per_s": (lines as f64 / consume_s).round(),
            "machine": super::machine(),
        }))
    })?;
    if g.json {
        println!("{out}");
    } else {
        println!(
            "bus: {} events ({} MB) in {} messages over {} partitions, {} replica(s)\n  publish (route, send, acknowledged): {:.2} s = {:.0} events/s\n  consume (pull, acknowledged):        {:.2} s = {:.0} events/s",
            out["events"],
            text.len() / 1_000_000,
            out["messages"],
            b.partitions,
            b.replicas,
            out["publish_s"].as_f64().unwrap_or(0.0),
            out["publish_events_per_s"].as_f64().unwrap_or(0.0),
            out["consume_s"].as_f64().unwrap_or(0.0),
            out["consume_events_per_s"].as_f64().unwrap_or(0.0),
        );
    }
    Ok(ExitCode::SUCCESS)
}

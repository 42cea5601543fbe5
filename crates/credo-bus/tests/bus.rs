#![allow(clippy::unwrap_used, clippy::expect_used)]
//! The bus against real NATS servers: every routed line reaches its partition's consumer
//! exactly once, a resent input is dropped as duplicates, a server killed during
//! publishing loses nothing acknowledged, the assignment is compare-and-set, and an
//! access operation published with a time to live leaves the stream when it is up.

mod common;

use credo_bus::{Bus, BusConfig, BusError};
use credo_cluster::{Assignment, Partitioning};
use std::collections::BTreeMap;
use std::time::{Duration, Instant};

const PARTITIONS: u32 = 16;

async fn connect(urls: String, replicas: usize) -> Bus {
    // A new cluster elects its JetStream leader in a few seconds.
    Bus::connect_within(
        BusConfig::new(urls, replicas),
        Partitioning::new(PARTITIONS).unwrap(),
        Duration::from_secs(30),
    )
    .await
    .unwrap()
}

/// Retries `f` for up to 30 s: right after a server dies, requests can time out until
/// the stream's replicas elect a new leader. A node's loop does the same.
async fn retry<T, F: std::future::Future<Output = Result<T, BusError>>>(
    what: &str,
    mut f: impl FnMut() -> F,
) -> T {
    let t = Instant::now();
    loop {
        match f().await {
            Ok(v) => return v,
            Err(e) if t.elapsed() < Duration::from_secs(30) => {
                eprintln!("retrying {what}: {e}");
                tokio::time::sleep(Duration::from_millis(300)).await;
            }
            Err(e) => panic!("{what}: {e}"),
        }
    }
}

/// Every message of every partition, acknowledged, as (partition, line) counts.
async fn drain(bus: &Bus) -> BTreeMap<(u32, Vec<u8>), u32> {
    let mut got = BTreeMap::new();
    for p in 0..PARTITIONS {
        let feed = retry("consumer", || bus.feed(p)).await;
        loop {
            let batch = retry("fetch", || feed.next(64, Duration::from_millis(300))).await;
            // An empty pull is not the end (a pull now and then comes back empty with
            // messages pending): the consumer's own count says when it is.
            if batch.is_empty() {
                if retry("pending", || feed.pending()).await == 0 {
                    break;
                }
                continue;
            }
            for d in batch {
                // Counted once acknowledged: a message whose ack failed comes again, and
                // must then be counted once, as the engine would apply it once.
                retry("ack", || d.ack()).await;
                for line in d.lines().split(|&b| b == b'\n').filter(|l| !l.is_empty()) {
                    *got.entry((p, line.to_vec())).or_insert(0) += 1;
                }
            }
        }
    }
    got
}

/// Contacts whose two ends are in different partitions (counted by reading the JSON, not
/// by the router).
fn crossing(input: &[u8]) -> u64 {
    let partitioning = Partitioning::new(PARTITIONS).unwrap();
    input
        .split(|&b| b == b'\n')
        .filter_map(|l| serde_json::from_slice::<serde_json::Value>(l).ok())
        .filter(|v| v["kind"] == "contact")
        .filter(|v| {
            let p = |k: &str| partitioning.of(v[k].as_str().unwrap().parse().unwrap());
            p("subject") != p("other")
        })
        .count() as u64
}

/// What `drain` must find: each line once, under its subject's partition (a contact also
/// under its `other`'s).
fn expected(input: &[u8]) -> BTreeMap<(u32, Vec<u8>), u32> {
    let routed = credo_bus::route(Partitioning::new(PARTITIONS).unwrap(), input);
    let mut want = BTreeMap::new();
    for (p, lines) in routed.parts {
        for line in lines.split(|&b| b == b'\n').filter(|l| !l.is_empty()) {
            *want.entry((p, line.to_vec())).or_insert(0) += 1;
        }
    }
    want
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_line_reaches_its_partition_once_and_a_resend_is_dropped() {
    let nats = common::Cluster::start(1);
    let bus = connect(nats.urls(), 1).await;
    let mut input = common::population(300, 5);
    let lines = input.iter().filter(|&&b| b == b'\n').count() as u64;
    // Two bad lines among the good: refused with the engine's codes, not published.
    input.extend_from_slice(b"{\"id\":\"x\"\n");
    input.extend_from_slice(
        br#"{"id":"y","subject":"110105198001010011","at":"2025-01-01","kind":"payment","amount":1}"#,
    );
    input.push(b'\n');
    let first = bus.publish(&input).await.unwrap();
    assert_eq!(first.lines, lines);
    let codes: Vec<(u64, &str)> = first.refused.iter().map(|r| (r.line, r.code)).collect();
    assert_eq!(codes, vec![(lines + 1, "bad_json"), (lines + 2, "bad_id")]);
    assert!(first.messages >= u64::from(PARTITIONS), "{first:?}");
    assert_eq!(first.duplicate_messages, 0);

    // The same input again: every message is a duplicate in the stream's window.
    let again = bus.publish(&input).await.unwrap();
    assert_eq!(again.duplicate_messages, again.messages);
    assert_eq!(bus.stream_state().await.unwrap().0, first.messages);

    let want = expected(&input);
    // Each line once, and a contact between two partitions once more, in its `other`'s.
    let crossing = crossing(&input);
    assert!(crossing > 100, "{crossing}");
    assert_eq!(want.values().sum::<u32>() as u64, lines + crossing);
    assert_eq!(drain(&bus).await, want);
    // Acknowledged: a second pass finds nothing.
    assert!(drain(&bus).await.is_empty());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_server_killed_while_publishing_loses_nothing_acknowledged() {
    let mut nats = common::Cluster::start(3);
    let bus = connect(nats.urls(), 3).await;
    let input = common::population(400, 9);
    let pieces: Vec<&[u8]> = credo_bus::cut(&input, 16 << 10);
    let (mut retries, mut acked) = (0u32, 0u64);
    for (i, piece) in pieces.iter().enumerate() {
        if i == pieces.len() / 3 {
            nats.servers[1].kill();
        }
        // A publish cut by the kill (or by the election after it) is sent again, as a
        // furnisher would: the same messages, so the same ids.
        let t = Instant::now();
        let done = loop {
            match bus.publish(piece).await {
                Ok(p) => break p,
                Err(e) => {
                    assert!(t.elapsed() < Duration::from_secs(60), "gave up: {e}");
                    retries += 1;
                    tokio::time::sleep(Duration::from_millis(200)).await;
                }
            }
        };
        assert!(done.refused.is_empty());
        acked += done.lines;
    }
    // The killed server comes back; then another dies. Every acknowledged message was
    // on at least two servers, so the remaining two still hold all of them.
    nats.servers[1].start();
    tokio::time::sleep(Duration::from_secs(3)).await;
    nats.servers[2].kill();
    let bus = connect(
        format!("{},{}", nats.servers[0].url(), nats.servers[1].url()),
        3,
    )
    .await;
    let got = drain(&bus).await;
    let want = expected(&input);
    assert_eq!(want.values().sum::<u32>() as u64, acked + crossing(&input));
    assert_eq!(got, want, "retries: {retries}");
    eprintln!("{acked} lines acknowledged across a server kill, {retries} publishes retried");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_assignment_is_compare_and_set() {
    let nats = common::Cluster::start(1);
    let bus = connect(nats.urls(), 1).await;
    let p = Partitioning::new(PARTITIONS).unwrap();
    assert!(bus.assignment().await.unwrap().is_none());
    let a1 = Assignment::compute(p, &["n1", "n2", "n3"]).unwrap();
    let r1 = bus.put_assignment(&a1, None).await.unwrap();
    // A second "first" assignment loses.
    assert!(matches!(
        bus.put_assignment(&a1, None).await,
        Err(BusError::Conflict { .. })
    ));
    let a2 = Assignment::compute(p, &["n1", "n3"]).unwrap();
    let r2 = bus.put_assignment(&a2, Some(r1)).await.unwrap();
    assert!(r2 > r1);
    // A node that decided from the old revision loses, and reads the new one.
    let a3 = Assignment::compute(p, &["n1", "n2"]).unwrap();
    let lost = bus.put_assignment(&a3, Some(r1)).await.unwrap_err();
    assert_eq!(lost.code(), "assignment_conflict");
    assert_eq!(bus.assignment().await.unwrap(), Some((a2, r2)));
    // Any value the same way (propagation requests): the first writer from a revision wins.
    let v = |s: &'static str| bytes::Bytes::from_static(s.as_bytes());
    let v1 = bus.put_value_if("propagate", v("1"), None).await.unwrap();
    assert!(matches!(
        bus.put_value_if("propagate", v("2"), None).await,
        Err(BusError::Conflict { .. })
    ));
    assert_eq!(
        bus.value_entry("propagate").await.unwrap(),
        Some((v("1"), v1))
    );
    let v2 = bus
        .put_value_if("propagate", v("2"), Some(v1))
        .await
        .unwrap();
    assert!(
        bus.put_value_if("propagate", v("3"), Some(v1))
            .await
            .is_err()
    );
    assert_eq!(
        bus.value_entry("propagate").await.unwrap(),
        Some((v("2"), v2))
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_access_operation_with_a_time_to_live_leaves_the_stream_the_others_stay() {
    let nats = common::Cluster::start(1);
    let bus = connect(nats.urls(), 1).await;
    let b = |s: &'static str| bytes::Bytes::from_static(s.as_bytes());
    let seqs = bus
        .publish_access(
            3,
            &[
                (b("grant"), None),
                (b("read"), Some(Duration::from_secs(1))),
                (b("revoke"), None),
            ],
        )
        .await
        .unwrap();
    assert_eq!(seqs.len(), 3);
    assert!(seqs.windows(2).all(|w| w[0] < w[1]), "{seqs:?}");
    assert_eq!(bus.access_last_sequence(3).await.unwrap(), seqs[2]);
    assert_eq!(bus.access_last_sequence(4).await.unwrap(), 0);
    let read_all = || async {
        let mut r = bus.access_reader(3, 1).await.unwrap();
        let mut got = Vec::new();
        loop {
            let batch = r.next(16, Duration::from_millis(500)).await.unwrap();
            if batch.is_empty() {
                return got;
            }
            got.extend(batch.into_iter().map(|m| (m.sequence, m.lines)));
        }
    };
    assert_eq!(read_all().await.len(), 3);
    let t = Instant::now();
    loop {
        let got = read_all().await;
        if got.len() == 2 {
            assert_eq!(got, vec![(seqs[0], b("grant")), (seqs[2], b("revoke"))]);
            break;
        }
        assert!(
            t.elapsed() < Duration::from_secs(30),
            "the read is still there: {got:?}"
        );
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
}

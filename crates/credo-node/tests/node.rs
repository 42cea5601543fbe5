#![allow(clippy::unwrap_used, clippy::expect_used)]
//! Nodes against real NATS servers, checked against one machine: the same population
//! published to the stream and applied by three nodes gives every subject the same score
//! card and history as one engine that ingested it directly; a node that crashes has its
//! partitions taken over from their snapshots in the object store, and when it comes back
//! it catches up from its folders. Every
//! node's public replica answers the list, the map and call screening as one machine.

#[path = "../../credo-engine/tests/common/public.rs"]
mod answers;
#[path = "../../credo-bus/tests/common/mod.rs"]
mod common;

use credo_bus::{Bus, BusConfig};
use credo_cluster::Partitioning;
use credo_engine::{Clock, Engine, EngineError, IngestOptions};
use credo_node::{Node, NodeConfig, NodeError};
use credo_score::Model;
use std::sync::Arc;
use std::time::{Duration, Instant};

const PARTITIONS: u32 = 16;

fn model() -> Model {
    Model::default_model()
}

fn as_of() -> credo_model::Day {
    credo_sim::Config::default().end
}

async fn connect(urls: &str, replicas: usize) -> Arc<Bus> {
    Arc::new(
        Bus::connect_within(
            BusConfig::new(urls.to_string(), replicas),
            Partitioning::new(PARTITIONS).unwrap(),
            Duration::from_secs(30),
        )
        .await
        .unwrap(),
    )
}

/// Starts node `name` with its folder under `dir`. A node stopped a moment ago in this
/// process (`Node::stop` aborts its tasks) may still hold its folders' locks until the
/// runtime has dropped those tasks: that start is retried, as a restarted process would
/// find the locks released by the old one's exit.
async fn node(bus: &Arc<Bus>, name: &str, dir: &std::path::Path) -> Node {
    let t = Instant::now();
    loop {
        let started = Node::start(
            bus.clone(),
            NodeConfig {
                name: name.into(),
                dir: dir.join(name),
                model: model(),
                as_of: Some(as_of()),
                flow: None,
                server: credo_server::Config::default(),
                snapshot_every: Some(Duration::from_millis(500)),
                propagate_every: None,
            },
        )
        .await;
        match started {
            Ok(n) => return n,
            Err(NodeError::Engine(EngineError::Locked { path }))
                if t.elapsed() < Duration::from_secs(30) =>
            {
                eprintln!("{name}: {path} still locked by the stopped node; retrying");
                tokio::time::sleep(Duration::from_millis(100)).await;
            }
            Err(e) => panic!("{name}: {e}"),
        }
    }
}

/// Publishes `input`, retrying while a server is down (the stream drops what it already
/// has by message id).
async fn publish(bus: &Bus, input: &[u8]) {
    let t = Instant::now();
    loop {
        match bus.publish(input).await {
            Ok(p) => {
                assert!(p.refused.is_empty(), "{:?}", p.refused);
                return;
            }
            Err(e) if t.elapsed() < Duration::from_secs(60) => {
                eprintln!("publish retried: {e}");
                tokio::time::sleep(Duration::from_millis(300)).await;
            }
            Err(e) => panic!("publish: {e}"),
        }
    }
}

async fn wait_caught_up(nodes: &[&Node]) {
    let t = Instant::now();
    loop {
        let mut all = true;
        for n in nodes {
            match n.caught_up().await {
                Ok(true) => {}
                Ok(false) => all = false,
                // A server just killed: requests time out until the stream has a leader.
                Err(e) if t.elapsed() < Duration::from_secs(120) => {
                    eprintln!("{}: {e}", n.name());
                    all = false;
                }
                Err(e) => panic!("{}: {e}", n.name()),
            }
        }
        if all {
            return;
        }
        assert!(
            t.elapsed() < Duration::from_secs(120),
            "the nodes did not catch up in 120 s"
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

/// One engine that ingested `input` directly: the reference.
fn one_machine(input: &[u8], dir: &std::path::Path) -> Engine {
    let (mut e, _) = Engine::open(dir, model(), Some(Clock::Fixed(as_of()))).unwrap();
    let r = e
        .ingest("all", input, &IngestOptions::default(), &mut |_| {})
        .unwrap();
    assert_eq!(r.rejected, 0, "{:?}", r.errors.first());
    e
}

/// The cross-node job and a single machine's stop within the tolerance's bound of the
/// same fixed point: a term may differ by that much, and nothing else may.
const TERM_BOUND: f64 = 1e-8;

fn same_card(
    id: credo_model::SubjectId,
    mut got: credo_score::ScoreCard,
    want: &credo_score::ScoreCard,
) {
    for f in &mut got.features {
        if f.name == "contacts_standing" {
            let w = want.features.iter().find(|w| w.name == f.name).unwrap();
            match (f.value, w.value) {
                (Some(a), Some(b)) => assert!((a - b).abs() <= TERM_BOUND, "{id}: term {a} vs {b}"),
                (a, b) => assert_eq!(a, b, "{id}: term"),
            }
            f.value = w.value;
        }
    }
    for r in &mut got.reasons {
        if let Some(w) = want.reasons.iter().find(|w| w.feature == r.feature)
            && r.feature == "contacts_standing"
        {
            r.value = w.value;
        }
    }
    assert_eq!(&got, want, "{id}: score card");
}

/// Every subject's score card and history from its owner equals the reference's, after
/// a cross-node propagation; every partition holds exactly the lines routed to it (each
/// once).
async fn assert_same(bus: &Bus, nodes: &[&Node], reference: &Engine, input: &[u8]) {
    let run = credo_node::propagate_threads(nodes, &model())
        .await
        .unwrap()
        .unwrap();
    assert!(run.converged, "{run:?}");

    assert_eq!(run.subjects, reference.subject_count());
    let (a, _) = bus.assignment().await.unwrap().unwrap();
    let partitioning = a.partitioning();
    let routed = credo_bus::route(partitioning, input);
    for p in 0..PARTITIONS {
        let owner = a.owner(p).unwrap();
        let node = nodes.iter().find(|n| n.name() == owner).unwrap();
        let part = node.part(p).unwrap();
        let engine = part.engine().read().unwrap();
        let lines = routed
            .parts
            .get(&p)
            .map_or(0, |l| l.iter().filter(|&&b| b == b'\n').count() as u64);
        assert_eq!(engine.event_count(), lines, "partition {p}: events held");
    }
    let mut compared = 0;
    for i in 0..reference.subject_count() {
        let id = reference.subject_at(i).unwrap();
        let p = partitioning.of(id);
        let owner = a.owner(p).unwrap();
        let node = nodes.iter().find(|n| n.name() == owner).unwrap();
        let part = node.part(p).unwrap();
        let got = part.engine().read().unwrap().score(id, None).unwrap();
        let want = reference.score(id, None).unwrap();
        same_card(id, got.card, &want.card);
        assert_eq!(got.history, want.history, "{id}: history");
        compared += 1;
    }
    assert!(compared > 100, "only {compared} subjects compared");
    // The term is there: some subjects lose points through their contacts.
    let costing = (0..reference.subject_count())
        .filter_map(|i| reference.score(reference.subject_at(i).unwrap(), None).ok())
        .filter(|v| {
            v.card
                .features
                .iter()
                .any(|f| f.name == "contacts_standing" && f.value.is_some() && f.points < 30.0)
        })
        .count();
    assert!(
        costing > 0,
        "no one's contacts cost anything: the term is not compared"
    );
    // Every node's public replica answers the list, the map and call screening as one
    // machine does.
    for n in nodes {
        let replica = n.public().state.engine.read().unwrap();
        let listed = answers::same_answers(reference, &replica);
        assert!(
            listed > 0,
            "{}: no one on the map; nothing compared",
            n.name()
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn three_nodes_score_as_one_machine() {
    let servers = common::Cluster::start(1);
    let dir = tempfile::tempdir().unwrap();
    let input = common::population(400, 11);
    let reference = one_machine(&input, &dir.path().join("one"));
    let bus = connect(&servers.urls(), 1).await;
    let (a, b, c) = (
        node(&bus, "a", dir.path()).await,
        node(&bus, "b", dir.path()).await,
        node(&bus, "c", dir.path()).await,
    );
    publish(&bus, &input).await;
    wait_caught_up(&[&a, &b, &c]).await;
    assert_same(&bus, &[&a, &b, &c], &reference, &input).await;
    // Sent again: nothing changes.
    publish(&bus, &input).await;
    wait_caught_up(&[&a, &b, &c]).await;
    assert_same(&bus, &[&a, &b, &c], &reference, &input).await;
    a_live_session_on_a_node_hears_a_lifted_listing(&bus, &b).await;
    for n in [a, b, c] {
        n.stop();
    }
}

/// A live map session on node `n` (its public replica) hears `enter` at a listed
/// debtor's address, then `leave` once the debt is paid in full on its owner, wherever
/// that is (published to the stream, applied by the owner, its public state replicated).
async fn a_live_session_on_a_node_hears_a_lifted_listing(bus: &Bus, n: &Node) {
    use futures_util::{SinkExt, StreamExt};
    use tokio_tungstenite::tungstenite::Message;
    // A debtor with one published case: paying it lifts the listing.
    let (id, (lat, lon), case, unpaid) = {
        let e = n.public().state.engine.read().unwrap();
        e.map_points()
            .into_iter()
            .find_map(|(id, at)| {
                let near = e.nearby(at.0, at.1, 50.0, 50).unwrap();
                let mut cases = near
                    .entries
                    .iter()
                    .filter(|m| m.entry.masked_id == id.masked());
                match (cases.next(), cases.next()) {
                    (Some(m), None) => Some((id, at, m.entry.case.clone(), m.entry.unperformed)),
                    _ => None,
                }
            })
            .expect("a debtor with one published case")
    };
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let app = n.router(&addr.to_string()).await.unwrap();
    let server = tokio::spawn(async move {
        axum::serve(
            listener,
            app.into_make_service_with_connect_info::<std::net::SocketAddr>(),
        )
        .await
        .unwrap();
    });
    let (mut ws, _) =
        tokio_tungstenite::connect_async(format!("ws://{addr}/v1/map/live?radius=100"))
            .await
            .unwrap();
    let hello = tokio::time::timeout(Duration::from_secs(10), ws.next())
        .await
        .expect("a hello")
        .unwrap()
        .unwrap();
    assert!(hello.to_text().unwrap().contains("hello"), "{hello}");
    ws.send(Message::text(
        serde_json::json!({"lat": lat, "lon": lon}).to_string(),
    ))
    .await
    .unwrap();
    let mut enter = serde_json::Value::Null;
    while enter["type"] != "enter" {
        let m = tokio::time::timeout(Duration::from_secs(4), ws.next())
            .await
            .expect("an enter")
            .unwrap()
            .unwrap();
        enter = serde_json::from_str(m.to_text().unwrap()).unwrap();
    }
    let pay = format!(
        "{}\n",
        serde_json::json!({"id": "lift-1", "source": "court", "subject": id.to_string(),
            "at": "2026-10-30T10:00:00+08:00", "kind": "performance", "case": case, "amount": unpaid})
    );
    publish(bus, pay.as_bytes()).await;
    loop {
        let m = tokio::time::timeout(Duration::from_secs(30), ws.next())
            .await
            .expect("a leave within 30 s")
            .unwrap()
            .unwrap();
        let v: serde_json::Value = serde_json::from_str(m.to_text().unwrap()).unwrap();
        if v["type"] == "leave" && v["key"] == enter["key"] {
            break;
        }
    }
    // Off this node's map.
    assert!(
        !n.public()
            .state
            .engine
            .read()
            .unwrap()
            .map_points()
            .iter()
            .any(|p| p.0 == id)
    );
    server.abort();
}

/// Lines `[from, to)` of `input`, as whole lines.
fn slice(input: &[u8], from: usize, to: usize) -> Vec<u8> {
    input
        .split_inclusive(|&b| b == b'\n')
        .skip(from)
        .take(to - from)
        .flatten()
        .copied()
        .collect()
}

async fn wait_nodes(bus: &Bus, want: &[&str]) {
    let t = Instant::now();
    loop {
        if let Ok(Some((a, _))) = bus.assignment().await {
            let mut have: Vec<&str> = a.nodes().iter().map(String::as_str).collect();
            have.sort_unstable();
            if have == want {
                return;
            }
        }
        assert!(
            t.elapsed() < Duration::from_secs(60),
            "the assignment did not become {want:?} in 60 s"
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_node_and_a_server_fail_during_ingest() {
    let _ = tracing_subscriber::fmt()
        .with_env_filter(tracing_subscriber::EnvFilter::from_default_env())
        .with_test_writer()
        .try_init();
    let mut servers = common::Cluster::start(3);
    let dir = tempfile::tempdir().unwrap();
    let input = common::population(400, 12);
    let reference = one_machine(&input, &dir.path().join("one"));
    let lines = input.iter().filter(|&&b| b == b'\n').count();
    let bus = connect(&servers.urls(), 3).await;
    let (a, b, c) = (
        node(&bus, "a", dir.path()).await,
        node(&bus, "b", dir.path()).await,
        node(&bus, "c", dir.path()).await,
    );
    wait_nodes(&bus, &["a", "b", "c"]).await;
    // Each node applies only its own partitions before the first event: a folder that
    // holds part of the stream is kept on a takeover, and the check below is of snapshots.
    let t = Instant::now();
    for n in [&a, &b, &c] {
        while n.owned() != n.progress().await.unwrap().partitions {
            assert!(
                t.elapsed() < Duration::from_secs(30),
                "{} kept others' partitions",
                n.name()
            );
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }
    publish(&bus, &slice(&input, 0, lines / 3)).await;
    // Every partition's snapshot covers the first third.
    wait_caught_up(&[&a, &b, &c]).await;
    let t = Instant::now();
    for p in 0..PARTITIONS {
        let want = bus.last_sequence(p).await.unwrap();
        while bus
            .snapshot_info(p)
            .await
            .unwrap()
            .is_none_or(|(s, _)| s < want)
        {
            assert!(
                t.elapsed() < Duration::from_secs(60),
                "no snapshot of partition {p}"
            );
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }
    let of_c = c.progress().await.unwrap().partitions;
    assert!(!of_c.is_empty());
    // Node c crashes and a NATS server is killed while events keep coming.
    c.stop();
    servers.servers[1].kill();
    publish(&bus, &slice(&input, lines / 3, 2 * lines / 3)).await;
    // c's heartbeat stops; a removes it, and a and b rebuild its partitions from the
    // stream.
    wait_nodes(&bus, &["a", "b"]).await;
    publish(&bus, &slice(&input, 2 * lines / 3, lines)).await;
    eprintln!("c removed; waiting for a and b");
    wait_caught_up(&[&a, &b]).await;
    assert_same(&bus, &[&a, &b], &reference, &input).await;
    eprintln!("a and b hold everything");
    // They took c's partitions over from the snapshots, not from the stream's start.
    let mut restored = a.progress().await.unwrap().restored;
    restored.extend(b.progress().await.unwrap().restored);
    for p in &of_c {
        assert!(
            restored.get(p).is_some_and(|&s| s > 0),
            "partition {p} not restored: {restored:?}"
        );
    }
    // The server and the node come back; c takes its partitions back and catches up from
    // its folders.
    servers.servers[1].start();
    let c = node(&bus, "c", dir.path()).await;
    wait_nodes(&bus, &["a", "b", "c"]).await;
    wait_caught_up(&[&a, &b, &c]).await;
    assert_same(&bus, &[&a, &b, &c], &reference, &input).await;
    // A new node, with no folder at all, starts its partitions from their snapshots.
    let d = node(&bus, "d", dir.path()).await;
    wait_nodes(&bus, &["a", "b", "c", "d"]).await;
    wait_caught_up(&[&a, &b, &c, &d]).await;
    let p = d.progress().await.unwrap();
    assert!(!p.partitions.is_empty());
    assert_eq!(
        p.restored.keys().copied().collect::<Vec<_>>(),
        p.partitions,
        "d restored every partition from its snapshot"
    );
    assert_same(&bus, &[&a, &b, &c, &d], &reference, &input).await;
    // A folder made from a snapshot says so when it is opened again (a takeover that
    // failed after its restore is retried the same way).
    d.stop();
    let d = node(&bus, "d", dir.path()).await;
    wait_nodes(&bus, &["a", "b", "c", "d"]).await;
    wait_caught_up(&[&a, &b, &c, &d]).await;
    let again = d.progress().await.unwrap();
    for (part, seq) in &again.restored {
        assert_eq!(p.restored.get(part), Some(seq), "partition {part}");
    }
    assert_eq!(again.partitions, p.partitions);
    assert_eq!(
        again.restored.keys().copied().collect::<Vec<_>>(),
        again.partitions,
        "d's folders still say they came from snapshots"
    );
    for n in [a, b, c, d] {
        n.stop();
    }
}

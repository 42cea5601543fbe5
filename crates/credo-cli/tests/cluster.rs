#![allow(clippy::unwrap_used, clippy::expect_used)]
//! The local cluster as processes, against one machine, through the HTTP API
//! (issue 9's proof):
//!
//! 1. `credo cluster up`: three NATS servers (stream replicated 3 ways) and three
//!    `credo node` processes.
//! 2. A generated population is published with `credo cluster ingest` in three parts.
//!    After the first, node `n2` and NATS server 1 are killed with SIGKILL; the rest is
//!    published to what is left.
//! 3. The other two nodes take over n2's partitions from the stream. After a propagation
//!    across the node processes (`POST /v1/graph/propagate`), every subject's score and a
//!    rail decision, asked of any node, are the same JSON as one machine's that ingested
//!    the same files; so are the public list, the map (`nearby`, `view`, without the
//!    map's opaque keys) and call screening (a warning answered by the debtor's owner),
//!    asked of any node's public replica.
//! 4. The server and n2 come back; n2 takes its partitions back and catches up from its
//!    folders, and the answers are still the same, through n2 too.
//!
//! Needs NATS 2.10 or later (`CREDO_NATS_SERVER`, as the bus tests).

mod common;

use common::{credo, free_port, generate, http, http_with, json, key, succeeded};
use serde_json::Value;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

const PARTITIONS: u32 = 16;

fn nats_server() -> String {
    std::env::var("CREDO_NATS_SERVER").unwrap_or_else(|_| "nats-server".into())
}

/// A base port with PORT..PORT+40 free (NATS clients, routes, nodes, flow workers),
/// below the kernel's ephemeral range: the servers' and nodes' outgoing connections take
/// their local ports from that range, and one once took a node's port before the node
/// bound it ("Address already in use", a fresh-clone CI run, 2026-12-04). The base is
/// drawn from a kernel-chosen port, so tests running at once spread out.
fn base_port() -> u16 {
    let ephemeral_from = std::fs::read_to_string("/proc/sys/net/ipv4/ip_local_port_range")
        .ok()
        .and_then(|s| s.split_whitespace().next()?.parse::<u16>().ok())
        .unwrap_or(32_768);
    let (lo, hi) = (10_000u16, ephemeral_from.saturating_sub(41).max(10_001));
    loop {
        let base = lo + free_port() % (hi - lo);
        let ok = (0..40).all(|i| std::net::TcpListener::bind(("127.0.0.1", base + i)).is_ok());
        if ok {
            return base;
        }
    }
}

fn kill(pid: u64, signal: &str) {
    let _ = Command::new("kill")
        .args([signal, &pid.to_string()])
        .stderr(Stdio::null())
        .status();
}

/// `credo cluster up` and everything it started: stopped with SIGINT (it then kills its
/// children), and every listed process killed too, even if the test fails.
struct Up {
    child: Child,
    pids: Vec<u64>,
}

impl Drop for Up {
    fn drop(&mut self) {
        kill(u64::from(self.child.id()), "-INT");
        let t = Instant::now();
        while self.child.try_wait().ok().flatten().is_none() && t.elapsed().as_secs() < 10 {
            std::thread::sleep(Duration::from_millis(50));
        }
        for &p in &self.pids {
            kill(p, "-9");
        }
        let _ = self.child.kill();
    }
}

/// Processes the test itself restarted.
struct Restarted(Vec<Child>);

impl Drop for Restarted {
    fn drop(&mut self) {
        for c in &mut self.0 {
            let _ = c.kill();
            let _ = c.wait();
        }
    }
}

/// Waits up to `secs` for `done`, asking every 200 ms.
/// On a failure, the tails of the cluster's logs (nodes and NATS servers), which the
/// temporary folder takes with it otherwise.
struct LogsOnPanic(PathBuf);

impl Drop for LogsOnPanic {
    fn drop(&mut self) {
        if !std::thread::panicking() {
            return;
        }
        let Ok(dir) = std::fs::read_dir(self.0.join("logs")) else {
            return;
        };
        for f in dir.flatten() {
            let text = std::fs::read_to_string(f.path()).unwrap_or_default();
            let lines: Vec<&str> = text.lines().collect();
            eprintln!("---- {} (last 40 lines)", f.path().display());
            for l in &lines[lines.len().saturating_sub(40)..] {
                eprintln!("{l}");
            }
        }
    }
}

fn eventually(secs: u64, what: &str, mut done: impl FnMut() -> bool) {
    let t = Instant::now();
    while !done() {
        assert!(t.elapsed().as_secs() < secs, "{what} within {secs} s");
        std::thread::sleep(Duration::from_millis(200));
    }
}

fn get(port: u16, path: &str, token: &str) -> (u16, Value) {
    let t = Instant::now();
    loop {
        if let Some((status, body)) = http(port, "GET", path, token, "") {
            return (status, serde_json::from_str(&body).unwrap_or(Value::Null));
        }
        assert!(
            t.elapsed().as_secs() < 30,
            "GET {path} on {port}: no answer"
        );
        std::thread::sleep(Duration::from_millis(100));
    }
}

fn cluster_ingest(nats: &str, file: &Path) {
    let t = Instant::now();
    loop {
        let out = Command::new(env!("CARGO_BIN_EXE_credo"))
            .args([
                "--json",
                "cluster",
                "ingest",
                "--replicas",
                "3",
                "--nats",
                nats,
            ])
            .arg(file)
            .output()
            .unwrap();
        if out.status.success() {
            let v: Value = serde_json::from_slice(&out.stdout).unwrap();
            assert_eq!(v["rejected"], 0, "{v}");
            return;
        }
        // A server just killed: the stream elects a new leader within seconds.
        assert!(
            t.elapsed().as_secs() < 90,
            "cluster ingest kept failing: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        std::thread::sleep(Duration::from_millis(500));
    }
}

/// Waits until the nodes hold every partition *once* and have caught up. Held once: while
/// a partition moves (a node back in the assignment), its old owner holds it until the new
/// one has opened it, and a request routed to the new owner meanwhile is a `503` to retry;
/// the union covering every partition is not enough (a CI run failed on that race).
fn wait_caught_up(ports: &[u16]) {
    let t = Instant::now();
    loop {
        let mut held = std::collections::BTreeSet::new();
        let mut holdings = 0;
        let mut all = true;
        for &p in ports {
            let (_, v) = get(p, "/healthz", "");
            all &= v["caught_up"] == true;
            for x in v["partitions"].as_array().into_iter().flatten() {
                held.insert(x.as_u64().unwrap());
                holdings += 1;
            }
        }
        if all && held.len() == PARTITIONS as usize && holdings == PARTITIONS as usize {
            return;
        }
        assert!(
            t.elapsed().as_secs() < 120,
            "nodes {ports:?} did not cover and catch up in 120 s"
        );
        std::thread::sleep(Duration::from_millis(250));
    }
}

fn propagate(port: u16, admin: &str) -> Value {
    let t = Instant::now();
    loop {
        match http(port, "POST", "/v1/graph/propagate", admin, "") {
            Some((200, body)) => return serde_json::from_str(&body).unwrap(),
            other => {
                assert!(t.elapsed().as_secs() < 120, "propagate: {other:?}");
                std::thread::sleep(Duration::from_millis(500));
            }
        }
    }
}

/// Every subject's score (admin) and rail decision (relying party) from the cluster's
/// nodes, in turn, equal the single machine's answers.
fn same_answers(ids: &[String], nodes: &[u16], keys: (&str, &str), single: (u16, &str, &str)) {
    if let Some(d) = first_difference(ids, nodes, keys, single) {
        panic!("{d}");
    }
}

/// The first of those answers that differs from one machine's, if any.
fn first_difference(
    ids: &[String],
    nodes: &[u16],
    keys: (&str, &str),
    single: (u16, &str, &str),
) -> Option<String> {
    let (admin, rail) = keys;
    let (sport, sadmin, srail) = single;
    let mut denies = 0;
    for (i, id) in ids.iter().enumerate() {
        let port = nodes[i % nodes.len()];
        for (path, token, stoken) in [
            (format!("/v1/subjects/{id}/score"), admin, sadmin),
            (format!("/v1/subjects/{id}/check/rail_g"), rail, srail),
        ] {
            let (a, b) = (get(port, &path, token), get(sport, &path, stoken));
            if a != b || a.0 != 200 {
                return Some(format!(
                    "{path}: the cluster (node at {port}) and one machine differ:\n{a:?}\n{b:?}"
                ));
            }
            denies += usize::from(a.1["decision"] == "deny");
        }
    }
    (denies == 0).then(|| "no denial compared".to_string())
}

/// The public routes' rate limit off (this test asks many questions from one address).
const UNLIMITED: [(&str, &str); 2] = [
    ("CREDO_PUBLIC_RATE", "1000000"),
    ("CREDO_PUBLIC_BURST", "1000000"),
];

/// A query value, percent-encoded.
fn encoded(s: &str) -> String {
    s.bytes().map(|b| format!("%{b:02X}")).collect()
}

/// An answer without the map's `key`s: opaque handles of the server that answers.
fn unkeyed(mut v: Value) -> Value {
    match &mut v {
        Value::Object(m) => {
            m.remove("key");
            for x in m.values_mut() {
                *x = unkeyed(x.take());
            }
        }
        Value::Array(a) => {
            for x in a.iter_mut() {
                *x = unkeyed(x.take());
            }
        }
        _ => {}
    }
    v
}

/// The public list, the map and call screening, asked of the cluster's nodes in turn,
/// equal the single machine's answers: near every subject that has a listing order and
/// a few others, the list by their names, and their phone numbers.
fn same_public(
    subjects: &[Value],
    nodes: &[u16],
    telco: &str,
    single: (u16, &str),
) -> (usize, usize) {
    let (sport, stelco) = single;
    let (mut debtors, mut warned) = (0, 0);
    // The policies in force and the OpenAPI document: the same as one machine's.
    for path in ["/v1/policies", "/openapi.json"] {
        let (a, b) = (get(nodes[0], path, ""), get(sport, path, ""));
        assert_eq!(a.0, 200, "{path}: {}", a.1);
        assert_eq!(a, b, "{path}: node and one machine differ");
    }
    for (i, s) in subjects.iter().enumerate() {
        let port = nodes[i % nodes.len()];
        let (lat, lon) = (s["lat"].as_f64().unwrap(), s["lon"].as_f64().unwrap());
        let mut paths = vec![
            format!("/v1/map/nearby?lat={lat}&lon={lon}&radius=500"),
            format!("/v1/map/nearby?lat={lat}&lon={lon}&radius=2000"),
            format!("/v1/list?name={}", encoded(s["name"].as_str().unwrap())),
        ];
        for &(dlat, dlon) in &[(0.02, 0.02), (0.5, 0.5)] {
            paths.push(format!(
                "/v1/map/view?south={}&west={}&north={}&east={}",
                lat - dlat,
                lon - dlon,
                lat + dlat,
                lon + dlon
            ));
        }
        for path in paths {
            let (a, b) = (get(port, &path, ""), get(sport, &path, ""));
            assert_eq!(a.0, 200, "{path} on {port}: {}", a.1);
            assert_eq!(
                unkeyed(a.1.clone()),
                unkeyed(b.1),
                "{path}: node at {port} and one machine differ"
            );
            debtors += a.1["debtors"].as_u64().unwrap_or(0) as usize;
        }
        for phone in s["phones"].as_array().into_iter().flatten() {
            let path = format!("/v1/calls/screen?number={}", phone.as_str().unwrap());
            let (a, b) = (get(port, &path, telco), get(sport, &path, stelco));
            assert_eq!(a, b, "{path}: node at {port} and one machine differ");
            warned += usize::from(a.1["warn"] == true);
        }
    }
    (debtors, warned)
}

#[test]
fn a_cluster_answers_as_one_machine_through_a_node_and_a_server_failure() {
    let dir = tempfile::tempdir().unwrap();
    let pop = dir.path().join("pop");
    generate(600, 9, &pop);
    let as_of = "2026-10-31";
    let ids: Vec<String> = std::fs::read_to_string(pop.join("subjects.jsonl"))
        .unwrap()
        .lines()
        .map(|l| {
            serde_json::from_str::<Value>(l).unwrap()["id"]
                .as_str()
                .unwrap()
                .to_string()
        })
        .collect();
    // Events in two halves, so that the failure comes between them.
    let events = std::fs::read_to_string(pop.join("events.jsonl")).unwrap();
    // For the public answers: the subjects with a listing order, and a few others.
    let ordered: std::collections::HashSet<&str> = events
        .lines()
        .filter(|l| l.contains(r#""kind":"listing""#))
        .filter_map(|l| l.split(r#""subject":""#).nth(1)?.get(..18))
        .collect();
    let public_subjects: Vec<Value> = std::fs::read_to_string(pop.join("subjects.jsonl"))
        .unwrap()
        .lines()
        .map(|l| serde_json::from_str::<Value>(l).unwrap())
        .enumerate()
        .filter(|(i, v)| *i < 10 || ordered.contains(v["id"].as_str().unwrap()))
        .map(|(_, v)| v)
        .collect();
    let lines: Vec<&str> = events.lines().collect();
    let (first, second) = (
        dir.path().join("events-1.jsonl"),
        dir.path().join("events-2.jsonl"),
    );
    std::fs::write(&first, lines[..lines.len() / 2].join("\n") + "\n").unwrap();
    std::fs::write(&second, lines[lines.len() / 2..].join("\n") + "\n").unwrap();
    let files: Vec<PathBuf> = vec![
        pop.join("subjects.jsonl"),
        first.clone(),
        second.clone(),
        pop.join("contacts.jsonl"),
    ];

    // One machine: the same files, served.
    let single = dir.path().join("single");
    json(
        credo(&single)
            .args(["--as-of", as_of, "ingest", "--json"])
            .args(&files)
            .output()
            .unwrap(),
    );
    let (sadmin, srail) = (
        key(&single, "admin", "ops"),
        key(&single, "relying_party", "rail-1"),
    );
    let sfurnisher = key(&single, "furnisher", "demo-bank");
    let stelco = key(&single, "telco", "telco-1");
    let scourt = key(&single, "court", "court-1");
    let ssubject = token_of(
        credo(&single)
            .args(["key", "create", "--json", "--role", "subject", "--subject"])
            .arg(&ids[0]),
    );
    let sport = free_port();
    let _single_server = Restarted(vec![
        credo(&single)
            .args([
                "--as-of",
                as_of,
                "serve",
                "--listen",
                &format!("127.0.0.1:{sport}"),
            ])
            .envs(UNLIMITED)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap(),
    ]);

    // The cluster.
    let base = base_port();
    let root = dir.path().join("cluster");
    let mut child = Command::new(env!("CARGO_BIN_EXE_credo"))
        .arg("--data")
        .arg(&root)
        .args([
            "--as-of",
            as_of,
            "--json",
            "cluster",
            "up",
            "--port",
            &base.to_string(),
        ])
        .args(["--nats-server", &nats_server()])
        .envs(UNLIMITED)
        .env("CREDO_PROPAGATE_EVERY", "2")
        // The nodes' rounds and handovers in their logs, which a failure prints.
        .env("RUST_LOG", "warn,credo_node=info")
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let mut line = String::new();
    {
        use std::io::BufRead;
        let mut r = std::io::BufReader::new(child.stdout.take().unwrap());
        r.read_line(&mut line).unwrap();
    }
    let up_info: Value = serde_json::from_str(&line).unwrap_or_else(|e| {
        panic!(
            "cluster up printed {line:?} ({e}); logs: {}",
            std::fs::read_to_string(root.join("logs/n0.log")).unwrap_or_default()
        )
    });
    let pid = |v: &Value| v["pid"].as_u64().unwrap();
    let mut pids: Vec<u64> = up_info["servers"]
        .as_array()
        .unwrap()
        .iter()
        .map(pid)
        .collect();
    pids.extend(up_info["nodes"].as_array().unwrap().iter().map(pid));
    let _up = Up { child, pids };
    let _logs = LogsOnPanic(root.clone());
    let nats = up_info["nats"].as_str().unwrap().to_string();
    let token = |role: &str| {
        up_info["keys"]
            .as_array()
            .unwrap()
            .iter()
            .find(|k| k["role"] == role)
            .unwrap()["token"]
            .as_str()
            .unwrap()
            .to_string()
    };
    let (admin, rail) = (token("admin"), token("relying_party"));
    let node_ports: Vec<u16> = (0..3).map(|i| base + 20 + i).collect();
    let telco = token_of(
        Command::new(env!("CARGO_BIN_EXE_credo"))
            .args(["--json", "cluster", "key", "create", "--role", "telco"])
            .args(["--party", "telco-1", "--nats", &nats]),
    );

    cluster_ingest(&nats, &files[0]);
    cluster_ingest(&nats, &files[1]);
    // A consent and a third party's read of a subject of n2's, before n2 dies.
    let moved = Moved::before(&ids, &node_ports, &nats, &up_info, &rail);
    // A node and a NATS server die; ingest goes on.
    kill(pid(&up_info["nodes"][2]), "-9");
    kill(pid(&up_info["servers"][1]), "-9");
    cluster_ingest(&nats, &files[2]);
    cluster_ingest(&nats, &files[3]);
    wait_caught_up(&node_ports[..2]);
    moved.taken_over(&node_ports[..2], &rail);
    // The partitions taken over have no relationships terms on their new nodes until a
    // propagation round: the keeper (the lowest-named live node) asks for one by itself.
    let t = Instant::now();
    while let Some(d) = first_difference(
        &ids,
        &node_ports[..2],
        (&admin, &rail),
        (sport, &sadmin, &srail),
    ) {
        assert!(
            t.elapsed().as_secs() < 120,
            "no keeper's round after the takeover within 120 s: {d}"
        );
        std::thread::sleep(Duration::from_secs(1));
    }
    let run = propagate(node_ports[0], &admin);
    assert_eq!(run["nodes"].as_array().unwrap().len(), 2, "{run}");
    same_answers(
        &ids,
        &node_ports[..2],
        (&admin, &rail),
        (sport, &sadmin, &srail),
    );
    let (debtors, warned) =
        same_public(&public_subjects, &node_ports[..2], &telco, (sport, &stelco));
    assert!(
        debtors > 0 && warned > 0,
        "nothing public compared: {debtors} debtors, {warned} warnings"
    );

    // The server and the node come back.
    let routes: Vec<String> = (0..3)
        .map(|i| format!("nats://127.0.0.1:{}", base + 10 + i))
        .collect();
    let server = Command::new(nats_server())
        .args([
            "-js",
            "-a",
            "127.0.0.1",
            "-p",
            &(base + 1).to_string(),
            "-sd",
        ])
        .arg(root.join("nats/nats-1"))
        .args([
            "--server_name",
            "nats-1",
            "--cluster_name",
            "credo",
            "--cluster",
        ])
        .arg(format!("nats://127.0.0.1:{}", base + 11))
        .args(["--routes", &routes.join(",")])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let node = Command::new(env!("CARGO_BIN_EXE_credo"))
        .arg("--data")
        .arg(root.join("nodes/n2"))
        .args([
            "--as-of",
            as_of,
            "node",
            "--name",
            "n2",
            "--nats",
            &nats,
            "--replicas",
            "3",
        ])
        .args(["--listen", &format!("127.0.0.1:{}", base + 22)])
        .args(["--flow-listen", &format!("127.0.0.1:{}", base + 32)])
        .envs(UNLIMITED)
        .env("CREDO_PROPAGATE_EVERY", "2")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let _restarted = Restarted(vec![server, node]);
    wait_caught_up(&node_ports);
    // n2 holds partitions again.
    let (_, h) = get(node_ports[2], "/healthz", "");
    assert!(!h["partitions"].as_array().unwrap().is_empty(), "{h}");
    moved.taken_back(&node_ports, &rail);
    let run = propagate(node_ports[2], &admin);
    assert_eq!(run["nodes"].as_array().unwrap().len(), 3, "{run}");
    same_answers(&ids, &node_ports, (&admin, &rail), (sport, &sadmin, &srail));
    same_public(&public_subjects, &node_ports, &telco, (sport, &stelco));

    // Events over a node's API, under the furnisher key's rules, as on one machine.
    let furnisher = token("furnisher");
    let body = format!(
        "{}\n{}\n",
        format_args!(
            r#"{{"id":"late-1","source":"demo-bank","subject":"{}","at":"2026-10-20","kind":"bill","ref":"b-late-1","amount":900,"status":"unpaid"}}"#,
            ids[0]
        ),
        format_args!(
            r#"{{"id":"late-2","source":"another-bank","subject":"{}","at":"2026-10-20","kind":"payment","amount":5}}"#,
            ids[1]
        ),
    );
    let (status, answer) = http(node_ports[1], "POST", "/v1/events", &furnisher, &body).unwrap();
    assert_eq!(status, 200, "{answer}");
    let answer: Value = serde_json::from_str(&answer).unwrap();
    assert_eq!(
        (answer["accepted"].as_u64(), answer["rejected"].as_u64()),
        (Some(1), Some(1)),
        "{answer}"
    );
    assert_eq!(answer["errors"][0]["code"], "forbidden");
    assert_eq!(answer["errors"][0]["line"], 2);
    // The request is in that node's audit log, by the furnisher's key, as on one machine.
    let (status, audit) = get(node_ports[1], "/v1/audit", &admin);
    assert_eq!(status, 200, "{audit}");
    let last = audit["entries"].as_array().unwrap().last().unwrap().clone();
    assert_eq!(
        (&last["op"], &last["actor"]),
        (
            &serde_json::json!("ingest"),
            &serde_json::json!("furnisher:demo-bank")
        ),
        "{audit}"
    );
    let (status, verified) = get(node_ports[1], "/v1/audit/verify", &admin);
    assert_eq!(
        (status, &verified["ok"]),
        (200, &serde_json::json!(true)),
        "{verified}"
    );
    let (status, _) = http(sport, "POST", "/v1/events", &sfurnisher, &body).unwrap();
    assert_eq!(status, 200);
    // Applied by the owner within moments; then every node answers as one machine.
    let path = format!("/v1/subjects/{}/score", ids[0]);
    let want = get(sport, &path, &sadmin);
    eventually(30, "the new event reaches its owner", || {
        get(node_ports[0], &path, &admin) == want
    });

    // A key made for the cluster works on every node, and once revoked, on none.
    let made = json(
        Command::new(env!("CARGO_BIN_EXE_credo"))
            .args([
                "--json",
                "cluster",
                "key",
                "create",
                "--role",
                "relying_party",
            ])
            .args(["--party", "shop", "--nats", &nats])
            .output()
            .unwrap(),
    );
    let shop = made["token"].as_str().unwrap();
    let path = format!("/v1/subjects/{}/check/rail_g", ids[2]);
    for &port in &node_ports {
        eventually(30, &format!("the new key works on node {port}"), || {
            get(port, &path, shop).0 == 200
        });
    }
    succeeded(
        Command::new(env!("CARGO_BIN_EXE_credo"))
            .args([
                "cluster",
                "key",
                "revoke",
                made["id"].as_str().unwrap(),
                "--nats",
                &nats,
            ])
            .output()
            .unwrap(),
    );
    for &port in &node_ports {
        eventually(
            30,
            &format!("the revoked key is refused on node {port}"),
            || get(port, &path, shop).0 == 401,
        );
    }

    // The same over the API, as on one machine: made on one node, revoked on another.
    let (status, made) = http(
        node_ports[0],
        "POST",
        "/v1/keys",
        &admin,
        r#"{"role":"relying_party","party":"shop-2"}"#,
    )
    .unwrap();
    assert_eq!(status, 201, "{made}");
    let made: Value = serde_json::from_str(&made).unwrap();
    let shop2 = made["token"].as_str().unwrap();
    for &port in &node_ports {
        eventually(30, &format!("the API's key works on node {port}"), || {
            get(port, &path, shop2).0 == 200
        });
    }
    let id = made["id"].as_str().unwrap();
    let (status, listed) = get(node_ports[2], "/v1/keys", &admin);
    assert_eq!(status, 200);
    assert!(
        listed["keys"]
            .as_array()
            .unwrap()
            .iter()
            .any(|k| k["id"] == id),
        "{listed}"
    );
    let (status, body) = http(
        node_ports[1],
        "DELETE",
        &format!("/v1/keys/{id}"),
        &admin,
        "",
    )
    .unwrap();
    assert_eq!(status, 200, "{body}");
    let (status, _) = http(node_ports[1], "DELETE", "/v1/keys/nope", &admin, "").unwrap();
    assert_eq!(status, 404);
    for &port in &node_ports {
        eventually(
            30,
            &format!("the API's revoked key is refused on node {port}"),
            || get(port, &path, shop2).0 == 401,
        );
    }
    // Who made and revoked it is in the nodes' own audit logs.
    let (_, audit) = get(node_ports[0], "/v1/audit", &admin);
    assert!(
        audit["entries"]
            .as_array()
            .unwrap()
            .iter()
            .any(|e| e["op"] == "key.create" && e["actor"] == "admin:ops"),
        "{audit}"
    );

    access_operations(
        &node_ports,
        &admin,
        &furnisher,
        (sport, &sadmin, &sfurnisher, &scourt, &ssubject),
        &ids[0],
        &public_subjects,
    );
}

/// A subject of the node that dies (n2), and the access operations made about it before:
/// they must move with its partition to the node that takes it over, and what was done
/// there must come back with it to n2, whose folder still holds the state before.
struct Moved {
    subject: String,
    key: String,
    grant: u64,
    /// The subject's report before n2 died.
    before: Value,
}

impl Moved {
    fn report(&self, port: u16) -> Value {
        let path = format!("/v1/subjects/{}/report", self.subject);
        call(port, "GET", &path, &self.key, "", 200)
    }

    fn score(&self, port: u16, rail: &str) -> u16 {
        let path = format!("/v1/subjects/{}/score", self.subject);
        http(port, "GET", &path, rail, "").unwrap().0
    }

    fn before(ids: &[String], nodes: &[u16], nats: &str, up: &Value, rail: &str) -> Moved {
        let (_, h) = get(nodes[2], "/healthz", "");
        let owned: Vec<u64> = h["partitions"]
            .as_array()
            .unwrap()
            .iter()
            .filter_map(Value::as_u64)
            .collect();
        let of = |id: &str| {
            u64::from(
                credo_cluster::Partitioning::new(PARTITIONS)
                    .unwrap()
                    .of(id.parse().unwrap()),
            )
        };
        let subject = ids
            .iter()
            .find(|id| owned.contains(&of(id)))
            .expect("a subject of n2's")
            .clone();
        let key = token_of(
            Command::new(env!("CARGO_BIN_EXE_credo"))
                .args(["--json", "cluster", "key", "create", "--role", "subject"])
                .args(["--subject", &subject, "--nats", nats]),
        );
        let consents = format!("/v1/subjects/{subject}/consents");
        for &port in nodes {
            eventually(30, &format!("the subject's key works on {port}"), || {
                http(port, "GET", &consents, &key, "").is_some_and(|(s, _)| s == 200)
            });
        }
        let party = up["keys"]
            .as_array()
            .unwrap()
            .iter()
            .find(|k| k["role"] == "relying_party")
            .unwrap()["party"]
            .as_str()
            .unwrap()
            .to_string();
        let body = format!(r#"{{"party":"{party}","purpose":"score","until":"2027-06-30"}}"#);
        let g = call(nodes[0], "POST", &consents, &key, &body, 201);
        let mut m = Moved {
            subject,
            key,
            grant: g["id"].as_u64().unwrap(),
            before: Value::Null,
        };
        assert_eq!(
            m.score(nodes[1], rail),
            200,
            "the grant lets the party read"
        );
        m.before = m.report(nodes[2]);
        assert_eq!(
            m.before["inquiries"].as_array().unwrap().len(),
            1,
            "{}",
            m.before
        );
        m
    }

    /// On the nodes that took n2's partitions: the same grant (same id), the same
    /// inquiries; the party still reads; then the subject revokes there.
    fn taken_over(&self, nodes: &[u16], rail: &str) {
        for &port in nodes {
            let r = self.report(port);
            assert_eq!(r["consents"], self.before["consents"], "on {port}");
            assert_eq!(r["inquiries"], self.before["inquiries"], "on {port}");
        }
        assert_eq!(
            self.score(nodes[0], rail),
            200,
            "the grant moved with its partition"
        );
        let path = format!("/v1/subjects/{}/consents/{}", self.subject, self.grant);
        call(nodes[1], "DELETE", &path, &self.key, "", 200);
        for &port in nodes {
            assert_eq!(self.score(port, rail), 403, "revoked, on {port}");
        }
    }

    /// Back on n2 (its old folder held the grant unrevoked): revoked there too, and every
    /// node shows the same consents and inquiries.
    fn taken_back(&self, nodes: &[u16], rail: &str) {
        let first = self.report(nodes[2]);
        assert_eq!(
            first["consents"][0]["id"].as_u64(),
            Some(self.grant),
            "{first}"
        );
        assert!(!first["consents"][0]["revoked"].is_null(), "{first}");
        for &port in nodes {
            assert_eq!(self.score(port, rail), 403, "revoked, on {port}");
            let r = self.report(port);
            assert_eq!(
                (&r["consents"], &r["inquiries"]),
                (&first["consents"], &first["inquiries"]),
                "on {port}"
            );
        }
    }
}

/// The token a key-making command printed.
fn token_of(cmd: &mut Command) -> String {
    json(cmd.output().unwrap())["token"]
        .as_str()
        .unwrap()
        .to_string()
}

/// A body of `path` as JSON, after checking its status.
fn call(port: u16, method: &str, path: &str, token: &str, body: &str, want: u16) -> Value {
    let (status, text) = http(port, method, path, token, body).unwrap();
    assert_eq!(status, want, "{method} {path} on {port}: {text}");
    serde_json::from_str(&text).unwrap_or(Value::Null)
}

/// Without what differs by design: ids (cluster-wide on a cluster) and times.
fn unstamped(mut v: Value) -> Value {
    if let Some(o) = v.as_object_mut() {
        for k in ["id", "at", "filed", "resolved_at"] {
            o.remove(k);
        }
    }
    v
}

/// The routes that span partitions, through any node, as on one machine: the stats
/// (gathered), a tip-off (routed by case number) and the court's inbox (gathered), a
/// dispute filed on one node, listed on another and resolved on a third (its id names
/// its partition), notice impressions (routed by case), a policy file installed on one
/// node and in force on every node, and each node's own metrics.
fn access_operations(
    nodes: &[u16],
    admin: &str,
    furnisher: &str,
    single: (u16, &str, &str, &str, &str),
    disputer: &str,
    subjects: &[Value],
) {
    let (sport, sadmin, sfurnisher, scourt, ssubject) = single;
    // The relationships terms of both, fresh after the last events.
    propagate(nodes[0], admin);
    call(sport, "POST", "/v1/graph/propagate", sadmin, "", 200);
    // Stats, gathered from every partition: the same as one machine's.
    let want = call(sport, "GET", "/v1/stats", "", "", 200);
    for &port in nodes {
        assert_eq!(
            call(port, "GET", "/v1/stats", "", "", 200),
            want,
            "stats on {port}"
        );
    }
    assert!(want["listed"].as_u64().unwrap() > 0, "{want}");

    // Keys for the court and the disputing subject, made over the API.
    let made = |body: String| {
        call(nodes[0], "POST", "/v1/keys", admin, &body, 201)["token"]
            .as_str()
            .unwrap()
            .to_string()
    };
    let court = made(r#"{"role":"court","party":"court-1"}"#.into());
    let subject = made(format!(r#"{{"role":"subject","subject":"{disputer}"}}"#));
    for &port in nodes {
        eventually(30, &format!("the court's key works on {port}"), || {
            http(port, "GET", "/v1/tipoffs", &court, "").is_some_and(|(s, _)| s == 200)
        });
    }

    // A tip-off by a published case number, filed on one node, in the inbox on every node.
    let (case, debtor) = subjects
        .iter()
        .find_map(|s| {
            let path = format!(
                "/v1/list?name={}&id={}",
                encoded(s["name"].as_str()?),
                s["id"].as_str()?
            );
            let l = get(sport, &path, "").1;
            Some((
                l["results"][0]["case"].as_str()?.to_string(),
                s["id"].as_str()?.to_string(),
            ))
        })
        .expect("a published listing");
    let tip = format!(r#"{{"case":"{case}","text":"a car in the garage at No. 5"}}"#);
    let filed = call(nodes[1], "POST", "/v1/tipoffs", admin, &tip, 201);
    call(sport, "POST", "/v1/tipoffs", sadmin, &tip, 201);
    let id = filed["id"].as_u64().unwrap();
    let p = |id: &str| {
        credo_cluster::Partitioning::new(PARTITIONS)
            .unwrap()
            .of(id.parse().unwrap())
    };
    assert_eq!(id % u64::from(PARTITIONS), u64::from(p(&debtor)), "{filed}");
    let one = call(sport, "GET", "/v1/tipoffs", scourt, "", 200)["tipoffs"].clone();
    for &port in nodes {
        let inbox = call(port, "GET", "/v1/tipoffs", &court, "", 200)["tipoffs"].clone();
        assert_eq!(inbox[0]["id"].as_u64(), Some(id), "{inbox}");
        let strip = |v: &Value| {
            v.as_array()
                .unwrap()
                .iter()
                .cloned()
                .map(unstamped)
                .collect::<Vec<_>>()
        };
        assert_eq!(strip(&inbox), strip(&one), "the inbox on {port}");
    }
    // Only the court reads it.
    call(nodes[2], "GET", "/v1/tipoffs", admin, "", 403);

    // Notice impressions add up at the case's owner, whichever node takes them.
    let imp = |n: u64| format!(r#"{{"case":"{case}","delivered":{n}}}"#);
    call(
        nodes[0],
        "POST",
        "/v1/notices/impressions",
        &court,
        &imp(5),
        200,
    );
    let total = call(
        nodes[2],
        "POST",
        "/v1/notices/impressions",
        &court,
        &imp(3),
        200,
    );
    assert_eq!(total["delivered"], 8, "{total}");
    let stotal = call(
        sport,
        "POST",
        "/v1/notices/impressions",
        scourt,
        &imp(8),
        200,
    );
    assert_eq!(stotal, total);
    call(
        nodes[1],
        "POST",
        "/v1/notices/impressions",
        &court,
        r#"{"case":"nope","delivered":1}"#,
        404,
    );

    // A dispute: filed on one node, listed on another, resolved on a third.
    let body = r#"{"source":"demo-bank","event":"late-1","reason":"I paid this bill"}"#;
    let path = format!("/v1/subjects/{disputer}/disputes");
    let filed = call(nodes[0], "POST", &path, &subject, body, 201);
    let sfiled = call(sport, "POST", &path, ssubject, body, 201);
    assert_eq!(unstamped(filed.clone()), unstamped(sfiled.clone()));
    let id = filed["id"].as_u64().unwrap();
    assert_eq!(
        id % u64::from(PARTITIONS),
        u64::from(p(disputer)),
        "{filed}"
    );
    let listed = call(nodes[1], "GET", "/v1/disputes", furnisher, "", 200);
    assert!(
        listed["disputes"]
            .as_array()
            .unwrap()
            .iter()
            .any(|d| d["id"] == id),
        "{listed}"
    );
    let upheld = r#"{"resolution":"upheld","note":"the bill is unpaid"}"#;
    let resolved = call(
        nodes[2],
        "POST",
        &format!("/v1/disputes/{id}/resolution"),
        furnisher,
        upheld,
        200,
    );
    let sresolved = call(
        sport,
        "POST",
        &format!("/v1/disputes/{}/resolution", sfiled["id"]),
        sfurnisher,
        upheld,
        200,
    );
    assert_eq!(unstamped(resolved.clone()), unstamped(sresolved));
    assert_eq!(resolved["status"], "upheld");
    // Resolved once; an id of no partition's dispute is not found.
    call(
        nodes[1],
        "POST",
        &format!("/v1/disputes/{id}/resolution"),
        furnisher,
        upheld,
        409,
    );
    call(
        nodes[1],
        "POST",
        &format!(
            "/v1/disputes/{}/resolution",
            id + u64::from(PARTITIONS) * 1000
        ),
        furnisher,
        upheld,
        404,
    );
    // The subject's report on any node shows it, as the cluster numbers it.
    let report = call(
        nodes[1],
        "GET",
        &format!("/v1/subjects/{disputer}/report"),
        &subject,
        "",
        200,
    );
    assert_eq!(report["disputes"][0]["id"], id, "{report}");

    // A policy file installed on one node is in force on every node, as on one machine.
    let policy = "[[offer]]\nid = \"shop.pay_later\"\nparty = \"shop\"\nlabel = \"Pay later\"\nmin_score = 600\n";
    let installed = call(nodes[0], "PUT", "/v1/policies", admin, policy, 200);
    assert_eq!(
        installed,
        call(sport, "PUT", "/v1/policies", sadmin, policy, 200)
    );
    call(
        nodes[0],
        "PUT",
        "/v1/policies",
        admin,
        "[[offer]]\nid = 1\n",
        400,
    );
    let want = call(sport, "GET", "/v1/policies", "", "", 200);
    for &port in nodes {
        eventually(30, &format!("the policy file reaches {port}"), || {
            get(port, "/v1/policies", "") == (200, want.clone())
        });
    }
    let check = format!("/v1/subjects/{disputer}/check/shop.pay_later");
    let swant = get(sport, &check, sadmin);
    for &port in nodes {
        eventually(30, &format!("the offer is decided on {port}"), || {
            get(port, &check, admin) == swant
        });
    }

    // Each node's own metrics, in the single machine's format.
    let (status, text) = http(nodes[1], "GET", "/metrics", "", "").unwrap();
    assert_eq!(status, 200);
    for want in [
        "credo_node_partitions",
        "route=\"/v1/stats\"",
        "route=\"/v1/tipoffs\"",
    ] {
        assert!(text.contains(want), "{want} not in node metrics: {text}");
    }
    // A notice's plan, gathered from every partition in steps: one machine's counts, size
    // and cap, through any node; its members the same people when they all fit the list.
    for (i, options) in [
        "",
        "&hops=3&cap=30",
        "&radius_km=20&region=false&industry=same&hops=1",
    ]
    .iter()
    .enumerate()
    {
        let path = format!(
            "/v1/notices/plan?case={}{options}&members=1000",
            encoded(&case)
        );
        let want = call(sport, "GET", &path, scourt, "", 200);
        let got = call(nodes[i % nodes.len()], "GET", &path, &court, "", 200);
        let without = |mut v: Value| {
            let mut m: Vec<String> = v["members"]
                .as_array()
                .unwrap()
                .iter()
                .map(|x| x.as_str().unwrap().to_string())
                .collect();
            m.sort();
            v["members"] = Value::Null;
            (v, m)
        };
        let (want, want_members) = without(want);
        let (got, got_members) = without(got);
        assert_eq!(got, want, "{path}");
        if want["capped"] == false {
            assert_eq!(got_members, want_members, "{path}");
        } else {
            assert_eq!(got_members.len(), want_members.len(), "{path}");
        }
        assert!(
            want["by_criterion"]["contacts"].as_u64().unwrap() > 0 || i == 2,
            "{want}"
        );
    }
    let bad = format!("/v1/notices/plan?case={}&hops=9", encoded(&case));
    let sbad = call(sport, "GET", &bad, scourt, "", 400);
    assert_eq!(call(nodes[1], "GET", &bad, &court, "", 400), sbad);
    let none = "/v1/notices/plan?case=nope";
    assert_eq!(
        call(nodes[2], "GET", none, &court, "", 404),
        call(sport, "GET", none, scourt, "", 404)
    );
    call(
        nodes[0],
        "GET",
        &format!("/v1/notices/plan?case={}", encoded(&case)),
        admin,
        "",
        403,
    );
    // A node's leg of a plan carries unmasked IDs: a court's key without the cluster's
    // internal token gets none.
    let (status, text) = http_with(
        nodes[0],
        "POST",
        "/v1/notices/plan",
        &court,
        r#"{"step":"contacts","ids":[]}"#,
        &[("x-credo-gather", "1")],
    )
    .unwrap();
    assert_eq!(status, 403, "{text}");
}

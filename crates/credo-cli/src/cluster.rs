//! `credo node` and `credo cluster …`: a node process, and a local cluster on 127.0.0.1
//! for tests and demos (docs/cluster.md).

use crate::cmd::Global;
use anyhow::{Context, Result, bail};
use clap::{Args, Subcommand};
use credo_bus::{Bus, BusConfig};
use credo_cluster::Partitioning;
use credo_node::{Node, NodeConfig};
use serde_json::json;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitCode, Stdio};
use std::time::{Duration, Instant};

/// Where a cluster's stream is, and its shape.
#[derive(Args)]
pub struct BusArgs {
    /// The NATS servers, comma-separated.
    #[arg(long, env = "CREDO_NATS", default_value = "nats://127.0.0.1:4222")]
    nats: String,
    /// Replicas of the stream and bucket when this creates them (3 in a three-server NATS
    /// cluster).
    #[arg(long, default_value_t = 1)]
    replicas: usize,
    /// Partitions of the deployment: fixed for its life, the same everywhere.
    #[arg(long, default_value_t = 16)]
    partitions: u32,
}

impl BusArgs {
    async fn connect(&self) -> Result<Bus> {
        connect(&self.nats, self.replicas, self.partitions).await
    }
}

#[derive(Args)]
pub struct NodeArgs {
    /// This node's name (letters, digits, `-`, `_`): its partitions follow from it.
    #[arg(long)]
    name: String,
    #[command(flatten)]
    bus: BusArgs,
    /// Where the HTTP API listens (other nodes forward to this address).
    #[arg(long, default_value = "127.0.0.1:8080")]
    listen: String,
    /// Where this node's worker listens for the cross-node propagation (timely over TCP);
    /// without it the node takes no part in propagations.
    #[arg(long)]
    flow_listen: Option<String>,
    #[command(flatten)]
    limits: crate::PublicLimits,
    /// Seconds between snapshots of the partitions this node owns, into the cluster's
    /// object store (a node taking a partition over starts from its snapshot); 0: none.
    #[arg(long, env = "CREDO_SNAPSHOT_EVERY", default_value_t = 60.0)]
    snapshot_every: f64,
    /// Seconds between the keeper's checks: the lowest-named node asks for a propagation
    /// round when the assignment, the events or the day moved since the last one; 0: only
    /// when asked (`POST /v1/graph/propagate`).
    #[arg(long, env = "CREDO_PROPAGATE_EVERY", default_value_t = 30.0)]
    propagate_every: f64,
}

#[derive(Subcommand)]
pub enum ClusterCmd {
    /// Start a local cluster on 127.0.0.1: NATS servers and credo nodes, each its own
    /// process, under the data folder; optionally load a generated population.
    Up(UpArgs),
    /// Publish JSON-lines files to a cluster's stream (the operator's path, as `credo
    /// ingest` is on one machine).
    Ingest(ClusterIngestArgs),
    /// API keys of a cluster: kept in its bucket and copied into every partition.
    #[command(subcommand)]
    Key(ClusterKeyCmd),
}

#[derive(Args)]
pub struct UpArgs {
    /// credo nodes.
    #[arg(long, default_value_t = 3)]
    nodes: usize,
    /// NATS servers (1, or 3 for a replicated stream).
    #[arg(long, default_value_t = 3)]
    servers: usize,
    #[arg(long, default_value_t = 16)]
    partitions: u32,
    /// Generate this many people and publish them once the nodes are up.
    #[arg(long)]
    people: Option<usize>,
    #[arg(long, default_value_t = 42)]
    seed: u64,
    /// The first port: NATS clients use PORT.., NATS routes PORT+10.., nodes' HTTP
    /// PORT+20.., nodes' propagation workers PORT+30...
    #[arg(long, default_value_t = 7400)]
    port: u16,
    /// The nats-server binary (2.10 or later).
    #[arg(long, env = "CREDO_NATS_SERVER", default_value = "nats-server")]
    nats_server: String,
    /// Stop once loaded and caught up, instead of running until Ctrl-C.
    #[arg(long)]
    no_serve: bool,
}

#[derive(Args)]
pub struct ClusterIngestArgs {
    #[arg(required = true)]
    files: Vec<PathBuf>,
    #[command(flatten)]
    bus: BusArgs,
}

#[derive(Subcommand)]
pub enum ClusterKeyCmd {
    /// Create a key (the token is shown once; the cluster keeps its SHA-256).
    Create {
        #[command(flatten)]
        key: crate::KeyArgs,
        #[command(flatten)]
        bus: BusArgs,
    },
    /// Revoke a key on every node.
    Revoke {
        id: String,
        #[command(flatten)]
        bus: BusArgs,
    },
}

fn runtime() -> Result<tokio::runtime::Runtime> {
    tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .context("starting the async runtime")
}

async fn connect(nats: &str, replicas: usize, partitions: u32) -> Result<Bus> {
    let partitioning = Partitioning::new(partitions)?;
    Bus::connect_within(
        BusConfig::new(nats.to_string(), replicas),
        partitioning,
        Duration::from_secs(30),
    )
    .await
    .with_context(|| format!("connecting to NATS at {nats}"))
}

/// `credo node`: runs until Ctrl-C or SIGTERM.
pub fn node(g: &Global, a: &NodeArgs) -> Result<ExitCode> {
    let model = g.load_model()?;
    runtime()?.block_on(async {
        let bus = std::sync::Arc::new(a.bus.connect().await?);
        let node = Node::start(
            bus,
            NodeConfig {
                name: a.name.clone(),
                dir: g.data.clone(),
                model,
                as_of: g.as_of,
                flow: a.flow_listen.clone(),
                server: a.limits.config(),
                snapshot_every: (a.snapshot_every > 0.0)
                    .then(|| std::time::Duration::from_secs_f64(a.snapshot_every)),
                propagate_every: (a.propagate_every > 0.0)
                    .then(|| std::time::Duration::from_secs_f64(a.propagate_every)),
            },
        )
        .await
        .with_context(|| format!("starting node {}", a.name))?;
        let listener = tokio::net::TcpListener::bind(&a.listen)
            .await
            .with_context(|| format!("listening on {}", a.listen))?;
        let addr = listener.local_addr()?;
        let app = node.router(&addr.to_string()).await?;
        eprintln!(
            "node {} serving on http://{addr}/ with partitions {:?} (Ctrl-C to stop)",
            a.name,
            node.owned()
        );
        let stop = async {
            let mut term =
                tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()).ok();
            tokio::select! {
                _ = tokio::signal::ctrl_c() => {}
                _ = async { match term.as_mut() { Some(t) => { t.recv().await; } None => std::future::pending().await } } => {}
            }
        };
        axum::serve(
            listener,
            app.into_make_service_with_connect_info::<SocketAddr>(),
        )
        .with_graceful_shutdown(stop)
        .await
        .context("serving")?;
        node.stop();
        Ok(ExitCode::SUCCESS)
    })
}

pub fn run(g: &Global, cmd: &ClusterCmd) -> Result<ExitCode> {
    match cmd {
        ClusterCmd::Up(a) => up(g, a),
        ClusterCmd::Ingest(a) => runtime()?.block_on(async {
            let bus = a.bus.connect().await?;
            let mut lines = 0;
            let mut refused = 0;
            for f in &a.files {
                let text = std::fs::read(f).with_context(|| format!("reading {}", f.display()))?;
                let p = bus.publish(&text).await?;
                for r in p.refused.iter().take(10) {
                    eprintln!("{}:{}: {}: {}", f.display(), r.line, r.code, r.message);
                }
                lines += p.lines;
                refused += p.refused.len();
            }
            if g.json {
                println!("{}", json!({"published": lines, "rejected": refused}));
            } else {
                println!("published {lines} lines; {refused} rejected");
            }
            Ok(ExitCode::SUCCESS)
        }),
        ClusterCmd::Key(ClusterKeyCmd::Create { key, bus }) => runtime()?.block_on(async {
            let role = credo_access::Role::parse(&key.role).map_err(|e| anyhow::anyhow!("{e}"))?;
            let subject = key
                .subject
                .as_deref()
                .map(credo_model::SubjectId::parse)
                .transpose()?;
            let (key, token) = credo_server::api::new_key(role, key.party.clone(), subject)
                .map_err(|e| anyhow::anyhow!(e.message))?;
            let bus = bus.connect().await?;
            credo_node::keys::create(&bus, &key).await?;
            if g.json {
                println!(
                    "{}",
                    json!({"id": key.id, "role": role.name(), "party": key.party, "token": token})
                );
            } else {
                println!("key {} for {} {}:\n{token}", key.id, role.name(), key.party);
            }
            Ok(ExitCode::SUCCESS)
        }),
        ClusterCmd::Key(ClusterKeyCmd::Revoke { id, bus }) => runtime()?.block_on(async {
            let bus = bus.connect().await?;
            if !credo_node::keys::revoke(&bus, id).await? {
                bail!("no key {id} in this cluster");
            }
            println!("revoked {id}");
            Ok(ExitCode::SUCCESS)
        }),
    }
}

/// Child processes, killed when dropped.
struct Children(Vec<(String, Child)>);

impl Drop for Children {
    fn drop(&mut self) {
        for (_, c) in &mut self.0 {
            let _ = c.kill();
            let _ = c.wait();
        }
    }
}

fn wait_port(port: u16, what: &str, child: &mut Child) -> Result<()> {
    let t = Instant::now();
    while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
        if let Some(status) = child.try_wait()? {
            bail!("{what} exited ({status}) before listening on port {port}");
        }
        if t.elapsed() > Duration::from_secs(30) {
            bail!("{what} did not listen on port {port} within 30 s");
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    Ok(())
}

fn log_file(dir: &Path, name: &str) -> Result<Stdio> {
    let path = dir.join(format!("{name}.log"));
    let f = std::fs::File::create(&path).with_context(|| format!("creating {}", path.display()))?;
    Ok(Stdio::from(f))
}

/// Asks every node whether it holds its partitions up to the stream's end.
async fn caught_up(ports: &[u16]) -> bool {
    for &port in ports {
        let ok = async {
            let mut s = tokio::net::TcpStream::connect(("127.0.0.1", port))
                .await
                .ok()?;
            use tokio::io::{AsyncReadExt, AsyncWriteExt};
            s.write_all(b"GET /healthz HTTP/1.0\r\nHost: x\r\n\r\n")
                .await
                .ok()?;
            let mut buf = Vec::new();
            s.read_to_end(&mut buf).await.ok()?;
            let text = String::from_utf8_lossy(&buf);
            let body = text.split("\r\n\r\n").nth(1)?;
            let v: serde_json::Value = serde_json::from_str(body).ok()?;
            v["caught_up"].as_bool()
        }
        .await;
        if ok != Some(true) {
            return false;
        }
    }
    true
}

fn up(g: &Global, a: &UpArgs) -> Result<ExitCode> {
    if a.nodes == 0 || a.servers == 0 {
        bail!("--nodes and --servers must be at least 1");
    }
    let root = &g.data;
    let logs = root.join("logs");
    std::fs::create_dir_all(&logs).with_context(|| format!("creating {}", logs.display()))?;
    let exe = std::env::current_exe().context("finding the credo binary")?;
    let mut children = Children(Vec::new());
    let client_ports: Vec<u16> = (0..a.servers as u16).map(|i| a.port + i).collect();
    let route_ports: Vec<u16> = (0..a.servers as u16).map(|i| a.port + 10 + i).collect();
    let node_ports: Vec<u16> = (0..a.nodes as u16).map(|i| a.port + 20 + i).collect();
    let flow_ports: Vec<u16> = (0..a.nodes as u16).map(|i| a.port + 30 + i).collect();
    let urls: Vec<String> = client_ports
        .iter()
        .map(|p| format!("nats://127.0.0.1:{p}"))
        .collect();
    let nats = urls.join(",");
    let replicas = a.servers.min(3);
    let started = Instant::now();
    for i in 0..a.servers {
        let name = format!("nats-{i}");
        let mut cmd = Command::new(&a.nats_server);
        cmd.args(["-js", "-a", "127.0.0.1", "-p"])
            .arg(client_ports[i].to_string())
            .arg("-sd")
            .arg(root.join("nats").join(&name))
            .args(["--server_name", &name]);
        if a.servers > 1 {
            let routes: Vec<String> = route_ports
                .iter()
                .map(|p| format!("nats://127.0.0.1:{p}"))
                .collect();
            cmd.args(["--cluster_name", "credo", "--cluster"])
                .arg(format!("nats://127.0.0.1:{}", route_ports[i]))
                .arg("--routes")
                .arg(routes.join(","));
        }
        let child = cmd
            .stdout(Stdio::null())
            .stderr(log_file(&logs, &name)?)
            .spawn()
            .with_context(|| {
                format!(
                    "starting `{}` (NATS 2.10 or later: `pip install -r tests/cluster/nats-requirements.txt`, then --nats-server or CREDO_NATS_SERVER)",
                    a.nats_server
                )
            })?;
        children.0.push((name.clone(), child));
        let last = children.0.len() - 1;
        wait_port(client_ports[i], &name, &mut children.0[last].1)?;
    }
    let as_of = g
        .as_of
        .or_else(|| a.people.map(|_| credo_sim::Config::default().end));
    for i in 0..a.nodes {
        let name = format!("n{i}");
        let mut cmd = Command::new(&exe);
        cmd.arg("--data")
            .arg(root.join("nodes").join(&name))
            .args(["node", "--name", &name, "--nats", &nats])
            .arg("--replicas")
            .arg(replicas.to_string())
            .arg("--partitions")
            .arg(a.partitions.to_string())
            .arg("--listen")
            .arg(format!("127.0.0.1:{}", node_ports[i]))
            .arg("--flow-listen")
            .arg(format!("127.0.0.1:{}", flow_ports[i]));
        if let Some(d) = as_of {
            cmd.arg("--as-of").arg(d.to_string());
        }
        if let Some(m) = &g.model {
            cmd.arg("--model").arg(m);
        }
        let child = cmd
            .stdout(Stdio::null())
            .stderr(log_file(&logs, &name)?)
            .spawn()
            .context("starting a credo node")?;
        children.0.push((name.clone(), child));
    }
    for (i, &port) in node_ports.iter().enumerate() {
        let (name, child) = &mut children.0[a.servers + i];
        let name = name.clone();
        wait_port(port, &name, child)?;
    }
    let rt = runtime()?;
    let mut loaded = None;
    let tokens = rt.block_on(async {
        let bus = connect(&nats, replicas, a.partitions).await?;
        let mut tokens = Vec::new();
        for (role, party) in [
            (credo_access::Role::Admin, "ops"),
            (credo_access::Role::RelyingParty, "rail-1"),
            (credo_access::Role::Furnisher, "demo-bank"),
        ] {
            let (key, token) = credo_server::api::new_key(role, Some(party.into()), None)
                .map_err(|e| anyhow::anyhow!(e.message))?;
            credo_node::keys::create(&bus, &key).await?;
            tokens.push(json!({"role": role.name(), "party": party, "token": token}));
        }
        if let Some(people) = a.people {
            let t = Instant::now();
            let pop = credo_sim::generate_in_memory(people, a.seed)?;
            let generated_s = t.elapsed().as_secs_f64();
            let t = Instant::now();
            let mut lines = 0;
            for part in [&pop.subjects, &pop.events, &pop.contacts] {
                lines += bus.publish(part).await?.lines;
            }
            let published_s = t.elapsed().as_secs_f64();
            while !caught_up(&node_ports).await {
                if t.elapsed() > Duration::from_secs(600) {
                    bail!("the nodes did not catch up within 10 minutes");
                }
                tokio::time::sleep(Duration::from_millis(200)).await;
            }
            let applied_s = t.elapsed().as_secs_f64();
            // The relationships term across the nodes, as a single machine computes it
            // after an ingest.
            let t = Instant::now();
            let mut tries = 0;
            let reports = loop {
                let (round, names) = credo_node::flow::request(&bus).await?;
                match credo_node::flow::wait(&bus, round, &names, Duration::from_secs(300)).await
                {
                    // A node was moving partitions (one found silent under load and back):
                    // once every node holds its own again, ask again.
                    Err(e @ credo_node::NodeError::FlowIncomplete { .. }) if tries < 5 => {
                        tries += 1;
                        eprintln!("{e}");
                        while !caught_up(&node_ports).await {
                            tokio::time::sleep(Duration::from_millis(200)).await;
                        }
                    }
                    r => break r?,
                }
            };
            loaded = Some(json!({
                "people": people,
                "lines": lines,
                "generated_s": generated_s,
                "published_s": published_s,
                "applied_s": applied_s,
                "propagation": {
                    "seconds": t.elapsed().as_secs_f64(),
                    "iterations": reports.first().map(|r| r["iterations"].clone()),
                    "converged": reports.iter().all(|r| r["converged"] == true),
                    "records": reports.iter().filter_map(|r| r["records_sent"].as_u64()).sum::<u64>(),
                    "changes": reports.iter().filter_map(|r| r["changes"].as_u64()).sum::<u64>(),
                },
            }));
        }
        Ok::<_, anyhow::Error>(tokens)
    })?;
    let nodes: Vec<_> = (0..a.nodes)
        .map(|i| {
            json!({
                "name": format!("n{i}"),
                "url": format!("http://127.0.0.1:{}", node_ports[i]),
                "pid": children.0[a.servers + i].1.id(),
            })
        })
        .collect();
    let servers: Vec<_> = (0..a.servers)
        .map(|i| json!({"url": urls[i], "pid": children.0[i].1.id()}))
        .collect();
    let out = json!({
        "nats": nats,
        "servers": servers,
        "nodes": nodes,
        "keys": tokens,
        "loaded": loaded,
        "started_s": started.elapsed().as_secs_f64(),
        "logs": logs.display().to_string(),
    });
    if g.json {
        println!("{out}");
    } else {
        println!(
            "NATS ({} servers, stream replicas {replicas}): {nats}",
            a.servers
        );
        for n in &nodes {
            println!(
                "node {}: {} (pid {})",
                n["name"].as_str().unwrap_or_default(),
                n["url"].as_str().unwrap_or_default(),
                n["pid"]
            );
        }
        if let Some(l) = &loaded {
            println!(
                "loaded {} people ({} lines, generated in {:.1} s): published in {:.1} s, applied by every node in {:.1} s",
                l["people"],
                l["lines"],
                l["generated_s"].as_f64().unwrap_or_default(),
                l["published_s"].as_f64().unwrap_or_default(),
                l["applied_s"].as_f64().unwrap_or_default()
            );
            let p = &l["propagation"];
            println!(
                "relationships propagated across the nodes in {:.2} s: {} sweeps, {} records exchanged, converged: {}",
                p["seconds"].as_f64().unwrap_or_default(),
                p["iterations"],
                p["records"],
                p["converged"]
            );
        }
        for k in &tokens {
            println!(
                "key for {} {}: {}",
                k["role"].as_str().unwrap_or_default(),
                k["party"].as_str().unwrap_or_default(),
                k["token"].as_str().unwrap_or_default()
            );
        }
        println!("logs in {}", logs.display());
    }
    if a.no_serve {
        return Ok(ExitCode::SUCCESS);
    }
    eprintln!("running (Ctrl-C stops every process)");
    rt.block_on(async {
        let _ = tokio::signal::ctrl_c().await;
    });
    Ok(ExitCode::SUCCESS)
}

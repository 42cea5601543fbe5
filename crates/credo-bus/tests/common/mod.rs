//! Real NATS servers for the bus tests: Debian's `nats-server` (or `$CREDO_NATS_SERVER`),
//! with JetStream, on free ports of 127.0.0.1, killed when dropped.
#![allow(dead_code, clippy::unwrap_used, clippy::expect_used)]

use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

fn binary() -> String {
    let bin = std::env::var("CREDO_NATS_SERVER").unwrap_or_else(|_| "nats-server".into());
    // `nats-server: v2.15.1`: 2.10 or later (2.9's key-value replies do not parse).
    let version = Command::new(&bin)
        .arg("--version")
        .output()
        .map(|o| String::from_utf8_lossy(&o.stdout).to_string())
        .unwrap_or_default();
    let minor = version
        .trim()
        .strip_prefix("nats-server: v2.")
        .and_then(|v| v.split('.').next())
        .and_then(|m| m.parse::<u32>().ok());
    assert!(
        minor.is_some_and(|m| m >= 10),
        "`{bin} --version` says {version:?}: the bus tests need a NATS server 2.10 or later \
         (`pip install -r tests/cluster/nats-requirements.txt`, then set CREDO_NATS_SERVER \
         to its `nats-server`)"
    );
    bin
}

pub struct Server {
    pub name: String,
    pub port: u16,
    args: Vec<String>,
    child: Option<Child>,
}

impl Server {
    pub fn url(&self) -> String {
        format!("nats://127.0.0.1:{}", self.port)
    }

    /// SIGKILL: no goodbye to the cluster, nothing flushed.
    pub fn kill(&mut self) {
        if let Some(mut c) = self.child.take() {
            let _ = c.kill();
            let _ = c.wait();
        }
    }

    pub fn start(&mut self) {
        assert!(self.child.is_none());
        let child = Command::new(binary())
            .args(&self.args)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap_or_else(|e| {
                panic!(
                    "cannot start `{}` ({e}): the bus tests need a NATS server 2.10 or \
                     later (`pip install -r tests/cluster/nats-requirements.txt`, then set \
                     CREDO_NATS_SERVER to its `nats-server`)",
                    binary()
                )
            });
        self.child = Some(child);
        let t = Instant::now();
        while std::net::TcpStream::connect(("127.0.0.1", self.port)).is_err() {
            assert!(
                t.elapsed() < Duration::from_secs(10),
                "{} did not start",
                self.name
            );
            std::thread::sleep(Duration::from_millis(50));
        }
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        self.kill();
    }
}

pub struct Cluster {
    pub servers: Vec<Server>,
    _dir: tempfile::TempDir,
}

impl Cluster {
    /// `n` servers; with more than one they form a JetStream cluster.
    pub fn start(n: usize) -> Cluster {
        let dir = tempfile::tempdir().unwrap();
        let ports: Vec<(u16, u16)> = (0..n).map(|_| (free_port(), free_port())).collect();
        let mut servers = Vec::new();
        for (i, &(port, cport)) in ports.iter().enumerate() {
            let name = format!("s{i}");
            let mut args: Vec<String> = vec![
                "-js".into(),
                "-a".into(),
                "127.0.0.1".into(),
                "-p".into(),
                port.to_string(),
                "-sd".into(),
                dir.path().join(&name).display().to_string(),
                "--server_name".into(),
                name.clone(),
            ];
            if n > 1 {
                let routes: Vec<String> = ports
                    .iter()
                    .map(|&(_, c)| format!("nats://127.0.0.1:{c}"))
                    .collect();
                args.extend([
                    "--cluster_name".into(),
                    "credo".into(),
                    "--cluster".into(),
                    format!("nats://127.0.0.1:{cport}"),
                    "--routes".into(),
                    routes.join(","),
                ]);
            }
            let mut s = Server {
                name,
                port,
                args,
                child: None,
            };
            s.start();
            servers.push(s);
        }
        Cluster { servers, _dir: dir }
    }

    /// Every server's URL, comma-separated (a client moves to another when one dies).
    pub fn urls(&self) -> String {
        self.servers
            .iter()
            .map(Server::url)
            .collect::<Vec<_>>()
            .join(",")
    }
}

/// A generated population as JSON lines: subjects, then events, then contacts.
pub fn population(people: usize, seed: u64) -> Vec<u8> {
    let g = credo_sim::generate_in_memory(people, seed).unwrap();
    [g.subjects, g.events, g.contacts].concat()
}

//! The PostgreSQL peer for `credo bench ingest --peer postgres`: a throw-away server on
//! 127.0.0.1 (Debian's `postgresql` package), the same events loaded with `COPY`, deduped
//! by `(source, id)`, and the same kind of features computed in SQL.

use anyhow::{Context, Result, bail};
use serde_json::json;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Instant;

pub struct PeerResult {
    pub events: u64,
    pub events_per_s: f64,
    pub steps: String,
    pub version: String,
    step_secs: Vec<(&'static str, f64)>,
}

impl PeerResult {
    pub fn json(&self) -> serde_json::Value {
        json!({
            "name": "postgresql",
            "version": self.version,
            "events": self.events,
            "events_per_s": self.events_per_s.round(),
            "steps": self.steps,
            "seconds": self.step_secs.iter().map(|(k, v)| (k.to_string(), json!((v * 100.0).round() / 100.0))).collect::<serde_json::Map<_, _>>(),
        })
    }
}

fn bin_dir() -> Result<PathBuf> {
    let mut found: Vec<PathBuf> = std::fs::read_dir("/usr/lib/postgresql")
        .context("PostgreSQL is not installed (apt-get install -y postgresql)")?
        .filter_map(|e| e.ok().map(|e| e.path().join("bin")))
        .filter(|p| p.join("initdb").exists())
        .collect();
    found.sort();
    found
        .pop()
        .context("no initdb under /usr/lib/postgresql/*/bin")
}

fn is_root() -> bool {
    std::env::var("USER").map(|u| u == "root").unwrap_or(false)
        || Command::new("id")
            .arg("-u")
            .output()
            .map(|o| o.stdout.starts_with(b"0"))
            .unwrap_or(false)
}

/// Runs a PostgreSQL binary, as the `postgres` user when we are root (initdb refuses root).
fn pg(bin: &Path, args: &[&str]) -> Result<String> {
    let out = if is_root() {
        Command::new("runuser")
            .args(["-u", "postgres", "--"])
            .arg(bin)
            .args(args)
            .output()
    } else {
        Command::new(bin).args(args).output()
    }
    .with_context(|| format!("running {}", bin.display()))?;
    if !out.status.success() {
        bail!(
            "{} {:?} failed: {}",
            bin.display(),
            args,
            String::from_utf8_lossy(&out.stderr)
        );
    }
    Ok(String::from_utf8_lossy(&out.stdout).to_string())
}

const FEATURES_SQL: &str = r#"
CREATE TABLE features AS
SELECT subject,
  count(*) FILTER (WHERE ((kind = 'bill' AND status IN ('late','unpaid')) OR (kind = 'repayment' AND days_late > 0))
                   AND at > TIMESTAMPTZ '2026-10-31' - INTERVAL '12 months') AS late_payments_12m,
  sum(CASE WHEN kind = 'default' THEN power(2.0::float8, -extract(epoch FROM TIMESTAMPTZ '2026-10-31' - at)::float8 / 86400 / 365) ELSE 0 END) AS defaults_decayed,
  sum(CASE WHEN (kind = 'bill' AND status = 'paid') OR (kind = 'repayment' AND days_late = 0)
      THEN power(2.0::float8, -extract(epoch FROM TIMESTAMPTZ '2026-10-31' - at)::float8 / 86400 / 180) ELSE 0 END) AS ontime_decayed,
  sum(CASE WHEN (kind = 'bill' AND status IN ('late','unpaid')) OR (kind = 'repayment' AND days_late > 0)
      THEN power(2.0::float8, -extract(epoch FROM TIMESTAMPTZ '2026-10-31' - at)::float8 / 86400 / 180) ELSE 0 END) AS late_decayed,
  sum(CASE WHEN kind IN ('payment','repayment') OR (kind = 'bill' AND status = 'paid')
      THEN amount::float8 * power(2.0::float8, -extract(epoch FROM TIMESTAMPTZ '2026-10-31' - at)::float8 / 86400 / 90) ELSE 0 END) AS payment_volume,
  sum(CASE WHEN kind = 'violation' THEN points::float8 * power(2.0::float8, -extract(epoch FROM TIMESTAMPTZ '2026-10-31' - at)::float8 / 86400 / 365) ELSE 0 END) AS violation_points,
  sum(CASE WHEN kind = 'loan' THEN amount WHEN kind = 'repayment' THEN -amount ELSE 0 END) AS loan_balance,
  min(at) AS first_event
FROM events GROUP BY subject;
CREATE TABLE judgments AS
SELECT subject, count(*) AS open_cases, sum(remaining) AS unpaid
FROM (SELECT subject, "case", sum(CASE WHEN kind = 'judgment' THEN amount ELSE -amount END) AS remaining
      FROM events WHERE kind IN ('judgment','performance') GROUP BY subject, "case") c
WHERE remaining > 0 GROUP BY subject;
"#;

pub fn run(pop: &Path, dir: &Path, verbose: bool) -> Result<PeerResult> {
    let bin = bin_dir()?;
    let _ = std::fs::remove_dir_all(dir);
    std::fs::create_dir_all(dir)?;
    let data = dir.join("data");
    let sock = dir.join("sock");
    std::fs::create_dir_all(&sock)?;
    let events = pop.join("events.jsonl").canonicalize()?;
    // The postgres user must be able to read the input and own its folders.
    if is_root() {
        Command::new("chown")
            .args(["-R", "postgres:postgres"])
            .arg(dir)
            .status()?;
        Command::new("chmod")
            .args(["-R", "a+rX"])
            .arg(pop)
            .status()?;
        let mut p = events.parent();
        while let Some(d) = p {
            let _ = Command::new("chmod").arg("a+x").arg(d).status();
            p = d.parent();
        }
    }
    let data_s = data.display().to_string();
    let sock_s = sock.display().to_string();
    pg(
        &bin.join("initdb"),
        &["-D", &data_s, "-A", "trust", "-U", "credo", "--no-sync"],
    )
    .context("initdb")?;
    let port = "54329";
    let opts = format!(
        "-c listen_addresses=127.0.0.1 -p {port} -k {sock_s} -c shared_buffers=1GB -c max_wal_size=8GB -c fsync=on -c synchronous_commit=on"
    );
    pg(
        &bin.join("pg_ctl"),
        &[
            "-D",
            &data_s,
            "-o",
            &opts,
            "-w",
            "-l",
            &format!("{}/pg.log", dir.display()),
            "start",
        ],
    )
    .context("starting postgres")?;
    let result = (|| -> Result<PeerResult> {
        let psql = |sql: &str| -> Result<String> {
            pg(
                &bin.join("psql"),
                &[
                    "-h",
                    &sock_s,
                    "-p",
                    port,
                    "-U",
                    "credo",
                    "-d",
                    "postgres",
                    "-v",
                    "ON_ERROR_STOP=1",
                    "-qAt",
                    "-c",
                    sql,
                ],
            )
        };
        let version = psql("SHOW server_version")?.trim().to_string();
        psql("CREATE UNLOGGED TABLE raw (j jsonb)")?;
        psql(
            "CREATE TABLE events (source text NOT NULL, id text NOT NULL, subject text NOT NULL, at timestamptz NOT NULL, \
             kind text NOT NULL, amount numeric, status text, days_late int, \"case\" text, points int, PRIMARY KEY (source, id))",
        )?;
        let mut steps = Vec::new();
        let t = Instant::now();
        // CSV with quote and delimiter bytes that never occur in JSON lines: each line is one jsonb value.
        psql(&format!(
            "COPY raw (j) FROM '{}' WITH (FORMAT csv, QUOTE e'\\x01', DELIMITER e'\\x02')",
            events.display()
        ))?;
        steps.push(("copy", t.elapsed().as_secs_f64()));
        let t = Instant::now();
        psql(
            "INSERT INTO events SELECT coalesce(j->>'source',''), j->>'id', j->>'subject', (j->>'at')::timestamptz, j->>'kind', \
             (j->>'amount')::numeric, j->>'status', (j->>'days_late')::int, j->>'case', (j->>'points')::int FROM raw \
             ON CONFLICT (source, id) DO NOTHING",
        )?;
        steps.push(("insert_dedupe", t.elapsed().as_secs_f64()));
        let t = Instant::now();
        psql(FEATURES_SQL)?;
        steps.push(("features", t.elapsed().as_secs_f64()));
        let n: u64 = psql("SELECT count(*) FROM events")?
            .trim()
            .parse()
            .context("counting events")?;
        let total: f64 = steps.iter().map(|s| s.1).sum();
        if verbose {
            eprintln!("postgres {version}: {n} events, {steps:?}");
        }
        Ok(PeerResult {
            events: n,
            events_per_s: n as f64 / total,
            steps: steps
                .iter()
                .map(|(k, v)| format!("{k} {v:.1} s"))
                .collect::<Vec<_>>()
                .join(", "),
            version,
            step_secs: steps,
        })
    })();
    let _ = pg(&bin.join("pg_ctl"), &["-D", &data_s, "-m", "fast", "stop"]);
    result
}

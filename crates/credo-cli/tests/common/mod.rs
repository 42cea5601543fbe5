//! Helpers shared by the CLI's process tests.
#![allow(dead_code, clippy::unwrap_used, clippy::expect_used)]

use std::path::Path;
use std::process::Command;

pub fn credo(data: &Path) -> Command {
    let mut c = Command::new(env!("CARGO_BIN_EXE_credo"));
    c.arg("--data").arg(data);
    c
}

pub fn json(out: std::process::Output) -> serde_json::Value {
    assert!(
        out.status.success(),
        "credo failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_slice(&out.stdout).unwrap()
}

/// One HTTP/1.1 request over a fresh connection (`Connection: close`): the status and
/// body, or `None` when the connection failed or closed before a whole response.
pub fn http(port: u16, method: &str, path: &str, token: &str, body: &str) -> Option<(u16, String)> {
    http_with(port, method, path, token, body, &[])
}

/// [`http`] with more headers.
pub fn http_with(
    port: u16,
    method: &str,
    path: &str,
    token: &str,
    body: &str,
    headers: &[(&str, &str)],
) -> Option<(u16, String)> {
    use std::io::{Read, Write};
    let extra: String = headers
        .iter()
        .map(|(k, v)| format!("{k}: {v}\r\n"))
        .collect();
    let mut s = std::net::TcpStream::connect(("127.0.0.1", port)).ok()?;
    s.set_read_timeout(Some(std::time::Duration::from_secs(20)))
        .ok()?;
    let req = format!(
        "{method} {path} HTTP/1.1\r\nHost: 127.0.0.1\r\nAuthorization: Bearer {token}\r\nContent-Type: application/x-ndjson\r\n{extra}Content-Length: {}\r\nConnection: close\r\n\r\n{body}",
        body.len()
    );
    s.write_all(req.as_bytes()).ok()?;
    let mut out = String::new();
    s.read_to_string(&mut out).ok()?;
    let status: u16 = out.split(' ').nth(1)?.parse().ok()?;
    let (_, body) = out.split_once("\r\n\r\n")?;
    Some((status, body.to_string()))
}

pub fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// A key made with `credo key create` on a data folder; its token.
pub fn key(data: &Path, role: &str, party: &str) -> String {
    json(
        credo(data)
            .args(["key", "create", "--json", "--role", role, "--party", party])
            .output()
            .unwrap(),
    )["token"]
        .as_str()
        .unwrap()
        .to_string()
}

/// `credo generate --people N --seed S --out DIR`.
pub fn generate(people: u32, seed: u64, out: &Path) {
    succeeded(
        Command::new(env!("CARGO_BIN_EXE_credo"))
            .args([
                "generate",
                "--people",
                &people.to_string(),
                "--seed",
                &seed.to_string(),
                "--out",
            ])
            .arg(out)
            .output()
            .unwrap(),
    );
}

/// `out`, after checking that its command succeeded (else its standard error).
pub fn succeeded(out: std::process::Output) -> std::process::Output {
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    out
}

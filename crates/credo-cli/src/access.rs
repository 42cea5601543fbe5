//! `credo key`, `credo audit`, `credo report`: the access side from the command line.
//! Whoever runs these holds the data folder, so they act as the admin (`admin:cli` in the
//! audit log).

use crate::cmd::{Global, parse_subject};
use anyhow::{Result, bail};
use credo_access::{AccessOp, Role};
use credo_engine::Clock;
use credo_engine::access::Pending;
use serde_json::json;
use std::process::ExitCode;

fn as_admin(op: AccessOp) -> Pending {
    Pending {
        at: Clock::now(),
        actor: "admin:cli".into(),
        key: None,
        op,
        inquiry: None,
    }
}

pub fn key_create(
    g: &Global,
    role: &str,
    party: Option<String>,
    subject: Option<&str>,
) -> Result<ExitCode> {
    let role = match Role::parse(role) {
        Ok(r) => r,
        Err(e) => {
            eprintln!("error: {e}");
            return Ok(ExitCode::from(2));
        }
    };
    let subject = match subject.map(parse_subject).transpose() {
        Ok(s) => s,
        Err(code) => return Ok(code),
    };
    let (key, token) = match credo_server::api::new_key(role, party, subject) {
        Ok(k) => k,
        Err(e) => {
            eprintln!("error: {}", e.message);
            return Ok(ExitCode::from(2));
        }
    };
    let mut engine = g.open()?;
    let (id, party) = (key.id.clone(), key.party.clone());
    engine.log_access(vec![as_admin(AccessOp::KeyCreate(key))])?;
    if g.json {
        println!(
            "{}",
            json!({"id": id, "role": role.name(), "party": party, "token": token})
        );
    } else {
        println!("key {id} for {} {party}:\n{token}", role.name());
        eprintln!("(the token is shown once; credo keeps only its SHA-256)");
    }
    Ok(ExitCode::SUCCESS)
}

/// Keys for trying the API after `credo demo`: one per role that has routes, the subject's
/// for the first person in the folder. Made anew for each serving demo run.
pub fn demo_keys(engine: &mut credo_engine::Engine) -> Result<Vec<(Role, String, String)>> {
    let person = (0..engine.subject_count())
        .filter_map(|i| engine.subject_at(i))
        .find(|s| !s.is_company());
    let mut wanted = vec![
        (Role::Admin, Some("ops".to_string()), None),
        (Role::Court, Some("court-1".to_string()), None),
        (Role::Furnisher, Some("demo-bank".to_string()), None),
        (Role::RelyingParty, Some("rail-1".to_string()), None),
    ];
    if let Some(p) = person {
        wanted.push((Role::Subject, None, Some(p)));
    }
    let mut out = Vec::new();
    let mut pending = Vec::new();
    for (role, party, subject) in wanted {
        let (key, token) = credo_server::api::new_key(role, party, subject)
            .map_err(|e| anyhow::anyhow!(e.message))?;
        out.push((role, key.party.clone(), token));
        pending.push(Pending {
            actor: "admin:demo".into(),
            ..as_admin(AccessOp::KeyCreate(key))
        });
    }
    engine.log_access(pending)?;
    Ok(out)
}

pub fn key_list(g: &Global) -> Result<ExitCode> {
    let engine = g.open()?;
    let keys: Vec<_> = engine.access().keys.iter().collect();
    if g.json {
        let v: Vec<_> = keys
            .iter()
            .map(|k| credo_server::body::key_json(k))
            .collect();
        println!("{}", serde_json::to_string_pretty(&json!({ "keys": v }))?);
    } else {
        for k in keys {
            println!(
                "{}  {:<14} {:<24} created {}{}",
                k.id,
                k.role.name(),
                k.party,
                k.created,
                k.revoked
                    .map(|t| format!(", revoked {t}"))
                    .unwrap_or_default()
            );
        }
    }
    Ok(ExitCode::SUCCESS)
}

pub fn key_revoke(g: &Global, id: &str) -> Result<ExitCode> {
    let mut engine = g.open()?;
    match engine.log_access(vec![as_admin(AccessOp::KeyRevoke { id: id.into() })]) {
        Ok(_) => {
            println!("key {id} revoked");
            Ok(ExitCode::SUCCESS)
        }
        Err(credo_engine::EngineError::Access(e)) => {
            eprintln!("error: {e}");
            Ok(ExitCode::from(2))
        }
        Err(e) => Err(e.into()),
    }
}

pub fn audit_verify(g: &Global) -> Result<ExitCode> {
    // Read-only, and without the folder's lock: it can run beside a server.
    let v = credo_engine::access::verify_audit(&g.data)?;
    if g.json {
        println!(
            "{}",
            serde_json::to_string_pretty(&credo_server::body::audit_verify_json(&v))?
        );
    } else {
        match &v.result {
            Ok(()) => println!(
                "audit log intact: {} entries, last hash {}{}",
                v.entries,
                credo_engine::access::hex(&v.last_hash),
                v.head
                    .map(|(s, _)| format!(", head at entry {s}"))
                    .unwrap_or_else(|| ", no head recorded".into())
            ),
            Err(e) => println!("AUDIT LOG BROKEN: {e}"),
        }
        if v.torn_tail_bytes > 0 {
            println!(
                "({} bytes of an unacknowledged last batch follow; the next open truncates them)",
                v.torn_tail_bytes
            );
        }
    }
    Ok(if v.result.is_ok() {
        ExitCode::SUCCESS
    } else {
        ExitCode::from(1)
    })
}

pub fn audit_log(g: &Global) -> Result<ExitCode> {
    let entries = credo_engine::access::read_audit(&g.data)?;
    for e in entries {
        println!("{}", credo_server::body::audit_entry_json(&e));
    }
    Ok(ExitCode::SUCCESS)
}

pub fn report(g: &Global, id: &str) -> Result<ExitCode> {
    let sid = match parse_subject(id) {
        Ok(s) => s,
        Err(code) => return Ok(code),
    };
    let engine = g.open()?;
    let r = credo_server::body::report_json(&engine, sid)?;
    if r["data"].as_array().is_none_or(|d| d.is_empty()) {
        bail!("no data is held about {sid}");
    }
    if g.json {
        println!("{}", serde_json::to_string_pretty(&r)?);
    } else {
        println!(
            "self-access report for {sid}, as of {}",
            r["as_of"].as_str().unwrap_or("?")
        );
        if let Some(s) = r["score"].as_object() {
            println!(
                "score {} ({})",
                s["score"],
                s["tier"].as_str().unwrap_or("?")
            );
        }
        println!(
            "data held: {} entries from {}",
            r["data"].as_array().map_or(0, Vec::len),
            r["sources"]
        );
        println!("recipients in the last 12 months: {}", r["recipients"]);
        for q in r["inquiries"].as_array().into_iter().flatten() {
            println!(
                "  {} {} asked {} → {}",
                q["at"].as_str().unwrap_or(""),
                q["party"].as_str().unwrap_or(""),
                q["what"].as_str().unwrap_or(""),
                q["answer"].as_str().unwrap_or("")
            );
        }
        println!("consents: {}", r["consents"].as_array().map_or(0, Vec::len));
        for d in r["disputes"].as_array().into_iter().flatten() {
            println!(
                "  dispute {}: {}/{} {}",
                d["id"],
                d["source"].as_str().unwrap_or(""),
                d["event"].as_str().unwrap_or(""),
                d["status"].as_str().unwrap_or("")
            );
        }
        println!("(use --json for every entry)");
    }
    Ok(ExitCode::SUCCESS)
}

/// `credo fsck`: every file of the data folder checked offline (read-only, without the
/// lock); exit 1 when anything is damaged.
pub fn fsck(g: &Global) -> Result<ExitCode> {
    let model = g.load_model()?;
    let r = credo_engine::fsck::fsck(&g.data, (model.min, model.max))?;
    if g.json {
        let files: Vec<serde_json::Value> = r
            .files
            .iter()
            .map(|f| {
                serde_json::json!({
                    "path": f.path,
                    "ok": f.ok(),
                    "records": f.records,
                    "damage": f.damage.iter().map(|d| serde_json::json!({"from": d.from, "to": d.to, "problem": d.problem})).collect::<Vec<_>>(),
                    "torn_tail": f.torn_tail.map(|(at, bytes)| serde_json::json!({"at": at, "bytes": bytes})),
                    "problems": f.problems,
                })
            })
            .collect();
        println!(
            "{}",
            serde_json::to_string_pretty(&serde_json::json!({"ok": r.ok(), "files": files}))?
        );
    } else {
        for f in &r.files {
            let status = if f.ok() { "ok" } else { "DAMAGED" };
            match f.records {
                Some(n) => println!("{status:<8} {} ({n} records)", f.path),
                None => println!("{status:<8} {}", f.path),
            }
            for d in &f.damage {
                println!(
                    "         bytes {}–{} ({} bytes): {}; valid data follows",
                    d.from,
                    d.to,
                    d.to - d.from,
                    d.problem
                );
            }
            if let Some((at, bytes)) = f.torn_tail {
                println!(
                    "         a torn last batch of {bytes} bytes at byte {at} (a crash during a write, never acknowledged): the next open truncates it"
                );
            }
            for p in &f.problems {
                println!("         {p}");
            }
        }
        if r.ok() {
            println!("{} files checked: no damage.", r.files.len());
        } else {
            println!(
                "Damage found: credo refuses to open this folder rather than serve wrong data. Restore the damaged files from a backup; the byte ranges above say where."
            );
        }
    }
    Ok(if r.ok() {
        ExitCode::SUCCESS
    } else {
        ExitCode::from(1)
    })
}

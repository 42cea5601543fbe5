#![allow(clippy::unwrap_used, clippy::expect_used)]
//! The `credo` binary as a user meets it: snapshots of its answers on a small
//! deterministic population, its errors, and its exit codes.

use std::path::Path;
use std::process::{Command, Output};

fn credo(data: &Path, args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_credo"))
        .arg("--data")
        .arg(data)
        .args(args)
        .output()
        .unwrap()
}

fn text(o: &Output) -> String {
    String::from_utf8_lossy(&o.stdout).to_string()
}

fn setup() -> (tempfile::TempDir, String) {
    let dir = tempfile::tempdir().unwrap();
    let pop = dir.path().join("pop");
    let data = dir.path().join("data");
    let o = Command::new(env!("CARGO_BIN_EXE_credo"))
        .args(["generate", "--people", "300", "--seed", "11", "--out"])
        .arg(&pop)
        .output()
        .unwrap();
    assert!(o.status.success());
    let files: Vec<String> = ["subjects.jsonl", "contacts.jsonl", "events.jsonl"]
        .iter()
        .map(|f| pop.join(f).display().to_string())
        .collect();
    let mut args = vec!["ingest", "--json"];
    args.extend(files.iter().map(String::as_str));
    let o = credo(&data, &args);
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let report: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    assert_eq!(report["rejected"], 0);
    // The first subject with an unpaid judgment, or else the first subject.
    let subjects = std::fs::read_to_string(pop.join("subjects.jsonl")).unwrap();
    let first: serde_json::Value = serde_json::from_str(subjects.lines().next().unwrap()).unwrap();
    (dir, first["id"].as_str().unwrap().to_string())
}

#[test]
fn score_json_and_text() {
    let (dir, id) = setup();
    let data = dir.path().join("data");
    let o = credo(&data, &["score", &id, "--json", "--as-of", "2026-10-31"]);
    assert!(o.status.success());
    let v: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    assert_eq!(v["dimensions"].as_object().unwrap().len(), 5);
    assert!(v["reasons"].as_array().unwrap().len() <= 4);
    let score = v["score"].as_u64().unwrap();
    assert!((350..=950).contains(&score));
    insta::assert_json_snapshot!("score_json", v);
    let o = credo(&data, &["score", &id, "--as-of", "2026-10-31"]);
    insta::assert_snapshot!("score_text", text(&o));
}

#[test]
fn errors_and_exit_codes() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let o = credo(&data, &["score", "110105194912310021"]);
    assert_eq!(o.status.code(), Some(2));
    insta::assert_snapshot!("bad_id", String::from_utf8_lossy(&o.stderr));
    let o = credo(&data, &["score", "11010519491231002X"]);
    assert_eq!(o.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&o.stderr).contains("no subject 11010519491231002X is known"));
    let o = credo(&data, &["frobnicate"]);
    assert_eq!(o.status.code(), Some(2));
    // A file with good and bad lines: the good land, the bad are listed with line numbers.
    let f = dir.path().join("mixed.jsonl");
    std::fs::write(
        &f,
        concat!(
            r#"{"id":"11010519491231002X","kind":"subject","at":"2025-01-01","name":"王芳"}"#, "\n",
            r#"{"id":"p1","subject":"11010519491231002X","at":"2025-02-01","kind":"payment","amount":10}"#, "\n",
            r#"{"id":"p2","subject":"11010519491231002X","at":"2025-02-30","kind":"payment","amount":10}"#, "\n",
            r#"{"id":"p3","subject":"11010519491231002X","at":"2025-02-01","kind":"payment","amount":-1}"#, "\n",
            "{oops\n",
        ),
    )
    .unwrap();
    let o = credo(&data, &["ingest", "--json", f.to_str().unwrap()]);
    assert!(o.status.success());
    let mut v: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    for k in ["seconds", "events_per_s"] {
        v[k] = serde_json::json!(0);
    }
    for e in v["errors"].as_array_mut().unwrap() {
        e["file"] = serde_json::json!("mixed.jsonl");
    }
    insta::assert_json_snapshot!("ingest_mixed", v);
}

#[test]
fn decisions_the_public_list_and_policy_files() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let f = dir.path().join("court.jsonl");
    std::fs::write(
        &f,
        concat!(
            r#"{"id":"11010519491231002X","kind":"subject","at":"2025-01-01","name":"王芳","address":"北京市朝阳区某街1号","phones":["13800138000"]}"#, "\n",
            r#"{"id":"j1","source":"court","subject":"11010519491231002X","at":"2025-01-10","kind":"judgment","case":"(2025)京0105执1号","court":"北京市朝阳区人民法院","amount":50000}"#, "\n",
            r#"{"id":"l1","source":"court","subject":"11010519491231002X","at":"2025-02-01","kind":"listing","case":"(2025)京0105执1号","court":"北京市朝阳区人民法院","trigger":1}"#, "\n",
        ),
    )
    .unwrap();
    assert!(
        credo(&data, &["ingest", f.to_str().unwrap()])
            .status
            .success()
    );
    let id = "11010519491231002X";
    let o = credo(
        &data,
        &["check", id, "flight", "--json", "--as-of", "2025-03-01"],
    );
    assert_eq!(o.status.code(), Some(0), "a deny is an answer");
    let v: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    insta::assert_json_snapshot!("check_flight_deny", v);
    let o = credo(
        &data,
        &["check", id, "bike.deposit_free", "--as-of", "2025-03-01"],
    );
    insta::assert_snapshot!("check_offer_text", text(&o));
    assert!(!text(&o).contains("score 3") && !text(&o).contains("score 4"));
    let o = credo(&data, &["check", id, "no_such_action"]);
    assert_eq!(o.status.code(), Some(2));

    let o = credo(
        &data,
        &[
            "list",
            "search",
            "--name",
            "王芳",
            "--province",
            "北京",
            "--json",
            "--as-of",
            "2025-03-01",
        ],
    );
    assert!(o.status.success());
    let v: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    insta::assert_json_snapshot!("list_search", v);
    let shown = text(&o);
    for secret in [id, "13800138000", "某街"] {
        assert!(!shown.contains(secret), "{secret} is not published");
    }

    // A bad policy file is refused with its line, and installs nothing.
    let bad = dir.path().join("bad.toml");
    std::fs::write(
        &bad,
        "[[offer]]\nid = \"a\"\nmin_score = 650\n\n[[offer]]\nid = \"a\"\n",
    )
    .unwrap();
    let o = credo(&data, &["policy", "install", bad.to_str().unwrap()]);
    assert_eq!(o.status.code(), Some(1));
    let err = String::from_utf8_lossy(&o.stderr).replace(bad.to_str().unwrap(), "bad.toml");
    insta::assert_snapshot!("policy_bad", err);
    let o = credo(&data, &["policy", "list", "--json"]);
    let v: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    assert_eq!(
        v["offers"].as_array().unwrap().len(),
        4,
        "the shipped offers are still in force"
    );
    // A good one replaces them.
    let good = dir.path().join("good.toml");
    std::fs::write(
        &good,
        "[[offer]]\nid = \"hotel.deposit_free\"\nmin_score = 700\n",
    )
    .unwrap();
    assert!(
        credo(&data, &["policy", "install", good.to_str().unwrap()])
            .status
            .success()
    );
    let o = credo(
        &data,
        &[
            "check",
            id,
            "hotel.deposit_free",
            "--json",
            "--as-of",
            "2025-03-01",
        ],
    );
    let v: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    assert_eq!(v["decision"], "deny");
    assert_eq!(
        credo(&data, &["check", id, "bike.deposit_free"])
            .status
            .code(),
        Some(2)
    );
}

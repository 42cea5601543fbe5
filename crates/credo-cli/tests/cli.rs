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

#[test]
fn nearby_lists_debtors_nearest_first_with_masked_ids() {
    let (dir, _) = setup();
    let data = dir.path().join("data");
    let court = dir.path().join("court.jsonl");
    let lines = [
        r#"{"id":"11010519491231002X","kind":"subject","at":"2025-01-01","name":"王芳","lat":45.0,"lon":80.0,"address":"x"}"#,
        r#"{"id":"440524188001010014","kind":"subject","at":"2025-01-01","name":"李强","lat":45.003,"lon":80.0,"address":"x"}"#,
        r#"{"id":"j1","source":"court","subject":"11010519491231002X","at":"2025-02-01","kind":"judgment","case":"K1","court":"某法院","amount":1000}"#,
        r#"{"id":"l1","source":"court","subject":"11010519491231002X","at":"2025-02-01","kind":"listing","case":"K1","court":"某法院","trigger":1,"grace_days":0}"#,
        r#"{"id":"j2","source":"court","subject":"440524188001010014","at":"2025-02-01","kind":"judgment","case":"K2","court":"某法院","amount":2000}"#,
        r#"{"id":"l2","source":"court","subject":"440524188001010014","at":"2025-02-01","kind":"listing","case":"K2","court":"某法院","trigger":1,"grace_days":0}"#,
    ];
    std::fs::write(&court, lines.join("\n") + "\n").unwrap();
    let o = credo(&data, &["ingest", court.to_str().unwrap()]);
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let o = credo(
        &data,
        &["nearby", "--lat", "45.0025", "--lon", "80.0", "--json"],
    );
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let v: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    assert_eq!(v["count"], 2);
    assert_eq!(v["level"], "low");
    let r = v["results"].as_array().unwrap();
    assert_eq!(
        (r[0]["case"].as_str(), r[1]["case"].as_str()),
        (Some("K2"), Some("K1"))
    );
    assert!(r[0]["distance_m"].as_f64() <= r[1]["distance_m"].as_f64());
    assert_eq!(r[1]["id_masked"], "1101051949****002X");
    let out = text(&o);
    assert!(
        !out.contains("11010519491231002X") && !out.contains("address"),
        "{out}"
    );
    // 200 m: only the nearer one; a bad radius is a usage error.
    let o = credo(
        &data,
        &[
            "nearby", "--lat", "45.0025", "--lon", "80.0", "--radius", "200", "--json",
        ],
    );
    let v: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    assert_eq!(v["count"], 1);
    let o = credo(
        &data,
        &["nearby", "--lat", "45", "--lon", "80", "--radius", "0"],
    );
    assert_eq!(o.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&o.stderr).contains("radius"));
    let o = credo(&data, &["nearby", "--lat", "45.0025", "--lon", "80.0"]);
    assert!(
        text(&o).contains("2 listed debtors within 500 m"),
        "{}",
        text(&o)
    );
}

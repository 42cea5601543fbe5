#![allow(clippy::unwrap_used, clippy::expect_used)]
//! `credo fit` and `credo evaluate` on germancredit and on bad input: clear errors that
//! name the column, and a scorecard that evaluates to the AUC the fit reported.

use std::path::Path;
use std::process::{Command, Output};

fn credo(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_credo"))
        .args(args)
        .output()
        .unwrap()
}

fn german() -> String {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../../data/germancredit.csv")
        .display()
        .to_string()
}

#[test]
fn germancredit_fits_and_evaluates_to_the_same_auc() {
    let data = german();
    let dir = tempfile::tempdir().unwrap();
    let card = dir.path().join("card.toml");
    let o = credo(&[
        "--json",
        "fit",
        &data,
        "--target",
        "creditability",
        "--good",
        "good",
        "--out",
        card.to_str().unwrap(),
    ]);
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let fit: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    assert_eq!(fit["rows"], 1000);
    assert_eq!(fit["bads"], 300);
    assert_eq!(fit["converged"], true);
    assert_eq!(
        fit["selected"][0]["name"],
        "status_of_existing_checking_account"
    );
    let train = fit["train_auc"].as_f64().unwrap();
    assert!(train > 0.78, "{train}");
    let o = credo(&[
        "--json",
        "evaluate",
        card.to_str().unwrap(),
        &data,
        "--target",
        "creditability",
    ]);
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let ev: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    // The file's points give back the fit's scores.
    assert!((ev["auc"].as_f64().unwrap() - train).abs() < 1e-9, "{ev}");
    let bands = ev["bands"].as_array().unwrap();
    assert_eq!(bands.len(), 10);
    let first = bands[0]["bad_rate"].as_f64().unwrap();
    let last = bands[9]["bad_rate"].as_f64().unwrap();
    assert!(first > 0.5 && last < 0.1, "{first} {last}");
}

#[test]
fn bad_input_names_the_column() {
    let dir = tempfile::tempdir().unwrap();
    let write = |name: &str, text: &str| {
        let p = dir.path().join(name);
        std::fs::write(&p, text).unwrap();
        p.display().to_string()
    };
    let rows: String = (0..40)
        .map(|i| {
            format!(
                "{i},{},{}\n",
                if i % 3 == 0 { "x" } else { "y" },
                if i % 4 == 0 { "bad" } else { "good" }
            )
        })
        .collect();
    let ok = write("ok.csv", &format!("amount,kind,outcome\n{rows}"));
    let o = credo(&["fit", &ok, "--target", "result", "--good", "good"]);
    assert!(!o.status.success());
    assert!(String::from_utf8_lossy(&o.stderr).contains("no column \"result\""));
    let o = credo(&["fit", &ok, "--target", "outcome", "--good", "fine"]);
    assert!(
        String::from_utf8_lossy(&o.stderr).contains("one class only"),
        "{}",
        String::from_utf8_lossy(&o.stderr)
    );
    let mut bad_rows = format!("amount,kind,outcome\n{rows}");
    bad_rows.push_str("abc,x,good\n");
    let p = write("bad.csv", &bad_rows);
    let o = credo(&["fit", &p, "--target", "outcome", "--good", "good"]);
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(
        err.contains("column \"amount\", line 42") && err.contains("not a number"),
        "{err}"
    );
    // Forced to categories, it fits.
    let o = credo(&[
        "fit",
        &p,
        "--target",
        "outcome",
        "--good",
        "good",
        "--categorical",
        "amount",
    ]);
    assert!(
        o.status.success() || String::from_utf8_lossy(&o.stderr).contains("information value"),
        "{}",
        String::from_utf8_lossy(&o.stderr)
    );
}

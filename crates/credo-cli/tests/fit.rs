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
    // The default scaling keeps every score in 350–950, and the lowest and highest the
    // card can give sit at the ends.
    let lowest = bands[0]["from"].as_f64().unwrap();
    let highest = bands[9]["to"].as_f64().unwrap();
    assert!(
        lowest >= 350.0 - 1e-6 && highest <= 950.0 + 1e-6,
        "{lowest} {highest}"
    );
    let text = std::fs::read_to_string(&card).unwrap();
    let file: toml::Table = toml::from_str(&text).unwrap();
    let (mut least, mut most) = (0.0, 0.0);
    for c in file["characteristic"].as_array().unwrap() {
        let pts: Vec<f64> = c["bin"]
            .as_array()
            .unwrap()
            .iter()
            .map(|b| b["points"].as_float().unwrap())
            .collect();
        least += pts.iter().copied().fold(f64::INFINITY, f64::min);
        most += pts.iter().copied().fold(f64::NEG_INFINITY, f64::max);
    }
    assert!(
        (least - 350.0).abs() < 1e-6 && (most - 950.0).abs() < 1e-6,
        "{least} {most}"
    );
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
    // An engine model needs the engine's features; a monitor needs the model's columns.
    let card = dir.path().join("g.toml");
    let model = dir.path().join("g-model.toml");
    let o = credo(&[
        "fit",
        &german(),
        "--target",
        "creditability",
        "--good",
        "good",
        "--out",
        card.to_str().unwrap(),
        "--engine-model",
        model.to_str().unwrap(),
    ]);
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(
        !o.status.success() && err.contains("is not a feature of model"),
        "{err}"
    );
    assert!(!card.exists() && !model.exists());
    let o = credo(&[
        "fit",
        &german(),
        "--target",
        "creditability",
        "--good",
        "good",
        "--out",
        card.to_str().unwrap(),
    ]);
    assert!(o.status.success());
    let o = credo(&["monitor", card.to_str().unwrap(), &ok, &ok]);
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(
        !o.status.success() && err.contains("has no column"),
        "{err}"
    );
    let o = credo(&[
        "fit", &ok, "--target", "outcome", "--good", "good", "--ignore", "nope",
    ]);
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(
        !o.status.success() && err.contains("no column \"nope\""),
        "{err}"
    );
    let o = credo(&[
        "fit", &ok, "--target", "outcome", "--good", "good", "--pdo", "0",
    ]);
    assert!(!o.status.success() && String::from_utf8_lossy(&o.stderr).contains("--pdo"));
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

fn json_of(o: &Output) -> serde_json::Value {
    assert!(
        o.status.success(),
        "{}{}",
        String::from_utf8_lossy(&o.stdout),
        String::from_utf8_lossy(&o.stderr)
    );
    serde_json::from_slice(&o.stdout).unwrap()
}

/// The loop inside credo: a generated population's features with their outcomes, a fit
/// on them written as an engine model, the engine scoring with it, the same AUC from the
/// scorecard and the engine model, a monitor that sees no drift against itself, and a
/// simulation whose counts add up.
#[test]
fn features_fit_engine_model_monitor_and_simulate_close_the_loop() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let d = data.to_str().unwrap();
    let p = |f: &str| dir.path().join(f).to_str().unwrap().to_string();
    let o = credo(&[
        "--data",
        d,
        "demo",
        "--people",
        "4000",
        "--seed",
        "3",
        "--no-serve",
    ]);
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));

    let f = json_of(&credo(&[
        "--data",
        d,
        "--json",
        "features",
        "--out",
        &p("f.csv"),
    ]));
    let text = std::fs::read_to_string(p("f.csv")).unwrap();
    let header: Vec<&str> = text.lines().next().unwrap().split(',').collect();
    let model = credo_score::Model::default_model();
    assert_eq!(header.len(), model.features.len() + 2);
    assert_eq!(header[0], "subject");
    assert_eq!(*header.last().unwrap(), "outcome");
    for (h, feat) in header[1..].iter().zip(&model.features) {
        assert_eq!(*h, feat.name);
    }
    assert_eq!(
        f["rows"].as_u64().unwrap() as usize,
        text.lines().count() - 1
    );

    let fit = json_of(&credo(&[
        "--json",
        "fit",
        &p("f.csv"),
        "--target",
        "outcome",
        "--good",
        "good",
        "--out",
        &p("card.toml"),
        "--engine-model",
        &p("model.toml"),
    ]));
    assert_eq!(fit["skipped"][0]["name"], "subject");
    assert!(fit["converged"].as_bool().unwrap());
    // Every kept coefficient has the sign of its evidence.
    for c in fit["selected"].as_array().unwrap() {
        assert!(c["coef"].as_f64().unwrap() < 0.0, "{c}");
    }

    // The engine scores with the fitted model.
    let id = text.lines().nth(1).unwrap().split(',').next().unwrap();
    let s = json_of(&credo(&[
        "--data",
        d,
        "--model",
        &p("model.toml"),
        "--json",
        "score",
        id,
    ]));
    assert!(s["model"].as_str().unwrap().contains("fitted"), "{s}");
    let score = s["score"].as_u64().unwrap();
    assert!((350..=950).contains(&score));

    // The scorecard and the engine model rank alike (the engine rounds and clamps).
    let auc = |m: &str| {
        json_of(&credo(&[
            "--json",
            "evaluate",
            m,
            &p("f.csv"),
            "--target",
            "outcome",
            "--good",
            "good",
        ]))["auc"]
            .as_f64()
            .unwrap()
    };
    let (a_card, a_model) = (auc(&p("card.toml")), auc(&p("model.toml")));
    assert!((a_card - fit["train_auc"].as_f64().unwrap()).abs() < 1e-9);
    assert!((a_card - a_model).abs() < 0.01, "{a_card} vs {a_model}");
    assert!(a_model > 0.65, "{a_model}");

    // No drift against itself; drift a year earlier is measured, not invented.
    let m = json_of(&credo(&[
        "--json",
        "monitor",
        &p("model.toml"),
        &p("f.csv"),
        &p("f.csv"),
    ]));
    assert_eq!(m["score"]["psi"].as_f64().unwrap(), 0.0);
    assert_eq!(m["flag"], "stable");
    assert!(!m["characteristics"].as_array().unwrap().is_empty());

    // The fitted model against the default over the folder.
    let sim = json_of(&credo(&[
        "--data",
        d,
        "--model",
        &p("model.toml"),
        "--json",
        "simulate",
        "--chart",
        &p("chart.svg"),
    ]));
    let n = sim["subjects"].as_u64().unwrap();
    assert_eq!(n, f["rows"].as_u64().unwrap());
    let moved: u64 = sim["tiers"]["transitions"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| t["subjects"].as_u64().unwrap())
        .sum();
    assert_eq!(moved, n);
    let by_decile: u64 = sim["by_capacity_decile"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| t["subjects"].as_u64().unwrap())
        .sum();
    assert_eq!(by_decile, n);
    let svg = std::fs::read_to_string(p("chart.svg")).unwrap();
    assert!(svg.starts_with("<svg") && svg.contains("credo-default-fitted"));

    // The same model and policies change nothing.
    let same = json_of(&credo(&[
        "--data",
        d,
        "--json",
        "simulate",
        "--chart",
        &p("same.svg"),
    ]));
    assert_eq!(same["score"]["changed"], 0);
    assert_eq!(same["tiers"]["up"], 0);
    assert_eq!(same["tiers"]["down"], 0);
    for a in same["actions"].as_array().unwrap() {
        assert_eq!(a["gained"], 0);
        assert_eq!(a["lost"], 0);
    }
}

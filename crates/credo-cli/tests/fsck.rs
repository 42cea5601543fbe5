#![allow(clippy::unwrap_used, clippy::expect_used)]
//! `credo fsck` on a real folder: clean, then a flipped byte in the middle of the event
//! log (opening refuses and names the byte; fsck names the damaged range around it), then
//! a torn tail (sound: the next open truncates it).

use std::process::{Command, Output};

fn credo(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_credo"))
        .args(args)
        .output()
        .unwrap()
}

fn fsck(dir: &str) -> (bool, serde_json::Value) {
    let o = credo(&["--data", dir, "--json", "fsck"]);
    (
        o.status.success(),
        serde_json::from_slice(&o.stdout).unwrap(),
    )
}

#[test]
fn fsck_finds_damage_where_it_is_and_open_refuses_it() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("data");
    let d = dir.to_str().unwrap();
    let o = credo(&["--data", d, "demo", "--people", "3000", "--no-serve"]);
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let (ok, r) = fsck(d);
    assert!(ok, "{r}");
    let log = &r["files"][0];
    assert!(log["path"].as_str().unwrap().ends_with("events.log"));
    let clean_records = log["records"].as_u64().unwrap();
    assert!(clean_records > 10_000);

    let path = dir.join("events.log");
    let original = std::fs::read(&path).unwrap();
    let victim = original.len() / 2;
    let mut bytes = original.clone();
    bytes[victim] ^= 0x20;
    std::fs::write(&path, &bytes).unwrap();
    let o = credo(&["--data", d, "summary"]);
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(
        !o.status.success() && err.contains("is damaged at byte"),
        "{err}"
    );
    let (ok, r) = fsck(d);
    assert!(!ok);
    let log = &r["files"][0];
    assert_eq!(log["ok"], false);
    let damage = log["damage"].as_array().unwrap();
    assert_eq!(damage.len(), 1, "{log}");
    let (from, to) = (
        damage[0]["from"].as_u64().unwrap(),
        damage[0]["to"].as_u64().unwrap(),
    );
    assert!(
        from <= victim as u64 && (victim as u64) < to,
        "{from}..{to} vs {victim}"
    );
    // Only the damaged batch's records are missing; the file is unchanged.
    let left = log["records"].as_u64().unwrap();
    assert!(left < clean_records && left > clean_records / 2);
    assert_eq!(std::fs::read(&path).unwrap(), bytes);

    // A torn tail is not damage: it was never acknowledged.
    let mut torn = original.clone();
    torn.extend_from_slice(&original[16..16 + 100]);
    std::fs::write(&path, &torn).unwrap();
    let (ok, r) = fsck(d);
    assert!(ok, "{r}");
    assert_eq!(r["files"][0]["torn_tail"]["bytes"], 100);
    assert_eq!(r["files"][0]["records"].as_u64().unwrap(), clean_records);
}

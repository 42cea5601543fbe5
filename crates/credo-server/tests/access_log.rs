#![allow(clippy::unwrap_used, clippy::expect_used)]
//! A cluster partition's access operations through an access log (here in memory; on a
//! cluster, the access stream): a write is applied only when it comes back from the log,
//! and a folder that replays the log (a node taking the partition over, whole or from an
//! older state) ends with the same consents, disputes, ids, inquiries and scores.

mod common;
use axum::http::StatusCode;
use credo_access::Role;
use credo_engine::Engine;
use credo_engine::access::{Pending, pending_from_json, pending_to_json};
use credo_model::SubjectId;
use credo_server::commit::AccessLog;
use credo_server::{ApiError, AppState};
use serde_json::{Value, json};
use std::sync::{Arc, Mutex};

const A: &str = "11010519491231002X";

fn engine(dir: &std::path::Path) -> Engine {
    let text = [
        r#"{"id":"11010519491231002X","kind":"subject","at":"2025-01-01","name":"王芳"}"#,
        r#"{"id":"440524188001010014","kind":"subject","at":"2025-01-01","name":"李强"}"#,
        r#"{"id":"b-1","source":"bank-a","subject":"11010519491231002X","at":"2025-03-01","kind":"bill","ref":"x","amount":800,"status":"unpaid"}"#,
        r#"{"id":"p-1","source":"bank-a","subject":"11010519491231002X","at":"2025-04-01","kind":"payment","amount":50}"#,
    ]
    .join("\n");
    common::engine_with(dir, &format!("{text}\n"))
}

/// The same keys on every folder (a cluster's nodes get them from its bucket).
fn keys(e: &mut Engine) -> [String; 3] {
    let who: Vec<(Role, String, Option<SubjectId>)> = vec![
        (Role::Subject, A.into(), Some(A.parse().unwrap())),
        (Role::RelyingParty, "rail-1".into(), None),
        (Role::Furnisher, "bank-a".into(), None),
    ];
    let k = common::keys(e, &who);
    [k[0].1.clone(), k[1].1.clone(), k[2].1.clone()]
}

/// An access log in memory: sequence numbers start at 101 so that they cannot be
/// mistaken for a folder's own entry numbers.
#[derive(Default)]
struct MemLog {
    ops: Mutex<Vec<Vec<u8>>>,
    appended: tokio::sync::Notify,
}

const FIRST: u64 = 101;

impl AccessLog for MemLog {
    fn append(&self, ops: &[&Pending]) -> Result<Vec<u64>, ApiError> {
        let mut log = self.ops.lock().unwrap();
        let mut out = Vec::new();
        for p in ops {
            log.push(pending_to_json(p));
            out.push(FIRST + log.len() as u64 - 1);
        }
        self.appended.notify_waiters();
        Ok(out)
    }
}

impl MemLog {
    /// Operations from sequence `from` on.
    fn from(&self, from: u64) -> Vec<(u64, Pending)> {
        let log = self.ops.lock().unwrap();
        log.iter()
            .enumerate()
            .map(|(i, b)| (FIRST + i as u64, pending_from_json(b).unwrap()))
            .filter(|(s, _)| *s >= from)
            .collect()
    }
}

fn origin(s: &AppState) -> u64 {
    s.engine.read().unwrap().access().origin
}

/// What a node's follower does: applies whatever the log has past the folder's last.
async fn replay_all(s: &AppState, log: &MemLog) -> usize {
    let ops = log.from(origin(s) + 1);
    let n = ops.len();
    s.commits.replay(ops).await.unwrap();
    n
}

fn follow(s: AppState, log: Arc<MemLog>) -> tokio::task::JoinHandle<()> {
    tokio::spawn(async move {
        loop {
            let woken = log.appended.notified();
            replay_all(&s, &log).await;
            // Appends between the replay and here are caught by the timeout.
            let _ = tokio::time::timeout(std::time::Duration::from_millis(20), woken).await;
        }
    })
}

fn node(dir: &std::path::Path, log: &Arc<MemLog>) -> (AppState, axum::Router, [String; 3]) {
    let mut e = engine(dir);
    let k = keys(&mut e);
    let log: Arc<dyn AccessLog> = log.clone();
    let s = AppState::with_access_log(e, common::config(), Some(log)).unwrap();
    let app = credo_server::app(s.clone());
    (s, app, k)
}

/// Everything a subject's report and a third party see that the access log decides.
async fn view(app: &axum::Router, k: &[String; 3]) -> Value {
    let (s, mut report) =
        common::call(app, "GET", &format!("/v1/subjects/{A}/report"), &k[0], "").await;
    assert_eq!(s, StatusCode::OK, "{report}");
    report["as_of"] = Value::Null;
    let score = common::call(app, "GET", &format!("/v1/subjects/{A}/score"), &k[0], "")
        .await
        .1;
    json!({"report": report, "score": score["score"], "reasons": score["reasons"]})
}

#[tokio::test]
async fn a_write_is_applied_from_the_log_and_a_replay_elsewhere_gives_the_same_state() {
    let log = Arc::new(MemLog::default());
    let (da, db, dc) = (
        tempfile::tempdir().unwrap(),
        tempfile::tempdir().unwrap(),
        tempfile::tempdir().unwrap(),
    );
    let (sa, app, k) = node(da.path(), &log);

    // Nothing follows the log yet: a grant waits, unapplied, until its operation comes back.
    let grant = json!({"party": "rail-1", "purpose": "score", "until": "2026-06-30"}).to_string();
    let pending = {
        let (app, key, grant) = (app.clone(), k[0].clone(), grant.clone());
        tokio::spawn(async move {
            common::call(
                &app,
                "POST",
                &format!("/v1/subjects/{A}/consents"),
                &key,
                &grant,
            )
            .await
        })
    };
    while log.ops.lock().unwrap().is_empty() {
        tokio::time::sleep(std::time::Duration::from_millis(5)).await;
    }
    tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    assert!(!pending.is_finished(), "answered before the log came back");
    assert_eq!(
        sa.engine
            .read()
            .unwrap()
            .access()
            .consents
            .of(A.parse().unwrap())
            .count(),
        0
    );
    let follower = follow(sa.clone(), log.clone());
    let (s, g) = pending.await.unwrap();
    assert_eq!(s, StatusCode::CREATED, "{g}");
    assert_eq!(
        g["id"], FIRST,
        "a grant's id is its sequence in the access log"
    );

    // Reads, a revoke, a second grant, a dispute resolved by deletion (a rescore).
    let score = format!("/v1/subjects/{A}/score");
    assert_eq!(
        common::call(&app, "GET", &score, &k[1], "").await.0,
        StatusCode::OK
    );
    let (s, _) = common::call(
        &app,
        "DELETE",
        &format!("/v1/subjects/{A}/consents/{FIRST}"),
        &k[0],
        "",
    )
    .await;
    assert_eq!(s, StatusCode::OK);
    assert_eq!(
        common::call(&app, "GET", &score, &k[1], "").await.0,
        StatusCode::FORBIDDEN
    );
    let half = log.ops.lock().unwrap().len();
    let (s, g2) = common::call(
        &app,
        "POST",
        &format!("/v1/subjects/{A}/consents"),
        &k[0],
        &grant,
    )
    .await;
    assert_eq!(s, StatusCode::CREATED, "{g2}");
    let body = json!({"source": "bank-a", "event": "b-1", "reason": "never mine"}).to_string();
    let (s, d) = common::call(
        &app,
        "POST",
        &format!("/v1/subjects/{A}/disputes"),
        &k[0],
        &body,
    )
    .await;
    assert_eq!(s, StatusCode::CREATED, "{d}");
    let (s, again) = common::call(
        &app,
        "POST",
        &format!("/v1/subjects/{A}/disputes"),
        &k[0],
        &body,
    )
    .await;
    assert_eq!(
        (s, again["code"].as_str()),
        (StatusCode::CONFLICT, Some("conflict"))
    );
    let (s, r) = common::call(
        &app,
        "POST",
        &format!("/v1/disputes/{}/resolution", d["id"]),
        &k[2],
        r#"{"resolution":"deleted","note":"our error"}"#,
    )
    .await;
    assert_eq!(s, StatusCode::OK, "{r}");
    assert_eq!(
        common::call(&app, "GET", &score, &k[1], "").await.0,
        StatusCode::OK
    );
    follower.abort();
    let on_a = view(&app, &k).await;
    assert_eq!(
        on_a["report"]["consents"].as_array().unwrap().len(),
        2,
        "{on_a}"
    );
    assert_eq!(
        on_a["report"]["inquiries"].as_array().unwrap().len(),
        2,
        "{on_a}"
    );
    assert_eq!(on_a["report"]["disputes"][0]["status"], "deleted");
    let entries = sa.engine.read().unwrap().access().seq;
    let last = origin(&sa);
    assert_eq!(last, FIRST + log.ops.lock().unwrap().len() as u64 - 1);

    // A node that takes the partition over with a new folder replays the whole log.
    let (sb, app_b, kb) = node(db.path(), &log);
    assert!(replay_all(&sb, &log).await > 0);
    assert_eq!(view(&app_b, &kb).await, on_a);
    assert_eq!(origin(&sb), last);

    // One that held the partition before, up to the first revoke, catches up from there.
    let (sc, app_c, kc) = node(dc.path(), &log);
    let first_half = log.from(FIRST).into_iter().take(half).collect();
    sc.commits.replay(first_half).await.unwrap();
    assert_ne!(view(&app_c, &kc).await, on_a);
    replay_all(&sc, &log).await;
    assert_eq!(view(&app_c, &kc).await, on_a);

    // Reading the log again applies nothing twice.
    let all = log.from(FIRST);
    assert!(sa.commits.replay(all).await.unwrap().is_empty());
    assert_eq!(sa.engine.read().unwrap().access().seq, entries);
}

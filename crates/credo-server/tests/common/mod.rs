//! Helpers shared by the server's integration tests.
#![allow(dead_code, clippy::unwrap_used)]

use credo_engine::{Clock, Engine, IngestOptions};

/// A data folder whose "today" is 2026-01-01, holding `lines` (JSON lines, all accepted).
pub fn engine_with(dir: &std::path::Path, lines: &str) -> Engine {
    let (mut e, _) = Engine::open(
        dir,
        credo_score::Model::default_model(),
        Some(Clock::Fixed(
            credo_model::Day::from_ymd(2026, 1, 1).unwrap(),
        )),
    )
    .unwrap();
    let r = e
        .ingest(
            "t",
            lines.as_bytes(),
            &IngestOptions::default(),
            &mut |_| {},
        )
        .unwrap();
    assert_eq!(r.rejected, 0, "{:?}", r.errors);
    e
}

/// Server settings for tests: rate limits out of the way.
pub fn config() -> credo_server::Config {
    credo_server::Config {
        public_rate: 1e6,
        public_burst: 1e6,
    }
}

/// Keys with known tokens for these (role, party, subject), created through the audit log
/// as `credo key create` would; returns (role, token) in the same order.
pub fn keys(
    e: &mut Engine,
    who: &[(credo_access::Role, String, Option<credo_model::SubjectId>)],
) -> Vec<(credo_access::Role, String)> {
    use credo_access::key::{hash_token, token};
    use credo_access::{AccessOp, KeyRecord};
    use credo_model::Timestamp;
    let mut out = Vec::new();
    let mut pending = Vec::new();
    for (i, (role, party, subject)) in who.iter().enumerate() {
        let id = format!("{:08x}", i + 1);
        let tok = token(&id, &[i as u8 + 1; 20]);
        pending.push(credo_engine::access::Pending {
            at: Timestamp(0),
            actor: "admin:test".into(),
            key: None,
            op: AccessOp::KeyCreate(KeyRecord {
                id,
                hash: hash_token(&tok),
                role: *role,
                party: party.clone(),
                subject: *subject,
                created: Timestamp(0),
                revoked: None,
            }),
            inquiry: None,
        });
        out.push((*role, tok));
    }
    e.log_access(pending).unwrap();
    out
}

/// One request through the router, with a key if `key` is not empty; the status and the
/// JSON body (`null` if it is not JSON).
pub async fn call(
    app: &axum::Router,
    method: &str,
    uri: &str,
    key: &str,
    body: &str,
) -> (axum::http::StatusCode, serde_json::Value) {
    use http_body_util::BodyExt;
    use tower::ServiceExt;
    let mut req = axum::http::Request::builder().method(method).uri(uri);
    if !key.is_empty() {
        req = req.header("authorization", format!("Bearer {key}"));
    }
    let resp = app
        .clone()
        .oneshot(req.body(axum::body::Body::from(body.to_string())).unwrap())
        .await
        .unwrap();
    let status = resp.status();
    let bytes = resp.into_body().collect().await.unwrap().to_bytes();
    (
        status,
        serde_json::from_slice(&bytes).unwrap_or(serde_json::Value::Null),
    )
}

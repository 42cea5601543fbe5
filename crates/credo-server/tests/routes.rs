#![allow(clippy::unwrap_used, clippy::expect_used)]
use axum::body::Body;
use axum::http::{Request, StatusCode};
use credo_engine::{Clock, Engine, IngestOptions};
use http_body_util::BodyExt;
use tower::ServiceExt;

fn engine(dir: &std::path::Path) -> Engine {
    let (mut e, _) = Engine::open(
        dir,
        credo_score::Model::default_model(),
        Some(Clock::Fixed(
            credo_model::Day::from_ymd(2026, 1, 1).unwrap(),
        )),
    )
    .unwrap();
    let text = r#"{"id":"11010519491231002X","kind":"subject","at":"2025-01-01","name":"王芳"}"#;
    e.ingest("t", text.as_bytes(), &IngestOptions::default(), &mut |_| {})
        .unwrap();
    e
}

async fn get(app: axum::Router, uri: &str) -> (StatusCode, serde_json::Value) {
    let resp = app
        .oneshot(Request::get(uri).body(Body::empty()).unwrap())
        .await
        .unwrap();
    let status = resp.status();
    let bytes = resp.into_body().collect().await.unwrap().to_bytes();
    (
        status,
        serde_json::from_slice(&bytes).unwrap_or(serde_json::Value::Null),
    )
}

#[tokio::test]
async fn health_stats_and_errors() {
    let dir = tempfile::tempdir().unwrap();
    let app = credo_server::app(credo_server::AppState::new(engine(dir.path())));
    let (s, body) = get(app.clone(), "/healthz").await;
    assert_eq!(s, StatusCode::OK);
    assert_eq!(body["subjects"], 1);
    let (s, body) = get(app.clone(), "/v1/stats").await;
    assert_eq!(s, StatusCode::OK);
    assert_eq!(body["subjects"], 1);
    assert_eq!(body["tiers"].as_array().unwrap().len(), 5);
    let (s, body) = get(app, "/v1/nothing").await;
    assert_eq!(s, StatusCode::NOT_FOUND);
    assert_eq!(body["code"], "not_found");
}

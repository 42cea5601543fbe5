#![allow(clippy::unwrap_used, clippy::expect_used)]
//! The debtor map over HTTP: nearby and view through the router, a tip-off by case number
//! landing in the court's inbox, and a live session over a real WebSocket on 127.0.0.1
//! hearing `enter` as it walks up and `leave` when the debt is paid.

mod common;
use axum::http::StatusCode;
use credo_engine::IngestOptions;
use futures_util::{SinkExt, StreamExt};
use serde_json::{Value, json};
use tokio_tungstenite::tungstenite::Message;

const A: &str = "11010519491231002X";
const CASE: &str = "(2025)京0105执88号";
const HOME: (f64, f64) = (39.9087, 116.3975);

fn state(dir: &std::path::Path) -> credo_server::AppState {
    let text = [
        format!(r#"{{"id":"{A}","kind":"subject","at":"2025-01-01","name":"王芳","lat":{},"lon":{},"address":"x"}}"#, HOME.0, HOME.1),
        format!(r#"{{"id":"j","source":"court-1","subject":"{A}","at":"2025-02-01","kind":"judgment","case":"{CASE}","court":"北京市朝阳区人民法院","amount":52000}}"#),
        format!(r#"{{"id":"l","source":"court-1","subject":"{A}","at":"2025-02-01","kind":"listing","case":"{CASE}","court":"北京市朝阳区人民法院","trigger":1}}"#),
    ]
    .join("\n");
    credo_server::AppState::new(common::engine_with(dir, &text), common::config()).unwrap()
}

async fn call(app: &axum::Router, method: &str, uri: &str, body: Value) -> (StatusCode, Value) {
    common::call(app, method, uri, "", &body.to_string()).await
}

#[tokio::test]
async fn nearby_view_and_a_tipoff_by_case() {
    let dir = tempfile::tempdir().unwrap();
    let s = state(dir.path());
    let app = credo_server::app(s.clone());
    // 300 m north of the address.
    let (st, body) = call(
        &app,
        "GET",
        "/v1/map/nearby?lat=39.9114&lon=116.3975",
        Value::Null,
    )
    .await;
    assert_eq!(st, StatusCode::OK, "{body}");
    assert_eq!(body["debtors"], 1);
    assert_eq!(body["level"], "low");
    let hit = &body["results"][0];
    assert_eq!(hit["case"], CASE);
    assert_eq!(hit["id_masked"], "1101051949****002X");
    assert_eq!(hit["amount"], 52000.0);
    let d = hit["distance_m"].as_f64().unwrap();
    assert!((250.0..350.0).contains(&d), "{d}");
    let text = body.to_string();
    assert!(!text.contains(A) && !text.contains("address"), "{text}");

    let (st, body) = call(
        &app,
        "GET",
        "/v1/map/nearby?lat=39.9114&lon=116.3975&radius=5000",
        Value::Null,
    )
    .await;
    assert_eq!(
        (st, body["code"].as_str()),
        (StatusCode::BAD_REQUEST, Some("bad_radius"))
    );
    let (st, body) = call(&app, "GET", "/v1/map/nearby?lat=95&lon=116", Value::Null).await;
    assert_eq!(
        (st, body["code"].as_str()),
        (StatusCode::BAD_REQUEST, Some("bad_position"))
    );

    // A small box shows the debtor; a country-wide one shows only counts.
    let (st, body) = call(
        &app,
        "GET",
        "/v1/map/view?south=39.90&west=116.39&north=39.92&east=116.41",
        Value::Null,
    )
    .await;
    assert_eq!(st, StatusCode::OK, "{body}");
    assert_eq!(body["debtors"][0]["case"], CASE);
    let (_, body) = call(
        &app,
        "GET",
        "/v1/map/view?south=18&west=73&north=54&east=135",
        Value::Null,
    )
    .await;
    assert!(body.get("debtors").is_none(), "{body}");
    assert_eq!(body["total"], 1);

    // A tip-off by case number reaches the court's inbox.
    let (st, body) = call(
        &app,
        "POST",
        "/v1/tipoffs",
        json!({"case": CASE, "text": "a car at the market"}),
    )
    .await;
    assert_eq!(st, StatusCode::CREATED, "{body}");
    let (st, _) = call(
        &app,
        "POST",
        "/v1/tipoffs",
        json!({"case": "(2020)nope", "text": "x"}),
    )
    .await;
    assert_eq!(st, StatusCode::NOT_FOUND);
    let e = s.engine().unwrap();
    let t = e.access().tipoffs.last().unwrap();
    assert_eq!(
        (t.subject.to_string().as_str(), t.text.as_str()),
        (A, "a car at the market")
    );
}

#[tokio::test]
async fn a_live_session_hears_enter_then_leave_when_the_debt_is_paid() {
    let dir = tempfile::tempdir().unwrap();
    let s = state(dir.path());
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let app = credo_server::app(s.clone());
    let server = tokio::spawn(async move {
        axum::serve(
            listener,
            app.into_make_service_with_connect_info::<std::net::SocketAddr>(),
        )
        .await
        .unwrap();
    });
    let (mut ws, _) =
        tokio_tungstenite::connect_async(format!("ws://{addr}/v1/map/live?radius=500"))
            .await
            .unwrap();
    let hello = tokio::time::timeout(std::time::Duration::from_secs(10), ws.next())
        .await
        .expect("a hello within 10 s")
        .unwrap()
        .unwrap();
    let hello: Value = serde_json::from_str(hello.to_text().unwrap()).unwrap();
    assert_eq!(hello["type"], "hello");
    // Walk west toward the address from 3 km east, 250 m a step.
    let mut got = Vec::new();
    for k in 0..14 {
        let lon = HOME.1 + 0.035 - 0.00293 * f64::from(k);
        ws.send(Message::text(
            json!({"lat": HOME.0, "lon": lon}).to_string(),
        ))
        .await
        .unwrap();
        tokio::time::sleep(std::time::Duration::from_millis(220)).await;
        while let Ok(Some(Ok(m))) =
            tokio::time::timeout(std::time::Duration::from_millis(50), ws.next()).await
        {
            got.push(serde_json::from_str::<Value>(m.to_text().unwrap()).unwrap());
        }
    }
    let enters: Vec<&Value> = got.iter().filter(|a| a["type"] == "enter").collect();
    assert_eq!(enters.len(), 1, "{got:?}");
    assert_eq!(enters[0]["cases"][0]["id_masked"], "1101051949****002X");
    assert!(got.iter().all(|a| a["type"] != "leave"), "{got:?}");
    // The court records full payment: the listing is lifted and the session hears it.
    let pay = format!(
        r#"{{"id":"p","source":"court-1","subject":"{A}","at":"2025-06-01","kind":"performance","case":"{CASE}","amount":52000}}"#
    );
    s.engine
        .write()
        .unwrap()
        .ingest("t", pay.as_bytes(), &IngestOptions::default(), &mut |_| {})
        .unwrap();
    // Any map read (here the one `POST /v1/events` makes) wakes the sessions.
    drop(s.map_engine().unwrap());
    let m = tokio::time::timeout(std::time::Duration::from_secs(2), ws.next())
        .await
        .expect("a leave within 2 s, not the 5 s backstop")
        .unwrap()
        .unwrap();
    let leave: Value = serde_json::from_str(m.to_text().unwrap()).unwrap();
    assert_eq!(
        (leave["type"].as_str(), &leave["key"]),
        (Some("leave"), &enters[0]["key"])
    );
    ws.close(None).await.unwrap();
    server.abort();
}

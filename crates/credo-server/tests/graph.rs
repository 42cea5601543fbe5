#![allow(clippy::unwrap_used, clippy::expect_used)]
//! The social graph's routes through the router: a telco's call screening (a warning is
//! an inquiry about the debtor), a court's notice plan and delivered impressions, and the
//! admin's propagation.

mod common;
use axum::http::StatusCode;
use credo_access::Role;

const A: &str = "11010519491231002X";
const B: &str = "440524188001010014";
const CASE: &str = "(2025)京0105执88号";

fn app(dir: &std::path::Path) -> (credo_server::AppState, Vec<(Role, String)>) {
    let text = [
        format!(r#"{{"id":"{A}","kind":"subject","at":"2025-01-01","name":"王芳","lat":39.9087,"lon":116.3975,"region":"110105","industry":"E","phones":["13800138000"]}}"#),
        format!(r#"{{"id":"{B}","kind":"subject","at":"2025-01-01","name":"李强","lat":39.9100,"lon":116.3975,"region":"110105","industry":"K"}}"#),
        format!(r#"{{"id":"c","source":"bank-a","subject":"{A}","at":"2025-01-02","kind":"contact","other":"{B}"}}"#),
        format!(r#"{{"id":"j","source":"court-1","subject":"{A}","at":"2025-02-01","kind":"judgment","case":"{CASE}","court":"北京市朝阳区人民法院","amount":52000}}"#),
        format!(r#"{{"id":"l","source":"court-1","subject":"{A}","at":"2025-02-01","kind":"listing","case":"{CASE}","court":"北京市朝阳区人民法院","trigger":1}}"#),
    ]
    .join("\n");
    let mut e = common::engine_with(dir, &text);
    let keys = common::keys(
        &mut e,
        &[
            (Role::Telco, "telco-1".into(), None),
            (Role::Court, "court-1".into(), None),
            (Role::Admin, "admin".into(), None),
        ],
    );
    (
        credo_server::AppState::new(e, common::config()).unwrap(),
        keys,
    )
}

use common::call;

fn key(keys: &[(Role, String)], r: Role) -> String {
    keys.iter().find(|k| k.0 == r).unwrap().1.clone()
}

#[tokio::test]
async fn screening_notices_and_propagation_over_http() {
    let dir = tempfile::tempdir().unwrap();
    let (s, keys) = app(dir.path());
    let router = credo_server::app(s.clone());
    let (telco, court, admin) = (
        key(&keys, Role::Telco),
        key(&keys, Role::Court),
        key(&keys, Role::Admin),
    );

    // A listed debtor's number warns, and the warning is an inquiry about the debtor.
    let before = s.engine().unwrap().inquiries().len();
    let (st, body) = call(
        &router,
        "GET",
        "/v1/calls/screen?number=%2B86%20138-0013-8000",
        &telco,
        "",
    )
    .await;
    assert_eq!(st, StatusCode::OK, "{body}");
    assert_eq!(body["warn"], true);
    assert_eq!(body["case"], CASE);
    assert!(
        body["message"]
            .as_str()
            .unwrap()
            .contains("北京市朝阳区人民法院")
    );
    assert!(!body.to_string().contains(A), "{body}");
    assert_eq!(s.engine().unwrap().inquiries().len(), before + 1);
    // Another number does not warn and is not logged.
    let (_, body) = call(
        &router,
        "GET",
        "/v1/calls/screen?number=13900139000",
        &telco,
        "",
    )
    .await;
    assert_eq!(body, serde_json::json!({"warn": false}));
    assert_eq!(s.engine().unwrap().inquiries().len(), before + 1);
    let (st, body) = call(&router, "GET", "/v1/calls/screen?number=12", &telco, "").await;
    assert_eq!(
        (st, body["code"].as_str()),
        (StatusCode::BAD_REQUEST, Some("bad_number"))
    );
    // Only a telco screens.
    let (st, _) = call(
        &router,
        "GET",
        "/v1/calls/screen?number=13800138000",
        &court,
        "",
    )
    .await;
    assert_eq!(st, StatusCode::FORBIDDEN);

    // The court plans a notice: B is nearby, in the region, in a related industry and a
    // contact; only masked IDs come back.
    let uri = format!("/v1/notices/plan?case={}&members=5", urlencode(CASE));
    let (st, body) = call(&router, "GET", &uri, &court, "").await;
    assert_eq!(st, StatusCode::OK, "{body}");
    assert_eq!(body["size"], 1);
    for c in ["radius", "region", "industry", "contacts"] {
        assert_eq!(body["by_criterion"][c], 1, "{c}: {body}");
    }
    assert_eq!(body["members"][0], "4405241880****0014");
    assert!(!body.to_string().contains(B));
    let (st, body) = call(&router, "GET", "/v1/notices/plan?case=nope", &court, "").await;
    assert_eq!(
        (st, body["code"].as_str()),
        (StatusCode::NOT_FOUND, Some("no_case"))
    );
    let (st, body) = call(&router, "GET", &format!("{uri}&hops=7"), &court, "").await;
    assert_eq!(
        (st, body["code"].as_str()),
        (StatusCode::BAD_REQUEST, Some("bad_notice"))
    );

    // Delivered impressions add up, in the audit log, and the plan reports them.
    for n in [120, 30] {
        let (st, body) = call(
            &router,
            "POST",
            "/v1/notices/impressions",
            &court,
            &format!(r#"{{"case":"{CASE}","delivered":{n}}}"#),
        )
        .await;
        assert_eq!(st, StatusCode::OK, "{body}");
    }
    let (_, body) = call(&router, "GET", &uri, &court, "").await;
    assert_eq!(body["delivered"], 150);
    let (st, _) = call(
        &router,
        "POST",
        "/v1/notices/impressions",
        &court,
        r#"{"case":"nope","delivered":1}"#,
    )
    .await;
    assert_eq!(st, StatusCode::NOT_FOUND);

    // The admin runs the propagation.
    let (st, body) = call(&router, "POST", "/v1/graph/propagate", &admin, "").await;
    assert_eq!(st, StatusCode::OK, "{body}");
    assert_eq!(body["converged"], true);
    assert_eq!(body["contacts"], 1);
}

fn urlencode(s: &str) -> String {
    s.bytes()
        .map(|b| {
            if b.is_ascii_alphanumeric() {
                (b as char).to_string()
            } else {
                format!("%{b:02X}")
            }
        })
        .collect()
}

#![allow(clippy::unwrap_used, clippy::expect_used)]
//! The API through its router (no socket): every route under every role, the OpenAPI
//! document against the route table, and consent, inquiries, disputes and audit end to end.

mod common;
use axum::body::Body;
use axum::http::{Request, StatusCode};
use credo_access::Role;
use credo_engine::Engine;
use credo_model::SubjectId;
use http_body_util::BodyExt;
use serde_json::{Value, json};
use tower::ServiceExt;

const A: &str = "11010519491231002X";
const B: &str = "440524188001010014";

fn engine(dir: &std::path::Path) -> Engine {
    let text = format!(
        "{}\n{}\n{}\n{}\n",
        r#"{"id":"11010519491231002X","kind":"subject","at":"2025-01-01","name":"王芳"}"#,
        r#"{"id":"440524188001010014","kind":"subject","at":"2025-01-01","name":"李强"}"#,
        r#"{"id":"b-1","source":"bank-a","subject":"11010519491231002X","at":"2025-03-01","kind":"bill","ref":"x","amount":800,"status":"unpaid"}"#,
        r#"{"id":"p-1","source":"bank-a","subject":"11010519491231002X","at":"2025-04-01","kind":"payment","amount":50}"#,
    );
    common::engine_with(dir, &text)
}

/// One key per role (the subject's is A's), made with known tokens.
fn keys(e: &mut Engine) -> Vec<(Role, String)> {
    let who: Vec<(Role, String, Option<SubjectId>)> = Role::ALL
        .into_iter()
        .filter(|r| *r != Role::Public)
        .map(|role| {
            let party = match role {
                Role::Subject => A.to_string(),
                Role::Furnisher => "bank-a".into(),
                Role::Court => "court-1".into(),
                Role::RelyingParty => "rail-1".into(),
                _ => role.name().replace('_', "-"),
            };
            let subject = (role == Role::Subject).then(|| A.parse().unwrap());
            (role, party, subject)
        })
        .collect();
    let mut out = common::keys(e, &who);
    out.push((Role::Public, String::new()));
    out
}

fn app(dir: &std::path::Path) -> (axum::Router, Vec<(Role, String)>) {
    let mut e = engine(dir);
    let keys = keys(&mut e);
    (
        credo_server::app(credo_server::AppState::new(e, common::config()).unwrap()),
        keys,
    )
}

use common::call;

fn key_of(keys: &[(Role, String)], role: Role) -> String {
    keys.iter().find(|(r, _)| *r == role).unwrap().1.clone()
}

#[tokio::test]
async fn every_route_under_every_role_does_only_what_the_role_may() {
    let dir = tempfile::tempdir().unwrap();
    let (app, keys) = app(dir.path());
    for r in credo_server::ROUTES {
        let uri = r
            .path
            .replace("{id}", A)
            .replace("{action}", "flight")
            .replace("{grant}", "999")
            .replace("{dispute}", "999")
            .replace("{key}", "ffffffff");
        let uri = if r.path == "/v1/list" {
            format!("{uri}?name=王芳")
        } else {
            uri
        };
        for (role, key) in &keys {
            let (status, body) = call(&app, r.method, &uri, key, "{}").await;
            let may = credo_access::allowed(*role, r.capability);
            let what = format!(
                "{} {} as {}: {status} {body}",
                r.method,
                r.path,
                role.name()
            );
            // The router serves the route (a 404 may still say "no such grant").
            assert_ne!(body["message"], "no such route", "{what}");
            assert_ne!(status, StatusCode::METHOD_NOT_ALLOWED, "{what}");
            assert!(!status.is_server_error(), "{what}");
            if may {
                assert!(status != StatusCode::UNAUTHORIZED, "{what}");
                assert!(
                    body["code"] != "forbidden" || r.path.contains("{grant}"),
                    "{what}"
                );
            } else if *role == Role::Public {
                assert_eq!(status, StatusCode::UNAUTHORIZED, "{what}");
            } else {
                assert_eq!(status, StatusCode::FORBIDDEN, "{what}");
            }
            if !status.is_success()
                && r.path != "/"
                && !r.path.starts_with("/me")
                && r.path != "/court"
            {
                assert!(
                    body["code"].is_string() && body["message"].is_string(),
                    "{what}"
                );
            }
        }
    }
}

#[tokio::test]
async fn a_subjects_key_covers_that_subject_only() {
    let dir = tempfile::tempdir().unwrap();
    let (app, keys) = app(dir.path());
    let sub = key_of(&keys, Role::Subject);
    for (m, p) in [
        ("GET", format!("/v1/subjects/{B}/report")),
        ("GET", format!("/v1/subjects/{B}/score")),
        ("GET", format!("/v1/subjects/{B}/consents")),
    ] {
        let (s, body) = call(&app, m, &p, &sub, "").await;
        assert_eq!(
            (s, body["code"].as_str()),
            (StatusCode::FORBIDDEN, Some("forbidden")),
            "{p}"
        );
    }
}

#[tokio::test]
async fn the_openapi_document_lists_exactly_the_documented_routes() {
    let dir = tempfile::tempdir().unwrap();
    let (app, _) = app(dir.path());
    let (s, doc) = call(&app, "GET", "/openapi.json", "", "").await;
    assert_eq!(s, StatusCode::OK);
    assert_eq!(doc["openapi"], "3.1.0");
    let mut documented: Vec<(String, String)> = Vec::new();
    for (path, ops) in doc["paths"].as_object().unwrap() {
        for m in ops.as_object().unwrap().keys() {
            documented.push((m.to_uppercase(), path.clone()));
        }
    }
    let mut routes: Vec<(String, String)> = credo_server::ROUTES
        .iter()
        .filter(|r| r.documented)
        .map(|r| (r.method.to_string(), r.path.to_string()))
        .collect();
    documented.sort();
    routes.sort();
    assert_eq!(documented, routes);
}

#[tokio::test]
async fn consent_inquiries_disputes_and_the_audit_chain_end_to_end() {
    let dir = tempfile::tempdir().unwrap();
    let (app, keys) = app(dir.path());
    let (sub, rp, fur, adm) = (
        key_of(&keys, Role::Subject),
        key_of(&keys, Role::RelyingParty),
        key_of(&keys, Role::Furnisher),
        key_of(&keys, Role::Admin),
    );
    // Public law needs no grant; the score does.
    let (s, d) = call(
        &app,
        "GET",
        &format!("/v1/subjects/{A}/check/rail_g"),
        &rp,
        "",
    )
    .await;
    assert_eq!((s, d["decision"].as_str()), (StatusCode::OK, Some("allow")));
    assert_eq!(
        d["subject"], "1101051949****002X",
        "public outputs mask the ID"
    );
    let score = format!("/v1/subjects/{A}/score");
    let (s, d) = call(&app, "GET", &score, &rp, "").await;
    assert_eq!(
        (s, d["code"].as_str()),
        (StatusCode::FORBIDDEN, Some("consent_required"))
    );
    let (s, offer) = call(
        &app,
        "GET",
        &format!("/v1/subjects/{A}/check/bike.deposit_free"),
        &rp,
        "",
    )
    .await;
    assert_eq!(
        (s, offer["code"].as_str()),
        (StatusCode::FORBIDDEN, Some("consent_required"))
    );
    // A grant lets the party read the score; the read is in the subject's report.
    let grant = json!({"party": "rail-1", "purpose": "score", "until": "2026-06-30"}).to_string();
    let (s, g) = call(
        &app,
        "POST",
        &format!("/v1/subjects/{A}/consents"),
        &sub,
        &grant,
    )
    .await;
    assert_eq!(s, StatusCode::CREATED, "{g}");
    let (s, d) = call(&app, "GET", &score, &rp, "").await;
    assert_eq!(s, StatusCode::OK, "{d}");
    assert!(
        d["features"].is_null(),
        "a third party gets no feature values"
    );
    let (_, report) = call(&app, "GET", &format!("/v1/subjects/{A}/report"), &sub, "").await;
    let asked: Vec<&str> = report["inquiries"]
        .as_array()
        .unwrap()
        .iter()
        .map(|q| q["what"].as_str().unwrap())
        .collect();
    assert_eq!(
        asked,
        vec!["check:rail_g", "score"],
        "refused reads are not answers"
    );
    assert_eq!(report["recipients"], json!(["rail-1"]));
    assert_eq!(report["data"].as_array().unwrap().len(), 3);
    // Revoking works at once.
    let (s, _) = call(
        &app,
        "DELETE",
        &format!("/v1/subjects/{A}/consents/{}", g["id"]),
        &sub,
        "",
    )
    .await;
    assert_eq!(s, StatusCode::OK);
    let (s, _) = call(&app, "GET", &score, &rp, "").await;
    assert_eq!(s, StatusCode::FORBIDDEN);
    // A dispute of the unpaid bill, deleted by its furnisher: the subject is rescored.
    let before = call(&app, "GET", &score, &sub, "").await.1["score"]
        .as_u64()
        .unwrap();
    let body =
        json!({"source": "bank-a", "event": "b-1", "reason": "I never had this bill"}).to_string();
    let (s, dispute) = call(
        &app,
        "POST",
        &format!("/v1/subjects/{A}/disputes"),
        &sub,
        &body,
    )
    .await;
    assert_eq!(s, StatusCode::CREATED, "{dispute}");
    let (s, again) = call(
        &app,
        "POST",
        &format!("/v1/subjects/{A}/disputes"),
        &sub,
        &body,
    )
    .await;
    assert_eq!(
        (s, again["code"].as_str()),
        (StatusCode::CONFLICT, Some("conflict"))
    );
    let resolution = format!("/v1/disputes/{}/resolution", dispute["id"]);
    let court = key_of(&keys, Role::Court);
    let (s, _) = call(
        &app,
        "POST",
        &resolution,
        &court,
        r#"{"resolution":"deleted"}"#,
    )
    .await;
    assert_eq!(s, StatusCode::FORBIDDEN, "only the entry's source resolves");
    let (s, r) = call(
        &app,
        "POST",
        &resolution,
        &fur,
        r#"{"resolution":"deleted","note":"our error"}"#,
    )
    .await;
    assert_eq!(
        (s, r["status"].as_str()),
        (StatusCode::OK, Some("deleted")),
        "{r}"
    );
    let after = call(&app, "GET", &score, &sub, "").await.1["score"]
        .as_u64()
        .unwrap();
    assert!(
        after > before,
        "deleting an unpaid bill raises the score ({before} -> {after})"
    );
    let (_, report) = call(&app, "GET", &format!("/v1/subjects/{A}/report"), &sub, "").await;
    let bill = report["data"]
        .as_array()
        .unwrap()
        .iter()
        .find(|e| e["id"] == "b-1")
        .unwrap();
    assert_eq!(bill["counts"], false);
    assert_eq!(report["disputes"][0]["status"], "deleted");
    // Every write and third-party read is in the chain, and it verifies.
    let (s, v) = call(&app, "GET", "/v1/audit/verify", &adm, "").await;
    assert_eq!((s, v["ok"].as_bool()), (StatusCode::OK, Some(true)), "{v}");
    assert!(v["entries"].as_u64().unwrap() >= 12, "{v}");
    let (s, log) = call(&app, "GET", "/v1/audit?limit=1000", &adm, "").await;
    assert_eq!(s, StatusCode::OK);
    assert_eq!(log["total"], v["entries"]);
    let ops: Vec<&str> = log["entries"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["op"].as_str().unwrap())
        .collect();
    for op in [
        "key.create",
        "read",
        "consent.grant",
        "consent.revoke",
        "dispute.file",
        "dispute.resolve",
    ] {
        assert!(ops.contains(&op), "{op} missing from {ops:?}");
    }
    // Cutting the log back to an earlier length is caught against the head.
    let log = dir.path().join("audit.log");
    let len = std::fs::metadata(&log).unwrap().len();
    let (s, _) = call(
        &app,
        "GET",
        &format!("/v1/subjects/{A}/check/golf"),
        &rp,
        "",
    )
    .await;
    assert_eq!(s, StatusCode::OK);
    std::fs::OpenOptions::new()
        .write(true)
        .open(&log)
        .unwrap()
        .set_len(len)
        .unwrap();
    let (_, v) = call(&app, "GET", "/v1/audit/verify", &adm, "").await;
    assert_eq!(v["ok"], false, "{v}");
    assert_eq!(v["problem"]["kind"], "Truncated", "{v}");
}

#[tokio::test]
async fn bad_input_is_a_4xx_with_a_json_body() {
    let dir = tempfile::tempdir().unwrap();
    let (app, keys) = app(dir.path());
    let sub = key_of(&keys, Role::Subject);
    let fur = key_of(&keys, Role::Furnisher);
    let huge = "x".repeat(credo_server::api::MAX_BODY + 1);
    let cases = [
        (
            "POST",
            format!("/v1/subjects/{A}/consents"),
            sub.clone(),
            "{".to_string(),
            "bad_json",
        ),
        (
            "POST",
            format!("/v1/subjects/{A}/consents"),
            sub.clone(),
            huge,
            "body_too_large",
        ),
        (
            "POST",
            format!("/v1/subjects/{A}/consents"),
            sub.clone(),
            r#"{"party":"x","purpose":"score","until":"2020-01-01"}"#.into(),
            "invalid_field",
        ),
        (
            "POST",
            format!("/v1/subjects/{A}/consents"),
            sub.clone(),
            r#"{"party":"x","purpose":"golf","until":"2027-01-01"}"#.into(),
            "invalid_field",
        ),
        (
            "GET",
            "/v1/subjects/110105194912310021/score".into(),
            sub.clone(),
            String::new(),
            "bad_id",
        ),
        (
            "GET",
            "/v1/list".into(),
            String::new(),
            String::new(),
            "bad_query",
        ),
        (
            "POST",
            "/v1/tipoffs".into(),
            String::new(),
            format!(r#"{{"subject":"{B}","text":"a car"}}"#),
            "not_found",
        ),
        (
            "DELETE",
            format!("/v1/subjects/{A}/consents/abc"),
            sub.clone(),
            String::new(),
            "bad_path",
        ),
        (
            "GET",
            "/v1/nothing".into(),
            String::new(),
            String::new(),
            "not_found",
        ),
    ];
    for (m, uri, key, body, code) in cases {
        let (s, b) = call(&app, m, &uri, &key, &body).await;
        assert!(s.is_client_error(), "{m} {uri}: {s} {b}");
        assert_eq!(b["code"], code, "{m} {uri}: {b}");
    }
    // A policy file is checked without being installed.
    let adm = key_of(&keys, Role::Admin);
    let (s, b) = call(
        &app,
        "POST",
        "/v1/policies/check",
        &adm,
        "[[offer]]\nid = 1\n",
    )
    .await;
    assert_eq!(
        (s, b["code"].as_str()),
        (StatusCode::BAD_REQUEST, Some("bad_policy")),
        "{b}"
    );
    assert!(
        b["message"]
            .as_str()
            .unwrap()
            .contains("policies.toml:2:6:"),
        "{b}"
    );
    let good = "[[offer]]\nid = \"shop.pay_later\"\nmin_score = 600\n";
    let (s, b) = call(&app, "POST", "/v1/policies/check", &adm, good).await;
    assert_eq!((s, b["offers"].as_u64()), (StatusCode::OK, Some(1)), "{b}");
    let (_, listed) = call(&app, "GET", "/v1/policies", "", "").await;
    assert!(
        listed["offers"]
            .as_array()
            .unwrap()
            .iter()
            .all(|o| o["id"] != "shop.pay_later"),
        "checked, not installed"
    );
    // A furnisher writes under its own source only; the good line of the batch lands.
    let lines = format!(
        "{}\n{}\n",
        r#"{"id":"p-9","source":"bank-b","subject":"11010519491231002X","at":"2025-05-01","kind":"payment","amount":5}"#,
        r#"{"id":"p-10","source":"bank-a","subject":"11010519491231002X","at":"2025-05-01","kind":"payment","amount":5}"#,
    );
    let (s, r) = call(&app, "POST", "/v1/events", &fur, &lines).await;
    assert_eq!(s, StatusCode::OK);
    assert_eq!(
        (r["accepted"].as_u64(), r["rejected"].as_u64()),
        (Some(1), Some(1)),
        "{r}"
    );
    assert_eq!(r["errors"][0]["line"], 1);
}

#[tokio::test]
async fn the_pages_carry_the_shared_script() {
    let dir = tempfile::tempdir().unwrap();
    let (app, _) = app(dir.path());
    for page in ["/me", "/court"] {
        let resp = app
            .clone()
            .oneshot(Request::get(page).body(Body::empty()).unwrap())
            .await
            .unwrap();
        assert_eq!(resp.status(), StatusCode::OK);
        let html = resp.into_body().collect().await.unwrap().to_bytes();
        let html = String::from_utf8(html.to_vec()).unwrap();
        assert!(html.contains("async function api("), "{page}");
        assert!(!html.contains("credo:common.js"), "{page}: marker left in");
    }
}

#[tokio::test]
async fn the_public_list_is_rate_limited_per_client_with_retry_after() {
    let dir = tempfile::tempdir().unwrap();
    let mut e = engine(dir.path());
    keys(&mut e);
    let config = credo_server::Config {
        public_rate: 0.1,
        public_burst: 2.0,
    };
    let app = credo_server::app(credo_server::AppState::new(e, config).unwrap());
    let get = || async {
        app.clone()
            .oneshot(Request::get("/v1/list?name=x").body(Body::empty()).unwrap())
            .await
            .unwrap()
    };
    assert_eq!(get().await.status(), StatusCode::OK);
    assert_eq!(get().await.status(), StatusCode::OK);
    let third = get().await;
    assert_eq!(third.status(), StatusCode::TOO_MANY_REQUESTS);
    let retry: u64 = third.headers()["retry-after"]
        .to_str()
        .unwrap()
        .parse()
        .unwrap();
    assert!((1..=10).contains(&retry), "{retry}");
    let body = third.into_body().collect().await.unwrap().to_bytes();
    let body: Value = serde_json::from_slice(&body).unwrap();
    assert_eq!(body["code"], "rate_limited");
    // Keyed routes are not limited.
    let (s, _) = call(&app, "GET", "/v1/policies", "", "").await;
    assert_eq!(s, StatusCode::OK);
}

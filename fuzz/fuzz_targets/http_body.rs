//! Any bytes as the body of any route that takes one, sent through the real router with
//! a key of the role the route is for: the answer is never a 5xx (a bad body is the
//! caller's error, a 4xx with a code) and nothing panics.
#![no_main]
use credo_access::Role;
use libfuzzer_sys::fuzz_target;
use std::sync::OnceLock;

const A: &str = "11010519491231002X";

struct Fixture {
    rt: tokio::runtime::Runtime,
    app: axum::Router,
    keys: Vec<(Role, String)>,
    _dir: tempfile::TempDir,
}

fn fixture() -> &'static Fixture {
    static F: OnceLock<Fixture> = OnceLock::new();
    F.get_or_init(|| {
        use credo_access::key::{hash_token, token};
        use credo_access::{AccessOp, KeyRecord};
        let dir = tempfile::tempdir().unwrap();
        let (mut e, _) = credo_engine::Engine::open(
            dir.path(),
            credo_score::Model::default_model(),
            Some(credo_engine::Clock::Fixed(
                credo_model::Day::from_ymd(2026, 1, 1).unwrap(),
            )),
        )
        .unwrap();
        let subject = format!(
            r#"{{"id":"{A}","kind":"subject","at":"2025-01-01","name":"王芳","lat":39.9,"lon":116.4,"phones":["13800138000"]}}"#
        );
        e.ingest("t", subject.as_bytes(), &Default::default(), &mut |_| {})
            .unwrap();
        let who = [
            (Role::Admin, "admin", None),
            (Role::Furnisher, "bank", None),
            (Role::Court, "court", None),
            (Role::Subject, A, Some(A.parse().unwrap())),
        ];
        let mut keys = Vec::new();
        let mut pending = Vec::new();
        for (i, (role, party, subject)) in who.into_iter().enumerate() {
            let id = format!("{:08x}", i + 1);
            let tok = token(&id, &[i as u8 + 1; 20]);
            pending.push(credo_engine::access::Pending {
                at: credo_model::Timestamp(0),
                actor: "admin:fuzz".into(),
                key: None,
                op: AccessOp::KeyCreate(KeyRecord {
                    id,
                    hash: hash_token(&tok),
                    role,
                    party: party.into(),
                    subject,
                    created: credo_model::Timestamp(0),
                    revoked: None,
                }),
                inquiry: None,
            });
            keys.push((role, tok));
        }
        e.log_access(pending).unwrap();
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap();
        let app = rt.block_on(async {
            credo_server::app(
                credo_server::AppState::new(
                    e,
                    credo_server::Config {
                        public_rate: 1e9,
                        public_burst: 1e9,
                    },
                )
                .unwrap(),
            )
        });
        Fixture {
            rt,
            app,
            keys,
            _dir: dir,
        }
    })
}

/// (method, path, role) of every route that reads a body.
const ROUTES: &[(&str, &str, Option<Role>)] = &[
    ("POST", "/v1/events", Some(Role::Furnisher)),
    ("POST", "/v1/events", Some(Role::Court)),
    ("POST", "/v1/policies/check", Some(Role::Admin)),
    ("POST", "/v1/tipoffs", None),
    (
        "POST",
        "/v1/subjects/11010519491231002X/consents",
        Some(Role::Subject),
    ),
    (
        "POST",
        "/v1/subjects/11010519491231002X/disputes",
        Some(Role::Subject),
    ),
    ("POST", "/v1/disputes/1/resolution", Some(Role::Admin)),
    ("POST", "/v1/keys", Some(Role::Admin)),
    ("POST", "/v1/notices/impressions", Some(Role::Court)),
    ("POST", "/v1/graph/propagate", Some(Role::Admin)),
];

fuzz_target!(|data: &[u8]| {
    use tower::ServiceExt;
    let Some((&pick, body)) = data.split_first() else {
        return;
    };
    let f = fixture();
    let (method, path, role) = ROUTES[usize::from(pick) % ROUTES.len()];
    let mut req = axum::http::Request::builder()
        .method(method)
        .uri(path)
        .header("content-type", "application/json");
    if let Some(role) = role {
        let tok = &f.keys.iter().find(|(r, _)| *r == role).unwrap().1;
        req = req.header("authorization", format!("Bearer {tok}"));
    }
    let req = req.body(axum::body::Body::from(body.to_vec())).unwrap();
    let resp = f.rt.block_on(f.app.clone().oneshot(req)).unwrap();
    assert!(
        !resp.status().is_server_error(),
        "{method} {path}: {} for body {:?}",
        resp.status(),
        String::from_utf8_lossy(body)
    );
});

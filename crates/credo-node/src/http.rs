//! A node's HTTP edge: any node answers any request of the routes it serves, and the API
//! is the single machine's.
//!
//! - `/v1/subjects/{id}/…` (score, decision, report, consents, disputes): the subject's
//!   partition's owner answers. If that is this node, the request goes to the partition's
//!   own `credo-server` app (its engine, its audit log); else it is forwarded over HTTP to
//!   the owner, once (a forwarded request that lands on a non-owner during a handover is a
//!   503 `not_owner`, to retry).
//! - `POST /v1/events`: checked (the engine's parser, the key's `source` and role), routed
//!   by partition and published to the stream; the answer comes once the stream has
//!   acknowledged every message.
//! - `GET /healthz`: this node's name and partitions.
//!
//! Keys are the cluster's (`credo cluster key create`), kept in the bus's bucket and
//! copied into every partition's audit log by [`crate::keys`].

use crate::{Running, lock};
use axum::Router;
use axum::body::Body;
use axum::extract::{Request, State};
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use credo_access::{Capability, KeyRing, Principal};
use credo_bus::Bus;
use credo_server::ApiError;
use hyper_util::client::legacy::Client;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::rt::TokioExecutor;
use serde_json::json;
use std::collections::BTreeMap;
use std::sync::{Arc, Mutex, RwLock};
use tower::ServiceExt;

/// Marks a request one node forwarded to another.
const FORWARDED: &str = "x-credo-forwarded-by";
/// The bucket key of a node's HTTP address.
pub(crate) fn addr_key(node: &str) -> String {
    format!("addr.{node}")
}

#[derive(Clone)]
pub(crate) struct Http {
    pub name: String,
    pub bus: Arc<Bus>,
    pub parts: Arc<Mutex<BTreeMap<u32, Running>>>,
    pub keys: Arc<RwLock<KeyRing>>,
    pub client: Client<HttpConnector, Body>,
}

impl Http {
    pub(crate) fn new(
        name: String,
        bus: Arc<Bus>,
        parts: Arc<Mutex<BTreeMap<u32, Running>>>,
        keys: Arc<RwLock<KeyRing>>,
    ) -> Http {
        Http {
            name,
            bus,
            parts,
            keys,
            client: Client::builder(TokioExecutor::new()).build_http(),
        }
    }

    pub(crate) fn router(self) -> Router {
        Router::new().fallback(handle).with_state(self)
    }
}

async fn handle(State(h): State<Http>, req: Request) -> Response {
    let path = req.uri().path().to_string();
    let r = if path == "/healthz" {
        Ok(health(&h).await)
    } else if path == "/v1/events" {
        if req.method() == axum::http::Method::POST {
            events(&h, req).await
        } else {
            Err(ApiError::new(
                StatusCode::METHOD_NOT_ALLOWED,
                "method_not_allowed",
                "this route does not take that method",
            ))
        }
    } else if path == "/v1/graph/propagate" && req.method() == axum::http::Method::POST {
        match caller(&h, &req) {
            Ok(who) => propagate(&h, who).await,
            Err(e) => Err(e),
        }
    } else if let Some(rest) = path.strip_prefix("/v1/subjects/") {
        subject_route(&h, rest, req).await
    } else {
        Err(ApiError::new(
            StatusCode::NOT_IMPLEMENTED,
            "not_in_cluster",
            format!(
                "{path} is not served by a cluster node yet: the list, map and call indexes \
                 are not replicated yet (docs/cluster.md)"
            ),
        ))
    };
    r.unwrap_or_else(IntoResponse::into_response)
}

/// This node's partitions, and whether it holds every partition the assignment gives it
/// up to the stream's last message (`caught_up`).
async fn health(h: &Http) -> Response {
    let held: BTreeMap<u32, u64> = lock(&h.parts)
        .iter()
        .map(|(&p, r)| (p, r.part.applied()))
        .collect();
    let mut caught_up = true;
    let mut owned = Vec::new();
    match h.bus.assignment().await {
        Ok(Some((a, _))) => {
            owned = a.partitions_of(&h.name);
            for &p in &owned {
                let last = h.bus.last_sequence(p).await.unwrap_or(u64::MAX);
                if held.get(&p).is_none_or(|&applied| applied < last) {
                    caught_up = false;
                }
            }
        }
        _ => caught_up = false,
    }
    axum::Json(json!({
        "status": "ok",
        "node": h.name,
        "partitions": owned,
        "applied": held,
        "caught_up": caught_up,
    }))
    .into_response()
}

/// The caller's principal from the cluster's keys (none: the public).
fn caller(h: &Http, req: &Request) -> Result<Principal, ApiError> {
    let Some(v) = req.headers().get(header::AUTHORIZATION) else {
        return Ok(Principal::public());
    };
    let token = v
        .to_str()
        .ok()
        .and_then(|t| t.strip_prefix("Bearer "))
        .ok_or_else(|| ApiError::unauthorized("use `Authorization: Bearer <key>`"))?;
    h.keys
        .read()
        .map_err(|_| ApiError::internal("key lock poisoned"))?
        .authenticate(token.trim())
        .map(|k| k.principal())
        .ok_or_else(|| ApiError::unauthorized("unknown or revoked key"))
}

async fn events(h: &Http, req: Request) -> Result<Response, ApiError> {
    let who = caller(h, &req)?;
    credo_server::auth::require(&who, Capability::Ingest)?;
    let bytes = axum::body::to_bytes(req.into_body(), credo_server::api::MAX_EVENTS_BODY)
        .await
        .map_err(|_| {
            ApiError::new(
                StatusCode::PAYLOAD_TOO_LARGE,
                "body_too_large",
                format!(
                    "send at most {} bytes per request",
                    credo_server::api::MAX_EVENTS_BODY
                ),
            )
        })?;
    let sender = credo_engine::Sender {
        source: who.party.clone(),
        role: who.role,
    };
    let published = h
        .bus
        .publish_as(&bytes, Some(&sender))
        .await
        .map_err(|e| ApiError::new(StatusCode::SERVICE_UNAVAILABLE, e.code(), e.to_string()))?;
    let errors: Vec<_> = published
        .refused
        .iter()
        .map(|r| json!({"line": r.line, "code": r.code, "message": r.message}))
        .collect();
    Ok(axum::Json(json!({
        "accepted": published.lines,
        "duplicates": 0,
        "rejected": published.refused.len(),
        "errors": errors,
        "messages": published.messages,
        "duplicate_messages": published.duplicate_messages,
    }))
    .into_response())
}

/// Runs the cross-node propagation on every node and answers with each one's report.
async fn propagate(h: &Http, who: Principal) -> Result<Response, ApiError> {
    credo_server::auth::require(&who, Capability::GraphRun)?;
    let unavailable = |e: crate::NodeError| {
        ApiError::new(StatusCode::SERVICE_UNAVAILABLE, e.code(), e.to_string())
    };
    let (round, nodes) = crate::flow::request(&h.bus).await.map_err(unavailable)?;
    let reports = crate::flow::wait(&h.bus, round, &nodes, std::time::Duration::from_secs(300))
        .await
        .map_err(unavailable)?;
    Ok(axum::Json(json!({"round": round, "nodes": reports})).into_response())
}

async fn subject_route(h: &Http, rest: &str, req: Request) -> Result<Response, ApiError> {
    let text = rest.split('/').next().unwrap_or_default();
    let id = credo_model::SubjectId::parse(text)
        .map_err(|e| ApiError::new(StatusCode::BAD_REQUEST, "bad_id", e.to_string()))?;
    let p = h.bus.partitioning().of(id);
    let local = lock(&h.parts).get(&p).map(|r| r.part.clone());
    let owner = match h.bus.assignment().await {
        Ok(Some((a, _))) => a.owner(p).map(str::to_string),
        _ => None,
    };
    let mine = owner.as_deref() == Some(h.name.as_str());
    if mine && let Some(part) = local {
        let app = credo_server::app(part.state.clone());
        return app
            .oneshot(req)
            .await
            .map_err(|e| ApiError::internal(e.to_string()));
    }
    let unavailable = |m: String| ApiError::new(StatusCode::SERVICE_UNAVAILABLE, "not_owner", m);
    if req.headers().contains_key(FORWARDED) {
        return Err(unavailable(format!(
            "partition {p} is moving to another node; try again"
        )));
    }
    let Some(owner) = owner else {
        return Err(unavailable(format!("partition {p} has no owner yet")));
    };
    if mine {
        return Err(unavailable(format!(
            "partition {p} is opening on this node; try again"
        )));
    }
    let addr = h
        .bus
        .value(&addr_key(&owner))
        .await
        .map_err(|e| ApiError::new(StatusCode::SERVICE_UNAVAILABLE, e.code(), e.to_string()))?
        .ok_or_else(|| unavailable(format!("node {owner} has not published its address")))?;
    let addr = String::from_utf8_lossy(&addr).to_string();
    forward(h, &addr, req).await
}

async fn forward(h: &Http, addr: &str, req: Request) -> Result<Response, ApiError> {
    let (mut parts, body) = req.into_parts();
    let pq = parts
        .uri
        .path_and_query()
        .map_or("/", |x| x.as_str())
        .to_string();
    parts.uri = format!("http://{addr}{pq}")
        .parse()
        .map_err(|e: axum::http::uri::InvalidUri| ApiError::internal(e.to_string()))?;
    parts.headers.insert(
        FORWARDED,
        HeaderValue::from_str(&h.name).map_err(|e| ApiError::internal(e.to_string()))?,
    );
    parts.headers.remove(header::HOST);
    let res = h
        .client
        .request(Request::from_parts(parts, body))
        .await
        .map_err(|e| {
            ApiError::new(
                StatusCode::BAD_GATEWAY,
                "owner_unreachable",
                format!("the owner at {addr} did not answer: {e}"),
            )
        })?;
    let (parts, body) = res.into_parts();
    Ok(Response::from_parts(parts, Body::new(body)))
}

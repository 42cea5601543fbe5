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
//!   acknowledged every message, and the request is in the node's audit log (counts).
//! - The public list, the map (`/v1/list`, `/v1/map/…`, `/map`): this node's public
//!   replica answers, with the single machine's handlers ([`crate::public`]).
//! - `GET /v1/calls/screen`: the replica decides; a number that warns goes to its
//!   subject's owner as a subject route does, so that the owner answers and logs the
//!   inquiry in the subject's own audit log.
//! - `GET /v1/audit`, `/v1/audit/verify` (admin): the node's own audit log (the cluster's
//!   keys and the ingest requests it took); each partition's reads, consents and disputes
//!   are in that partition's audit log.
//! - `GET /healthz`: this node's name and partitions.
//!
//! Keys are the cluster's (`credo cluster key create`), kept in the bus's bucket and
//! copied into every partition's audit log by [`crate::keys`].

use crate::Shared;
use axum::Router;
use axum::body::Body;
use axum::extract::{Request, State};
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use credo_access::{Capability, Principal};
use credo_server::ApiError;
use hyper_util::client::legacy::Client;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::rt::TokioExecutor;
use serde_json::json;
use tower::ServiceExt;

/// Marks a request one node forwarded to another.
const FORWARDED: &str = "x-credo-forwarded-by";
/// The bucket key of a node's HTTP address.
pub(crate) fn addr_key(node: &str) -> String {
    format!("addr.{node}")
}

#[derive(Clone)]
pub(crate) struct Http {
    node: Shared,
    client: Client<HttpConnector, Body>,
}

impl Http {
    pub(crate) fn new(node: Shared) -> Http {
        Http {
            node,
            client: Client::builder(TokioExecutor::new()).build_http(),
        }
    }

    pub(crate) fn router(self) -> Router {
        Router::new().fallback(handle).with_state(self)
    }
}

/// Where a node sends a request.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Target {
    Health,
    Events,
    Propagate,
    /// `/v1/subjects/{id}/…`: the subject's owner.
    Subject,
    Screen,
    /// The node's public replica, with the single machine's handlers.
    Public,
    /// `POST /v1/keys`, `DELETE /v1/keys/{key}`: the cluster's keys, in the bucket.
    Keys,
    /// Not served by a node: `501 not_in_cluster`, with the reason.
    NotServed(&'static str),
}

/// Routes the public replica answers as one machine (pages, the list, the map, the
/// policies in force, the node's own audit log).
const PUBLIC: &[(&str, &str)] = &[
    ("GET", "/"),
    ("GET", "/me"),
    ("GET", "/court"),
    ("GET", "/map"),
    ("GET", "/openapi.json"),
    ("GET", "/v1/list"),
    ("GET", "/v1/map/nearby"),
    ("GET", "/v1/map/view"),
    ("GET", "/v1/map/live"),
    ("GET", "/v1/policies"),
    ("POST", "/v1/policies/check"),
    ("GET", "/v1/audit"),
    ("GET", "/v1/audit/verify"),
    ("GET", "/v1/keys"),
];

/// Where `method path` goes; every route of one machine is served or named here (tested).
fn target(method: &str, path: &str) -> Target {
    use Target::*;
    const ACCESS: &str = "tip-offs, disputes and notice impressions are access operations \
        kept in each partition's audit log, so their lists span every partition and \
        their ids are not cluster-wide yet";
    match (method, path) {
        (_, "/healthz") => Health,
        (_, "/v1/events") => Events,
        ("POST", "/v1/graph/propagate") => Propagate,
        (_, "/v1/calls/screen") => Screen,
        (_, p) if p.starts_with("/v1/subjects/") => Subject,
        (m, p) if PUBLIC.contains(&(m, p)) => Public,
        (_, "/v1/tipoffs" | "/v1/disputes" | "/v1/notices/impressions") => NotServed(ACCESS),
        (_, p) if p.starts_with("/v1/disputes/") => NotServed(ACCESS),
        (_, "/v1/notices/plan") => NotServed(
            "a notice's audience spans every partition (a scatter-gather over the owners)",
        ),
        ("POST", "/v1/keys") => Keys,
        ("DELETE", p) if p.starts_with("/v1/keys/") => Keys,
        (_, "/v1/policies") => {
            NotServed("policies are installed per folder; a cluster-wide install is not built yet")
        }
        (_, "/metrics" | "/v1/stats") => {
            NotServed("counts across the partitions are not gathered yet")
        }
        _ => NotServed("no such route"),
    }
}

async fn handle(State(h): State<Http>, req: Request) -> Response {
    let path = req.uri().path().to_string();
    let r = match target(req.method().as_str(), &path) {
        Target::Health => health(&h).await,
        Target::Events if req.method() == axum::http::Method::POST => events(&h, req).await,
        Target::Events => Err(ApiError::new(
            StatusCode::METHOD_NOT_ALLOWED,
            "method_not_allowed",
            "this route does not take that method",
        )),
        Target::Propagate => match caller(&h, &req) {
            Ok(who) => propagate(&h, who).await,
            Err(e) => Err(e),
        },
        Target::Subject => {
            let rest = path.strip_prefix("/v1/subjects/").unwrap_or_default();
            let text = rest.split('/').next().unwrap_or_default();
            match credo_model::SubjectId::parse(text) {
                Ok(id) => to_owner(&h, id, req).await,
                Err(e) => Err(ApiError::new(
                    StatusCode::BAD_REQUEST,
                    "bad_id",
                    e.to_string(),
                )),
            }
        }
        Target::Screen => screen(&h, req).await,
        Target::Public => public(&h, req).await,
        Target::Keys => keys(&h, req).await,
        Target::NotServed("no such route") => Err(ApiError::new(
            StatusCode::NOT_FOUND,
            "not_found",
            format!("no route {path}"),
        )),
        Target::NotServed(why) => Err(ApiError::new(
            StatusCode::NOT_IMPLEMENTED,
            "not_in_cluster",
            format!("{path} is not served by a cluster node yet: {why} (docs/cluster.md)"),
        )),
    };
    r.unwrap_or_else(IntoResponse::into_response)
}

/// This node's partitions, their positions, and whether it holds every partition the
/// assignment gives it up to the stream's last message ([`Shared::progress`]).
async fn health(h: &Http) -> Result<Response, ApiError> {
    let p = h
        .node
        .progress()
        .await
        .map_err(|e| unavailable(e.code(), e.to_string()))?;
    Ok(axum::Json(json!({
        "status": "ok",
        "node": h.node.config.name,
        "partitions": p.partitions,
        "applied": p.applied,
        "public_applied": p.public_applied,
        "restored_from_snapshot": p.restored,
        "caught_up": p.caught_up,
    }))
    .into_response())
}

/// The caller's principal from the cluster's keys (none: the public).
fn caller(h: &Http, req: &Request) -> Result<Principal, ApiError> {
    let keys = h
        .node
        .keys
        .read()
        .map_err(|_| ApiError::internal("key lock poisoned"))?;
    credo_server::auth::principal(req.headers(), &keys)
}

/// A cluster error as an API error (503: the bus or a peer is not there yet; retry).
fn unavailable(code: &'static str, message: String) -> ApiError {
    ApiError::new(StatusCode::SERVICE_UNAVAILABLE, code, message)
}

async fn events(h: &Http, req: Request) -> Result<Response, ApiError> {
    let who = caller(h, &req)?;
    credo_server::auth::require(&who, Capability::Ingest)?;
    let bytes =
        credo_server::api::read_body(req.into_body(), credo_server::api::MAX_EVENTS_BODY).await?;
    let sender = credo_engine::Sender {
        source: who.party.clone(),
        role: who.role,
    };
    let published = h
        .node
        .bus
        .publish_as(&bytes, Some(&sender))
        .await
        .map_err(|e| unavailable(e.code(), e.to_string()))?;
    // Audited as on one machine, in the node's own audit log (the replica's folder):
    // counts only, the events are in the stream.
    let op = credo_access::AccessOp::Ingest {
        accepted: published.lines,
        duplicates: 0,
        rejected: published.refused.len() as u64,
    };
    h.node
        .public
        .state
        .commits
        .submit(vec![credo_server::api::pending(&who, op)])
        .await?;
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
    let failed = |e: crate::NodeError| unavailable(e.code(), e.to_string());
    let bus = &h.node.bus;
    let (round, nodes) = crate::flow::request(bus).await.map_err(failed)?;
    let reports = crate::flow::wait(bus, round, &nodes, std::time::Duration::from_secs(300))
        .await
        .map_err(failed)?;
    Ok(axum::Json(json!({"round": round, "nodes": reports})).into_response())
}

async fn public(h: &Http, req: Request) -> Result<Response, ApiError> {
    h.node
        .public
        .app
        .clone()
        .oneshot(req)
        .await
        .map_err(|e| ApiError::internal(e.to_string()))
}

/// Makes or revokes a key of the cluster: in the bucket (every node has it within
/// [`crate::keys::SYNC`]), and in this node's audit log by the caller, as one machine logs it.
async fn keys(h: &Http, req: Request) -> Result<Response, ApiError> {
    #[derive(serde::Deserialize)]
    #[serde(deny_unknown_fields)]
    struct KeyBody {
        role: String,
        party: Option<String>,
        subject: Option<String>,
    }
    let who = caller(h, &req)?;
    credo_server::auth::require(&who, Capability::Keys)?;
    let bus_err = |e: crate::NodeError| unavailable(e.code(), e.to_string());
    let audit = |op| credo_server::api::pending(&who, op);
    let commits = &h.node.public.state.commits;
    if req.method() == axum::http::Method::DELETE {
        let id = req
            .uri()
            .path()
            .strip_prefix("/v1/keys/")
            .unwrap_or_default()
            .to_string();
        if !crate::keys::revoke(&h.node.bus, &id)
            .await
            .map_err(bus_err)?
        {
            return Err(ApiError::new(
                StatusCode::NOT_FOUND,
                "not_found",
                format!("no key {id}"),
            ));
        }
        commits
            .submit(vec![audit(credo_access::AccessOp::KeyRevoke {
                id: id.clone(),
            })])
            .await?;
        return Ok(axum::Json(json!({ "id": id, "revoked": true })).into_response());
    }
    let bytes = credo_server::api::read_body(req.into_body(), 64 << 10).await?;
    let b: KeyBody = serde_json::from_slice(&bytes)
        .map_err(|e| ApiError::new(StatusCode::BAD_REQUEST, "bad_json", e.to_string()))?;
    let role = credo_access::Role::parse(&b.role)?;
    let subject = b
        .subject
        .as_deref()
        .map(credo_model::SubjectId::parse)
        .transpose()
        .map_err(|e| ApiError::new(StatusCode::BAD_REQUEST, "bad_id", e.to_string()))?;
    let (key, token) = credo_server::api::new_key(role, b.party, subject)?;
    let out = json!({"id": key.id, "role": role.name(), "party": key.party, "token": token});
    commits
        .submit(vec![audit(credo_access::AccessOp::KeyCreate(key.clone()))])
        .await?;
    if let Err(e) = crate::keys::create(&h.node.bus, &key).await {
        // Not in the bucket: no node takes it. The log says so too.
        let revoke = credo_access::AccessOp::KeyRevoke { id: key.id.clone() };
        let _ = commits.submit(vec![audit(revoke)]).await;
        return Err(bus_err(e));
    }
    Ok((StatusCode::CREATED, axum::Json(out)).into_response())
}

/// A number that warns belongs to a listed subject: its owner answers (and logs the
/// inquiry); any other answer (no warning, a bad number) is the replica's.
async fn screen(h: &Http, req: Request) -> Result<Response, ApiError> {
    type Params = axum::extract::Query<std::collections::HashMap<String, String>>;
    let number = Params::try_from_uri(req.uri())
        .ok()
        .and_then(|q| q.0.get("number").cloned());
    let subject = number.and_then(|n| {
        let e = h
            .node
            .public
            .state
            .engine
            .read()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        e.screen_call(&n).ok().and_then(|s| s.subject)
    });
    match subject {
        Some(id) => to_owner(h, id, req).await,
        None => public(h, req).await,
    }
}

/// Sends a request about subject `id` to the owner of its partition: this node's
/// partition app, or the owner over HTTP.
async fn to_owner(
    h: &Http,
    id: credo_model::SubjectId,
    req: Request,
) -> Result<Response, ApiError> {
    let p = h.node.bus.partitioning().of(id);
    // The assignment as last read (every 250 ms): no round trip to the bucket here.
    let owner = h.node.owner_of(p);
    let mine = owner.as_deref() == Some(h.node.config.name.as_str());
    if mine && let Some(part) = h.node.part(p) {
        return part
            .app
            .clone()
            .oneshot(req)
            .await
            .map_err(|e| ApiError::internal(e.to_string()));
    }
    let not_owner = |m: String| unavailable("not_owner", m);
    if req.headers().contains_key(FORWARDED) {
        return Err(not_owner(format!(
            "partition {p} is moving to another node; try again"
        )));
    }
    let Some(owner) = owner else {
        return Err(not_owner(format!("partition {p} has no owner yet")));
    };
    if mine {
        return Err(not_owner(format!(
            "partition {p} is opening on this node; try again"
        )));
    }
    let addr = h
        .node
        .addr_of(&owner)
        .await
        .map_err(|e| unavailable(e.code(), e.to_string()))?
        .ok_or_else(|| not_owner(format!("node {owner} has not published its address")))?;
    let r = forward(h, &addr, req).await;
    if r.is_err() {
        h.node.forget_addr(&owner);
    }
    r
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
        HeaderValue::from_str(&h.node.config.name)
            .map_err(|e| ApiError::internal(e.to_string()))?,
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_route_of_one_machine_is_served_or_named() {
        let mut not_served = Vec::new();
        for r in credo_server::ROUTES {
            // A path as a client sends it: parameters filled in.
            let path = r
                .path
                .replace("{id}", "11010519491231002X")
                .replace("{action}", "rail_g")
                .replace("{grant}", "g1")
                .replace("{key}", "k1")
                .replace("{dispute}", "7");
            match target(r.method, &path) {
                Target::NotServed("no such route") => {
                    panic!("{} {} is neither served nor named", r.method, r.path)
                }
                Target::NotServed(_) => not_served.push(format!("{} {}", r.method, r.path)),
                _ => {}
            }
        }
        // What docs/cluster.md lists as not served yet, and nothing else.
        not_served.sort();
        assert_eq!(
            not_served,
            [
                "GET /metrics",
                "GET /v1/disputes",
                "GET /v1/notices/plan",
                "GET /v1/stats",
                "GET /v1/tipoffs",
                "POST /v1/disputes/{dispute}/resolution",
                "POST /v1/notices/impressions",
                "POST /v1/tipoffs",
                "PUT /v1/policies",
            ]
        );
        assert_eq!(target("GET", "/nope"), Target::NotServed("no such route"));
    }
}

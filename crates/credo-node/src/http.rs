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
/// Marks one leg of a gathered request: "answer for your own partitions only".
const GATHER: &str = "x-credo-gather";
/// The bucket key of a node's HTTP address.
pub(crate) fn addr_key(node: &str) -> String {
    format!("addr.{node}")
}

#[derive(Clone)]
pub(crate) struct Http {
    pub(crate) node: Shared,
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
    /// `POST /v1/tipoffs`, `POST /v1/notices/impressions`: the owner of the subject the
    /// body names (by ID or by a published case number).
    BySubjectInBody,
    /// `POST /v1/disputes/{id}/resolution`: the owner of the partition in the dispute's id.
    Dispute,
    /// Lists and counts over every partition: each owner answers for its own, merged.
    Gather(Gathered),
    /// This node's own metrics (every request it answered, its partitions' sizes).
    Metrics,
    /// `PUT /v1/policies`: the cluster's policy file, in the bucket.
    Policies,
    /// `GET /v1/notices/plan`: gathered in steps ([`crate::notices`]); `POST` with the
    /// gather mark is a node's leg of one.
    Plan,
    /// The node's public replica, with the single machine's handlers.
    Public,
    /// `POST /v1/keys`, `DELETE /v1/keys/{key}`: the cluster's keys, in the bucket.
    Keys,
    /// Not served by a node: `501 not_in_cluster`, with the reason.
    NotServed(&'static str),
}

/// What a gathered route merges.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Gathered {
    Tipoffs,
    Disputes,
    Stats,
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
    match (method, path) {
        (_, "/healthz") => Health,
        (_, "/v1/events") => Events,
        ("POST", "/v1/graph/propagate") => Propagate,
        (_, "/v1/calls/screen") => Screen,
        (_, p) if p.starts_with("/v1/subjects/") => Subject,
        (m, p) if PUBLIC.contains(&(m, p)) => Public,
        ("POST", "/v1/tipoffs" | "/v1/notices/impressions") => BySubjectInBody,
        ("GET", "/v1/tipoffs") => Gather(Gathered::Tipoffs),
        ("GET", "/v1/disputes") => Gather(Gathered::Disputes),
        ("GET", "/v1/stats") => Gather(Gathered::Stats),
        ("GET", "/metrics") => Metrics,
        ("POST", p) if p.starts_with("/v1/disputes/") && p.ends_with("/resolution") => Dispute,
        (_, "/v1/notices/plan") => Plan,
        ("POST", "/v1/keys") => Keys,
        ("DELETE", p) if p.starts_with("/v1/keys/") => Keys,
        ("PUT", "/v1/policies") => Policies,
        _ => NotServed("no such route"),
    }
}

async fn handle(State(h): State<Http>, req: Request) -> Response {
    let started = std::time::Instant::now();
    let path = req.uri().path().to_string();
    let t = target(req.method().as_str(), &path);
    // Requests the node answers itself are counted here; the others by the partition's
    // or the replica's app that answers them (on this node or the owner).
    let counted = match t {
        Target::Health => Some("/healthz"),
        Target::Events => Some("/v1/events"),
        Target::Propagate => Some("/v1/graph/propagate"),
        Target::Gather(_) if req.headers().contains_key(GATHER) => None,
        Target::Gather(Gathered::Tipoffs) => Some("/v1/tipoffs"),
        Target::Gather(Gathered::Disputes) => Some("/v1/disputes"),
        Target::Gather(Gathered::Stats) => Some("/v1/stats"),
        Target::Metrics => Some("/metrics"),
        Target::Policies => Some("/v1/policies"),
        Target::Plan if req.headers().contains_key(GATHER) => None,
        Target::Plan => Some("/v1/notices/plan"),
        Target::Keys if req.method() == axum::http::Method::DELETE => Some("/v1/keys/{key}"),
        Target::Keys => Some("/v1/keys"),
        Target::NotServed(_) => Some("other"),
        _ => None,
    };
    let res = route(h.clone(), t, path, req).await;
    if let Some(route) = counted {
        h.node.public.state.metrics.observe(
            route,
            res.status().as_u16(),
            started.elapsed().as_secs_f64(),
        );
    }
    res
}

async fn route(h: Http, t: Target, path: String, req: Request) -> Response {
    let r = match t {
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
        Target::BySubjectInBody => match limit(&h, &req) {
            Ok(()) => by_subject_in_body(&h, req).await,
            Err(e) => Err(e),
        },
        Target::Dispute => dispute(&h, req).await,
        Target::Gather(g) if req.headers().contains_key(GATHER) => leg(&h, g, req).await,
        Target::Gather(g) => gather(&h, g, req).await,
        Target::Metrics => metrics(&h).await,
        Target::Policies => policies(&h, req).await,
        Target::Plan if req.method() == axum::http::Method::GET => {
            crate::notices::plan(&h, req).await
        }
        Target::Plan if req.headers().contains_key(GATHER) => crate::notices::leg(&h, req).await,
        Target::Plan => Err(ApiError::new(
            StatusCode::METHOD_NOT_ALLOWED,
            "method_not_allowed",
            "this route does not take that method",
        )),
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
        "propagated_round": h.node.propagated.load(std::sync::atomic::Ordering::Acquire),
        "caught_up": p.caught_up,
    }))
    .into_response())
}

/// The caller's principal from the cluster's keys (none: the public).
pub(crate) fn caller(h: &Http, req: &Request) -> Result<Principal, ApiError> {
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
    let subject = number.and_then(|n| replica(h).screen_call(&n).ok().and_then(|s| s.subject));
    match subject {
        Some(id) => to_owner(h, id, req).await,
        None => public(h, req).await,
    }
}

/// Sends a request about subject `id` to the owner of its partition.
async fn to_owner(
    h: &Http,
    id: credo_model::SubjectId,
    req: Request,
) -> Result<Response, ApiError> {
    to_partition(h, h.node.bus.partitioning().of(id), req).await
}

/// Sends a request to the owner of partition `p`: this node's partition app, or the
/// owner over HTTP.
async fn to_partition(h: &Http, p: u32, req: Request) -> Result<Response, ApiError> {
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

/// The public rate limit of a route that a partition's owner answers (`POST /v1/tipoffs`),
/// taken here at the edge, where the client's address is known (the owner sees the
/// forwarding node's), from the replica's limiter; a partition's app has none of its own.
fn limit(h: &Http, req: &Request) -> Result<(), ApiError> {
    let (m, p) = (req.method().as_str(), req.uri().path());
    if !credo_server::ROUTES
        .iter()
        .any(|r| r.limited && r.method == m && r.path == p)
    {
        return Ok(());
    }
    h.node
        .public
        .state
        .limiter
        .take(
            credo_server::guard::client_ip(req),
            std::time::Instant::now(),
        )
        .map_err(ApiError::rate_limited)
}

/// A tip-off or a notice's impressions go to the owner of the subject the body names: by
/// its ID, or by a case number the public list has published. A body that names none (or
/// a bad one) is answered by the public replica, with the single machine's error.
async fn by_subject_in_body(h: &Http, req: Request) -> Result<Response, ApiError> {
    #[derive(serde::Deserialize)]
    struct Named {
        subject: Option<String>,
        case: Option<String>,
    }
    let (parts, body) = req.into_parts();
    let bytes = credo_server::api::read_body(body, credo_server::api::MAX_BODY).await?;
    let named: Option<Named> = serde_json::from_slice(&bytes).ok();
    let subject = named.and_then(|n| match (n.subject, n.case) {
        (Some(s), _) => credo_model::SubjectId::parse(&s).ok(),
        (None, Some(case)) => replica(h).published_case_subject(&case),
        (None, None) => None,
    });
    let req = Request::from_parts(parts, Body::from(bytes));
    match subject {
        Some(id) => to_owner(h, id, req).await,
        None => public(h, req).await,
    }
}

/// A dispute's resolution goes to the owner of the partition its id names
/// ([`credo_server::body::IdSpace`]); a path that is not an id gets the replica's error.
async fn dispute(h: &Http, req: Request) -> Result<Response, ApiError> {
    let id = req
        .uri()
        .path()
        .strip_prefix("/v1/disputes/")
        .and_then(|r| r.strip_suffix("/resolution"))
        .and_then(|x| x.parse::<u64>().ok());
    match id {
        Some(id) => {
            let n = h.node.bus.partitioning().count();
            let p = credo_server::body::IdSpace::partition_of(id, n);
            to_partition(h, p, req).await
        }
        None => public(h, req).await,
    }
}

/// A copy of a request with `body` (the client's address kept, for rate limits).
fn copy_request(parts: &axum::http::request::Parts, body: &bytes::Bytes) -> Request {
    let mut req = Request::new(Body::from(body.clone()));
    *req.method_mut() = parts.method.clone();
    *req.uri_mut() = parts.uri.clone();
    *req.headers_mut() = parts.headers.clone();
    type Peer = axum::extract::ConnectInfo<std::net::SocketAddr>;
    if let Some(peer) = parts.extensions.get::<Peer>() {
        req.extensions_mut().insert(*peer);
    }
    req
}

/// The partitions this node answers for in a gather: those the assignment as last read
/// gives it and that it has open.
pub(crate) fn serving(h: &Http) -> Vec<std::sync::Arc<crate::Part>> {
    let me = h.node.config.name.as_str();
    let n = h.node.bus.partitioning().count();
    (0..n)
        .filter(|&p| h.node.owner_of(p).as_deref() == Some(me))
        .filter_map(|p| h.node.part(p))
        .collect()
}

/// One node's leg of a gathered request: the answers of its own partitions, as
/// `{"partitions": [p…], "answers": […]}` (for the stats, `"tally"`: their counts
/// added up). A partition's answer other than 200 (a key refused) is the leg's answer.
async fn leg(h: &Http, g: Gathered, req: Request) -> Result<Response, ApiError> {
    let parts = serving(h);
    let ids: Vec<u32> = parts.iter().map(|p| p.partition).collect();
    if g == Gathered::Stats {
        let engines: Vec<_> = parts.iter().map(|p| p.engine().clone()).collect();
        let tally = tokio::task::spawn_blocking(move || {
            let mut sum: Option<credo_engine::Tally> = None;
            for e in engines {
                let t = e
                    .read()
                    .unwrap_or_else(std::sync::PoisonError::into_inner)
                    .tally(None);
                add_tally(&mut sum, t)?;
            }
            Ok::<_, ApiError>(sum)
        })
        .await
        .map_err(|e| ApiError::internal(e.to_string()))??;
        return Ok(axum::Json(json!({"partitions": ids, "tally": tally})).into_response());
    }
    let (head, body) = req.into_parts();
    let bytes = credo_server::api::read_body(body, credo_server::api::MAX_BODY).await?;
    let mut answers = Vec::with_capacity(parts.len());
    for part in &parts {
        let res = part
            .app
            .clone()
            .oneshot(copy_request(&head, &bytes))
            .await
            .map_err(|e| ApiError::internal(e.to_string()))?;
        if res.status() != StatusCode::OK {
            return Ok(res);
        }
        answers.push(json_of(res).await?);
    }
    Ok(axum::Json(json!({"partitions": ids, "answers": answers})).into_response())
}

/// The node's public replica's engine, for reading.
pub(crate) fn replica(h: &Http) -> std::sync::RwLockReadGuard<'_, credo_engine::Engine> {
    h.node
        .public
        .state
        .engine
        .read()
        .unwrap_or_else(std::sync::PoisonError::into_inner)
}

fn add_tally(
    sum: &mut Option<credo_engine::Tally>,
    t: credo_engine::Tally,
) -> Result<(), ApiError> {
    match sum {
        Some(s) => s.add(&t).map_err(|e| ApiError::internal(e.to_string())),
        None => {
            *sum = Some(t);
            Ok(())
        }
    }
}

pub(crate) async fn json_of(res: Response) -> Result<serde_json::Value, ApiError> {
    let bytes = axum::body::to_bytes(res.into_body(), 256 << 20)
        .await
        .map_err(|e| ApiError::internal(format!("reading a node's answer: {e}")))?;
    serde_json::from_slice(&bytes)
        .map_err(|e| ApiError::internal(format!("a node's answer is not JSON: {e}")))
}

/// What each owner's leg carries: the same body for every owner, or a body made for the
/// partitions the owner holds (as this node last read the assignment).
pub(crate) enum Bodies<'a> {
    Same(bytes::Bytes),
    /// A routed leg: a partition answered by another node than the one its part of the
    /// question went to (the assignment moved since it was read) fails the gather with
    /// `503 not_owner`, as a partition answered twice or not at all does.
    Routed(&'a (dyn Fn(&[u32]) -> bytes::Bytes + Sync)),
}

/// Sends a request (`head` and a body, marked as a leg) to every owner, this node's own
/// leg answered by `own`, and returns the legs' answers (`{"partitions": [p…], …}`) once
/// they cover every partition exactly once (else `503 not_owner`: partitions are moving;
/// try again). A leg's answer other than 200 (a key refused) is returned as `Err`.
pub(crate) async fn legs<F, Fut>(
    h: &Http,
    head: &axum::http::request::Parts,
    bodies: Bodies<'_>,
    own: F,
) -> Result<Result<Vec<serde_json::Value>, Response>, ApiError>
where
    F: FnOnce(Request) -> Fut,
    Fut: std::future::Future<Output = Result<Response, ApiError>>,
{
    let n = h.node.bus.partitioning().count();
    let mut owners: std::collections::BTreeMap<String, Vec<u32>> = Default::default();
    for p in 0..n {
        if let Some(node) = h.node.owner_of(p) {
            owners.entry(node).or_default().push(p);
        }
    }
    let me = h.node.config.name.as_str();
    let mut own = Some(own);
    let legs = owners.iter().map(|(node, parts)| {
        let body = match &bodies {
            Bodies::Same(b) => b.clone(),
            Bodies::Routed(f) => f(parts),
        };
        let mut req = copy_request(head, &body);
        req.headers_mut()
            .insert(GATHER, HeaderValue::from_static("1"));
        let mine = (node == me).then(|| own.take()).flatten();
        async move {
            if let Some(own) = mine {
                return own(req).await;
            }
            let addr = h
                .node
                .addr_of(node)
                .await
                .map_err(|e| unavailable(e.code(), e.to_string()))?
                .ok_or_else(|| {
                    unavailable(
                        "not_owner",
                        format!("node {node} has not published its address"),
                    )
                })?;
            let r = forward(h, &addr, req).await;
            if r.is_err() {
                h.node.forget_addr(node);
            }
            r
        }
    });
    let mut seen = vec![0u32; n as usize];
    let mut misrouted = Vec::new();
    let mut answers = Vec::new();
    for (r, (node, sent)) in futures_util::future::join_all(legs)
        .await
        .into_iter()
        .zip(&owners)
    {
        let res = r?;
        if res.status() != StatusCode::OK {
            return Ok(Err(res));
        }
        let v = json_of(res).await?;
        let answered: Vec<u32> = v["partitions"]
            .as_array()
            .into_iter()
            .flatten()
            .filter_map(|p| u32::try_from(p.as_u64()?).ok())
            .collect();
        for &p in &answered {
            if let Some(c) = seen.get_mut(p as usize) {
                *c += 1;
            }
            if matches!(bodies, Bodies::Routed(_)) && !sent.contains(&p) {
                misrouted.push((p, node.clone()));
            }
        }
        answers.push(v);
    }
    let off: Vec<usize> = (0..seen.len()).filter(|&p| seen[p] != 1).collect();
    if !off.is_empty() {
        return Err(unavailable(
            "not_owner",
            format!(
                "partitions {off:?} did not answer exactly once (moving between nodes); try again"
            ),
        ));
    }
    if !misrouted.is_empty() {
        return Err(unavailable(
            "not_owner",
            format!(
                "partitions answered by other nodes than their part of the question went to (moving between nodes): {misrouted:?}; try again"
            ),
        ));
    }
    Ok(Ok(answers))
}

/// A list or count over every partition: each owner answers for the partitions it owns
/// ([`leg`]), and this node merges the legs once they cover every partition exactly once
/// (else `503 not_owner`: partitions are moving; try again).
async fn gather(h: &Http, g: Gathered, req: Request) -> Result<Response, ApiError> {
    let (head, body) = req.into_parts();
    let bytes = credo_server::api::read_body(body, credo_server::api::MAX_BODY).await?;
    let answers = match legs(h, &head, Bodies::Same(bytes), |req| leg(h, g, req)).await? {
        Ok(a) => a,
        Err(refused) => return Ok(refused),
    };
    let merged = match g {
        Gathered::Stats => {
            let mut sum: Option<credo_engine::Tally> = None;
            for v in &answers {
                if v["tally"].is_null() {
                    continue;
                }
                let t: credo_engine::Tally = serde_json::from_value(v["tally"].clone())
                    .map_err(|e| ApiError::internal(format!("a node's tally: {e}")))?;
                add_tally(&mut sum, t)?;
            }
            let sum = sum.ok_or_else(|| ApiError::internal("no partition answered"))?;
            let model = replica(h).model().clone();
            credo_server::body::stats_json(&sum, &model)
        }
        Gathered::Tipoffs | Gathered::Disputes => {
            let (field, newest_first, time) = match g {
                Gathered::Tipoffs => ("tipoffs", true, "at"),
                _ => ("disputes", false, "filed"),
            };
            let mut all: Vec<serde_json::Value> = answers
                .iter()
                .flat_map(|v| v["answers"].as_array().cloned().unwrap_or_default())
                .flat_map(|a| a[field].as_array().cloned().unwrap_or_default())
                .collect();
            // One machine lists them in the order they were filed (tip-offs newest
            // first): here, by time, then id.
            all.sort_by(|a, b| {
                let key = |v: &serde_json::Value| {
                    (
                        v[time].as_str().unwrap_or_default().to_string(),
                        v["id"].as_u64().unwrap_or_default(),
                    )
                };
                let o = key(a).cmp(&key(b));
                if newest_first { o.reverse() } else { o }
            });
            json!({ field: all })
        }
    };
    Ok(axum::Json(merged).into_response())
}

/// This node's metrics, in the single machine's format: every request this node answered
/// (its partitions' apps, its replica's and its own routes share one registry) and the
/// sizes of the partitions it holds. Each node is scraped on its own; the cluster's
/// totals are the scraper's sums.
async fn metrics(h: &Http) -> Result<Response, ApiError> {
    let parts = h.node.owned();
    let (mut subjects, mut events, mut audit, mut inquiries) = (0.0, 0.0, 0.0, 0.0);
    for p in &parts {
        if let Some(part) = h.node.part(*p) {
            let e = part
                .engine()
                .read()
                .unwrap_or_else(std::sync::PoisonError::into_inner);
            subjects += e.subject_count() as f64;
            events += e.event_count() as f64;
            audit += e.access().seq as f64;
            inquiries += e.inquiries().len() as f64;
        }
    }
    let text = h.node.public.state.metrics.render(&[
        (
            "credo_subjects",
            "Subjects known in this node's partitions.",
            subjects,
        ),
        (
            "credo_events",
            "Events in the logs of this node's partitions.",
            events,
        ),
        (
            "credo_audit_entries",
            "Entries in the audit logs of this node's partitions.",
            audit,
        ),
        (
            "credo_inquiries",
            "Inquiries kept (12 months) in this node's partitions.",
            inquiries,
        ),
        (
            "credo_node_partitions",
            "Partitions this node applies.",
            parts.len() as f64,
        ),
        (
            "credo_node_public_applied",
            "The public stream's position in this node's replica.",
            h.node.public.applied() as f64,
        ),
    ]);
    Ok(([(header::CONTENT_TYPE, "text/plain; version=0.0.4")], text).into_response())
}

/// Installs a policy file on every node: checked as one machine checks it, stored in the
/// bucket, installed at once in this node's folders and by every other node within
/// [`crate::keys::SYNC`] ([`crate::policies`]); the install is in this node's audit log by
/// the caller's key.
async fn policies(h: &Http, req: Request) -> Result<Response, ApiError> {
    let who = caller(h, &req)?;
    credo_server::auth::require(&who, Capability::PolicyInstall)?;
    let bytes = credo_server::api::read_body(req.into_body(), 4 << 20).await?;
    let text = String::from_utf8(bytes.to_vec())
        .map_err(|_| ApiError::bad_request("bad_policy", "the policy file is not UTF-8"))?;
    let state = &h.node.public.state;
    let offers = state.engine()?.check_policies("policies.toml", &text)?;
    let bus_err = |e: crate::NodeError| unavailable(e.code(), e.to_string());
    crate::policies::store(&h.node.bus, &text)
        .await
        .map_err(bus_err)?;
    crate::policies::sync(&h.node.bus, &h.node.parts, state, &h.node.policy)
        .await
        .map_err(bus_err)?;
    let sha = credo_engine::access::sha256_hex(text.as_bytes());
    let op = credo_access::AccessOp::PolicyInstall {
        offers: offers as u64,
        sha256: sha.clone(),
    };
    state
        .commits
        .submit(vec![credo_server::api::pending(&who, op)])
        .await?;
    Ok(axum::Json(json!({ "offers": offers, "sha256": sha })).into_response())
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
        // Every route of one machine is served.
        assert!(not_served.is_empty(), "{not_served:?}");
        assert_eq!(target("GET", "/v1/notices/plan"), Target::Plan);
        // Gathered, routed by the body, by the dispute's id, or kept in the bucket.
        assert_eq!(target("GET", "/v1/stats"), Target::Gather(Gathered::Stats));
        assert_eq!(target("POST", "/v1/disputes/7/resolution"), Target::Dispute);
        assert_eq!(
            target("POST", "/v1/notices/impressions"),
            Target::BySubjectInBody
        );
        assert_eq!(target("PUT", "/v1/policies"), Target::Policies);
        assert_eq!(target("GET", "/v1/policies"), Target::Public);
        assert_eq!(target("GET", "/nope"), Target::NotServed("no such route"));
    }
}

//! The HTTP edge. [`app`] builds the router (tests call it without a socket); [`serve`]
//! binds it to a listener.
//!
//! - Who may call what is [`ROUTES`]: each route with the capability it needs; the role
//!   table is `credo_access::allowed`. A test walks every route under every role.
//! - Writes and third-party reads go through the commit thread ([`commit`]), which logs
//!   them in the hash-chained audit log (and inquiries) with group commit before answering.
//! - Errors are always JSON `{"code", "message"}` with a 4xx for bad input ([`error`]).

pub mod api;
pub mod auth;
pub mod body;
pub mod commit;
pub mod error;
pub mod graph;
pub mod guard;
pub mod map;

use axum::extract::State;
use axum::http::{StatusCode, header};
use axum::response::{Html, IntoResponse, Response};
use axum::routing::{delete, get, post};
use axum::{Json, Router, middleware};
use credo_access::Capability;
use credo_engine::Engine;
pub use error::ApiError;
use serde::Serialize;
use std::net::SocketAddr;
use std::sync::{Arc, LazyLock, RwLock};
use utoipa::OpenApi;

#[derive(Clone)]
pub struct AppState {
    pub engine: Arc<RwLock<Engine>>,
    pub commits: commit::Committer,
    pub limiter: Arc<guard::RateLimiter>,
    pub metrics: Arc<guard::Metrics>,
    /// The map's generation as last seen; live sessions wake when it moves on.
    pub map_generation: Arc<tokio::sync::watch::Sender<u64>>,
}

/// Server settings.
#[derive(Debug, Clone, Copy)]
pub struct Config {
    /// Requests per second per client on the public routes, and the burst allowed.
    pub public_rate: f64,
    pub public_burst: f64,
}

impl Default for Config {
    fn default() -> Config {
        Config {
            public_rate: 10.0,
            public_burst: 40.0,
        }
    }
}

impl AppState {
    /// The engine, for reading.
    pub fn engine(&self) -> Result<std::sync::RwLockReadGuard<'_, Engine>, ApiError> {
        self.engine
            .read()
            .map_err(|_| ApiError::internal("state lock poisoned"))
    }

    /// Takes the engine's journal to the commit thread.
    pub fn new(engine: Engine, config: Config) -> std::io::Result<AppState> {
        AppState::with_access_log(engine, config, None)
    }

    /// [`AppState::new`] for a cluster partition, whose operations about its subjects go
    /// through the cluster's access log ([`commit::AccessLog`]).
    pub fn with_access_log(
        mut engine: Engine,
        config: Config,
        log: Option<Arc<dyn commit::AccessLog>>,
    ) -> std::io::Result<AppState> {
        let journal = engine
            .take_journal()
            .ok_or_else(|| std::io::Error::other("the engine's journal is held elsewhere"))?;
        let engine = Arc::new(RwLock::new(engine));
        let commits = commit::Committer::start_with(engine.clone(), journal, log)?;
        Ok(AppState {
            engine,
            commits,
            limiter: Arc::new(guard::RateLimiter::new(
                config.public_rate,
                config.public_burst,
            )),
            metrics: Arc::new(guard::Metrics::new(
                &ROUTES.iter().map(|r| r.path).collect::<Vec<_>>(),
            )),
            map_generation: Arc::new(tokio::sync::watch::Sender::new(0)),
        })
    }
}

/// One route of the API and what it needs.
#[derive(Debug, Clone, Copy)]
pub struct Route {
    /// `GET`, `POST`, `PUT` or `DELETE`.
    pub method: &'static str,
    pub path: &'static str,
    pub capability: Capability,
    /// In the OpenAPI document (the pages and the document itself are not).
    pub documented: bool,
    /// Rate-limited per client.
    pub limited: bool,
}

const fn route(method: &'static str, path: &'static str, capability: Capability) -> Route {
    Route {
        method,
        path,
        capability,
        documented: true,
        limited: false,
    }
}

/// Every route. `app` serves exactly these (tested), the OpenAPI document lists the
/// documented ones (tested), and the role matrix test walks them all.
pub const ROUTES: &[Route] = &[
    Route {
        documented: false,
        ..route("GET", "/", Capability::PublicInfo)
    },
    Route {
        documented: false,
        ..route("GET", "/me", Capability::PublicInfo)
    },
    Route {
        documented: false,
        ..route("GET", "/court", Capability::PublicInfo)
    },
    Route {
        documented: false,
        ..route("GET", "/openapi.json", Capability::PublicInfo)
    },
    route("GET", "/healthz", Capability::PublicInfo),
    route("GET", "/metrics", Capability::PublicInfo),
    route("GET", "/v1/stats", Capability::PublicInfo),
    Route {
        limited: true,
        ..route("GET", "/v1/list", Capability::ListSearch)
    },
    Route {
        limited: true,
        ..route("GET", "/v1/map/nearby", Capability::MapView)
    },
    Route {
        limited: true,
        ..route("GET", "/v1/map/view", Capability::MapView)
    },
    Route {
        limited: true,
        ..route("GET", "/v1/map/live", Capability::MapView)
    },
    Route {
        documented: false,
        ..route("GET", "/map", Capability::PublicInfo)
    },
    route("GET", "/v1/policies", Capability::PolicyList),
    route("PUT", "/v1/policies", Capability::PolicyInstall),
    route("POST", "/v1/policies/check", Capability::PolicyInstall),
    Route {
        limited: true,
        ..route("POST", "/v1/tipoffs", Capability::TipoffFile)
    },
    route("GET", "/v1/tipoffs", Capability::TipoffRead),
    route("POST", "/v1/events", Capability::Ingest),
    route(
        "GET",
        "/v1/subjects/{id}/check/{action}",
        Capability::Decide,
    ),
    route("GET", "/v1/subjects/{id}/score", Capability::ReadScore),
    route("GET", "/v1/subjects/{id}/report", Capability::Report),
    route("POST", "/v1/subjects/{id}/consents", Capability::Consent),
    route("GET", "/v1/subjects/{id}/consents", Capability::Consent),
    route(
        "DELETE",
        "/v1/subjects/{id}/consents/{grant}",
        Capability::Consent,
    ),
    route(
        "POST",
        "/v1/subjects/{id}/disputes",
        Capability::DisputeFile,
    ),
    route("GET", "/v1/disputes", Capability::DisputeRead),
    route(
        "POST",
        "/v1/disputes/{dispute}/resolution",
        Capability::DisputeResolve,
    ),
    route("POST", "/v1/keys", Capability::Keys),
    route("GET", "/v1/keys", Capability::Keys),
    route("DELETE", "/v1/keys/{key}", Capability::Keys),
    route("GET", "/v1/audit", Capability::Audit),
    route("GET", "/v1/audit/verify", Capability::Audit),
    route("GET", "/v1/calls/screen", Capability::CallScreen),
    route("GET", "/v1/notices/plan", Capability::NoticePlan),
    route("POST", "/v1/notices/impressions", Capability::NoticePlan),
    route("POST", "/v1/graph/propagate", Capability::GraphRun),
];

#[derive(OpenApi)]
#[openapi(
    info(title = "credo", description = "Credit scores, the court list and decisions, with consent, inquiries, disputes and a tamper-evident audit log. Errors are `{\"code\", \"message\"}`; codes in docs/errors.md."),
    paths(
        health, metrics, stats,
        api::list, api::policies, api::install_policies, api::check_policies, api::tipoff, api::tipoffs, map::nearby, map::view, map::live, api::events,
        api::check, api::score, api::report, api::grant, api::consents, api::revoke,
        api::dispute, api::disputes, api::resolve, api::create_key, api::keys, api::revoke_key,
        api::audit_log, api::audit_verify,
        graph::screen, graph::plan, graph::impressions, graph::propagate,
    ),
    components(schemas(ApiError, api::GrantBody, api::DisputeBody, api::ResolutionBody, api::TipoffBody, api::KeyBody, graph::ImpressionsBody)),
    modifiers(&KeyScheme),
)]
pub struct ApiDoc;

struct KeyScheme;

impl utoipa::Modify for KeyScheme {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        use utoipa::openapi::security::{HttpAuthScheme, HttpBuilder, SecurityScheme};
        let components = openapi.components.get_or_insert_with(Default::default);
        components.add_security_scheme(
            "key",
            SecurityScheme::Http(HttpBuilder::new().scheme(HttpAuthScheme::Bearer).build()),
        );
    }
}

#[derive(Serialize)]
struct Health {
    status: &'static str,
    subjects: usize,
    events: u64,
    audit_entries: u64,
}

/// Liveness and size.
#[utoipa::path(get, path = "/healthz", tag = "service", responses((status = 200, description = "ok")))]
async fn health(State(s): State<AppState>) -> Result<Json<Health>, ApiError> {
    let e = s.engine()?;
    Ok(Json(Health {
        status: "ok",
        subjects: e.subject_count(),
        events: e.event_count(),
        audit_entries: e.access().seq,
    }))
}

/// Prometheus metrics: requests and latency per route, state sizes.
#[utoipa::path(get, path = "/metrics", tag = "service", responses((status = 200, description = "text exposition")))]
async fn metrics(State(s): State<AppState>) -> Result<Response, ApiError> {
    let (subjects, events, audit, inquiries) = {
        let e = s.engine()?;
        (
            e.subject_count() as f64,
            e.event_count() as f64,
            e.access().seq as f64,
            e.inquiries().len() as f64,
        )
    };
    let text = s.metrics.render(&[
        ("credo_subjects", "Subjects known.", subjects),
        ("credo_events", "Events in the log.", events),
        ("credo_audit_entries", "Entries in the audit log.", audit),
        ("credo_inquiries", "Inquiries kept (12 months).", inquiries),
    ]);
    Ok(([(header::CONTENT_TYPE, "text/plain; version=0.0.4")], text).into_response())
}

/// Aggregates only: counts, score distribution, tiers.
#[utoipa::path(get, path = "/v1/stats", tag = "service", responses((status = 200, description = "aggregates")))]
async fn stats(State(s): State<AppState>) -> Result<Json<serde_json::Value>, ApiError> {
    let engine = s.engine.clone();
    let (tally, model) = tokio::task::spawn_blocking(move || {
        engine
            .read()
            .map(|e| (e.tally(None), e.model().clone()))
            .map_err(|_| ApiError::internal("state lock poisoned"))
    })
    .await
    .map_err(|_| ApiError::internal("summary task failed"))??;
    Ok(Json(body::stats_json(&tally, &model)))
}

async fn openapi() -> Response {
    (
        [(header::CONTENT_TYPE, "application/json")],
        ApiDoc::openapi().to_pretty_json().unwrap_or_default(),
    )
        .into_response()
}

async fn index() -> Html<&'static str> {
    Html(include_str!("index.html"))
}

/// A page with the shared script (`pages/common.js`) put in place of its marker, once.
fn page(cell: &'static LazyLock<String>) -> Html<&'static str> {
    Html(cell.as_str())
}

fn with_common(html: &str) -> String {
    html.replace("/* credo:common.js */", include_str!("pages/common.js"))
}

static ME: LazyLock<String> = LazyLock::new(|| with_common(include_str!("pages/me.html")));
static COURT: LazyLock<String> = LazyLock::new(|| with_common(include_str!("pages/court.html")));

async fn me_page() -> Html<&'static str> {
    page(&ME)
}

async fn court_page() -> Html<&'static str> {
    page(&COURT)
}

static MAP: LazyLock<String> = LazyLock::new(|| {
    with_common(include_str!("pages/map.html"))
        .replace(
            "/* credo:leaflet.js */",
            include_str!("pages/vendor/leaflet.js"),
        )
        .replace(
            "/* credo:leaflet.css */",
            include_str!("pages/vendor/leaflet.css"),
        )
        .replace("/* credo:basemap.js */", include_str!("pages/basemap.js"))
});

async fn map_page() -> Html<&'static str> {
    page(&MAP)
}

async fn not_found() -> ApiError {
    ApiError::not_found("no such route")
}

async fn method_not_allowed() -> ApiError {
    ApiError::new(
        StatusCode::METHOD_NOT_ALLOWED,
        "method_not_allowed",
        "this route does not take that method",
    )
}

pub fn app(state: AppState) -> Router {
    let limited = Router::new()
        .route("/v1/list", get(api::list))
        .route("/v1/tipoffs", post(api::tipoff).get(api::tipoffs))
        .route("/v1/map/nearby", get(map::nearby))
        .route("/v1/map/view", get(map::view))
        .route("/v1/map/live", get(map::live))
        .route_layer(middleware::from_fn_with_state(
            state.clone(),
            guard::rate_limit,
        ));
    Router::new()
        .route("/", get(index))
        .route("/me", get(me_page))
        .route("/court", get(court_page))
        .route("/map", get(map_page))
        .route("/openapi.json", get(openapi))
        .route("/healthz", get(health))
        .route("/metrics", get(metrics))
        .route("/v1/stats", get(stats))
        .route(
            "/v1/policies",
            get(api::policies).put(api::install_policies),
        )
        .route("/v1/policies/check", post(api::check_policies))
        .route("/v1/events", post(api::events))
        .route("/v1/subjects/{id}/check/{action}", get(api::check))
        .route("/v1/subjects/{id}/score", get(api::score))
        .route("/v1/subjects/{id}/report", get(api::report))
        .route(
            "/v1/subjects/{id}/consents",
            post(api::grant).get(api::consents),
        )
        .route("/v1/subjects/{id}/consents/{grant}", delete(api::revoke))
        .route("/v1/subjects/{id}/disputes", post(api::dispute))
        .route("/v1/disputes", get(api::disputes))
        .route("/v1/disputes/{dispute}/resolution", post(api::resolve))
        .route("/v1/keys", post(api::create_key).get(api::keys))
        .route("/v1/keys/{key}", delete(api::revoke_key))
        .route("/v1/audit", get(api::audit_log))
        .route("/v1/audit/verify", get(api::audit_verify))
        .route("/v1/calls/screen", get(graph::screen))
        .route("/v1/notices/plan", get(graph::plan))
        .route("/v1/notices/impressions", post(graph::impressions))
        .route("/v1/graph/propagate", post(graph::propagate))
        .merge(limited)
        .fallback(not_found)
        .method_not_allowed_fallback(method_not_allowed)
        .layer(middleware::from_fn_with_state(
            state.clone(),
            guard::measure,
        ))
        // Bodies are read with explicit limits in the handlers (413 with a JSON body).
        .layer(axum::extract::DefaultBodyLimit::disable())
        .with_state(state)
}

/// Serves until `shutdown` resolves; then the journal returns to the engine.
pub async fn serve(
    listener: tokio::net::TcpListener,
    engine: Engine,
    config: Config,
    shutdown: impl std::future::Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    let state = AppState::new(engine, config)?;
    axum::serve(
        listener,
        app(state).into_make_service_with_connect_info::<SocketAddr>(),
    )
    .with_graceful_shutdown(shutdown)
    .await
}

//! The HTTP edge. `app(state)` builds the router so tests can call it without a socket;
//! [`serve`] binds it to a listener.
//!
//! What it offers so far: health and aggregate statistics. Per-subject data is served
//! only once keys, roles and consent exist (see ARCHITECTURE.md): a third party never
//! sees a subject's score without the subject's grant, and every such read is logged.

use axum::extract::State;
use axum::http::StatusCode;
use axum::response::{Html, IntoResponse, Response};
use axum::routing::get;
use axum::{Json, Router};
use credo_engine::Engine;
use serde::Serialize;
use std::sync::{Arc, RwLock};

#[derive(Clone)]
pub struct AppState {
    engine: Arc<RwLock<Engine>>,
}

impl AppState {
    pub fn new(engine: Engine) -> AppState {
        AppState {
            engine: Arc::new(RwLock::new(engine)),
        }
    }
}

/// Every error the API returns: a stable code, an HTTP status and a message.
#[derive(Debug, Serialize)]
pub struct ApiError {
    pub code: &'static str,
    pub message: String,
    #[serde(skip)]
    pub status: StatusCode,
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        (self.status, Json(self)).into_response()
    }
}

fn internal(what: &str) -> ApiError {
    ApiError {
        code: "internal",
        message: what.to_string(),
        status: StatusCode::INTERNAL_SERVER_ERROR,
    }
}

#[derive(Serialize)]
struct Health {
    status: &'static str,
    subjects: usize,
    events: u64,
}

#[derive(Serialize)]
struct Band {
    from: u16,
    to: u16,
    count: usize,
}

#[derive(Serialize)]
struct TierCount {
    tier: String,
    count: usize,
}

#[derive(Serialize)]
struct Stats {
    as_of: String,
    model: String,
    subjects: usize,
    companies: usize,
    events: u64,
    mean_score: f64,
    median_score: u16,
    bands: Vec<Band>,
    tiers: Vec<TierCount>,
    with_unpaid_judgments: usize,
}

async fn health(State(s): State<AppState>) -> Result<Json<Health>, ApiError> {
    let e = s
        .engine
        .read()
        .map_err(|_| internal("state lock poisoned"))?;
    Ok(Json(Health {
        status: "ok",
        subjects: e.subject_count(),
        events: e.event_count(),
    }))
}

async fn stats(State(s): State<AppState>) -> Result<Json<Stats>, ApiError> {
    let engine = s.engine.clone();
    let sum = tokio::task::spawn_blocking(move || {
        engine
            .read()
            .map(|e| e.summary(None))
            .map_err(|_| internal("state lock poisoned"))
    })
    .await
    .map_err(|_| internal("summary task failed"))??;
    Ok(Json(Stats {
        as_of: sum.as_of.to_string(),
        model: sum.model,
        subjects: sum.subjects,
        companies: sum.companies,
        events: sum.events,
        mean_score: (sum.mean * 10.0).round() / 10.0,
        median_score: sum.median,
        bands: sum
            .bands
            .into_iter()
            .map(|(from, to, count)| Band { from, to, count })
            .collect(),
        tiers: sum
            .tiers
            .into_iter()
            .map(|(tier, count)| TierCount { tier, count })
            .collect(),
        with_unpaid_judgments: sum.with_unpaid_judgments,
    }))
}

async fn index() -> Html<&'static str> {
    Html(include_str!("index.html"))
}

async fn not_found() -> ApiError {
    ApiError {
        code: "not_found",
        message: "no such route".into(),
        status: StatusCode::NOT_FOUND,
    }
}

pub fn app(state: AppState) -> Router {
    Router::new()
        .route("/", get(index))
        .route("/healthz", get(health))
        .route("/v1/stats", get(stats))
        .fallback(not_found)
        .with_state(state)
}

/// Serves until `shutdown` resolves.
pub async fn serve(
    listener: tokio::net::TcpListener,
    engine: Engine,
    shutdown: impl std::future::Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    axum::serve(listener, app(AppState::new(engine)))
        .with_graceful_shutdown(shutdown)
        .await
}

//! The debtor map over HTTP: listed debtors near a point (`/v1/map/nearby`), what a map
//! view shows (`/v1/map/view`: the debtors when few and close, else counts per area), and
//! live sessions over a WebSocket (`/v1/map/live`): the app sends positions, the server
//! answers with `enter` and `leave`.
//!
//! Against scraping: these routes are rate-limited per client; a query has a radius of at
//! most `MAX_RADIUS_M` and at most `MAX_RESULTS` cases; a view shows individuals only in a
//! box at most `MAX_VIEW_M` across and with at most `MAX_VIEW_DEBTORS` in it, else counts;
//! nothing pages; a session steps at most once per `MIN_STEP`.

use crate::AppState;
use crate::api::query;
use crate::body;
use crate::error::ApiError;
use axum::Json;
use axum::extract::rejection::QueryRejection;
use axum::extract::ws::rejection::WebSocketUpgradeRejection;
use axum::extract::ws::{Message, WebSocket, WebSocketUpgrade};
use axum::extract::{Query, State};
use axum::response::Response;
use credo_engine::{Engine, MapView};
use serde::Deserialize;
use serde_json::{Value, json};
use std::sync::RwLockReadGuard;
use std::time::{Duration, Instant};

pub const MAX_RADIUS_M: f64 = 2000.0;
pub const DEFAULT_RADIUS_M: f64 = 500.0;
pub const MAX_RESULTS: usize = 50;
pub const MAX_VIEW_M: f64 = 5000.0;
pub const MAX_VIEW_DEBTORS: usize = 200;
/// The shortest interval between two steps of a session; faster positions wait (the
/// latest wins).
pub const MIN_STEP: Duration = Duration::from_millis(200);
/// How often a still session looks for waiting alerts anyway. It is woken at once when a
/// map read sees that the map changed (a lifted listing), so this is only a backstop.
const TICK: Duration = Duration::from_secs(5);

impl AppState {
    /// The engine for a map read, with the map brought to today first if the day changed
    /// and open sessions woken if the map changed.
    pub fn map_engine(&self) -> Result<RwLockReadGuard<'_, Engine>, ApiError> {
        let e = self.engine()?;
        if !e.map_is_stale() {
            self.wake_sessions(&e);
            return Ok(e);
        }
        drop(e);
        self.engine
            .write()
            .map_err(|_| ApiError::internal("state lock poisoned"))?
            .refresh_map()?;
        let e = self.engine()?;
        self.wake_sessions(&e);
        Ok(e)
    }

    /// Wakes the live sessions if the map changed since they last looked (a lifted
    /// listing waits in them as a `leave`).
    pub fn wake_sessions(&self, e: &Engine) {
        self.map_generation.send_if_modified(|g| {
            let changed = *g != e.map_generation();
            *g = e.map_generation();
            changed
        });
    }
}

fn radius(r: Option<f64>) -> Result<f64, ApiError> {
    let r = r.unwrap_or(DEFAULT_RADIUS_M);
    if !(r > 0.0 && r <= MAX_RADIUS_M) {
        return Err(ApiError::bad_request(
            "bad_radius",
            format!("radius {r} m is out of range (more than 0, at most {MAX_RADIUS_M} m)"),
        ));
    }
    Ok(r)
}

#[derive(Deserialize, utoipa::IntoParams)]
#[serde(deny_unknown_fields)]
pub struct NearbyParams {
    /// Latitude (WGS-84 degrees).
    lat: f64,
    /// Longitude.
    lon: f64,
    /// Metres, default 500, at most 2000.
    radius: Option<f64>,
}

/// Listed debtors within a radius of a point, nearest first: published fields, masked
/// IDs, locations snapped to the grid, the area's warning level. At most 50 cases.
#[utoipa::path(get, path = "/v1/map/nearby", tag = "debtor map", params(NearbyParams),
    responses((status = 200, description = "debtors near the point"), (status = 400, body = ApiError),
              (status = 429, body = ApiError)))]
pub async fn nearby(
    State(s): State<AppState>,
    q: Result<Query<NearbyParams>, QueryRejection>,
) -> Result<Json<Value>, ApiError> {
    let q = query(q)?;
    let r = radius(q.radius)?;
    let n = s.map_engine()?.nearby(q.lat, q.lon, r, MAX_RESULTS)?;
    Ok(Json(body::nearby_json(&n)))
}

#[derive(Deserialize, utoipa::IntoParams)]
#[serde(deny_unknown_fields)]
pub struct ViewParams {
    south: f64,
    west: f64,
    north: f64,
    east: f64,
}

/// What a map shows in a box: the debtors (at most 200, in a box at most 5 km across),
/// else counts per area, merged to at most 48 × 48 areas over the box.
#[utoipa::path(get, path = "/v1/map/view", tag = "debtor map", params(ViewParams),
    responses((status = 200, description = "debtors or counts"), (status = 400, body = ApiError),
              (status = 429, body = ApiError)))]
pub async fn view(
    State(s): State<AppState>,
    q: Result<Query<ViewParams>, QueryRejection>,
) -> Result<Json<Value>, ApiError> {
    let q = query(q)?;
    let bbox = (q.south, q.west, q.north, q.east);
    let v = s
        .map_engine()?
        .map_view(bbox, MAX_VIEW_DEBTORS, MAX_VIEW_M)?;
    Ok(Json(match v {
        MapView::Debtors(list) => json!({
            "debtors": list.iter().map(body::map_entry_json).collect::<Vec<_>>(),
        }),
        MapView::Areas(areas) => json!({
            "areas": areas.iter().map(|&(lat, lon, n)| json!({"lat": lat, "lon": lon, "count": n})).collect::<Vec<_>>(),
            "total": areas.iter().map(|a| a.2).sum::<u64>(),
        }),
    }))
}

#[derive(Deserialize, utoipa::IntoParams)]
#[serde(deny_unknown_fields)]
pub struct LiveParams {
    /// Metres, default 500, at most 2000.
    radius: Option<f64>,
}

/// A live session over a WebSocket. Send `{"lat": .., "lon": ..}` (and optionally
/// `"seq"`, answered by `{"type": "ack", "seq"}` once handled) as the user moves;
/// receive `{"type": "enter", "key", "cases": [...]}` when a listed debtor comes within
/// the radius and `{"type": "leave", "key"}` when one falls out of it or is lifted from
/// the list. Nothing repeats while a debtor stays inside.
#[utoipa::path(get, path = "/v1/map/live", tag = "debtor map", params(LiveParams),
    responses((status = 101, description = "WebSocket upgrade"), (status = 400, body = ApiError),
              (status = 426, body = ApiError)))]
pub async fn live(
    State(s): State<AppState>,
    q: Result<Query<LiveParams>, QueryRejection>,
    ws: Result<WebSocketUpgrade, WebSocketUpgradeRejection>,
) -> Result<Response, ApiError> {
    let r = radius(query(q)?.radius)?;
    let ws = ws.map_err(|e| {
        ApiError::new(
            axum::http::StatusCode::UPGRADE_REQUIRED,
            "websocket_required",
            format!("this route is a WebSocket: {}", e.body_text()),
        )
    })?;
    let (id, cell_m) = {
        let e = s.engine()?;
        (e.open_session(r)?, e.map_cell_m())
    };
    // Messages here are a few hundred bytes: small buffers keep 100 000 sessions in memory.
    let ws = ws
        .read_buffer_size(4096)
        .write_buffer_size(0)
        .max_message_size(64 * 1024);
    Ok(ws.on_upgrade(move |socket| async move {
        session(socket, &s, id, r, cell_m).await;
        if let Ok(e) = s.engine() {
            e.close_session(id);
        }
    }))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Position {
    lat: f64,
    lon: f64,
    /// When given, the position is answered with `{"type": "ack", "seq"}` after its step
    /// (after its alerts): clients and load tests see when it was handled.
    seq: Option<u64>,
}

/// Sends a JSON message; false when the client is gone.
async fn send(socket: &mut WebSocket, v: &Value) -> bool {
    socket
        .send(Message::Text(v.to_string().into()))
        .await
        .is_ok()
}

/// One session's loop. It owns nothing shared but its session id: a slow client only
/// delays its own socket writes, and its alerts wait in the engine (at most one per
/// debtor it has seen), so no other session waits for it.
async fn session(mut socket: WebSocket, s: &AppState, id: u64, radius_m: f64, cell_m: f64) {
    if !send(
        &mut socket,
        &json!({"type": "hello", "radius_m": radius_m, "cell_m": cell_m}),
    )
    .await
    {
        return;
    }
    let mut tick = tokio::time::interval(TICK);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    let mut changed = s.map_generation.subscribe();
    let mut last_step: Option<Instant> = None;
    let mut waiting: Option<Position> = None;
    loop {
        // A position that came too soon waits for its turn, then steps.
        let due_at =
            tokio::time::Instant::from_std(last_step.map_or_else(Instant::now, |t| t + MIN_STEP));
        tokio::select! {
            _ = tokio::time::sleep_until(due_at), if waiting.is_some() => {}
            r = changed.changed() => if r.is_err() { return },
            m = socket.recv() => match m {
                Some(Ok(Message::Text(t))) => match serde_json::from_str::<Position>(&t) {
                    Ok(p) => waiting = Some(p),
                    Err(e) => {
                        if !send(&mut socket, &json!({"type": "error", "code": "bad_json", "message": e.to_string()})).await {
                            return;
                        }
                        continue;
                    }
                },
                Some(Ok(Message::Close(_))) | None | Some(Err(_)) => return,
                Some(Ok(_)) => continue,
            },
            _ = tick.tick() => {}
        }
        let due = last_step.is_none_or(|t| t.elapsed() >= MIN_STEP);
        let mut ack = None;
        let alerts = {
            let Ok(e) = s.map_engine() else { return };
            match waiting.take_if(|_| due) {
                Some(p) => {
                    last_step = Some(Instant::now());
                    ack = p.seq;
                    e.step_session(id, p.lat, p.lon)
                }
                None => e.take_session_alerts(id),
            }
        };
        let alerts = match alerts {
            Ok(a) => a,
            Err(err) => {
                let err = json!({"type": "error", "code": err.code(), "message": err.to_string()});
                if !send(&mut socket, &err).await {
                    return;
                }
                continue;
            }
        };
        let acks = ack.map(|seq| json!({"type": "ack", "seq": seq}));
        for m in alerts.iter().map(body::map_alert_json).chain(acks) {
            if !send(&mut socket, &m).await {
                return;
            }
        }
    }
}

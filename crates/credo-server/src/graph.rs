//! The social graph's routes: call screening for telcos, notice plans and delivered
//! impressions for courts, and the relationships propagation for the admin.

use crate::api::{pending, query, read_pending};
use crate::auth::{self, Caller};
use crate::{ApiError, AppState, body};
use axum::Json;
use axum::extract::rejection::QueryRejection;
use axum::extract::{Query, State};
use credo_access::{AccessOp, Capability};
use credo_engine::notices::{IndustryMatch, NoticeOptions};
use serde::Deserialize;
use serde_json::{Value, json};

#[derive(Deserialize, utoipa::IntoParams)]
#[serde(deny_unknown_fields)]
pub struct ScreenParams {
    /// The called number: a mobile's 11 digits or a landline with its area code,
    /// optionally after +86, with spaces or dashes.
    number: String,
}

/// Whether to play a warning before connecting a call to this number: a listed debtor's
/// numbers warn with the listing court's message. A warning is a read of personal data:
/// it is logged as an inquiry about the debtor before the answer leaves.
#[utoipa::path(get, path = "/v1/calls/screen", tag = "social graph", params(ScreenParams),
    responses((status = 200, description = "{warn, message, court, case, sms}"), (status = 400, body = ApiError)),
    security(("key" = [])))]
pub async fn screen(
    State(s): State<AppState>,
    Caller(who): Caller,
    q: Result<Query<ScreenParams>, QueryRejection>,
) -> Result<Json<Value>, ApiError> {
    auth::require(&who, Capability::CallScreen)?;
    let q = query(q)?;
    let answer = s.engine()?.screen_call(&q.number)?;
    if let (true, Some(subject)) = (answer.warn, answer.subject) {
        let read = read_pending(&who, subject, "call_screen".into(), "warn".into());
        s.commits.submit(vec![read]).await?;
    }
    Ok(Json(body::screen_json(&answer)))
}

#[derive(Deserialize, utoipa::IntoParams)]
#[serde(deny_unknown_fields)]
pub struct PlanParams {
    /// A published case number.
    pub case: String,
    /// People within this many km of the debtor's address (default 3, 0 off, at most 50).
    radius_km: Option<f64>,
    /// People in the debtor's region code (default true).
    region: Option<bool>,
    /// `same`, `related` (default) or `off`.
    industry: Option<String>,
    /// The debtor's contacts within this many hops (default 2, at most 3).
    hops: Option<u8>,
    /// The most people in the audience (default 100,000).
    cap: Option<usize>,
    /// Masked IDs of the first members to return (default 20, at most 1,000).
    members: Option<usize>,
}

/// A court notice's audience for a listed debtor: people within R km, in the same
/// region, in the same or related industries, and the debtor's contacts within k hops;
/// sizes per criterion, the merged size (capped), delivered impressions so far, and the
/// first members' masked IDs. Notices are delivered in the app; the court never gets the
/// audience's identities.
#[utoipa::path(get, path = "/v1/notices/plan", tag = "social graph", params(PlanParams),
    responses((status = 200, description = "the audience"), (status = 400, body = ApiError), (status = 404, body = ApiError)),
    security(("key" = [])))]
pub async fn plan(
    State(s): State<AppState>,
    Caller(who): Caller,
    q: Result<Query<PlanParams>, QueryRejection>,
) -> Result<Json<Value>, ApiError> {
    auth::require(&who, Capability::NoticePlan)?;
    let q = query(q)?;
    let p = s.engine()?.notice_plan(&q.case, &q.options()?)?;
    Ok(Json(body::notice_plan_json(&p, q.members())))
}

impl PlanParams {
    /// The options asked for, defaults filled in (not yet checked against their bounds:
    /// [`NoticeOptions::check`]).
    pub fn options(&self) -> Result<NoticeOptions, ApiError> {
        let d = NoticeOptions::default();
        Ok(NoticeOptions {
            radius_km: self.radius_km.unwrap_or(d.radius_km),
            same_region: self.region.unwrap_or(d.same_region),
            industry: match self.industry.as_deref() {
                None => d.industry,
                Some(m) => IndustryMatch::parse(m)?,
            },
            hops: self.hops.unwrap_or(d.hops),
            cap: self.cap.unwrap_or(d.cap),
        })
    }

    /// How many members' masked IDs to list.
    pub fn members(&self) -> usize {
        self.members.unwrap_or(20).min(1000)
    }
}

#[derive(Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ImpressionsBody {
    case: String,
    /// People the notice was shown to in this delivery.
    delivered: u64,
}

/// Records delivered impressions of a case's notice (in the audit log); returns the total.
#[utoipa::path(post, path = "/v1/notices/impressions", tag = "social graph", request_body = ImpressionsBody,
    responses((status = 200, description = "{case, delivered}"), (status = 400, body = ApiError), (status = 404, body = ApiError)),
    security(("key" = [])))]
pub async fn impressions(
    State(s): State<AppState>,
    Caller(who): Caller,
    body: axum::body::Body,
) -> Result<Json<Value>, ApiError> {
    auth::require(&who, Capability::NoticePlan)?;
    let b: ImpressionsBody = crate::api::json_body(body).await?;
    if s.engine()?.published_case_subject(&b.case).is_none() {
        return Err(ApiError::not_found(
            "no published listing has this case number",
        ));
    }
    let op = AccessOp::Impressions {
        case: b.case.clone(),
        delivered: b.delivered,
    };
    s.commits.submit(vec![pending(&who, op)]).await?;
    let total = s
        .engine()?
        .access()
        .impressions
        .get(&b.case)
        .copied()
        .unwrap_or(0);
    Ok(Json(json!({ "case": b.case, "delivered": total })))
}

/// Runs the relationships propagation now (the server runs it on open and when the day
/// turns with the first ingest).
#[utoipa::path(post, path = "/v1/graph/propagate", tag = "social graph",
    responses((status = 200, description = "the job's report")), security(("key" = [])))]
pub async fn propagate(
    State(s): State<AppState>,
    Caller(who): Caller,
) -> Result<Json<Value>, ApiError> {
    auth::require(&who, Capability::GraphRun)?;
    let engine = s.engine.clone();
    let (report, seconds) = tokio::task::spawn_blocking(move || {
        let started = std::time::Instant::now();
        let mut e = engine
            .write()
            .map_err(|_| ApiError::internal("state lock poisoned"))?;
        let r = e.propagate_relations(&mut |_| {})?;
        Ok::<_, ApiError>((r, started.elapsed().as_secs_f64()))
    })
    .await
    .map_err(|e| ApiError::internal(e.to_string()))??;
    Ok(Json(match report {
        Some(r) => body::propagation_json(&r, seconds),
        None => {
            json!({"propagated": false, "reason": "the model has no contacts_standing feature"})
        }
    }))
}

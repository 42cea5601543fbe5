//! The handlers of `/v1/...`. Each one: who is asking (the key's principal), whether its
//! role holds the route's capability, whether the resource is its own, then the work.
//! Third-party reads are logged (inquiry + audit entry, synced) before the answer leaves.

use crate::AppState;
use crate::auth::{self, Caller};
use crate::body::{self, IdSpace};
use crate::error::ApiError;
use axum::Json;
use axum::body::Body;
use axum::extract::rejection::{PathRejection, QueryRejection};
use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use credo_access::{AccessOp, Capability, Inquiry, KeyRecord, Principal, Resolution, Role};
use credo_engine::access::Pending;
use credo_engine::{Clock, IngestOptions, ListQuery, Sender};
use credo_model::{Day, SubjectId};
use serde::Deserialize;
use serde_json::{Value, json};

/// Bodies larger than this are refused with 413 (event uploads have their own limit).
pub const MAX_BODY: usize = 64 * 1024;
pub const MAX_EVENTS_BODY: usize = 32 * 1024 * 1024;

pub async fn read_body(body: Body, limit: usize) -> Result<axum::body::Bytes, ApiError> {
    axum::body::to_bytes(body, limit).await.map_err(|_| {
        ApiError::new(
            StatusCode::PAYLOAD_TOO_LARGE,
            "body_too_large",
            format!("the body is larger than {limit} bytes or was cut off"),
        )
    })
}

pub(crate) async fn json_body<T: serde::de::DeserializeOwned>(body: Body) -> Result<T, ApiError> {
    let bytes = read_body(body, MAX_BODY).await?;
    serde_json::from_slice(&bytes).map_err(|e| ApiError::bad_request("bad_json", e.to_string()))
}

fn path<T>(p: Result<Path<T>, PathRejection>) -> Result<T, ApiError> {
    p.map(|Path(x)| x)
        .map_err(|e| ApiError::bad_request("bad_path", e.body_text()))
}

pub(crate) fn query<T>(q: Result<Query<T>, QueryRejection>) -> Result<T, ApiError> {
    q.map(|Query(x)| x)
        .map_err(|e| ApiError::bad_request("bad_query", e.body_text()))
}

fn subject(s: &str) -> Result<SubjectId, ApiError> {
    Ok(SubjectId::parse(s)?)
}

/// An audit entry of `op` by the caller `p`, now.
pub fn pending(p: &Principal, op: AccessOp) -> Pending {
    Pending {
        at: Clock::now(),
        actor: p.actor(),
        key: p.key_id.clone(),
        op,
        inquiry: None,
    }
}

pub(crate) fn read_pending(p: &Principal, id: SubjectId, what: String, answer: String) -> Pending {
    let inquiry = Inquiry {
        at: Clock::now(),
        subject: id,
        role: p.role,
        party: p.party.clone(),
        what,
        answer,
    };
    Pending::read(p.actor(), p.key_id.clone(), inquiry)
}

/// Only the subject itself.
fn own(p: &Principal, id: SubjectId) -> Result<(), ApiError> {
    if p.is(id) {
        Ok(())
    } else {
        Err(ApiError::forbidden(
            "a subject's key covers that subject only",
        ))
    }
}

// ---- decisions and scores --------------------------------------------------------------

/// May the subject do the action? Catalogued actions (the court list's restrictions) are
/// public law and need no grant; a relying party's offer needs the subject's grant for that
/// offer. The answer never carries the score.
#[utoipa::path(get, path = "/v1/subjects/{id}/check/{action}", tag = "decisions",
    params(("id" = String, Path, description = "resident ID or unified social credit code"),
           ("action" = String, Path, description = "a catalogued action or an offer id")),
    responses((status = 200, description = "allow or deny, with reasons and lifts"),
              (status = 400, body = ApiError), (status = 401, body = ApiError),
              (status = 403, body = ApiError)),
    security(("key" = [])))]
pub async fn check(
    State(s): State<AppState>,
    Caller(who): Caller,
    p: Result<Path<(String, String)>, PathRejection>,
) -> Result<Json<Value>, ApiError> {
    auth::require(&who, Capability::Decide)?;
    let (id, action) = path(p)?;
    let id = subject(&id)?;
    let decision = {
        let e = s.engine()?;
        let today = e.today();
        if e.policies().get(&action).is_some()
            && e.access()
                .consents
                .valid(id, &who.party, &action, today)
                .is_none()
        {
            return Err(ApiError::new(
                StatusCode::FORBIDDEN,
                "consent_required",
                format!(
                    "`{action}` uses the subject's data beyond the court list: it needs the subject's grant to `{}` for purpose `{action}`",
                    who.party
                ),
            ));
        }
        e.check(id, &action, Some(today))?
    };
    let answer = decision.outcome.as_str().to_string();
    s.commits
        .submit(vec![read_pending(
            &who,
            id,
            format!("check:{action}"),
            answer,
        )])
        .await?;
    Ok(Json(body::decision_json(&decision, &id.masked())))
}

/// The score with its dimensions and reasons. A subject reads its own; a relying party
/// needs the subject's grant for purpose `score`; the admin reads for support (logged).
#[utoipa::path(get, path = "/v1/subjects/{id}/score", tag = "scores",
    params(("id" = String, Path, description = "resident ID or unified social credit code")),
    responses((status = 200, description = "score, tier, dimensions, reasons"),
              (status = 403, body = ApiError), (status = 404, body = ApiError)),
    security(("key" = [])))]
pub async fn score(
    State(s): State<AppState>,
    Caller(who): Caller,
    p: Result<Path<String>, PathRejection>,
) -> Result<Json<Value>, ApiError> {
    auth::require(&who, Capability::ReadScore)?;
    let id = subject(&path(p)?)?;
    let (view, third) = {
        let e = s.engine()?;
        let third = !who.is(id);
        if who.role == Role::Subject && third {
            return Err(ApiError::forbidden(
                "a subject's key covers that subject only",
            ));
        }
        if who.role == Role::RelyingParty
            && e.access()
                .consents
                .valid(id, &who.party, "score", e.today())
                .is_none()
        {
            return Err(ApiError::new(
                StatusCode::FORBIDDEN,
                "consent_required",
                format!(
                    "reading the score needs the subject's grant to `{}` for purpose `score`",
                    who.party
                ),
            ));
        }
        let v = e.score(id, None)?;
        let j = if third {
            body::third_party_score_json(&v, e.model())
        } else {
            body::score_json(&v, e.model())
        };
        (j, third)
    };
    if third {
        let answer = format!("score {}", view["score"]);
        s.commits
            .submit(vec![read_pending(&who, id, "score".into(), answer)])
            .await?;
    }
    Ok(Json(view))
}

/// The subject's self-access report: all data held, sources, recipients, every score or
/// answer sent in the last 12 months, consents and disputes.
#[utoipa::path(get, path = "/v1/subjects/{id}/report", tag = "self-access",
    params(("id" = String, Path)), responses((status = 200, description = "the report"),
    (status = 403, body = ApiError)), security(("key" = [])))]
pub async fn report(
    State(s): State<AppState>,
    Caller(who): Caller,
    p: Result<Path<String>, PathRejection>,
) -> Result<Json<Value>, ApiError> {
    auth::require(&who, Capability::Report)?;
    let id = subject(&path(p)?)?;
    own(&who, id)?;
    let e = s.engine()?;
    Ok(Json(body::report_json(&e, id)?))
}

// ---- consent --------------------------------------------------------------------------

#[derive(Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct GrantBody {
    /// The relying party's name, as on its key.
    party: String,
    /// `score`, or an offer id such as `bike.deposit_free`.
    purpose: String,
    /// The last day the grant is valid (YYYY-MM-DD).
    until: String,
}

#[utoipa::path(post, path = "/v1/subjects/{id}/consents", tag = "consent",
    params(("id" = String, Path)), request_body = GrantBody,
    responses((status = 201, description = "the grant"), (status = 400, body = ApiError)),
    security(("key" = [])))]
pub async fn grant(
    State(s): State<AppState>,
    Caller(who): Caller,
    p: Result<Path<String>, PathRejection>,
    body: Body,
) -> Result<(StatusCode, Json<Value>), ApiError> {
    auth::require(&who, Capability::Consent)?;
    let id = subject(&path(p)?)?;
    own(&who, id)?;
    let b: GrantBody = json_body(body).await?;
    let until = Day::parse(&b.until)
        .map_err(|e| ApiError::bad_request("invalid_field", format!("until: {e}")))?;
    {
        let e = s.engine()?;
        if b.purpose != "score" && e.policies().get(&b.purpose).is_none() {
            return Err(ApiError::bad_request(
                "invalid_field",
                format!(
                    "purpose: `{}` is neither `score` nor an offer in force",
                    b.purpose
                ),
            ));
        }
    }
    let op = AccessOp::ConsentGrant {
        subject: id,
        party: b.party,
        purpose: b.purpose,
        until,
    };
    let sealed = s.commits.submit(vec![pending(&who, op)]).await?;
    let e = s.engine()?;
    let g = e
        .access()
        .consents
        .get(sealed[0].id())
        .ok_or_else(|| ApiError::internal("grant not applied"))?;
    Ok((StatusCode::CREATED, Json(body::grant_json(g, e.today()))))
}

#[utoipa::path(get, path = "/v1/subjects/{id}/consents", tag = "consent",
    params(("id" = String, Path)), responses((status = 200, description = "every grant")),
    security(("key" = [])))]
pub async fn consents(
    State(s): State<AppState>,
    Caller(who): Caller,
    p: Result<Path<String>, PathRejection>,
) -> Result<Json<Value>, ApiError> {
    auth::require(&who, Capability::Consent)?;
    let id = subject(&path(p)?)?;
    own(&who, id)?;
    let e = s.engine()?;
    let today = e.today();
    let list: Vec<Value> = e
        .access()
        .consents
        .of(id)
        .map(|g| body::grant_json(g, today))
        .collect();
    Ok(Json(json!({ "consents": list })))
}

#[utoipa::path(delete, path = "/v1/subjects/{id}/consents/{grant}", tag = "consent",
    params(("id" = String, Path), ("grant" = u64, Path)),
    responses((status = 200, description = "revoked"), (status = 404, body = ApiError)),
    security(("key" = [])))]
pub async fn revoke(
    State(s): State<AppState>,
    Caller(who): Caller,
    p: Result<Path<(String, u64)>, PathRejection>,
) -> Result<Json<Value>, ApiError> {
    auth::require(&who, Capability::Consent)?;
    let (id, grant) = path(p)?;
    let id = subject(&id)?;
    own(&who, id)?;
    s.commits
        .submit(vec![pending(
            &who,
            AccessOp::ConsentRevoke {
                subject: id,
                id: grant,
            },
        )])
        .await?;
    Ok(Json(json!({ "id": grant, "revoked": true })))
}

// ---- disputes -------------------------------------------------------------------------

#[derive(Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct DisputeBody {
    /// The disputed entry's `source` and `id`, as in the report.
    source: String,
    event: String,
    reason: String,
}

#[utoipa::path(post, path = "/v1/subjects/{id}/disputes", tag = "disputes",
    params(("id" = String, Path)), request_body = DisputeBody,
    responses((status = 201, description = "the dispute"), (status = 404, body = ApiError),
              (status = 409, body = ApiError)), security(("key" = [])))]
pub async fn dispute(
    State(s): State<AppState>,
    Caller(who): Caller,
    p: Result<Path<String>, PathRejection>,
    body: Body,
) -> Result<(StatusCode, Json<Value>), ApiError> {
    auth::require(&who, Capability::DisputeFile)?;
    let id = subject(&path(p)?)?;
    own(&who, id)?;
    let b: DisputeBody = json_body(body).await?;
    let op = AccessOp::DisputeFile {
        subject: id,
        source: b.source,
        event: b.event,
        reason: b.reason,
    };
    let sealed = s.commits.submit(vec![pending(&who, op)]).await?;
    let e = s.engine()?;
    let d = e
        .access()
        .disputes
        .get(sealed[0].id())
        .ok_or_else(|| ApiError::internal("dispute not applied"))?;
    Ok((
        StatusCode::CREATED,
        Json(body::dispute_json(d, IdSpace::of(e.partition()))),
    ))
}

#[utoipa::path(get, path = "/v1/disputes", tag = "disputes",
    responses((status = 200, description = "the disputes the caller may see")),
    security(("key" = [])))]
pub async fn disputes(
    State(s): State<AppState>,
    Caller(who): Caller,
) -> Result<Json<Value>, ApiError> {
    auth::require(&who, Capability::DisputeRead)?;
    let e = s.engine()?;
    let ids = IdSpace::of(e.partition());
    let list: Vec<Value> = e
        .access()
        .disputes
        .iter()
        .filter(|d| match who.role {
            Role::Admin => true,
            Role::Subject => who.subject == Some(d.subject),
            _ => d.source == who.party,
        })
        .map(|d| body::dispute_json(d, ids))
        .collect();
    Ok(Json(json!({ "disputes": list })))
}

#[derive(Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ResolutionBody {
    /// `upheld`, `deleted` or `corrected`.
    resolution: String,
    #[serde(default)]
    note: String,
    /// For `corrected`: the corrected entry, a whole event (same source and subject, a new id).
    #[serde(default)]
    #[schema(value_type = Object)]
    replacement: Option<Value>,
}

#[utoipa::path(post, path = "/v1/disputes/{dispute}/resolution", tag = "disputes",
    params(("dispute" = u64, Path)), request_body = ResolutionBody,
    responses((status = 200, description = "the resolved dispute; a deletion or correction rescored the subject"),
              (status = 403, body = ApiError), (status = 409, body = ApiError)),
    security(("key" = [])))]
pub async fn resolve(
    State(s): State<AppState>,
    Caller(who): Caller,
    p: Result<Path<u64>, PathRejection>,
    body: Body,
) -> Result<Json<Value>, ApiError> {
    auth::require(&who, Capability::DisputeResolve)?;
    let asked = path(p)?;
    let ids = IdSpace::of(s.engine()?.partition());
    let no_such = || ApiError::not_found(format!("no dispute {asked}"));
    let dispute_id = ids.local(asked).ok_or_else(no_such)?;
    let b: ResolutionBody = json_body(body).await?;
    let (subject_id, source) = {
        let e = s.engine()?;
        let disputes = &e.access().disputes;
        disputes.get(dispute_id).ok_or_else(no_such)?;
        let d = disputes.check_resolve(dispute_id, &who.party)?;
        (d.subject, d.source.clone())
    };
    let resolution = match (b.resolution.as_str(), b.replacement) {
        ("upheld", None) => Resolution::Upheld,
        ("deleted", None) => Resolution::Deleted,
        ("corrected", Some(event)) => {
            let line = serde_json::to_vec(&event)
                .map_err(|e| ApiError::bad_request("bad_json", e.to_string()))?;
            let parsed = credo_engine::wire::parse_line(&line).map_err(|r| {
                ApiError::bad_request(r.code, format!("replacement: {}", r.message))
            })?;
            if parsed.source.as_str() != source || parsed.subject != subject_id {
                return Err(ApiError::bad_request(
                    "invalid_field",
                    "replacement: must have the disputed entry's source and subject",
                ));
            }
            let replacement = parsed.id.to_string();
            ingest_lines(&s, &who, line).await.and_then(|r| {
                if r.accepted == 1 {
                    Ok(())
                } else {
                    Err(ApiError::new(
                        StatusCode::CONFLICT,
                        "conflict",
                        "replacement: its id is taken; a correction needs a new id",
                    ))
                }
            })?;
            Resolution::Corrected { replacement }
        }
        ("corrected", None) => {
            return Err(ApiError::bad_request(
                "invalid_field",
                "replacement: a correction needs the corrected event",
            ));
        }
        (r, _) => {
            return Err(ApiError::bad_request(
                "invalid_field",
                format!(
                    "resolution: `{r}` (expected upheld, deleted or corrected; only a correction has a replacement)"
                ),
            ));
        }
    };
    let op = AccessOp::DisputeResolve {
        id: dispute_id,
        by: who.party.clone(),
        resolution,
        note: b.note,
    };
    s.commits.submit(vec![pending(&who, op)]).await?;
    let e = s.engine()?;
    let d = e
        .access()
        .disputes
        .get(dispute_id)
        .ok_or_else(|| ApiError::internal("dispute vanished"))?;
    Ok(Json(body::dispute_json(d, ids)))
}

// ---- events ---------------------------------------------------------------------------

struct Ingested {
    accepted: u64,
    body: Value,
}

/// Ingests a request's JSON lines as `who` (the engine rejects lines under another source
/// or of kinds the role may not send) and logs the write in the audit log.
async fn ingest_lines(s: &AppState, who: &Principal, bytes: Vec<u8>) -> Result<Ingested, ApiError> {
    let engine = s.engine.clone();
    let opts = IngestOptions {
        sender: Some(Sender {
            source: who.party.clone(),
            role: who.role,
        }),
        ..IngestOptions::default()
    };
    let report = tokio::task::spawn_blocking(move || {
        let mut e = engine
            .write()
            .map_err(|_| ApiError::internal("state lock poisoned"))?;
        e.ingest("request body", bytes.as_slice(), &opts, &mut |_| {})
            .map_err(ApiError::from)
    })
    .await
    .map_err(|_| ApiError::internal("ingest task failed"))??;
    let op = AccessOp::Ingest {
        accepted: report.accepted,
        duplicates: report.duplicates,
        rejected: report.rejected,
    };
    s.commits.submit(vec![pending(who, op)]).await?;
    let errors: Vec<Value> = report
        .errors
        .iter()
        .map(|le| json!({"line": le.line, "code": le.code, "message": le.message}))
        .collect();
    Ok(Ingested {
        accepted: report.accepted,
        body: json!({
            "accepted": report.accepted,
            "duplicates": report.duplicates,
            "rejected": report.rejected,
            "errors": errors,
        }),
    })
}

/// Ingest JSON lines: a furnisher sends financial events and subject records under its own
/// `source`; a court sends judgments, performance, listings, extensions, removals,
/// restriction orders, bans and violations. Idempotent by `(source, id)`.
#[utoipa::path(post, path = "/v1/events", tag = "events",
    request_body(content = String, content_type = "application/x-ndjson"),
    responses((status = 200, description = "counts and per-line errors"),
              (status = 413, body = ApiError)), security(("key" = [])))]
pub async fn events(
    State(s): State<AppState>,
    Caller(who): Caller,
    body: Body,
) -> Result<Json<Value>, ApiError> {
    auth::require(&who, Capability::Ingest)?;
    let bytes = read_body(body, MAX_EVENTS_BODY).await?;
    let out = ingest_lines(&s, &who, bytes.to_vec()).await?.body;
    // A lifted listing waits in open map sessions as a `leave`: wake them.
    s.wake_sessions(&*s.engine()?);
    Ok(Json(out))
}

// ---- the public list, tip-offs, policies ----------------------------------------------

#[derive(Deserialize, utoipa::IntoParams)]
#[serde(deny_unknown_fields)]
pub struct ListParams {
    /// The name, exactly as published.
    name: String,
    /// The full ID, to tell namesakes apart.
    id: Option<String>,
    /// A province: name, pinyin or the two-digit code.
    province: Option<String>,
}

/// Search the published court list. IDs come masked; at most 50 results.
#[utoipa::path(get, path = "/v1/list", tag = "court list", params(ListParams),
    responses((status = 200, description = "published entries"), (status = 429, body = ApiError)))]
pub async fn list(
    State(s): State<AppState>,
    q: Result<Query<ListParams>, QueryRejection>,
) -> Result<Json<Value>, ApiError> {
    let q = query(q)?;
    let id = q.id.as_deref().map(subject).transpose()?;
    let e = s.engine()?;
    let mut entries = e.list_search(
        &ListQuery {
            name: q.name,
            id,
            province: q.province,
        },
        None,
    )?;
    entries.truncate(50);
    Ok(Json(json!({ "count": entries.len(), "results": entries })))
}

#[derive(Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct TipoffBody {
    /// The listed debtor's ID; or leave it out and give a published case number (the map
    /// shows no full ID).
    subject: Option<String>,
    case: Option<String>,
    /// The lead: where an asset is, what it is.
    text: String,
}

/// Send an asset lead about a listed debtor to the court's inbox.
#[utoipa::path(post, path = "/v1/tipoffs", tag = "court list", request_body = TipoffBody,
    responses((status = 201, description = "received"), (status = 404, body = ApiError),
              (status = 429, body = ApiError)))]
pub async fn tipoff(
    State(s): State<AppState>,
    Caller(who): Caller,
    body: Body,
) -> Result<(StatusCode, Json<Value>), ApiError> {
    let b: TipoffBody = json_body(body).await?;
    if b.text.trim().is_empty() {
        return Err(ApiError::bad_request("bad_field", "`text` is empty"));
    }
    let id = match (&b.subject, &b.case) {
        (Some(sub), _) => subject(sub)?,
        (None, Some(case)) => s
            .engine()?
            .published_case_subject(case)
            .ok_or_else(|| ApiError::not_found("no published listing has this case number"))?,
        (None, None) => {
            return Err(ApiError::bad_request(
                "bad_field",
                "give `subject` or a published `case`",
            ));
        }
    };
    if !s.engine()?.is_published(id, None) {
        return Err(ApiError::not_found("no published listing for this subject"));
    }
    let op = AccessOp::Tipoff {
        subject: id,
        case: b.case,
        text: b.text,
    };
    let sealed = s.commits.submit(vec![pending(&who, op)]).await?;
    let ids = IdSpace::of(s.engine()?.partition());
    Ok((
        StatusCode::CREATED,
        Json(json!({ "id": ids.public(sealed[0].id()), "received": true })),
    ))
}

/// The court's inbox of tip-offs.
#[utoipa::path(get, path = "/v1/tipoffs", tag = "court list",
    responses((status = 200, description = "tip-offs, newest first")), security(("key" = [])))]
pub async fn tipoffs(
    State(s): State<AppState>,
    Caller(who): Caller,
) -> Result<Json<Value>, ApiError> {
    auth::require(&who, Capability::TipoffRead)?;
    let e = s.engine()?;
    let ids = IdSpace::of(e.partition());
    let list: Vec<Value> = e
        .access()
        .tipoffs
        .iter()
        .rev()
        .map(|t| {
            json!({"id": ids.public(t.id), "subject": t.subject.to_string(), "case": t.case, "text": t.text, "at": t.at.to_string()})
        })
        .collect();
    Ok(Json(json!({ "tipoffs": list })))
}

/// The actions and offers decisions can be asked for.
#[utoipa::path(get, path = "/v1/policies", tag = "decisions",
    responses((status = 200, description = "catalogue and offers")))]
pub async fn policies(State(s): State<AppState>) -> Result<Json<Value>, ApiError> {
    let e = s.engine()?;
    let actions: Vec<Value> = credo_engine::ACTIONS
        .iter()
        .map(|a| json!({"id": a.id, "label": a.label}))
        .collect();
    let offers: Vec<Value> = e
        .policies()
        .offers
        .iter()
        .map(|o| json!({"id": o.id, "party": o.party, "label": o.label, "needs_grant": true}))
        .collect();
    Ok(Json(json!({ "actions": actions, "offers": offers })))
}

async fn policy_text(body: Body) -> Result<String, ApiError> {
    let bytes = read_body(body, 4 * 1024 * 1024).await?;
    String::from_utf8(bytes.to_vec())
        .map_err(|_| ApiError::bad_request("bad_policy", "the policy file is not UTF-8"))
}

/// Validate a TOML policy file without installing it (`credo policy check`).
#[utoipa::path(post, path = "/v1/policies/check", tag = "decisions",
    request_body(content = String, content_type = "application/toml"),
    responses((status = 200, description = "valid, with the number of offers"),
              (status = 400, body = ApiError, description = "`bad_policy`: FILE:LINE:COLUMN: problem")),
    security(("key" = [])))]
pub async fn check_policies(
    State(s): State<AppState>,
    Caller(who): Caller,
    body: Body,
) -> Result<Json<Value>, ApiError> {
    auth::require(&who, Capability::PolicyInstall)?;
    let text = policy_text(body).await?;
    let n = s.engine()?.check_policies("policies.toml", &text)?;
    Ok(Json(json!({ "valid": true, "offers": n })))
}

/// Replace the relying parties' offers with a TOML policy file (validated as a whole; a bad
/// file never replaces a good one).
#[utoipa::path(put, path = "/v1/policies", tag = "decisions",
    request_body(content = String, content_type = "application/toml"),
    responses((status = 200, description = "installed"), (status = 400, body = ApiError)),
    security(("key" = [])))]
pub async fn install_policies(
    State(s): State<AppState>,
    Caller(who): Caller,
    body: Body,
) -> Result<Json<Value>, ApiError> {
    auth::require(&who, Capability::PolicyInstall)?;
    let text = policy_text(body).await?;
    let n = {
        let mut e = s
            .engine
            .write()
            .map_err(|_| ApiError::internal("state lock poisoned"))?;
        let n = e.install_policies("policies.toml", &text)?;
        let today = e.today();
        e.keep_day_facts(today);
        n
    };
    let sha = credo_engine::access::sha256_hex(text.as_bytes());
    let op = AccessOp::PolicyInstall {
        offers: n as u64,
        sha256: sha.clone(),
    };
    s.commits.submit(vec![pending(&who, op)]).await?;
    Ok(Json(json!({ "offers": n, "sha256": sha })))
}

// ---- keys and audit --------------------------------------------------------------------

#[derive(Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct KeyBody {
    /// admin, furnisher, court, relying_party, telco or subject.
    role: String,
    /// The party's name (for a subject: omit; the subject's ID is used).
    party: Option<String>,
    /// For a subject's key: its ID.
    subject: Option<String>,
}

/// Makes a key record with a fresh token; the token is returned once and never stored.
pub fn new_key(
    role: Role,
    party: Option<String>,
    subject: Option<SubjectId>,
) -> Result<(KeyRecord, String), ApiError> {
    use rand::RngCore;
    let mut rng = rand::rng();
    let mut idb = [0u8; 4];
    rng.fill_bytes(&mut idb);
    let mut secret = [0u8; 20];
    rng.fill_bytes(&mut secret);
    let id = credo_engine::access::hex(&idb);
    let token = credo_access::key::token(&id, &secret);
    let party = match (role, subject, party) {
        (Role::Subject, Some(s), _) => s.to_string(),
        (Role::Subject, None, _) => {
            return Err(ApiError::bad_request(
                "invalid_field",
                "subject: a subject's key needs the subject's ID",
            ));
        }
        (_, Some(_), _) => {
            return Err(ApiError::bad_request(
                "invalid_field",
                "subject: only a subject's key names a subject",
            ));
        }
        (_, None, Some(p)) => p,
        (_, None, None) => return Err(ApiError::bad_request("invalid_field", "party: required")),
    };
    Ok((
        KeyRecord {
            id,
            hash: credo_access::hash_token(&token),
            role,
            party,
            subject,
            created: Clock::now(),
            revoked: None,
        },
        token,
    ))
}

#[utoipa::path(post, path = "/v1/keys", tag = "admin", request_body = KeyBody,
    responses((status = 201, description = "the key's id and its token, shown once")),
    security(("key" = [])))]
pub async fn create_key(
    State(s): State<AppState>,
    Caller(who): Caller,
    body: Body,
) -> Result<(StatusCode, Json<Value>), ApiError> {
    auth::require(&who, Capability::Keys)?;
    let b: KeyBody = json_body(body).await?;
    let role = Role::parse(&b.role)?;
    let subject = b.subject.as_deref().map(subject).transpose()?;
    let (key, token) = new_key(role, b.party, subject)?;
    let out = json!({"id": key.id, "role": role.name(), "party": key.party, "token": token});
    s.commits
        .submit(vec![pending(&who, AccessOp::KeyCreate(key))])
        .await?;
    Ok((StatusCode::CREATED, Json(out)))
}

#[utoipa::path(get, path = "/v1/keys", tag = "admin",
    responses((status = 200, description = "keys (never their tokens)")), security(("key" = [])))]
pub async fn keys(State(s): State<AppState>, Caller(who): Caller) -> Result<Json<Value>, ApiError> {
    auth::require(&who, Capability::Keys)?;
    let e = s.engine()?;
    let list: Vec<Value> = e.access().keys.iter().map(body::key_json).collect();
    Ok(Json(json!({ "keys": list })))
}

#[utoipa::path(delete, path = "/v1/keys/{key}", tag = "admin", params(("key" = String, Path)),
    responses((status = 200, description = "revoked"), (status = 404, body = ApiError)),
    security(("key" = [])))]
pub async fn revoke_key(
    State(s): State<AppState>,
    Caller(who): Caller,
    p: Result<Path<String>, PathRejection>,
) -> Result<Json<Value>, ApiError> {
    auth::require(&who, Capability::Keys)?;
    let id = path(p)?;
    s.commits
        .submit(vec![pending(&who, AccessOp::KeyRevoke { id: id.clone() })])
        .await?;
    Ok(Json(json!({ "id": id, "revoked": true })))
}

/// Verifies the audit log's hash chain against its head.
#[utoipa::path(get, path = "/v1/audit/verify", tag = "admin",
    responses((status = 200, description = "entries, head, and whether the chain holds")),
    security(("key" = [])))]
pub async fn audit_verify(
    State(s): State<AppState>,
    Caller(who): Caller,
) -> Result<Json<Value>, ApiError> {
    auth::require(&who, Capability::Audit)?;
    let dir = s.engine()?.dir().to_path_buf();
    let v = tokio::task::spawn_blocking(move || credo_engine::access::verify_audit(&dir))
        .await
        .map_err(|_| ApiError::internal("verify task failed"))??;
    Ok(Json(body::audit_verify_json(&v)))
}

#[derive(Deserialize, utoipa::IntoParams)]
#[serde(deny_unknown_fields)]
pub struct AuditParams {
    /// The first sequence number to list (default: the last `limit` entries).
    from: Option<u64>,
    /// At most this many entries (default 100, at most 1000).
    limit: Option<usize>,
}

/// The audit log's entries: sequence, time, actor, operation and hash (`credo audit log`).
#[utoipa::path(get, path = "/v1/audit", tag = "admin", params(AuditParams),
    responses((status = 200, description = "entries in log order")), security(("key" = [])))]
pub async fn audit_log(
    State(s): State<AppState>,
    Caller(who): Caller,
    q: Result<Query<AuditParams>, QueryRejection>,
) -> Result<Json<Value>, ApiError> {
    auth::require(&who, Capability::Audit)?;
    let q = query(q)?;
    let limit = q.limit.unwrap_or(100).clamp(1, 1000);
    let dir = s.engine()?.dir().to_path_buf();
    let entries = tokio::task::spawn_blocking(move || credo_engine::access::read_audit(&dir))
        .await
        .map_err(|_| ApiError::internal("audit task failed"))??;
    let n = entries.len();
    let start = match q.from {
        Some(seq) => usize::try_from(seq.saturating_sub(1))
            .unwrap_or(usize::MAX)
            .min(n),
        None => n.saturating_sub(limit),
    };
    let list: Vec<Value> = entries[start..]
        .iter()
        .take(limit)
        .map(body::audit_entry_json)
        .collect();
    Ok(Json(json!({ "entries": list, "total": n })))
}

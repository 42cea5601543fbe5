//! Every error the API returns: a stable code, an HTTP status, and a JSON body
//! `{"code", "message"}`. The codes are listed in `docs/errors.md`.

use axum::Json;
use axum::http::StatusCode;
use axum::http::header::RETRY_AFTER;
use axum::response::{IntoResponse, Response};
use credo_access::AccessError;
use credo_engine::EngineError;
use serde::Serialize;

#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct ApiError {
    /// Stable, machine-readable (see docs/errors.md).
    pub code: &'static str,
    /// For people.
    pub message: String,
    #[serde(skip)]
    pub status: StatusCode,
    #[serde(skip)]
    pub retry_after: Option<u64>,
}

impl ApiError {
    pub fn new(status: StatusCode, code: &'static str, message: impl Into<String>) -> ApiError {
        ApiError {
            code,
            message: message.into(),
            status,
            retry_after: None,
        }
    }

    pub fn bad_request(code: &'static str, message: impl Into<String>) -> ApiError {
        ApiError::new(StatusCode::BAD_REQUEST, code, message)
    }

    pub fn unauthorized(message: impl Into<String>) -> ApiError {
        ApiError::new(StatusCode::UNAUTHORIZED, "unauthorized", message)
    }

    pub fn forbidden(message: impl Into<String>) -> ApiError {
        ApiError::new(StatusCode::FORBIDDEN, "forbidden", message)
    }

    pub fn not_found(message: impl Into<String>) -> ApiError {
        ApiError::new(StatusCode::NOT_FOUND, "not_found", message)
    }

    pub fn internal(message: impl Into<String>) -> ApiError {
        ApiError::new(StatusCode::INTERNAL_SERVER_ERROR, "internal", message)
    }

    pub fn rate_limited(retry_after: u64) -> ApiError {
        ApiError {
            retry_after: Some(retry_after),
            ..ApiError::new(
                StatusCode::TOO_MANY_REQUESTS,
                "rate_limited",
                format!("too many requests from this client; retry after {retry_after} s"),
            )
        }
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let status = self.status;
        let retry = self.retry_after;
        let mut r = (status, Json(self)).into_response();
        if let Some(s) = retry
            && let Ok(v) = s.to_string().parse()
        {
            r.headers_mut().insert(RETRY_AFTER, v);
        }
        r
    }
}

impl From<AccessError> for ApiError {
    fn from(e: AccessError) -> ApiError {
        let status = match e {
            AccessError::UnknownRole(_) | AccessError::Invalid { .. } => StatusCode::BAD_REQUEST,
            AccessError::NotFound { .. } => StatusCode::NOT_FOUND,
            AccessError::Forbidden(_) => StatusCode::FORBIDDEN,
            AccessError::Conflict(_) => StatusCode::CONFLICT,
        };
        ApiError::new(status, e.code(), e.to_string())
    }
}

impl From<EngineError> for ApiError {
    fn from(e: EngineError) -> ApiError {
        if let EngineError::Access(a) = e {
            return a.into();
        }
        let code = e.code();
        let status = match code {
            "bad_id" | "bad_policy" | "unknown_action" | "bad_position" | "bad_radius"
            | "bad_box" | "bad_number" | "bad_notice" => StatusCode::BAD_REQUEST,
            "unknown_subject" | "no_session" | "no_case" => StatusCode::NOT_FOUND,
            // A full disk or a failed write: retry later, as docs/errors.md says.
            "storage_io" => StatusCode::SERVICE_UNAVAILABLE,
            _ => StatusCode::INTERNAL_SERVER_ERROR,
        };
        if status.is_server_error() {
            tracing::error!(code, error = %e, "engine error");
        }
        ApiError::new(status, code, e.to_string())
    }
}

impl From<credo_model::IdError> for ApiError {
    fn from(e: credo_model::IdError) -> ApiError {
        ApiError::bad_request("bad_id", e.to_string())
    }
}

//! Who is asking: `Authorization: Bearer <key>` names a key (found by its SHA-256), no
//! header is the public. A bad or revoked key is a 401, not the public. Handlers take a
//! [`Caller`] and call [`require`] with their route's capability.

use crate::AppState;
use crate::error::ApiError;
use axum::extract::FromRequestParts;
use axum::http::HeaderMap;
use axum::http::header::AUTHORIZATION;
use axum::http::request::Parts;
use credo_access::{Capability, KeyRing, Principal, Role};

/// The principal of the request's key (or the public).
pub struct Caller(pub Principal);

impl FromRequestParts<AppState> for Caller {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, s: &AppState) -> Result<Caller, ApiError> {
        principal(&parts.headers, &s.engine()?.access().keys).map(Caller)
    }
}

/// The principal named by a request's `Authorization` header in `keys` (none: the public;
/// a bad or revoked key: 401). A cluster node calls it with the cluster's keys.
pub fn principal(headers: &HeaderMap, keys: &KeyRing) -> Result<Principal, ApiError> {
    let Some(v) = headers.get(AUTHORIZATION) else {
        return Ok(Principal::public());
    };
    let token = v
        .to_str()
        .ok()
        .and_then(|t| t.strip_prefix("Bearer "))
        .ok_or_else(|| ApiError::unauthorized("use `Authorization: Bearer <key>`"))?;
    keys.authenticate(token.trim())
        .map(|k| k.principal())
        .ok_or_else(|| ApiError::unauthorized("unknown or revoked key"))
}

pub fn require(p: &Principal, cap: Capability) -> Result<(), ApiError> {
    if p.may(cap) {
        Ok(())
    } else if p.role == Role::Public {
        Err(ApiError::unauthorized("this needs a key"))
    } else {
        Err(ApiError::forbidden(format!(
            "a {} key may not do this ({cap:?})",
            p.role.name()
        )))
    }
}

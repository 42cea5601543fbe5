//! Who is asking: `Authorization: Bearer <key>` names a key (found by its SHA-256), no
//! header is the public. A bad or revoked key is a 401, not the public. Handlers take a
//! [`Caller`] and call [`require`] with their route's capability.

use crate::AppState;
use crate::error::ApiError;
use axum::extract::FromRequestParts;
use axum::http::header::AUTHORIZATION;
use axum::http::request::Parts;
use credo_access::{Capability, Principal, Role};

/// The principal of the request's key (or the public).
pub struct Caller(pub Principal);

impl FromRequestParts<AppState> for Caller {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, s: &AppState) -> Result<Caller, ApiError> {
        let Some(v) = parts.headers.get(AUTHORIZATION) else {
            return Ok(Caller(Principal::public()));
        };
        let token = v
            .to_str()
            .ok()
            .and_then(|t| t.strip_prefix("Bearer "))
            .ok_or_else(|| ApiError::unauthorized("use `Authorization: Bearer <key>`"))?;
        s.engine()?
            .access()
            .keys
            .authenticate(token.trim())
            .map(|k| Caller(k.principal()))
            .ok_or_else(|| ApiError::unauthorized("unknown or revoked key"))
    }
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

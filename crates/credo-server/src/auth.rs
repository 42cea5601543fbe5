//! Who is asking: `Authorization: Bearer <key>` names a key (found by its SHA-256), no
//! header is the public. A bad or revoked key is a 401, not the public.

use crate::AppState;
use crate::error::ApiError;
use axum::http::HeaderMap;
use axum::http::header::AUTHORIZATION;
use credo_access::{Capability, Principal, Role};

pub fn principal(s: &AppState, headers: &HeaderMap) -> Result<Principal, ApiError> {
    let Some(v) = headers.get(AUTHORIZATION) else {
        return Ok(Principal::public());
    };
    let token = v
        .to_str()
        .ok()
        .and_then(|t| t.strip_prefix("Bearer "))
        .ok_or_else(|| ApiError::unauthorized("use `Authorization: Bearer <key>`"))?;
    let e = s
        .engine
        .read()
        .map_err(|_| ApiError::internal("state lock poisoned"))?;
    e.access()
        .keys
        .authenticate(token.trim())
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

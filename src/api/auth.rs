//! Bearer-token checks: user API keys (looked up by hash) and the deployment's admin token.

use super::{ApiError, Ctx};
use crate::core::{api_key, ids::constant_time_eq};
use crate::db::users::{self, User};
use worker::Request;

pub fn bearer(req: &Request) -> Result<String, ApiError> {
    let header = req
        .headers()
        .get("Authorization")
        .ok()
        .flatten()
        .ok_or_else(|| ApiError::unauthorized("missing Authorization: Bearer <api key>"))?;
    header
        .strip_prefix("Bearer ")
        .map(|t| t.trim().to_string())
        .filter(|t| !t.is_empty())
        .ok_or_else(|| ApiError::unauthorized("Authorization must be 'Bearer <api key>'"))
}

/// The user whose API key the request carries.
pub async fn user(req: &Request, ctx: &Ctx) -> Result<User, ApiError> {
    let key = bearer(req)?;
    if !api_key::looks_like_key(&key) {
        return Err(ApiError::unauthorized("invalid API key"));
    }
    users::by_key_hash(&ctx.db()?, &api_key::hash(&key)).await?.ok_or_else(|| ApiError::unauthorized("invalid API key"))
}

/// Admin routes take the deployment's `ADMIN_TOKEN`. A real user's key is refused with 403
/// (it authenticates, it is just not allowed here); anything else, a key-shaped string that
/// names no user included, is 401.
pub async fn require_admin(req: &Request, ctx: &Ctx) -> Result<(), ApiError> {
    let token = bearer(req)?;
    let settings = ctx.settings()?;
    if constant_time_eq(token.as_bytes(), settings.admin_token.as_bytes()) {
        return Ok(());
    }
    if api_key::looks_like_key(&token) && users::by_key_hash(&ctx.db()?, &api_key::hash(&token)).await?.is_some() {
        return Err(ApiError::forbidden("this route needs the admin token"));
    }
    Err(ApiError::unauthorized("invalid token"))
}

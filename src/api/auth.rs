//! Bearer-token checks.

use super::{ApiError, Ctx};
use crate::core::ids::constant_time_eq;
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

/// Admin routes take the deployment's `ADMIN_TOKEN`; any other token is refused.
pub fn require_admin(req: &Request, ctx: &Ctx) -> Result<(), ApiError> {
    let token = bearer(req)?;
    let settings = super::settings(ctx)?;
    if constant_time_eq(token.as_bytes(), settings.admin_token.as_bytes()) {
        Ok(())
    } else if token.starts_with("tc_") {
        Err(ApiError::forbidden("this route needs the admin token"))
    } else {
        Err(ApiError::unauthorized("invalid token"))
    }
}

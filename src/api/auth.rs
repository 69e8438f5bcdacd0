//! Bearer-token checks: user API keys (looked up by hash) and the deployment's admin token.

use super::{ApiError, Ctx};
use crate::core::{api_key, ids::constant_time_eq};
use crate::core::neon::{Query, QueryResult};
use crate::db::users::{self, User};
use crate::db::{Db, Owner};
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

/// The API key a request carries, shape-checked but not yet looked up: the lookup travels
/// with the route's own statements (`batch`), so authentication costs no round trip.
pub struct Caller {
    key_hash: String,
}

impl Caller {
    pub fn owner(&self) -> Owner {
        Owner::Key(self.key_hash.clone())
    }

    pub fn key_hash(&self) -> &str {
        &self.key_hash
    }
}

pub fn caller(req: &Request) -> Result<Caller, ApiError> {
    let key = bearer(req)?;
    if !api_key::looks_like_key(&key) {
        return Err(ApiError::unauthorized("invalid API key"));
    }
    Ok(Caller { key_hash: api_key::hash(&key) })
}

/// The caller's key lookup and `queries` in one transaction, one round trip: the user (401
/// when the key names none; then `queries`, written with `Caller::owner`, matched nothing) and
/// each query's result, in order.
pub async fn batch(db: &Db, caller: &Caller, queries: Vec<Query>) -> Result<(User, Vec<QueryResult>), ApiError> {
    let mut all = Vec::with_capacity(queries.len() + 1);
    all.push(users::whoami(&caller.key_hash));
    all.extend(queries);
    let mut results = db.transaction(&all, None).await?.into_iter();
    let me = users::from_result(&results.next().unwrap_or_default())?.ok_or_else(|| ApiError::unauthorized("invalid API key"))?;
    Ok((me, results.collect()))
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

//! `POST /api/v1/users` (admin) and `GET /api/v1/me` (with this month's budget).

use super::{auth, body, budget, json_response, ApiError, Ctx};
use crate::core::{api_key, domain::NewUser};
use crate::db::users;
use crate::platform::{new_id, random_bytes};
use serde_json::json;
use worker::{Request, Response};

pub async fn create(req: &mut Request, ctx: &Ctx) -> Result<Response, ApiError> {
    auth::require_admin(req, ctx).await?;
    let new = NewUser::parse(body::json(req, ctx).await?)?;
    let key = api_key::from_random(random_bytes());
    let user = users::create(&ctx.db()?, &new_id(), &new.name, &new_id(), &api_key::hash(&key), &api_key::display_prefix(&key)).await?;
    crate::log::info("user_created", json!({ "user_id": user.id }));
    // The only time the key is shown: only its hash is stored.
    json_response(201, &json!({ "user": user, "api_key": key }))
}

/// One round trip: the key lookup and the budget read in one batch.
pub async fn me(req: &Request, ctx: &Ctx) -> Result<Response, ApiError> {
    let caller = auth::caller(req)?;
    let (period, read) = budget::read(&caller.owner());
    let (me, results) = auth::batch(&ctx.db()?, &caller, vec![read]).await?;
    let budget = budget::decode(ctx, results.first(), period)?;
    json_response(200, &json!({ "id": me.id, "name": me.name, "created_at": me.created_at, "budget": budget.to_json() }))
}

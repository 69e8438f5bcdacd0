//! `PUT /api/v1/admin/users/{id}/budget`: replaces a user's budget overrides (fields left out
//! return to the configured default, `null` is unlimited) and answers the budget now in force.

use super::{auth, body, budget, json_response, path_id, ApiError, Ctx};
use crate::core::budget::Overrides;
use crate::db::{budgets, Owner};
use serde_json::json;
use worker::{Request, Response};

pub async fn put(req: &mut Request, ctx: &Ctx, id: &str) -> Result<Response, ApiError> {
    auth::require_admin(req, ctx).await?;
    let id = path_id(id, "user")?;
    let overrides = Overrides::parse(body::json(req, ctx).await?)?;
    let (period, read) = budget::read(&Owner::Id(id.clone()));
    // One transaction: the write (no row for an unknown user), then the budget it makes.
    let results = ctx.db()?.transaction(&[budgets::set_overrides(&id, &overrides), read], None).await?;
    if results.first().map_or(true, |r| r.rows.is_empty()) {
        return Err(ApiError::not_found("no such user"));
    }
    let b = budget::decode(ctx, results.get(1), period)?;
    crate::log::info("budget_overridden", json!({ "user_id": id, "overrides": overrides.to_json() }));
    json_response(200, &b.to_json())
}

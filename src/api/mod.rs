//! The HTTP API: CORS and routing here, then one module per resource.
//!
//! Routing is a match on method and path segments rather than `worker::Router`, because the
//! contract needs a JSON error body for unknown routes and wrong methods, which that router
//! answers in plain text.

mod admin_budget;
mod admin_tasks;
mod audio;
mod auth;
mod body;
mod budget;
mod cors;
mod errors;
mod health;
mod launch;
mod probes;
mod stories;
mod story_jobs;
mod tasks;
mod usage;
mod users;
mod voices;

pub use errors::ApiError;

use crate::db::Db;
use crate::settings::{ApiSettings, Settings};
use worker::{Context, Env, Method, Request, Response};

pub struct Ctx {
    pub env: Env,
    pub api: ApiSettings,
}

impl Ctx {
    pub fn settings(&self) -> Result<Settings, ApiError> {
        Settings::from_env(&self.env).map_err(|m| {
            crate::log::error("settings_missing", serde_json::json!({ "reason": m }));
            ApiError::unavailable("the service is not configured yet", 60)
        })
    }

    pub fn db(&self) -> Result<Db, ApiError> {
        Db::new(&self.settings()?).map_err(ApiError::from)
    }
}

pub async fn handle(mut req: Request, env: Env, _ctx: Context) -> worker::Result<Response> {
    let ctx = Ctx { api: ApiSettings::from_env(&env), env };
    let origin = req.headers().get("Origin").ok().flatten();
    let allowed = origin.filter(|o| cors::allowed(&ctx.api, o));
    if req.method() == Method::Options {
        return cors::preflight(allowed.as_deref());
    }
    let resp = route(&mut req, &ctx).await.unwrap_or_else(ApiError::into_response);
    cors::decorate(resp, allowed.as_deref())
}

async fn route(req: &mut Request, ctx: &Ctx) -> Result<Response, ApiError> {
    let path = req.path();
    let segments: Vec<&str> = path.trim_matches('/').split('/').collect();
    let m = req.method();
    use Method::*;
    match (segments.as_slice(), m.clone()) {
        (["health"], Get) => health::get(ctx).await,
        (["api", "v1", "users"], Post) => users::create(req, ctx).await,
        (["api", "v1", "me"], Get) => users::me(req, ctx).await,
        (["api", "v1", "stories"], Post) => stories::create(req, ctx).await,
        (["api", "v1", "stories"], Get) => stories::list(req, ctx).await,
        (["api", "v1", "stories", id], Get) => stories::get(req, ctx, id).await,
        (["api", "v1", "stories", id], Patch) => stories::patch(req, ctx, id).await,
        (["api", "v1", "stories", id], Delete) => stories::delete(req, ctx, id).await,
        (["api", "v1", "stories", id, "chapters", n], Get) => stories::chapter(req, ctx, id, n).await,
        (["api", "v1", "stories", id, "generate"], Post) => story_jobs::generate(req, ctx, id).await,
        (["api", "v1", "stories", id, "audio"], Post) => audio::start(req, ctx, id).await,
        (["api", "v1", "stories", id, "audio"], Get) => audio::book(req, ctx, id).await,
        (["api", "v1", "stories", id, "chapters", n, "audio"], Get) => audio::chapter(req, ctx, id, n).await,
        (["api", "v1", "stories", id, "voices"], Get) => voices::get(req, ctx, id).await,
        (["api", "v1", "stories", id, "voices"], Put) => voices::put(req, ctx, id).await,
        (["api", "v1", "tasks", id], Get) => tasks::get(req, ctx, id).await,
        (["api", "v1", "tasks", id, "events"], Get) => tasks::events(req, ctx, id).await,
        (["api", "v1", "tasks", id, "cancel"], Post) => tasks::cancel(req, ctx, id).await,
        (["api", "v1", "usage"], Get) => usage::get(req, ctx).await,
        (["api", "v1", "admin", "probes"], Post) => probes::create(req, ctx).await,
        (["api", "v1", "admin", "probes", id], Get) => probes::get(req, ctx, id).await,
        (["api", "v1", "admin", "users", id, "budget"], Put) => admin_budget::put(req, ctx, id).await,
        (["api", "v1", "admin", "tasks", id, "redrive"], Post) => admin_tasks::redrive(req, ctx, id).await,
        (["api", "v1", "admin", "tasks", id, "progress"], Get) => admin_tasks::progress(req, ctx, id).await,
        (s, _) if known_path(s) => Err(ApiError::method_not_allowed(format!("{} is not allowed on {path}", m.as_ref()))),
        _ => Err(ApiError::not_found(format!("no route for {path}"))),
    }
}

/// Paths that exist with some method, so that other methods get 405 rather than 404.
fn known_path(s: &[&str]) -> bool {
    matches!(
        s,
        ["health"]
            | ["api", "v1", "users" | "me" | "stories" | "usage"]
            | ["api", "v1", "stories", _]
            | ["api", "v1", "stories", _, "chapters", _]
            | ["api", "v1", "stories", _, "generate" | "audio" | "voices"]
            | ["api", "v1", "stories", _, "chapters", _, "audio"]
            | ["api", "v1", "tasks", _]
            | ["api", "v1", "tasks", _, "events" | "cancel"]
            | ["api", "v1", "admin", "probes"]
            | ["api", "v1", "admin", "probes", _]
            | ["api", "v1", "admin", "tasks", _, "redrive" | "progress"]
            | ["api", "v1", "admin", "users", _, "budget"]
    )
}

/// A JSON answer with the contract's content type.
pub fn json_response(status: u16, body: &impl serde::Serialize) -> Result<Response, ApiError> {
    let resp = Response::from_json(body)?.with_status(status);
    resp.headers().set("Content-Type", "application/json; charset=utf-8")?;
    Ok(resp)
}

/// Ids in paths are UUIDs; anything else cannot name a resource.
pub fn path_id(id: &str, what: &str) -> Result<String, ApiError> {
    if crate::core::ids::is_uuid(id) {
        Ok(id.to_ascii_lowercase())
    } else {
        Err(ApiError::not_found(format!("no such {what}")))
    }
}

pub fn query_pairs(req: &Request) -> Result<Vec<(String, String)>, ApiError> {
    Ok(req.url()?.query_pairs().map(|(k, v)| (k.into_owned(), v.into_owned())).collect())
}

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
mod cover;
mod download;
mod editing;
mod errors;
mod feed;
mod health;
mod launch;
mod links;
mod probes;
pub mod rate_limit;
mod signed;
mod stories;
mod story_jobs;
mod tasks;
mod usage;
mod users;
mod voices;
mod voices_catalogue;

pub use errors::ApiError;

use crate::core::rate_limit::Limit;
use crate::db::Db;
use std::cell::Cell;
use crate::settings::{ApiSettings, Settings};
use worker::{Context, Env, Method, Request, Response};

pub struct Ctx {
    pub env: Env,
    pub api: ApiSettings,
    /// Neon round trips this request made: logged with it, so each route's cost is visible in
    /// production logs and checked against the table in docs/API.md by the tests.
    pub round_trips: crate::platform::Subrequests,
    /// The limit this request was counted under, for its `X-RateLimit-Limit`.
    pub rate_limit: Cell<Option<Limit>>,
}

impl Ctx {
    pub fn settings(&self) -> Result<Settings, ApiError> {
        Settings::from_env(&self.env).map_err(|m| {
            crate::log::error("settings_missing", serde_json::json!({ "reason": m }));
            ApiError::unavailable("the service is not configured yet", 60)
        })
    }

    pub fn db(&self) -> Result<Db, ApiError> {
        Db::counted(&self.settings()?, self.round_trips.clone()).map_err(ApiError::from)
    }
}

pub async fn handle(mut req: Request, env: Env, _ctx: Context) -> worker::Result<Response> {
    let ctx = Ctx { api: ApiSettings::from_env(&env), env, round_trips: Default::default(), rate_limit: Cell::new(None) };
    let origin = req.headers().get("Origin").ok().flatten();
    let allowed = origin.filter(|o| cors::allowed(&ctx.api, o));
    if req.method() == Method::Options {
        return cors::preflight(allowed.as_deref());
    }
    let path = req.path();
    let segments: Vec<&str> = path.trim_matches('/').split('/').collect();
    // Limits are counted before the route runs, so a request over its limit does nothing.
    let counted = rate_limit::before(&req, &ctx, req.method().as_ref(), &segments).await;
    let resp = match counted {
        Ok(()) => route(&mut req, &ctx, &path, &segments).await.unwrap_or_else(ApiError::into_response),
        Err(e) => e.into_response(),
    };
    let resp = rate_limit::after(&req, &ctx, resp).await;
    crate::log::info(
        "request_done",
        serde_json::json!({ "method": req.method().as_ref(), "path": path, "status": resp.status_code(), "db_round_trips": ctx.round_trips.get() }),
    );
    cors::decorate(rate_limit::decorate(resp, &ctx), allowed.as_deref())
}

async fn route(req: &mut Request, ctx: &Ctx, path: &str, segments: &[&str]) -> Result<Response, ApiError> {
    let m = req.method();
    use Method::*;
    match (segments, m.clone()) {
        (["health"], Get) => health::get(req, ctx).await,
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
        (["api", "v1", "stories", id, "chapters", n, "script"], Put) => editing::put_script(req, ctx, id, n).await,
        (["api", "v1", "stories", id, "chapters", n, "script"], Delete) => editing::delete_script(req, ctx, id, n).await,
        (["api", "v1", "stories", id, "pronunciations"], Put) => editing::put_pronunciations(req, ctx, id).await,
        (["api", "v1", "stories", id, "pronunciations"], Get) => editing::get_pronunciations(req, ctx, id).await,
        (["api", "v1", "tasks", id], Get) => tasks::get(req, ctx, id).await,
        (["api", "v1", "tasks", id, "events"], Get) => tasks::events(req, ctx, id).await,
        (["api", "v1", "tasks", id, "cancel"], Post) => tasks::cancel(req, ctx, id).await,
        (["api", "v1", "usage"], Get) => usage::get(req, ctx).await,
        (["api", "v1", "voices"], Get) => voices_catalogue::get(req, ctx).await,
        (["api", "v1", "stories", id, "links"], Post) => links::create(req, ctx, id).await,
        (["api", "v1", "stories", id, "links", "revoke"], Post) => links::revoke(req, ctx, id).await,
        (["api", "v1", "stories", id, "cover"], Put) => cover::put(req, ctx, id).await,
        (["api", "v1", "stories", id, "cover"], Get) => cover::get(req, ctx, id).await,
        (["api", "v1", "stories", id, "cover"], Delete) => cover::delete(req, ctx, id).await,
        (["api", "v1", "stories", id, "feed.xml"], Get | Head) => signed::feed(req, ctx, id).await,
        (["l", ..], Get | Head) if signed_path(segments) => signed::get(req, ctx, segments).await,
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
            | ["api", "v1", "users" | "me" | "stories" | "usage" | "voices"]
            | ["api", "v1", "stories", _]
            | ["api", "v1", "stories", _, "chapters", _]
            | ["api", "v1", "stories", _, "generate" | "audio" | "voices" | "links" | "cover"]
            | ["api", "v1", "stories", _, "links", "revoke"]
            | ["api", "v1", "stories", _, "chapters", _, "audio" | "script"]
            | ["api", "v1", "stories", _, "pronunciations"]
            | ["api", "v1", "tasks", _]
            | ["api", "v1", "tasks", _, "events" | "cancel"]
            | ["api", "v1", "admin", "probes"]
            | ["api", "v1", "admin", "probes", _]
            | ["api", "v1", "admin", "tasks", _, "redrive" | "progress"]
            | ["api", "v1", "admin", "users", _, "budget"]
    ) || signed_path(s)
}

/// Signed links for players and feeds (`core::links`): GET and HEAD, no `Authorization`. The
/// feed's path is inside `/api/v1`; it has its own arm.
fn signed_path(s: &[&str]) -> bool {
    crate::core::links::Resource::from_segments(s).is_some()
}

/// A JSON answer with the contract's content type.
pub fn json_response(status: u16, body: &impl serde::Serialize) -> Result<Response, ApiError> {
    let resp = Response::from_json(body)?.with_status(status);
    resp.headers().set("Content-Type", "application/json; charset=utf-8")?;
    Ok(resp)
}

/// A JSON answer with an `ETag`, or a bodiless 304 when the request's `If-None-Match` names
/// it (the work of reading it is done either way; what a poller saves is the bytes).
pub fn json_tagged(req: &Request, body: &impl serde::Serialize) -> Result<Response, ApiError> {
    let bytes = serde_json::to_vec(body).map_err(|_| ApiError::internal())?;
    let etag = crate::core::http::etag::of(&bytes);
    let fresh = req.headers().get("If-None-Match")?.is_some_and(|h| crate::core::http::etag::none_match_hits(&h, &etag));
    let resp = if fresh {
        Response::empty()?.with_status(304)
    } else {
        let r = Response::from_bytes(bytes)?;
        r.headers().set("Content-Type", "application/json; charset=utf-8")?;
        r
    };
    resp.headers().set("ETag", &etag)?;
    // Revalidated on every use: the state changes while a job runs.
    resp.headers().set("Cache-Control", "private, no-cache")?;
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

/// A chapter number in a path: 1..=MAX_CHAPTERS, else no chapter can have it (and a number
/// past PostgreSQL's int would fail the query as a 500).
pub fn chapter_number(n: &str) -> Result<u32, ApiError> {
    n.parse::<u32>()
        .ok()
        .filter(|n| (1..=crate::core::domain::MAX_CHAPTERS as u32).contains(n))
        .ok_or_else(|| ApiError::not_found("no such chapter"))
}

pub fn query_pairs(req: &Request) -> Result<Vec<(String, String)>, ApiError> {
    Ok(req.url()?.query_pairs().map(|(k, v)| (k.into_owned(), v.into_owned())).collect())
}

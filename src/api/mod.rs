//! The HTTP API: routing, then one module per resource.
//!
//! Routing is a match on method and path segments rather than `worker::Router`, because the
//! contract needs a JSON error body for unknown routes and wrong methods, which that router
//! answers in plain text.

mod auth;
mod errors;
mod health;
mod probes;

pub use errors::ApiError;

use worker::{Context, Env, Method, Request, Response};

pub struct Ctx {
    pub env: Env,
}

pub async fn handle(mut req: Request, env: Env, _ctx: Context) -> worker::Result<Response> {
    let ctx = Ctx { env };
    Ok(route(&mut req, &ctx).await.unwrap_or_else(ApiError::into_response))
}

async fn route(req: &mut Request, ctx: &Ctx) -> Result<Response, ApiError> {
    let path = req.path();
    let segments: Vec<&str> = path.trim_matches('/').split('/').collect();
    let method = req.method();
    match segments.as_slice() {
        ["health"] => match method {
            Method::Get => health::get(ctx).await,
            _ => Err(ApiError::method_not_allowed("use GET")),
        },
        ["api", "v1", "admin", "probes"] => match method {
            Method::Post => probes::create(req, ctx).await,
            _ => Err(ApiError::method_not_allowed("use POST")),
        },
        ["api", "v1", "admin", "probes", id] => match method {
            Method::Get => probes::get(req, ctx, id).await,
            _ => Err(ApiError::method_not_allowed("use GET")),
        },
        _ => Err(ApiError::not_found(format!("no route for {path}"))),
    }
}

/// A JSON answer with the contract's content type.
pub fn json_response(status: u16, body: &serde_json::Value) -> Result<Response, ApiError> {
    let resp = Response::from_json(body)?.with_status(status);
    resp.headers().set("Content-Type", "application/json; charset=utf-8")?;
    Ok(resp)
}

/// The settings, or a 503 naming what is missing (a deployment without its secrets).
pub fn settings(ctx: &Ctx) -> Result<crate::settings::Settings, ApiError> {
    crate::settings::Settings::from_env(&ctx.env).map_err(|m| {
        crate::log::error("settings_missing", serde_json::json!({ "reason": m }));
        ApiError::unavailable(m, 60)
    })
}

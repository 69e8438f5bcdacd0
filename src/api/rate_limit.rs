//! Rate limits through the platform's Rate Limiting binding, one binding per class
//! (`core::rate_limit`). Authenticated classes are keyed by the API key's hash, which
//! `auth::caller` computes without a database round trip, so a request over its limit is
//! refused before it touches Neon. Failed authentication and `/health` are keyed by the
//! client IP (`CF-Connecting-IP`), and so are signed links (which have no user), under the
//! reads limit.
//!
//! The binding answers only "allowed or not"; its counts are per Cloudflare location and
//! approximate. That is what these limits need: they stop one caller from flooding the
//! service. The exact guard on spend is the budget, checked against the database.

use super::{auth, ApiError, Ctx};
use crate::core::rate_limit::{route_limit, Blocked, Class, Limit, RouteLimit};
use serde_json::json;
use std::cell::RefCell;
use worker::{Date, Request, Response};

thread_local! {
    /// IPs over the failed-authentication limit, refused without a query until their
    /// Retry-After: per isolate, learned from this isolate's own 401s.
    static BLOCKED: RefCell<Blocked> = RefCell::new(Blocked::default());
}

/// The client's address as Cloudflare gives it. Cloudflare sets this header itself on every
/// request that reaches a Worker, so a client cannot choose it; `wrangler dev` sets it from the
/// socket unless the request already carries one (the tests use that to play several clients).
pub fn client_ip(req: &Request) -> String {
    req.headers().get("CF-Connecting-IP").ok().flatten().filter(|ip| !ip.is_empty()).unwrap_or_else(|| "unknown".into())
}

/// Counts one request of `class` under `key`; over the limit → 429 `rate_limited`. The class
/// is remembered for the answer's `X-RateLimit-Limit`.
pub async fn check(ctx: &Ctx, class: Class, key: &str) -> Result<(), ApiError> {
    let limit = ctx.api.rate_limit(class);
    ctx.rate_limit.set(Some(limit));
    if allowed(ctx, class, key).await {
        Ok(())
    } else {
        Err(too_many(class, limit))
    }
}

/// A job start (`generate`, `audio`) counts once its body is read: a dry run is a write.
pub async fn job_start(req: &Request, ctx: &Ctx, dry_run: bool) -> Result<(), ApiError> {
    check(ctx, Class::job_start(dry_run), auth::caller(req)?.key_hash()).await
}

/// A limiter that cannot be asked (a binding missing from the deployment, a platform error)
/// lets the request through: refusing every request would be an outage, and the budget still
/// bounds spend. It is logged.
async fn allowed(ctx: &Ctx, class: Class, key: &str) -> bool {
    let outcome = match ctx.env.rate_limiter(class.binding()) {
        Ok(limiter) => limiter.limit(key.to_string()).await,
        Err(e) => Err(e),
    };
    outcome.map(|o| o.success).unwrap_or_else(|e| {
        crate::log::error("rate_limiter_failed", json!({ "binding": class.binding(), "error": e.to_string() }));
        true
    })
}

fn too_many(class: Class, limit: Limit) -> ApiError {
    let what = match class {
        Class::JobStart => "too many job starts",
        Class::Write => "too many changes",
        Class::Read => "too many reads",
        Class::FailedAuth => "too many failed authentications from this address",
        Class::Health => "too many health checks from this address",
    };
    let (n, w) = (limit.requests, limit.period_secs);
    ApiError::rate_limited(format!("{what}: the limit is {n} per {w} s; try again later (see Retry-After)"), limit.retry_after_secs())
}

/// What runs before the route: refuse an IP that is blocked for failed authentication, then
/// count the request in its class. Job starts count themselves (`job_start`); a request
/// without a well-formed key is not counted here: its route answers 401, which `after` counts.
pub async fn before(req: &Request, ctx: &Ctx, method: &str, segments: &[&str]) -> Result<(), ApiError> {
    let ip = client_ip(req);
    let route = route_limit(method, segments);
    if route != RouteLimit::Health {
        if let Some(secs) = BLOCKED.with(|b| b.borrow().remaining_secs(&ip, now_ms())) {
            let limit = ctx.api.rate_limit(Class::FailedAuth);
            ctx.rate_limit.set(Some(limit));
            let mut e = too_many(Class::FailedAuth, limit);
            e.retry_after = Some(secs);
            return Err(e);
        }
    }
    match route {
        RouteLimit::Health => check(ctx, Class::Health, &ip).await,
        // Prefixed: an IP never collides with a key hash in the reads limiter's key space.
        RouteLimit::SignedLink => check(ctx, Class::Read, &format!("ip:{ip}")).await,
        RouteLimit::PerUser(class) => match auth::caller(req) {
            Ok(caller) => check(ctx, class, caller.key_hash()).await,
            Err(_) => Ok(()),
        },
        RouteLimit::JobStart | RouteLimit::None => Ok(()),
    }
}

/// What runs after the route: a 401 counts against the client IP; past the limit the answer
/// becomes 429 and the IP is refused without a query until its Retry-After.
pub async fn after(req: &Request, ctx: &Ctx, resp: Response) -> Response {
    if resp.status_code() != 401 {
        return resp;
    }
    let ip = client_ip(req);
    let limit = ctx.api.rate_limit(Class::FailedAuth);
    match check(ctx, Class::FailedAuth, &ip).await {
        Ok(()) => resp,
        Err(e) => {
            BLOCKED.with(|b| b.borrow_mut().block(&ip, now_ms(), limit.retry_after_secs()));
            crate::log::warn("failed_auth_blocked", json!({ "ip": ip, "secs": limit.retry_after_secs() }));
            e.into_response()
        }
    }
}

/// `X-RateLimit-Limit` on every answer a limit counted.
pub fn decorate(resp: Response, ctx: &Ctx) -> Response {
    if let Some(limit) = ctx.rate_limit.get() {
        let _ = resp.headers().set("X-RateLimit-Limit", &limit.header_value());
    }
    resp
}

fn now_ms() -> u64 {
    Date::now().as_millis()
}

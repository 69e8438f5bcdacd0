//! CORS for browser front-ends: origins on the configured allow-list get the headers, and a
//! preflight answers 204 with the methods and headers the API takes.

use crate::settings::ApiSettings;
use worker::Response;

const METHODS: &str = "GET, POST, PUT, PATCH, DELETE, OPTIONS";
const HEADERS: &str = "Authorization, Content-Type, Range, If-Range, If-None-Match, Last-Event-ID";
const EXPOSED: &str = "Retry-After, ETag, Content-Range, Content-Length, Accept-Ranges, X-RateLimit-Limit";

pub fn allowed(api: &ApiSettings, origin: &str) -> bool {
    api.cors_origins.iter().any(|o| o == "*" || o == origin.trim_end_matches('/'))
}

pub fn preflight(origin: Option<&str>) -> worker::Result<Response> {
    let resp = Response::empty()?.with_status(204);
    let h = resp.headers();
    h.set("Allow", METHODS)?;
    if origin.is_some() {
        h.set("Access-Control-Allow-Methods", METHODS)?;
        h.set("Access-Control-Allow-Headers", HEADERS)?;
        h.set("Access-Control-Max-Age", "86400")?;
    }
    decorate(resp, origin)
}

pub fn decorate(resp: Response, origin: Option<&str>) -> worker::Result<Response> {
    let h = resp.headers();
    h.append("Vary", "Origin")?;
    if let Some(o) = origin {
        h.set("Access-Control-Allow-Origin", o)?;
        h.set("Access-Control-Expose-Headers", EXPOSED)?;
    }
    Ok(resp)
}

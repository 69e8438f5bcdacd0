//! The contract's error body: `{"error": {"code", "message", "field"?, ...}}` for every
//! 4xx/5xx; some errors carry more fields (a 402 its `budget` and `estimate`).

use serde_json::{json, Map, Value};
use worker::{Headers, Response};

#[derive(Debug)]
pub struct ApiError {
    pub status: u16,
    pub code: &'static str,
    pub message: String,
    pub field: Option<String>,
    pub retry_after: Option<u32>,
    /// More fields of the error object, after `code`, `message` and `field`.
    pub extra: Map<String, Value>,
}

impl ApiError {
    fn new(status: u16, code: &'static str, message: impl Into<String>) -> Self {
        ApiError { status, code, message: message.into(), field: None, retry_after: None, extra: Map::new() }
    }
    /// Adds a field to the error object.
    pub fn with(mut self, key: &str, value: Value) -> Self {
        self.extra.insert(key.to_string(), value);
        self
    }
    /// A job whose estimate does not fit what is left of the caller's monthly budget.
    pub fn budget_exceeded(m: impl Into<String>) -> Self {
        Self::new(402, "budget_exceeded", m)
    }
    pub fn unauthorized(m: impl Into<String>) -> Self {
        Self::new(401, "unauthorized", m)
    }
    pub fn forbidden(m: impl Into<String>) -> Self {
        Self::new(403, "forbidden", m)
    }
    pub fn not_found(m: impl Into<String>) -> Self {
        Self::new(404, "not_found", m)
    }
    pub fn range_not_satisfiable(len: u64) -> Self {
        Self::new(416, "range_not_satisfiable", format!("the range is outside the {len} bytes of the audio"))
    }
    pub fn conflict(m: impl Into<String>) -> Self {
        Self::new(409, "conflict", m)
    }
    pub fn method_not_allowed(m: impl Into<String>) -> Self {
        Self::new(405, "method_not_allowed", m)
    }
    /// Details go to the log, never to the caller: they may name internals.
    pub fn internal() -> Self {
        Self::new(500, "internal", "something went wrong on our side; it has been logged")
    }
    pub fn rate_limited(m: impl Into<String>, retry_after: u32) -> Self {
        ApiError { retry_after: Some(retry_after), ..Self::new(429, "rate_limited", m) }
    }
    pub fn unavailable(m: impl Into<String>, retry_after: u32) -> Self {
        ApiError { retry_after: Some(retry_after), ..Self::new(503, "unavailable", m) }
    }

    pub fn into_response(self) -> Response {
        let mut err = json!({ "code": self.code, "message": self.message });
        if let Some(f) = self.field {
            err["field"] = json!(f);
        }
        for (k, v) in self.extra {
            err[k.as_str()] = v;
        }
        let headers = Headers::new();
        let _ = headers.set("Content-Type", "application/json; charset=utf-8");
        if let Some(s) = self.retry_after {
            let _ = headers.set("Retry-After", &s.to_string());
        }
        Response::from_json(&json!({ "error": err }))
            .map(|r| r.with_status(self.status).with_headers(headers))
            .unwrap_or_else(|_| Response::empty().expect("empty response").with_status(500))
    }
}

impl From<worker::Error> for ApiError {
    fn from(e: worker::Error) -> Self {
        crate::log::error("internal_error", json!({ "error": e.to_string() }));
        ApiError::internal()
    }
}

impl From<crate::core::validate::BodyError> for ApiError {
    fn from(e: crate::core::validate::BodyError) -> Self {
        ApiError {
            status: e.status(),
            code: e.code(),
            message: e.message(),
            field: e.field().map(str::to_string),
            retry_after: None,
            extra: Map::new(),
        }
    }
}

impl From<crate::core::validate::FieldError> for ApiError {
    fn from(e: crate::core::validate::FieldError) -> Self {
        crate::core::validate::BodyError::Invalid(e).into()
    }
}

/// A unique violation is the caller's conflict; anything else is ours, logged, not shown.
impl From<crate::core::neon::NeonError> for ApiError {
    fn from(e: crate::core::neon::NeonError) -> Self {
        if e.is_unique_violation() {
            return ApiError::conflict("that conflicts with something that already exists");
        }
        crate::log::error("database_error", json!({ "error": e.to_string() }));
        match e {
            crate::core::neon::NeonError::Transport(_) | crate::core::neon::NeonError::Http { .. } => {
                ApiError::unavailable("the database is unavailable; try again shortly", 5)
            }
            _ => ApiError::internal(),
        }
    }
}

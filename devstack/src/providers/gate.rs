//! What every provider request goes through before the provider logic runs: the log entry,
//! injected latency, the API key check, the concurrency cap and injected faults. Keeping it in
//! one place means a fault or a 401 is logged and delayed exactly like a success.
use super::faults::{Fault, Kind};
use super::knobs::InFlight;
use super::log::NewEntry;
use super::{elevenlabs, openai, App, Provider};
use axum::body::Body;
use axum::http::{HeaderMap, HeaderValue, Method, StatusCode, Uri};
use axum::response::{IntoResponse, Response};
use axum::Json;
use serde_json::{Map, Value};
use std::collections::BTreeMap;
use std::time::{Duration, Instant};

pub struct Admission {
    pub seq: u64,
    /// Requests in flight for this provider, this one included, at arrival.
    pub in_flight: usize,
    /// Set when the gate already answered (auth, cap or fault); the provider logic must not run.
    pub early: Option<Response>,
    started: Instant,
    _guard: InFlight,
}

impl App {
    pub async fn admit(
        &self,
        p: Provider,
        method: &Method,
        uri: &Uri,
        headers: &HeaderMap,
        body: &[u8],
        voice_id: Option<&str>,
    ) -> Admission {
        let started = Instant::now();
        let seq = self.log.open(NewEntry {
            provider: p,
            method: method.as_str(),
            path: uri.path(),
            query: query_map(uri),
            body,
            voice_id,
        });
        let knobs = self.knobs.of(p);
        let (guard, in_flight) = knobs.enter();
        let latency = knobs.latency_ms.load(std::sync::atomic::Ordering::SeqCst);
        if latency > 0 {
            tokio::time::sleep(Duration::from_millis(latency)).await;
            self.log.set_latency(seq, latency);
        }
        let early = if !self.authorized(p, headers) {
            Some(error(p, StatusCode::UNAUTHORIZED, None))
        } else if knobs.cap().is_some_and(|cap| in_flight > cap) {
            Some(over_cap(p))
        } else if let Some(f) = self.faults.take(p, body) {
            self.log.mark_fault(seq, f.id);
            Some(self.fault_response(p, &f, body, seq).await)
        } else {
            None
        };
        Admission { seq, in_flight, early, started, _guard: guard }
    }

    pub fn finish(&self, adm: Admission, resp: Response) -> Response {
        let ms = adm.started.elapsed().as_millis() as u64;
        self.log.close(adm.seq, resp.status().as_u16(), ms);
        resp
    }

    fn authorized(&self, p: Provider, headers: &HeaderMap) -> bool {
        let header = |name: &str| headers.get(name).and_then(|v| v.to_str().ok());
        match p {
            Provider::Openai => header("authorization")
                .and_then(|v| v.strip_prefix("Bearer "))
                .is_some_and(|k| k.trim() == self.cfg.openai_key),
            Provider::Elevenlabs => header("xi-api-key").is_some_and(|k| k == self.cfg.elevenlabs_key),
        }
    }

    async fn fault_response(&self, p: Provider, f: &Fault, body: &[u8], seq: u64) -> Response {
        match f.kind {
            Kind::Status => {
                let status = StatusCode::from_u16(f.status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
                let payload = f.body.clone().unwrap_or_else(|| error_body(p, status, None));
                let mut resp = (status, Json(payload)).into_response();
                if let Some(secs) = f.retry_after {
                    resp.headers_mut().insert("retry-after", HeaderValue::from(secs));
                }
                resp
            }
            Kind::Hang => {
                let released = self.faults.release.notified();
                let how = tokio::select! {
                    _ = tokio::time::sleep(Duration::from_millis(f.hang_ms)) => "elapsed",
                    _ = released => "released",
                };
                self.log.set_hang_end(seq, how);
                error(p, StatusCode::GATEWAY_TIMEOUT, Some("devstack: injected hang ended"))
            }
            Kind::Malformed | Kind::MalformedContent | Kind::Empty => match p {
                Provider::Openai => openai::broken_response(f.kind, body),
                Provider::Elevenlabs => elevenlabs::broken_response(f.kind, seq),
            },
        }
    }
}

/// The provider's own error shape for a status, with its usual wording.
pub fn error_body(p: Provider, status: StatusCode, message: Option<&str>) -> Value {
    match p {
        Provider::Openai => {
            let (default, ty, code) = match status.as_u16() {
                401 => ("Incorrect API key provided. You can find your API key at https://platform.openai.com/account/api-keys.", "invalid_request_error", Some("invalid_api_key")),
                429 => ("Rate limit reached for requests. Please try again in 20s.", "rate_limit_exceeded", Some("rate_limit_exceeded")),
                500 => ("The server had an error while processing your request. Sorry about that!", "server_error", None),
                502 | 503 => ("The server is overloaded or not ready yet.", "server_error", None),
                s if s >= 500 => ("The server had an error while processing your request.", "server_error", None),
                _ => ("Invalid request.", "invalid_request_error", None),
            };
            serde_json::json!({"error": {"message": message.unwrap_or(default), "type": ty, "param": null, "code": code}})
        }
        Provider::Elevenlabs => {
            let (default, code) = match status.as_u16() {
                401 => ("Invalid API key", "invalid_api_key"),
                429 => ("The system is experiencing heavy traffic, please try again later.", "system_busy"),
                503 => ("The service is temporarily unavailable.", "service_unavailable"),
                504 => ("The request timed out.", "timeout"),
                s if s >= 500 => ("An internal server error occurred.", "internal_server_error"),
                _ => ("Invalid request.", "bad_request"),
            };
            serde_json::json!({"detail": {"status": code, "message": message.unwrap_or(default)}})
        }
    }
}

pub fn error(p: Provider, status: StatusCode, message: Option<&str>) -> Response {
    (status, Json(error_body(p, status, message))).into_response()
}

fn over_cap(p: Provider) -> Response {
    let body = match p {
        Provider::Elevenlabs => serde_json::json!({"detail": {"status": "too_many_concurrent_requests",
            "message": "You have too many concurrent requests. Please wait for one to finish before sending another."}}),
        Provider::Openai => error_body(p, StatusCode::TOO_MANY_REQUESTS, Some("Too many concurrent requests.")),
    };
    (StatusCode::TOO_MANY_REQUESTS, Json(body)).into_response()
}

fn query_map(uri: &Uri) -> Map<String, Value> {
    let parsed: BTreeMap<String, String> = axum::extract::Query::try_from_uri(uri).map(|q| q.0).unwrap_or_default();
    parsed.into_iter().map(|(k, v)| (k, Value::String(v))).collect()
}

/// A 200 response with raw bytes and a content type, for the broken-body faults.
pub fn raw(content_type: &'static str, bytes: Vec<u8>) -> Response {
    let mut resp = Response::new(Body::from(bytes));
    resp.headers_mut().insert("content-type", HeaderValue::from_static(content_type));
    resp
}

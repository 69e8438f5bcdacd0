//! Sends what `core::neon` builds over the Workers Fetch API.

use crate::core::neon::{self, HttpRequest, Isolation, NeonError, Query, QueryResult};
use crate::platform::{fetch_within, FetchFailure, Subrequests};
use crate::settings::Settings;
use std::time::Duration;
use worker::{Headers, Method, Request, RequestInit};

pub struct Db {
    endpoint: String,
    connection_string: String,
    timeout: Duration,
    /// How long transient failures are retried before one is returned (zero for API routes,
    /// which answer 503 at once; job steps wait out a short outage instead of losing work).
    patience: Duration,
    /// Every round trip counts as a subrequest of the invocation that makes it.
    pub counter: Subrequests,
}

impl Db {
    pub fn new(settings: &Settings) -> Result<Self, NeonError> {
        Self::counted(settings, Subrequests::default())
    }

    /// A client whose round trips add to `counter` (a job step's).
    pub fn counted(settings: &Settings, counter: Subrequests) -> Result<Self, NeonError> {
        let endpoint = neon::endpoint_for(&settings.database_url, settings.neon_http_endpoint.as_deref())?;
        let connection_string = neon::parse_connection_string(&settings.database_url)?.to_string();
        Ok(Db { endpoint, connection_string, timeout: Duration::from_secs(settings.neon_timeout_secs), patience: Duration::ZERO, counter })
    }

    /// Retries transient failures for up to `patience`. Every statement a job step sends is
    /// safe to repeat: writes are conditional on the step's lease and state, usage rows carry
    /// idempotency keys, and a claim accepts its own token again.
    pub fn patient(mut self, patience: Duration) -> Self {
        self.patience = patience;
        self
    }

    pub async fn query(&self, q: &Query) -> Result<QueryResult, NeonError> {
        let (status, body) = self.send(neon::single_request(&self.connection_string, q)).await?;
        neon::decode_single(status, &body)
    }

    /// All statements in one transaction: Neon commits them together or not at all.
    pub async fn transaction(&self, qs: &[Query], isolation: Option<Isolation>) -> Result<Vec<QueryResult>, NeonError> {
        let (status, body) = self.send(neon::batch_request(&self.connection_string, qs, isolation)).await?;
        neon::decode_batch(status, &body)
    }

    /// A database that stops answering must not hold a step (and its lease) for ever: past the
    /// timeout the request is aborted and the step fails like any transport error.
    async fn send(&self, r: HttpRequest) -> Result<(u16, String), NeonError> {
        let started = chrono::Utc::now();
        let mut wait = Duration::from_millis(250);
        loop {
            let result = self.send_once(&r).await;
            let result = result.and_then(|(status, body)| match status {
                500.. => Err(NeonError::Http { status, body: body.chars().take(200).collect() }),
                _ => Ok((status, body)),
            });
            match result {
                Err(e) if e.is_transient() && (chrono::Utc::now() - started).to_std().unwrap_or_default() + wait < self.patience => {
                    crate::log::warn("db_retry", serde_json::json!({ "error": e.to_string(), "retry_in_ms": wait.as_millis() as u64 }));
                    worker::Delay::from(wait).await;
                    wait = (wait * 2).min(Duration::from_secs(4));
                }
                other => return other,
            }
        }
    }

    async fn send_once(&self, r: &HttpRequest) -> Result<(u16, String), NeonError> {
        let headers = Headers::new();
        for (k, v) in &r.headers {
            headers.set(k, v).map_err(|e| NeonError::Config(e.to_string()))?;
        }
        let mut init = RequestInit::new();
        init.with_method(Method::Post).with_headers(headers).with_body(Some(r.body.as_str().into()));
        let req = Request::new_with_init(&self.endpoint, &init).map_err(|e| NeonError::Config(e.to_string()))?;
        match fetch_within(req, self.timeout, &self.counter).await {
            Ok(f) => Ok((f.status, String::from_utf8_lossy(&f.body).into_owned())),
            Err(FetchFailure::TimedOut) => Err(NeonError::Transport(format!("the database did not answer within {} s", self.timeout.as_secs()))),
            Err(FetchFailure::Failed(e)) => Err(NeonError::Transport(e)),
        }
    }
}

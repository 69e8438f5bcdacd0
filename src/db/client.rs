//! Sends what `core::neon` builds over the Workers Fetch API.

use crate::core::neon::{self, HttpRequest, Isolation, NeonError, Query, QueryResult};
use crate::settings::Settings;
use worker::{Fetch, Headers, Method, Request, RequestInit};

pub struct Db {
    endpoint: String,
    connection_string: String,
}

impl Db {
    pub fn new(settings: &Settings) -> Result<Self, NeonError> {
        let endpoint = neon::endpoint_for(&settings.database_url, settings.neon_http_endpoint.as_deref())?;
        let connection_string = neon::parse_connection_string(&settings.database_url)?.to_string();
        Ok(Db { endpoint, connection_string })
    }

    pub async fn query(&self, q: &Query) -> Result<QueryResult, NeonError> {
        let (status, body) = self.send(neon::single_request(&self.connection_string, q)).await?;
        neon::decode_single(status, &body)
    }

    /// All statements in one transaction: Neon commits them together or not at all.
    #[allow(dead_code)] // the story and audio repositories write in batches
    pub async fn transaction(&self, qs: &[Query], isolation: Option<Isolation>) -> Result<Vec<QueryResult>, NeonError> {
        let (status, body) = self.send(neon::batch_request(&self.connection_string, qs, isolation)).await?;
        neon::decode_batch(status, &body)
    }

    async fn send(&self, r: HttpRequest) -> Result<(u16, String), NeonError> {
        let headers = Headers::new();
        for (k, v) in &r.headers {
            headers.set(k, v).map_err(|e| NeonError::Config(e.to_string()))?;
        }
        let mut init = RequestInit::new();
        init.with_method(Method::Post).with_headers(headers).with_body(Some(r.body.into()));
        let req = Request::new_with_init(&self.endpoint, &init).map_err(|e| NeonError::Config(e.to_string()))?;
        let mut resp = Fetch::Request(req).send().await.map_err(|e| NeonError::Transport(e.to_string()))?;
        let body = resp.text().await.map_err(|e| NeonError::Transport(e.to_string()))?;
        Ok((resp.status_code(), body))
    }
}

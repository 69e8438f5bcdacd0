//! Neon's "SQL over HTTP" protocol (what `@neondatabase/serverless`'s `neon()` speaks) in front
//! of a real PostgreSQL, so the Worker's database code runs locally unchanged. The spec is
//! `neon-http-protocol.md` in the shared reference; the host in the connection string stands
//! for Neon's cloud and is ignored: every login goes to `Config::pg_addr`.

mod conninfo;
mod errors;
mod exec;
mod headers;
mod http;
mod output;
mod payload;
mod pgwire;
mod pool;

use std::sync::Arc;

pub struct Config {
    /// host:port of the PostgreSQL server every request is forwarded to.
    pub pg_addr: String,
}

pub fn router(cfg: Config) -> axum::Router {
    axum::Router::new()
        .fallback(http::dispatch)
        .with_state(Arc::new(pool::Pool::new(cfg.pg_addr)))
}

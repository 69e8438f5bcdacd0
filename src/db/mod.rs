//! PostgreSQL (Neon) access over its SQL-over-HTTP endpoint.
mod client;
pub use client::Db;

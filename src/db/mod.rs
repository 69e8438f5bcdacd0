//! PostgreSQL (Neon) access over its SQL-over-HTTP endpoint: the client, then one repository
//! per table. Every query that reads or changes a user's data names the user, so another
//! user's ids find nothing.
pub mod audio;
mod client;
pub mod chapters;
pub mod stories;
pub mod tasks;
pub mod usage;
pub mod users;

pub use client::Db;

use crate::core::neon::{NeonError, Row};
use chrono::{DateTime, SecondsFormat, Utc};

/// The contract's time format: RFC 3339 UTC.
pub fn time(row: &Row, col: &str) -> Result<String, NeonError> {
    Ok(row.get::<DateTime<Utc>>(col)?.to_rfc3339_opts(SecondsFormat::Millis, true))
}

//! PostgreSQL (Neon) access over its SQL-over-HTTP endpoint: the client, then one repository
//! per table. Every query that reads or changes a user's data names the user, so another
//! user's ids find nothing.
pub mod audio;
pub mod budgets;
mod client;
pub mod chapters;
pub mod editing;
pub mod links;
pub mod stories;
pub mod tasks;
pub mod usage;
pub mod users;

pub use client::Db;

/// Whom a statement acts for. `Key` is the hash of the request's API key: the statement finds
/// the user itself, so a route's query authenticates too and auth costs no round trip of its
/// own. An unknown or revoked key makes the subquery NULL, which matches no row and inserts none.
#[derive(Debug, Clone)]
pub enum Owner {
    Id(String),
    Key(String),
}

impl Owner {
    /// The user id as SQL, for a statement that binds `self.value()` as parameter `$n`.
    pub fn sql(&self, n: usize) -> String {
        match self {
            Owner::Id(_) => format!("${n}::uuid"),
            Owner::Key(_) => format!("(SELECT k.user_id FROM api_keys k WHERE k.key_hash = ${n} AND k.revoked_at IS NULL)"),
        }
    }

    pub fn value(&self) -> &str {
        match self {
            Owner::Id(v) | Owner::Key(v) => v,
        }
    }
}

use crate::core::neon::{NeonError, Row};
use chrono::{DateTime, SecondsFormat, Utc};

/// The contract's time format: RFC 3339 UTC.
pub fn time(row: &Row, col: &str) -> Result<String, NeonError> {
    Ok(row.get::<DateTime<Utc>>(col)?.to_rfc3339_opts(SecondsFormat::Millis, true))
}

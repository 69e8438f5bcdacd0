//! `users` and `api_keys`.

use super::{time, Db};
use crate::core::neon::{NeonError, Query, QueryResult, Row};
use serde::Serialize;

#[derive(Debug, Clone, Serialize)]
pub struct User {
    pub id: String,
    pub name: String,
    pub created_at: String,
}

fn user(r: &Row) -> Result<User, NeonError> {
    Ok(User { id: r.get("id")?, name: r.get("name")?, created_at: time(r, "created_at")? })
}

/// The user and their first key, together or not at all.
pub async fn create(db: &Db, id: &str, name: &str, key_id: &str, key_hash: &str, key_prefix: &str) -> Result<User, NeonError> {
    let results = db
        .transaction(
            &[
                Query::new("INSERT INTO users (id, name) VALUES ($1, $2) RETURNING id::text, name, created_at").bind(id).bind(name),
                Query::new("INSERT INTO api_keys (id, user_id, key_hash, key_prefix) VALUES ($1, $2, $3, $4)")
                    .bind(key_id)
                    .bind(id)
                    .bind(key_hash)
                    .bind(key_prefix),
            ],
            None,
        )
        .await?;
    let row = results[0].first().ok_or_else(|| NeonError::Decode("INSERT returned no row".into()))?;
    user(&row)
}

/// The user whose live key hashes to `key_hash`: no row for an unknown or revoked key.
pub fn whoami(key_hash: &str) -> Query {
    Query::new(
        "SELECT u.id::text, u.name, u.created_at FROM api_keys k JOIN users u ON u.id = k.user_id \
         WHERE k.key_hash = $1 AND k.revoked_at IS NULL",
    )
    .bind(key_hash)
}

pub fn from_result(r: &QueryResult) -> Result<Option<User>, NeonError> {
    r.first().map(|row| user(&row)).transpose()
}

pub async fn by_key_hash(db: &Db, key_hash: &str) -> Result<Option<User>, NeonError> {
    from_result(&db.query(&whoami(key_hash)).await?)
}

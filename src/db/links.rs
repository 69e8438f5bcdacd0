//! What signed links need of `stories`: the link generation (see migrations/0007) and the
//! book metadata the downloads and the feed show.

use super::Owner;
use crate::core::book_meta::Album;
use crate::core::neon::{NeonError, Query, QueryResult};

pub struct LinkState {
    /// What the downloads' tags and the feed say of the book.
    pub album: Album,
    pub generation: i64,
}

/// The story's link state. It names no user: a signed request has none, and its signature is
/// what allows it; an authenticated route reads it in the batch that checks ownership.
pub fn state(story_id: &str) -> Query {
    Query::new("SELECT title, link_generation, num_chapters, author, cover_type, cover_bytes, cover_sha256 FROM stories WHERE id = $1").bind(story_id)
}

pub fn state_from(r: &QueryResult) -> Result<Option<LinkState>, NeonError> {
    r.first()
        .map(|row| {
            let album = Album {
                title: row.get("title")?,
                author: row.get("author")?,
                num_chapters: row.get::<i32>("num_chapters")? as u32,
                cover: super::stories::cover_from(&row)?,
            };
            Ok(LinkState { album, generation: row.get("link_generation")? })
        })
        .transpose()
}

/// Ends every link of `owner`'s story signed so far (no row changes for another user's story).
pub fn revoke(owner: &Owner, story_id: &str) -> Query {
    Query::new(format!("UPDATE stories SET link_generation = link_generation + 1 WHERE id = $1 AND user_id = {}", owner.sql(2)))
        .bind(story_id)
        .bind(owner.value())
}

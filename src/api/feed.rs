//! The story's podcast feed behind its signed link: RSS (`core::feed`) whose enclosures are
//! the chapters' signed links, with the feed link's own expiry and generation, so revoking or
//! expiring the feed ends its episodes too.

use super::{links, ApiError};
use crate::core::feed::{rss, Item};
use crate::core::links::{Resource, Signer, Verified};
use crate::db::audio::ChapterAudio;
use crate::db::links::LinkState;
use worker::{Request, Response};

pub fn serve(req: &Request, signer: &Signer, story_id: &str, state: &LinkState, chapters: &[ChapterAudio], v: Verified) -> Result<Response, ApiError> {
    let origin = links::origin(req)?;
    let url = |r: Resource| format!("{origin}{}", signer.sign(story_id, r, v.expires_at, v.generation));
    let items: Vec<Item> = chapters
        .iter()
        .map(|c| Item {
            number: c.number,
            title: c.title.clone().unwrap_or_else(|| format!("Chapter {}", c.number)),
            url: url(Resource::Chapter(c.number)),
            bytes: c.bytes,
        })
        .collect();
    let xml = rss(&state.title, story_id, &url(Resource::Feed), &items);
    let resp = Response::ok(xml)?;
    resp.headers().set("Content-Type", "application/rss+xml; charset=utf-8")?;
    resp.headers().set("Cache-Control", "private, max-age=300")?;
    Ok(resp)
}

//! The story's podcast feed behind its signed link: RSS (`core::feed`) whose enclosures are
//! the chapters' signed links and whose image is the cover's, with the feed link's own expiry
//! and generation, so revoking or expiring the feed ends its episodes too. Each enclosure's
//! length is what its link serves, tag included, worked out from the rows alone.

use super::{download, links, ApiError};
use crate::core::book_meta::chapter_title;
use crate::core::feed::{rss, Channel, Item};
use crate::core::links::{Resource, Signer, Verified};
use crate::db::audio::ChapterAudio;
use crate::db::links::LinkState;
use worker::{Request, Response};

pub fn serve(req: &Request, signer: &Signer, story_id: &str, state: &LinkState, chapters: &[ChapterAudio], v: Verified) -> Result<Response, ApiError> {
    let origin = links::origin(req)?;
    let url = |r: Resource| format!("{origin}{}", signer.sign(story_id, r, v.expires_at, v.generation));
    let album = &state.album;
    let items: Vec<Item> = chapters
        .iter()
        .map(|c| Item {
            number: c.number,
            title: chapter_title(c.number, c.title.as_deref()),
            url: url(Resource::Chapter(c.number)),
            bytes: download::chapter_len(album, c),
            duration_secs: download::chapter_secs(c),
        })
        .collect();
    let (link, image) = (url(Resource::Feed), album.cover.as_ref().map(|_| url(Resource::Cover)));
    let channel = Channel { story_id, title: &album.title, author: album.author.as_deref(), link: &link, image: image.as_deref() };
    let resp = Response::ok(rss(&channel, &items))?;
    resp.headers().set("Content-Type", "application/rss+xml; charset=utf-8")?;
    resp.headers().set("Cache-Control", "private, max-age=300")?;
    Ok(resp)
}

//! GET and HEAD of a signed link (`/l/...` and the feed, see `core::links`): no
//! `Authorization`; the signature, its expiry and the story's link generation decide. A forged
//! or expired link is refused before any query; a good one costs one round trip (the story's
//! link state and book metadata, and the resource's rows, in one transaction). The bytes are
//! served by the same code as the authenticated routes, so the headers are the same.

use super::{links, path_id, query_pairs, ApiError, Ctx};
use crate::core::links::{LinkError, Resource};
use crate::db::{audio as audio_db, links as links_db};
use worker::{Request, Response};

pub async fn get(req: &Request, ctx: &Ctx, segments: &[&str]) -> Result<Response, ApiError> {
    let (story, resource) = Resource::from_segments(segments).ok_or_else(|| ApiError::not_found("no such link"))?;
    open(req, ctx, story, resource).await
}

/// `GET /api/v1/stories/{id}/feed.xml?exp&gen&sig`.
pub async fn feed(req: &Request, ctx: &Ctx, id: &str) -> Result<Response, ApiError> {
    open(req, ctx, id, Resource::Feed).await
}

async fn open(req: &Request, ctx: &Ctx, story: &str, resource: Resource) -> Result<Response, ApiError> {
    let story_id = path_id(story, "link")?;
    let signer = links::signer(ctx)?;
    let verified = signer.verify(&story_id, resource, &query_pairs(req)?, links::now_secs()).map_err(refused)?;
    let mut batch = vec![links_db::state(&story_id)];
    match resource {
        Resource::Chapter(n) => batch.push(audio_db::of_chapter(&story_id, n)),
        Resource::Book | Resource::Feed => batch.push(audio_db::with_audio(&story_id)),
        Resource::Cover => {}
    }
    let results = ctx.db()?.transaction(&batch, None).await?;
    // A deleted story: the link was good, what it named is gone.
    let state = links_db::state_from(&results[0])?.ok_or_else(|| ApiError::not_found("no such story"))?;
    verified.current(state.generation).map_err(refused)?;
    match resource {
        Resource::Chapter(_) => {
            let audio = audio_db::chapter_audio_from(&results[1])?.ok_or_else(|| ApiError::not_found("this chapter has no audio yet"))?;
            super::download::serve_chapter(req, ctx, &story_id, &state.album, &audio).await
        }
        Resource::Book => super::download::serve_book(ctx, &story_id, &state.album, audio_db::with_audio_from(&results[1])?),
        Resource::Feed => super::feed::serve(req, &signer, &story_id, &state, &audio_db::with_audio_from(&results[1])?, verified),
        Resource::Cover => super::cover::serve(ctx, &story_id, state.album.cover.as_ref()).await,
    }
}

fn refused(e: LinkError) -> ApiError {
    ApiError::forbidden(e.message())
}

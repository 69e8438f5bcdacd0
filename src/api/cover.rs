//! A story's cover: `PUT` (JPEG or PNG, checked by its bytes, `core::book_meta::cover`), `GET`
//! and `DELETE` of `/api/v1/stories/{id}/cover`. The bytes go to R2 under the story's prefix,
//! named by their hash; the row records type, size and hash, which is all a download's tag
//! needs until it streams the picture.

use super::{auth, body, json_response, ApiError, Ctx};
use crate::core::book_meta::cover::{Cover, CoverError, ImageType, MAX_COVER_BYTES};
use crate::core::book_meta::{cover_key, CoverFacts};
use crate::core::validate::{BodyError, FieldError};
use crate::db::{stories, Owner};
use serde_json::json;
use worker::{HttpMetadata, Request, Response};

/// Everything is checked before the story is looked up, and the object is written only once
/// the story is known to be the caller's: a refused upload changes nothing. Two round trips:
/// the lookup, then the row's update after the object is in place (a row never names an
/// object that is not there).
pub async fn put(req: &mut Request, ctx: &Ctx, id: &str) -> Result<Response, ApiError> {
    auth::caller(req)?;
    let kind = ImageType::from_content_type(req.headers().get("Content-Type")?.as_deref()).ok_or_else(|| refused(CoverError::UnsupportedType))?;
    let bytes = body::raw(req, MAX_COVER_BYTES).await?;
    let cover = Cover::parse(kind, bytes).map_err(refused)?;
    let o = super::stories::owned(req, ctx, id, |_, _| vec![]).await?;
    let bucket = ctx.env.bucket(crate::platform::AUDIO_BUCKET)?;
    let key = cover_key(&o.story.id, &cover.sha256);
    let len = cover.bytes.len() as u64;
    bucket
        .put(&key, cover.bytes)
        .http_metadata(HttpMetadata { content_type: Some(kind.mime().into()), ..Default::default() })
        .execute()
        .await?;
    let r = o.db.query(&stories::set_cover(&Owner::Id(o.user.id.clone()), &o.story.id, kind.mime(), len, &cover.sha256)).await?;
    let story = stories::from_result(&r)?.ok_or_else(|| ApiError::not_found("no such story"))?;
    if let Some(old) = o.story.cover.filter(|c| c.sha256 != cover.sha256) {
        forget(ctx, &o.story.id, &old.sha256).await;
    }
    json_response(200, &story)
}

pub async fn get(req: &Request, ctx: &Ctx, id: &str) -> Result<Response, ApiError> {
    let o = super::stories::owned(req, ctx, id, |_, _| vec![]).await?;
    serve(ctx, &o.story.id, o.story.cover.as_ref()).await
}

/// One round trip: the update reads the hash the row had, so the object can go after it.
pub async fn delete(req: &Request, ctx: &Ctx, id: &str) -> Result<Response, ApiError> {
    let caller = auth::caller(req)?;
    let id = super::path_id(id, "story")?;
    let (_, results) = auth::batch(&ctx.db()?, &caller, vec![stories::clear_cover(&caller.owner(), &id)]).await?;
    let old = stories::cleared_from(&results[0])?.ok_or_else(|| ApiError::not_found("no such story"))?;
    if let Some(sha) = old {
        forget(ctx, &id, &sha).await;
    }
    Ok(Response::empty()?.with_status(204))
}

/// The image, for its owner or a signed link: one R2 read.
pub async fn serve(ctx: &Ctx, story_id: &str, cover: Option<&CoverFacts>) -> Result<Response, ApiError> {
    let none = || ApiError::not_found("this story has no cover");
    let cover = cover.ok_or_else(none)?;
    let bucket = ctx.env.bucket(crate::platform::AUDIO_BUCKET)?;
    let obj = bucket.get(cover_key(story_id, &cover.sha256)).execute().await?.ok_or_else(none)?;
    let len = obj.size();
    let body = obj.body().ok_or_else(ApiError::internal)?.response_body()?;
    let resp = Response::from_body(body)?;
    let h = resp.headers();
    h.set("Content-Type", &cover.content_type)?;
    h.set("Content-Length", &len.to_string())?;
    h.set("ETag", &format!("\"{}\"", &cover.sha256[..cover.sha256.len().min(32)]))?;
    h.set("Cache-Control", "private, max-age=300")?;
    Ok(resp)
}

/// A replaced or removed cover's object. A failure leaves an unnamed object under the story's
/// prefix, which deleting the story still removes: logged, not an error for the caller.
async fn forget(ctx: &Ctx, story_id: &str, sha256: &str) {
    let key = cover_key(story_id, sha256);
    let gone = match ctx.env.bucket(crate::platform::AUDIO_BUCKET) {
        Ok(b) => b.delete(&key).await,
        Err(e) => Err(e),
    };
    if let Err(e) = gone {
        crate::log::warn("cover_delete_failed", json!({ "key": key, "reason": e.to_string() }));
    }
}

fn refused(e: CoverError) -> ApiError {
    let message = e.message();
    match e {
        CoverError::UnsupportedType => BodyError::UnsupportedMediaType(message),
        CoverError::TooLarge => BodyError::TooLarge { limit: MAX_COVER_BYTES },
        CoverError::NotAnImage(_) => BodyError::Invalid(FieldError::new("body", message)),
    }
    .into()
}

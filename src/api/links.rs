//! `POST /stories/{id}/links`: signed, expiring URLs for the book, each chapter with audio,
//! the cover and the feed (see `core::links` for their form); `POST /stories/{id}/links/revoke` ends every
//! link of the story made so far. Each is one round trip with the key lookup.

use super::{auth, body, json_response, ApiError, Ctx};
use crate::core::domain::LinkRequest;
use crate::core::links::{Resource, Signer};
use crate::db::{audio as audio_db, links as links_db};
use serde_json::json;
use worker::{Request, Response};

pub async fn create(req: &mut Request, ctx: &Ctx, id: &str) -> Result<Response, ApiError> {
    auth::caller(req)?;
    let r = LinkRequest::parse(body::json(req, ctx).await?)?;
    let signer = signer(ctx)?;
    let o = super::stories::owned(req, ctx, id, |id, _| vec![links_db::state(id), audio_db::with_audio(id)]).await?;
    let state = links_db::state_from(&o.results[0])?.ok_or_else(ApiError::internal)?;
    let chapters = audio_db::with_audio_from(&o.results[1])?;
    let expires_at = now_secs() + r.ttl_secs;
    let origin = origin(req)?;
    let url = |r: Resource| format!("{origin}{}", signer.sign(&o.story.id, r, expires_at, state.generation));
    let resp = json_response(
        200,
        &json!({
            "expires_at": rfc3339(expires_at),
            "book": (!chapters.is_empty()).then(|| url(Resource::Book)),
            "chapters": chapters.iter().map(|c| json!({ "number": c.number, "url": url(Resource::Chapter(c.number)) })).collect::<Vec<_>>(),
            "feed": url(Resource::Feed),
            "cover": o.story.cover.is_some().then(|| url(Resource::Cover)),
        }),
    )?;
    // The URLs open the audio to whoever holds them: no cache keeps a copy.
    resp.headers().set("Cache-Control", "no-store")?;
    Ok(resp)
}

pub async fn revoke(req: &Request, ctx: &Ctx, id: &str) -> Result<Response, ApiError> {
    super::stories::owned(req, ctx, id, |id, owner| vec![links_db::revoke(owner, id)]).await?;
    Ok(Response::empty()?.with_status(204))
}

/// 503 while the secret is missing or too short: the links cannot be signed or checked.
pub fn signer(ctx: &Ctx) -> Result<Signer, ApiError> {
    crate::settings::link_signer(&ctx.env).map_err(|m| {
        crate::log::error("settings_missing", json!({ "reason": m }));
        ApiError::unavailable("signed links are not configured yet", 60)
    })
}

pub fn now_secs() -> i64 {
    (worker::Date::now().as_millis() / 1000) as i64
}

/// Links point back at the host the request came to (`https://talecast.example`, or the
/// local `http://127.0.0.1:8787`).
pub fn origin(req: &Request) -> Result<String, ApiError> {
    Ok(req.url()?.origin().ascii_serialization())
}

fn rfc3339(unix_secs: i64) -> String {
    chrono::DateTime::from_timestamp(unix_secs, 0).unwrap_or_default().to_rfc3339_opts(chrono::SecondsFormat::Secs, true)
}

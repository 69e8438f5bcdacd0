//! Stories and their chapters: create, list (newest first, by cursor), read, rename, delete.

use super::{auth, body, json_response, path_id, query_pairs, ApiError, Ctx};
use crate::core::domain::{Cursor, NewStory, PageRequest, StoryPatch};
use crate::db::users::User;
use crate::db::{chapters, stories, Db};
use crate::platform::new_id;
use serde_json::{json, Value};
use worker::{Request, Response};

/// The caller's story named in the path, or 404 (also for another user's story).
pub async fn owned(req: &Request, ctx: &Ctx, id: &str) -> Result<(Db, User, stories::Story), ApiError> {
    let user = auth::user(req, ctx).await?;
    let id = path_id(id, "story")?;
    let db = ctx.db()?;
    let story = stories::get(&db, &user.id, &id).await?.ok_or_else(|| ApiError::not_found("no such story"))?;
    Ok((db, user, story))
}

pub async fn create(req: &mut Request, ctx: &Ctx) -> Result<Response, ApiError> {
    let user = auth::user(req, ctx).await?;
    let new = NewStory::parse(body::json(req, ctx).await?)?;
    let story = stories::create(&ctx.db()?, &user.id, &new_id(), &new).await?;
    json_response(201, &story)
}

pub async fn list(req: &Request, ctx: &Ctx) -> Result<Response, ApiError> {
    let user = auth::user(req, ctx).await?;
    let page = PageRequest::from_query(&query_pairs(req)?)?;
    let after = page.cursor.map(|c| (c.created_at, c.id));
    // One more than asked tells whether a next page exists.
    let mut rows = stories::list(&ctx.db()?, &user.id, page.limit + 1, after).await?;
    let more = rows.len() > page.limit as usize;
    rows.truncate(page.limit as usize);
    let next_cursor = match (more, rows.last()) {
        (true, Some(last)) => Some(Cursor { created_at: last.created_at_exact, id: last.id.clone() }.encode()),
        _ => None,
    };
    json_response(200, &json!({ "stories": rows, "next_cursor": next_cursor }))
}

pub async fn get(req: &Request, ctx: &Ctx, id: &str) -> Result<Response, ApiError> {
    let (db, _, story) = owned(req, ctx, id).await?;
    let id = story.id.clone();
    let mut v = serde_json::to_value(&story).map_err(|_| ApiError::internal())?;
    v["chapters"] = serde_json::to_value(chapters::summaries(&db, &id).await?).map_err(|_| ApiError::internal())?;
    json_response(200, &v)
}

pub async fn patch(req: &mut Request, ctx: &Ctx, id: &str) -> Result<Response, ApiError> {
    let user = auth::user(req, ctx).await?;
    let id = path_id(id, "story")?;
    let p = StoryPatch::parse(body::json(req, ctx).await?)?;
    let story = stories::update_title(&ctx.db()?, &user.id, &id, &p.title).await?.ok_or_else(|| ApiError::not_found("no such story"))?;
    json_response(200, &story)
}

pub async fn delete(req: &Request, ctx: &Ctx, id: &str) -> Result<Response, ApiError> {
    let user = auth::user(req, ctx).await?;
    let id = path_id(id, "story")?;
    match stories::delete(&ctx.db()?, &user.id, &id).await? {
        stories::Deleted::NotFound => Err(ApiError::not_found("no such story")),
        stories::Deleted::Busy => Err(ApiError::conflict("a job of this story is queued or running; cancel it first")),
        stories::Deleted::Yes => {
            remove_audio(ctx, &id).await?;
            Ok(Response::empty()?.with_status(204))
        }
    }
}

/// Everything the story has in R2 lives under `stories/{id}/`.
async fn remove_audio(ctx: &Ctx, story_id: &str) -> Result<(), ApiError> {
    let bucket = ctx.env.bucket(crate::platform::AUDIO_BUCKET)?;
    loop {
        let page = bucket.list().prefix(format!("stories/{story_id}/")).execute().await?;
        let keys: Vec<String> = page.objects().iter().map(|o| o.key()).collect();
        if keys.is_empty() {
            return Ok(());
        }
        bucket.delete_multiple(keys).await?;
    }
}

pub async fn chapter(req: &Request, ctx: &Ctx, id: &str, n: &str) -> Result<Response, ApiError> {
    let (db, _, story) = owned(req, ctx, id).await?;
    let id = story.id.clone();
    let number: u32 = n.parse().ok().filter(|n| (1..=story.num_chapters).contains(n)).ok_or_else(|| ApiError::not_found("no such chapter"))?;
    let detail = chapters::detail(&db, &id, number).await?.ok_or_else(|| ApiError::not_found("no such chapter"))?;
    let mut v: Value = detail.to_json();
    v["story_id"] = json!(id);
    json_response(200, &v)
}

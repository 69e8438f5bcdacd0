//! Stories and their chapters: create, list (newest first, by cursor), read, rename, delete.
//! Each route's statements carry the caller's key lookup (`auth::batch`): one round trip,
//! two for a delete.

use super::auth;
use super::{body, json_response, json_tagged, path_id, query_pairs, ApiError, Ctx};
use crate::core::domain::{Cursor, NewStory, PageRequest, StoryPatch};
use crate::core::neon::{Query, QueryResult};
use crate::db::users::User;
use crate::db::{chapters, stories, Db, Owner};
use crate::platform::new_id;
use serde_json::{json, Value};
use worker::{Request, Response};

/// What a story route knows after its one round trip: the caller, their story named in the
/// path (404 for anyone else's, so ids cannot be probed), and the results of `more`,
/// statements about that story that travelled with the lookup.
pub struct Owned {
    pub db: Db,
    pub user: User,
    pub story: stories::Story,
    pub results: Vec<QueryResult>,
}

/// `more` gets the story id and the caller (as `Owner`, for statements about the user).
pub async fn owned(req: &Request, ctx: &Ctx, id: &str, more: impl FnOnce(&str, &Owner) -> Vec<Query>) -> Result<Owned, ApiError> {
    let caller = auth::caller(req)?;
    let id = path_id(id, "story")?;
    let db = ctx.db()?;
    let mut batch = vec![stories::get(&caller.owner(), &id)];
    batch.extend(more(&id, &caller.owner()));
    let (user, mut results) = auth::batch(&db, &caller, batch).await?;
    let first = results.remove(0);
    let story = stories::from_result(&first)?.ok_or_else(|| ApiError::not_found("no such story"))?;
    Ok(Owned { db, user, story, results })
}

pub async fn create(req: &mut Request, ctx: &Ctx) -> Result<Response, ApiError> {
    let caller = auth::caller(req)?;
    let new = NewStory::parse(body::json(req, ctx).await?)?;
    let (_, results) = auth::batch(&ctx.db()?, &caller, stories::create(&caller.owner(), &new_id(), &new)).await?;
    let story = stories::from_result(&results[0])?.ok_or_else(ApiError::internal)?;
    json_response(201, &story)
}

pub async fn list(req: &Request, ctx: &Ctx) -> Result<Response, ApiError> {
    let caller = auth::caller(req)?;
    let page = PageRequest::from_query(&query_pairs(req)?)?;
    let after = page.cursor.map(|c| (c.created_at, c.id));
    // One more than asked tells whether a next page exists.
    let (_, results) = auth::batch(&ctx.db()?, &caller, vec![stories::list(&caller.owner(), page.limit + 1, after)]).await?;
    let mut rows = stories::list_from(&results[0])?;
    let more = rows.len() > page.limit as usize;
    rows.truncate(page.limit as usize);
    let next_cursor = match (more, rows.last()) {
        (true, Some(last)) => Some(Cursor { created_at: last.created_at_exact, id: last.id.clone() }.encode()),
        _ => None,
    };
    json_response(200, &json!({ "stories": rows, "next_cursor": next_cursor }))
}

pub async fn get(req: &Request, ctx: &Ctx, id: &str) -> Result<Response, ApiError> {
    let o = owned(req, ctx, id, |id, _| vec![chapters::summaries(id)]).await?;
    let mut v = serde_json::to_value(&o.story).map_err(|_| ApiError::internal())?;
    v["chapters"] = serde_json::to_value(chapters::summaries_from(&o.results[0])?).map_err(|_| ApiError::internal())?;
    json_tagged(req, &v)
}

pub async fn patch(req: &mut Request, ctx: &Ctx, id: &str) -> Result<Response, ApiError> {
    let caller = auth::caller(req)?;
    let id = path_id(id, "story")?;
    let p = StoryPatch::parse(body::json(req, ctx).await?)?;
    let (_, results) = auth::batch(&ctx.db()?, &caller, vec![stories::update(&caller.owner(), &id, &p)]).await?;
    let story = stories::from_result(&results[0])?.ok_or_else(|| ApiError::not_found("no such story"))?;
    json_response(200, &story)
}

/// The audio goes first and the rows last: a delete that fails midway leaves the story in
/// place (still listed, so the caller sees it and retries), never R2 objects that no row
/// names. A job started between the check and the row delete makes the delete answer 409
/// (the audio already removed is remade by a later audio job from the scripts).
pub async fn delete(req: &Request, ctx: &Ctx, id: &str) -> Result<Response, ApiError> {
    let caller = auth::caller(req)?;
    let id = path_id(id, "story")?;
    let db = ctx.db()?;
    let (user, results) = auth::batch(&db, &caller, vec![stories::deletable(&caller.owner(), &id)]).await?;
    match stories::deletable_from(&results[0])? {
        stories::Deleted::NotFound => return Err(ApiError::not_found("no such story")),
        stories::Deleted::Busy => return Err(busy()),
        stories::Deleted::Yes => {}
    }
    remove_audio(ctx, &id).await?;
    let gone = db.query(&stories::delete(&Owner::Id(user.id), &id)).await?;
    match stories::deleted_from(&gone)? {
        stories::Deleted::Busy => Err(busy()),
        // NotFound here: a concurrent delete of the same story finished first.
        _ => Ok(Response::empty()?.with_status(204)),
    }
}

fn busy() -> ApiError {
    ApiError::conflict("a job of this story is queued or running; cancel it first")
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
    let number = super::chapter_number(n)?;
    let o = owned(req, ctx, id, |id, _| vec![chapters::detail(id, number)]).await?;
    let detail = chapters::detail_from(&o.results[0])?.ok_or_else(|| ApiError::not_found("no such chapter"))?;
    let mut v: Value = detail.to_json();
    v["story_id"] = json!(o.story.id);
    json_tagged(req, &v)
}

//! Request bodies: size, content type and JSON are checked here, before a domain type
//! validates the fields.

use super::{ApiError, Ctx};
use crate::core::validate::{parse_json_body, BodyError};
use futures::StreamExt;
use serde_json::Value;
use worker::Request;

pub async fn json(req: &mut Request, ctx: &Ctx) -> Result<Value, ApiError> {
    let limit = ctx.api.max_body_bytes;
    let content_type = req.headers().get("Content-Type").ok().flatten();
    let bytes = capped(req, limit).await?;
    Ok(parse_json_body(content_type.as_deref(), &bytes, limit)?)
}

/// A body that is not JSON (a cover image), capped at `limit` like every body.
pub async fn raw(req: &mut Request, limit: usize) -> Result<Vec<u8>, ApiError> {
    capped(req, limit).await
}

/// The body, read chunk by chunk and refused (413) as soon as it passes `limit`: a chunked
/// body declares no length, and reading it whole first would let any caller fill the
/// isolate's memory. A declared length over the limit is refused before anything is read.
async fn capped(req: &mut Request, limit: usize) -> Result<Vec<u8>, ApiError> {
    let declared = req.headers().get("Content-Length").ok().flatten().and_then(|l| l.parse::<usize>().ok());
    if declared.is_some_and(|l| l > limit) {
        return Err(BodyError::TooLarge { limit }.into());
    }
    if req.inner().body().is_none() {
        return Ok(Vec::new());
    }
    let mut stream = req.stream()?;
    let mut body = Vec::with_capacity(declared.unwrap_or(0));
    while let Some(chunk) = stream.next().await {
        let chunk = chunk?;
        if body.len() + chunk.len() > limit {
            return Err(BodyError::TooLarge { limit }.into());
        }
        body.extend_from_slice(&chunk);
    }
    Ok(body)
}

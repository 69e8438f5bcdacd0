//! Request bodies: size, content type and JSON are checked here, before a domain type
//! validates the fields.

use super::{ApiError, Ctx};
use crate::core::validate::parse_json_body;
use serde_json::Value;
use worker::Request;

pub async fn json(req: &mut Request, ctx: &Ctx) -> Result<Value, ApiError> {
    let limit = ctx.api.max_body_bytes;
    // A declared length over the limit is refused before the body is read.
    let declared = req.headers().get("Content-Length").ok().flatten().and_then(|l| l.parse::<usize>().ok());
    if declared.is_some_and(|l| l > limit) {
        return Err(crate::core::validate::BodyError::TooLarge { limit }.into());
    }
    let content_type = req.headers().get("Content-Type").ok().flatten();
    let bytes = req.bytes().await?;
    Ok(parse_json_body(content_type.as_deref(), &bytes, limit)?)
}

//! HTTP semantics the API implements over stored things: byte ranges and entity tags.
pub mod etag;
pub mod range;

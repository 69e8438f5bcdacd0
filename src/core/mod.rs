//! The part of talecast that knows nothing of Workers: it compiles and tests natively.
pub mod api_key;
pub mod cost;
pub mod domain;
pub mod health;
pub mod ids;
pub mod llm;
pub mod messages;
pub mod neon;
pub mod script;
pub mod task;
pub mod validate;

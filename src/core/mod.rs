//! The part of talecast that knows nothing of Workers: it compiles and tests natively.
pub mod api_key;
pub mod cost;
pub mod domain;
pub mod health;
pub mod http;
pub mod id3;
pub mod ids;
pub mod llm;
pub mod messages;
pub mod mp3;
pub mod neon;
pub mod provider_text;
pub mod script;
pub mod task;
pub mod tts;
pub mod validate;
pub mod voices;

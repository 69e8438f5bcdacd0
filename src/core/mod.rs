//! The part of talecast that knows nothing of Workers: it compiles and tests natively.
pub mod health;
pub mod ids;
pub mod messages;
pub mod neon;

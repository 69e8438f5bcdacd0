//! End-to-end tests against the whole local stack; one file per feature.
mod helpers;

mod access;
mod audio;
mod bench;
mod drills;
mod health;
mod idle;
mod queue;
mod routing;
mod stories;
mod support;

mod claims_audio;
mod claims_ops;
mod claims_stories;

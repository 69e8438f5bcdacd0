//! End-to-end tests against the whole local stack; one file per feature.
mod contract;
mod helpers;

mod access;
mod audio;
mod bench;
mod bodies;
mod book_meta;
mod browser;
mod budgets;
mod conditional;
mod drills;
mod editing;
mod fuzz;
mod health;
mod idle;
mod links;
mod local_security;
mod queue;
mod quickstart;
mod rate_limits;
mod round_trips;
mod routing;
mod secrets;
mod stories;
mod support;

mod claims_audio;
mod claims_ops;
mod claims_stories;

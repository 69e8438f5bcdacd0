//! talecast: prompt → multi-chapter story → multi-voice audiobook, on Cloudflare Workers.
//!
//! `core` has no Worker types and is tested natively with `cargo test`; everything else adapts
//! the platform bindings to it and exists only in the wasm32 build. The `#[event]` entry points
//! below only hand over to the module that owns the work.

pub mod core;

#[cfg(target_arch = "wasm32")]
mod active_tasks;
#[cfg(target_arch = "wasm32")]
mod api;
#[cfg(target_arch = "wasm32")]
mod db;
#[cfg(target_arch = "wasm32")]
mod jobs;
#[cfg(target_arch = "wasm32")]
mod log;
#[cfg(target_arch = "wasm32")]
mod platform;
#[cfg(target_arch = "wasm32")]
mod progress;
#[cfg(target_arch = "wasm32")]
mod providers;
#[cfg(target_arch = "wasm32")]
mod settings;

#[cfg(target_arch = "wasm32")]
mod entry {
    use worker::*;

    #[event(start)]
    fn start() {
        console_error_panic_hook::set_once();
    }

    #[event(fetch)]
    async fn fetch(req: Request, env: Env, ctx: Context) -> Result<Response> {
        crate::api::handle(req, env, ctx).await
    }

    #[event(queue)]
    async fn queue(batch: MessageBatch<serde_json::Value>, env: Env, _ctx: Context) -> Result<()> {
        crate::jobs::consume(batch, env).await
    }

    #[event(scheduled)]
    async fn scheduled(event: ScheduledEvent, env: Env, _ctx: ScheduleContext) {
        crate::jobs::sweeper::run(event.cron(), env).await
    }
}

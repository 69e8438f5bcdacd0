//! Binding names shared by wrangler.toml and the code, and the few platform helpers that
//! several modules need.

pub const JOBS_QUEUE: &str = "JOBS";
pub const AUDIO_BUCKET: &str = "AUDIO";
pub const PROGRESS_DO: &str = "TASK_PROGRESS";
pub const ACTIVE_TASKS_DO: &str = "ACTIVE_TASKS";

/// 16 bytes from the platform's CSPRNG (Web Crypto in workerd).
pub fn random_bytes() -> [u8; 16] {
    let mut b = [0u8; 16];
    getrandom::fill(&mut b).expect("Web Crypto getRandomValues is available in workerd");
    b
}

pub fn new_id() -> String {
    crate::core::ids::uuid_v4(random_bytes())
}

use std::cell::Cell;
use std::rc::Rc;
use std::time::Duration;
use worker::{AbortController, Delay, Fetch, Request};

/// Counts what the platform counts as subrequests (fetch, R2, Durable Object and queue calls),
/// capped per invocation: every call a job step makes goes through one of these, and the step
/// logs the total. Cloned handles share the count (one isolate runs one invocation's futures
/// on one thread, so a `Cell` is enough).
#[derive(Clone, Default)]
pub struct Subrequests(Rc<Cell<u32>>);

impl Subrequests {
    pub fn add(&self, n: u32) {
        self.0.set(self.0.get() + n);
    }
    pub fn get(&self) -> u32 {
        self.0.get()
    }
}

pub enum FetchFailure {
    /// No whole answer within the timeout; the request was aborted.
    TimedOut,
    Failed(String),
}

/// An answer read whole: status, `Retry-After`, body.
pub struct Fetched {
    pub status: u16,
    pub retry_after: Option<String>,
    pub body: Vec<u8>,
}

/// Sends `req` and reads its whole body within `timeout`, else aborts it. Dropping a fetch
/// future does not cancel the request in workerd: the connection stays open and a paid
/// provider keeps working (and billing), so the abort signal is what ends it.
pub async fn fetch_within(req: Request, timeout: Duration, counter: &Subrequests) -> Result<Fetched, FetchFailure> {
    use futures::future::{select, Either};
    counter.add(1);
    let controller = AbortController::default();
    let signal = controller.signal();
    let call = Box::pin(async move {
        let mut resp = Fetch::Request(req).send_with_signal(&signal).await.map_err(|e| FetchFailure::Failed(e.to_string()))?;
        let status = resp.status_code();
        let retry_after = resp.headers().get("Retry-After").ok().flatten();
        let body = resp.bytes().await.map_err(|e| FetchFailure::Failed(format!("answer cut off: {e}")))?;
        Ok(Fetched { status, retry_after, body })
    });
    match select(call, Delay::from(timeout)).await {
        Either::Left((result, _)) => result,
        Either::Right((_, call)) => {
            controller.abort();
            drop(call);
            Err(FetchFailure::TimedOut)
        }
    }
}

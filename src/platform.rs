//! Binding names shared by wrangler.toml and the code, and the few platform helpers that
//! several modules need.

pub const JOBS_QUEUE: &str = "JOBS";
pub const AUDIO_BUCKET: &str = "AUDIO";
pub const PROGRESS_DO: &str = "TASK_PROGRESS";

/// 16 bytes from the platform's CSPRNG (Web Crypto in workerd).
pub fn random_bytes() -> [u8; 16] {
    let mut b = [0u8; 16];
    getrandom::fill(&mut b).expect("Web Crypto getRandomValues is available in workerd");
    b
}

pub fn new_id() -> String {
    crate::core::ids::uuid_v4(random_bytes())
}

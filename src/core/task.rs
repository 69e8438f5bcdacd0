//! Tasks (jobs) as the API shows them, and the story job's rules: which step a chapter needs
//! next, how far along a task is, and how statuses move. Pure, so the rules are tested here
//! and the Worker only reads and writes rows.

use serde::{Deserialize, Serialize};
use serde_json::Value;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum TaskStatus {
    Queued,
    Running,
    Completed,
    Failed,
    Cancelled,
}

impl TaskStatus {
    pub fn is_terminal(self) -> bool {
        matches!(self, TaskStatus::Completed | TaskStatus::Failed | TaskStatus::Cancelled)
    }
    pub fn as_str(self) -> &'static str {
        match self {
            TaskStatus::Queued => "queued",
            TaskStatus::Running => "running",
            TaskStatus::Completed => "completed",
            TaskStatus::Failed => "failed",
            TaskStatus::Cancelled => "cancelled",
        }
    }
    pub fn parse(s: &str) -> Option<Self> {
        serde_json::from_value(Value::String(s.to_string())).ok()
    }
}

/// `{"code", "message"}`, the shape of task and chapter errors.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ErrorInfo {
    pub code: String,
    pub message: String,
}

impl ErrorInfo {
    pub fn new(code: impl Into<String>, message: impl Into<String>) -> Self {
        ErrorInfo { code: code.into(), message: message.into() }
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TaskChapter {
    pub number: u32,
    pub status: String,
}

/// The task document: what `GET /tasks/{id}` returns and what `/events` streams.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TaskView {
    pub id: String,
    pub kind: String,
    pub story_id: String,
    pub status: TaskStatus,
    pub progress: u8,
    pub message: String,
    pub chapters: Vec<TaskChapter>,
    pub result: Option<Value>,
    pub error: Option<ErrorInfo>,
    pub created_at: String,
    pub updated_at: String,
}

impl TaskView {
    /// Folds a newer view into the stored one, keeping the contract's promises: progress never
    /// decreases, and a terminal task does not change again.
    pub fn merge(stored: Option<&TaskView>, mut next: TaskView) -> TaskView {
        if let Some(old) = stored {
            if old.status.is_terminal() {
                return old.clone();
            }
            next.progress = next.progress.max(old.progress);
            next.created_at = old.created_at.clone();
        }
        if next.status == TaskStatus::Completed {
            next.progress = 100;
        }
        next
    }
}

/// What the story job knows about one chapter when it decides what to do next.
#[derive(Debug, Clone, Default)]
pub struct ChapterWork {
    pub number: u32,
    pub has_script: bool,
    pub has_enhanced: bool,
    pub has_summary: bool,
    /// The task that wrote the current script.
    pub script_task: Option<String>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StoryStep {
    Script,
    Enhance,
    Summary,
    Done,
}

impl StoryStep {
    /// The chapter status while the step runs.
    pub fn working_status(self) -> Option<&'static str> {
        match self {
            StoryStep::Script => Some("generating_script"),
            StoryStep::Enhance => Some("enhancing"),
            StoryStep::Summary | StoryStep::Done => None,
        }
    }
    pub fn describe(self) -> &'static str {
        match self {
            StoryStep::Script => "writing the script",
            StoryStep::Enhance => "improving the script",
            StoryStep::Summary => "summarising",
            StoryStep::Done => "done",
        }
    }
}

/// How one task treats its chapters: work already stored is reused, unless the task
/// regenerates and did not write that work itself.
#[derive(Debug, Clone)]
pub struct StoryPlan<'a> {
    pub task_id: &'a str,
    pub enhance: bool,
    pub regenerate: bool,
}

impl StoryPlan<'_> {
    fn fresh(&self, ch: &ChapterWork) -> bool {
        self.regenerate && ch.script_task.as_deref() != Some(self.task_id)
    }

    pub fn next_step(&self, ch: &ChapterWork) -> StoryStep {
        if self.fresh(ch) || !ch.has_script {
            StoryStep::Script
        } else if self.enhance && !ch.has_enhanced {
            StoryStep::Enhance
        } else if !ch.has_summary {
            StoryStep::Summary
        } else {
            StoryStep::Done
        }
    }

    pub fn steps_per_chapter(&self) -> u32 {
        if self.enhance { 3 } else { 2 }
    }

    fn steps_done(&self, ch: &ChapterWork) -> u32 {
        if self.fresh(ch) || !ch.has_script {
            return 0;
        }
        1 + u32::from(self.enhance && ch.has_enhanced) + u32::from(ch.has_summary)
    }

    /// Whole percent of the task's steps that are done; 100 only once every step is.
    pub fn progress(&self, chapters: &[ChapterWork]) -> u8 {
        let total = self.steps_per_chapter() * chapters.len() as u32;
        if total == 0 {
            return 100;
        }
        let done: u32 = chapters.iter().map(|c| self.steps_done(c)).sum();
        ((done * 100) / total) as u8
    }

    /// The first chapter, in the task's order, that still needs a step.
    pub fn next_chapter<'c>(&self, chapters: &'c [ChapterWork]) -> Option<(&'c ChapterWork, StoryStep)> {
        chapters.iter().map(|c| (c, self.next_step(c))).find(|(_, s)| *s != StoryStep::Done)
    }
}

/// Chapters a `generate` without an explicit list covers: those without a script yet (a
/// script is ready from `script_ready` on, audio statuses included), or all with `regenerate`.
pub fn chapters_to_generate(statuses: &[(u32, String)], regenerate: bool) -> Vec<u32> {
    const HAS_SCRIPT: [&str; 4] = ["script_ready", "enhanced", "generating_audio", "audio_ready"];
    statuses
        .iter()
        .filter(|(_, s)| regenerate || !HAS_SCRIPT.contains(&s.as_str()))
        .map(|(n, _)| *n)
        .collect()
}

/// The message shown while a step runs: "Chapter 2 of 3: writing the script".
pub fn step_message(position: usize, total: usize, chapter: u32, step: StoryStep) -> String {
    format!("Chapter {chapter} ({} of {total}): {}", position + 1, step.describe())
}

/// Retry-After values above this are not honoured: a provider that asks for an hour would
/// otherwise leave the task looking stalled (and re-driven) while it waits.
pub const MAX_RETRY_DELAY_SECS: u32 = 120;

/// How long a step waits before its message is delivered again after transient failure
/// number `failures`: the provider's Retry-After when it gave one, else a doubling backoff,
/// clamped to 1 s .. min(MAX_RETRY_DELAY_SECS, half the stall threshold), so the sweeper never
/// mistakes a task that waits on purpose for a stalled one.
pub fn retry_delay_secs(retry_after: Option<u32>, failures: u32, stall_after_secs: u64) -> u32 {
    let backoff = (crate::core::llm::backoff_ms(failures, 2_000, 60_000) / 1000) as u32;
    let cap = MAX_RETRY_DELAY_SECS.min((stall_after_secs / 2).min(u32::MAX as u64) as u32).max(1);
    retry_after.unwrap_or(backoff).clamp(1, cap)
}

/// A claim that took over a lease its holder never gave back (a crash, or a holder that is
/// still alive but late) waits until that holder's last paid call has certainly ended: its
/// lease ran out `expired_ms_ago` ms ago (negative: not yet), and the holder renews before
/// every call, so its last call began at the latest when the lease was last renewed and is
/// aborted `call_timeout_secs` later. After the wait, whatever it made is in storage and it
/// can start nothing new (its renewal fails), so no clip or answer is paid twice.
pub fn takeover_wait_ms(expired_ms_ago: Option<i64>, call_timeout_secs: u64, lease_secs: u64) -> u64 {
    let Some(ago) = expired_ms_ago else { return 0 };
    // Last renewal = expiry - lease; last call ends by renewal + timeout (+ 2 s to store).
    let ends_after_expiry_ms = (call_timeout_secs as i64 - lease_secs as i64) * 1000 + 2_000;
    (ends_after_expiry_ms - ago).max(0) as u64
}

#[cfg(test)]
mod tests;

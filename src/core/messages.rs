//! Queue message bodies. Queues deliver at least once and cap a message at 128 KB, so a
//! message names the work by id and never carries scripts or audio.

use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case", deny_unknown_fields)]
pub enum JobMessage {
    /// Proves the queue path end to end: the consumer records it in a Durable Object and R2.
    /// With `fail`, every delivery fails, which proves retries and the dead-letter queue.
    Probe {
        probe_id: String,
        #[serde(default, skip_serializing_if = "std::ops::Not::not")]
        fail: bool,
    },
    /// Continue story task `task_id` at `step`: one chapter's script, enhance and summary.
    /// The step number lets exactly one delivery claim the work.
    StoryStep { task_id: String, step: u32 },
    /// Continue audio task `task_id` at `step`: one chapter's clips, joined into its MP3.
    AudioStep { task_id: String, step: u32 },
}

/// Dead-letter queues are named `<jobs queue>-dlq` in every environment.
pub fn is_dead_letter_queue(queue_name: &str) -> bool {
    queue_name.ends_with("-dlq")
}

impl JobMessage {
    /// The message that continues a task of `kind` at `step` (the sweeper and redrive use it).
    pub fn step(kind: &str, task_id: String, step: u32) -> JobMessage {
        match kind {
            "audio" => JobMessage::AudioStep { task_id, step },
            _ => JobMessage::StoryStep { task_id, step },
        }
    }

    /// A short label for logs: the kind and the id, nothing else.
    pub fn label(&self) -> String {
        match self {
            JobMessage::StoryStep { task_id, step } => format!("story:{task_id}:{step}"),
            JobMessage::AudioStep { task_id, step } => format!("audio:{task_id}:{step}"),
            JobMessage::Probe { probe_id, .. } => format!("probe:{probe_id}"),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dead_letter_queue_names() {
        assert!(is_dead_letter_queue("talecast-jobs-dlq"));
        assert!(is_dead_letter_queue("talecast-jobs-prod-dlq"));
        assert!(!is_dead_letter_queue("talecast-jobs"));
    }

    #[test]
    fn round_trips_and_rejects_unknown_shapes() {
        let m = JobMessage::Probe { probe_id: "p1".into(), fail: false };
        let v = serde_json::to_value(&m).unwrap();
        assert_eq!(v, serde_json::json!({"kind": "probe", "probe_id": "p1"}));
        assert_eq!(serde_json::from_value::<JobMessage>(v).unwrap(), m);
        let failing: JobMessage = serde_json::from_str(r#"{"kind":"probe","probe_id":"p2","fail":true}"#).unwrap();
        assert_eq!(failing, JobMessage::Probe { probe_id: "p2".into(), fail: true });
        assert!(serde_json::from_str::<JobMessage>(r#"{"kind":"nope"}"#).is_err());
        assert_eq!(JobMessage::step("audio", "t".into(), 1), JobMessage::AudioStep { task_id: "t".into(), step: 1 });
        assert_eq!(JobMessage::step("story", "t".into(), 1), JobMessage::StoryStep { task_id: "t".into(), step: 1 });
        let step = JobMessage::StoryStep { task_id: "t".into(), step: 2 };
        assert_eq!(serde_json::to_string(&step).unwrap(), r#"{"kind":"story_step","task_id":"t","step":2}"#);
        assert!(serde_json::from_str::<JobMessage>(r#"{"kind":"probe","probe_id":"x","extra":1}"#).is_err());
    }
}

//! The rules of the active-task registry (the `ActiveTasks` Durable Object): which sweeps may
//! skip Neon, and how a sweep that asked Neon brings the registry back in line with it.
//!
//! The registry exists so that an idle service makes no Neon request (Neon bills a compute for
//! as long as it is awake, and any query wakes it). It may hold more than is active (an entry
//! whose task ended, or whose task row was never committed), which costs one Neon query at the
//! next sweep; it must never hold less, or an active task whose message was lost would never be
//! re-driven. Hence: a job start registers its task *before* the row is written, and an entry
//! goes only when Neon has said it is not needed.

use serde::{Deserialize, Serialize};
use std::collections::{HashMap, HashSet};

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Entry {
    pub task_id: String,
    /// Increases with every registration, never reused: an entry registered again after the
    /// snapshot has a higher one, so it is not removed on the strength of an older answer.
    pub seq: i64,
    /// The registry's clock, in ms since the epoch.
    pub registered_at_ms: i64,
}

/// What the registry held when a sweep began.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Snapshot {
    /// False until a sweep has reconciled the registry with Neon once: a new registry (the
    /// first deploy with it, or lost storage) cannot know the tasks started before it.
    pub adopted: bool,
    pub entries: Vec<Entry>,
    /// The highest `seq` handed out so far.
    pub mark: i64,
    pub as_of_ms: i64,
}

impl Snapshot {
    /// Whether this sweep has to ask Neon. An adopted, empty registry means no task is queued
    /// or running, so there is nothing to re-drive.
    pub fn needs_neon(&self) -> bool {
        !self.adopted || !self.entries.is_empty()
    }

    pub fn task_ids(&self) -> Vec<String> {
        self.entries.iter().map(|e| e.task_id.clone()).collect()
    }
}

/// What the registry is told to change after a sweep asked Neon.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Plan {
    /// Removed only if still at or below `mark` (not registered again since the snapshot).
    pub remove: Vec<String>,
    pub add: Vec<String>,
    pub mark: i64,
}

/// `known` is Neon's answer, asked after the snapshot was taken: every task that is active, and
/// every registered task that has a row, each with whether it is active (queued or running).
///
/// - An active task stays, and one the registry lacks is added (how a new registry adopts the
///   tasks started before it, and how any gap heals).
/// - A registered task whose row says it ended goes.
/// - A registered task with no row goes only once it is older than `grace_ms`: a job start
///   registers before it writes the row, so a young entry may name a row that is being
///   committed right now, after Neon's answer was taken. Older than the grace (well past the
///   longest write), no row means the start failed or was refused.
pub fn reconcile(snapshot: &Snapshot, known: &HashMap<String, bool>, grace_ms: i64) -> Plan {
    let registered: HashSet<&str> = snapshot.entries.iter().map(|e| e.task_id.as_str()).collect();
    let remove = snapshot
        .entries
        .iter()
        .filter(|e| match known.get(&e.task_id) {
            Some(active) => !active,
            None => snapshot.as_of_ms - e.registered_at_ms >= grace_ms,
        })
        .map(|e| e.task_id.clone())
        .collect();
    let mut add: Vec<String> = known.iter().filter(|(id, active)| **active && !registered.contains(id.as_str())).map(|(id, _)| id.clone()).collect();
    // Unstable is enough (equal strings are indistinguishable) and shares no code with the
    // stable sort's per-type copy (~3 KiB of the Worker).
    add.sort_unstable();
    Plan { remove, add, mark: snapshot.mark }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn entry(id: &str, seq: i64, at: i64) -> Entry {
        Entry { task_id: id.into(), seq, registered_at_ms: at }
    }

    fn snap(adopted: bool, entries: Vec<Entry>, as_of_ms: i64) -> Snapshot {
        let mark = entries.iter().map(|e| e.seq).max().unwrap_or(0);
        Snapshot { adopted, entries, mark, as_of_ms }
    }

    fn known(pairs: &[(&str, bool)]) -> HashMap<String, bool> {
        pairs.iter().map(|(id, a)| (id.to_string(), *a)).collect()
    }

    const GRACE: i64 = 60_000;

    #[test]
    fn only_an_adopted_empty_registry_skips_neon() {
        assert!(!snap(true, vec![], 0).needs_neon());
        assert!(snap(false, vec![], 0).needs_neon(), "a new registry must learn the tasks started before it");
        assert!(snap(true, vec![entry("a", 1, 0)], 0).needs_neon());
    }

    #[test]
    fn active_tasks_stay_and_ended_ones_go_at_once_whatever_their_age() {
        let s = snap(true, vec![entry("run", 1, 99_000), entry("done", 2, 99_999)], 100_000);
        let plan = reconcile(&s, &known(&[("run", true), ("done", false)]), GRACE);
        assert_eq!(plan.remove, vec!["done".to_string()]);
        assert!(plan.add.is_empty());
        assert_eq!(plan.mark, 2);
    }

    #[test]
    fn an_entry_without_a_row_goes_only_after_the_grace() {
        // Registered, row not committed yet when Neon answered: must stay.
        let young = snap(true, vec![entry("new", 1, 100_000 - GRACE + 1)], 100_000);
        assert!(reconcile(&young, &known(&[]), GRACE).remove.is_empty());
        // A start that never wrote its row (refused, or failed) is forgotten later.
        let old = snap(true, vec![entry("never", 1, 100_000 - GRACE)], 100_000);
        assert_eq!(reconcile(&old, &known(&[]), GRACE).remove, vec!["never".to_string()]);
    }

    #[test]
    fn active_tasks_the_registry_lacks_are_adopted() {
        let s = snap(false, vec![entry("known", 1, 0)], 100_000);
        let plan = reconcile(&s, &known(&[("known", true), ("old-b", true), ("old-a", true), ("ended", false)]), GRACE);
        assert_eq!(plan.add, vec!["old-a".to_string(), "old-b".to_string()]);
        assert!(plan.remove.is_empty());
    }
}

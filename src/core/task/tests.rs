use super::*;

fn ch(number: u32, script: bool, enhanced: bool, summary: bool, by: Option<&str>) -> ChapterWork {
    ChapterWork {
        number,
        has_script: script,
        has_enhanced: enhanced,
        has_summary: summary,
        script_task: by.map(str::to_string),
    }
}

#[test]
fn steps_follow_script_enhance_summary() {
    let plan = StoryPlan { task_id: "t", enhance: true, regenerate: false };
    assert_eq!(plan.next_step(&ch(1, false, false, false, None)), StoryStep::Script);
    assert_eq!(plan.next_step(&ch(1, true, false, false, Some("t"))), StoryStep::Enhance);
    assert_eq!(plan.next_step(&ch(1, true, true, false, Some("t"))), StoryStep::Summary);
    assert_eq!(plan.next_step(&ch(1, true, true, true, Some("t"))), StoryStep::Done);
    let plain = StoryPlan { enhance: false, ..plan };
    assert_eq!(plain.next_step(&ch(1, true, false, false, Some("t"))), StoryStep::Summary);
}

#[test]
fn work_of_an_earlier_task_is_reused_unless_regenerating() {
    let reuse = StoryPlan { task_id: "new", enhance: false, regenerate: false };
    assert_eq!(reuse.next_step(&ch(1, true, false, false, Some("old"))), StoryStep::Summary);
    let redo = StoryPlan { task_id: "new", enhance: false, regenerate: true };
    assert_eq!(redo.next_step(&ch(1, true, false, true, Some("old"))), StoryStep::Script);
    // Once the regenerating task wrote the script, its later steps continue from there.
    assert_eq!(redo.next_step(&ch(1, true, false, false, Some("new"))), StoryStep::Summary);
}

#[test]
fn progress_counts_steps_and_reaches_100_only_when_all_are_done() {
    let plan = StoryPlan { task_id: "t", enhance: true, regenerate: false };
    let mut chapters = vec![ch(1, false, false, false, None), ch(2, false, false, false, None)];
    assert_eq!(plan.progress(&chapters), 0);
    chapters[0] = ch(1, true, false, false, Some("t"));
    assert_eq!(plan.progress(&chapters), 16);
    chapters[0] = ch(1, true, true, true, Some("t"));
    assert_eq!(plan.progress(&chapters), 50);
    chapters[1] = ch(2, true, true, false, Some("t"));
    assert_eq!(plan.progress(&chapters), 83);
    chapters[1] = ch(2, true, true, true, Some("t"));
    assert_eq!(plan.progress(&chapters), 100);
    assert!(plan.next_chapter(&chapters).is_none());
}

#[test]
fn next_chapter_keeps_the_task_order() {
    let plan = StoryPlan { task_id: "t", enhance: false, regenerate: false };
    let chapters = vec![ch(1, true, false, true, Some("t")), ch(3, false, false, false, None), ch(2, false, false, false, None)];
    let (c, step) = plan.next_chapter(&chapters).unwrap();
    assert_eq!((c.number, step), (3, StoryStep::Script));
}

#[test]
fn generate_without_a_list_picks_chapters_without_a_script() {
    let statuses: Vec<(u32, String)> = [
        (1, "script_ready"),
        (2, "pending"),
        (3, "failed"),
        (4, "enhanced"),
        (5, "generating_script"),
        (6, "audio_ready"),
    ]
    .iter()
    .map(|(n, s)| (*n, s.to_string()))
    .collect();
    assert_eq!(chapters_to_generate(&statuses, false), vec![2, 3, 5]);
    assert_eq!(chapters_to_generate(&statuses, true), vec![1, 2, 3, 4, 5, 6]);
}

fn view(status: TaskStatus, progress: u8) -> TaskView {
    TaskView {
        id: "t".into(),
        kind: "story".into(),
        story_id: "s".into(),
        status,
        progress,
        message: String::new(),
        chapters: vec![],
        result: None,
        error: None,
        created_at: "c0".into(),
        updated_at: "u".into(),
    }
}

#[test]
fn merge_never_lowers_progress_and_freezes_terminal_tasks() {
    let stored = view(TaskStatus::Running, 60);
    let merged = TaskView::merge(Some(&stored), TaskView { created_at: "c1".into(), ..view(TaskStatus::Running, 40) });
    assert_eq!(merged.progress, 60);
    assert_eq!(merged.created_at, "c0");
    let done = TaskView::merge(Some(&stored), view(TaskStatus::Completed, 90));
    assert_eq!(done.progress, 100);
    let after = TaskView::merge(Some(&done), view(TaskStatus::Running, 10));
    assert_eq!(after.status, TaskStatus::Completed);
    let cancelled = TaskView::merge(Some(&stored), view(TaskStatus::Cancelled, 0));
    assert_eq!((cancelled.status, cancelled.progress), (TaskStatus::Cancelled, 60));
}

#[test]
fn status_strings_round_trip() {
    for s in ["queued", "running", "completed", "failed", "cancelled"] {
        assert_eq!(TaskStatus::parse(s).unwrap().as_str(), s);
    }
    assert!(TaskStatus::parse("done").is_none());
    assert!(TaskStatus::Cancelled.is_terminal() && !TaskStatus::Running.is_terminal());
}

#[test]
fn retry_delays_honour_retry_after_within_bounds() {
    assert_eq!(retry_delay_secs(Some(7), 1, 300), 7);
    assert_eq!(retry_delay_secs(Some(0), 1, 300), 1);
    assert_eq!(retry_delay_secs(Some(3600), 1, 300), 120);
    assert_eq!(retry_delay_secs(Some(u32::MAX), 1, 100), 50);
    assert_eq!(retry_delay_secs(None, 1, 300), 2);
    assert_eq!(retry_delay_secs(None, 3, 300), 8);
    assert_eq!(retry_delay_secs(None, 30, 300), 60);
    assert_eq!(retry_delay_secs(None, 1, 0), 1);
}

#[test]
fn a_takeover_waits_out_the_old_holders_last_call() {
    // Never held (or released): no wait.
    assert_eq!(takeover_wait_ms(None, 60, 600), 0);
    // The lease outlasts any call: once it ran out, the old holder's call had ended.
    assert_eq!(takeover_wait_ms(Some(0), 60, 600), 0);
    assert_eq!(takeover_wait_ms(Some(300_000), 60, 600), 0);
    // A lease shorter than the call timeout (a misconfiguration, or a test): wait the rest.
    assert_eq!(takeover_wait_ms(Some(1_000), 8, 3), 6_000);
    assert_eq!(takeover_wait_ms(Some(60_000), 8, 3), 0);
}

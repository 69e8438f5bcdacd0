//! Request values that are valid by construction: each `parse` checks everything a route needs
//! before it touches storage, and reports the first problem with the field it concerns.

mod audio_request;
mod edited_script;
mod generate_request;
mod link_request;
mod new_story;
mod new_user;
mod page;
mod pronunciations;
mod story_patch;
mod usage_range;
mod voice_overrides;

pub use audio_request::AudioRequest;
pub use edited_script::{EditedScript, LINE_DIRECTION_MAX_CHARS, LINE_SPEAKER_MAX_CHARS, LINE_TEXT_MAX_CHARS, MAX_LINES, SCRIPT_TITLE_MAX_CHARS};
pub use generate_request::GenerateRequest;
pub use link_request::LinkRequest;
pub use new_story::{NewStory, AUTHOR_MAX_CHARS, CONFIG_MAX_BYTES, MAX_CHAPTERS, PROMPT_MAX_CHARS, TITLE_MAX_CHARS};
pub use new_user::{NewUser, NAME_MAX_CHARS};
pub use pronunciations::{Pronunciations, MAX_PRONUNCIATIONS, PHRASE_MAX_CHARS, REPLACEMENT_MAX_CHARS};
pub use page::{Cursor, PageRequest, DEFAULT_LIMIT, MAX_LIMIT};
pub use story_patch::StoryPatch;
pub use usage_range::UsageRange;
pub use voice_overrides::{VoiceOverrides, MAX_OVERRIDES, SPEAKER_MAX_CHARS, VOICE_ID_MAX_CHARS};

use crate::core::validate::{has_control_char, FieldError};

/// Rejects one-line text (names, titles) with control characters such as newlines or NUL; a
/// title is shown in lists and ID3 tags where those break the layout or the format.
fn check_single_line(field: &str, s: &str) -> Result<(), FieldError> {
    if has_control_char(s, &[]) {
        Err(FieldError::new(field, "must not contain control characters such as line breaks"))
    } else {
        Ok(())
    }
}

fn check_not_blank(field: &str, s: &str) -> Result<(), FieldError> {
    if s.trim().is_empty() {
        Err(FieldError::new(field, "must not be blank"))
    } else {
        Ok(())
    }
}

/// Chapter numbers from a request: `1..=num_chapters`, distinct, returned ascending so jobs run
/// in reading order whatever order the client listed them in.
fn parse_chapters(
    r: &mut crate::core::validate::ObjectReader,
    num_chapters: u32,
) -> Result<Option<Vec<u32>>, FieldError> {
    let max_len = num_chapters.max(1) as usize;
    let list = r.optional_int_list("chapters", 1, i64::from(num_chapters), max_len)?;
    Ok(list.map(|l| {
        // Every element is in 1..=num_chapters, so it fits a u32.
        let mut v: Vec<u32> = l.into_iter().map(|n| n as u32).collect();
        v.sort_unstable();
        v
    }))
}

-- Editing (docs/API.md, "Editing"): a person's script for a chapter, the story's
-- pronunciations, and what tells a chapter's audio is stale.
--
-- A chapter's fingerprint is a hash of the clip keys its audio would be made of now
-- (src/core/clip_plan.rs); its audio's fingerprint is the one it was made of. They differ
-- exactly when the voiced script, the voices or the pronunciations changed since, so
-- audio_stale is a comparison of two columns, with no script read. The Worker recomputes
-- script_fingerprint whenever an input changes (a story job's script, an edit, the voices,
-- the pronunciations).
ALTER TABLE chapters ADD COLUMN edited jsonb CHECK (edited IS NULL OR jsonb_typeof(edited) = 'object');
ALTER TABLE chapters ADD COLUMN script_fingerprint text;
ALTER TABLE chapters ADD COLUMN audio_fingerprint text;

-- phrase -> what TTS is sent instead (whole words, case-sensitive)
ALTER TABLE stories ADD COLUMN pronunciations jsonb NOT NULL DEFAULT '{}' CHECK (jsonb_typeof(pronunciations) = 'object');
-- changes with every change of an input of the story's clips (script edit, voices,
-- pronunciations), so a write computed from an older read is refused instead of storing
-- fingerprints of a state that no longer exists
ALTER TABLE stories ADD COLUMN inputs_token text NOT NULL DEFAULT '';

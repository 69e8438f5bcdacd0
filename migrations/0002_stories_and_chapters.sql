-- Stories and their chapters: the record of the work (the Durable Objects are the live view).
CREATE TABLE stories (
    id            uuid PRIMARY KEY,
    user_id       uuid NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    title         text NOT NULL DEFAULT '' CHECK (char_length(title) <= 200),
    prompt        text NOT NULL CHECK (char_length(prompt) BETWEEN 1 AND 4000),
    num_chapters  integer NOT NULL CHECK (num_chapters BETWEEN 1 AND 50),
    enhance       boolean NOT NULL DEFAULT false,
    config        jsonb NOT NULL DEFAULT '{}' CHECK (jsonb_typeof(config) = 'object'),
    -- speaker name -> voice id overrides (PUT /stories/{id}/voices)
    voices        jsonb NOT NULL DEFAULT '{}' CHECK (jsonb_typeof(voices) = 'object'),
    -- speaker name -> voice id picked by talecast, kept so a speaker keeps its voice
    assigned_voices jsonb NOT NULL DEFAULT '{}' CHECK (jsonb_typeof(assigned_voices) = 'object'),
    status        text NOT NULL DEFAULT 'draft'
                  CHECK (status IN ('draft', 'generating', 'completed', 'failed', 'cancelled')),
    created_at    timestamptz NOT NULL DEFAULT now(),
    updated_at    timestamptz NOT NULL DEFAULT now()
);
-- newest-first pages per user, with (created_at, id) as the cursor
CREATE INDEX stories_user_newest_idx ON stories (user_id, created_at DESC, id DESC);

CREATE TABLE chapters (
    story_id          uuid NOT NULL REFERENCES stories (id) ON DELETE CASCADE,
    number            integer NOT NULL CHECK (number BETWEEN 1 AND 50),
    title             text,
    status            text NOT NULL DEFAULT 'pending'
                      CHECK (status IN ('pending', 'generating_script', 'script_ready', 'enhancing',
                                        'enhanced', 'generating_audio', 'audio_ready', 'failed')),
    -- {"code", "message"} of the last failure, cleared when the chapter moves on
    error             jsonb CHECK (error IS NULL OR (error ? 'code' AND error ? 'message')),
    -- the status to return to when the job working on this chapter is cancelled
    previous_status   text,
    -- the task that wrote the current script (a regenerate task redoes chapters it did not write)
    task_id           uuid,
    script            jsonb,
    enhanced          jsonb,
    summary           text,
    audio_key         text,
    audio_duration_ms bigint CHECK (audio_duration_ms IS NULL OR audio_duration_ms > 0),
    audio_bytes       bigint CHECK (audio_bytes IS NULL OR audio_bytes > 0),
    audio_characters  integer CHECK (audio_characters IS NULL OR audio_characters >= 0),
    -- frame facts of the chapter MP3 ({frames, header_len, sample_rate, channels, version,
    -- bitrate_kbps}), so the whole book's header is computed without reading the audio
    audio_meta        jsonb,
    -- the task that made the current audio (an audio task redoes chapters it did not make)
    audio_task_id     uuid,
    created_at        timestamptz NOT NULL DEFAULT now(),
    updated_at        timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (story_id, number),
    CHECK ((audio_key IS NULL) = (audio_duration_ms IS NULL))
);

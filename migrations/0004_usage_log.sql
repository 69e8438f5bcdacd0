-- Every provider call's usage. No foreign keys to stories or tasks: usage outlives them.
CREATE TABLE usage_log (
    id                 bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    user_id            uuid NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    story_id           uuid,
    task_id            uuid,
    kind               text NOT NULL CHECK (kind IN ('llm', 'tts')),
    model              text NOT NULL,
    prompt_tokens      integer NOT NULL DEFAULT 0 CHECK (prompt_tokens >= 0),
    completion_tokens  integer NOT NULL DEFAULT 0 CHECK (completion_tokens >= 0),
    characters         integer NOT NULL DEFAULT 0 CHECK (characters >= 0),
    cost_usd           numeric(12, 6) NOT NULL DEFAULT 0 CHECK (cost_usd >= 0),
    -- names the step that made the call, so a redelivered queue message cannot log it twice
    idempotency_key    text UNIQUE,
    created_at         timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX usage_log_user_created_idx ON usage_log (user_id, created_at);

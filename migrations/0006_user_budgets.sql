-- Per-user budget overrides set by the admin. No row, or a key missing from `overrides`,
-- means the configured default applies; a key holding JSON null means unlimited; a number is
-- that limit. Keys: llm_tokens, tts_characters (integers), usd (number).
CREATE TABLE user_budgets (
    user_id     uuid PRIMARY KEY REFERENCES users (id) ON DELETE CASCADE,
    overrides   jsonb NOT NULL DEFAULT '{}' CHECK (jsonb_typeof(overrides) = 'object'),
    updated_at  timestamptz NOT NULL DEFAULT now()
);

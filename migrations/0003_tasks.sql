-- Jobs (story or audio). The row is the durable record; live progress is in the task's
-- Durable Object, which expires some time after the task ends.
CREATE TABLE tasks (
    id          uuid PRIMARY KEY,
    user_id     uuid NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    story_id    uuid NOT NULL REFERENCES stories (id) ON DELETE CASCADE,
    kind        text NOT NULL CHECK (kind IN ('story', 'audio')),
    status      text NOT NULL DEFAULT 'queued'
                CHECK (status IN ('queued', 'running', 'completed', 'failed', 'cancelled')),
    chapters    integer[] NOT NULL CHECK (cardinality(chapters) BETWEEN 1 AND 50),
    -- story jobs: redo chapters that already have a script
    regenerate  boolean NOT NULL DEFAULT false,
    -- each queue message names the step it continues; claiming a step needs this number and
    -- a free lease, so a duplicated message finds the step taken and does nothing
    step        integer NOT NULL DEFAULT 0 CHECK (step >= 0),
    lease_until timestamptz,
    -- transient provider failures in a row; past the configured limit the task fails
    transient_failures integer NOT NULL DEFAULT 0 CHECK (transient_failures >= 0),
    progress    integer NOT NULL DEFAULT 0 CHECK (progress BETWEEN 0 AND 100),
    message     text NOT NULL DEFAULT '',
    result      jsonb,
    error       jsonb CHECK (error IS NULL OR (error ? 'code' AND error ? 'message')),
    created_at  timestamptz NOT NULL DEFAULT now(),
    updated_at  timestamptz NOT NULL DEFAULT now()
);
-- One queued or running job per story: the database itself enforces the contract's 409.
CREATE UNIQUE INDEX tasks_one_active_per_story ON tasks (story_id) WHERE status IN ('queued', 'running');
-- The sweeper looks for active tasks that stopped making progress.
CREATE INDEX tasks_active_updated_idx ON tasks (updated_at) WHERE status IN ('queued', 'running');
CREATE INDEX tasks_user_idx ON tasks (user_id, created_at DESC);

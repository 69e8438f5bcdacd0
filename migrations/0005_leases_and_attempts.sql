-- A step's claim is a lease with a token: every write the step makes names the token, so a
-- delivery whose lease was taken over writes nothing. Attempts count the deliveries that
-- claimed the current step; past MAX_STEP_ATTEMPTS the task fails instead of running again.
ALTER TABLE tasks
    ADD COLUMN lease_token uuid,
    ADD COLUMN attempts    integer NOT NULL DEFAULT 0 CHECK (attempts >= 0),
    -- why the last delivery of the current step did not finish, shown if the task gives up
    ADD COLUMN last_error  text;

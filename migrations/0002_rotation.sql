-- 0002_rotation: what the scheduler needs to know about each attempt.
ALTER TABLE credentials ADD COLUMN last_error TEXT NOT NULL DEFAULT '';
ALTER TABLE credentials ADD COLUMN last_attempt_at INTEGER;
-- Set when a refresh-token request was sent and no answer came back:
-- the provider may have rotated the refresh token.  Cleared on success.
ALTER TABLE credentials ADD COLUMN unknown_outcome_at INTEGER;
CREATE INDEX events_kind_time ON events (kind, time_ms);

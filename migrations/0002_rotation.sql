-- 0002_rotation: what the scheduler needs to know about each attempt.
ALTER TABLE credentials ADD COLUMN last_error TEXT NOT NULL DEFAULT '';
ALTER TABLE credentials ADD COLUMN last_attempt_at INTEGER;
-- Set when a refresh-token request was sent and no answer came back:
-- the provider may have rotated the refresh token.  Cleared on success.
ALTER TABLE credentials ADD COLUMN unknown_outcome_at INTEGER;
-- Set when the provider's last good answer kept the refresh token (sent
-- none back, as ServiceNow does): only then is a refresh whose answer was
-- lost safe to replay.  Otherwise a replay may present a token the
-- provider already rotated and revoke the whole family (RFC 9700).
ALTER TABLE credentials ADD COLUMN refresh_token_kept INTEGER NOT NULL
	DEFAULT 0;
CREATE INDEX events_kind_time ON events (kind, time_ms);

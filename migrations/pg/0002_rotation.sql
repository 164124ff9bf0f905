-- 0002_rotation (PostgreSQL): as migrations/0002_rotation.sql.
ALTER TABLE credentials ADD COLUMN last_error TEXT COLLATE "C" NOT NULL
	DEFAULT '';
ALTER TABLE credentials ADD COLUMN last_attempt_at BIGINT;
ALTER TABLE credentials ADD COLUMN unknown_outcome_at BIGINT;
ALTER TABLE credentials ADD COLUMN refresh_token_kept BIGINT NOT NULL
	DEFAULT 0;
CREATE INDEX events_kind_time ON events (kind, time_ms);

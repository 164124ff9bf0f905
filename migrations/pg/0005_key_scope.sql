-- 0005_key_scope (PostgreSQL): as migrations/0005_key_scope.sql.
ALTER TABLE api_keys ADD COLUMN org_ids TEXT COLLATE "C" NOT NULL
	DEFAULT '*';
ALTER TABLE api_keys ADD COLUMN credentials TEXT COLLATE "C" NOT NULL
	DEFAULT '*';
ALTER TABLE api_keys ADD COLUMN expires_at BIGINT;
UPDATE api_keys SET org_ids = orgs;
ALTER TABLE api_keys DROP COLUMN orgs;

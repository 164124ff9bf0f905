-- 0004_binding: secrets bound to their destination, MACs over the rows
-- that grant access or pick a secret, retired refresh tokens
-- (DESIGN.md "What a secret is bound to"; vault/bind.c owns the forms).
--
-- The re-seal of existing secret rows is not SQL: rows keep bind = 1 (the
-- old binding) until `serve`'s background job or `orgvault key rewrap`
-- re-seals them with bind = 2.  The MACs of existing rows are written by
-- the first process that opens the vault with its key after this
-- migration (row_mac_key 'pending' below, vault/bind.c).
--
-- credentials is rebuilt: SQLite cannot change a CHECK constraint in
-- place.  The runner (vault/schema.c) turns foreign keys off around
-- every migration and runs foreign_key_check before it commits.

CREATE TABLE credentials_new (
	id			INTEGER PRIMARY KEY AUTOINCREMENT,
	org_id			INTEGER NOT NULL
				REFERENCES orgs(id) ON DELETE CASCADE,
	name			TEXT NOT NULL,
	provider		TEXT NOT NULL
				CHECK (provider IN ('genesys', 'servicenow',
				    'oauth2')),
	region			TEXT NOT NULL DEFAULT '',
	token_url		TEXT NOT NULL,
	auth_method		TEXT NOT NULL
				CHECK (auth_method IN ('client_secret_basic',
				    'client_secret_post')),
	grant_type		TEXT NOT NULL
				CHECK (grant_type IN ('client_credentials',
				    'refresh_token')),
	client_id		TEXT NOT NULL,
	expected_scope		TEXT NOT NULL DEFAULT '',
	refresh_fraction	REAL NOT NULL DEFAULT 0.75,
	refresh_age_s		INTEGER NOT NULL DEFAULT 0,
	status			TEXT NOT NULL DEFAULT 'active'
				CHECK (status IN ('active', 'failing',
				    'revoked', 'invalid_client',
				    'secret_or_grant_refused', 'tampered',
				    'unknown', 'disabled')),
	status_reason		TEXT NOT NULL DEFAULT '',
	consecutive_failures	INTEGER NOT NULL DEFAULT 0,
	next_refresh_at		INTEGER,
	lease_owner		TEXT,
	lease_until		INTEGER,
	last_success_at		INTEGER,
	created_at		INTEGER NOT NULL,
	updated_at		INTEGER NOT NULL,
	last_error		TEXT NOT NULL DEFAULT '',
	last_attempt_at		INTEGER,
	unknown_outcome_at	INTEGER,
	refresh_token_kept	INTEGER NOT NULL DEFAULT 0,
	-- keyed MAC of the destination, the expected scope and the secret
	-- labels (vault/bind.c); NULL only until the first keyed open
	row_mac			BLOB,
	UNIQUE (org_id, name)
) STRICT;
INSERT INTO credentials_new (id, org_id, name, provider, region, token_url,
	auth_method, grant_type, client_id, expected_scope, refresh_fraction,
	refresh_age_s, status, status_reason, consecutive_failures,
	next_refresh_at, lease_owner, lease_until, last_success_at, created_at,
	updated_at, last_error, last_attempt_at, unknown_outcome_at,
	refresh_token_kept)
SELECT id, org_id, name, provider, region, token_url, auth_method,
	grant_type, client_id, expected_scope, refresh_fraction, refresh_age_s,
	status, status_reason, consecutive_failures, next_refresh_at,
	lease_owner, lease_until, last_success_at, created_at, updated_at,
	last_error, last_attempt_at, unknown_outcome_at, refresh_token_kept
FROM credentials;
-- Ids of removed credentials are never handed out again (events name them).
DELETE FROM sqlite_sequence WHERE name = 'credentials_new';
INSERT INTO sqlite_sequence (name, seq)
	SELECT 'credentials_new', seq FROM sqlite_sequence
	WHERE name = 'credentials';
DROP TABLE credentials;
ALTER TABLE credentials_new RENAME TO credentials;
CREATE INDEX credentials_due ON credentials (next_refresh_at);
CREATE INDEX credentials_status ON credentials (status);

-- bind: 1 the old binding (table|kind|org|credential|version), 2 the
-- destination binding.  digest: keyed BLAKE2b of the plaintext, for
-- equality checks in constant time and for retiring refresh tokens.
ALTER TABLE secret_versions ADD COLUMN bind INTEGER NOT NULL DEFAULT 1;
ALTER TABLE secret_versions ADD COLUMN digest BLOB;
CREATE INDEX secret_versions_bind ON secret_versions (bind)
	WHERE bind < 2 OR digest IS NULL;

ALTER TABLE api_keys ADD COLUMN row_mac BLOB;
-- Webhooks made for every event get the two new ones too.
UPDATE webhooks SET events = 'revoked,invalid_client,secret_or_grant_refused,'
	|| 'scope_drift,failing,recovered,tampered'
	WHERE events = 'revoked,invalid_client,scope_drift,failing,recovered';
ALTER TABLE webhooks ADD COLUMN row_mac BLOB;

-- Refresh tokens rotated away or replaced: never stored again, by any
-- credential (a removed one's are kept: no foreign key).  digest is keyed
-- (never the token); mac covers the row.  Kept until the token's own
-- expiry when the provider said it (expires_at), and at most the newest
-- 1 000 per credential (vault/seal.c).
CREATE TABLE retired_refresh_tokens (
	id		INTEGER PRIMARY KEY AUTOINCREMENT,
	credential_id	INTEGER NOT NULL,
	digest		BLOB NOT NULL,
	retired_at	INTEGER NOT NULL,
	expires_at	INTEGER,
	mac		BLOB NOT NULL
) STRICT;
CREATE INDEX retired_refresh_tokens_digest ON retired_refresh_tokens (digest);
CREATE INDEX retired_refresh_tokens_cred
	ON retired_refresh_tokens (credential_id, id);

INSERT OR REPLACE INTO vault_meta (key, value) VALUES ('row_mac_key',
	'pending');

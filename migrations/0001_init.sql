-- 0001_init: the vault schema (DESIGN.md "Domain model").
-- Times are unix seconds (events: milliseconds).  Every BLOB named
-- *ciphertext or wrapped_key is an envelope (vault/envelope.c); no
-- plaintext secret is ever bound into this database.

CREATE TABLE vault_meta (
	key	TEXT PRIMARY KEY,
	value	TEXT NOT NULL
) STRICT;

CREATE TABLE keyring (
	version		INTEGER PRIMARY KEY,
	wrapped_key	BLOB NOT NULL,
	state		TEXT NOT NULL DEFAULT 'active'
			CHECK (state IN ('active', 'retired')),
	created_at	INTEGER NOT NULL,
	retired_at	INTEGER
) STRICT;

CREATE TABLE orgs (
	id		INTEGER PRIMARY KEY AUTOINCREMENT,
	slug		TEXT NOT NULL UNIQUE,
	name		TEXT NOT NULL,
	external_id	TEXT NOT NULL DEFAULT '',
	labels		TEXT NOT NULL DEFAULT '{}',
	enabled		INTEGER NOT NULL DEFAULT 1,
	created_at	INTEGER NOT NULL,
	updated_at	INTEGER NOT NULL
) STRICT;

CREATE TABLE credentials (
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
				    'revoked', 'invalid_client', 'unknown',
				    'disabled')),
	status_reason		TEXT NOT NULL DEFAULT '',
	consecutive_failures	INTEGER NOT NULL DEFAULT 0,
	next_refresh_at		INTEGER,
	lease_owner		TEXT,
	lease_until		INTEGER,
	last_success_at		INTEGER,
	created_at		INTEGER NOT NULL,
	updated_at		INTEGER NOT NULL,
	UNIQUE (org_id, name)
) STRICT;
CREATE INDEX credentials_due ON credentials (next_refresh_at);
CREATE INDEX credentials_status ON credentials (status);

-- Client secrets and refresh tokens, with AWS-style staging labels.
-- `version` counts per (credential, kind) and is bound into the envelope.
CREATE TABLE secret_versions (
	id		INTEGER PRIMARY KEY AUTOINCREMENT,
	credential_id	INTEGER NOT NULL
			REFERENCES credentials(id) ON DELETE CASCADE,
	kind		TEXT NOT NULL
			CHECK (kind IN ('client_secret', 'refresh_token')),
	version		INTEGER NOT NULL,
	stage		TEXT CHECK (stage IN ('current', 'pending', 'previous')),
	ciphertext	BLOB NOT NULL,
	key_version	INTEGER NOT NULL REFERENCES keyring(version),
	created_at	INTEGER NOT NULL,
	UNIQUE (credential_id, kind, version)
) STRICT;
CREATE UNIQUE INDEX secret_versions_stage
	ON secret_versions (credential_id, kind, stage)
	WHERE stage IS NOT NULL;

-- The current access token of a credential.
CREATE TABLE tokens (
	credential_id		INTEGER PRIMARY KEY
				REFERENCES credentials(id) ON DELETE CASCADE,
	generation		INTEGER NOT NULL,
	ciphertext		BLOB NOT NULL,
	key_version		INTEGER NOT NULL REFERENCES keyring(version),
	token_type		TEXT NOT NULL,
	granted_scope		TEXT NOT NULL DEFAULT '',
	issued_at		INTEGER NOT NULL,
	expires_at		INTEGER NOT NULL,
	refresh_token_expires_at INTEGER
) STRICT;

-- Append-only audit trail; ids are consecutive, each row's hash is a
-- keyed BLAKE2b over the previous hash and its canonical content.  Orgs
-- and credentials are copied by id and name so events outlive them.
CREATE TABLE events (
	id		INTEGER PRIMARY KEY,
	time_ms		INTEGER NOT NULL,
	actor		TEXT NOT NULL,
	org_id		INTEGER,
	org		TEXT NOT NULL DEFAULT '',
	credential_id	INTEGER,
	credential	TEXT NOT NULL DEFAULT '',
	kind		TEXT NOT NULL,
	http_status	INTEGER,
	oauth_error	TEXT NOT NULL DEFAULT '',
	outcome		TEXT NOT NULL DEFAULT '',
	detail		TEXT NOT NULL DEFAULT '{}',
	hash		BLOB NOT NULL
) STRICT;
CREATE INDEX events_org ON events (org, id);
CREATE INDEX events_kind ON events (kind, id);

-- REST API keys: the secret is shown once and stored as a keyed hash.
CREATE TABLE api_keys (
	id		INTEGER PRIMARY KEY AUTOINCREMENT,
	key_id		TEXT NOT NULL UNIQUE,
	name		TEXT NOT NULL UNIQUE,
	role		TEXT NOT NULL
			CHECK (role IN ('reader', 'operator', 'admin', 'token')),
	orgs		TEXT NOT NULL DEFAULT '*',
	secret_hash	BLOB NOT NULL,
	created_at	INTEGER NOT NULL,
	last_used_at	INTEGER,
	revoked_at	INTEGER
) STRICT;

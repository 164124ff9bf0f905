-- 0003_webhooks: push alerts (README.md "Webhooks").
-- A webhook's signing secret is an envelope bound to the row's id and
-- URL (vault/webhook.c); nothing else here is secret.  The outbox holds
-- the exact JSON to POST, written in the same transaction as the audit
-- event it reports, one row per subscribed webhook, until a 2xx answer.

CREATE TABLE webhooks (
	id		INTEGER PRIMARY KEY AUTOINCREMENT,
	url		TEXT NOT NULL UNIQUE,
	events		TEXT NOT NULL,		-- comma list of event names
	secret_ct	BLOB NOT NULL,
	key_version	INTEGER NOT NULL REFERENCES keyring(version),
	created_at	INTEGER NOT NULL
) STRICT;

CREATE TABLE webhook_outbox (
	id		INTEGER PRIMARY KEY AUTOINCREMENT,
	webhook_id	INTEGER NOT NULL
			REFERENCES webhooks(id) ON DELETE CASCADE,
	event_id	INTEGER NOT NULL,	-- the audit event reported
	kind		TEXT NOT NULL,		-- revoked, failing, ...
	body		TEXT NOT NULL,		-- the JSON POSTed; no secret
	attempts	INTEGER NOT NULL DEFAULT 0,
	-- Due when <= now; a sender's claim moves it a lease ahead.
	next_attempt_at	INTEGER NOT NULL,
	last_status	INTEGER,		-- HTTP status of the last try
	last_error	TEXT NOT NULL DEFAULT '',
	delivered_at	INTEGER,
	created_at	INTEGER NOT NULL
) STRICT;
CREATE INDEX webhook_outbox_due ON webhook_outbox (next_attempt_at)
	WHERE delivered_at IS NULL;
CREATE INDEX webhook_outbox_webhook ON webhook_outbox (webhook_id, id);

-- The alert a credential is in (revoked, invalid_client, failing), so
-- that a state is reported once, not on every retry, and `recovered`
-- follows the first good refresh after it.
CREATE TABLE webhook_alert_state (
	credential_id	INTEGER PRIMARY KEY
			REFERENCES credentials(id) ON DELETE CASCADE,
	alert		TEXT NOT NULL,
	event_id	INTEGER NOT NULL,
	since		INTEGER NOT NULL
) STRICT;
-- Credentials already in such a state when this migration runs (event 0).
INSERT INTO webhook_alert_state (credential_id, alert, event_id, since)
	SELECT id, CASE status WHEN 'unknown' THEN 'failing' ELSE status END,
	    0, CAST(strftime('%s', 'now') AS INTEGER)
	FROM credentials
	WHERE status IN ('revoked', 'invalid_client', 'failing', 'unknown');

/*
 * outbox.c — which audit events are alerts, and the deliveries that
 * carry them to webhooks until each is answered 2xx.
 *
 *   audit event                          alert (webhook event)
 *   credential.revoked                   revoked
 *   credential.invalid_client            invalid_client
 *   refresh.failed, .rate_limited,       failing, when they leave the
 *     .outcome_unknown                     credential failing or unknown
 *   scope_drift                          scope_drift
 *   refresh.ok                           recovered, after any of the
 *                                          three states above
 *
 * revoked, invalid_client and failing are states: one alert when a
 * credential enters one (webhook_alert_state remembers it), not one per
 * retry; the first refresh.ok after it is `recovered`, whatever put the
 * credential back to work (a retry, a new secret).  scope_drift comes
 * once per new drift already (rotation/policy.c).
 *
 * outbox_enqueue() runs inside event_append()'s transaction, so an
 * alert is queued exactly when its event is committed: a crash cannot
 * keep one without the other.  Delivery body (JSON, keys in this order;
 * never a secret — the audit detail holds none):
 *
 *   id              the delivery's id (also X-Orgvault-Delivery)
 *   event           the alert
 *   time            the audit event's time, RFC 3339 UTC with ms
 *   org, credential slugs
 *   status          the credential's status after the event
 *   recovered_from  recovered only: the state it left
 *   audit_event_id  the audit event; audit_kind its kind
 *   detail          the audit event's detail object
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "util/timefmt.h"
#include "vault/vault_int.h"

enum alert_source { SRC_NONE, SRC_STATE, SRC_FAILURE, SRC_DRIFT, SRC_OK };

static enum alert_source
alert_source(const char *kind, const char **alert)
{
	if (strcmp(kind, "refresh.ok") == 0) {
		*alert = "recovered";
		return SRC_OK;
	}
	if (strcmp(kind, "credential.revoked") == 0) {
		*alert = "revoked";
		return SRC_STATE;
	}
	if (strcmp(kind, "credential.invalid_client") == 0) {
		*alert = "invalid_client";
		return SRC_STATE;
	}
	if (strcmp(kind, "credential.secret_or_grant_refused") == 0) {
		*alert = "secret_or_grant_refused";
		return SRC_STATE;
	}
	if (strcmp(kind, "credential.tampered") == 0) {
		*alert = "tampered";
		return SRC_STATE;
	}
	if (strcmp(kind, "refresh.failed") == 0 ||
	    strcmp(kind, "refresh.rate_limited") == 0 ||
	    strcmp(kind, "refresh.outcome_unknown") == 0) {
		*alert = "failing";
		return SRC_FAILURE;
	}
	if (strcmp(kind, "scope_drift") == 0) {
		*alert = "scope_drift";
		return SRC_DRIFT;
	}
	return SRC_NONE;
}

/* Puts the credential in state `alert` (since event_id). */
static enum ov_rc
state_write(struct vault *v, int64_t cred_id, const char *alert,
    int64_t event_id)
{
	struct db_stmt *st;
	enum ov_rc rc;
	int src;

	if ((rc = db_prepare(v, "INSERT INTO webhook_alert_state "
	    "(credential_id, alert, event_id, since) VALUES (?1, ?2, ?3, ?4) "
	    "ON CONFLICT (credential_id) DO UPDATE SET alert = ?2, "
	    "event_id = ?3, since = ?4", &st)) != OV_OK)
		return rc;
	db_bind_int64(st, 1, cred_id);
	db_bind_text(st, 2, alert, -1);
	db_bind_int64(st, 3, event_id);
	db_bind_int64(st, 4, timefmt_now());
	src = db_step(st);
	db_finish(v, st);
	return src == DB_DONE ? OV_OK :
	    db_err(v, src, "recording an alert state");
}

/*
 * The credential's alert state into prior ("" if none); with `clear`
 * it is deleted at the same time (the refresh.ok path: one statement
 * that finds nothing in the common case).
 */
static enum ov_rc
state_read(struct vault *v, int64_t cred_id, int clear, char *prior,
    size_t len)
{
	struct db_stmt *st;
	enum ov_rc rc;
	int src;

	prior[0] = '\0';
	if ((rc = db_prepare(v, clear ? "DELETE FROM webhook_alert_state "
	    "WHERE credential_id = ? RETURNING alert" : "SELECT alert FROM "
	    "webhook_alert_state WHERE credential_id = ?", &st)) != OV_OK)
		return rc;
	db_bind_int64(st, 1, cred_id);
	if ((src = db_step(st)) == DB_ROW) {
		rc = db_text(st, 0, prior, len);
		src = db_step(st);		/* RETURNING: run to the end */
	}
	if (rc == OV_OK && src != DB_DONE)
		rc = db_err(v, src, "reading an alert state");
	db_finish(v, st);
	return rc;
}

static enum ov_rc
cred_status(struct vault *v, int64_t cred_id, char *buf, size_t len)
{
	struct db_stmt *st;
	enum ov_rc rc;
	int src;

	buf[0] = '\0';
	if ((rc = db_prepare(v, "SELECT status FROM credentials WHERE id = ?",
	    &st)) != OV_OK)
		return rc;
	db_bind_int64(st, 1, cred_id);
	if ((src = db_step(st)) == DB_ROW)
		rc = db_text(st, 0, buf, len);
	else if (src != DB_DONE)
		rc = db_err(v, src, "reading a credential's status");
	db_finish(v, st);
	return rc;
}

static json_t *
body_new(const struct event_rec *e, const char *alert, int64_t event_id,
    int64_t time_ms, const char *detail, const char *status,
    const char *prior)
{
	char when[40];
	json_t *d = json_loads(detail, 0, NULL), *b;

	b = json_pack("{s:I, s:s, s:s, s:s, s:s, s:s}", "id", (json_int_t)0,
	    "event", alert, "time", timefmt_rfc3339_ms(time_ms, when,
	    sizeof(when)), "org", e->org ? e->org : "", "credential",
	    e->credential ? e->credential : "", "status", status);
	if (b == NULL) {
		json_decref(d);
		return NULL;
	}
	if (prior)
		json_object_set_new(b, "recovered_from", json_string(prior));
	json_object_set_new(b, "audit_event_id", json_integer(event_id));
	json_object_set_new(b, "audit_kind", json_string(e->kind));
	json_object_set_new(b, "detail", json_is_object(d) ? d :
	    json_object());
	if (!json_is_object(d))
		json_decref(d);
	return b;
}

/* One delivery for webhook_id: its row, then its body naming its id. */
static enum ov_rc
delivery_insert(struct vault *v, int64_t webhook_id, const char *alert,
    int64_t event_id, json_t *body)
{
	struct db_stmt *st;
	int64_t now = timefmt_now(), id = 0;
	char *text;
	enum ov_rc rc;
	int src;

	if ((rc = db_prepare(v, "INSERT INTO webhook_outbox (webhook_id, "
	    "event_id, kind, body, next_attempt_at, created_at) VALUES "
	    "(?, ?, ?, '', ?, ?) RETURNING id", &st)) != OV_OK)
		return rc;
	db_bind_int64(st, 1, webhook_id);
	db_bind_int64(st, 2, event_id);
	db_bind_text(st, 3, alert, -1);
	db_bind_int64(st, 4, now);
	db_bind_int64(st, 5, now);
	if ((src = db_step(st)) == DB_ROW) {
		id = db_col_int64(st, 0);
		src = db_step(st);
	}
	db_finish(v, st);
	if (id == 0 || src != DB_DONE)
		return db_err(v, src, "queueing a webhook delivery");
	json_object_set_new(body, "id", json_integer(id));
	if ((text = json_dumps(body, JSON_COMPACT)) == NULL)
		return ov_seterr(OV_ENOMEM, "out of memory");
	if ((rc = db_prepare(v, "UPDATE webhook_outbox SET body = ? WHERE "
	    "id = ?", &st)) == OV_OK) {
		db_bind_text(st, 1, text, -1);
		db_bind_int64(st, 2, id);
		if ((src = db_step(st)) != DB_DONE)
			rc = db_err(v, src, "queueing a webhook delivery");
		db_finish(v, st);
	}
	free(text);
	return rc;
}

/* A delivery for every webhook subscribed to alert. */
static enum ov_rc
queue(struct vault *v, const char *alert, int64_t event_id, json_t *body)
{
	struct db_stmt *st;
	enum ov_rc rc;
	int src;

	if ((rc = db_prepare(v, "SELECT id FROM webhooks WHERE instr(',' || "
	    "events || ',', ',' || ? || ',') > 0 ORDER BY id", &st)) != OV_OK)
		return rc;
	db_bind_text(st, 1, alert, -1);
	while ((src = db_step(st)) == DB_ROW)
		if ((rc = delivery_insert(v, db_col_int64(st, 0), alert,
		    event_id, body)) != OV_OK)
			break;
	if (rc == OV_OK && src != DB_DONE)
		rc = db_err(v, src, "reading webhooks");
	db_finish(v, st);
	return rc;
}

enum ov_rc
outbox_enqueue(struct vault *v, const struct event_rec *e, int64_t event_id,
    int64_t time_ms, const char *detail)
{
	char prior[32], status[32];
	const char *alert = NULL;
	enum alert_source src = alert_source(e->kind, &alert);
	json_t *body;
	enum ov_rc rc;

	if (src == SRC_NONE || e->cred_id == 0)
		return OV_OK;
	if (src == SRC_OK) {
		/* The hot path: one statement, nothing found. */
		if ((rc = state_read(v, e->cred_id, 1, prior,
		    sizeof(prior))) != OV_OK || prior[0] == '\0')
			return rc;
	}
	if ((rc = cred_status(v, e->cred_id, status, sizeof(status))))
		return rc;
	if (src == SRC_FAILURE && strcmp(status, "failing") != 0 &&
	    strcmp(status, "unknown") != 0)
		return OV_OK;		/* a failure, not yet a failing one */
	if (src == SRC_STATE || src == SRC_FAILURE) {
		char now[32];

		if ((rc = state_read(v, e->cred_id, 0, now, sizeof(now))))
			return rc;
		if (strcmp(now, alert) == 0)
			return OV_OK;	/* said already */
		if ((rc = state_write(v, e->cred_id, alert, event_id)))
			return rc;
	}
	if ((body = body_new(e, alert, event_id, time_ms, detail, status,
	    src == SRC_OK ? prior : NULL)) == NULL)
		return ov_seterr(OV_ENOMEM, "out of memory");
	rc = queue(v, alert, event_id, body);
	json_decref(body);
	return rc;
}

/* ------------------------------------------------------------ delivery */

#define DELIVERY_COLS "o.id, o.webhook_id, o.event_id, w.url, o.kind, " \
	"o.attempts, coalesce(o.last_status, 0), o.last_error, " \
	"o.created_at, o.next_attempt_at, coalesce(o.delivered_at, 0)"

static enum ov_rc
delivery_row(struct db_stmt *st, struct vault_delivery *d)
{
	enum ov_rc rc;

	memset(d, 0, sizeof(*d));
	d->id = db_col_int64(st, 0);
	d->webhook_id = db_col_int64(st, 1);
	d->event_id = db_col_int64(st, 2);
	if ((rc = db_text(st, 3, d->url, sizeof(d->url))) ||
	    (rc = db_text(st, 4, d->event, sizeof(d->event))) ||
	    (rc = db_text(st, 7, d->last_error, sizeof(d->last_error))))
		return rc;
	d->attempts = db_col_int(st, 5);
	d->last_status = (long)db_col_int64(st, 6);
	d->created_at = db_col_int64(st, 8);
	d->next_attempt_at = db_col_int64(st, 9);
	d->delivered_at = db_col_int64(st, 10);
	return OV_OK;
}

enum ov_rc
vault_delivery_list(struct vault *v, int pending_only, int limit,
    vault_delivery_cb cb, void *arg)
{
	struct vault_delivery d;
	struct db_stmt *st;
	enum ov_rc rc;
	int src;

	if ((rc = db_prepare(v, "SELECT " DELIVERY_COLS " FROM webhook_outbox "
	    "o JOIN webhooks w ON w.id = o.webhook_id WHERE (?1 = 0 OR "
	    "o.delivered_at IS NULL) ORDER BY o.id DESC LIMIT ?2", &st)))
		return rc;
	db_bind_int(st, 1, pending_only);
	db_bind_int(st, 2, limit > 0 ? limit : 100);
	while ((src = db_step(st)) == DB_ROW)
		if ((rc = delivery_row(st, &d)) != OV_OK || cb(&d, arg))
			break;
	if (rc == OV_OK && src != DB_DONE && src != DB_ROW)
		rc = db_err(v, src, "listing webhook deliveries");
	db_finish(v, st);
	return rc;
}

/* Earliest next_attempt_at of an undelivered row; 0 when none. */
static enum ov_rc
next_due(struct vault *v, int64_t *at)
{
	struct db_stmt *st;
	enum ov_rc rc;
	int src;

	if ((rc = db_prepare(v, "SELECT coalesce(min(next_attempt_at), 0) "
	    "FROM webhook_outbox WHERE delivered_at IS NULL", &st)) != OV_OK)
		return rc;
	if ((src = db_step(st)) == DB_ROW)
		*at = db_col_int64(st, 0);
	else
		rc = db_err(v, src, "reading webhook deliveries");
	db_finish(v, st);
	return rc;
}

/* Inside the claim's transaction: the most overdue row, leased. */
static enum ov_rc
claim_one(struct vault *v, int64_t now, int lease_s,
    struct vault_delivery *d, int *found)
{
	struct db_stmt *st;
	enum ov_rc rc;
	int src;

	*found = 0;
	if ((rc = db_prepare(v, "SELECT " DELIVERY_COLS ", o.body FROM "
	    "webhook_outbox o JOIN webhooks w ON w.id = o.webhook_id WHERE "
	    "o.delivered_at IS NULL AND o.next_attempt_at <= ? ORDER BY "
	    "o.next_attempt_at, o.id LIMIT 1", &st)) != OV_OK)
		return rc;
	db_bind_int64(st, 1, now);
	if ((src = db_step(st)) == DB_ROW &&
	    (rc = delivery_row(st, d)) == OV_OK) {
		d->body_len = (size_t)db_col_bytes(st, 11);
		if ((d->body = malloc(d->body_len + 1)) == NULL)
			rc = ov_seterr(OV_ENOMEM, "out of memory");
		else {
			memcpy(d->body, db_col_text(st, 11),
			    d->body_len);
			d->body[d->body_len] = '\0';
			*found = 1;
		}
	} else if (src != DB_ROW && src != DB_DONE)
		rc = db_err(v, src, "claiming a webhook delivery");
	db_finish(v, st);
	if (rc != OV_OK || !*found)
		return rc;
	if ((rc = db_prepare(v, "UPDATE webhook_outbox SET next_attempt_at = ? "
	    "WHERE id = ?", &st)) != OV_OK)
		return rc;
	db_bind_int64(st, 1, now + lease_s);
	db_bind_int64(st, 2, d->id);
	if ((src = db_step(st)) != DB_DONE)
		rc = db_err(v, src, "claiming a webhook delivery");
	db_finish(v, st);
	return rc;
}

enum ov_rc
vault_delivery_claim(struct vault *v, int64_t now, int lease_s,
    struct vault_delivery *out, int64_t *due)
{
	struct vault_delivery d;
	int64_t at = 0;
	enum ov_rc rc;
	int found;

	/* A read first: the sender polls, and most polls find nothing. */
	if ((rc = next_due(v, &at)) != OV_OK)
		return rc;
	if (at == 0 || at > now) {
		*due = at;
		return OV_ENOTFOUND;
	}
	if ((rc = tx_begin(v)) != OV_OK)
		return rc;
	memset(&d, 0, sizeof(d));
	rc = claim_one(v, now, lease_s, &d, &found);
	if ((rc = tx_end(v, rc)) != OV_OK || !found) {
		vault_delivery_cleanup(&d);
		if (rc == OV_OK) {
			*due = now + 1;		/* another sender took it */
			rc = OV_ENOTFOUND;
		}
		return rc;
	}
	*out = d;
	return OV_OK;
}

void
vault_delivery_cleanup(struct vault_delivery *d)
{
	if (d == NULL)
		return;
	free(d->body);
	d->body = NULL;
	d->body_len = 0;
}

enum ov_rc
vault_delivery_done(struct vault *v, int64_t id, long http_status,
    const char *error, int64_t retry_at)
{
	char err[OV_WEBHOOK_ERROR_MAX + 1];
	struct db_stmt *st;
	enum ov_rc rc;
	int src;

	snprintf(err, sizeof(err), "%s", error ? error : "");
	/* A webhook removed meanwhile took the row with it: nothing to do. */
	if ((rc = db_prepare(v, "UPDATE webhook_outbox SET attempts = "
	    "attempts + 1, last_status = nullif(?1, 0), last_error = ?2, "
	    "delivered_at = CASE WHEN ?3 = 0 THEN ?4 END, next_attempt_at = "
	    "CASE WHEN ?3 = 0 THEN next_attempt_at ELSE ?3 END "
	    "WHERE id = ?5 AND delivered_at IS NULL", &st)) != OV_OK)
		return rc;
	db_bind_int64(st, 1, http_status);
	db_bind_text(st, 2, err, -1);
	db_bind_int64(st, 3, retry_at);
	db_bind_int64(st, 4, timefmt_now());
	db_bind_int64(st, 5, id);
	src = db_step(st);
	db_finish(v, st);
	return src == DB_DONE ? OV_OK :
	    db_err(v, src, "recording a webhook delivery");
}

enum ov_rc
vault_delivery_prune(struct vault *v, int64_t before, int64_t *n)
{
	struct db_stmt *st;
	enum ov_rc rc;
	int src;

	if ((rc = db_prepare(v, "DELETE FROM webhook_outbox WHERE "
	    "delivered_at IS NOT NULL AND delivered_at < ?", &st)) != OV_OK)
		return rc;
	db_bind_int64(st, 1, before);
	src = db_step(st);
	if (src == DB_DONE)
		*n = db_changes(v->db);
	db_finish(v, st);
	return src == DB_DONE ? OV_OK :
	    db_err(v, src, "pruning webhook deliveries");
}

/*
 * webhook.c — the webhooks that push alerts: add, list, remove, and the
 * one way to their signing secrets.
 *
 *   webhooks.secret_ct  envelope of the signing secret, binding
 *                       "webhooks|secret_ct|<id>|<url>"
 *
 * The URL is in the binding, so a row whose URL was changed behind
 * orgvault's back no longer opens: its alerts are not signed for (and
 * sent to) a receiver nobody added.  The secret is opened only by
 * vault_webhook_secret_open(), for the sender, one delivery at a time;
 * never listed, logged, put in an event or a delivery.  What is queued
 * and sent lives in outbox.c.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "util/timefmt.h"
#include "util/netpolicy.h"
#include "util/validate.h"
#include "vault/envelope.h"
#include "vault/vault_int.h"

#define WEBHOOK_COLS "w.id, w.url, w.events, w.created_at, " \
	"(SELECT count(*) FROM webhook_outbox o WHERE o.webhook_id = w.id " \
	"AND o.delivered_at IS NULL), " \
	"(SELECT count(*) FROM webhook_outbox o WHERE o.webhook_id = w.id " \
	"AND o.delivered_at IS NOT NULL), " \
	"(SELECT coalesce(max(o.delivered_at), 0) FROM webhook_outbox o " \
	"WHERE o.webhook_id = w.id)"

void
binding_webhook(char *buf, size_t len, int64_t id, const char *url)
{
	snprintf(buf, len, "webhooks|secret_ct|%lld|%s", (long long)id, url);
}

static enum ov_rc
webhook_row(struct db_stmt *st, struct vault_webhook *w)
{
	enum ov_rc rc;

	memset(w, 0, sizeof(*w));
	w->id = db_col_int64(st, 0);
	if ((rc = db_text(st, 1, w->url, sizeof(w->url))) ||
	    (rc = db_text(st, 2, w->events, sizeof(w->events))))
		return rc;
	w->created_at = db_col_int64(st, 3);
	w->pending = db_col_int64(st, 4);
	w->delivered = db_col_int64(st, 5);
	w->last_delivered_at = db_col_int64(st, 6);
	return OV_OK;
}

/*
 * "all", NULL, or names of VAULT_WEBHOOK_EVENTS separated by ','; out
 * gets them in VAULT_WEBHOOK_EVENTS order, each once.
 */
static enum ov_rc
events_parse(const char *in, char *out, size_t len)
{
	static const char *const names[] = { "revoked", "invalid_client",
	    "secret_or_grant_refused", "scope_drift", "failing", "recovered",
	    "tampered" };
	enum { NNAMES = sizeof(names) / sizeof(names[0]) };
	int want[NNAMES] = { 0 };
	const char *p;
	size_t n, i;

	if (in == NULL || strcmp(in, "all") == 0)
		in = VAULT_WEBHOOK_EVENTS;
	for (p = in;; p += n + 1) {
		n = strcspn(p, ",");
		for (i = 0; i < NNAMES; i++)
			if (strlen(names[i]) == n &&
			    strncmp(p, names[i], n) == 0)
				break;
		if (i == NNAMES)
			return ov_seterr(OV_EINVAL, "events: '%.*s' is not an "
			    "event; give some of %s separated by ',', or all",
			    (int)(n > 32 ? 32 : n), p, VAULT_WEBHOOK_EVENTS);
		want[i] = 1;
		if (p[n] == '\0')
			break;
	}
	out[0] = '\0';
	for (i = 0; i < NNAMES; i++)
		if (want[i])
			snprintf(out + strlen(out), len - strlen(out), "%s%s",
			    out[0] ? "," : "", names[i]);
	return OV_OK;
}

static enum ov_rc
webhook_event(struct vault *v, const char *kind,
    const struct vault_webhook *w)
{
	struct event_rec ev = { .kind = kind };
	json_t *d;
	enum ov_rc rc;

	if ((d = json_pack("{s:I, s:s, s:s}", "webhook_id", (json_int_t)w->id,
	    "url", w->url, "events", w->events)) == NULL)
		return ov_seterr(OV_ENOMEM, "out of memory");
	if (strcmp(kind, "webhook.removed") == 0)
		json_object_set_new(d, "dropped_deliveries",
		    json_integer(w->pending));
	ev.detail = d;
	rc = event_append(v, &ev);
	json_decref(d);
	return rc;
}

/* A row with a placeholder secret, to learn its id for the binding. */
static enum ov_rc
webhook_insert(struct vault *v, struct vault_webhook *w)
{
	struct db_stmt *st;
	enum ov_rc rc;
	int src;

	if ((rc = db_prepare(v, "SELECT id FROM webhooks WHERE url = ?",
	    &st)) != OV_OK)
		return rc;
	db_bind_text(st, 1, w->url, -1);
	if ((src = db_step(st)) == DB_ROW)
		rc = ov_seterr(OV_ECONFLICT, "webhook %lld already posts to "
		    "%s; remove it first (orgvault webhook rm %lld)",
		    (long long)db_col_int64(st, 0), w->url,
		    (long long)db_col_int64(st, 0));
	else if (src != DB_DONE)
		rc = db_err(v, src, "reading webhooks");
	db_finish(v, st);
	if (rc != OV_OK)
		return rc;
	if ((rc = db_prepare(v, "INSERT INTO webhooks (url, events, "
	    "secret_ct, key_version, created_at) VALUES (?, ?, ?, "
	    "(SELECT max(version) FROM keyring), ?) RETURNING id",
	    &st)) != OV_OK)
		return rc;
	db_bind_text(st, 1, w->url, -1);
	db_bind_text(st, 2, w->events, -1);
	db_bind_blob(st, 3, "", 0);	/* sealed below, bound to the id */
	db_bind_int64(st, 4, w->created_at);
	if ((src = db_step(st)) == DB_ROW)
		w->id = db_col_int64(st, 0);
	else
		rc = db_err(v, src, "adding a webhook");
	db_finish(v, st);
	return rc;
}

/* The row MAC of webhook id as stored now; *ok: the stored MAC
 * matches.  *found 0: no such webhook. */
static enum ov_rc
webhook_mac_of(struct vault *v, int64_t id, unsigned char mac[32], int *ok,
    int *found)
{
	struct db_stmt *st;
	enum ov_rc rc;
	int src;

	*ok = *found = 0;
	if ((rc = db_prepare(v, "SELECT url, events, created_at, row_mac FROM "
	    "webhooks WHERE id = ?", &st)) != OV_OK)
		return rc;
	db_bind_int64(st, 1, id);
	if ((src = db_step(st)) == DB_ROW) {
		*found = 1;
		if ((rc = webhook_mac(v, id, (const char *)
		    db_col_text(st, 0), (const char *)
		    db_col_text(st, 1), db_col_int64(st, 2),
		    mac)) == OV_OK)
			*ok = row_mac_ok(mac, db_col_blob(st, 3),
			    db_col_bytes(st, 3));
	} else if (src != DB_DONE)
		rc = db_err(v, src, "reading a webhook");
	db_finish(v, st);
	return rc;
}

enum ov_rc
webhook_mac_write(struct vault *v, int64_t id)
{
	unsigned char mac[32];
	enum ov_rc rc;
	int ok, found;

	if ((rc = webhook_mac_of(v, id, mac, &ok, &found)) != OV_OK || !found)
		return rc;
	return row_mac_put(v, "UPDATE webhooks SET row_mac = ? WHERE id = ?",
	    id, mac, "writing a webhook's MAC");
}

static enum ov_rc
webhook_seal(struct vault *v, const struct vault_webhook *w,
    const struct secret *sec)
{
	struct db_stmt *st = NULL;
	unsigned char *env = NULL;
	char binding[OV_URL_MAX + 64];
	size_t envlen;
	uint32_t kv;
	enum ov_rc rc;
	int src;

	binding_webhook(binding, sizeof(binding), w->id, w->url);
	if ((rc = vault_env_seal(v, binding, sec->buf, sec->len, &env,
	    &envlen, &kv)) != OV_OK)
		return rc;
	if ((rc = db_prepare(v, "UPDATE webhooks SET secret_ct = ?, "
	    "key_version = ? WHERE id = ?", &st)) != OV_OK)
		goto out;
	db_bind_blob(st, 1, env, (int)envlen);
	db_bind_int64(st, 2, kv);
	db_bind_int64(st, 3, w->id);
	if ((src = db_step(st)) != DB_DONE)
		rc = db_err(v, src, "sealing a webhook secret");
out:
	db_finish(v, st);
	free(env);
	return rc;
}

enum ov_rc
vault_webhook_add(struct vault *v, const char *url, const char *events,
    const struct secret *sec, struct vault_webhook *out)
{
	struct vault_webhook w = { 0 };
	enum ov_rc rc;

	if ((rc = validate_url("webhook URL", url, w.url, sizeof(w.url))) ||
	    (rc = netpolicy_check_url("webhook URL", w.url)) ||
	    (rc = events_parse(events, w.events, sizeof(w.events))) ||
	    (rc = vault_need_key(v)))
		return rc;
	if (sec == NULL || sec->len < OV_WEBHOOK_SECRET_MIN ||
	    sec->len > OV_WEBHOOK_SECRET_MAX)
		return ov_seterr(OV_EINVAL, "the signing secret must be %d to "
		    "%d bytes (e.g. the output of: openssl rand -hex 32)",
		    OV_WEBHOOK_SECRET_MIN, OV_WEBHOOK_SECRET_MAX);
	w.created_at = timefmt_now();
	if ((rc = tx_begin(v)) != OV_OK)
		return rc;
	if ((rc = webhook_insert(v, &w)) == OV_OK &&
	    (rc = webhook_seal(v, &w, sec)) == OV_OK &&
	    (rc = webhook_mac_write(v, w.id)) == OV_OK)
		rc = webhook_event(v, "webhook.added", &w);
	if ((rc = tx_end(v, rc)) == OV_OK)
		*out = w;
	return rc;
}

enum ov_rc
vault_webhook_list(struct vault *v, vault_webhook_cb cb, void *arg)
{
	struct vault_webhook w;
	struct db_stmt *st;
	enum ov_rc rc;
	int src;

	if ((rc = db_prepare(v, "SELECT " WEBHOOK_COLS " FROM webhooks w "
	    "ORDER BY w.id", &st)) != OV_OK)
		return rc;
	while ((src = db_step(st)) == DB_ROW)
		if ((rc = webhook_row(st, &w)) != OV_OK || cb(&w, arg))
			break;
	if (rc == OV_OK && src != DB_DONE && src != DB_ROW)
		rc = db_err(v, src, "listing webhooks");
	db_finish(v, st);
	return rc;
}

/* The webhook named by ref: all digits is an id, anything else a URL. */
static enum ov_rc
webhook_find(struct vault *v, const char *ref, struct vault_webhook *w)
{
	char url[OV_URL_MAX + 1];
	struct db_stmt *st;
	int64_t id = 0;
	enum ov_rc rc;
	int src;

	if (ref[0] != '\0' && strspn(ref, "0123456789") == strlen(ref) &&
	    strlen(ref) < 19)
		id = strtoll(ref, NULL, 10);
	else if (validate_url("webhook URL", ref, url, sizeof(url)) != OV_OK)
		snprintf(url, sizeof(url), "%s", ref);	/* as stored, maybe */
	if ((rc = db_prepare(v, "SELECT " WEBHOOK_COLS " FROM webhooks w "
	    "WHERE w.id = ?1 OR w.url = ?2 OR w.url = ?3", &st)) != OV_OK)
		return rc;
	db_bind_int64(st, 1, id);
	db_bind_text(st, 2, id ? "" : url, -1);
	db_bind_text(st, 3, id ? "" : ref, -1);
	if ((src = db_step(st)) == DB_ROW)
		rc = webhook_row(st, w);
	else if (src == DB_DONE)
		rc = ov_seterr(OV_ENOTFOUND, "no webhook %s; list them with: "
		    "orgvault webhook list", id ? ref : "with that URL");
	else
		rc = db_err(v, src, "reading webhooks");
	db_finish(v, st);
	return rc;
}

enum ov_rc
vault_webhook_rm(struct vault *v, const char *ref, struct vault_webhook *out)
{
	struct vault_webhook w;
	struct db_stmt *st;
	enum ov_rc rc;
	int src;

	if ((rc = tx_begin(v)) != OV_OK)
		return rc;
	if ((rc = webhook_find(v, ref, &w)) != OV_OK)
		return tx_end(v, rc);
	/* Its deliveries go with it (ON DELETE CASCADE). */
	if ((rc = db_prepare(v, "DELETE FROM webhooks WHERE id = ?", &st)))
		return tx_end(v, rc);
	db_bind_int64(st, 1, w.id);
	src = db_step(st);
	db_finish(v, st);
	if (src != DB_DONE)
		return tx_end(v, db_err(v, src, "removing a webhook"));
	if ((rc = tx_end(v, webhook_event(v, "webhook.removed", &w))) ==
	    OV_OK)
		*out = w;
	return rc;
}

enum ov_rc
vault_webhook_secret_open(struct vault *v, int64_t id, struct secret **out)
{
	char binding[OV_URL_MAX + 64];
	struct db_stmt *st;
	enum ov_rc rc;
	int src;

	unsigned char mac[32];
	int ok, found;

	if ((rc = vault_need_key(v)) != OV_OK)
		return rc;
	/* A row whose MAC fails (URL or events edited) signs nothing. */
	if ((rc = webhook_mac_of(v, id, mac, &ok, &found)) != OV_OK)
		return rc;
	if (found && !ok)
		return ov_seterr(OV_EINTEGRITY, "webhook %lld: its row MAC "
		    "does not match (edited in the database); run: orgvault "
		    "check", (long long)id);
	if ((rc = db_prepare(v, "SELECT url, secret_ct FROM webhooks WHERE "
	    "id = ?", &st)) != OV_OK)
		return rc;
	db_bind_int64(st, 1, id);
	if ((src = db_step(st)) == DB_ROW) {
		binding_webhook(binding, sizeof(binding), id,
		    db_col_text(st, 0));
		if ((rc = vault_env_open(v, binding, db_col_blob(st,
		    1), (size_t)db_col_bytes(st, 1), out)) != OV_OK)
			rc = ov_seterr(rc, "the signing secret of webhook %lld "
			    "does not open (its row was changed outside "
			    "orgvault?); run: orgvault check", (long long)id);
	} else if (src == DB_DONE)
		rc = ov_seterr(OV_ENOTFOUND, "no webhook %lld", (long long)id);
	else
		rc = db_err(v, src, "reading a webhook");
	db_finish(v, st);
	return rc;
}

enum ov_rc
webhook_check(struct vault *v, vault_check_cb cb, void *arg,
    int64_t *checked, int64_t *failures)
{
	struct vault_check_failure f = { "webhooks", "secret_ct", 0, NULL };
	char binding[OV_URL_MAX + 64];
	struct secret *pt;
	struct db_stmt *st;
	uint32_t kv;
	enum ov_rc rc;
	int src;

	if ((rc = db_prepare(v, "SELECT id, url, secret_ct, key_version FROM "
	    "webhooks ORDER BY id", &st)) != OV_OK)
		return rc;
	while ((src = db_step(st)) == DB_ROW) {
		const unsigned char *ct = db_col_blob(st, 2);
		size_t len = (size_t)db_col_bytes(st, 2);

		(*checked)++;
		f.row = db_col_int64(st, 0);
		f.column = "secret_ct";
		f.problem = NULL;
		binding_webhook(binding, sizeof(binding), f.row,
		    db_col_text(st, 1));
		if (envelope_key_version(ct, len, &kv) != OV_OK)
			f.problem = "envelope is malformed";
		else if (kv != (uint32_t)db_col_int64(st, 3)) {
			f.column = "key_version";
			f.problem = "recorded key version differs from the "
			    "envelope's";
		} else if (vault_env_open(v, binding, ct, len, &pt) != OV_OK)
			f.problem = ov_errmsg();
		else {
			unsigned char mac[32];
			int ok, found;

			secret_free(pt);
			if ((rc = webhook_mac_of(v, f.row, mac, &ok, &found)))
				break;
			if (!ok) {
				f.column = "row_mac";
				f.problem = "its MAC does not match: the row "
				    "was edited in the database";
			}
		}
		if (f.problem) {
			(*failures)++;
			cb(&f, arg);
		}
	}
	if (src != DB_DONE)
		rc = db_err(v, src, "reading webhooks");
	db_finish(v, st);
	return rc;
}

/*
 * cred.c — credentials: rows, lookups, put and remove.
 *
 * A credential's secrets are versions with staging labels (secret.c);
 * a new one given here becomes `current` and, like a promoted client
 * secret, makes the credential active and due at once (cred_reschedule).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "util/timefmt.h"
#include "vault/vault_int.h"

#define CRED_COLS "c.id, c.org_id, o.slug, c.name, c.provider, c.region, " \
	"c.token_url, c.auth_method, c.grant_type, c.client_id, " \
	"c.expected_scope, c.refresh_fraction, c.refresh_age_s, c.status, " \
	"c.created_at, c.updated_at, " \
	"EXISTS (SELECT 1 FROM secret_versions s WHERE s.credential_id = " \
	"c.id AND s.kind = 'refresh_token' AND s.stage = 'current'), " \
	"EXISTS (SELECT 1 FROM secret_versions s WHERE s.credential_id = " \
	"c.id AND s.kind = 'client_secret' AND s.stage = 'pending'), " \
	"coalesce(c.next_refresh_at, 0), coalesce(t.expires_at, 0), " \
	"coalesce(t.issued_at, 0), coalesce(c.last_success_at, 0), " \
	"coalesce(c.last_attempt_at, 0), coalesce(c.unknown_outcome_at, 0), " \
	"coalesce(t.generation, 0), coalesce(c.lease_until, 0), " \
	"coalesce(c.lease_owner, ''), c.consecutive_failures, c.last_error, " \
	"coalesce(t.granted_scope, ''), " \
	"coalesce((SELECT s.created_at FROM secret_versions s WHERE " \
	"s.credential_id = c.id AND s.kind = 'refresh_token' AND " \
	"s.stage = 'current'), 0), " \
	"coalesce(t.refresh_token_expires_at, 0), c.refresh_token_kept"
#define CRED_FROM " FROM credentials c JOIN orgs o ON o.id = c.org_id " \
	"LEFT JOIN tokens t ON t.credential_id = c.id "

static enum ov_rc
cred_row(sqlite3_stmt *st, struct vault_cred *c)
{
	enum ov_rc rc;

	memset(c, 0, sizeof(*c));
	c->id = sqlite3_column_int64(st, 0);
	c->org_id = sqlite3_column_int64(st, 1);
	if ((rc = db_text(st, 2, c->org, sizeof(c->org))) ||
	    (rc = db_text(st, 3, c->name, sizeof(c->name))) ||
	    (rc = db_text(st, 4, c->provider, sizeof(c->provider))) ||
	    (rc = db_text(st, 5, c->region, sizeof(c->region))) ||
	    (rc = db_text(st, 6, c->token_url, sizeof(c->token_url))) ||
	    (rc = db_text(st, 7, c->auth, sizeof(c->auth))) ||
	    (rc = db_text(st, 8, c->grant, sizeof(c->grant))) ||
	    (rc = db_text(st, 9, c->client_id, sizeof(c->client_id))) ||
	    (rc = db_text(st, 10, c->expected_scope,
	    sizeof(c->expected_scope))) ||
	    (rc = db_text(st, 13, c->status, sizeof(c->status))))
		return rc;
	c->refresh_fraction = sqlite3_column_double(st, 11);
	c->refresh_age_s = sqlite3_column_int64(st, 12);
	c->created_at = sqlite3_column_int64(st, 14);
	c->updated_at = sqlite3_column_int64(st, 15);
	c->has_refresh_token = sqlite3_column_int(st, 16);
	c->has_pending_secret = sqlite3_column_int(st, 17);
	c->next_refresh_at = sqlite3_column_int64(st, 18);
	c->expires_at = sqlite3_column_int64(st, 19);
	c->issued_at = sqlite3_column_int64(st, 20);
	c->last_success_at = sqlite3_column_int64(st, 21);
	c->last_attempt_at = sqlite3_column_int64(st, 22);
	c->unknown_outcome_at = sqlite3_column_int64(st, 23);
	c->token_generation = sqlite3_column_int64(st, 24);
	c->lease_until = sqlite3_column_int64(st, 25);
	c->consecutive_failures = sqlite3_column_int(st, 27);
	c->refresh_token_set_at = sqlite3_column_int64(st, 30);
	c->refresh_token_expires_at = sqlite3_column_int64(st, 31);
	c->refresh_token_kept = sqlite3_column_int(st, 32);
	if ((rc = db_text(st, 26, c->lease_owner, sizeof(c->lease_owner))) ||
	    (rc = db_text(st, 28, c->last_error, sizeof(c->last_error))) ||
	    (rc = db_text(st, 29, c->granted_scope, sizeof(c->granted_scope))))
		return rc;
	return OV_OK;
}

/* Walks the rows of a prepared, bound CRED_COLS query; finishes st. */
static enum ov_rc
cred_walk(struct vault *v, sqlite3_stmt *st, vault_cred_cb cb, void *arg)
{
	struct vault_cred c;
	enum ov_rc rc = OV_OK;
	int src;

	while ((src = sqlite3_step(st)) == SQLITE_ROW)
		if ((rc = cred_row(st, &c)) != OV_OK || cb(&c, arg))
			break;
	if (rc == OV_OK && src != SQLITE_DONE && src != SQLITE_ROW)
		rc = db_err(v, src, "reading credentials");
	db_finish(v, st);
	return rc;
}

struct found {
	struct vault_cred	*out;
	int			 n;
};

static int
found_one(const struct vault_cred *c, void *arg)
{
	struct found *f = arg;

	*f->out = *c;
	f->n = 1;
	return 1;
}

enum ov_rc
vault_cred_get(struct vault *v, const char *org, const char *name,
    struct vault_cred *out)
{
	struct vault_cred c;
	struct found f = { &c, 0 };
	sqlite3_stmt *st;
	enum ov_rc rc;

	if ((rc = db_prepare(v, "SELECT " CRED_COLS CRED_FROM
	    "WHERE o.slug = ? AND c.name = ?", &st)) != OV_OK)
		return rc;
	sqlite3_bind_text(st, 1, org, -1, SQLITE_STATIC);
	sqlite3_bind_text(st, 2, name, -1, SQLITE_STATIC);
	if ((rc = cred_walk(v, st, found_one, &f)) != OV_OK)
		return rc;
	if (!f.n)
		return ov_seterr(OV_ENOTFOUND, "no credential %s in org %s",
		    name, org);
	*out = c;
	return OV_OK;
}

enum ov_rc
vault_cred_by_id(struct vault *v, int64_t id, struct vault_cred *out)
{
	struct vault_cred c;
	struct found f = { &c, 0 };
	sqlite3_stmt *st;
	enum ov_rc rc;

	if ((rc = db_prepare(v, "SELECT " CRED_COLS CRED_FROM "WHERE c.id = ?",
	    &st)) != OV_OK)
		return rc;
	sqlite3_bind_int64(st, 1, id);
	if ((rc = cred_walk(v, st, found_one, &f)) != OV_OK)
		return rc;
	if (!f.n)
		return ov_seterr(OV_ENOTFOUND, "credential %lld was removed",
		    (long long)id);
	*out = c;
	return OV_OK;
}

enum ov_rc
vault_cred_list(struct vault *v, const struct vault_cred_filter *f,
    vault_cred_cb cb, void *arg)
{
	sqlite3_stmt *st;
	enum ov_rc rc;

	if ((rc = db_prepare(v, "SELECT " CRED_COLS CRED_FROM
	    "WHERE (?1 IS NULL OR o.slug = ?1) "
	    "AND (?2 IS NULL OR c.status = ?2) AND "
	    "(?3 IS NULL OR c.provider = ?3) ORDER BY o.slug, c.name",
	    &st)) != OV_OK)
		return rc;
	sqlite3_bind_text(st, 1, f->org, -1, SQLITE_STATIC);
	sqlite3_bind_text(st, 2, f->status, -1, SQLITE_STATIC);
	sqlite3_bind_text(st, 3, f->provider, -1, SQLITE_STATIC);
	return cred_walk(v, st, cb, arg);
}

/* Field names whose values differ, for the event detail. */
static json_t *
changed_fields(const struct vault_cred *a, const struct vault_cred *b)
{
	json_t *f = json_array();

#define CMP(field, label) \
	if (strcmp(a->field, b->field) != 0) \
		json_array_append_new(f, json_string(label))
	CMP(region, "region");
	CMP(token_url, "token_url");
	CMP(auth, "auth");
	CMP(grant, "grant");
	CMP(client_id, "client_id");
	CMP(expected_scope, "expected_scope");
#undef CMP
	if (a->refresh_fraction != b->refresh_fraction ||
	    a->refresh_age_s != b->refresh_age_s)
		json_array_append_new(f, json_string("refresh_at"));
	return f;
}

static void
bind_cred(sqlite3_stmt *st, const struct vault_cred *c, int64_t now)
{
	sqlite3_bind_text(st, 1, c->region, -1, SQLITE_STATIC);
	sqlite3_bind_text(st, 2, c->token_url, -1, SQLITE_STATIC);
	sqlite3_bind_text(st, 3, c->auth, -1, SQLITE_STATIC);
	sqlite3_bind_text(st, 4, c->grant, -1, SQLITE_STATIC);
	sqlite3_bind_text(st, 5, c->client_id, -1, SQLITE_STATIC);
	sqlite3_bind_text(st, 6, c->expected_scope, -1, SQLITE_STATIC);
	sqlite3_bind_double(st, 7, c->refresh_fraction);
	sqlite3_bind_int64(st, 8, c->refresh_age_s);
	sqlite3_bind_int64(st, 9, now);
}

/* Writes the row; *id and *created on success. */
static enum ov_rc
cred_write(struct vault *v, const struct vault_cred *c,
    const struct vault_cred *old, int reauthorized, int64_t *id)
{
	sqlite3_stmt *st;
	int64_t now = timefmt_now();
	enum ov_rc rc;
	int src;

	if (old)
		rc = db_prepare(v, "UPDATE credentials SET region = ?1, "
		    "token_url = ?2, auth_method = ?3, grant_type = ?4, "
		    "client_id = ?5, expected_scope = ?6, refresh_fraction = ?7, "
		    "refresh_age_s = ?8, updated_at = ?9 WHERE id = ?10 "
		    "RETURNING id", &st);
	else
		rc = db_prepare(v, "INSERT INTO credentials (region, token_url, "
		    "auth_method, grant_type, client_id, expected_scope, "
		    "refresh_fraction, refresh_age_s, updated_at, created_at, "
		    "org_id, name, provider) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, "
		    "?8, ?9, ?9, ?10, ?11, ?12) RETURNING id", &st);
	if (rc != OV_OK)
		return rc;
	bind_cred(st, c, now);
	if (old)
		sqlite3_bind_int64(st, 10, old->id);
	else {
		sqlite3_bind_int64(st, 10, c->org_id);
		sqlite3_bind_text(st, 11, c->name, -1, SQLITE_STATIC);
		sqlite3_bind_text(st, 12, c->provider, -1, SQLITE_STATIC);
	}
	if ((src = sqlite3_step(st)) == SQLITE_ROW)
		*id = sqlite3_column_int64(st, 0);
	else
		rc = db_err(v, src, "writing a credential");
	db_finish(v, st);
	if (rc == OV_OK && old && reauthorized)
		rc = cred_reschedule(v, *id);
	return rc;
}

/* A new secret may fix what failed: active, no failures, due now. */
enum ov_rc
cred_reschedule(struct vault *v, int64_t cred_id)
{
	sqlite3_stmt *st;
	enum ov_rc rc;
	int src;

	if ((rc = db_prepare(v, "UPDATE credentials SET status = 'active', "
	    "status_reason = '', consecutive_failures = 0, "
	    "next_refresh_at = NULL, updated_at = ?2 WHERE id = ?1", &st)))
		return rc;
	sqlite3_bind_int64(st, 1, cred_id);
	sqlite3_bind_int64(st, 2, timefmt_now());
	if ((src = sqlite3_step(st)) != SQLITE_DONE)
		rc = db_err(v, src, "rescheduling a credential");
	db_finish(v, st);
	return rc;
}

enum ov_rc
vault_cred_put(struct vault *v, const struct vault_cred *in,
    const struct secret *client_secret, const struct secret *refresh_token,
    int *created)
{
	struct vault_cred c = *in, old;
	struct vault_org org;
	struct event_rec ev = { .org = in->org, .credential = in->name };
	json_t *detail = NULL, *secrets;
	int exists;
	enum ov_rc rc;

	if ((rc = vault_need_key(v)) != OV_OK || (rc = tx_begin(v)) != OV_OK)
		return rc;
	if ((rc = vault_org_get(v, in->org, &org)) != OV_OK)
		goto out;
	c.org_id = org.id;
	rc = vault_cred_get(v, in->org, in->name, &old);
	if (rc != OV_OK && rc != OV_ENOTFOUND)
		goto out;
	exists = (rc == OV_OK);
	rc = OV_OK;
	if (exists && strcmp(old.provider, c.provider) != 0) {
		rc = ov_seterr(OV_ECONFLICT, "credential %s/%s is a %s "
		    "credential; remove it before putting a %s one", c.org,
		    c.name, old.provider, c.provider);
		goto out;
	}
	if (!exists && client_secret == NULL) {
		rc = ov_seterr(OV_EINVAL, "a new credential needs a client "
		    "secret (--secret-file)");
		goto out;
	}
	if (strcmp(c.grant, "refresh_token") == 0 && refresh_token == NULL &&
	    !(exists && old.has_refresh_token)) {
		rc = ov_seterr(OV_EINVAL, "the refresh_token grant needs a "
		    "refresh token (--refresh-token-file)");
		goto out;
	}
	if ((rc = cred_write(v, &c, exists ? &old : NULL,
	    client_secret || refresh_token, &c.id)) != OV_OK)
		goto out;
	if (client_secret && (rc = vault_secret_store(v, org.id, c.id,
	    VAULT_CLIENT_SECRET, client_secret)) != OV_OK)
		goto out;
	if (refresh_token && (rc = vault_secret_store(v, org.id, c.id,
	    VAULT_REFRESH_TOKEN, refresh_token)) != OV_OK)
		goto out;
	secrets = json_array();
	if (client_secret)
		json_array_append_new(secrets, json_string("client_secret"));
	if (refresh_token)
		json_array_append_new(secrets, json_string("refresh_token"));
	detail = json_pack("{s:s, s:o, s:o}", "provider", c.provider,
	    "changed", exists ? changed_fields(&old, &c) : json_array(),
	    "secrets_replaced", secrets);
	ev.kind = exists ? "credential.updated" : "credential.created";
	ev.org_id = org.id;
	ev.cred_id = c.id;
	ev.detail = detail;
	if ((rc = event_append(v, &ev)) == OV_OK)
		*created = !exists;
out:
	json_decref(detail);
	return tx_end(v, rc);
}

enum ov_rc
vault_cred_rm(struct vault *v, const char *org, const char *name)
{
	struct vault_cred c;
	struct event_rec ev = { .kind = "credential.deleted", .org = org,
	    .credential = name };
	sqlite3_stmt *st;
	enum ov_rc rc;
	int src;

	if ((rc = tx_begin(v)) != OV_OK)
		return rc;
	if ((rc = vault_cred_get(v, org, name, &c)) != OV_OK)
		return tx_end(v, rc);
	if ((rc = db_prepare(v, "DELETE FROM credentials WHERE id = ?", &st)))
		return tx_end(v, rc);
	sqlite3_bind_int64(st, 1, c.id);
	src = sqlite3_step(st);
	db_finish(v, st);
	if (src != SQLITE_DONE)
		return tx_end(v, db_err(v, src, "removing a credential"));
	ev.org_id = c.org_id;
	ev.cred_id = c.id;
	return tx_end(v, event_append(v, &ev));
}

/*
 * cred.c — credentials: rows, lookups, put and remove.
 *
 * A credential's secrets are versions with staging labels (secret.c);
 * a new one given here becomes `current` and, like a promoted client
 * secret, makes the credential active and due at once (cred_reschedule).
 */
#include <stddef.h>
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
cred_row(struct db_stmt *st, struct vault_cred *c)
{
	enum ov_rc rc;

	memset(c, 0, sizeof(*c));
	c->id = db_col_int64(st, 0);
	c->org_id = db_col_int64(st, 1);
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
	c->refresh_fraction = db_col_double(st, 11);
	c->refresh_age_s = db_col_int64(st, 12);
	c->created_at = db_col_int64(st, 14);
	c->updated_at = db_col_int64(st, 15);
	c->has_refresh_token = db_col_int(st, 16);
	c->has_pending_secret = db_col_int(st, 17);
	c->next_refresh_at = db_col_int64(st, 18);
	c->expires_at = db_col_int64(st, 19);
	c->issued_at = db_col_int64(st, 20);
	c->last_success_at = db_col_int64(st, 21);
	c->last_attempt_at = db_col_int64(st, 22);
	c->unknown_outcome_at = db_col_int64(st, 23);
	c->token_generation = db_col_int64(st, 24);
	c->lease_until = db_col_int64(st, 25);
	c->consecutive_failures = db_col_int(st, 27);
	c->refresh_token_set_at = db_col_int64(st, 30);
	c->refresh_token_expires_at = db_col_int64(st, 31);
	c->refresh_token_kept = db_col_int(st, 32);
	if ((rc = db_text(st, 26, c->lease_owner, sizeof(c->lease_owner))) ||
	    (rc = db_text(st, 28, c->last_error, sizeof(c->last_error))) ||
	    (rc = db_text(st, 29, c->granted_scope, sizeof(c->granted_scope))))
		return rc;
	return OV_OK;
}

/* Walks the rows of a prepared, bound CRED_COLS query; finishes st. */
static enum ov_rc
cred_walk(struct vault *v, struct db_stmt *st, vault_cred_cb cb, void *arg)
{
	struct vault_cred c;
	enum ov_rc rc = OV_OK;
	int src;

	while ((src = db_step(st)) == DB_ROW)
		if ((rc = cred_row(st, &c)) != OV_OK || cb(&c, arg))
			break;
	if (rc == OV_OK && src != DB_DONE && src != DB_ROW)
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
	struct db_stmt *st;
	enum ov_rc rc;

	if ((rc = db_prepare(v, "SELECT " CRED_COLS CRED_FROM
	    "WHERE o.slug = ? AND c.name = ?", &st)) != OV_OK)
		return rc;
	db_bind_text(st, 1, org, -1);
	db_bind_text(st, 2, name, -1);
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
	struct db_stmt *st;
	enum ov_rc rc;

	if ((rc = db_prepare(v, "SELECT " CRED_COLS CRED_FROM "WHERE c.id = ?",
	    &st)) != OV_OK)
		return rc;
	db_bind_int64(st, 1, id);
	if ((rc = cred_walk(v, st, found_one, &f)) != OV_OK)
		return rc;
	if (!f.n)
		return ov_seterr(OV_ENOTFOUND, "credential %lld was removed",
		    (long long)id);
	*out = c;
	return OV_OK;
}

struct filtered {
	const struct vault_cred_filter	*f;
	vault_cred_cb			 cb;
	void				*arg;
	int64_t				 now;
};

static int
filter_row(const struct vault_cred *c, void *arg)
{
	struct filtered *ff = arg;

	return vault_cred_filter_match(ff->f, c, ff->now) ?
	    ff->cb(c, ff->arg) : 0;
}

enum ov_rc
vault_cred_list(struct vault *v, const struct vault_cred_filter *f,
    vault_cred_cb cb, void *arg)
{
	struct db_stmt *st;
	enum ov_rc rc;

	struct filtered ff = { f, cb, arg, timefmt_now() };

	if ((rc = vault_cred_filter_check(f)) != OV_OK)
		return rc;
	/* Status lists and health are judged in C (filter_row). */
	if ((rc = db_prepare(v, "SELECT " CRED_COLS CRED_FROM
	    "WHERE (CAST(?1 AS TEXT) IS NULL OR o.slug = ?1) "
	    "AND (CAST(?2 AS TEXT) IS NULL OR c.provider = ?2) "
	    "AND (CAST(?3 AS TEXT) IS NULL OR c.region = ?3) "
	    "AND (CAST(?4 AS TEXT) IS NULL OR c.client_id = ?4) "
	    "AND (CAST(?5 AS TEXT) IS NULL OR (o.slug, c.name) > (?5, ?6)) "
	    "ORDER BY o.slug, c.name", &st)) != OV_OK)
		return rc;
	db_bind_text(st, 1, f->org, -1);
	db_bind_text(st, 2, f->provider, -1);
	db_bind_text(st, 3, f->region, -1);
	db_bind_text(st, 4, f->client_id, -1);
	db_bind_text(st, 5, f->after_org, -1);
	db_bind_text(st, 6, f->after_name ? f->after_name : "", -1);
	return cred_walk(v, st, filter_row, &ff);
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
bind_cred(struct db_stmt *st, const struct vault_cred *c, int64_t now)
{
	db_bind_text(st, 1, c->region, -1);
	db_bind_text(st, 2, c->token_url, -1);
	db_bind_text(st, 3, c->auth, -1);
	db_bind_text(st, 4, c->grant, -1);
	db_bind_text(st, 5, c->client_id, -1);
	db_bind_text(st, 6, c->expected_scope, -1);
	db_bind_double(st, 7, c->refresh_fraction);
	db_bind_int64(st, 8, c->refresh_age_s);
	db_bind_int64(st, 9, now);
}

/* Writes the row; *id and *created on success. */
static enum ov_rc
cred_write(struct vault *v, const struct vault_cred *c,
    const struct vault_cred *old, int reauthorized, int64_t *id)
{
	struct db_stmt *st;
	int64_t now = timefmt_now();
	enum ov_rc rc;
	int src;

	if (old)
		rc = db_prepare(v, "UPDATE credentials SET region = ?1, "
		    "token_url = ?2, auth_method = ?3, grant_type = ?4, "
		    "client_id = ?5, expected_scope = ?6, refresh_fraction = ?7, "
		    "refresh_age_s = ?8, updated_at = ?9, provider = ?11 "
		    "WHERE id = ?10 RETURNING id", &st);
	else
		rc = db_prepare(v, "INSERT INTO credentials (region, token_url, "
		    "auth_method, grant_type, client_id, expected_scope, "
		    "refresh_fraction, refresh_age_s, updated_at, created_at, "
		    "org_id, name, provider) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, "
		    "?8, ?9, ?9, ?10, ?11, ?12) RETURNING id", &st);
	if (rc != OV_OK)
		return rc;
	bind_cred(st, c, now);
	if (old) {
		db_bind_int64(st, 10, old->id);
		/* A tampered row's provider is put back too. */
		db_bind_text(st, 11, c->provider, -1);
	} else {
		db_bind_int64(st, 10, c->org_id);
		db_bind_text(st, 11, c->name, -1);
		db_bind_text(st, 12, c->provider, -1);
	}
	if ((src = db_step(st)) == DB_ROW)
		*id = db_col_int64(st, 0);
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
	struct db_stmt *st;
	enum ov_rc rc;
	int src;

	if ((rc = db_prepare(v, "UPDATE credentials SET status = 'active', "
	    "status_reason = '', consecutive_failures = 0, "
	    "next_refresh_at = NULL, updated_at = ?2 WHERE id = ?1", &st)))
		return rc;
	db_bind_int64(st, 1, cred_id);
	db_bind_int64(st, 2, timefmt_now());
	if ((src = db_step(st)) != DB_DONE)
		rc = db_err(v, src, "rescheduling a credential");
	db_finish(v, st);
	return rc;
}

/* What the secrets given to a put do (decided before anything is
 * written). */
struct put_plan {
	int	exists, trusted, moved;
	int	cs_new, rt_new;		/* given and not the stored value */
	int	cs_same, rt_same;	/* given and the stored value */
};

static enum ov_rc
refused_rt(struct vault *v, const struct secret *rt)
{
	char when[32];
	int64_t at;
	enum ov_rc rc;

	if (rt == NULL || (rc = rt_retired_at(v, rt, &at)) != OV_OK)
		return rt ? rc : OV_OK;
	if (at == 0)
		return OV_OK;
	timefmt_rfc3339(at, when, sizeof(when));
	return ov_seterr(OV_ECONFLICT, "refresh_token: this refresh token was "
	    "rotated away at %s; the provider would treat it as a replay and "
	    "may revoke the whole token family. Re-authorize to get a new one",
	    when);
}

/* The fields of a destination change, for the secret-required error. */
static void
dest_fields(const struct vault_cred *a, const struct vault_cred *b,
    char *buf, size_t len)
{
	static const struct { const char *name; size_t off; } f[] = {
		{ "token_url", offsetof(struct vault_cred, token_url) },
		{ "region", offsetof(struct vault_cred, region) },
		{ "client_id", offsetof(struct vault_cred, client_id) },
		{ "auth", offsetof(struct vault_cred, auth) },
		{ "grant", offsetof(struct vault_cred, grant) },
	};
	size_t n = 0;

	buf[0] = '\0';
	for (size_t i = 0; i < sizeof(f) / sizeof(f[0]); i++)
		if (strcmp((const char *)a + f[i].off,
		    (const char *)b + f[i].off) != 0 && n + 16 < len)
			n += (size_t)snprintf(buf + n, len - n, "%s%s",
			    n ? ", " : "", f[i].name);
}

/*
 * The binding rule (DESIGN.md): a credential whose destination changes
 * keeps its stored secrets only on proof — the current client secret
 * given again; new secrets replace the old ones; anything else is
 * refused, whoever asks.  A credential that does not verify (tampered)
 * takes nothing but new secrets.
 */
static enum ov_rc
put_plan(struct vault *v, const struct vault_cred *old,
    const struct vault_cred *c, const struct secret *cs,
    const struct secret *rt, unsigned flags, struct put_plan *p)
{
	int rt_grant = strcmp(c->grant, "refresh_token") == 0;
	char fields[96];
	enum ov_rc rc;

	if (!p->exists) {
		p->cs_new = cs != NULL;
		p->rt_new = rt != NULL;
		if (cs == NULL)
			return ov_seterr(OV_EINVAL, "a new credential needs a "
			    "client secret (--secret-file)");
		if (rt_grant && rt == NULL)
			return ov_seterr(OV_EINVAL, "the refresh_token grant "
			    "needs a refresh token (--refresh-token-file)");
		return OV_OK;
	}
	p->trusted = strcmp(old->status, "tampered") != 0 &&
	    cred_mac_verify(v, old->id) == OV_OK;
	p->moved = dest_differs(old, c);
	if (p->trusted) {
		if ((cs && (rc = secret_equals_current(v, old, "client_secret",
		    cs, &p->cs_same))) || (rt && (rc = secret_equals_current(v,
		    old, "refresh_token", rt, &p->rt_same))))
			return rc;
	}
	p->cs_new = cs && !p->cs_same;
	p->rt_new = rt && !p->rt_same;
	if ((flags & VAULT_PUT_KEEP_SECRETS) && (p->cs_new || p->rt_new))
		return ov_seterr(OV_ECONFLICT, "it brings a different %s than "
		    "the one stored; replacing it could destroy a rotated "
		    "secret: give --replace-secrets to replace it",
		    p->cs_new ? "client secret" : "refresh token");
	if (!p->trusted && (!cs || (rt_grant && !rt)))
		return ov_seterr(OV_ESECRET, "%s/%s does not verify (it is "
		    "tampered): put its secrets again (--secret-file%s)",
		    c->org, c->name, rt_grant ? " and --refresh-token-file" :
		    "");
	if (!p->moved || !p->trusted)
		return OV_OK;
	dest_fields(old, c, fields, sizeof(fields));
	if (!cs)
		return ov_seterr(OV_ESECRET, "changing %s would send the "
		    "stored secrets of %s/%s to a new destination: give the "
		    "client secret again (--secret-file, or client_secret)%s",
		    fields, c->org, c->name, rt_grant ?
		    "; with a new one, also the refresh token" : "");
	if (rt_grant && !rt && !old->has_refresh_token)
		return ov_seterr(OV_EINVAL, "the refresh_token grant needs a "
		    "refresh token (--refresh-token-file)");
	if (p->cs_new && rt_grant && !rt)
		return ov_seterr(OV_ESECRET, "changing %s with a new client "
		    "secret does not carry the stored refresh token of %s/%s "
		    "to the new destination: give a refresh token too "
		    "(--refresh-token-file, or refresh_token)", fields, c->org,
		    c->name);
	return OV_OK;
}

/* Carries, drops and stores the secrets as the plan says. */
static enum ov_rc
put_secrets(struct vault *v, const struct vault_cred *old,
    const struct vault_cred *c, const struct secret *cs,
    const struct secret *rt, const struct put_plan *p)
{
	enum ov_rc rc = OV_OK;

	if (p->exists && (!p->trusted || (p->moved && p->cs_new))) {
		/* Secrets of another destination, or unverifiable: gone —
		 * but a refresh token given again with the new secret is
		 * the operator's proof for it: it follows. */
		if (!p->trusted)
			rc = secret_drop_all(v, old->id);
		else if ((rc = secret_drop_kind(v, old, "client_secret")) ==
		    OV_OK)
			rc = p->rt_same ? secret_move(v, old, c,
			    "refresh_token") : secret_drop_kind(v, old,
			    "refresh_token");
		if (rc != OV_OK)
			return rc;
	} else if (p->exists && p->moved) {
		/* Proved by the current client secret: all follow. */
		if ((rc = secret_move(v, old, c, "client_secret")) ||
		    (rc = secret_move(v, old, c, "refresh_token")))
			return rc;
	}
	if (p->cs_new && (rc = vault_secret_store(v, c, VAULT_CLIENT_SECRET,
	    cs, NULL)) != OV_OK)
		return rc;
	if (p->rt_new && (rc = vault_secret_store(v, c, VAULT_REFRESH_TOKEN,
	    rt, NULL)) != OV_OK)
		return rc;
	return OV_OK;
}

/*
 * Whether the put makes the credential active and due at once: new
 * secrets or a new destination (proved); or the same ones given again to a credential that is not
 * refreshing well (an operator's deliberate retry: the provider may have
 * been fixed).  A healthy credential given its own secrets again (an
 * import run twice) is left alone.
 */
static int
reauthorizes(const struct put_plan *p, const struct vault_cred *old)
{
	if (p->cs_new || p->rt_new || p->moved || (p->exists && !p->trusted))
		return 1;
	return old && (p->cs_same || p->rt_same) &&
	    strcmp(old->status, "active") != 0 &&
	    strcmp(old->status, "failing") != 0;
}

static json_t *
names_of(int cs, int rt)
{
	json_t *a = json_array();

	if (cs)
		json_array_append_new(a, json_string("client_secret"));
	if (rt)
		json_array_append_new(a, json_string("refresh_token"));
	return a;
}

enum ov_rc
vault_cred_put_ex(struct vault *v, const struct vault_cred *in,
    const struct secret *client_secret, const struct secret *refresh_token,
    unsigned flags, struct vault_put_result *out)
{
	struct vault_cred c = *in, old;
	struct vault_org org;
	struct event_rec ev = { .org = in->org, .credential = in->name };
	struct put_plan p = { 0 };
	json_t *detail = NULL, *changed = NULL;
	enum ov_rc rc;

	if ((rc = vault_need_key(v)) != OV_OK || (rc = tx_begin(v)) != OV_OK)
		return rc;
	if ((rc = vault_org_get(v, in->org, &org)) != OV_OK)
		goto out;
	c.org_id = org.id;
	rc = vault_cred_get(v, in->org, in->name, &old);
	if (rc != OV_OK && rc != OV_ENOTFOUND)
		goto out;
	p.exists = (rc == OV_OK);
	rc = OV_OK;
	if (p.exists && strcmp(old.provider, c.provider) != 0 &&
	    strcmp(old.status, "tampered") != 0 &&
	    cred_mac_verify(v, old.id) == OV_OK) {
		rc = ov_seterr(OV_ECONFLICT, "credential %s/%s is a %s "
		    "credential; remove it before putting a %s one", c.org,
		    c.name, old.provider, c.provider);
		goto out;
	}
	if ((rc = refused_rt(v, refresh_token)) != OV_OK ||
	    (rc = put_plan(v, p.exists ? &old : NULL, &c, client_secret,
	    refresh_token, flags, &p)) != OV_OK)
		goto out;
	if ((rc = cred_write(v, &c, p.exists ? &old : NULL, reauthorizes(&p,
	    p.exists ? &old : NULL), &c.id)) != OV_OK)
		goto out;
	if ((rc = put_secrets(v, p.exists ? &old : NULL, &c, client_secret,
	    refresh_token, &p)) != OV_OK || (rc = cred_mac_update(v, c.id)))
		goto out;
	changed = p.exists ? changed_fields(&old, &c) : json_array();
	detail = json_pack("{s:s, s:O, s:o, s:o, s:b}", "provider",
	    c.provider, "changed", changed, "secrets_replaced",
	    names_of(p.cs_new, p.rt_new), "secrets_unchanged",
	    names_of(p.cs_same, p.rt_same), "moved", p.moved);
	if (p.exists && !p.trusted)
		json_object_set_new(detail, "was_tampered", json_true());
	ev.kind = p.exists ? "credential.updated" : "credential.created";
	ev.org_id = org.id;
	ev.cred_id = c.id;
	ev.detail = detail;
	if ((rc = event_append(v, &ev)) == OV_OK && out) {
		memset(out, 0, sizeof(*out));
		out->created = !p.exists;
		out->client_secret_changed = p.cs_new;
		out->refresh_token_changed = p.rt_new;
		out->moved = p.moved;
		for (size_t i = 0; i < json_array_size(changed); i++)
			snprintf(out->changed + strlen(out->changed),
			    sizeof(out->changed) - strlen(out->changed),
			    "%s%s", i ? "," : "", json_string_value(
			    json_array_get(changed, i)));
	}
out:
	json_decref(changed);
	json_decref(detail);
	return tx_end(v, rc);
}

enum ov_rc
vault_cred_put(struct vault *v, const struct vault_cred *in,
    const struct secret *client_secret, const struct secret *refresh_token,
    int *created)
{
	struct vault_put_result r;
	enum ov_rc rc;

	if ((rc = vault_cred_put_ex(v, in, client_secret, refresh_token, 0,
	    &r)) == OV_OK)
		*created = r.created;
	return rc;
}

enum ov_rc
vault_cred_rm(struct vault *v, const char *org, const char *name)
{
	struct vault_cred c;
	struct event_rec ev = { .kind = "credential.deleted", .org = org,
	    .credential = name };
	struct db_stmt *st;
	enum ov_rc rc;
	int src;

	if ((rc = tx_begin(v)) != OV_OK)
		return rc;
	if ((rc = vault_cred_get(v, org, name, &c)) != OV_OK)
		return tx_end(v, rc);
	if ((rc = db_prepare(v, "DELETE FROM credentials WHERE id = ?", &st)))
		return tx_end(v, rc);
	db_bind_int64(st, 1, c.id);
	src = db_step(st);
	db_finish(v, st);
	if (src != DB_DONE)
		return tx_end(v, db_err(v, src, "removing a credential"));
	ev.org_id = c.org_id;
	ev.cred_id = c.id;
	return tx_end(v, event_append(v, &ev));
}

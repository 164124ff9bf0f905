/*
 * event.c — the append-only, hash-chained audit trail.
 *
 * Canonical content of event N (the bytes that are hashed): the compact
 * JSON array
 *   [id, time_ms, actor, org_id, org, credential_id, credential, kind,
 *    http_status, oauth_error, outcome, detail]
 * with absent ids and status as 0 and detail as its stored JSON text.
 *   hash(N) = BLAKE2b-256(key = audit subkey, hash(N-1) || canonical(N))
 * with hash(0) = 32 zero bytes.  Ids are consecutive, so a deleted,
 * inserted, edited or reordered row breaks the chain at that row.  The
 * head (last id and hash) is kept in vault_meta "audit_head", written
 * in the same transaction, so deleting the newest events shows too —
 * unless the attacker also puts back an older head they copied earlier;
 * exporting the head elsewhere (audit export) closes that gap.
 * Events never carry secret material.
 */
#include <stdlib.h>
#include <string.h>

#include <sodium.h>

#include "util/timefmt.h"
#include "vault/vault_int.h"

#define EVENT_COLS "id, time_ms, actor, coalesce(org_id, 0), org, " \
	"coalesce(credential_id, 0), credential, kind, " \
	"coalesce(http_status, 0), oauth_error, outcome, detail"

/* The fields of one event, in canonical order. */
struct canon {
	int64_t		 id, time_ms, org_id, cred_id, http_status;
	const char	*actor, *org, *credential, *kind, *oauth_error;
	const char	*outcome, *detail;
};

static char *
canonical(const struct canon *c)
{
	json_t *a;
	char *s;

	a = json_pack("[I, I, s, I, s, I, s, s, I, s, s, s]",
	    (json_int_t)c->id, (json_int_t)c->time_ms, c->actor,
	    (json_int_t)c->org_id, c->org, (json_int_t)c->cred_id,
	    c->credential, c->kind, (json_int_t)c->http_status,
	    c->oauth_error, c->outcome, c->detail);
	if (a == NULL)
		return NULL;
	s = json_dumps(a, JSON_COMPACT | JSON_ENSURE_ASCII);
	json_decref(a);
	return s;
}

/* Canonical bytes of the row at the current step of st (EVENT_COLS). */
static char *
canonical_row(struct db_stmt *st)
{
	struct canon c = {
		.id = db_col_int64(st, 0),
		.time_ms = db_col_int64(st, 1),
		.actor = db_col_text(st, 2),
		.org_id = db_col_int64(st, 3),
		.org = db_col_text(st, 4),
		.cred_id = db_col_int64(st, 5),
		.credential = db_col_text(st, 6),
		.kind = db_col_text(st, 7),
		.http_status = db_col_int64(st, 8),
		.oauth_error = db_col_text(st, 9),
		.outcome = db_col_text(st, 10),
		.detail = db_col_text(st, 11),
	};

	return canonical(&c);
}

static void
chain_hash(struct vault *v, const unsigned char prev[32], const char *canon,
    unsigned char out[32])
{
	size_t n = strlen(canon);
	unsigned char *buf = malloc(32 + n);

	if (buf == NULL) {
		memset(out, 0, 32);
		return;
	}
	memcpy(buf, prev, 32);
	memcpy(buf + 32, canon, n);
	keyring_audit_mac(v->kr, buf, 32 + n, out);
	free(buf);
}

/* "id:hexhash" of the newest event. */
static enum ov_rc
head_write(struct vault *v, int64_t id, const unsigned char hash[32])
{
	char head[96];
	int n = snprintf(head, sizeof(head), "%lld:", (long long)id);

	sodium_bin2hex(head + n, sizeof(head) - (size_t)n, hash, 32);
	return meta_set(v, "audit_head", head);
}

/*
 * Inside a transaction the head is written once, at its commit, from
 * the newest event then (one that a savepoint rolled back is gone):
 * rewriting one row per event made a 10 000-line import quadratic on
 * PostgreSQL, where each version of the row stays until the commit.
 */
static enum ov_rc
head_sync(struct vault *v)
{
	struct db_stmt *st;
	unsigned char hash[32];
	enum ov_rc rc = OV_OK;
	int64_t id = 0;
	int src;

	if ((rc = db_prepare(v, "SELECT id, hash FROM events ORDER BY id DESC "
	    "LIMIT 1", &st)) != OV_OK)
		return rc;
	if ((src = db_step(st)) == DB_ROW && db_col_bytes(st, 1) == 32) {
		id = db_col_int64(st, 0);
		memcpy(hash, db_col_blob(st, 1), 32);
	} else if (src != DB_DONE)
		rc = db_err(v, src, "reading the audit trail");
	db_finish(v, st);
	if (rc == OV_OK && id > 0)
		rc = head_write(v, id, hash);
	return rc;
}

/* After a whole walk: the last event must be the recorded head. */
static void
head_verify(struct vault *v, int64_t last_id, const unsigned char *last_hash,
    vault_check_cb cb, void *arg, int64_t *failures)
{
	char head[96], want[96];
	struct vault_check_failure f = { "events", "hash", last_id, NULL };
	long long head_id = 0;
	int n;

	if (meta_get(v, "audit_head", head, sizeof(head)) != OV_OK) {
		f.problem = "audit chain: the recorded head (vault_meta "
		    "audit_head) is missing";
	} else {
		head_id = strtoll(head, NULL, 10);
		n = snprintf(want, sizeof(want), "%lld:", (long long)last_id);
		sodium_bin2hex(want + n, sizeof(want) - (size_t)n, last_hash,
		    32);
		if (head_id > last_id)
			f.problem = "audit chain: the newest events were "
			    "deleted (the recorded head is later than the "
			    "last event)";
		else if (strcmp(head, want) != 0)
			f.problem = "audit chain: the last event is not the "
			    "recorded head";
	}
	if (f.problem) {
		(*failures)++;
		cb(&f, arg);
	}
}

enum ov_rc
event_append(struct vault *v, const struct event_rec *e)
{
	struct db_stmt *st = NULL;
	unsigned char prev[32] = { 0 }, hash[32];
	char *detail = NULL, *canon = NULL;
	struct canon c;
	enum ov_rc rc;
	int src;

	if ((rc = vault_need_key(v)) != OV_OK)
		return rc;
	memset(&c, 0, sizeof(c));
	c.id = 1;
	if ((rc = db_prepare(v, "SELECT id, hash FROM events ORDER BY id DESC "
	    "LIMIT 1", &st)) != OV_OK)
		return rc;
	if ((src = db_step(st)) == DB_ROW) {
		c.id = db_col_int64(st, 0) + 1;
		if (db_col_bytes(st, 1) == 32)
			memcpy(prev, db_col_blob(st, 1), 32);
	} else if (src != DB_DONE)
		rc = db_err(v, src, "reading the audit trail");
	db_finish(v, st);
	st = NULL;
	if (rc != OV_OK)
		return rc;
	if (v->request_id[0]) {
		json_t *d = e->detail ? json_copy(e->detail) : json_object();

		json_object_set_new(d, "request_id",
		    json_string(v->request_id));
		detail = json_dumps(d, JSON_COMPACT | JSON_SORT_KEYS);
		json_decref(d);
	} else
		detail = e->detail ? json_dumps(e->detail, JSON_COMPACT |
		    JSON_SORT_KEYS) : strdup("{}");
	if (detail == NULL)
		return ov_seterr(OV_ENOMEM, "out of memory");
	/* Exactly what the row will hold, so check recomputes the same. */
	c.time_ms = timefmt_now_ms();
	c.actor = v->actor;
	c.org_id = e->org_id;
	c.org = e->org ? e->org : "";
	c.cred_id = e->cred_id;
	c.credential = e->credential ? e->credential : "";
	c.kind = e->kind;
	c.http_status = e->http_status;
	c.oauth_error = e->oauth_error ? e->oauth_error : "";
	c.outcome = e->outcome ? e->outcome : "";
	c.detail = detail;
	if ((canon = canonical(&c)) == NULL) {
		rc = ov_seterr(OV_ENOMEM, "out of memory");
		goto out;
	}
	chain_hash(v, prev, canon, hash);
	if ((rc = db_prepare(v, "INSERT INTO events (id, time_ms, actor, "
	    "org_id, org, credential_id, credential, kind, detail, "
	    "http_status, oauth_error, outcome, hash) VALUES (?, ?, ?, "
	    "nullif(?, 0), ?, nullif(?, 0), ?, ?, ?, nullif(?, 0), ?, ?, ?)",
	    &st)) != OV_OK)
		goto out;
	db_bind_int64(st, 1, c.id);
	db_bind_int64(st, 2, c.time_ms);
	db_bind_text(st, 3, c.actor, -1);
	db_bind_int64(st, 4, c.org_id);
	db_bind_text(st, 5, c.org, -1);
	db_bind_int64(st, 6, c.cred_id);
	db_bind_text(st, 7, c.credential, -1);
	db_bind_text(st, 8, c.kind, -1);
	db_bind_text(st, 9, c.detail, -1);
	db_bind_int64(st, 10, c.http_status);
	db_bind_text(st, 11, c.oauth_error, -1);
	db_bind_text(st, 12, c.outcome, -1);
	db_bind_blob(st, 13, hash, 32);
	if ((src = db_step(st)) != DB_DONE)
		rc = db_err(v, src, "writing an audit event");
	else {
		if (v->tx_depth > 0)
			v->before_commit = head_sync;
		else
			rc = head_write(v, c.id, hash);
		/* Alerts for webhooks, in this same transaction. */
		if (rc == OV_OK)
			rc = outbox_enqueue(v, e, c.id, c.time_ms, c.detail);
	}
out:
	db_finish(v, st);
	free(canon);
	free(detail);
	return rc;
}

enum ov_rc
event_verify_chain(struct vault *v, vault_check_cb cb, void *arg,
    int64_t *checked, int64_t *failures)
{
	struct db_stmt *st;
	unsigned char prev[32] = { 0 }, want[32];
	int64_t expect_id = 1;
	int broken = 0;
	enum ov_rc rc;
	int src;

	if ((rc = db_prepare(v, "SELECT " EVENT_COLS ", hash FROM events "
	    "ORDER BY id", &st)) != OV_OK)
		return rc;
	while ((src = db_step(st)) == DB_ROW) {
		int64_t id = db_col_int64(st, 0);
		char *canon = canonical_row(st);
		struct vault_check_failure f = { "events", "hash", id, NULL };

		(*checked)++;
		if (canon == NULL) {
			rc = ov_seterr(OV_ENOMEM, "out of memory");
			break;
		}
		chain_hash(v, prev, canon, want);
		free(canon);
		if (id != expect_id)
			f.problem = id > expect_id ? "audit chain: events "
			    "before this one were deleted" : "audit chain: "
			    "event ids out of order";
		else if (db_col_bytes(st, 12) != 32 ||
		    sodium_memcmp(db_col_blob(st, 12), want, 32) != 0)
			f.problem = "audit chain: event was edited, inserted "
			    "or reordered (hash does not match)";
		if (f.problem) {
			(*failures)++;
			cb(&f, arg);
			broken = 1;
			/* Report the first broken link only, like git fsck. */
			break;
		}
		memcpy(prev, want, 32);
		expect_id = id + 1;
	}
	db_finish(v, st);
	if (rc == OV_OK && !broken)
		head_verify(v, expect_id - 1, prev, cb, arg, failures);
	return rc;
}

enum ov_rc
event_rehash_chain(struct vault *v, int64_t *rehashed)
{
	struct db_stmt *st, *up;
	unsigned char prev[32] = { 0 }, hash[32];
	int64_t id = 0, n = 0;
	enum ov_rc rc;
	int src;

	if ((rc = db_prepare(v, "SELECT " EVENT_COLS " FROM events ORDER BY "
	    "id", &st)) != OV_OK)
		return rc;
	/* Only the current row's hash changes: the walk is unaffected. */
	while ((src = db_step(st)) == DB_ROW) {
		char *canon = canonical_row(st);

		if (canon == NULL) {
			rc = ov_seterr(OV_ENOMEM, "out of memory");
			break;
		}
		chain_hash(v, prev, canon, hash);
		free(canon);
		id = db_col_int64(st, 0);
		if ((rc = db_prepare(v, "UPDATE events SET hash = ? WHERE "
		    "id = ?", &up)) != OV_OK)
			break;
		db_bind_blob(up, 1, hash, 32);
		db_bind_int64(up, 2, id);
		if ((src = db_step(up)) != DB_DONE)
			rc = db_err(v, src, "re-hashing the audit trail");
		db_finish(v, up);
		if (rc != OV_OK)
			break;
		memcpy(prev, hash, 32);
		n++;
	}
	if (rc == OV_OK && src != DB_DONE)
		rc = db_err(v, src, "reading the audit trail");
	db_finish(v, st);
	if (rc == OV_OK && n > 0)
		rc = head_write(v, id, prev);
	if (rc == OV_OK)
		*rehashed = n;
	return rc;
}

#define EVENT_LIST_COLS "id, time_ms, actor, org, credential, kind, " \
	"detail, coalesce(http_status, 0), oauth_error, outcome, " \
	"coalesce(org_id, 0)"

/* Walks the rows of a prepared EVENT_LIST_COLS query. */
static enum ov_rc
event_walk(struct vault *v, struct db_stmt *st, vault_event_cb cb, void *arg)
{
	struct vault_event e;
	enum ov_rc rc = OV_OK;
	int src;

	while ((src = db_step(st)) == DB_ROW) {
		e.id = db_col_int64(st, 0);
		e.time_ms = db_col_int64(st, 1);
		e.http_status = (long)db_col_int64(st, 7);
		e.org_id = db_col_int64(st, 10);
		if ((rc = db_text(st, 2, e.actor, sizeof(e.actor))) ||
		    (rc = db_text(st, 3, e.org, sizeof(e.org))) ||
		    (rc = db_text(st, 4, e.credential, sizeof(e.credential))) ||
		    (rc = db_text(st, 5, e.kind, sizeof(e.kind))) ||
		    (rc = db_text(st, 6, e.detail, sizeof(e.detail))) ||
		    (rc = db_text(st, 8, e.oauth_error,
		    sizeof(e.oauth_error))) ||
		    (rc = db_text(st, 9, e.outcome, sizeof(e.outcome))))
			break;
		if (cb(&e, arg))
			break;
	}
	if (rc == OV_OK && src != DB_DONE && src != DB_ROW)
		rc = db_err(v, src, "reading events");
	db_finish(v, st);
	return rc;
}

enum ov_rc
vault_event_list(struct vault *v, const struct vault_event_filter *f,
    vault_event_cb cb, void *arg)
{
	struct db_stmt *st;
	enum ov_rc rc;

	if ((rc = db_prepare(v, "SELECT " EVENT_LIST_COLS " FROM events "
	    "WHERE (CAST(?1 AS TEXT) IS NULL OR org = ?1) AND "
	    "(CAST(?2 AS TEXT) IS NULL OR credential = ?2) AND "
	    "(CAST(?3 AS TEXT) IS NULL OR kind = ?3) AND "
	    "(CAST(?5 AS TEXT) IS NULL OR org_id IN "
	    "(SELECT CAST(value AS INTEGER) FROM json_each(?5))) "
	    "AND (CAST(?9 AS TEXT) IS NULL OR credential IN (SELECT value FROM "
	    "json_each(?9)) OR (credential = '' AND org_id IS NOT NULL)) "
	    "AND (?6 = 0 OR time_ms >= ?6) AND (?7 = 0 OR time_ms < ?7) "
	    "AND (?8 = 0 OR id < ?8) "
	    "ORDER BY id DESC LIMIT ?4", &st)) != OV_OK)
		return rc;
	db_bind_text(st, 1, f->org, -1);
	db_bind_text(st, 2, f->credential, -1);
	db_bind_text(st, 3, f->kind, -1);
	db_bind_int(st, 4, f->limit > 0 ? f->limit : 100);
	db_bind_text(st, 5, f->org_ids_json, -1);
	db_bind_int64(st, 6, f->since_ms);
	db_bind_int64(st, 7, f->until_ms);
	db_bind_int64(st, 8, f->before_id);
	db_bind_text(st, 9, f->creds_json, -1);
	return event_walk(v, st, cb, arg);
}

enum ov_rc
vault_event_add(struct vault *v, const char *kind, const char *org,
    json_t *detail)
{
	struct event_rec e = { .kind = kind, .org = org, .detail = detail };
	enum ov_rc rc;

	if ((rc = tx_begin(v)) != OV_OK)
		return rc;
	return tx_end(v, event_append(v, &e));
}

enum ov_rc
vault_cred_event_add(struct vault *v, const struct vault_cred *c,
    const char *kind, long http_status, const char *oauth_error,
    const char *outcome, json_t *detail)
{
	struct event_rec e = { .org_id = c->org_id, .cred_id = c->id,
	    .org = c->org, .credential = c->name, .kind = kind,
	    .detail = detail, .http_status = http_status,
	    .oauth_error = oauth_error, .outcome = outcome };
	enum ov_rc rc;

	if ((rc = tx_begin(v)) != OV_OK)
		return rc;
	return tx_end(v, event_append(v, &e));
}

enum ov_rc
vault_event_list_kinds(struct vault *v, const char *const *kinds, int limit,
    vault_event_cb cb, void *arg)
{
	struct db_stmt *st;
	json_t *list = json_array();
	char *text;
	enum ov_rc rc;

	for (size_t i = 0; kinds[i]; i++)
		json_array_append_new(list, json_string(kinds[i]));
	text = json_dumps(list, JSON_COMPACT);
	json_decref(list);
	if (text == NULL)
		return ov_seterr(OV_ENOMEM, "out of memory");
	if ((rc = db_prepare(v, "SELECT " EVENT_LIST_COLS " FROM events "
	    "WHERE kind IN (SELECT value FROM json_each(?1)) "
	    "ORDER BY id DESC LIMIT ?2", &st)) == OV_OK) {
		db_bind_text(st, 1, text, -1);
		db_bind_int(st, 2, limit > 0 ? limit : 100);
		rc = event_walk(v, st, cb, arg);
	}
	free(text);
	return rc;
}

/* ------------------------------------------------------ verify, export */

static void
first_failure(const struct vault_check_failure *f, void *arg)
{
	struct vault_audit_report *r = arg;

	if (r->broken_id == 0) {
		r->broken_id = f->row > 0 ? f->row : -1;
		snprintf(r->problem, sizeof(r->problem), "%s", f->problem);
	}
}

enum ov_rc
vault_audit_verify(struct vault *v, struct vault_audit_report *out)
{
	struct vault_audit_report r = { 0 };
	int64_t failures = 0;
	enum ov_rc rc;

	if ((rc = vault_need_key(v)) != OV_OK)
		return rc;
	if ((rc = event_verify_chain(v, first_failure, &r, &r.checked,
	    &failures)) != OV_OK)
		return rc;
	*out = r;
	return OV_OK;
}

static json_t *
export_row(struct db_stmt *st)
{
	char hash[65] = "", prev[65] = "", when[40];
	json_t *detail, *o;

	if (db_col_bytes(st, 12) == 32)
		sodium_bin2hex(hash, sizeof(hash), db_col_blob(st, 12),
		    32);
	if (db_col_bytes(st, 13) == 32)
		sodium_bin2hex(prev, sizeof(prev), db_col_blob(st, 13),
		    32);
	else
		memset(prev, '0', 64);	/* the first event's */
	detail = json_loads(db_col_text(st, 11), 0,
	    NULL);
	o = json_pack("{s:I, s:I, s:s, s:s, s:I, s:s, s:I, s:s, s:s, s:I, "
	    "s:s, s:s, s:o, s:s, s:s}",
	    "id", (json_int_t)db_col_int64(st, 0),
	    "time_ms", (json_int_t)db_col_int64(st, 1),
	    "time", timefmt_rfc3339_ms(db_col_int64(st, 1), when,
	    sizeof(when)),
	    "actor", db_col_text(st, 2),
	    "org_id", (json_int_t)db_col_int64(st, 3),
	    "org", db_col_text(st, 4),
	    "credential_id", (json_int_t)db_col_int64(st, 5),
	    "credential", db_col_text(st, 6),
	    "kind", db_col_text(st, 7),
	    "http_status", (json_int_t)db_col_int64(st, 8),
	    "oauth_error", db_col_text(st, 9),
	    "outcome", db_col_text(st, 10),
	    "detail", detail ? detail : json_object(),
	    "prev_hash", prev, "hash", hash);
	return o;
}

enum ov_rc
vault_audit_export(struct vault *v, int64_t since_ms, int64_t until_ms,
    vault_json_cb cb, void *arg)
{
	struct db_stmt *st;
	enum ov_rc rc;
	int src;

	if ((rc = db_prepare(v, "SELECT * FROM (SELECT " EVENT_COLS ", hash, "
	    "lag(hash) OVER (ORDER BY id) FROM events) e "
	    "WHERE (?1 = 0 OR time_ms >= ?1) AND (?2 = 0 OR time_ms < ?2) "
	    "ORDER BY id", &st)) != OV_OK)
		return rc;
	db_bind_int64(st, 1, since_ms);
	db_bind_int64(st, 2, until_ms);
	while ((src = db_step(st)) == DB_ROW) {
		json_t *o = export_row(st);

		if (o == NULL) {
			rc = ov_seterr(OV_ENOMEM, "out of memory");
			break;
		}
		if (cb(o, arg) != 0) {
			json_decref(o);
			break;
		}
		json_decref(o);
	}
	if (rc == OV_OK && src != DB_ROW && src != DB_DONE)
		rc = db_err(v, src, "reading the audit trail");
	db_finish(v, st);
	return rc;
}

static const char *
jstr(json_t *o, const char *k)
{
	const char *s = json_string_value(json_object_get(o, k));

	return s ? s : "";
}

enum ov_rc
vault_audit_verify_line(struct vault *v, json_t *e, const char *prev_hex,
    char hash_hex[65])
{
	unsigned char prev[32], want[32];
	char *detail, *canon, got[65];
	struct canon c;
	size_t n;
	enum ov_rc rc;

	if ((rc = vault_need_key(v)) != OV_OK)
		return rc;
	if (!json_is_object(e) || !json_is_integer(json_object_get(e, "id")))
		return ov_seterr(OV_EINTEGRITY, "not an exported event");
	if (prev_hex[0] && strcmp(prev_hex, jstr(e, "prev_hash")) != 0)
		return ov_seterr(OV_EINTEGRITY, "event %lld: prev_hash is not "
		    "the hash of the line before (a line was removed, added "
		    "or reordered)", (long long)json_integer_value(
		    json_object_get(e, "id")));
	if (sodium_hex2bin(prev, sizeof(prev), jstr(e, "prev_hash"), 64, NULL,
	    &n, NULL) != 0 || n != 32)
		return ov_seterr(OV_EINTEGRITY, "event %lld: bad prev_hash",
		    (long long)json_integer_value(json_object_get(e, "id")));
	detail = json_dumps(json_object_get(e, "detail"), JSON_COMPACT |
	    JSON_SORT_KEYS);
	c = (struct canon){
		.id = json_integer_value(json_object_get(e, "id")),
		.time_ms = json_integer_value(json_object_get(e, "time_ms")),
		.actor = jstr(e, "actor"),
		.org_id = json_integer_value(json_object_get(e, "org_id")),
		.org = jstr(e, "org"),
		.cred_id = json_integer_value(json_object_get(e,
		    "credential_id")),
		.credential = jstr(e, "credential"), .kind = jstr(e, "kind"),
		.http_status = json_integer_value(json_object_get(e,
		    "http_status")),
		.oauth_error = jstr(e, "oauth_error"),
		.outcome = jstr(e, "outcome"), .detail = detail ? detail : "{}",
	};
	canon = canonical(&c);
	free(detail);
	if (canon == NULL)
		return ov_seterr(OV_ENOMEM, "out of memory");
	chain_hash(v, prev, canon, want);
	free(canon);
	sodium_bin2hex(got, sizeof(got), want, sizeof(want));
	if (strcmp(got, jstr(e, "hash")) != 0)
		return ov_seterr(OV_EINTEGRITY, "event %lld: its content does "
		    "not match its hash (edited)", (long long)c.id);
	memcpy(hash_hex, got, 65);
	return OV_OK;
}

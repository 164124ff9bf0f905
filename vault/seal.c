/*
 * seal.c — secret versions sealed to their destination and opened only
 * there (bind.c has the binding), their keyed digests, the refresh
 * tokens retired for good, and re-sealing (a credential that moves, the
 * background job that brings old rows to the destination binding).
 *
 * Plaintext leaves this file only through vault_secret_open().  Opening
 * refuses — OV_EINTEGRITY, the caller marks the credential `tampered` —
 * a credential whose row MAC fails, a version whose binding does not
 * open, whose value is not the one its digest names, a bind-1 row once
 * the vault finished re-sealing, and a current refresh token that was
 * retired (a restored row).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <sodium.h>

#include "util/timefmt.h"
#include "vault/envelope.h"
#include "vault/vault_int.h"

/* Retired refresh-token digests kept per credential. */
#define RETIRED_KEEP	1000

static const char *const kind_names[] = { "client_secret", "refresh_token" };

static enum ov_rc
step_done(struct vault *v, struct db_stmt *st, const char *doing)
{
	int src = db_step(st);

	db_finish(v, st);
	return src == DB_DONE ? OV_OK : db_err(v, src, doing);
}

enum ov_rc
secret_seal_version(struct vault *v, const struct vault_cred *c,
    const char *kind, int64_t version, const char *stage,
    const struct secret *s)
{
	struct db_stmt *st;
	unsigned char *env = NULL, digest[32];
	char binding[BINDING_MAX];
	size_t envlen;
	uint32_t kv;
	enum ov_rc rc;

	binding_secret(binding, sizeof(binding), c, kind, version, BIND_DEST);
	if ((rc = secret_digest(v, kind, s, digest)) != OV_OK ||
	    (rc = vault_env_seal(v, binding, s->buf, s->len, &env, &envlen,
	    &kv)) != OV_OK)
		return rc;
	if ((rc = db_prepare(v, "INSERT INTO secret_versions (credential_id, "
	    "kind, version, stage, ciphertext, key_version, created_at, bind, "
	    "digest) VALUES (?, ?, ?, ?, ?, ?, ?, 2, ?)", &st)) == OV_OK) {
		db_bind_int64(st, 1, c->id);
		db_bind_text(st, 2, kind, -1);
		db_bind_int64(st, 3, version);
		db_bind_text(st, 4, stage, -1);
		db_bind_blob(st, 5, env, (int)envlen);
		db_bind_int64(st, 6, kv);
		db_bind_int64(st, 7, timefmt_now());
		db_bind_blob_copy(st, 8, digest, sizeof(digest));
		rc = step_done(v, st, "storing a secret");
	}
	free(env);
	return rc;
}

/*
 * Opens the envelope of the row st points at (columns from `col`: bind,
 * ciphertext, digest; c is its credential): checks the binding rule, the
 * envelope and the digest.
 */
static enum ov_rc
open_row(struct vault *v, struct db_stmt *st, int col, const struct vault_cred *c,
    const char *kind, int64_t version, struct secret **out)
{
	int bind = db_col_int(st, col);
	const void *digest = db_col_blob(st, col + 2);
	int dlen = db_col_bytes(st, col + 2);
	char binding[BINDING_MAX];
	unsigned char have[32];
	struct secret *pt;
	enum ov_rc rc;

	/* Another process may have closed the old binding since this
	 * connection looked: look again before opening one. */
	if (bind < BIND_DEST && !v->binding_final)
		binding_final_reload(v);
	if (bind < BIND_DEST && v->binding_final)
		return ov_seterr(OV_EINTEGRITY, "it is sealed in the old "
		    "binding, which this vault no longer opens (every row was "
		    "re-sealed): the row was restored or edited");
	binding_secret(binding, sizeof(binding), c, kind, version, bind);
	if ((rc = vault_env_open(v, binding, db_col_blob(st, col + 1),
	    (size_t)db_col_bytes(st, col + 1), &pt)) != OV_OK)
		return rc;
	if (digest != NULL && ((rc = secret_digest(v, kind, pt, have)) ||
	    !row_mac_ok(have, digest, dlen))) {
		secret_free(pt);
		return rc ? rc : ov_seterr(OV_EINTEGRITY, "its value is not "
		    "the one its digest names: the row was edited");
	}
	*out = pt;
	return OV_OK;
}

/* Checks that a current refresh token was not retired (restored row). */
static enum ov_rc
not_retired(struct vault *v, const struct secret *rt)
{
	char when[32];
	int64_t at;
	enum ov_rc rc;

	if ((rc = rt_retired_at(v, rt, &at)) != OV_OK || at == 0)
		return rc;
	timefmt_rfc3339(at, when, sizeof(when));
	return ov_seterr(OV_EINTEGRITY, "its current refresh token was "
	    "rotated away at %s: the row was restored from an older copy",
	    when);
}

/* Opens (cred_id, kind, stage) in one snapshot with the MAC check; with
 * `expect` (what the caller will send, read earlier), refuses a row
 * whose destination or scope is no longer that one. */
static enum ov_rc
secret_open(struct vault *v, int64_t cred_id, const struct vault_cred *expect,
    enum vault_secret_kind kind, const char *stage, struct secret **out)
{
	struct vault_cred c;
	struct secret *pt = NULL;
	struct db_stmt *st;
	enum ov_rc rc;
	int src;

	if ((rc = cred_mac_verify(v, cred_id)) != OV_OK)
		return rc;
	if ((rc = db_prepare(v, "SELECT " DEST_COLS ", s.version, s.bind, "
	    "s.ciphertext, s.digest, c.expected_scope FROM secret_versions s "
	    "JOIN credentials c ON c.id = s.credential_id WHERE "
	    "s.credential_id = ? AND s.kind = ? AND s.stage = ?", &st)) !=
	    OV_OK)
		return rc;
	db_bind_int64(st, 1, cred_id);
	db_bind_text(st, 2, kind_names[kind], -1);
	db_bind_text(st, 3, stage ? stage : "current", -1);
	if ((src = db_step(st)) == DB_ROW) {
		const char *scope = db_col_text(st, 13);

		dest_row(st, 0, &c);
		if (expect && (dest_differs(expect, &c) || strcmp(
		    expect->expected_scope, scope ? scope : "") != 0))
			rc = ov_seterr(OV_EINTEGRITY, "its destination or "
			    "scope changed after it was read: the row was "
			    "edited");
		else
			rc = open_row(v, st, 10, &c, kind_names[kind],
			    db_col_int64(st, 9), &pt);
		if (rc == OV_OK && kind == VAULT_REFRESH_TOKEN && !stage)
			rc = not_retired(v, pt);
		if (rc != OV_OK) {
			char why[OV_ERRMSG_MAX];

			snprintf(why, sizeof(why), "%s", ov_errmsg());
			rc = ov_seterr(rc, "%s of credential %lld does not "
			    "open: %s", kind_names[kind], (long long)cred_id,
			    why);
		}
	} else if (src == DB_DONE)
		rc = ov_seterr(OV_ENOTFOUND, "credential %lld has no %s %s",
		    (long long)cred_id, stage ? stage : "current",
		    kind_names[kind]);
	else
		rc = db_err(v, src, "reading a secret");
	db_finish(v, st);
	if (rc == OV_OK)
		*out = pt;
	else
		secret_free(pt);
	return rc;
}

/* Every read of one open sees one snapshot: no commit of another
 * connection in between can make a sound row look edited. */
static enum ov_rc
open_snapshot(struct vault *v, int64_t cred_id, const struct vault_cred *expect,
    enum vault_secret_kind kind, const char *stage, struct secret **out)
{
	int own = !db_in_tx(v->db);
	enum ov_rc rc;

	if ((rc = vault_need_key(v)) != OV_OK ||
	    (own && (rc = db_read_begin(v)) != OV_OK))
		return rc;
	rc = secret_open(v, cred_id, expect, kind, stage, out);
	if (own)
		(void)db_commit(v->db);
	return rc;
}

enum ov_rc
vault_secret_open(struct vault *v, int64_t cred_id,
    enum vault_secret_kind kind, const char *stage, struct secret **out)
{
	return open_snapshot(v, cred_id, NULL, kind, stage, out);
}

enum ov_rc
vault_secret_open_for(struct vault *v, const struct vault_cred *c,
    enum vault_secret_kind kind, const char *stage, struct secret **out)
{
	return open_snapshot(v, c->id, c, kind, stage, out);
}

/* The digest of c's current version of kind (*found 0: none); opened
 * and computed for a row that has none yet. */
static enum ov_rc
current_digest(struct vault *v, const struct vault_cred *c, const char *kind,
    unsigned char out[32], int *found)
{
	struct db_stmt *st;
	struct secret *pt;
	enum ov_rc rc;
	int src;

	*found = 0;
	if ((rc = db_prepare(v, "SELECT " DEST_COLS ", s.version, s.bind, "
	    "s.ciphertext, s.digest FROM secret_versions s JOIN credentials c "
	    "ON c.id = s.credential_id WHERE s.credential_id = ? AND "
	    "s.kind = ? AND s.stage = 'current'", &st)) != OV_OK)
		return rc;
	db_bind_int64(st, 1, c->id);
	db_bind_text(st, 2, kind, -1);
	if ((src = db_step(st)) == DB_ROW) {
		struct vault_cred stored;

		*found = 1;
		if (db_col_bytes(st, 12) == 32)
			memcpy(out, db_col_blob(st, 12), 32);
		else {
			dest_row(st, 0, &stored);
			if ((rc = open_row(v, st, 10, &stored, kind,
			    db_col_int64(st, 9), &pt)) == OV_OK) {
				rc = secret_digest(v, kind, pt, out);
				secret_free(pt);
			}
		}
	} else if (src != DB_DONE)
		rc = db_err(v, src, "reading a secret");
	db_finish(v, st);
	return rc;
}

enum ov_rc
secret_equals_current(struct vault *v, const struct vault_cred *c,
    const char *kind, const struct secret *s, int *equal)
{
	unsigned char have[32], given[32];
	enum ov_rc rc;
	int found;

	if ((rc = current_digest(v, c, kind, have, &found)) != OV_OK ||
	    (found && (rc = secret_digest(v, kind, s, given)) != OV_OK))
		return rc;
	*equal = found && sodium_memcmp(have, given, 32) == 0;
	return OV_OK;
}

enum ov_rc
rt_retired_at(struct vault *v, const struct secret *rt, int64_t *at)
{
	unsigned char d[32];
	struct db_stmt *st;
	enum ov_rc rc;
	int src;

	*at = 0;
	if ((rc = secret_digest(v, kind_names[VAULT_REFRESH_TOKEN], rt, d)))
		return rc;
	/* The index finds candidates by a keyed digest (it says nothing
	 * without the key); each is confirmed in constant time. */
	if ((rc = db_prepare(v, "SELECT digest, retired_at FROM "
	    "retired_refresh_tokens WHERE digest = ? ORDER BY id DESC", &st)))
		return rc;
	db_bind_blob_copy(st, 1, d, sizeof(d));
	while ((src = db_step(st)) == DB_ROW)
		if (row_mac_ok(d, db_col_blob(st, 0),
		    db_col_bytes(st, 0))) {
			*at = db_col_int64(st, 1);
			break;
		}
	if (src != DB_ROW && src != DB_DONE)
		rc = db_err(v, src, "reading retired refresh tokens");
	db_finish(v, st);
	return rc;
}

enum ov_rc
rt_retire_current(struct vault *v, const struct vault_cred *c)
{
	unsigned char d[32], mac[32];
	struct db_stmt *st;
	int64_t now = timefmt_now(), expires;
	enum ov_rc rc;
	int found;

	if ((rc = current_digest(v, c, kind_names[VAULT_REFRESH_TOKEN], d,
	    &found)) != OV_OK || !found)
		return rc;
	/* The retiring token's own expiry, when the provider said it, is
	 * the one the tokens row holds (0: unknown). */
	expires = c->refresh_token_expires_at > now ?
	    c->refresh_token_expires_at : 0;
	if ((rc = retired_mac(v, c->id, d, now, expires, mac)) != OV_OK ||
	    (rc = db_prepare(v, "INSERT INTO retired_refresh_tokens "
	    "(credential_id, digest, retired_at, expires_at, mac) VALUES "
	    "(?, ?, ?, nullif(?, 0), ?)", &st)) != OV_OK)
		return rc;
	db_bind_int64(st, 1, c->id);
	db_bind_blob_copy(st, 2, d, sizeof(d));
	db_bind_int64(st, 3, now);
	db_bind_int64(st, 4, expires);
	db_bind_blob_copy(st, 5, mac, sizeof(mac));
	if ((rc = step_done(v, st, "retiring a refresh token")) != OV_OK)
		return rc;
	/* Bounded: a token past its own expiry is refused by the provider
	 * anyway; and the newest RETIRED_KEEP per credential. */
	if ((rc = db_prepare(v, "DELETE FROM retired_refresh_tokens WHERE "
	    "credential_id = ?1 AND (expires_at < ?3 OR id <= (SELECT id FROM "
	    "retired_refresh_tokens WHERE credential_id = ?1 ORDER BY id DESC "
	    "LIMIT 1 OFFSET ?2))", &st)) != OV_OK)
		return rc;
	db_bind_int64(st, 1, c->id);
	db_bind_int(st, 2, RETIRED_KEEP);
	db_bind_int64(st, 3, now);
	return step_done(v, st, "pruning retired refresh tokens");
}

/* Re-seals the row of secret_versions id (sealed for `from`, bind) for
 * `to` in the destination binding, with its digest. */
static enum ov_rc
reseal_row(struct vault *v, struct db_stmt *row, const struct vault_cred *from,
    const struct vault_cred *to)
{
	const char *kind = db_col_text(row, 10);
	int64_t version = db_col_int64(row, 9);
	unsigned char *env = NULL, digest[32];
	char binding[BINDING_MAX];
	struct secret *pt;
	struct db_stmt *up;
	size_t envlen;
	uint32_t kv;
	enum ov_rc rc;

	if ((rc = open_row(v, row, 12, from, kind, version, &pt)) != OV_OK)
		return rc;
	binding_secret(binding, sizeof(binding), to, kind, version, BIND_DEST);
	if ((rc = secret_digest(v, kind, pt, digest)) == OV_OK)
		rc = vault_env_seal(v, binding, pt->buf, pt->len, &env,
		    &envlen, &kv);
	secret_free(pt);
	if (rc != OV_OK)
		return rc;
	if ((rc = db_prepare(v, "UPDATE secret_versions SET ciphertext = ?, "
	    "key_version = ?, bind = 2, digest = ? WHERE id = ?", &up)) ==
	    OV_OK) {
		db_bind_blob(up, 1, env, (int)envlen);
		db_bind_int64(up, 2, kv);
		db_bind_blob_copy(up, 3, digest, sizeof(digest));
		db_bind_int64(up, 4, db_col_int64(row, 11));
		rc = step_done(v, up, "re-sealing a secret");
	}
	free(env);
	return rc;
}

#define ROW_COLS DEST_COLS ", s.version, s.kind, s.id, s.bind, " \
	"s.ciphertext, s.digest"

enum ov_rc
secret_move(struct vault *v, const struct vault_cred *from,
    const struct vault_cred *to, const char *kind)
{
	struct db_stmt *st;
	enum ov_rc rc;
	int src;

	if ((rc = db_prepare(v, "SELECT " ROW_COLS " FROM secret_versions s "
	    "JOIN credentials c ON c.id = s.credential_id WHERE "
	    "s.credential_id = ? AND s.kind = ?", &st)) != OV_OK)
		return rc;
	db_bind_int64(st, 1, from->id);
	db_bind_text(st, 2, kind, -1);
	while ((src = db_step(st)) == DB_ROW)
		if ((rc = reseal_row(v, st, from, to)) != OV_OK)
			break;
	if (rc == OV_OK && src != DB_DONE)
		rc = db_err(v, src, "reading secrets to re-seal");
	db_finish(v, st);
	return rc;
}

enum ov_rc
secret_drop_all(struct vault *v, int64_t cred_id)
{
	struct db_stmt *st;
	enum ov_rc rc;

	if ((rc = db_prepare(v, "DELETE FROM secret_versions WHERE "
	    "credential_id = ?", &st)) != OV_OK)
		return rc;
	db_bind_int64(st, 1, cred_id);
	return step_done(v, st, "deleting secrets");
}

enum ov_rc
secret_drop_kind(struct vault *v, const struct vault_cred *c, const char *kind)
{
	struct db_stmt *st;
	enum ov_rc rc;

	if (strcmp(kind, kind_names[VAULT_REFRESH_TOKEN]) == 0 &&
	    (rc = rt_retire_current(v, c)) != OV_OK)
		return rc;
	if ((rc = db_prepare(v, "DELETE FROM secret_versions WHERE "
	    "credential_id = ? AND kind = ?", &st)) != OV_OK)
		return rc;
	db_bind_int64(st, 1, c->id);
	db_bind_text(st, 2, kind, -1);
	return step_done(v, st, "deleting secrets");
}

/*
 * A credential whose MAC fails, or whose row does not open, is marked
 * tampered and left as it is: re-sealing it would bless the edit.
 */
enum ov_rc
secret_rebind_batch(struct vault *v, uint32_t newest, int batch, int64_t *n,
    int *seen_out)
{
	struct db_stmt *st;
	int64_t checked = 0;
	enum ov_rc rc;
	int src, seen = 0, good = 0;

	if ((rc = db_prepare(v, "SELECT " ROW_COLS " FROM secret_versions s "
	    "JOIN credentials c ON c.id = s.credential_id WHERE "
	    "(s.key_version < ?1 OR s.bind < 2 OR s.digest IS NULL) AND "
	    "c.status != 'tampered' ORDER BY s.credential_id LIMIT ?2", &st)))
		return rc;
	db_bind_int64(st, 1, newest);
	db_bind_int(st, 2, batch);
	while ((src = db_step(st)) == DB_ROW) {
		struct vault_cred c;

		seen++;
		dest_row(st, 0, &c);
		if (c.id != checked) {
			/* A digest is in the credential's MAC. */
			if (good && (rc = cred_mac_update(v, checked)))
				break;
			checked = c.id;
			if (!(good = cred_mac_verify(v, c.id) == OV_OK) &&
			    (rc = vault_cred_tampered(v, c.id, ov_errmsg())))
				break;
		}
		if (!good)
			continue;
		rc = reseal_row(v, st, &c, &c);
		if (rc == OV_EINTEGRITY || rc == OV_ECRYPTO) {
			good = 0;
			if ((rc = vault_cred_tampered(v, c.id, ov_errmsg())))
				break;
			continue;
		}
		if (rc != OV_OK)
			break;
		(*n)++;
	}
	if (rc == OV_OK && src != DB_ROW && src != DB_DONE)
		rc = db_err(v, src, "reading secrets to re-seal");
	db_finish(v, st);
	if (rc == OV_OK && good)
		rc = cred_mac_update(v, checked);
	*seen_out = seen;
	if (rc == OV_OK && seen < batch && !v->binding_final) {
		int64_t old;

		if ((rc = secret_old_binding(v, &old)) == OV_OK && old == 0)
			rc = binding_final_set(v);
	}
	return rc;
}

enum ov_rc
secret_old_binding(struct vault *v, int64_t *rows)
{
	struct db_stmt *st;
	enum ov_rc rc;

	if ((rc = db_prepare(v, "SELECT count(*) FROM secret_versions WHERE "
	    "bind < 2 OR digest IS NULL", &st)) != OV_OK)
		return rc;
	*rows = db_step(st) == DB_ROW ? db_col_int64(st, 0) :
	    0;
	db_finish(v, st);
	return OV_OK;
}

static void
check_report(vault_check_cb cb, void *arg, int64_t *failures,
    const char *table, const char *column, int64_t row, const char *problem)
{
	struct vault_check_failure f = { table, column, row, problem };

	(*failures)++;
	cb(&f, arg);
}

/* check is one of those who find a tampered credential first: it records
 * it (best effort: a read-only database still gets its report). */
static void
mark_tampered(struct vault *v, int64_t cred_id)
{
	char why[OV_ERRMSG_MAX];

	snprintf(why, sizeof(why), "found by orgvault check: %s", ov_errmsg());
	(void)vault_cred_tampered(v, cred_id, why);
}

/* check: every secret version opens in its binding, with its digest and
 * recorded key version; every credential's MAC; every retired digest's. */
enum ov_rc
secret_check(struct vault *v, vault_check_cb cb, void *arg, int64_t *checked,
    int64_t *failures)
{
	struct db_stmt *st;
	enum ov_rc rc;
	int src;

	if ((rc = db_prepare(v, "SELECT " ROW_COLS ", s.key_version FROM "
	    "secret_versions s JOIN credentials c ON c.id = s.credential_id "
	    "ORDER BY s.id", &st)) != OV_OK)
		return rc;
	while ((src = db_step(st)) == DB_ROW) {
		int64_t row = db_col_int64(st, 11);
		struct vault_cred c;
		struct secret *pt;
		uint32_t kv;

		(*checked)++;
		dest_row(st, 0, &c);
		if (envelope_key_version(db_col_blob(st, 13),
		    (size_t)db_col_bytes(st, 13), &kv) != OV_OK) {
			check_report(cb, arg, failures, "secret_versions",
			    "ciphertext", row, "envelope is malformed");
			continue;
		}
		if (kv != (uint32_t)db_col_int64(st, 15))
			check_report(cb, arg, failures, "secret_versions",
			    "key_version", row, "recorded key version differs "
			    "from the envelope's");
		if (open_row(v, st, 12, &c, (const char *)
		    db_col_text(st, 10), db_col_int64(st, 9),
		    &pt) != OV_OK) {
			check_report(cb, arg, failures, "secret_versions",
			    "ciphertext", row, ov_errmsg());
			mark_tampered(v, c.id);
		} else
			secret_free(pt);
	}
	db_finish(v, st);
	if (src != DB_DONE)
		return db_err(v, src, "reading secrets");
	if ((rc = db_prepare(v, "SELECT id, status, status_reason FROM "
	    "credentials ORDER BY id", &st)) != OV_OK)
		return rc;
	while ((src = db_step(st)) == DB_ROW) {
		int64_t id = db_col_int64(st, 0);

		(*checked)++;
		if (cred_mac_verify(v, id) != OV_OK) {
			check_report(cb, arg, failures, "credentials",
			    "row_mac", id, ov_errmsg());
			mark_tampered(v, id);
		} else if (strcmp(db_col_text(st, 1),
		    "tampered") == 0)
			check_report(cb, arg, failures, "credentials",
			    "status", id, "the credential is tampered: put its "
			    "secrets again");
	}
	db_finish(v, st);
	if (src != DB_DONE)
		return db_err(v, src, "reading credentials");
	if ((rc = db_prepare(v, "SELECT id, credential_id, digest, "
	    "retired_at, coalesce(expires_at, 0), mac FROM "
	    "retired_refresh_tokens ORDER BY id", &st)))
		return rc;
	while ((src = db_step(st)) == DB_ROW) {
		unsigned char mac[32];

		(*checked)++;
		if (db_col_bytes(st, 2) != 32 || retired_mac(v,
		    db_col_int64(st, 1), db_col_blob(st, 2),
		    db_col_int64(st, 3), db_col_int64(st, 4),
		    mac) != OV_OK || !row_mac_ok(mac, db_col_blob(st, 5),
		    db_col_bytes(st, 5)))
			check_report(cb, arg, failures,
			    "retired_refresh_tokens", "mac",
			    db_col_int64(st, 0), "its MAC does not "
			    "match: the row was edited");
	}
	db_finish(v, st);
	return src == DB_DONE ? OV_OK :
	    db_err(v, src, "reading retired refresh tokens");
}

/*
 * keys.c — data-key rotation: new versions, re-encryption of older rows
 * (rewrap) in small batches, the per-version row counts; and the seal /
 * open helpers every vault file uses, which notice a data key another
 * connection or process added since this one loaded the keyring.
 *
 * A rotation adds data key N+1; every seal from then on uses the newest
 * version the database holds.  Rewrap opens each row sealed with an
 * older version and seals it again with the newest, BATCH rows per
 * transaction, so a kill -9 loses at most one uncommitted batch and
 * leaves every row readable (old versions stay in the keyring until no
 * row uses them; then they are marked retired).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <sodium.h>

#include "util/timefmt.h"
#include "vault/envelope.h"
#include "vault/vault_int.h"

/* Loads data-key versions this connection does not hold yet. */
static enum ov_rc
keyring_catch_up(struct vault *v)
{
	struct db_stmt *st;
	enum ov_rc rc;
	int src;

	if ((rc = db_prepare(v, "SELECT version, wrapped_key FROM keyring "
	    "WHERE version > ? ORDER BY version", &st)) != OV_OK)
		return rc;
	db_bind_int64(st, 1, keyring_newest(v->kr));
	while ((src = db_step(st)) == DB_ROW)
		if ((rc = keyring_add_data_key(v->kr, (uint32_t)
		    db_col_int64(st, 0), db_col_blob(st, 1),
		    (size_t)db_col_bytes(st, 1))) != OV_OK)
			break;
	if (rc == OV_OK && src != DB_DONE)
		rc = db_err(v, src, "reading the keyring");
	db_finish(v, st);
	return rc;
}

static enum ov_rc
newest_in_db(struct vault *v, uint32_t *out)
{
	struct db_stmt *st;
	enum ov_rc rc;

	if ((rc = db_prepare(v, "SELECT coalesce(max(version), 0) FROM "
	    "keyring", &st)) != OV_OK)
		return rc;
	*out = db_step(st) == DB_ROW ?
	    (uint32_t)db_col_int64(st, 0) : 0;
	db_finish(v, st);
	return OV_OK;
}

enum ov_rc
vault_env_seal(struct vault *v, const char *binding, const unsigned char *pt,
    size_t len, unsigned char **env, size_t *envlen, uint32_t *key_version)
{
	uint32_t newest;
	enum ov_rc rc;

	if ((rc = newest_in_db(v, &newest)) != OV_OK)
		return rc;
	if (newest > keyring_newest(v->kr) &&
	    (rc = keyring_catch_up(v)) != OV_OK)
		return rc;
	if ((rc = keyring_seal(v->kr, binding, pt, len, env, envlen)) !=
	    OV_OK)
		return rc;
	return envelope_key_version(*env, *envlen, key_version);
}

enum ov_rc
vault_env_open(struct vault *v, const char *binding,
    const unsigned char *env, size_t len, struct secret **out)
{
	uint32_t kv;

	if (envelope_key_version(env, len, &kv) == OV_OK &&
	    kv > keyring_newest(v->kr))
		(void)keyring_catch_up(v);	/* keyring_open says why */
	return keyring_open(v->kr, binding, env, len, out);
}

/* ------------------------------------------------------------ rotation */

enum ov_rc
vault_key_rotate(struct vault *v, uint32_t *version)
{
	unsigned char *wrapped = NULL;
	struct db_stmt *st = NULL;
	uint32_t newest;
	size_t wlen;
	json_t *d = NULL;
	enum ov_rc rc;
	int src;

	if ((rc = vault_need_key(v)) != OV_OK || (rc = tx_begin(v)) != OV_OK)
		return rc;
	if ((rc = newest_in_db(v, &newest)) != OV_OK ||
	    (newest > keyring_newest(v->kr) &&
	    (rc = keyring_catch_up(v)) != OV_OK))
		goto out;
	if ((rc = keyring_new_data_key(v->kr, newest + 1, &wrapped, &wlen)))
		goto out;
	if ((rc = db_prepare(v, "INSERT INTO keyring (version, wrapped_key, "
	    "created_at) VALUES (?, ?, ?)", &st)) != OV_OK)
		goto out;
	db_bind_int64(st, 1, newest + 1);
	db_bind_blob(st, 2, wrapped, (int)wlen);
	db_bind_int64(st, 3, timefmt_now());
	if ((src = db_step(st)) != DB_DONE) {
		rc = db_err(v, src, "writing the keyring");
		goto out;
	}
	d = json_pack("{s:i, s:i}", "version", (int)(newest + 1), "previous",
	    (int)newest);
	rc = event_append(v, &(struct event_rec){ .kind = "key.rotated",
	    .detail = d });
	if (rc == OV_OK)
		*version = newest + 1;
out:
	db_finish(v, st);
	free(wrapped);
	json_decref(d);
	return tx_end(v, rc);
}

/* The sealed columns rewrapped here (secrets: seal.c, which also brings
 * them to the destination binding; the API-key hash key: rewrap_meta). */
enum sealed { SEALED_TOKEN, SEALED_WEBHOOK };

/* Reseals one row's envelope with the newest key. */
static enum ov_rc
reseal(struct vault *v, const char *binding, const void *ct, size_t len,
    unsigned char **env, size_t *envlen, uint32_t *kv)
{
	struct secret *pt;
	enum ov_rc rc;

	if ((rc = vault_env_open(v, binding, ct, len, &pt)) != OV_OK)
		return rc;
	rc = vault_env_seal(v, binding, pt->buf, pt->len, env, envlen, kv);
	secret_free(pt);
	return rc;
}

/* Rewraps up to `batch` secret or token rows below `newest`; *n counts
 * them. */
static enum ov_rc
rewrap_rows(struct vault *v, enum sealed which, uint32_t newest, int batch,
    int64_t *n)
{
	/* Parenthesised: clang would take each split literal for a missing
	 * comma (-Wstring-concatenation). */
	static const char *const select[] = {
		("SELECT t.credential_id, c.org_id, t.credential_id, '', "
		    "t.generation, t.ciphertext FROM tokens t JOIN "
		    "credentials c ON c.id = t.credential_id WHERE "
		    "t.key_version < ? LIMIT ?"),
		("SELECT id, 0, 0, url, 0, secret_ct FROM webhooks WHERE "
		    "key_version < ? LIMIT ?"),
	};
	static const char *const update[] = {
		("UPDATE tokens SET ciphertext = ?, key_version = ? WHERE "
		    "credential_id = ?"),
		("UPDATE webhooks SET secret_ct = ?, key_version = ? WHERE "
		    "id = ?"),
	};
	struct db_stmt *st, *up;
	enum ov_rc rc;
	int src;

	if ((rc = db_prepare(v, select[which], &st)) != OV_OK)
		return rc;
	db_bind_int64(st, 1, newest);
	db_bind_int(st, 2, batch);
	while ((src = db_step(st)) == DB_ROW) {
		unsigned char *env = NULL;
		char binding[OV_URL_MAX + 64];
		size_t envlen;
		uint32_t kv;

		if (which == SEALED_WEBHOOK)
			binding_webhook(binding, sizeof(binding),
			    db_col_int64(st, 0),
			    db_col_text(st, 3));
		else
			binding_token(binding, sizeof(binding),
			    db_col_int64(st, 1),
			    db_col_int64(st, 2),
			    db_col_int64(st, 4));
		if ((rc = reseal(v, binding, db_col_blob(st, 5),
		    (size_t)db_col_bytes(st, 5), &env, &envlen,
		    &kv)) != OV_OK)
			break;
		if ((rc = db_prepare(v, update[which], &up)) == OV_OK) {
			db_bind_blob(up, 1, env, (int)envlen);
			db_bind_int64(up, 2, kv);
			db_bind_int64(up, 3, db_col_int64(st, 0));
			if ((src = db_step(up)) != DB_DONE)
				rc = db_err(v, src, "rewrapping a row");
			db_finish(v, up);
		}
		free(env);
		if (rc != OV_OK)
			break;
		(*n)++;
	}
	if (rc == OV_OK && src != DB_ROW && src != DB_DONE)
		rc = db_err(v, src, "reading rows to rewrap");
	db_finish(v, st);
	return rc;
}

/* The API-key hash key in vault_meta (hex of an envelope). */
static enum ov_rc
rewrap_meta(struct vault *v, const char *key, const char *binding,
    uint32_t newest, int64_t *n)
{
	char *hexv = NULL;
	unsigned char *ct = NULL, *env = NULL;
	size_t hl, ctlen, envlen;
	uint32_t kv;
	enum ov_rc rc;

	struct db_stmt *st;
	int present;

	/* A vault without API keys has no hash key: nothing to do. */
	if ((rc = db_prepare(v, "SELECT 1 FROM vault_meta WHERE key = ?",
	    &st)) != OV_OK)
		return rc;
	db_bind_text(st, 1, key, -1);
	present = db_step(st) == DB_ROW;
	db_finish(v, st);
	if (!present)
		return OV_OK;
	if ((hexv = malloc(8192)) == NULL)
		return ov_seterr(OV_ENOMEM, "out of memory");
	if ((rc = meta_get(v, key, hexv, 8192)) != OV_OK) {
		free(hexv);
		return rc;
	}
	hl = strlen(hexv);
	if ((ct = malloc(hl / 2 + 1)) == NULL ||
	    sodium_hex2bin(ct, hl / 2 + 1, hexv, hl, NULL, &ctlen, NULL) != 0) {
		rc = ov_seterr(OV_EINTEGRITY, "vault setting %s is malformed",
		    key);
		goto out;
	}
	if (envelope_key_version(ct, ctlen, &kv) != OV_OK || kv >= newest)
		goto out;
	if ((rc = reseal(v, binding, ct, ctlen, &env, &envlen, &kv)) != OV_OK)
		goto out;
	free(hexv);
	if ((hexv = malloc(envlen * 2 + 1)) == NULL) {
		rc = ov_seterr(OV_ENOMEM, "out of memory");
		goto out;
	}
	sodium_bin2hex(hexv, envlen * 2 + 1, env, envlen);
	if ((rc = meta_set(v, key, hexv)) == OV_OK)
		(*n)++;
out:
	free(hexv);
	free(ct);
	free(env);
	return rc;
}

/* Marks versions below newest that no row uses any more as retired. */
static enum ov_rc
retire_unused(struct vault *v, uint32_t newest, int64_t *retired)
{
	struct db_stmt *st;
	enum ov_rc rc;
	int src;

	if ((rc = db_prepare(v, "UPDATE keyring SET state = 'retired', "
	    "retired_at = ? WHERE state = 'active' AND version < ? AND "
	    "version NOT IN (SELECT key_version FROM secret_versions UNION "
	    "SELECT key_version FROM tokens UNION SELECT key_version FROM "
	    "webhooks)", &st)) != OV_OK)
		return rc;
	db_bind_int64(st, 1, timefmt_now());
	db_bind_int64(st, 2, newest);
	if ((src = db_step(st)) != DB_DONE)
		rc = db_err(v, src, "retiring data keys");
	*retired = db_changes(v->db);
	db_finish(v, st);
	return rc;
}

enum ov_rc
vault_key_rewrap(struct vault *v, int batch, int64_t *rewrapped, int *done)
{
	uint32_t newest;
	int64_t n = 0, retired = 0, skipped = 0;
	enum ov_rc rc;
	int seen = 0;

	*done = 0;
	if ((rc = vault_need_key(v)) != OV_OK || (rc = tx_begin(v)) != OV_OK)
		return rc;
	if ((rc = newest_in_db(v, &newest)) != OV_OK)
		goto out;
	if ((rc = secret_rebind_batch(v, newest, batch, &n, &seen)) != OV_OK)
		goto out;
	/* Skipped rows (a tampered credential's) fill the batch too: more
	 * may wait past them. */
	skipped = seen > n ? seen - n : 0;
	if (n + skipped < batch && (rc = rewrap_rows(v, SEALED_TOKEN, newest,
	    batch - (int)(n + skipped), &n)) != OV_OK)
		goto out;
	if (n + skipped < batch && (rc = rewrap_rows(v, SEALED_WEBHOOK, newest,
	    batch - (int)(n + skipped), &n)) != OV_OK)
		goto out;
	if (n + skipped < batch && (rc = rewrap_meta(v, "apikey_hash_key",
	    "vault_meta|value|apikey_hash_key", newest, &n)) != OV_OK)
		goto out;
	if (n + skipped < batch) {	/* nothing older left */
		*done = 1;
		if ((rc = retire_unused(v, newest, &retired)) != OV_OK)
			goto out;
		if (retired) {
			json_t *d = json_pack("{s:I, s:i}", "retired",
			    (json_int_t)retired, "current", (int)newest);

			rc = event_append(v, &(struct event_rec){
			    .kind = "key.retired", .detail = d });
			json_decref(d);
		}
	}
out:
	rc = tx_end(v, rc);
	if (rc == OV_OK)
		*rewrapped = n;
	return rc;
}

enum ov_rc
vault_key_status(struct vault *v, vault_key_cb cb, void *arg)
{
	struct db_stmt *st;
	enum ov_rc rc;
	int src;

	if ((rc = db_prepare(v, "SELECT k.version, k.state, k.created_at, "
	    "coalesce(k.retired_at, 0), "
	    "(SELECT count(*) FROM secret_versions s WHERE s.key_version = "
	    "k.version), (SELECT count(*) FROM tokens t WHERE t.key_version "
	    "= k.version), (SELECT count(*) FROM secret_versions s WHERE "
	    "s.key_version = k.version AND (s.bind < 2 OR s.digest IS NULL)) "
	    "FROM keyring k ORDER BY k.version", &st)) != OV_OK)
		return rc;
	while ((src = db_step(st)) == DB_ROW) {
		struct vault_key k = {
			.version = (uint32_t)db_col_int64(st, 0),
			.created_at = db_col_int64(st, 2),
			.retired_at = db_col_int64(st, 3),
			.secrets = db_col_int64(st, 4),
			.tokens = db_col_int64(st, 5),
			.old_binding = db_col_int64(st, 6),
		};

		snprintf(k.state, sizeof(k.state), "%s",
		    db_col_text(st, 1));
		if (cb(&k, arg) != 0)
			break;
	}
	if (src != DB_ROW && src != DB_DONE)
		rc = db_err(v, src, "reading the keyring");
	db_finish(v, st);
	return rc;
}

enum ov_rc
vault_binding_status(struct vault *v, int64_t *old_rows, int *final)
{
	enum ov_rc rc;

	if ((rc = secret_old_binding(v, old_rows)) == OV_OK)
		*final = v->binding_final;
	return rc;
}

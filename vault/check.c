/*
 * check.c — `orgvault check`: proves that everything stored still opens.
 *
 * keyring rows that did not unwrap at open, every secret and token
 * envelope (with its binding and recorded key version), the API key
 * hash key, the webhooks' signing secrets, the audit hash chain, and
 * the engine's own checks (SQLite's integrity_check and
 * foreign_key_check; PostgreSQL has none to run).  Each failure is
 * reported by table, row and column; nothing is repaired.
 */
#include <stdio.h>
#include <string.h>

#include "vault/envelope.h"
#include "vault/vault_int.h"

struct walk {
	const char	*table;
	const char	*sql;	/* id, org_id, cred_id, kind, version, ct, kv */
};

static const struct walk envelopes[] = {
	{ "tokens", "SELECT t.credential_id, c.org_id, t.credential_id, "
	    "'access_token', t.generation, t.ciphertext, t.key_version FROM "
	    "tokens t LEFT JOIN credentials c ON c.id = t.credential_id "
	    "ORDER BY t.credential_id" },
};

static void
report(vault_check_cb cb, void *arg, int64_t *failures, const char *table,
    const char *column, int64_t row, const char *problem)
{
	struct vault_check_failure f = { table, column, row, problem };

	(*failures)++;
	cb(&f, arg);
}

static enum ov_rc
check_envelopes(struct vault *v, const struct walk *w, vault_check_cb cb,
    void *arg, int64_t *checked, int64_t *failures)
{
	struct db_stmt *st;
	char binding[160];
	struct secret *pt;
	uint32_t kv;
	enum ov_rc rc;
	int src;

	if ((rc = db_prepare(v, w->sql, &st)) != OV_OK)
		return rc;
	while ((src = db_step(st)) == DB_ROW) {
		int64_t row = db_col_int64(st, 0);
		const unsigned char *ct = db_col_blob(st, 5);
		size_t len = (size_t)db_col_bytes(st, 5);

		(*checked)++;
		binding_token(binding, sizeof(binding),
		    db_col_int64(st, 1), db_col_int64(st, 2),
		    db_col_int64(st, 4));
		if (envelope_key_version(ct, len, &kv) != OV_OK) {
			report(cb, arg, failures, w->table, "ciphertext", row,
			    "envelope is malformed");
			continue;
		}
		if (kv != (uint32_t)db_col_int64(st, 6))
			report(cb, arg, failures, w->table, "key_version", row,
			    "recorded key version differs from the envelope's");
		if (vault_env_open(v, binding, ct, len, &pt) != OV_OK)
			report(cb, arg, failures, w->table, "ciphertext", row,
			    ov_errmsg());
		else
			secret_free(pt);
	}
	if (src != DB_DONE)
		rc = db_err(v, src, "reading envelopes");
	db_finish(v, st);
	return rc;
}

struct engine_report {
	vault_check_cb	 cb;
	void		*arg;
	int64_t		*failures;
};

static void
engine_problem(void *arg, const char *table, int64_t row, const char *msg)
{
	struct engine_report *r = arg;

	report(r->cb, r->arg, r->failures, table, "", row, msg);
}

/* The engine's own checks (SQLite's integrity_check and
 * foreign_key_check; none on PostgreSQL). */
static enum ov_rc
check_engine(struct vault *v, vault_check_cb cb, void *arg,
    int64_t *failures)
{
	struct engine_report r = { cb, arg, failures };
	int src = db_check(v->db, engine_problem, &r);

	return src == DB_OK ? OV_OK : db_err(v, src, "running the "
	    "database's integrity checks");
}

enum ov_rc
vault_check(struct vault *v, vault_check_cb cb, void *arg, int64_t *checked,
    int64_t *failures)
{
	enum ov_rc rc;
	int64_t n = 0, bad = 0;

	if ((rc = vault_need_key(v)) != OV_OK)
		return rc;
	if (keyring_newest(v->kr) == 0 && v->nbad_keys == 0)
		report(cb, arg, &bad, "keyring", "version", 0, "the keyring "
		    "holds no usable data key: secrets cannot be opened or "
		    "written; restore the database from a backup");
	for (size_t i = 0; i < v->nbad_keys; i++)
		report(cb, arg, &bad, "keyring", "wrapped_key", v->bad_keys[i],
		    "data key does not unwrap with the master key: tampered");
	for (size_t i = 0; i < sizeof(envelopes) / sizeof(envelopes[0]); i++)
		if ((rc = check_envelopes(v, &envelopes[i], cb, arg, &n,
		    &bad)) != OV_OK)
			return rc;
	if ((rc = secret_check(v, cb, arg, &n, &bad)) != OV_OK ||
	    (rc = binding_check(v, cb, arg, &n, &bad)) != OV_OK ||
	    (rc = apikey_check(v, cb, arg, &n, &bad)) != OV_OK ||
	    (rc = webhook_check(v, cb, arg, &n, &bad)) != OV_OK ||
	    (rc = event_verify_chain(v, cb, arg, &n, &bad)) != OV_OK ||
	    (rc = check_engine(v, cb, arg, &bad)) != OV_OK)
		return rc;
	*checked = n;
	*failures = bad;
	return OV_OK;
}

/*
 * store.c — the bottom layer of vault/, over the storage seam (db.h):
 * the mapping of database errors, statement and transaction helpers,
 * vault settings (vault_meta) and the key settings kept there, the
 * handle's accessors.  It calls nothing else of vault/ but the keyring;
 * opening and creating a vault is open.c's.
 */
#include <stdio.h>
#include <string.h>

#include <sodium.h>

#include "vault/vault_int.h"

static const struct {
	enum vault_kdf_cost	cost;
	unsigned long long	ops;
	size_t			mem;
} kdf_costs[] = {
	{ VAULT_KDF_INTERACTIVE, crypto_pwhash_OPSLIMIT_INTERACTIVE,
	    crypto_pwhash_MEMLIMIT_INTERACTIVE },
	{ VAULT_KDF_MODERATE, crypto_pwhash_OPSLIMIT_MODERATE,
	    crypto_pwhash_MEMLIMIT_MODERATE },
	{ VAULT_KDF_SENSITIVE, crypto_pwhash_OPSLIMIT_SENSITIVE,
	    crypto_pwhash_MEMLIMIT_SENSITIVE },
};

enum ov_rc
db_err(struct vault *v, int src, const char *doing)
{
	switch (db_errclass(v->db, src)) {
	case DB_E_BUSY:
		return ov_seterr(OV_EBUSY, "database %s is locked by another "
		    "process (waited %d ms while %s); retry, or raise "
		    "ORGVAULT_BUSY_TIMEOUT_MS", v->db_path, v->busy_timeout_ms,
		    doing);
	case DB_E_CORRUPT:
		return ov_seterr(OV_EINTEGRITY, "database %s is corrupted or "
		    "not an orgvault database (while %s); restore it from a "
		    "backup", v->db_path, doing);
	case DB_E_READONLY:
		return ov_seterr(OV_EIO, "cannot write %s while %s: the file "
		    "or its directory is read-only or not accessible",
		    v->db_path, doing);
	case DB_E_FULL:
		return ov_seterr(OV_EIO, "disk full while %s on %s; free "
		    "space and retry (nothing was changed)", doing,
		    v->db_path);
	case DB_E_IO:
		return ov_seterr(OV_EIO, "I/O error while %s on %s: %s", doing,
		    v->db_path, db_errmsg(v->db, src));
	case DB_E_CONSTRAINT:
		return ov_seterr(OV_ECONFLICT, "conflict while %s", doing);
	case DB_E_CONN:
		return ov_seterr(OV_EIO, "database %s is unreachable while "
		    "%s: %s", v->db_path, doing, db_errmsg(v->db, src));
	default:
		return ov_seterr(OV_EIO, "database error while %s: %s", doing,
		    db_errmsg(v->db, src));
	}
}

enum ov_rc
db_prepare(struct vault *v, const char *sql, struct db_stmt **st)
{
	int src = db_stmt_prepare(v->db, sql, st);

	return src == DB_OK ? OV_OK : db_err(v, src, "preparing a query");
}

void
db_finish(struct vault *v, struct db_stmt *st)
{
	db_stmt_release(v->db, st);
}

enum ov_rc
db_exec(struct vault *v, const char *sql)
{
	int src = db_script(v->db, sql);

	return src == DB_OK ? OV_OK : db_err(v, src, "writing");
}

enum ov_rc
db_text(struct db_stmt *st, int col, char *buf, size_t len)
{
	const char *t = db_col_text(st, col);
	size_t n = (size_t)db_col_bytes(st, col);

	if (n >= len)
		return ov_seterr(OV_EINTEGRITY, "a stored %s value is longer "
		    "than orgvault allows", db_col_name(st, col));
	memcpy(buf, t ? (const char *)t : "", n);
	buf[n] = '\0';
	return OV_OK;
}

/* Runs one statement without results through the cache: DB_OK or an
 * engine code. */
static int
db_run(struct vault *v, const char *sql)
{
	struct db_stmt *st;
	int src;

	int prc;

	if ((prc = db_stmt_prepare(v->db, sql, &st)) != DB_OK)
		return prc;
	src = db_step(st);
	db_finish(v, st);
	return src == DB_DONE ? DB_OK : src;
}

/* A read transaction: one snapshot for what follows, until db_commit. */
enum ov_rc
db_read_begin(struct vault *v)
{
	int src = db_begin(v->db, 0);

	return src == DB_OK ? OV_OK : db_err(v, src, "starting a read");
}

/* Nested calls (a batch, or an operation that calls another) are
 * savepoints inside the outermost transaction. */
enum ov_rc
tx_begin(struct vault *v)
{
	int src = v->batch || v->tx_depth ? db_run(v, "SAVEPOINT op") :
	    db_begin(v->db, 1);

	if (src != DB_OK)
		return db_err(v, src, "starting a transaction");
	v->tx_depth++;
	return OV_OK;
}

enum ov_rc
tx_end(struct vault *v, enum ov_rc rc)
{
	int src;

	if (v->tx_depth > 0)
		v->tx_depth--;
	if (v->batch || v->tx_depth) {
		if (rc != OV_OK)
			db_run(v, "ROLLBACK TO op");
		db_run(v, "RELEASE op");
		return rc;
	}
	if (rc == OV_OK && v->before_commit)
		rc = v->before_commit(v);
	v->before_commit = NULL;
	if (rc != OV_OK) {
		db_rollback(v->db);
		return rc;
	}
	if ((src = db_commit(v->db)) != DB_OK) {
		rc = db_err(v, src, "committing");
		db_rollback(v->db);
	}
	return rc;
}

enum ov_rc
vault_begin(struct vault *v)
{
	enum ov_rc rc;

	if ((rc = tx_begin(v)) == OV_OK)
		v->batch = 1;
	return rc;
}

enum ov_rc
vault_commit(struct vault *v)
{
	v->batch = 0;
	return tx_end(v, OV_OK);
}

void
vault_rollback(struct vault *v)
{
	v->batch = 0;
	tx_end(v, OV_EINTERNAL);
}

enum ov_rc
meta_get(struct vault *v, const char *key, char *buf, size_t len)
{
	struct db_stmt *st;
	enum ov_rc rc;
	int src;

	if ((rc = db_prepare(v, "SELECT value FROM vault_meta WHERE key = ?",
	    &st)) != OV_OK)
		return rc;
	db_bind_text(st, 1, key, -1);
	if ((src = db_step(st)) == DB_ROW)
		rc = db_text(st, 0, buf, len);
	else if (src == DB_DONE)
		rc = ov_seterr(OV_EINTEGRITY, "vault setting %s is missing "
		    "from %s", key, v->db_path);
	else
		rc = db_err(v, src, "reading vault settings");
	db_finish(v, st);
	return rc;
}

enum ov_rc
meta_set(struct vault *v, const char *key, const char *value)
{
	struct db_stmt *st;
	enum ov_rc rc;
	int src;

	if ((rc = db_prepare(v, "INSERT INTO vault_meta (key, value) "
	    "VALUES (?, ?) ON CONFLICT (key) DO UPDATE SET value = "
	    "excluded.value", &st)) != OV_OK)
		return rc;
	db_bind_text(st, 1, key, -1);
	db_bind_text(st, 2, value, -1);
	if ((src = db_step(st)) != DB_DONE)
		rc = db_err(v, src, "writing vault settings");
	db_finish(v, st);
	return rc;
}

void
binding_token(char *buf, size_t len, int64_t org_id, int64_t cred_id,
    int64_t generation)
{
	snprintf(buf, len, "tokens|access_token|%lld|%lld|%lld",
	    (long long)org_id, (long long)cred_id, (long long)generation);
}

enum ov_rc
vault_need_key(struct vault *v)
{
	if (v->kr == NULL)
		return ov_seterr(OV_EINTERNAL, "this operation needs the "
		    "vault's key, but it was opened without it");
	return OV_OK;
}

const char *
vault_dir(const struct vault *v)
{
	return v->dir;
}

void
vault_set_actor(struct vault *v, const char *actor)
{
	snprintf(v->actor, sizeof(v->actor), "%s", actor);
}

const char *
vault_actor(const struct vault *v)
{
	return v->actor;
}

void
vault_set_request_id(struct vault *v, const char *id)
{
	snprintf(v->request_id, sizeof(v->request_id), "%s", id ? id : "");
}

const char *
vault_sqlite_version(void)
{
	return db_engine_version();
}

const char *
vault_libpq_version(void)
{
	return db_pg_client_version();
}

const char *
vault_db_version(const struct vault *v)
{
	return db_version(v->db);
}

int64_t
vault_sqlite_memory(void)
{
	return db_engine_memory();
}

static void
hex(const unsigned char *b, size_t n, char *out)
{
	sodium_bin2hex(out, n * 2 + 1, b, n);
}

void
kdf_new(enum vault_kdf_cost cost, struct keyring_kdf *kdf)
{
	randombytes_buf(kdf->salt, sizeof(kdf->salt));
	kdf->opslimit = kdf_costs[cost].ops;
	kdf->memlimit = kdf_costs[cost].mem;
}

enum ov_rc
key_meta_write(struct vault *v, const struct keyring *kr,
    const struct keyring_kdf *kdf)
{
	unsigned char check[32];
	char buf[128];
	enum ov_rc rc;

	if ((rc = meta_set(v, "key_source", kdf ? "passphrase" : "file")))
		return rc;
	if (kdf) {
		hex(kdf->salt, sizeof(kdf->salt), buf);
		if ((rc = meta_set(v, "kdf_salt", buf)) ||
		    (rc = meta_set(v, "kdf_alg", "argon2id13")))
			return rc;
		snprintf(buf, sizeof(buf), "%llu", kdf->opslimit);
		if ((rc = meta_set(v, "kdf_opslimit", buf)))
			return rc;
		snprintf(buf, sizeof(buf), "%zu", kdf->memlimit);
		if ((rc = meta_set(v, "kdf_memlimit", buf)))
			return rc;
	} else if ((rc = db_exec(v, "DELETE FROM vault_meta WHERE key IN "
	    "('kdf_salt', 'kdf_alg', 'kdf_opslimit', 'kdf_memlimit')")))
		return rc;
	keyring_check_value(kr, check);
	hex(check, sizeof(check), buf);
	return meta_set(v, "key_check", buf);
}

/*
 * schema.c — the migrations runner.
 *
 * migrations/NNNN_name.sql are embedded at build time (migrate.h).  Each
 * is applied in its own transaction and recorded in schema_migrations
 * with the SHA-256 of its text.  A database that records a migration the
 * binary does not know, or a checksum that differs, is refused by name.
 *
 * Each engine has its own list (migrations/NNNN_*.sql for SQLite,
 * migrations/pg/ for PostgreSQL), with the same versions and names: a
 * version means the same schema on both.  What an engine needs around a
 * migration is the driver's (db_migration_begin: SQLite turns foreign
 * keys off so a migration may rebuild a referenced table).
 */
#include <stdio.h>
#include <string.h>

#include <sodium.h>

#include "util/timefmt.h"
#include "vault/migrate.h"
#include "vault/vault_int.h"

static const char create_table[] =
    "CREATE TABLE IF NOT EXISTS schema_migrations ("
    " version INTEGER PRIMARY KEY, name TEXT NOT NULL,"
    " checksum TEXT NOT NULL, applied_at INTEGER NOT NULL) STRICT";
static const char create_table_pg[] =
    "CREATE TABLE IF NOT EXISTS schema_migrations ("
    " version BIGINT PRIMARY KEY, name TEXT NOT NULL,"
    " checksum TEXT NOT NULL, applied_at BIGINT NOT NULL)";

/*
 * Creates schema_migrations only for `init` (create): any other file
 * without it is not an orgvault database — an empty file included — and
 * opening it writes nothing.
 */
static enum ov_rc
ensure_table(struct vault *v, int create)
{
	int src, has;

	if ((src = db_has_table(v->db, "schema_migrations", &has)) != DB_OK)
		return db_err(v, src, "reading the schema");
	if (has)
		return OV_OK;
	if (!create)
		return ov_seterr(OV_EINTEGRITY, "%s is not an orgvault "
		    "database (it has no schema_migrations table); restore it "
		    "from a backup, or create a vault with `orgvault init` in "
		    "an empty directory", v->db_path);
	return db_exec(v, db_dialect(v->db) == DB_DIALECT_PG ? create_table_pg :
	    create_table);
}

static void
checksum(const struct migration *m, char out[65])
{
	unsigned char h[crypto_hash_sha256_BYTES];

	crypto_hash_sha256(h, (const unsigned char *)m->sql, m->len);
	sodium_bin2hex(out, 65, h, sizeof(h));
}

/* The migrations of the vault's engine. */
static const struct migration *
list(struct vault *v, size_t *n)
{
	if (db_dialect(v->db) == DB_DIALECT_PG) {
		*n = migrations_pg_count;
		return migrations_pg;
	}
	*n = migrations_count;
	return migrations;
}

static const struct migration *
embedded(struct vault *v, int version)
{
	size_t n;
	const struct migration *m = list(v, &n);

	for (size_t i = 0; i < n; i++)
		if (m[i].version == version)
			return &m[i];
	return NULL;
}

/* A migration must leave no row pointing at a missing parent. */
static enum ov_rc
fk_clean(struct vault *v, const struct migration *m)
{
	char table[128];
	int src;

	if ((src = db_migration_check(v->db, table, sizeof(table))) != DB_OK)
		return db_err(v, src, "checking foreign keys");
	if (table[0])
		return ov_seterr(OV_ESCHEMA, "migration %s left a row of %s "
		    "pointing at a missing parent", m->name, table);
	return OV_OK;
}

/*
 * What a migration needs done in C, inside its own transaction, after
 * its SQL (not when a new vault is made: init does it in its place).
 */
static const struct {
	int		 version;
	enum ov_rc	(*after)(struct vault *);
} hooks[] = {
	{ 4, mac_key_bootstrap },	/* the row MAC key, every row MAC'd */
	{ 5, apikey_scope_migrate },	/* API keys name orgs by id */
};

static enum ov_rc
run_hook(struct vault *v, const struct migration *m)
{
	for (size_t i = 0; i < sizeof(hooks) / sizeof(hooks[0]); i++) {
		if (hooks[i].version != m->version)
			continue;
		if (v->kr == NULL)
			return ov_seterr(OV_EUSAGE, "migration %s needs the "
			    "vault's key: run orgvault migrate (with "
			    "--passphrase-file for a passphrase vault)",
			    m->name);
		return hooks[i].after(v);
	}
	return OV_OK;
}

static enum ov_rc
apply_one(struct vault *v, const struct migration *m, int create)
{
	struct db_stmt *st = NULL;
	char sum[65];
	enum ov_rc rc;
	int src;

	if (db_migration_begin(v->db) != DB_OK)
		return ov_seterr(OV_EINTERNAL, "cannot prepare the database "
		    "for migration %s (foreign keys stay on)", m->name);
	if ((rc = tx_begin(v)) != OV_OK)
		goto fk;
	if ((src = db_script(v->db, m->sql)) != DB_OK) {
		rc = ov_seterr(OV_ESCHEMA, "migration %s failed: %s", m->name,
		    db_errmsg(v->db, src));
		goto out;
	}
	if ((rc = fk_clean(v, m)) != OV_OK ||
	    (!create && (rc = run_hook(v, m)) != OV_OK))
		goto out;
	checksum(m, sum);
	if ((rc = db_prepare(v, "INSERT INTO schema_migrations (version, "
	    "name, checksum, applied_at) VALUES (?, ?, ?, ?)", &st)) != OV_OK)
		goto out;
	db_bind_int(st, 1, m->version);
	db_bind_text(st, 2, m->name, -1);
	db_bind_text(st, 3, sum, -1);
	db_bind_int64(st, 4, timefmt_now());
	if ((src = db_step(st)) != DB_DONE)
		rc = db_err(v, src, "recording a migration");
out:
	db_finish(v, st);
	rc = tx_end(v, rc);
fk:
	db_migration_end(v->db);
	return rc;
}

/* Compares what the database applied with what the binary embeds. */
static enum ov_rc
verify_applied(struct vault *v, int *max_applied)
{
	size_t nm;
	const struct migration *ms = list(v, &nm);
	struct db_stmt *st;
	enum ov_rc rc;
	int src;

	*max_applied = 0;
	if ((rc = db_prepare(v, "SELECT version, name, checksum FROM "
	    "schema_migrations ORDER BY version", &st)) != OV_OK)
		return rc;
	while ((src = db_step(st)) == DB_ROW) {
		int ver = db_col_int(st, 0);
		const char *name = db_col_text(st, 1);
		const char *sum = db_col_text(st, 2);
		const struct migration *m = embedded(v, ver);
		char want[65];

		if (m == NULL) {
			rc = ov_seterr(OV_ESCHEMA, "database has migration %s, "
			    "which this orgvault does not know: the schema is "
			    "newer than the binary; upgrade orgvault",
			    name ? name : "?");
			break;
		}
		checksum(m, want);
		if (sum == NULL || strcmp(sum, want) != 0) {
			rc = ov_seterr(OV_EINTEGRITY, "migration %s was "
			    "applied with checksum %.12s…, but this binary "
			    "embeds %.12s…: the migration file was changed "
			    "after it was applied", m->name, sum ? sum : "",
			    want);
			break;
		}
		/* Forward-only and in order: no hole below what is applied. */
		for (size_t i = 0; i < nm; i++)
			if (ms[i].version > *max_applied &&
			    ms[i].version < ver) {
				rc = ov_seterr(OV_EINTEGRITY, "migration %s is "
				    "not recorded although later ones are: "
				    "schema_migrations was edited; restore "
				    "from a backup", ms[i].name);
				break;
			}
		if (rc != OV_OK)
			break;
		*max_applied = ver;
	}
	if (rc == OV_OK && src != DB_DONE)
		rc = db_err(v, src, "reading schema_migrations");
	db_finish(v, st);
	return rc;
}

enum ov_rc
schema_check(struct vault *v, enum schema_mode mode, int *pending)
{
	size_t nm;
	const struct migration *ms = list(v, &nm);
	int max_applied;
	enum ov_rc rc;

	if ((rc = ensure_table(v, mode == SCHEMA_CREATE)) != OV_OK ||
	    (rc = verify_applied(v, &max_applied)) != OV_OK)
		return rc;
	*pending = 0;
	for (size_t i = 0; i < nm; i++) {
		if (ms[i].version <= max_applied)
			continue;
		if (mode != SCHEMA_APPLY && mode != SCHEMA_CREATE) {
			(*pending)++;
			continue;
		}
		if ((rc = apply_one(v, &ms[i],
		    mode == SCHEMA_CREATE)) != OV_OK)
			return rc;
	}
	if (*pending && mode == SCHEMA_REFUSE_PENDING)
		return ov_seterr(OV_ESCHEMA, "the database needs %d pending "
		    "migration(s), starting with %s; run: orgvault migrate",
		    *pending, ms[nm - *pending].name);
	return OV_OK;
}

enum ov_rc
schema_apply_all(struct vault *v)
{
	int pending;

	return schema_check(v, SCHEMA_CREATE, &pending);
}

enum ov_rc
vault_migrate(struct vault *v, int *applied)
{
	size_t nm;
	const struct migration *ms = list(v, &nm);
	int before, after, pending;
	enum ov_rc rc;

	if ((rc = verify_applied(v, &before)) != OV_OK ||
	    (rc = schema_check(v, SCHEMA_APPLY, &pending)) != OV_OK ||
	    (rc = verify_applied(v, &after)) != OV_OK)
		return rc;
	/* Opened with the key before the schema was current: load the MAC
	 * key now (0004 just made it, or an earlier migrate did). */
	if (v->kr && !keyring_has_mac(v->kr) && (rc = mac_key_load(v)))
		return rc;
	*applied = 0;
	for (size_t i = 0; i < nm; i++)
		if (ms[i].version > before &&
		    ms[i].version <= after)
			(*applied)++;
	return OV_OK;
}

enum ov_rc
vault_migrate_status(struct vault *v, vault_migration_cb cb, void *arg)
{
	size_t nm;
	const struct migration *ms = list(v, &nm);
	struct db_stmt *st;
	enum ov_rc rc;

	if ((rc = db_prepare(v, "SELECT applied_at FROM schema_migrations "
	    "WHERE version = ?", &st)) != OV_OK)
		return rc;
	for (size_t i = 0; i < nm; i++) {
		struct vault_migration m = {
			.version = ms[i].version,
			.name = ms[i].name,
		};

		checksum(&ms[i], m.checksum);
		db_reset(st);
		db_bind_int(st, 1, m.version);
		if (db_step(st) == DB_ROW)
			m.applied_at = db_col_int64(st, 0);
		if (cb(&m, arg))
			break;
	}
	db_finish(v, st);
	return OV_OK;
}

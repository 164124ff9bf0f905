/*
 * copy.c — `orgvault copy --to DATABASE`: the vault, row for row, into
 * an empty database of either engine.
 *
 * Nothing is decrypted or re-sealed: envelopes, MACs, keyed hashes, the
 * keyring and the audit chain are copied as they are, with their ids,
 * so every binding and MAC (which name row ids) still holds and the
 * same master key opens the copy.  The target gets its engine's own
 * migrations (schema_migrations records their checksums), then every
 * row in one transaction; on PostgreSQL the schema's DDL is in that
 * transaction too, on SQLite a failed copy removes the file it made.
 * The source is read in one snapshot, opened exclusive by the caller
 * (no serve writes meanwhile).  Both chains then record the copy:
 * vault.copied in the target, vault.copied_to in the source.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "vault/vault_int.h"

/* In an order that satisfies the foreign keys.  schema_migrations is
 * the target's own. */
static const struct copy_table {
	const char	*name;
	const char	*order;
	int		 ids;		/* an identity id column */
} tables[] = {
	{ "vault_meta",			"key",		0 },
	{ "keyring",			"version",	0 },
	{ "orgs",			"id",		1 },
	{ "credentials",		"id",		1 },
	{ "secret_versions",		"id",		1 },
	{ "tokens",			"credential_id", 0 },
	{ "retired_refresh_tokens",	"id",		1 },
	{ "events",			"id",		0 },
	{ "api_keys",			"id",		1 },
	{ "webhooks",			"id",		1 },
	{ "webhook_outbox",		"id",		1 },
	{ "webhook_alert_state",	"credential_id", 0 },
};
#define NTABLES	(sizeof(tables) / sizeof(tables[0]))

/* INSERT INTO t (the columns of st) VALUES (?1, ...). */
static enum ov_rc
insert_for(struct vault *t, const char *table, struct db_stmt *st,
    struct db_stmt **out)
{
	char sql[4096];
	size_t n;
	int ncol = db_col_count(st);

	n = (size_t)snprintf(sql, sizeof(sql), "INSERT INTO %s (", table);
	for (int i = 0; i < ncol && n < sizeof(sql); i++)
		n += (size_t)snprintf(sql + n, sizeof(sql) - n, "%s%s",
		    i ? ", " : "", db_col_name(st, i));
	if (n < sizeof(sql))
		n += (size_t)snprintf(sql + n, sizeof(sql) - n, ") VALUES (");
	for (int i = 0; i < ncol && n < sizeof(sql); i++)
		n += (size_t)snprintf(sql + n, sizeof(sql) - n, "%s?%d",
		    i ? ", " : "", i + 1);
	if (n < sizeof(sql))
		n += (size_t)snprintf(sql + n, sizeof(sql) - n, ")");
	if (n >= sizeof(sql))
		return ov_seterr(OV_EINTERNAL, "copying %s: too many columns",
		    table);
	return db_prepare(t, sql, out);
}

static void
bind_as_read(struct db_stmt *ins, struct db_stmt *st, int col)
{
	int to = col + 1;
	enum db_type type = db_col_type(st, col);	/* before any read */
	int len;

	switch (type) {
	case DB_T_INT:
		db_bind_int64(ins, to, db_col_int64(st, col));
		break;
	case DB_T_FLOAT:
		db_bind_double(ins, to, db_col_double(st, col));
		break;
	case DB_T_TEXT:
		len = db_col_bytes(st, col);
		db_bind_text_copy(ins, to, db_col_text(st, col), len);
		break;
	case DB_T_BLOB:		/* an empty blob is not NULL */
		len = db_col_bytes(st, col);
		db_bind_blob_copy(ins, to, len ? db_col_blob(st, col) : "",
		    len);
		break;
	default:
		db_bind_text(ins, to, NULL, 0);
	}
}

/*
 * The source is read in batches of COPY_BATCH rows, by its order column
 * (keyset): a table of millions of events is never one result in
 * memory, and no statement of the source runs into its timeouts.  The
 * order columns are integers, or text (vault_meta's key).
 */
#define COPY_BATCH	2000

struct last_key {
	enum db_type	 type;		/* DB_T_NULL: none yet */
	int64_t		 i;
	char		*text;
};

static enum ov_rc
last_key_keep(struct last_key *k, struct db_stmt *st, int col)
{
	free(k->text);
	k->text = NULL;
	if ((k->type = db_col_type(st, col)) == DB_T_INT)
		k->i = db_col_int64(st, col);
	else if (k->type == DB_T_TEXT &&
	    (k->text = strdup(db_col_text(st, col))) == NULL)
		return ov_seterr(OV_ENOMEM, "out of memory");
	else if (k->type != DB_T_TEXT)
		return ov_seterr(OV_EINTEGRITY, "copying: a row whose order "
		    "column is neither an integer nor text");
	return OV_OK;
}

static enum ov_rc
copy_batch(struct vault *v, struct vault *t, const struct copy_table *ct,
    struct db_stmt **ins, struct last_key *k, int64_t *n)
{
	struct db_stmt *st;
	char sql[192], doing[80];
	enum ov_rc rc = OV_OK;
	int src, irc, kcol = -1;

	snprintf(doing, sizeof(doing), "copying %s", ct->name);
	snprintf(sql, sizeof(sql), "SELECT * FROM %s%s%s%s ORDER BY %s LIMIT "
	    "%d", ct->name, k->type ? " WHERE " : "", k->type ? ct->order :
	    "", k->type ? " > ?1" : "", ct->order, COPY_BATCH);
	if ((rc = db_prepare(v, sql, &st)) != OV_OK)
		return rc;
	if (k->type == DB_T_INT)
		db_bind_int64(st, 1, k->i);
	else if (k->type == DB_T_TEXT)
		db_bind_text(st, 1, k->text, -1);
	*n = 0;
	while ((src = db_step(st)) == DB_ROW) {
		if (*ins == NULL && (rc = insert_for(t, ct->name, st, ins)) !=
		    OV_OK)
			break;
		for (int i = 0; i < db_col_count(st); i++) {
			if (kcol < 0 && strcmp(db_col_name(st, i), ct->order) ==
			    0)
				kcol = i;
			bind_as_read(*ins, st, i);
		}
		if ((irc = db_step(*ins)) != DB_DONE) {
			rc = db_err(t, irc, doing);
			break;
		}
		db_reset(*ins);
		if (++*n == COPY_BATCH && (rc = kcol < 0 ?
		    ov_seterr(OV_EINTERNAL, "%s: no column %s", doing,
		    ct->order) : last_key_keep(k, st, kcol)) != OV_OK)
			break;
	}
	if (rc == OV_OK && src != DB_ROW && src != DB_DONE)
		rc = db_err(v, src, doing);
	db_finish(v, st);
	return rc;
}

static enum ov_rc
copy_rows(struct vault *v, struct vault *t, const struct copy_table *ct,
    int64_t *rows)
{
	struct db_stmt *ins = NULL;
	struct last_key k = { DB_T_NULL, 0, NULL };
	int64_t next = 0, n;
	enum ov_rc rc;
	int irc;

	if (ct->ids && (irc = db_ids_next(v->db, ct->name, &next)) != DB_OK)
		return db_err(v, irc, "reading the source's ids");
	*rows = 0;
	do {
		rc = copy_batch(v, t, ct, &ins, &k, &n);
		*rows += n;
	} while (rc == OV_OK && n == COPY_BATCH);
	free(k.text);
	db_finish(t, ins);
	if (rc == OV_OK && ct->ids && (irc = db_ids_follow(t->db, ct->name,
	    next)) != DB_OK)
		rc = db_err(t, irc, "setting the copy's ids");
	return rc;
}

/* The target's migrations leave rows of their own (0004's placeholder
 * MAC key): the copy replaces them. */
static enum ov_rc
clear_target(struct vault *t)
{
	char sql[96];
	enum ov_rc rc = OV_OK;

	for (size_t i = NTABLES; i-- > 0 && rc == OV_OK;) {
		snprintf(sql, sizeof(sql), "DELETE FROM %s", tables[i].name);
		rc = db_exec(t, sql);
	}
	return rc;
}

static enum ov_rc
copy_all(struct vault *v, struct vault *t, vault_copy_cb cb, void *arg,
    int64_t *total)
{
	int64_t rows = 0;
	enum ov_rc rc;

	if ((rc = tx_begin(t)) != OV_OK)
		return rc;
	if ((rc = clear_target(t)) != OV_OK)
		return tx_end(t, rc);
	for (size_t i = 0; i < NTABLES; i++) {
		if ((rc = copy_rows(v, t, &tables[i], &rows)) != OV_OK)
			break;
		*total += rows;
		if (cb)
			cb(arg, tables[i].name, rows);
	}
	return tx_end(t, rc);
}

/* An event in v's chain naming the other database. */
static enum ov_rc
record(struct vault *v, const char *kind, const char *key,
    const char *where, int64_t rows)
{
	json_t *detail = json_pack("{s:s, s:I}", key, where, "rows",
	    (json_int_t)rows);
	struct event_rec ev = { .kind = kind, .detail = detail };
	enum ov_rc rc;

	if (detail == NULL)
		return ov_seterr(OV_ENOMEM, "out of memory");
	if ((rc = tx_begin(v)) == OV_OK)
		rc = tx_end(v, event_append(v, &ev));
	json_decref(detail);
	return rc;
}

/* Refuses a target that is not empty: a SQLite file that exists, a
 * schema that holds any of the vault's tables. */
static enum ov_rc
target_empty(struct vault *t)
{
	int has, src;

	if (!t->url[0])
		return access(t->db_path, F_OK) == 0 ? ov_seterr(OV_ECONFLICT,
		    "%s exists: copy writes only into an empty target; "
		    "move it away or give another --to", t->db_path) : OV_OK;
	if ((src = db_has_table(t->db, "schema_migrations", &has)) != DB_OK)
		return db_err(t, src, "reading the target's schema");
	for (size_t i = 0; !has && i < NTABLES; i++)
		if ((src = db_has_table(t->db, tables[i].name, &has)) != DB_OK)
			return db_err(t, src, "reading the target's schema");
	return has ? ov_seterr(OV_ECONFLICT, "%s is not empty (it holds a "
	    "vault, or some of its tables): copy writes only into an empty "
	    "target", t->db_path) : OV_OK;
}

enum ov_rc
vault_copy(struct vault *v, const char *to, vault_copy_cb cb, void *arg)
{
	struct vault_opts o = { .data_dir = v->dir, .database = to,
	    .actor = v->actor, .busy_timeout_ms = v->busy_timeout_ms };
	struct vault *t = NULL;
	int64_t total = 0;
	int made_file = 0;
	enum ov_rc rc;

	if ((rc = vault_need_key(v)) != OV_OK)
		return rc;
	if ((rc = vault_alloc(&o, &t)) != OV_OK)
		return rc;
	if (!v->url[0] && !t->url[0]) {
		rc = ov_seterr(OV_EINVAL, "the vault is already in %s: give "
		    "--to a PostgreSQL database", v->db_path);
		goto out;
	}
	if (!t->url[0] && (rc = target_empty(t)) != OV_OK)
		goto out;
	made_file = !t->url[0];
	if ((rc = vault_db_connect(t, VAULT_DB_CREATE)) == OV_EBUSY)
		/* Its lock is held: a vault in use, or this very one. */
		rc = ov_seterr(OV_ECONFLICT, "%s is in use by another process "
		    "(or is the vault being copied): copy writes only into an "
		    "empty target", t->db_path);
	if (rc != OV_OK || (t->url[0] && (rc = target_empty(t)) != OV_OK))
		goto out;
	if ((rc = db_read_begin(v)) != OV_OK)
		goto out;
	if (t->url[0]) {	/* DDL and rows: one transaction */
		if ((rc = tx_begin(t)) == OV_OK) {
			if ((rc = schema_apply_all(t)) == OV_OK)
				rc = copy_all(v, t, cb, arg, &total);
			rc = tx_end(t, rc);
		}
	} else if ((rc = schema_apply_all(t)) == OV_OK)
		rc = copy_all(v, t, cb, arg, &total);
	db_commit(v->db);	/* the read snapshot */
	if (rc != OV_OK)
		goto out;
	made_file = 0;		/* whole: kept whatever follows */
	if ((rc = keyring_dup(v->kr, &t->kr)) != OV_OK ||
	    (rc = mac_key_load(t)) != OV_OK ||
	    (rc = record(t, "vault.copied", "from", v->db_path, total)) !=
	    OV_OK ||
	    (rc = record(v, "vault.copied_to", "to", t->db_path, total)) !=
	    OV_OK) {
		char why[256];

		snprintf(why, sizeof(why), "%s", ov_errmsg());
		rc = ov_seterr(rc, "the copy in %s is complete, but recording "
		    "it in the audit chains failed (%s); run check on it",
		    t->db_path, why);
	}
out:
	if (rc != OV_OK && made_file) {
		db_close(t->db);
		t->db = NULL;
		vault_db_unlink(t);
	}
	vault_close(t);
	return rc;
}

/*
 * db.c — the storage seam's dispatch: picks the driver a database
 * string names and forwards every call to the driver of the connection
 * or statement (db_driver.h).  It knows no engine's library.
 */
#include <string.h>

#include "vault/db_driver.h"

uint32_t
db_sql_hash(const char *s)
{
	uint32_t h = 2166136261u;	/* FNV-1a */

	while (*s)
		h = (h ^ (unsigned char)*s++) * 16777619u;
	return h;
}

int
db_is_pg(const char *database)
{
	if (database == NULL)
		return 0;
	return strncmp(database, "postgresql://", 13) == 0 ||
	    strncmp(database, "postgres://", 11) == 0 ||
	    strchr(database, '=') != NULL;
}

int
db_open(const struct db_open *o, struct db **out)
{
	const struct db_ops *ops = o->url ? &db_pg_ops : &db_sqlite_ops;

	return ops->open(o, out);
}

void
db_close(struct db *db)
{
	if (db != NULL)
		db->ops->close(db);
}

const char *
db_engine(struct db *db)
{
	return db->ops->engine;
}

int
db_dialect(struct db *db)
{
	return db->ops->dialect;
}

const char *
db_describe(struct db *db)
{
	return db->ops->describe(db);
}

const char *
db_version(struct db *db)
{
	return db->ops->version(db);
}

int
db_begin(struct db *db, int write)
{
	return db->ops->begin(db, write);
}

int
db_commit(struct db *db)
{
	return db->ops->commit(db);
}

int
db_rollback(struct db *db)
{
	return db->ops->rollback(db);
}

int
db_stmt_prepare(struct db *db, const char *sql, struct db_stmt **out)
{
	return db->ops->prepare(db, sql, out);
}

void
db_stmt_release(struct db *db, struct db_stmt *s)
{
	if (s != NULL)
		db->ops->release(db, s);
}

int
db_script(struct db *db, const char *sql)
{
	return db->ops->script(db, sql);
}

int
db_step(struct db_stmt *s)
{
	return s->ops->step(s);
}

void
db_reset(struct db_stmt *s)
{
	s->ops->reset(s);
}

void
db_bind_int(struct db_stmt *s, int i, int v)
{
	s->ops->bind_int64(s, i, v);
}

void
db_bind_int64(struct db_stmt *s, int i, int64_t v)
{
	s->ops->bind_int64(s, i, v);
}

void
db_bind_double(struct db_stmt *s, int i, double v)
{
	s->ops->bind_double(s, i, v);
}

void
db_bind_text(struct db_stmt *s, int i, const char *t, int len)
{
	s->ops->bind_text(s, i, t, len, 0);
}

void
db_bind_text_copy(struct db_stmt *s, int i, const char *t, int len)
{
	s->ops->bind_text(s, i, t, len, 1);
}

void
db_bind_blob(struct db_stmt *s, int i, const void *b, int len)
{
	s->ops->bind_blob(s, i, b, len, 0);
}

void
db_bind_blob_copy(struct db_stmt *s, int i, const void *b, int len)
{
	s->ops->bind_blob(s, i, b, len, 1);
}

int
db_col_int(struct db_stmt *s, int col)
{
	return (int)s->ops->col_int64(s, col);
}

int64_t
db_col_int64(struct db_stmt *s, int col)
{
	return s->ops->col_int64(s, col);
}

double
db_col_double(struct db_stmt *s, int col)
{
	return s->ops->col_double(s, col);
}

const char *
db_col_text(struct db_stmt *s, int col)
{
	return s->ops->col_text(s, col);
}

const void *
db_col_blob(struct db_stmt *s, int col)
{
	return s->ops->col_blob(s, col);
}

int
db_col_bytes(struct db_stmt *s, int col)
{
	return s->ops->col_bytes(s, col);
}

const char *
db_col_name(struct db_stmt *s, int col)
{
	return s->ops->col_name(s, col);
}

int
db_col_count(struct db_stmt *s)
{
	return s->ops->col_count(s);
}

enum db_type
db_col_type(struct db_stmt *s, int col)
{
	return s->ops->col_type(s, col);
}

int
db_changes(struct db *db)
{
	return db->ops->changes(db);
}

int
db_in_tx(struct db *db)
{
	return db->ops->in_tx(db);
}

enum db_class
db_errclass(struct db *db, int code)
{
	if (code == DB_OK || code == DB_ROW || code == DB_DONE)
		return DB_E_NONE;
	return db ? db->ops->errclass(code) : DB_E_OTHER;
}

const char *
db_errmsg(struct db *db, int code)
{
	return db ? db->ops->errmsg(db, code) : "out of memory";
}

int
db_has_table(struct db *db, const char *name, int *has)
{
	return db->ops->has_table(db, name, has);
}

int
db_ids_next(struct db *db, const char *table, int64_t *next)
{
	return db->ops->ids_next(db, table, next);
}

int
db_ids_follow(struct db *db, const char *table, int64_t next)
{
	return db->ops->ids_follow(db, table, next);
}

int
db_migration_begin(struct db *db)
{
	return db->ops->migration_begin(db);
}

int
db_migration_check(struct db *db, char *buf, size_t len)
{
	return db->ops->migration_check(db, buf, len);
}

void
db_migration_end(struct db *db)
{
	db->ops->migration_end(db);
}

int
db_check(struct db *db, db_check_cb cb, void *arg)
{
	return db->ops->check(db, cb, arg);
}

int
db_watch_open(const struct db_open *o, struct db_watch **out)
{
	const struct db_ops *ops = o->url ? &db_pg_ops : &db_sqlite_ops;

	return ops->watch_open(o, out);
}

int
db_watch_fd(struct db_watch *w)
{
	return w->ops->fd(w);
}

int
db_watch_drain(struct db_watch *w)
{
	return w->ops->drain(w);
}

void
db_watch_close(struct db_watch *w)
{
	if (w != NULL)
		w->ops->close(w);
}

/*
 * db_sqlite.c — the SQLite engine behind vault/db.h: the one file that
 * includes sqlite3.h.  A connection holds a cache of prepared
 * statements; a db_stmt is SQLite's own statement.
 */
#include <stdlib.h>
#include <string.h>

#include <sqlite3.h>

#include "vault/db.h"

#define STMT_CACHE	48

/* A prepared statement kept for reuse (db_stmt_prepare/release). */
struct cached_stmt {
	sqlite3_stmt	*st;
	const char	*sql;		/* sqlite3_sql(st) */
	uint32_t	 hash;
	int		 in_use;
};

struct db {
	sqlite3			*h;
	struct cached_stmt	 cache[STMT_CACHE];
	size_t			 ncache;
};

#define ST(s)	((sqlite3_stmt *)(void *)(s))

/*
 * Opens the file and sets the connection pragmas.  exclusive sets
 * SQLite's exclusive locking mode before the first read: in WAL mode
 * that read then needs an exclusive lock on the file, which fails while
 * any other connection (every one holds a shared lock while open) has
 * it, and keeps others out until this one closes.
 */
int
db_open(const struct db_open *o, struct db **out)
{
	int flags = SQLITE_OPEN_READWRITE | SQLITE_OPEN_NOFOLLOW |
	    SQLITE_OPEN_FULLMUTEX | (o->create ? SQLITE_OPEN_CREATE : 0);
	struct db *db;
	int src;

	*out = NULL;
	if ((db = calloc(1, sizeof(*db))) == NULL)
		return SQLITE_NOMEM;
	if ((src = sqlite3_open_v2(o->path, &db->h, flags, NULL)) != SQLITE_OK)
		goto fail;
	sqlite3_extended_result_codes(db->h, 1);
	sqlite3_busy_timeout(db->h, o->busy_timeout_ms);
	/* First: PRAGMA synchronous already reads the schema. */
	src = o->exclusive ? sqlite3_exec(db->h, "PRAGMA locking_mode = "
	    "EXCLUSIVE", NULL, NULL, NULL) : SQLITE_OK;
	if (src == SQLITE_OK)
		src = sqlite3_exec(db->h, "PRAGMA foreign_keys = ON; "
		    "PRAGMA secure_delete = ON; PRAGMA synchronous = FULL; "
		    "PRAGMA trusted_schema = OFF", NULL, NULL, NULL);
	/* A file that is not a database fails here, not later. */
	if (src == SQLITE_OK)
		src = sqlite3_exec(db->h, "SELECT count(*) FROM sqlite_schema",
		    NULL, NULL, NULL);
	if (src == SQLITE_OK && o->create)
		src = sqlite3_exec(db->h, "PRAGMA journal_mode = WAL", NULL,
		    NULL, NULL);
	if (src == SQLITE_OK) {
		*out = db;
		return DB_OK;
	}
fail:
	/* The caller maps src; sqlite3_errstr() needs no connection. */
	*out = db;	/* for db_errmsg, then db_close */
	return src;
}

void
db_close(struct db *db)
{
	if (db == NULL)
		return;
	for (size_t i = 0; i < db->ncache; i++)
		sqlite3_finalize(db->cache[i].st);
	sqlite3_close_v2(db->h);
	free(db);
}

static uint32_t
sql_hash(const char *s)
{
	uint32_t h = 2166136261u;	/* FNV-1a */

	while (*s)
		h = (h ^ (unsigned char)*s++) * 16777619u;
	return h;
}

/*
 * The refresh path runs the same dozen statements thousands of times a
 * second; compiling them each time was a third of its CPU.  A statement
 * in use (a nested call with the same SQL) falls back to a fresh one.
 */
int
db_stmt_prepare(struct db *db, const char *sql, struct db_stmt **out)
{
	uint32_t h = sql_hash(sql);
	struct cached_stmt *c;
	sqlite3_stmt *st;
	int src;

	for (size_t i = 0; i < db->ncache; i++) {
		c = &db->cache[i];
		if (c->hash == h && !c->in_use && strcmp(c->sql, sql) == 0) {
			c->in_use = 1;
			*out = (struct db_stmt *)(void *)c->st;
			return DB_OK;
		}
	}
	src = sqlite3_prepare_v3(db->h, sql, -1, db->ncache < STMT_CACHE ?
	    SQLITE_PREPARE_PERSISTENT : 0, &st, NULL);
	if (src != SQLITE_OK)
		return src;
	if (db->ncache < STMT_CACHE) {
		c = &db->cache[db->ncache++];
		c->st = st;
		c->sql = sqlite3_sql(st);
		c->hash = h;
		c->in_use = 1;
	}
	*out = (struct db_stmt *)(void *)st;
	return DB_OK;
}

void
db_stmt_release(struct db *db, struct db_stmt *s)
{
	if (s == NULL)
		return;
	for (size_t i = 0; i < db->ncache; i++)
		if (db->cache[i].st == ST(s)) {
			sqlite3_reset(ST(s));
			sqlite3_clear_bindings(ST(s));
			db->cache[i].in_use = 0;
			return;
		}
	sqlite3_finalize(ST(s));
}

int
db_script(struct db *db, const char *sql)
{
	return sqlite3_exec(db->h, sql, NULL, NULL, NULL);
}

int
db_step(struct db_stmt *s)
{
	return sqlite3_step(ST(s));
}

void
db_reset(struct db_stmt *s)
{
	sqlite3_reset(ST(s));
}

void
db_bind_int(struct db_stmt *s, int i, int v)
{
	sqlite3_bind_int(ST(s), i, v);
}

void
db_bind_int64(struct db_stmt *s, int i, int64_t v)
{
	sqlite3_bind_int64(ST(s), i, v);
}

void
db_bind_double(struct db_stmt *s, int i, double v)
{
	sqlite3_bind_double(ST(s), i, v);
}

void
db_bind_text(struct db_stmt *s, int i, const char *t, int len)
{
	sqlite3_bind_text(ST(s), i, t, len, SQLITE_STATIC);
}

void
db_bind_text_copy(struct db_stmt *s, int i, const char *t, int len)
{
	sqlite3_bind_text(ST(s), i, t, len, SQLITE_TRANSIENT);
}

void
db_bind_blob(struct db_stmt *s, int i, const void *b, int len)
{
	sqlite3_bind_blob(ST(s), i, b, len, SQLITE_STATIC);
}

void
db_bind_blob_copy(struct db_stmt *s, int i, const void *b, int len)
{
	sqlite3_bind_blob(ST(s), i, b, len, SQLITE_TRANSIENT);
}

int
db_col_int(struct db_stmt *s, int col)
{
	return sqlite3_column_int(ST(s), col);
}

int64_t
db_col_int64(struct db_stmt *s, int col)
{
	return sqlite3_column_int64(ST(s), col);
}

double
db_col_double(struct db_stmt *s, int col)
{
	return sqlite3_column_double(ST(s), col);
}

const char *
db_col_text(struct db_stmt *s, int col)
{
	return (const char *)sqlite3_column_text(ST(s), col);
}

const void *
db_col_blob(struct db_stmt *s, int col)
{
	return sqlite3_column_blob(ST(s), col);
}

int
db_col_bytes(struct db_stmt *s, int col)
{
	return sqlite3_column_bytes(ST(s), col);
}

const char *
db_col_name(struct db_stmt *s, int col)
{
	return sqlite3_column_name(ST(s), col);
}

int
db_changes(struct db *db)
{
	return sqlite3_changes(db->h);
}

int
db_in_tx(struct db *db)
{
	return !sqlite3_get_autocommit(db->h);
}

enum db_class
db_errclass(int code)
{
	switch (code & 0xff) {
	case SQLITE_OK:
	case SQLITE_ROW:
	case SQLITE_DONE:	return DB_E_NONE;
	case SQLITE_BUSY:
	case SQLITE_LOCKED:	return DB_E_BUSY;
	case SQLITE_CORRUPT:
	case SQLITE_NOTADB:	return DB_E_CORRUPT;
	case SQLITE_READONLY:
	case SQLITE_PERM:
	case SQLITE_CANTOPEN:	return DB_E_READONLY;
	case SQLITE_FULL:	return DB_E_FULL;
	case SQLITE_IOERR:	return DB_E_IO;
	case SQLITE_CONSTRAINT:	return DB_E_CONSTRAINT;
	default:		return DB_E_OTHER;
	}
}

const char *
db_errmsg(struct db *db, int code)
{
	/* An I/O error's own name says more than the connection's text. */
	if (db == NULL || db->h == NULL || (code & 0xff) == SQLITE_IOERR)
		return sqlite3_errstr(code);
	return sqlite3_errmsg(db->h);
}

const char *
db_engine_version(void)
{
	return sqlite3_libversion();
}

int64_t
db_engine_memory(void)
{
	return sqlite3_memory_used();
}

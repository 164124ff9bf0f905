/*
 * db_sqlite.c — the SQLite engine behind vault/db.h: the one file that
 * includes sqlite3.h.  A connection holds a cache of prepared
 * statements; a db_stmt wraps SQLite's own statement.
 */
#include <fcntl.h>
#include <libgen.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/inotify.h>
#include <unistd.h>

#include <sqlite3.h>

#include "vault/db_driver.h"

#define STMT_CACHE	48

/* A prepared statement, kept for reuse (db_stmt_prepare/release) when
 * it is in the cache, finalized on release otherwise. */
struct lite_stmt {
	struct db_stmt	 base;
	sqlite3_stmt	*st;
	const char	*sql;		/* sqlite3_sql(st) */
	uint32_t	 hash;
	int		 in_use;
	int		 cached;
};

struct lite {
	struct db		 base;
	sqlite3			*h;
	char			 path[PATH_MAX];
	struct lite_stmt	 cache[STMT_CACHE];
	size_t			 ncache;
};

#define ST(s)	(((struct lite_stmt *)(void *)(s))->st)
#define L(d)	((struct lite *)(void *)(d))

/*
 * Opens the file and sets the connection pragmas.  exclusive sets
 * SQLite's exclusive locking mode before the first read: in WAL mode
 * that read then needs an exclusive lock on the file, which fails while
 * any other connection (every one holds a shared lock while open) has
 * it, and keeps others out until this one closes.
 */
static int
lite_open(const struct db_open *o, struct db **out)
{
	int flags = SQLITE_OPEN_READWRITE | SQLITE_OPEN_NOFOLLOW |
	    SQLITE_OPEN_FULLMUTEX | (o->create ? SQLITE_OPEN_CREATE : 0);
	struct lite *db;
	int src;

	*out = NULL;
	if ((db = calloc(1, sizeof(*db))) == NULL)
		return SQLITE_NOMEM;
	db->base.ops = &db_sqlite_ops;
	snprintf(db->path, sizeof(db->path), "%s", o->path);
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
		*out = &db->base;
		return DB_OK;
	}
fail:
	/* The caller maps src; sqlite3_errstr() needs no connection. */
	*out = &db->base;	/* for db_errmsg, then db_close */
	return src;
}

static void
lite_close(struct db *d)
{
	struct lite *db = L(d);

	for (size_t i = 0; i < db->ncache; i++)
		sqlite3_finalize(db->cache[i].st);
	sqlite3_close_v2(db->h);
	free(db);
}

/*
 * The refresh path runs the same dozen statements thousands of times a
 * second; compiling them each time was a third of its CPU.  A statement
 * in use (a nested call with the same SQL) falls back to a fresh one.
 */
static int
lite_prepare(struct db *d, const char *sql, struct db_stmt **out)
{
	struct lite *db = L(d);
	uint32_t h = db_sql_hash(sql);
	struct lite_stmt *c;
	sqlite3_stmt *st;
	int src;

	for (size_t i = 0; i < db->ncache; i++) {
		c = &db->cache[i];
		if (c->hash == h && !c->in_use && strcmp(c->sql, sql) == 0) {
			c->in_use = 1;
			*out = &c->base;
			return DB_OK;
		}
	}
	src = sqlite3_prepare_v3(db->h, sql, -1, db->ncache < STMT_CACHE ?
	    SQLITE_PREPARE_PERSISTENT : 0, &st, NULL);
	if (src != SQLITE_OK)
		return src;
	if (db->ncache < STMT_CACHE) {
		c = &db->cache[db->ncache++];
		c->cached = 1;
	} else if ((c = calloc(1, sizeof(*c))) == NULL) {
		sqlite3_finalize(st);
		return SQLITE_NOMEM;
	}
	c->base.ops = &db_sqlite_ops;
	c->st = st;
	c->sql = sqlite3_sql(st);
	c->hash = h;
	c->in_use = 1;
	*out = &c->base;
	return DB_OK;
}

static void
lite_release(struct db *d, struct db_stmt *s)
{
	struct lite_stmt *c = (struct lite_stmt *)(void *)s;

	if (c->cached) {
		sqlite3_reset(c->st);
		sqlite3_clear_bindings(c->st);
		c->in_use = 0;
		return;
	}
	sqlite3_finalize(c->st);
	free(c);
}

static int
lite_script(struct db *db, const char *sql)
{
	return sqlite3_exec(L(db)->h, sql, NULL, NULL, NULL);
}

/* BEGIN IMMEDIATE takes the write lock now (waiting up to the busy
 * timeout), so a writer never fails half-way on a lock upgrade. */
static int
lite_begin(struct db *db, int write)
{
	return lite_script(db, write ? "BEGIN IMMEDIATE" : "BEGIN");
}

static int
lite_commit(struct db *db)
{
	return lite_script(db, "COMMIT");
}

static int
lite_rollback(struct db *db)
{
	return lite_script(db, "ROLLBACK");
}

static int
lite_step(struct db_stmt *s)
{
	return sqlite3_step(ST(s));
}

static void
lite_reset(struct db_stmt *s)
{
	sqlite3_reset(ST(s));
}

static void
lite_bind_int64(struct db_stmt *s, int i, int64_t v)
{
	sqlite3_bind_int64(ST(s), i, v);
}

static void
lite_bind_double(struct db_stmt *s, int i, double v)
{
	sqlite3_bind_double(ST(s), i, v);
}

static void
lite_bind_text(struct db_stmt *s, int i, const char *t, int len, int copy)
{
	sqlite3_bind_text(ST(s), i, t, len, copy ? SQLITE_TRANSIENT :
	    SQLITE_STATIC);
}

static void
lite_bind_blob(struct db_stmt *s, int i, const void *b, int len, int copy)
{
	sqlite3_bind_blob(ST(s), i, b, len, copy ? SQLITE_TRANSIENT :
	    SQLITE_STATIC);
}

static int64_t
lite_col_int64(struct db_stmt *s, int col)
{
	return sqlite3_column_int64(ST(s), col);
}

static double
lite_col_double(struct db_stmt *s, int col)
{
	return sqlite3_column_double(ST(s), col);
}

static const char *
lite_col_text(struct db_stmt *s, int col)
{
	return (const char *)sqlite3_column_text(ST(s), col);
}

static const void *
lite_col_blob(struct db_stmt *s, int col)
{
	return sqlite3_column_blob(ST(s), col);
}

static int
lite_col_bytes(struct db_stmt *s, int col)
{
	return sqlite3_column_bytes(ST(s), col);
}

static const char *
lite_col_name(struct db_stmt *s, int col)
{
	return sqlite3_column_name(ST(s), col);
}

static int
lite_col_count(struct db_stmt *s)
{
	return sqlite3_column_count(ST(s));
}

static enum db_type
lite_col_type(struct db_stmt *s, int col)
{
	switch (sqlite3_column_type(ST(s), col)) {
	case SQLITE_INTEGER:	return DB_T_INT;
	case SQLITE_FLOAT:	return DB_T_FLOAT;
	case SQLITE_TEXT:	return DB_T_TEXT;
	case SQLITE_BLOB:	return DB_T_BLOB;
	default:		return DB_T_NULL;
	}
}

/* The vault's id columns are AUTOINCREMENT: sqlite_sequence holds the
 * largest id ever handed out. */
static int
lite_ids_next(struct db *d, const char *table, int64_t *next)
{
	char sql[256];
	sqlite3_stmt *st;
	int src;

	snprintf(sql, sizeof(sql), "SELECT max(coalesce((SELECT seq FROM "
	    "sqlite_sequence WHERE name = '%s'), 0), coalesce((SELECT max(id) "
	    "FROM %s), 0)) + 1", table, table);
	if ((src = sqlite3_prepare_v2(L(d)->h, sql, -1, &st, NULL)) !=
	    SQLITE_OK)
		return src;
	if ((src = sqlite3_step(st)) == SQLITE_ROW)
		*next = sqlite3_column_int64(st, 0);
	sqlite3_finalize(st);
	return src == SQLITE_ROW ? DB_OK : src;
}

static int
lite_ids_follow(struct db *d, const char *table, int64_t next)
{
	static const char *const sql[] = {
		"UPDATE sqlite_sequence SET seq = max(seq, ?2) WHERE name = ?1",
		"INSERT INTO sqlite_sequence (name, seq) SELECT ?1, ?2 WHERE "
		    "NOT EXISTS (SELECT 1 FROM sqlite_sequence WHERE name = ?1)",
	};
	sqlite3_stmt *st;
	int src = SQLITE_OK;

	for (size_t i = 0; i < 2 && src == SQLITE_OK; i++) {
		if ((src = sqlite3_prepare_v2(L(d)->h, sql[i], -1, &st,
		    NULL)) != SQLITE_OK)
			break;
		sqlite3_bind_text(st, 1, table, -1, SQLITE_STATIC);
		sqlite3_bind_int64(st, 2, next - 1);
		src = sqlite3_step(st);
		sqlite3_finalize(st);
		src = src == SQLITE_DONE ? SQLITE_OK : src;
	}
	return src == SQLITE_OK ? DB_OK : src;
}

static int
lite_changes(struct db *db)
{
	return sqlite3_changes(L(db)->h);
}

static int
lite_in_tx(struct db *db)
{
	return !sqlite3_get_autocommit(L(db)->h);
}

static enum db_class
lite_errclass(int code)
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

static const char *
lite_errmsg(struct db *d, int code)
{
	struct lite *db = L(d);

	/* An I/O error's own name says more than the connection's text. */
	if (db->h == NULL || (code & 0xff) == SQLITE_IOERR)
		return sqlite3_errstr(code);
	return sqlite3_errmsg(db->h);
}

static int
lite_has_table(struct db *d, const char *name, int *has)
{
	sqlite3_stmt *st;
	int src;

	src = sqlite3_prepare_v2(L(d)->h, "SELECT 1 FROM sqlite_schema WHERE "
	    "type = 'table' AND name = ?", -1, &st, NULL);
	if (src != SQLITE_OK)
		return src;
	sqlite3_bind_text(st, 1, name, -1, SQLITE_STATIC);
	src = sqlite3_step(st);
	sqlite3_finalize(st);
	*has = src == SQLITE_ROW;
	return src == SQLITE_ROW || src == SQLITE_DONE ? DB_OK : src;
}

/*
 * Foreign keys are off while a migration runs (the pragma cannot change
 * inside a transaction), so a migration may rebuild a table that others
 * reference (SQLite's documented 12-step ALTER; a table rebuilt with
 * them on would cascade its children away); foreign_key_check must find
 * nothing before the migration commits.
 */
static int
lite_migration_begin(struct db *d)
{
	sqlite3_stmt *st;
	int src, on;

	if ((src = lite_script(d, "PRAGMA foreign_keys = OFF")) != SQLITE_OK)
		return src;
	if ((src = sqlite3_prepare_v2(L(d)->h, "PRAGMA foreign_keys", -1, &st,
	    NULL)) != SQLITE_OK)
		return src;
	on = sqlite3_step(st) != SQLITE_ROW || sqlite3_column_int(st, 0);
	sqlite3_finalize(st);
	return on ? SQLITE_ERROR : DB_OK;
}

static int
lite_migration_check(struct db *d, char *buf, size_t len)
{
	sqlite3_stmt *st;
	int src;

	*buf = '\0';
	if ((src = sqlite3_prepare_v2(L(d)->h, "PRAGMA foreign_key_check", -1,
	    &st, NULL)) != SQLITE_OK)
		return src;
	if ((src = sqlite3_step(st)) == SQLITE_ROW)
		snprintf(buf, len, "%s", (const char *)sqlite3_column_text(st,
		    0));
	sqlite3_finalize(st);
	return src == SQLITE_ROW || src == SQLITE_DONE ? DB_OK : src;
}

static void
lite_migration_end(struct db *d)
{
	(void)lite_script(d, "PRAGMA foreign_keys = ON");
}

/* integrity_check and foreign_key_check print rows only on trouble. */
static int
lite_check(struct db *d, db_check_cb cb, void *arg)
{
	sqlite3_stmt *st;
	int src;

	if ((src = sqlite3_prepare_v2(L(d)->h, "PRAGMA integrity_check", -1,
	    &st, NULL)) != SQLITE_OK)
		return src;
	while ((src = sqlite3_step(st)) == SQLITE_ROW) {
		const char *msg = (const char *)sqlite3_column_text(st, 0);

		if (msg && strcmp(msg, "ok") != 0)
			cb(arg, "sqlite", 0, msg);
	}
	sqlite3_finalize(st);
	if (src != SQLITE_DONE)
		return src;
	if ((src = sqlite3_prepare_v2(L(d)->h, "PRAGMA foreign_key_check", -1,
	    &st, NULL)) != SQLITE_OK)
		return src;
	while ((src = sqlite3_step(st)) == SQLITE_ROW)
		cb(arg, (const char *)sqlite3_column_text(st, 0),
		    sqlite3_column_int64(st, 1), "foreign key: row points at "
		    "a missing parent");
	sqlite3_finalize(st);
	return src == SQLITE_DONE ? DB_OK : src;
}

static const char *
lite_describe(struct db *d)
{
	return L(d)->path;
}

static const char *
lite_version(struct db *d)
{
	return sqlite3_libversion();
}

/* Commits of other processes write the file or its WAL: inotify on the
 * directory sees them. */
struct lite_watch {
	struct db_watch	 base;
	int		 fd;
};

static int
lite_watch_fd(struct db_watch *w)
{
	return ((struct lite_watch *)(void *)w)->fd;
}

static int
lite_watch_drain(struct db_watch *w)
{
	char buf[4096];
	int any = 0;

	while (read(lite_watch_fd(w), buf, sizeof(buf)) > 0)
		any = 1;
	return any;
}

static void
lite_watch_close(struct db_watch *w)
{
	close(lite_watch_fd(w));
	free(w);
}

static const struct db_watch_ops lite_watch_ops = {
	.fd = lite_watch_fd,
	.drain = lite_watch_drain,
	.close = lite_watch_close,
};

static int
lite_watch_open(const struct db_open *o, struct db_watch **out)
{
	char dir[PATH_MAX];
	struct lite_watch *w;

	*out = NULL;
	snprintf(dir, sizeof(dir), "%s", o->path);
	if ((w = calloc(1, sizeof(*w))) == NULL)
		return SQLITE_NOMEM;
	w->base.ops = &lite_watch_ops;
	if ((w->fd = inotify_init1(IN_NONBLOCK | IN_CLOEXEC)) < 0 ||
	    inotify_add_watch(w->fd, dirname(dir), IN_MODIFY |
	    IN_CLOSE_WRITE | IN_CREATE) < 0) {
		if (w->fd >= 0)
			close(w->fd);
		free(w);
		return SQLITE_CANTOPEN;
	}
	*out = &w->base;
	return DB_OK;
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

const struct db_ops db_sqlite_ops = {
	.engine = "sqlite",
	.dialect = DB_DIALECT_SQLITE,
	.open = lite_open,
	.close = lite_close,
	.prepare = lite_prepare,
	.release = lite_release,
	.script = lite_script,
	.begin = lite_begin,
	.commit = lite_commit,
	.rollback = lite_rollback,
	.step = lite_step,
	.reset = lite_reset,
	.bind_int64 = lite_bind_int64,
	.bind_double = lite_bind_double,
	.bind_text = lite_bind_text,
	.bind_blob = lite_bind_blob,
	.col_int64 = lite_col_int64,
	.col_double = lite_col_double,
	.col_text = lite_col_text,
	.col_blob = lite_col_blob,
	.col_bytes = lite_col_bytes,
	.col_name = lite_col_name,
	.col_count = lite_col_count,
	.col_type = lite_col_type,
	.changes = lite_changes,
	.in_tx = lite_in_tx,
	.errclass = lite_errclass,
	.errmsg = lite_errmsg,
	.has_table = lite_has_table,
	.ids_next = lite_ids_next,
	.ids_follow = lite_ids_follow,
	.migration_begin = lite_migration_begin,
	.migration_check = lite_migration_check,
	.migration_end = lite_migration_end,
	.check = lite_check,
	.describe = lite_describe,
	.version = lite_version,
	.watch_open = lite_watch_open,
};

/*
 * db.h — the storage seam: what vault/ asks of a database engine.  One
 * interface (db.c dispatches), one driver per engine: db_sqlite.c and
 * db_pg.c; no other file includes an engine's header or calls its
 * library.  SQL is written once, in the dialect both engines share
 * (ON CONFLICT, RETURNING, CAST, coalesce); the PostgreSQL driver turns
 * `?N` into `$N`, and its migrations define the few SQLite functions the
 * SQL uses (instr, json_each, json_extract, json_valid).
 *
 * A call that can fail answers an engine result code: DB_OK, DB_ROW or
 * DB_DONE, or an error that db_errclass() sorts into a class the vault
 * maps to its own errors (store.c's db_err).
 *
 * Statements are prepared on one connection and used by one thread at a
 * time.  Parameters are numbered from 1 (written `?` or `?N` in SQL),
 * columns from 0.  A bound text or blob must stay valid until the
 * statement is stepped to its end or released (the _copy binds copy).
 */
#ifndef OV_DB_H
#define OV_DB_H

#include <stddef.h>
#include <stdint.h>

#define DB_OK		0
#define DB_ROW		100
#define DB_DONE		101

struct db;
struct db_stmt;
struct db_watch;

enum db_class {
	DB_E_NONE,
	DB_E_BUSY,		/* locked by another writer past the timeout */
	DB_E_CORRUPT,		/* not a database, or a damaged one */
	DB_E_READONLY,		/* cannot write (permissions, read-only) */
	DB_E_FULL,		/* the disk is full */
	DB_E_IO,		/* an I/O error */
	DB_E_CONSTRAINT,	/* a uniqueness or foreign-key conflict */
	DB_E_CONN,		/* the server is unreachable or went away */
	DB_E_OTHER,
};

/* Which migrations a connection takes (vault/migrate.h). */
#define DB_DIALECT_SQLITE	0
#define DB_DIALECT_PG		1

/* How to open a database. */
struct db_open {
	const char	*path;		/* the SQLite file */
	const char	*url;		/* non-NULL: a PostgreSQL URL/conninfo */
	int		 create;	/* make it (or its schema) if missing */
	int		 exclusive;	/* keep every other connection out */
	int		 busy_timeout_ms;
};

/* Whether a --database value selects PostgreSQL (postgresql:// or
 * postgres://, or a key=value conninfo); anything else is SQLite. */
int		 db_is_pg(const char *database);
/* Refuses what a --database value must not hold (a password): 0, or -1
 * with why written to buf. */
int		 db_url_check(const char *url, char *buf, size_t len);

/* On failure *out may still be set (for db_errmsg), to db_close. */
int		 db_open(const struct db_open *, struct db **out);
void		 db_close(struct db *);
const char	*db_engine(struct db *);	/* "sqlite", "postgresql" */
int		 db_dialect(struct db *);
/* Where the data is, for messages: a path, or a URL without password. */
const char	*db_describe(struct db *);
/* The server's version (PostgreSQL), or the library's (SQLite). */
const char	*db_version(struct db *);

/* Transactions.  A write transaction keeps other writers out until it
 * ends (SQLite's BEGIN IMMEDIATE; on PostgreSQL a transaction advisory
 * lock), a read transaction sees one snapshot. */
int		 db_begin(struct db *, int write);
int		 db_commit(struct db *);
int		 db_rollback(struct db *);

/* Statements are cached per connection: every db_stmt_prepare() is
 * paired with db_stmt_release(), which resets it for the next use. */
int		 db_stmt_prepare(struct db *, const char *sql,
		    struct db_stmt **out);
void		 db_stmt_release(struct db *, struct db_stmt *);
/* Runs SQL of one or more statements without results (migrations). */
int		 db_script(struct db *, const char *sql);

int		 db_step(struct db_stmt *);
/* Back to before the first step; bindings are kept. */
void		 db_reset(struct db_stmt *);

void		 db_bind_int(struct db_stmt *, int i, int);	/* as int64 */
void		 db_bind_int64(struct db_stmt *, int i, int64_t);
void		 db_bind_double(struct db_stmt *, int i, double);
/* len -1: up to the NUL.  A NULL text binds SQL NULL. */
void		 db_bind_text(struct db_stmt *, int i, const char *, int len);
void		 db_bind_text_copy(struct db_stmt *, int i, const char *,
		    int len);
void		 db_bind_blob(struct db_stmt *, int i, const void *, int len);
void		 db_bind_blob_copy(struct db_stmt *, int i, const void *,
		    int len);

/* Columns of the current row.  A NULL text or blob is NULL, 0 bytes;
 * the pointers are valid until the next step, reset or release. */
int		 db_col_int(struct db_stmt *, int col);
int64_t		 db_col_int64(struct db_stmt *, int col);
double		 db_col_double(struct db_stmt *, int col);
const char	*db_col_text(struct db_stmt *, int col);
const void	*db_col_blob(struct db_stmt *, int col);
int		 db_col_bytes(struct db_stmt *, int col);
const char	*db_col_name(struct db_stmt *, int col);
/* How many columns a result has, and the type of a column's value in
 * the current row (copying rows between engines: `orgvault copy`). */
enum db_type { DB_T_NULL, DB_T_INT, DB_T_FLOAT, DB_T_TEXT, DB_T_BLOB };
int		 db_col_count(struct db_stmt *);
enum db_type	 db_col_type(struct db_stmt *, int col);

/* Rows the last INSERT, UPDATE or DELETE changed. */
int		 db_changes(struct db *);
/* Whether a transaction is open on the connection. */
int		 db_in_tx(struct db *);

enum db_class	 db_errclass(struct db *, int code);
/* The engine's words for code (never a bound value). */
const char	*db_errmsg(struct db *, int code);

/* Schema work: whether a table exists; around a migration, what the
 * engine needs (SQLite: foreign keys off, then foreign_key_check, whose
 * first finding goes to buf as "table"). */
int		 db_has_table(struct db *, const char *name, int *has);
/* The identity `id` column of a table: the next id it hands out (past
 * every id it ever handed out, deleted rows' too: SQLite's
 * sqlite_sequence, PostgreSQL's sequence), and, after rows were
 * inserted with their own ids, making it hand out next and later
 * (`orgvault copy`: ids of removed rows are never reused).  table is a
 * name of the schema, never input. */
int		 db_ids_next(struct db *, const char *table, int64_t *next);
int		 db_ids_follow(struct db *, const char *table, int64_t next);
int		 db_migration_begin(struct db *);
int		 db_migration_check(struct db *, char *buf, size_t len);
void		 db_migration_end(struct db *);

/* The engine's own integrity checks (`orgvault check`): each problem
 * found is reported as (table, row, message); PostgreSQL has none to
 * run (its pages are checksummed by the server, if enabled). */
typedef void (*db_check_cb)(void *, const char *table, int64_t row,
    const char *msg);
int		 db_check(struct db *, db_check_cb, void *);

/*
 * Watching for commits of other processes, to wake the scheduler: on
 * SQLite inotify on the file's directory, on PostgreSQL LISTEN on a
 * connection of its own (every write transaction NOTIFYs at commit).
 * fd is -1 while there is nothing to wait on (a lost connection):
 * poll again after a timeout.  drain reads what is pending and answers
 * whether anything changed; it reconnects a lost connection.
 */
int		 db_watch_open(const struct db_open *, struct db_watch **out);
int		 db_watch_fd(struct db_watch *);
int		 db_watch_drain(struct db_watch *);
void		 db_watch_close(struct db_watch *);	/* NULL ok */

/* The libpq linked in (every build has it), as "15.18". */
const char	*db_pg_client_version(void);
/* The SQLite library linked in (every build has it). */
const char	*db_engine_version(void);
int64_t		 db_engine_memory(void);	/* bytes SQLite holds */

#endif

/*
 * db.h — the storage seam: what vault/ asks of a database engine.  One
 * interface, one file per engine (db_sqlite.c; PostgreSQL's to come):
 * no other file includes an engine's header or calls its library.
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

enum db_class {
	DB_E_NONE,
	DB_E_BUSY,		/* locked by another writer past the timeout */
	DB_E_CORRUPT,		/* not a database, or a damaged one */
	DB_E_READONLY,		/* cannot write (permissions, read-only) */
	DB_E_FULL,		/* the disk is full */
	DB_E_IO,		/* an I/O error */
	DB_E_CONSTRAINT,	/* a uniqueness or foreign-key conflict */
	DB_E_OTHER,
};

/* How to open a database. */
struct db_open {
	const char	*path;		/* the SQLite file */
	int		 create;	/* make it if missing (WAL mode) */
	int		 exclusive;	/* keep every other connection out */
	int		 busy_timeout_ms;
};

int		 db_open(const struct db_open *, struct db **out);
void		 db_close(struct db *);

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

void		 db_bind_int(struct db_stmt *, int i, int);
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

/* Rows the last INSERT, UPDATE or DELETE changed. */
int		 db_changes(struct db *);
/* Whether a transaction is open on the connection. */
int		 db_in_tx(struct db *);

enum db_class	 db_errclass(int code);
/* The engine's words for code (db NULL: without the connection's). */
const char	*db_errmsg(struct db *, int code);

const char	*db_engine_version(void);
int64_t		 db_engine_memory(void);	/* bytes the engine holds */

#endif

/*
 * db_pg.c — the PostgreSQL engine behind vault/db.h: the one file that
 * includes libpq-fe.h.
 *
 * A vault lives in one schema (default "orgvault"; `schema=NAME` in the
 * URL, which this file strips before libpq sees it, or the first entry
 * of `options=-csearch_path=NAME`).  SQL arrives in the shared dialect
 * with `?N` parameters and becomes `$N`; each statement is prepared on
 * the server on its first step, with parameter types taken from what
 * was bound (int8, float8, text, bytea in binary; NULL unknown), and
 * kept per connection.  Results are read whole in text form; bytea
 * columns are unescaped on first access.
 *
 * What SQLite's single writer and file lock gave, PostgreSQL's own
 * locks give here (keys: a class and hashtext(schema)):
 *   - every write transaction takes a transaction advisory lock, so
 *     writers run one at a time as on SQLite (BEGIN IMMEDIATE), waiting
 *     up to the busy timeout (lock_timeout) — the audit chain's order,
 *     leases and rotations rely on it;
 *   - every connection holds a shared session advisory lock; an
 *     exclusive open (key change-master) takes it exclusively, so it
 *     fails while any other connection is open and keeps others out;
 *   - every change to a vault table NOTIFYs channel "orgvault" with the
 *     schema (statement triggers of migrations/pg/, delivered at commit,
 *     so edits made behind orgvault's back wake serve too); a watch
 *     LISTENs on a connection of its own.
 *
 * A lost connection is an error of class DB_E_CONN.  The next statement
 * outside a transaction reconnects (with backoff 100 ms doubling to
 * 2 s), prepares again and takes the session lock again; a transaction
 * that lost its connection is gone and only its rollback is accepted.
 * Error text is the server's primary message: never its DETAIL, which
 * can quote a row's values.
 */
#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <libpq-fe.h>

#include "util/log.h"
#include "vault/db_driver.h"

#define PG_STMT_CACHE	64
#define PG_LOCK_OPEN	28534	/* session: open (shared) or exclusive */
#define PG_LOCK_WRITE	28535	/* transaction: one writer at a time */
#define PG_CHANNEL	"orgvault"
#define PG_SCHEMA_MAX	63
#define PG_BACKOFF_MIN	100
#define PG_BACKOFF_MAX	2000	/* ms between reconnect attempts, at most */
#define PG_MIN_VERSION	130000

/* Oids of the built-in types bound or read (pg_type.h). */
#define OID_BOOL	16
#define OID_BYTEA	17
#define OID_INT8	20
#define OID_INT2	21
#define OID_INT4	23
#define OID_FLOAT4	700
#define OID_NUMERIC	1700
#define OID_TEXT	25
#define OID_FLOAT8	701

/* Error codes are negative: -(enum db_class). */
#define PG_ERR(c)	(-(int)(c))

struct pg_param {
	Oid		 type;		/* 0: NULL, type unknown */
	int		 fmt;		/* 1: binary (bytea) */
	int		 len;
	const char	*val;
	char		*owned;		/* a copy, freed on rebind/release */
	char		 num[32];
};

struct pg;

struct pg_stmt {
	struct db_stmt	 base;
	struct pg	*db;
	char		*key;		/* the SQL as given (cache key) */
	uint32_t	 hash;
	char		*sql;		/* with $N */
	int		 nparams;
	struct pg_param	*p;
	const char	**vals;
	int		*lens, *fmts;
	Oid		*types;
	Oid		*ptypes;	/* the types it was prepared with */
	char		 name[24];	/* "" until prepared */
	unsigned	 gen;		/* the connection it was prepared on */
	PGresult	*res;
	int		 ran, row, nrows;
	unsigned char	**blob;		/* unescaped bytea of the row */
	size_t		*bloblen;
	int		 nblob;
	int		 in_use, cached;
};

struct pg {
	struct db	 base;
	PGconn		*conn;
	char		*conninfo;	/* the URL without schema= */
	char		 schema[PG_SCHEMA_MAX + 1];
	char		 describe[512];
	char		 version[32];
	char		 errmsg[512];
	char		 lock_sql[160];	/* BEGIN + the write lock */
	int		 exclusive, busy_ms;
	int		 changes, tx;
	unsigned	 gen;		/* counts (re)connections */
	unsigned	 next_name;
	int		 lost;		/* logged the loss, not yet back */
	int		 backoff_ms;
	long long	 retry_at_ms;
	struct pg_stmt	 cache[PG_STMT_CACHE];
	size_t		 ncache;
};

#define PG(d)	((struct pg *)(void *)(d))
#define PS(s)	((struct pg_stmt *)(void *)(s))

static long long
now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (long long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* Notices (a schema that exists, ...) are not for the terminal. */
static void
quiet(void *arg, const char *msg)
{
}

static void
set_errmsg(struct pg *db, const char *msg)
{
	size_t n;

	snprintf(db->errmsg, sizeof(db->errmsg), "%s", msg && *msg ? msg :
	    "unknown error");
	n = strlen(db->errmsg);
	while (n > 0 && (db->errmsg[n - 1] == '\n' || db->errmsg[n - 1] ==
	    ' '))
		db->errmsg[--n] = '\0';
	for (char *p = db->errmsg; *p; p++)
		if (*p == '\n')
			*p = ' ';
}

/* ---- the URL: schema=, password, defaults ---- */

static int
schema_ok(const char *s, size_t n)
{
	if (n == 0 || n > PG_SCHEMA_MAX || !(islower((unsigned char)*s) ||
	    *s == '_'))
		return 0;
	for (size_t i = 0; i < n; i++)
		if (!(islower((unsigned char)s[i]) || isdigit((unsigned char)
		    s[i]) || s[i] == '_'))
			return 0;
	return 1;
}

/*
 * Copies url to out without its schema parameter (URI query `schema=`,
 * or a conninfo `schema=` word), whose value goes to schema ("" when
 * absent).  -1 on a malformed or unacceptable schema value.
 */
static int
strip_schema(const char *url, char *out, size_t outlen, char *schema)
{
	int uri = strncmp(url, "postgresql://", 13) == 0 ||
	    strncmp(url, "postgres://", 11) == 0;
	const char *p = url, *val = NULL;
	size_t o = 0, vlen = 0;

	*schema = '\0';
	if (strlen(url) >= outlen)
		return -1;
	while (*p) {
		const char *start = p;
		int at_key = uri ? (p > url && (p[-1] == '?' || p[-1] == '&')) :
		    (p == url || isspace((unsigned char)p[-1]));

		if (at_key && strncmp(p, "schema", 6) == 0) {
			const char *q = p + 6;

			while (!uri && isspace((unsigned char)*q))
				q++;
			if (*q == '=') {
				q++;
				while (!uri && isspace((unsigned char)*q))
					q++;
				val = q;
				while (*q && (uri ? *q != '&' :
				    !isspace((unsigned char)*q)))
					q++;
				vlen = (size_t)(q - val);
				/* Drop the separator too. */
				if (uri && *q == '&')
					q++;
				else if (uri && o > 0 && (out[o - 1] == '&' ||
				    out[o - 1] == '?'))
					o--;
				p = q;
				continue;
			}
		}
		out[o++] = *start;
		p = start + 1;
	}
	out[o] = '\0';
	if (val == NULL)
		return 0;
	if (!schema_ok(val, vlen))
		return -1;
	memcpy(schema, val, vlen);
	schema[vlen] = '\0';
	return 0;
}

/* The first entry of -csearch_path=… (or -c search_path=…) in options:
 * 0, or -1 when it is not a schema name orgvault takes. */
static int
schema_from_options(const char *opts, char *schema)
{
	const char *p;
	size_t n;

	if (opts == NULL || (p = strstr(opts, "search_path=")) == NULL)
		return 0;
	p += 12;
	for (n = 0; p[n] && p[n] != ',' && !isspace((unsigned char)p[n]);
	    n++)
		;
	if (!schema_ok(p, n))
		return -1;
	memcpy(schema, p, n);
	schema[n] = '\0';
	return 0;
}

static const char *
opt(PQconninfoOption *o, const char *key)
{
	for (; o && o->keyword; o++)
		if (strcmp(o->keyword, key) == 0)
			return o->val && *o->val ? o->val : NULL;
	return NULL;
}

/*
 * Parses url (schema stripped into schema, default "orgvault"): NULL and
 * why in buf when libpq cannot parse it, the schema is not a plain
 * lower-case name, or it holds a password.
 */
static PQconninfoOption *
url_parse(const char *url, char *stripped, size_t slen, char *schema,
    char *buf, size_t len)
{
	PQconninfoOption *o;
	char *err = NULL;

	if (strip_schema(url, stripped, slen, schema) != 0) {
		snprintf(buf, len, "the database URL's schema must be a "
		    "lower-case name of at most %d letters, digits and _",
		    PG_SCHEMA_MAX);
		return NULL;
	}
	if ((o = PQconninfoParse(stripped, &err)) == NULL) {
		size_t n;

		snprintf(buf, len, "the database URL is not valid: %s",
		    err ? err : "out of memory");
		n = strlen(buf);
		while (n > 0 && buf[n - 1] == '\n')
			buf[--n] = '\0';
		PQfreemem(err);
		return NULL;
	}
	if (opt(o, "password") != NULL) {
		snprintf(buf, len, "the database URL holds a password, which "
		    "would be seen in the process list, the environment or "
		    "shell history: remove it, and keep it in libpq's "
		    "password file instead (~/.pgpass, or passfile=PATH in "
		    "the URL, or PGPASSFILE)");
		PQconninfoFree(o);
		return NULL;
	}
	if (*schema == '\0' && schema_from_options(opt(o, "options"),
	    schema) != 0) {
		snprintf(buf, len, "the first search_path entry of the "
		    "database URL's options must be a lower-case name of at "
		    "most %d letters, digits and _ (or give schema=NAME)",
		    PG_SCHEMA_MAX);
		PQconninfoFree(o);
		return NULL;
	}
	if (*schema == '\0')
		snprintf(schema, PG_SCHEMA_MAX + 1, "orgvault");
	return o;
}

int
db_url_check(const char *url, char *buf, size_t len)
{
	char schema[PG_SCHEMA_MAX + 1], *stripped;
	PQconninfoOption *o;
	size_t slen = strlen(url) + 1;

	if ((stripped = malloc(slen)) == NULL) {
		snprintf(buf, len, "out of memory");
		return -1;
	}
	o = url_parse(url, stripped, slen, schema, buf, len);
	free(stripped);
	PQconninfoFree(o);
	return o ? 0 : -1;
}

/* ---- connecting ---- */

static PGresult *
run(struct pg *db, const char *sql)
{
	return PQexec(db->conn, sql);
}

/* Runs sql of one or more statements: DB_OK, or an error recorded. */
static int classify(struct pg *, PGresult *);

static int
run_ok(struct pg *db, const char *sql)
{
	PGresult *r = run(db, sql);
	int rc = classify(db, r);

	PQclear(r);
	return rc;
}

/*
 * After every (re)connection: the schema (made first for `init`), the
 * defaults that make a cut network or a stuck lock a fault rather than
 * a hang (each only when the URL's options or the role did not set
 * it), bytea in hex, and the session lock.  Prepared statements are
 * planned at each execution: a generic plan made while a table was
 * small (a new vault, or early in a 20 000-line import, which is one
 * transaction that no ANALYZE sees into) scanned it whole per row.
 */
static int
session_setup(struct pg *db, int create)
{
	char sql[1024], *lit, *ident;
	PGresult *r;
	int rc, ok;

	if (PQserverVersion(db->conn) < PG_MIN_VERSION) {
		set_errmsg(db, "PostgreSQL 13 or later is needed");
		return PG_ERR(DB_E_OTHER);
	}
	snprintf(db->version, sizeof(db->version), "%d.%d",
	    PQserverVersion(db->conn) / 10000, PQserverVersion(db->conn) %
	    10000);
	lit = PQescapeLiteral(db->conn, db->schema, strlen(db->schema));
	ident = PQescapeIdentifier(db->conn, db->schema, strlen(db->schema));
	if (lit == NULL || ident == NULL) {
		PQfreemem(lit);
		PQfreemem(ident);
		set_errmsg(db, PQerrorMessage(db->conn));
		return PG_ERR(DB_E_OTHER);
	}
	snprintf(db->lock_sql, sizeof(db->lock_sql), "BEGIN; SELECT "
	    "pg_advisory_xact_lock(%d, hashtext(%s))", PG_LOCK_WRITE, lit);
	rc = DB_OK;
	if (create) {
		snprintf(sql, sizeof(sql), "SELECT 1 FROM pg_namespace WHERE "
		    "nspname = %s", lit);
		r = run(db, sql);
		if ((rc = classify(db, r)) == DB_OK && PQntuples(r) == 0) {
			snprintf(sql, sizeof(sql), "CREATE SCHEMA %s", ident);
			rc = run_ok(db, sql);
		}
		PQclear(r);
	}
	if (rc == DB_OK) {
		snprintf(sql, sizeof(sql), "SET search_path TO %s; "
		    "SET bytea_output = hex; SET client_min_messages = warning; "
		    "SET plan_cache_mode = force_custom_plan; "
		    "SELECT set_config('lock_timeout', '%dms', false) WHERE "
		    "current_setting('lock_timeout') = '0'; "
		    "SELECT set_config('statement_timeout', '30s', false) WHERE "
		    "current_setting('statement_timeout') = '0'; "
		    "SELECT set_config('idle_in_transaction_session_timeout', "
		    "'60s', false) WHERE current_setting("
		    "'idle_in_transaction_session_timeout') = '0'",
		    ident, db->busy_ms);
		rc = run_ok(db, sql);
	}
	if (rc == DB_OK) {
		snprintf(sql, sizeof(sql), db->exclusive ?
		    "SELECT pg_try_advisory_lock(%d, hashtext(%s))" :
		    "SELECT pg_advisory_lock_shared(%d, hashtext(%s)), true",
		    PG_LOCK_OPEN, lit);
		r = run(db, sql);
		if ((rc = classify(db, r)) == DB_OK) {
			ok = PQntuples(r) == 1 && strcmp(PQgetvalue(r, 0,
			    PQnfields(r) - 1), "t") == 0;
			if (!ok) {
				set_errmsg(db, "another connection has the "
				    "vault open");
				rc = PG_ERR(DB_E_BUSY);
			}
		}
		PQclear(r);
	}
	PQfreemem(lit);
	PQfreemem(ident);
	return rc;
}

/* The defaults come before the URL, which may override each of them. */
static PGconn *
connect_url(const char *conninfo)
{
	static const char *const keys[] = { "connect_timeout", "keepalives",
	    "keepalives_idle", "keepalives_interval", "keepalives_count",
	    "tcp_user_timeout", "application_name", "dbname", NULL };
	const char *vals[] = { "5", "1", "10", "3", "3", "15000", "orgvault",
	    conninfo, NULL };
	PGconn *c = PQconnectdbParams(keys, vals, 1);

	if (c != NULL)
		PQsetNoticeProcessor(c, quiet, NULL);
	return c;
}

static void
describe(struct pg *db, PQconninfoOption *o)
{
	const char *host = opt(o, "host"), *port = opt(o, "port");
	const char *user = opt(o, "user"), *name = opt(o, "dbname");

	snprintf(db->describe, sizeof(db->describe), "postgresql://%s%s%s%s"
	    "%s/%s (schema %s)", user ? user : "", user ? "@" : "",
	    host ? host : "", port ? ":" : "", port ? port : "",
	    name ? name : "", db->schema);
}

static int
pg_open(const struct db_open *o, struct db **out)
{
	PQconninfoOption *opts;
	struct pg *db;
	size_t slen = strlen(o->url) + 1;
	int rc;

	*out = NULL;
	if ((db = calloc(1, sizeof(*db))) == NULL)
		return PG_ERR(DB_E_OTHER);
	db->base.ops = &db_pg_ops;
	*out = &db->base;
	db->exclusive = o->exclusive;
	db->busy_ms = o->busy_timeout_ms > 0 ? o->busy_timeout_ms : 5000;
	db->backoff_ms = PG_BACKOFF_MIN;
	if ((db->conninfo = malloc(slen)) == NULL) {
		set_errmsg(db, "out of memory");
		return PG_ERR(DB_E_OTHER);
	}
	if ((opts = url_parse(o->url, db->conninfo, slen, db->schema,
	    db->errmsg, sizeof(db->errmsg))) == NULL)
		return PG_ERR(DB_E_OTHER);
	describe(db, opts);
	PQconninfoFree(opts);
	if ((db->conn = connect_url(db->conninfo)) == NULL) {
		set_errmsg(db, "out of memory");
		return PG_ERR(DB_E_OTHER);
	}
	if (PQstatus(db->conn) != CONNECTION_OK) {
		set_errmsg(db, PQerrorMessage(db->conn));
		return PG_ERR(DB_E_CONN);
	}
	if ((rc = session_setup(db, o->create)) != DB_OK)
		return rc;
	db->gen = 1;
	return DB_OK;
}

static void
stmt_clear_result(struct pg_stmt *s)
{
	for (int i = 0; i < s->nblob; i++) {
		PQfreemem(s->blob[i]);
		s->blob[i] = NULL;
	}
	PQclear(s->res);
	s->res = NULL;
	s->ran = 0;
	s->row = -1;
	s->nrows = 0;
}

static void
stmt_free_params(struct pg_stmt *s)
{
	for (int i = 0; i < s->nparams; i++) {
		free(s->p[i].owned);
		s->p[i] = (struct pg_param){ 0 };
	}
}

static void
stmt_destroy(struct pg_stmt *s)
{
	stmt_clear_result(s);
	stmt_free_params(s);
	free(s->blob);
	free(s->bloblen);
	free(s->key);
	free(s->sql);
	free(s->p);
	free(s->vals);
	free(s->lens);
	free(s->fmts);
	free(s->types);
	free(s->ptypes);
}

static void
pg_close(struct db *d)
{
	struct pg *db = PG(d);

	for (size_t i = 0; i < db->ncache; i++)
		stmt_destroy(&db->cache[i]);
	if (db->conn)
		PQfinish(db->conn);
	free(db->conninfo);
	free(db);
}

/*
 * Whether the connection can take a statement: reconnects a lost one
 * outside a transaction, at most once per backoff interval.
 */
static int
conn_ready(struct pg *db)
{
	long long now;

	if (PQstatus(db->conn) == CONNECTION_OK)
		return 1;
	if (!db->lost) {
		db->lost = 1;
		set_errmsg(db, PQerrorMessage(db->conn));
		log_warnx("lost the connection to %s: %s", db->describe,
		    db->errmsg);
	}
	if (db->tx) {
		set_errmsg(db, "the connection was lost inside a transaction");
		return 0;
	}
	if ((now = now_ms()) < db->retry_at_ms) {
		set_errmsg(db, "the connection is lost; reconnecting");
		return 0;
	}
	PQreset(db->conn);
	PQsetNoticeProcessor(db->conn, quiet, NULL);
	if (PQstatus(db->conn) != CONNECTION_OK ||
	    session_setup(db, 0) != DB_OK) {
		if (PQstatus(db->conn) != CONNECTION_OK)
			set_errmsg(db, PQerrorMessage(db->conn));
		db->retry_at_ms = now + db->backoff_ms;
		db->backoff_ms = db->backoff_ms * 2 > PG_BACKOFF_MAX ?
		    PG_BACKOFF_MAX : db->backoff_ms * 2;
		return 0;
	}
	db->gen++;
	db->lost = 0;
	db->backoff_ms = PG_BACKOFF_MIN;
	db->retry_at_ms = 0;
	log_info("connection to %s restored", db->describe);
	return 1;
}

static enum db_class
sqlstate_class(const char *st)
{
	if (st == NULL)
		return DB_E_OTHER;
	if (strncmp(st, "23", 2) == 0)
		return DB_E_CONSTRAINT;
	if (strcmp(st, "40001") == 0 || strcmp(st, "40P01") == 0 ||
	    strcmp(st, "55P03") == 0 || strcmp(st, "57014") == 0)
		return DB_E_BUSY;
	if (strcmp(st, "53100") == 0)
		return DB_E_FULL;
	if (strcmp(st, "25006") == 0 || strcmp(st, "42501") == 0)
		return DB_E_READONLY;
	if (strncmp(st, "08", 2) == 0 || strncmp(st, "57P", 3) == 0 ||
	    strcmp(st, "53300") == 0)
		return DB_E_CONN;
	if (strncmp(st, "XX00", 4) == 0)
		return DB_E_CORRUPT;
	if (strncmp(st, "58", 2) == 0 || strncmp(st, "53", 2) == 0)
		return DB_E_IO;
	return DB_E_OTHER;
}

/* DB_OK for a result that is not an error; else the error's code,
 * with its primary message kept. */
static int
classify(struct pg *db, PGresult *r)
{
	ExecStatusType st = r ? PQresultStatus(r) : PGRES_FATAL_ERROR;

	if (st == PGRES_COMMAND_OK || st == PGRES_TUPLES_OK)
		return DB_OK;
	if (r == NULL || PQstatus(db->conn) != CONNECTION_OK) {
		set_errmsg(db, PQerrorMessage(db->conn));
		return PG_ERR(DB_E_CONN);
	}
	set_errmsg(db, PQresultErrorField(r, PG_DIAG_MESSAGE_PRIMARY));
	return PG_ERR(sqlstate_class(PQresultErrorField(r,
	    PG_DIAG_SQLSTATE)));
}

/* ---- statements ---- */

/* `?N` and `?` to `$N` outside quotes and comments; the count of
 * parameters (the highest number) to *n. */
static char *
translate(const char *sql, int *n)
{
	size_t len = strlen(sql);
	char *out = malloc(len * 2 + 16), *o = out;
	const char *p = sql;
	int maxn = 0;

	if (out == NULL)
		return NULL;
	while (*p) {
		if (*p == '\'' || *p == '"') {
			char q = *p;

			*o++ = *p++;
			while (*p && *p != q)
				*o++ = *p++;
			if (*p)
				*o++ = *p++;
		} else if (p[0] == '-' && p[1] == '-') {
			while (*p && *p != '\n')
				*o++ = *p++;
		} else if (*p == '?') {
			int k;

			p++;
			if (isdigit((unsigned char)*p)) {
				k = (int)strtol(p, (char **)&p, 10);
			} else
				k = maxn + 1;
			if (k > maxn)
				maxn = k;
			o += sprintf(o, "$%d", k);
		} else
			*o++ = *p++;
	}
	*o = '\0';
	*n = maxn;
	return out;
}

static int
stmt_init(struct pg *db, struct pg_stmt *s, const char *sql)
{
	int n;

	*s = (struct pg_stmt){ .base.ops = &db_pg_ops, .db = db, .row = -1 };
	if ((s->key = strdup(sql)) == NULL ||
	    (s->sql = translate(sql, &n)) == NULL)
		return -1;
	s->hash = db_sql_hash(sql);
	s->nparams = n;
	if (n > 0 && ((s->p = calloc((size_t)n, sizeof(*s->p))) == NULL ||
	    (s->vals = calloc((size_t)n, sizeof(*s->vals))) == NULL ||
	    (s->lens = calloc((size_t)n, sizeof(*s->lens))) == NULL ||
	    (s->fmts = calloc((size_t)n, sizeof(*s->fmts))) == NULL ||
	    (s->types = calloc((size_t)n, sizeof(*s->types))) == NULL ||
	    (s->ptypes = calloc((size_t)n, sizeof(*s->ptypes))) == NULL))
		return -1;
	return 0;
}

static int
pg_prepare(struct db *d, const char *sql, struct db_stmt **out)
{
	struct pg *db = PG(d);
	uint32_t h = db_sql_hash(sql);
	struct pg_stmt *s;

	for (size_t i = 0; i < db->ncache; i++) {
		s = &db->cache[i];
		if (s->hash == h && !s->in_use && strcmp(s->key, sql) == 0) {
			s->in_use = 1;
			*out = &s->base;
			return DB_OK;
		}
	}
	/* A full cache, or this SQL in use (a nested call): one of its
	 * own, run unnamed and freed on release. */
	int heap = db->ncache == PG_STMT_CACHE;

	if (heap && (s = malloc(sizeof(*s))) == NULL)
		goto nomem;
	if (!heap)
		s = &db->cache[db->ncache];
	if (stmt_init(db, s, sql) != 0) {
		stmt_destroy(s);
		if (heap)
			free(s);
		goto nomem;
	}
	if (!heap) {
		s->cached = 1;
		db->ncache++;
	}
	s->in_use = 1;
	*out = &s->base;
	return DB_OK;
nomem:
	set_errmsg(db, "out of memory");
	return PG_ERR(DB_E_OTHER);
}

static void
pg_release(struct db *d, struct db_stmt *st)
{
	struct pg_stmt *s = PS(st);

	stmt_clear_result(s);
	stmt_free_params(s);
	if (s->cached) {
		s->in_use = 0;
		return;
	}
	stmt_destroy(s);
	free(s);
}

static void
note_changes(struct pg *db, PGresult *r)
{
	const char *n = PQcmdTuples(r);

	if (n && *n)
		db->changes = atoi(n);
}

/* Prepares s on the server for the types bound now, unless it is. */
static int
server_prepare(struct pg_stmt *s)
{
	struct pg *db = s->db;
	PGresult *r;
	int rc;

	if (s->name[0] && s->gen == db->gen && (s->nparams == 0 ||
	    memcmp(s->ptypes, s->types, (size_t)s->nparams * sizeof(Oid)) ==
	    0))
		return DB_OK;
	if (s->name[0] && s->gen == db->gen) {
		char sql[48];

		snprintf(sql, sizeof(sql), "DEALLOCATE %s", s->name);
		PQclear(run(db, sql));
	}
	snprintf(s->name, sizeof(s->name), "ov%u", ++db->next_name);
	r = PQprepare(db->conn, s->name, s->sql, s->nparams, s->types);
	if ((rc = classify(db, r)) != DB_OK)
		s->name[0] = '\0';
	else {
		s->gen = db->gen;
		if (s->nparams)
			memcpy(s->ptypes, s->types, (size_t)s->nparams *
			    sizeof(Oid));
	}
	PQclear(r);
	return rc;
}

static int
stmt_exec(struct pg_stmt *s)
{
	struct pg *db = s->db;
	PGresult *r;
	int rc;

	if (!conn_ready(db))
		return PG_ERR(DB_E_CONN);
	for (int i = 0; i < s->nparams; i++) {
		s->vals[i] = s->p[i].val;
		s->lens[i] = s->p[i].len;
		s->fmts[i] = s->p[i].fmt;
		s->types[i] = s->p[i].type;
	}
	if (s->cached) {
		if ((rc = server_prepare(s)) != DB_OK)
			return rc;
		r = PQexecPrepared(db->conn, s->name, s->nparams, s->vals,
		    s->lens, s->fmts, 0);
	} else
		r = PQexecParams(db->conn, s->sql, s->nparams, s->types,
		    s->vals, s->lens, s->fmts, 0);
	if ((rc = classify(db, r)) != DB_OK) {
		PQclear(r);
		return rc;
	}
	note_changes(db, r);
	s->res = r;
	s->nrows = PQntuples(r);
	s->row = -1;
	s->ran = 1;
	if (PQnfields(r) > s->nblob) {
		int n = PQnfields(r);
		unsigned char **b = realloc(s->blob, (size_t)n * sizeof(*b));
		size_t *l;

		if (b == NULL)
			return PG_ERR(DB_E_OTHER);
		s->blob = b;
		if ((l = realloc(s->bloblen, (size_t)n * sizeof(*l))) == NULL)
			return PG_ERR(DB_E_OTHER);
		s->bloblen = l;
		for (int i = s->nblob; i < n; i++)
			s->blob[i] = NULL;
		s->nblob = n;
	}
	return DB_OK;
}

static int
pg_step(struct db_stmt *st)
{
	struct pg_stmt *s = PS(st);
	int rc;

	if (!s->ran && (rc = stmt_exec(s)) != DB_OK)
		return rc;
	for (int i = 0; i < s->nblob; i++) {
		PQfreemem(s->blob[i]);
		s->blob[i] = NULL;
	}
	if (++s->row < s->nrows)
		return DB_ROW;
	s->row = s->nrows;
	return DB_DONE;
}

static void
pg_reset(struct db_stmt *st)
{
	stmt_clear_result(PS(st));
}

static struct pg_param *
param(struct db_stmt *st, int i)
{
	struct pg_stmt *s = PS(st);
	struct pg_param *p;

	if (i < 1 || i > s->nparams)
		return NULL;
	p = &s->p[i - 1];
	free(p->owned);
	*p = (struct pg_param){ 0 };
	return p;
}

static void
pg_bind_int64(struct db_stmt *st, int i, int64_t v)
{
	struct pg_param *p = param(st, i);

	if (p == NULL)
		return;
	snprintf(p->num, sizeof(p->num), "%lld", (long long)v);
	p->val = p->num;
	p->type = OID_INT8;
}

static void
pg_bind_double(struct db_stmt *st, int i, double v)
{
	struct pg_param *p = param(st, i);

	if (p == NULL)
		return;
	snprintf(p->num, sizeof(p->num), "%.17g", v);
	p->val = p->num;
	p->type = OID_FLOAT8;
}

/* Text goes NUL-terminated, so it is always copied. */
static void
pg_bind_text(struct db_stmt *st, int i, const char *t, int len, int copy)
{
	struct pg_param *p = param(st, i);
	size_t n;

	if (p == NULL || t == NULL)
		return;
	n = len < 0 ? strlen(t) : (size_t)len;
	if ((p->owned = malloc(n + 1)) == NULL)
		return;		/* bound as NULL: the statement fails */
	memcpy(p->owned, t, n);
	p->owned[n] = '\0';
	p->val = p->owned;
	p->type = OID_TEXT;
}

static void
pg_bind_blob(struct db_stmt *st, int i, const void *b, int len, int copy)
{
	struct pg_param *p = param(st, i);

	if (p == NULL)
		return;
	p->type = OID_BYTEA;
	p->fmt = 1;
	p->len = len;
	if (!copy || len == 0) {
		p->val = len == 0 ? "" : b;
		return;
	}
	if ((p->owned = malloc((size_t)len)) == NULL) {
		p->type = 0;
		return;
	}
	memcpy(p->owned, b, (size_t)len);
	p->val = p->owned;
}

static int
has_value(struct pg_stmt *s, int col)
{
	return s->res && s->row >= 0 && s->row < s->nrows && col >= 0 &&
	    col < PQnfields(s->res) && !PQgetisnull(s->res, s->row, col);
}

static int64_t
pg_col_int64(struct db_stmt *st, int col)
{
	struct pg_stmt *s = PS(st);
	const char *v;

	if (!has_value(s, col))
		return 0;
	v = PQgetvalue(s->res, s->row, col);
	if (PQftype(s->res, col) == OID_BOOL)
		return *v == 't';
	return strtoll(v, NULL, 10);
}

static double
pg_col_double(struct db_stmt *st, int col)
{
	struct pg_stmt *s = PS(st);

	return has_value(s, col) ? strtod(PQgetvalue(s->res, s->row, col),
	    NULL) : 0;
}

static const char *
pg_col_text(struct db_stmt *st, int col)
{
	struct pg_stmt *s = PS(st);

	return has_value(s, col) ? PQgetvalue(s->res, s->row, col) : NULL;
}

/* bytea arrives as \x hex; unescaped once per row and column. */
static int
unescape(struct pg_stmt *s, int col)
{
	if (!has_value(s, col) || PQftype(s->res, col) != OID_BYTEA)
		return 0;
	if (s->blob[col] == NULL)
		s->blob[col] = PQunescapeBytea((const unsigned char *)
		    PQgetvalue(s->res, s->row, col), &s->bloblen[col]);
	return s->blob[col] != NULL;
}

static const void *
pg_col_blob(struct db_stmt *st, int col)
{
	struct pg_stmt *s = PS(st);

	if (unescape(s, col))
		return s->bloblen[col] ? s->blob[col] : NULL;
	return pg_col_text(st, col);
}

static int
pg_col_bytes(struct db_stmt *st, int col)
{
	struct pg_stmt *s = PS(st);

	if (unescape(s, col))
		return (int)s->bloblen[col];
	return has_value(s, col) ? PQgetlength(s->res, s->row, col) : 0;
}

static const char *
pg_col_name(struct db_stmt *st, int col)
{
	struct pg_stmt *s = PS(st);

	return s->res && col < PQnfields(s->res) ? PQfname(s->res, col) : "";
}

static int
pg_col_count(struct db_stmt *st)
{
	struct pg_stmt *s = PS(st);

	return s->res ? PQnfields(s->res) : 0;
}

static enum db_type
pg_col_type(struct db_stmt *st, int col)
{
	struct pg_stmt *s = PS(st);

	if (!has_value(s, col))
		return DB_T_NULL;
	switch (PQftype(s->res, col)) {
	case OID_BOOL: case OID_INT2: case OID_INT4: case OID_INT8:
		return DB_T_INT;
	case OID_FLOAT4: case OID_FLOAT8: case OID_NUMERIC:
		return DB_T_FLOAT;
	case OID_BYTEA:
		return DB_T_BLOB;
	default:
		return DB_T_TEXT;
	}
}

static int
pg_script(struct db *d, const char *sql)
{
	struct pg *db = PG(d);

	if (!conn_ready(db))
		return PG_ERR(DB_E_CONN);
	return run_ok(db, sql);
}

/* ---- transactions ---- */

static int
pg_begin(struct db *d, int write)
{
	struct pg *db = PG(d);
	int rc;

	if (!conn_ready(db))
		return PG_ERR(DB_E_CONN);
	rc = run_ok(db, write ? db->lock_sql : "BEGIN ISOLATION LEVEL "
	    "REPEATABLE READ");
	db->tx = 1;
	if (rc != DB_OK) {
		char why[sizeof(db->errmsg)];

		memcpy(why, db->errmsg, sizeof(why));
		PQclear(run(db, "ROLLBACK"));
		db->tx = 0;
		memcpy(db->errmsg, why, sizeof(why));
	}
	return rc;
}

static int
pg_commit(struct db *d)
{
	struct pg *db = PG(d);
	PGresult *r;
	int rc;

	if (PQstatus(db->conn) != CONNECTION_OK) {
		set_errmsg(db, "the connection was lost before the commit");
		return PG_ERR(DB_E_CONN);
	}
	if (PQtransactionStatus(db->conn) == PQTRANS_INERROR) {
		set_errmsg(db, "a statement of the transaction failed");
		return PG_ERR(DB_E_OTHER);
	}
	r = run(db, "COMMIT");
	if ((rc = classify(db, r)) == DB_OK &&
	    strcmp(PQcmdStatus(r), "COMMIT") != 0) {
		set_errmsg(db, "the transaction was rolled back");
		rc = PG_ERR(DB_E_OTHER);
	}
	PQclear(r);
	if (rc == DB_OK) {
		db->tx = 0;
	}
	return rc;
}

static int
pg_rollback(struct db *d)
{
	struct pg *db = PG(d);

	if (PQstatus(db->conn) == CONNECTION_OK)
		PQclear(run(db, "ROLLBACK"));
	db->tx = 0;
	return DB_OK;
}

static int
pg_changes(struct db *d)
{
	return PG(d)->changes;
}

static int
pg_in_tx(struct db *d)
{
	struct pg *db = PG(d);
	PGTransactionStatusType t = PQtransactionStatus(db->conn);

	return db->tx || t == PQTRANS_INTRANS || t == PQTRANS_INERROR;
}

static enum db_class
pg_errclass(int code)
{
	return code < 0 ? (enum db_class)-code : DB_E_OTHER;
}

static const char *
pg_errmsg(struct db *d, int code)
{
	return PG(d)->errmsg;
}

/* ---- schema work ---- */

static int
pg_has_table(struct db *d, const char *name, int *has)
{
	struct pg *db = PG(d);
	const char *vals[1] = { name };
	PGresult *r;
	int rc;

	if (!conn_ready(db))
		return PG_ERR(DB_E_CONN);
	r = PQexecParams(db->conn, "SELECT to_regclass($1) IS NOT NULL", 1,
	    NULL, vals, NULL, NULL, 0);
	if ((rc = classify(db, r)) == DB_OK)
		*has = PQntuples(r) == 1 && strcmp(PQgetvalue(r, 0, 0), "t") ==
		    0;
	PQclear(r);
	return rc;
}

/* One int8 from a query on table's identity sequence. */
static int
seq_query(struct pg *db, const char *sql, int64_t *out)
{
	PGresult *r;
	int rc;

	if (!conn_ready(db))
		return PG_ERR(DB_E_CONN);
	r = PQexec(db->conn, sql);
	if ((rc = classify(db, r)) == DB_OK && out)
		*out = PQntuples(r) == 1 ? strtoll(PQgetvalue(r, 0, 0), NULL,
		    10) : 0;
	PQclear(r);
	return rc;
}

static int
pg_ids_next(struct db *d, const char *table, int64_t *next)
{
	struct pg *db = PG(d);
	char sql[512];
	PGresult *r;
	int64_t called = 0;
	int rc;

	if (!conn_ready(db))
		return PG_ERR(DB_E_CONN);
	/* The sequence's name from the catalog (quoted there), then its
	 * row: past every id it handed out. */
	snprintf(sql, sizeof(sql), "SELECT pg_get_serial_sequence('%s', "
	    "'id')", table);
	r = PQexec(db->conn, sql);
	if ((rc = classify(db, r)) == DB_OK && PQntuples(r) == 1 &&
	    !PQgetisnull(r, 0, 0)) {
		snprintf(sql, sizeof(sql), "SELECT CASE WHEN is_called THEN "
		    "last_value + 1 ELSE last_value END FROM %s",
		    PQgetvalue(r, 0, 0));
		rc = seq_query(db, sql, &called);
	}
	PQclear(r);
	if (rc != DB_OK)
		return rc;
	snprintf(sql, sizeof(sql), "SELECT coalesce(max(id), 0) + 1 FROM %s",
	    table);
	if ((rc = seq_query(db, sql, next)) == DB_OK && called > *next)
		*next = called;
	return rc;
}

static int
pg_ids_follow(struct db *d, const char *table, int64_t next)
{
	char sql[256];

	snprintf(sql, sizeof(sql), "SELECT setval(pg_get_serial_sequence("
	    "'%s', 'id'), greatest(%lld, coalesce(max(id), 0) + 1), false) "
	    "FROM %s", table, (long long)next, table);
	return seq_query(PG(d), sql, NULL);
}

/* Foreign keys are always on, and checked at each statement. */
static int
pg_migration_begin(struct db *d)
{
	return DB_OK;
}

static int
pg_migration_check(struct db *d, char *buf, size_t len)
{
	*buf = '\0';
	return DB_OK;
}

static void
pg_migration_end(struct db *d)
{
}

static int
pg_check(struct db *d, db_check_cb cb, void *arg)
{
	return DB_OK;
}

static const char *
pg_describe(struct db *d)
{
	return PG(d)->describe;
}

static const char *
pg_version(struct db *d)
{
	return PG(d)->version[0] ? PG(d)->version : "unknown";
}

const char *
db_pg_client_version(void)
{
	static char buf[32];
	int v = PQlibVersion();

	snprintf(buf, sizeof(buf), "%d.%d", v / 10000, v % 10000);
	return buf;
}

/* ---- watching: LISTEN on a connection of its own ---- */

struct pg_watch {
	struct db_watch	 base;
	PGconn		*conn;
	char		*conninfo;
	char		 schema[PG_SCHEMA_MAX + 1];
	int		 backoff_ms;
	long long	 retry_at_ms;
};

static int
watch_listen(struct pg_watch *w)
{
	PGresult *r;
	int ok;

	if (w->conn == NULL)
		w->conn = connect_url(w->conninfo);
	else
		PQreset(w->conn);
	if (w->conn == NULL || PQstatus(w->conn) != CONNECTION_OK)
		return 0;
	PQsetNoticeProcessor(w->conn, quiet, NULL);
	r = PQexec(w->conn, "LISTEN " PG_CHANNEL);
	ok = PQresultStatus(r) == PGRES_COMMAND_OK;
	PQclear(r);
	if (ok)
		PQsetnonblocking(w->conn, 1);
	return ok;
}

static int
pg_watch_fd(struct db_watch *dw)
{
	struct pg_watch *w = (struct pg_watch *)(void *)dw;

	if (w->conn == NULL || PQstatus(w->conn) != CONNECTION_OK)
		return -1;
	return PQsocket(w->conn);
}

/* Whether a commit on this schema was notified; a lost connection is
 * retried (at most every backoff) and counts as a change: notices
 * may have been missed while it was down. */
static int
pg_watch_drain(struct db_watch *dw)
{
	struct pg_watch *w = (struct pg_watch *)(void *)dw;
	PGnotify *n;
	long long now;
	int any = 0;

	if (w->conn != NULL && PQstatus(w->conn) == CONNECTION_OK &&
	    PQconsumeInput(w->conn)) {
		while ((n = PQnotifies(w->conn)) != NULL) {
			if (n->extra && strcmp(n->extra, w->schema) == 0)
				any = 1;
			PQfreemem(n);
		}
		return any;
	}
	if ((now = now_ms()) < w->retry_at_ms)
		return 0;
	if (watch_listen(w)) {
		w->backoff_ms = PG_BACKOFF_MIN;
		w->retry_at_ms = 0;
		return 1;
	}
	w->retry_at_ms = now + w->backoff_ms;
	w->backoff_ms = w->backoff_ms * 2 > PG_BACKOFF_MAX ? PG_BACKOFF_MAX :
	    w->backoff_ms * 2;
	return 0;
}

static void
pg_watch_close(struct db_watch *dw)
{
	struct pg_watch *w = (struct pg_watch *)(void *)dw;

	if (w->conn)
		PQfinish(w->conn);
	free(w->conninfo);
	free(w);
}

static const struct db_watch_ops pg_watch_ops = {
	.fd = pg_watch_fd,
	.drain = pg_watch_drain,
	.close = pg_watch_close,
};

static int
pg_watch_open(const struct db_open *o, struct db_watch **out)
{
	PQconninfoOption *opts;
	struct pg_watch *w;
	char why[256];
	size_t slen = strlen(o->url) + 1;

	*out = NULL;
	if ((w = calloc(1, sizeof(*w))) == NULL)
		return PG_ERR(DB_E_OTHER);
	w->base.ops = &pg_watch_ops;
	w->backoff_ms = PG_BACKOFF_MIN;
	if ((w->conninfo = malloc(slen)) == NULL ||
	    (opts = url_parse(o->url, w->conninfo, slen, w->schema, why,
	    sizeof(why))) == NULL) {
		pg_watch_close(&w->base);
		return PG_ERR(DB_E_OTHER);
	}
	PQconninfoFree(opts);
	if (!watch_listen(w)) {
		pg_watch_close(&w->base);
		return PG_ERR(DB_E_CONN);
	}
	*out = &w->base;
	return DB_OK;
}

const struct db_ops db_pg_ops = {
	.engine = "postgresql",
	.dialect = DB_DIALECT_PG,
	.open = pg_open,
	.close = pg_close,
	.prepare = pg_prepare,
	.release = pg_release,
	.script = pg_script,
	.begin = pg_begin,
	.commit = pg_commit,
	.rollback = pg_rollback,
	.step = pg_step,
	.reset = pg_reset,
	.bind_int64 = pg_bind_int64,
	.bind_double = pg_bind_double,
	.bind_text = pg_bind_text,
	.bind_blob = pg_bind_blob,
	.col_int64 = pg_col_int64,
	.col_double = pg_col_double,
	.col_text = pg_col_text,
	.col_blob = pg_col_blob,
	.col_bytes = pg_col_bytes,
	.col_name = pg_col_name,
	.col_count = pg_col_count,
	.col_type = pg_col_type,
	.changes = pg_changes,
	.in_tx = pg_in_tx,
	.errclass = pg_errclass,
	.errmsg = pg_errmsg,
	.has_table = pg_has_table,
	.ids_next = pg_ids_next,
	.ids_follow = pg_ids_follow,
	.migration_begin = pg_migration_begin,
	.migration_check = pg_migration_check,
	.migration_end = pg_migration_end,
	.check = pg_check,
	.describe = pg_describe,
	.version = pg_version,
	.watch_open = pg_watch_open,
};

/*
 * unit.h — what the cmocka unit tests share: temporary directories, a
 * vault made in one, raw SQLite access for tampering, and the process
 * setup every test binary needs.  Everything is static inline so each
 * test file uses only what it needs.
 */
#ifndef OV_UNIT_H
#define OV_UNIT_H

#include <fcntl.h>
#include <ftw.h>
#include <limits.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cmocka.h>
#include <sodium.h>
#include <sqlite3.h>

#include "util/err.h"
#include "util/netpolicy.h"
#include "util/secret.h"
#include "vault/vault.h"

/* sodium_init and the jansson wipe hook, as the real binary does. */
static inline void
unit_init(void)
{
	if (sodium_init() < 0) {
		fprintf(stderr, "sodium_init failed\n");
		exit(1);
	}
	secret_json_wipe_on_free();
	/* As the integration tests (lib.sh): the fakes are on loopback. */
	if (netpolicy_allow("127.0.0.0/8", "unit") != OV_OK) {
		fprintf(stderr, "netpolicy_allow failed\n");
		exit(1);
	}
}

/* A new empty directory under /tmp (mode 0700); the caller frees it. */
static inline char *
unit_tmpdir(void)
{
	char tmpl[] = "/tmp/ov-unit-XXXXXX";
	char *p;

	if (mkdtemp(tmpl) == NULL)
		return NULL;
	p = strdup(tmpl);
	return p;
}

static inline int
unit_rm_one(const char *path, const struct stat *st, int flag,
    struct FTW *ftw)
{
	(void)st;
	(void)ftw;
	return flag == FTW_DP ? rmdir(path) : unlink(path);
}

/* rm -rf PATH (never follows symlinks). */
static inline void
unit_rmrf(const char *path)
{
	if (path != NULL)
		nftw(path, unit_rm_one, 16, FTW_DEPTH | FTW_PHYS);
}

/* Writes len bytes to a new file PATH with MODE; 0 or -1. */
static inline int
unit_write_file(const char *path, const void *buf, size_t len, mode_t mode)
{
	int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, mode);

	if (fd == -1)
		return -1;
	if (len > 0 && write(fd, buf, len) != (ssize_t)len) {
		close(fd);
		return -1;
	}
	if (fchmod(fd, mode) != 0) {	/* umask would narrow it */
		close(fd);
		return -1;
	}
	return close(fd);
}

/* A secret from a C string, for the tests (asserts it was made). */
static inline struct secret *
unit_secret(const char *s)
{
	struct secret *out = NULL;

	assert_int_equal(secret_from(s, strlen(s), &out), OV_OK);
	assert_non_null(out);
	return out;
}

/* A temporary base directory and a vault in BASE/vault. */
struct unit_vault {
	char		*base;
	char		 dir[PATH_MAX];
	char		 db[PATH_MAX + 16];
	struct vault_opts opts;
	struct vault	*v;
};

/* Makes the temp dir and fills the paths; does not create the vault. */
static inline struct unit_vault *
unit_vault_new(void)
{
	struct unit_vault *u = calloc(1, sizeof(*u));

	assert_non_null(u);
	u->base = unit_tmpdir();
	assert_non_null(u->base);
	snprintf(u->dir, sizeof(u->dir), "%s/vault", u->base);
	snprintf(u->db, sizeof(u->db), "%s/%s", u->dir, VAULT_DB_FILE);
	u->opts.data_dir = u->dir;
	u->opts.actor = "unit-test";
	return u;
}

static inline void
unit_vault_free(struct unit_vault *u)
{
	if (u == NULL)
		return;
	vault_close(u->v);
	unit_rmrf(u->base);
	free(u->base);
	free(u);
}

/* cmocka setup: a key-file vault, initialised and opened. */
static inline int
unit_vault_setup(void **state)
{
	struct unit_vault *u = unit_vault_new();

	if (vault_init(&u->opts, VAULT_KDF_INTERACTIVE) != OV_OK ||
	    vault_open(&u->opts, 0, &u->v) != OV_OK) {
		fprintf(stderr, "vault setup: %s\n", ov_errmsg());
		unit_vault_free(u);
		return -1;
	}
	*state = u;
	return 0;
}

static inline int
unit_vault_teardown(void **state)
{
	unit_vault_free(*state);
	return 0;
}

/* Runs SQL on the database file directly (the vault must be closed or
 * idle).  Returns the SQLite result code. */
static inline int
unit_db_exec(const char *db, const char *sql)
{
	sqlite3 *h = NULL;
	char *err = NULL;
	int src;

	if ((src = sqlite3_open_v2(db, &h, SQLITE_OPEN_READWRITE, NULL)) ==
	    SQLITE_OK)
		src = sqlite3_exec(h, sql, NULL, NULL, &err);
	if (err) {
		fprintf(stderr, "unit_db_exec: %s\n", err);
		sqlite3_free(err);
	}
	sqlite3_close(h);
	return src;
}

/* The first column of the first row of SQL as an integer; -1 if none. */
static inline int64_t
unit_db_int(const char *db, const char *sql)
{
	sqlite3 *h = NULL;
	sqlite3_stmt *st = NULL;
	int64_t v = -1;

	if (sqlite3_open_v2(db, &h, SQLITE_OPEN_READONLY, NULL) == SQLITE_OK &&
	    sqlite3_prepare_v2(h, sql, -1, &st, NULL) == SQLITE_OK &&
	    sqlite3_step(st) == SQLITE_ROW)
		v = sqlite3_column_int64(st, 0);
	sqlite3_finalize(st);
	sqlite3_close(h);
	return v;
}

#endif

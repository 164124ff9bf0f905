/*
 * test_vault.c — vault/ through its public API (vault.h) against a real
 * SQLite file in a temporary directory; raw sqlite3 only to tamper.
 */
#include <jansson.h>

#include "unit.h"
#include "util/timefmt.h"

/* ---- helpers ---------------------------------------------------------- */

static void
org_add(struct vault *v, const char *slug, const char *name)
{
	struct vault_org o;

	memset(&o, 0, sizeof(o));
	snprintf(o.slug, sizeof(o.slug), "%s", slug);
	snprintf(o.name, sizeof(o.name), "%s", name ? name : "");
	snprintf(o.external_id, sizeof(o.external_id), "ext-%s", slug);
	if (vault_org_add(v, &o) != OV_OK)
		fail_msg("org add %s: %s", slug, ov_errmsg());
}

static void
cred_fill(struct vault_cred *c, const char *org, const char *name)
{
	memset(c, 0, sizeof(*c));
	snprintf(c->org, sizeof(c->org), "%s", org);
	snprintf(c->name, sizeof(c->name), "%s", name);
	snprintf(c->provider, sizeof(c->provider), "oauth2");
	snprintf(c->token_url, sizeof(c->token_url),
	    "https://auth.example.com/oauth2/token");
	snprintf(c->auth, sizeof(c->auth), "client_secret_basic");
	snprintf(c->grant, sizeof(c->grant), "client_credentials");
	snprintf(c->client_id, sizeof(c->client_id), "cid-%s", name);
	snprintf(c->expected_scope, sizeof(c->expected_scope), "read write");
	c->refresh_fraction = 0.75;
}

/* Puts org/name with secret (may be NULL); returns the rc. */
static enum ov_rc
cred_put(struct vault *v, const char *org, const char *name,
    const char *secret, int *created)
{
	struct vault_cred c;
	struct secret *s = secret ? unit_secret(secret) : NULL;
	enum ov_rc rc;

	cred_fill(&c, org, name);
	rc = vault_cred_put(v, &c, s, NULL, created);
	secret_free(s);
	return rc;
}

static int64_t
cred_id(struct vault *v, const char *org, const char *name)
{
	struct vault_cred c;

	if (vault_cred_get(v, org, name, &c) != OV_OK)
		fail_msg("cred get %s/%s: %s", org, name, ov_errmsg());
	return c.id;
}

/* Asserts the stage of the client secret of id opens to want. */
static void
secret_is(struct vault *v, int64_t id, const char *stage, const char *want)
{
	struct secret *s = NULL;

	if (vault_secret_open(v, id, VAULT_CLIENT_SECRET, stage, &s) != OV_OK)
		fail_msg("open %s secret of %lld: %s", stage ? stage :
		    "current", (long long)id, ov_errmsg());
	assert_int_equal(s->len, strlen(want));
	assert_memory_equal(s->buf, want, s->len);
	secret_free(s);
}

struct names {
	int	n;
	char	v[32][160];
};

static int
org_cb(const struct vault_org *o, void *arg)
{
	struct names *n = arg;

	if (n->n < 32)
		snprintf(n->v[n->n++], sizeof(n->v[0]), "%s", o->slug);
	return 0;
}

static int
event_cb(const struct vault_event *e, void *arg)
{
	struct names *n = arg;

	if (n->n < 32)
		snprintf(n->v[n->n++], sizeof(n->v[0]), "%s", e->kind);
	return 0;
}

/* Event kinds, newest first, for a filter (NULL: all). */
static struct names
events(struct vault *v, const struct vault_event_filter *f)
{
	struct vault_event_filter all = { 0 };
	struct names n = { 0 };

	assert_int_equal(vault_event_list(v, f ? f : &all, event_cb, &n),
	    OV_OK);
	return n;
}

struct failures {
	int	n;
	struct {
		char	table[32], column[32], problem[256];
		int64_t	row;
	} f[16];
};

static void
check_cb(const struct vault_check_failure *f, void *arg)
{
	struct failures *fs = arg;

	if (fs->n < 16) {
		snprintf(fs->f[fs->n].table, sizeof(fs->f[0].table), "%s",
		    f->table);
		snprintf(fs->f[fs->n].column, sizeof(fs->f[0].column), "%s",
		    f->column);
		snprintf(fs->f[fs->n].problem, sizeof(fs->f[0].problem), "%s",
		    f->problem);
		fs->f[fs->n].row = f->row;
	}
	fs->n++;
}

static struct failures
check(struct vault *v, int64_t *checked, int64_t *failures)
{
	struct failures fs = { 0 };

	*checked = *failures = -1;
	assert_int_equal(vault_check(v, check_cb, &fs, checked, failures),
	    OV_OK);
	assert_int_equal(*failures, fs.n);
	return fs;
}

static void
reopen(struct unit_vault *u)
{
	vault_close(u->v);
	u->v = NULL;
	if (vault_open(&u->opts, 0, &u->v) != OV_OK)
		fail_msg("reopen: %s", ov_errmsg());
}

/* Flips one byte of a BLOB column of one row, with raw SQLite. */
static void
flip_blob(const char *db, const char *table, const char *col, int64_t row,
    size_t at)
{
	sqlite3 *h = NULL;
	sqlite3_stmt *st = NULL;
	unsigned char buf[4096];
	char sql[256];
	int n;

	assert_int_equal(sqlite3_open_v2(db, &h, SQLITE_OPEN_READWRITE, NULL),
	    SQLITE_OK);
	snprintf(sql, sizeof(sql), "SELECT %s FROM %s WHERE rowid = %lld",
	    col, table, (long long)row);
	assert_int_equal(sqlite3_prepare_v2(h, sql, -1, &st, NULL), SQLITE_OK);
	assert_int_equal(sqlite3_step(st), SQLITE_ROW);
	n = sqlite3_column_bytes(st, 0);
	assert_in_range(n, at + 1, sizeof(buf));
	memcpy(buf, sqlite3_column_blob(st, 0), (size_t)n);
	sqlite3_finalize(st);
	buf[at] ^= 0x01;
	snprintf(sql, sizeof(sql), "UPDATE %s SET %s = ? WHERE rowid = %lld",
	    table, col, (long long)row);
	assert_int_equal(sqlite3_prepare_v2(h, sql, -1, &st, NULL), SQLITE_OK);
	sqlite3_bind_blob(st, 1, buf, n, SQLITE_STATIC);
	assert_int_equal(sqlite3_step(st), SQLITE_DONE);
	assert_int_equal(sqlite3_changes(h), 1);
	sqlite3_finalize(st);
	assert_int_equal(sqlite3_close(h), SQLITE_OK);
}

struct ev_copy {
	int			n;
	struct vault_event	e[16];
};

static int
ev_copy_cb(const struct vault_event *e, void *arg)
{
	struct ev_copy *c = arg;

	if (c->n < 16)
		c->e[c->n++] = *e;
	return 0;
}

/* ---- init and open ---------------------------------------------------- */

static void
test_init_open(void **state)
{
	struct unit_vault *u = unit_vault_new();
	char key[PATH_MAX + 16];
	struct stat st;

	assert_int_equal(vault_init(&u->opts, VAULT_KDF_INTERACTIVE), OV_OK);
	assert_int_equal(stat(u->dir, &st), 0);
	assert_true(S_ISDIR(st.st_mode));
	assert_int_equal(st.st_mode & 0777, 0700);
	snprintf(key, sizeof(key), "%s/%s", u->dir, VAULT_KEY_FILE);
	assert_int_equal(stat(key, &st), 0);
	assert_int_equal(st.st_mode & 0777, 0600);
	assert_int_equal(st.st_size, 32);
	assert_int_equal(stat(u->db, &st), 0);
	assert_int_equal(vault_open(&u->opts, 0, &u->v), OV_OK);
	assert_non_null(u->v);
	/* The first event says the vault was made. */
	{
		struct names n = events(u->v, NULL);

		/* Newest first: the row MAC key is made with the vault. */
		assert_int_equal(n.n, 2);
		assert_string_equal(n.v[0], "key.mac_created");
		assert_string_equal(n.v[1], "vault.initialized");
	}
	/* The key file is the key: the database names it as the source. */
	assert_int_equal(unit_db_int(u->db, "SELECT count(*) FROM vault_meta "
	    "WHERE key = 'key_source' AND value = 'file'"), 1);
	assert_int_equal(unit_db_int(u->db, "SELECT count(*) FROM keyring"),
	    1);
	assert_non_null(vault_sqlite_version());
	(void)state;
	unit_vault_free(u);
}

static void
test_init_twice(void **state)
{
	struct unit_vault *u = unit_vault_new();
	char key[PATH_MAX + 16];
	unsigned char before[32], after[32];
	FILE *f;

	(void)state;
	assert_int_equal(vault_init(&u->opts, VAULT_KDF_INTERACTIVE), OV_OK);
	snprintf(key, sizeof(key), "%s/%s", u->dir, VAULT_KEY_FILE);
	assert_non_null(f = fopen(key, "rb"));
	assert_int_equal(fread(before, 1, 32, f), 32);
	fclose(f);
	ov_clearerr();
	assert_int_equal(vault_init(&u->opts, VAULT_KDF_INTERACTIVE),
	    OV_ECONFLICT);
	assert_non_null(strstr(ov_errmsg(), "refusing to overwrite"));
	/* Nothing was touched: same key, vault still opens. */
	assert_non_null(f = fopen(key, "rb"));
	assert_int_equal(fread(after, 1, 32, f), 32);
	fclose(f);
	assert_memory_equal(before, after, 32);
	assert_int_equal(vault_open(&u->opts, 0, &u->v), OV_OK);
	/* Only the database left (key lost): still refused. */
	vault_close(u->v);
	u->v = NULL;
	assert_int_equal(unlink(key), 0);
	assert_int_equal(vault_init(&u->opts, VAULT_KDF_INTERACTIVE),
	    OV_ECONFLICT);
	assert_int_equal(access(key, F_OK), -1);
	unit_vault_free(u);
}

static void
test_open_missing(void **state)
{
	struct unit_vault *u = unit_vault_new();
	struct vault *v = (struct vault *)1;

	(void)state;
	ov_clearerr();
	assert_int_equal(vault_open(&u->opts, 0, &v), OV_ENOTFOUND);
	assert_ptr_equal(v, (struct vault *)1);
	assert_non_null(strstr(ov_errmsg(), "init"));
	/* A directory without a database is not a vault either. */
	assert_int_equal(mkdir(u->dir, 0700), 0);
	assert_int_equal(vault_open(&u->opts, 0, &v), OV_ENOTFOUND);
	assert_non_null(strstr(ov_errmsg(), VAULT_DB_FILE));
	/* A file where the directory should be. */
	assert_int_equal(rmdir(u->dir), 0);
	assert_int_equal(unit_write_file(u->dir, "x", 1, 0600), 0);
	assert_int_equal(vault_open(&u->opts, 0, &v), OV_EINVAL);
	assert_non_null(strstr(ov_errmsg(), "not a directory"));
	assert_ptr_equal(v, (struct vault *)1);
	unit_vault_free(u);
}

static void
test_open_not_a_database(void **state)
{
	struct unit_vault *u = unit_vault_new();
	char junk[4096];

	(void)state;
	assert_int_equal(mkdir(u->dir, 0700), 0);
	memset(junk, 'j', sizeof(junk));
	assert_int_equal(unit_write_file(u->db, junk, sizeof(junk), 0600), 0);
	assert_int_equal(vault_open(&u->opts, 0, &u->v), OV_EINTEGRITY);
	assert_null(u->v);
	unit_vault_free(u);
}

static void
test_init_cleans_up_on_failure(void **state)
{
	struct unit_vault *u = unit_vault_new();
	struct secret *pp = unit_secret("short");	/* < 8 bytes */

	(void)state;
	u->opts.passphrase = pp;
	ov_clearerr();
	assert_int_equal(vault_init(&u->opts, VAULT_KDF_INTERACTIVE),
	    OV_EINVAL);
	assert_non_null(strstr(ov_errmsg(), "8"));
	/* init made the directory, so it removed it again. */
	assert_int_equal(access(u->dir, F_OK), -1);
	secret_free(pp);
	unit_vault_free(u);
}

static void
test_key_file_problems(void **state)
{
	struct unit_vault *u = *state;
	char key[PATH_MAX + 16], other[PATH_MAX + 16];
	struct secret *pp = unit_secret("a passphrase");
	struct vault *v = NULL;

	snprintf(key, sizeof(key), "%s/%s", u->dir, VAULT_KEY_FILE);
	vault_close(u->v);
	u->v = NULL;
	/* Readable by group: refused with the fix. */
	assert_int_equal(chmod(key, 0640), 0);
	ov_clearerr();
	assert_int_equal(vault_open(&u->opts, 0, &v), OV_ECRYPTO);
	assert_null(v);
	assert_non_null(strstr(ov_errmsg(), "chmod 600"));
	assert_int_equal(chmod(key, 0600), 0);
	/* A key-file vault given a passphrase: a usage error. */
	u->opts.passphrase = pp;
	ov_clearerr();
	assert_int_equal(vault_open(&u->opts, 0, &v), OV_EUSAGE);
	assert_null(v);
	assert_non_null(strstr(ov_errmsg(), "passphrase"));
	u->opts.passphrase = NULL;
	secret_free(pp);
	/* Another valid key file in its place: the wrong key. */
	snprintf(other, sizeof(other), "%s/other.key", u->base);
	{
		unsigned char k[32];

		randombytes_buf(k, sizeof(k));
		assert_int_equal(unit_write_file(other, k, 32, 0600), 0);
	}
	{
		char saved[PATH_MAX + 16];

		snprintf(saved, sizeof(saved), "%s/saved.key", u->base);
		assert_int_equal(rename(key, saved), 0);
		assert_int_equal(rename(other, key), 0);
		ov_clearerr();
		assert_int_equal(vault_open(&u->opts, 0, &v), OV_ECRYPTO);
		assert_null(v);
		assert_non_null(strstr(ov_errmsg(), "wrong master key"));
		/* Missing key file. */
		assert_int_equal(unlink(key), 0);
		assert_int_equal(vault_open(&u->opts, 0, &v), OV_ENOTFOUND);
		assert_int_equal(rename(saved, key), 0);
	}
	assert_int_equal(vault_open(&u->opts, 0, &u->v), OV_OK);
}

static void
test_passphrase_vault(void **state)
{
	struct unit_vault *u = unit_vault_new();
	struct secret *right = unit_secret("correct horse battery staple");
	struct secret *wrong = unit_secret("correct horse battery stapler");
	struct vault *v = NULL;
	char key[PATH_MAX + 16];
	int created = -1;

	(void)state;
	u->opts.passphrase = right;
	assert_int_equal(vault_init(&u->opts, VAULT_KDF_INTERACTIVE), OV_OK);
	/* No key file: the passphrase is the key. */
	snprintf(key, sizeof(key), "%s/%s", u->dir, VAULT_KEY_FILE);
	assert_int_equal(access(key, F_OK), -1);
	assert_int_equal(unit_db_int(u->db, "SELECT count(*) FROM vault_meta "
	    "WHERE key = 'key_source' AND value = 'passphrase'"), 1);
	assert_int_equal(unit_db_int(u->db, "SELECT count(*) FROM vault_meta "
	    "WHERE key IN ('kdf_salt', 'kdf_opslimit', 'kdf_memlimit')"), 3);

	/* Right passphrase: opens, and secrets round-trip. */
	assert_int_equal(vault_open(&u->opts, 0, &u->v), OV_OK);
	org_add(u->v, "acme", NULL);
	assert_int_equal(cred_put(u->v, "acme", "api", "pp-secret", &created),
	    OV_OK);
	assert_int_equal(created, 1);
	vault_close(u->v);
	u->v = NULL;
	assert_int_equal(vault_open(&u->opts, 0, &u->v), OV_OK);
	secret_is(u->v, cred_id(u->v, "acme", "api"), NULL, "pp-secret");
	vault_close(u->v);
	u->v = NULL;

	/* Wrong passphrase. */
	u->opts.passphrase = wrong;
	ov_clearerr();
	assert_int_equal(vault_open(&u->opts, 0, &v), OV_ECRYPTO);
	assert_null(v);
	assert_non_null(strstr(ov_errmsg(), "wrong passphrase"));
	/* No passphrase. */
	u->opts.passphrase = NULL;
	ov_clearerr();
	assert_int_equal(vault_open(&u->opts, 0, &v), OV_EUSAGE);
	assert_null(v);
	assert_non_null(strstr(ov_errmsg(), "--passphrase-file"));
	/* init again: refused, even with the right passphrase. */
	u->opts.passphrase = right;
	assert_int_equal(vault_init(&u->opts, VAULT_KDF_INTERACTIVE),
	    OV_ECONFLICT);
	u->opts.passphrase = NULL;
	secret_free(right);
	secret_free(wrong);
	unit_vault_free(u);
}

/* ---- orgs ------------------------------------------------------------- */

static void
test_org_add_get_list_rm(void **state)
{
	struct unit_vault *u = *state;
	struct vault_org o;
	struct names n = { 0 };

	org_add(u->v, "zeta", "Zeta Inc.");
	org_add(u->v, "acme", NULL);
	org_add(u->v, "beta-2", "Beta \xc3\xa9");

	memset(&o, 0, sizeof(o));
	assert_int_equal(vault_org_get(u->v, "zeta", &o), OV_OK);
	assert_true(o.id > 0);
	assert_string_equal(o.slug, "zeta");
	assert_string_equal(o.name, "Zeta Inc.");
	assert_string_equal(o.external_id, "ext-zeta");
	assert_int_equal(o.enabled, 1);
	assert_int_equal(o.credentials, 0);
	assert_true(o.created_at > 1700000000);
	assert_int_equal(o.created_at, o.updated_at);
	/* A missing name defaults to the slug. */
	assert_int_equal(vault_org_get(u->v, "acme", &o), OV_OK);
	assert_string_equal(o.name, "acme");

	/* Listed by slug. */
	assert_int_equal(vault_org_list(u->v, NULL, org_cb, &n), OV_OK);
	assert_int_equal(n.n, 3);
	assert_string_equal(n.v[0], "acme");
	assert_string_equal(n.v[1], "beta-2");
	assert_string_equal(n.v[2], "zeta");

	/* Remove; then it is gone and the others stay. */
	assert_int_equal(vault_org_rm(u->v, "beta-2", 0), OV_OK);
	memset(&o, 0x33, sizeof(o));
	ov_clearerr();
	assert_int_equal(vault_org_get(u->v, "beta-2", &o), OV_ENOTFOUND);
	assert_int_equal(o.id, 0x3333333333333333LL);	/* untouched */
	assert_non_null(strstr(ov_errmsg(), "beta-2"));
	assert_int_equal(vault_org_rm(u->v, "beta-2", 0), OV_ENOTFOUND);
	assert_int_equal(vault_org_rm(u->v, "nope", 1), OV_ENOTFOUND);
	memset(&n, 0, sizeof(n));
	assert_int_equal(vault_org_list(u->v, NULL, org_cb, &n), OV_OK);
	assert_int_equal(n.n, 2);
	assert_string_equal(n.v[0], "acme");
	assert_string_equal(n.v[1], "zeta");
}

static int
stop_after_one(const struct vault_org *o, void *arg)
{
	(void)o;
	(*(int *)arg)++;
	return 1;
}

static void
test_org_list_stops(void **state)
{
	struct unit_vault *u = *state;
	int calls = 0;

	org_add(u->v, "a", NULL);
	org_add(u->v, "b", NULL);
	assert_int_equal(vault_org_list(u->v, NULL, stop_after_one, &calls), OV_OK);
	assert_int_equal(calls, 1);
}

static void
test_org_duplicate(void **state)
{
	struct unit_vault *u = *state;
	struct vault_org o;

	org_add(u->v, "acme", "First");
	memset(&o, 0, sizeof(o));
	snprintf(o.slug, sizeof(o.slug), "acme");
	snprintf(o.name, sizeof(o.name), "Second");
	ov_clearerr();
	assert_int_equal(vault_org_add(u->v, &o), OV_ECONFLICT);
	assert_non_null(strstr(ov_errmsg(), "acme"));
	/* The first one is unchanged, and no event was written for it. */
	assert_int_equal(vault_org_get(u->v, "acme", &o), OV_OK);
	assert_string_equal(o.name, "First");
	{
		struct vault_event_filter f = { .kind = "org.created" };
		struct names n = events(u->v, &f);

		assert_int_equal(n.n, 1);
	}
	/* The vault still works after the failed transaction. */
	org_add(u->v, "other", NULL);
}

static void
test_org_update(void **state)
{
	struct unit_vault *u = *state;
	struct vault_org o, got;
	struct vault_event_filter f = { .kind = "org.updated" };
	struct ev_copy ev = { 0 };

	org_add(u->v, "acme", "Acme");
	assert_int_equal(vault_org_get(u->v, "acme", &o), OV_OK);
	assert_int_equal(vault_org_update(u->v, "acme", "Acme Corp", NULL,
	    &got), OV_OK);
	assert_string_equal(got.name, "Acme Corp");
	assert_string_equal(got.external_id, "ext-acme");	/* kept */
	assert_int_equal(got.id, o.id);
	assert_true(got.updated_at >= o.updated_at);
	assert_int_equal(vault_org_update(u->v, "acme", NULL, "", &got),
	    OV_OK);
	assert_string_equal(got.name, "Acme Corp");
	assert_string_equal(got.external_id, "");	/* cleared */
	assert_int_equal(vault_org_get(u->v, "acme", &o), OV_OK);
	assert_string_equal(o.name, "Acme Corp");
	assert_string_equal(o.external_id, "");

	/* Unknown org, invalid values: refused, out untouched. */
	memset(&got, 0x5a, sizeof(got));
	assert_int_equal(vault_org_update(u->v, "nosuch", "X", NULL, &got),
	    OV_ENOTFOUND);
	assert_int_equal(vault_org_update(u->v, "acme", "", NULL, &got),
	    OV_EINVAL);
	assert_int_equal(vault_org_update(u->v, "acme", "bad\tname", NULL,
	    &got), OV_EINVAL);
	assert_int_equal(got.id, 0x5a5a5a5a5a5a5a5aLL);

	/* One event per change, naming only the changed fields; a no-op
	 * update writes none. */
	assert_int_equal(vault_org_update(u->v, "acme", "Acme Corp", NULL,
	    &got), OV_OK);
	assert_int_equal(vault_event_list(u->v, &f, ev_copy_cb, &ev), OV_OK);
	assert_int_equal(ev.n, 2);
	assert_string_equal(ev.e[0].org, "acme");
	assert_string_equal(ev.e[0].detail, "{\"external_id\":\"\"}");
	assert_string_equal(ev.e[1].detail, "{\"name\":\"Acme Corp\"}");
}

/* ---- credentials and secrets ------------------------------------------ */

static void
test_cred_create_needs_secret(void **state)
{
	struct unit_vault *u = *state;
	struct vault_cred c;
	int created = -1;

	org_add(u->v, "acme", NULL);
	ov_clearerr();
	assert_int_equal(cred_put(u->v, "acme", "api", NULL, &created),
	    OV_EINVAL);
	assert_int_equal(created, -1);
	assert_non_null(strstr(ov_errmsg(), "client secret"));
	assert_int_equal(vault_cred_get(u->v, "acme", "api", &c),
	    OV_ENOTFOUND);
	/* The refresh_token grant also needs a refresh token. */
	{
		struct secret *s = unit_secret("cs");

		cred_fill(&c, "acme", "rt");
		snprintf(c.grant, sizeof(c.grant), "refresh_token");
		assert_int_equal(vault_cred_put(u->v, &c, s, NULL, &created),
		    OV_EINVAL);
		assert_non_null(strstr(ov_errmsg(), "refresh token"));
		secret_free(s);
	}
	/* An unknown org. */
	assert_int_equal(cred_put(u->v, "nope", "api", "s", &created),
	    OV_ENOTFOUND);
	assert_int_equal(created, -1);
	assert_int_equal(unit_db_int(u->db, "SELECT count(*) FROM "
	    "credentials"), 0);
}

static void
test_cred_put_get_secret(void **state)
{
	struct unit_vault *u = *state;
	const char secret[] = "s3cr3t-\x01\xff-value";
	struct vault_cred c;
	int created = -1;
	int64_t id;

	org_add(u->v, "acme", NULL);
	assert_int_equal(cred_put(u->v, "acme", "api", secret, &created),
	    OV_OK);
	assert_int_equal(created, 1);
	memset(&c, 0, sizeof(c));
	assert_int_equal(vault_cred_get(u->v, "acme", "api", &c), OV_OK);
	id = c.id;
	assert_true(id > 0);
	assert_string_equal(c.org, "acme");
	assert_string_equal(c.name, "api");
	assert_string_equal(c.provider, "oauth2");
	assert_string_equal(c.token_url,
	    "https://auth.example.com/oauth2/token");
	assert_string_equal(c.auth, "client_secret_basic");
	assert_string_equal(c.grant, "client_credentials");
	assert_string_equal(c.client_id, "cid-api");
	assert_string_equal(c.expected_scope, "read write");
	assert_float_equal(c.refresh_fraction, 0.75, 1e-12);
	assert_string_equal(c.status, "active");
	assert_int_equal(c.has_refresh_token, 0);
	assert_int_equal(c.has_pending_secret, 0);
	secret_is(u->v, id, NULL, secret);
	secret_is(u->v, id, "current", secret);
	/* Nothing else is stored. */
	{
		struct secret *s = NULL;

		assert_int_equal(vault_secret_open(u->v, id,
		    VAULT_CLIENT_SECRET, "previous", &s), OV_ENOTFOUND);
		assert_int_equal(vault_secret_open(u->v, id,
		    VAULT_CLIENT_SECRET, "pending", &s), OV_ENOTFOUND);
		assert_int_equal(vault_secret_open(u->v, id,
		    VAULT_REFRESH_TOKEN, NULL, &s), OV_ENOTFOUND);
		assert_int_equal(vault_secret_open(u->v, id + 100,
		    VAULT_CLIENT_SECRET, NULL, &s), OV_ENOTFOUND);
		assert_null(s);
	}
	/* The plaintext is not in the database file. */
	reopen(u);
	assert_int_equal(unit_db_int(u->db, "SELECT count(*) FROM "
	    "secret_versions WHERE instr(ciphertext, 's3cr3t') > 0"), 0);
	assert_int_equal(unit_db_int(u->db, "SELECT length(ciphertext) FROM "
	    "secret_versions"), (int64_t)(sizeof(secret) - 1 + 45));
	/* And it survives reopening. */
	secret_is(u->v, id, NULL, secret);
	assert_int_equal(cred_id(u->v, "acme", "api"), id);
	assert_int_equal(vault_cred_get(u->v, "acme", "nope", &c),
	    OV_ENOTFOUND);
	assert_int_equal(vault_cred_get(u->v, "nope", "api", &c),
	    OV_ENOTFOUND);
}

static void
test_cred_refresh_token(void **state)
{
	struct unit_vault *u = *state;
	struct vault_cred c;
	struct secret *cs = unit_secret("cs-1"), *rt = unit_secret("rt-1");
	struct secret *out = NULL;
	int created = -1;

	org_add(u->v, "acme", NULL);
	cred_fill(&c, "acme", "rt");
	snprintf(c.grant, sizeof(c.grant), "refresh_token");
	assert_int_equal(vault_cred_put(u->v, &c, cs, rt, &created), OV_OK);
	assert_int_equal(created, 1);
	assert_int_equal(vault_cred_get(u->v, "acme", "rt", &c), OV_OK);
	assert_int_equal(c.has_refresh_token, 1);
	assert_int_equal(vault_secret_open(u->v, c.id, VAULT_REFRESH_TOKEN,
	    NULL, &out), OV_OK);
	assert_int_equal(out->len, 4);
	assert_memory_equal(out->buf, "rt-1", 4);
	secret_free(out);
	secret_is(u->v, c.id, NULL, "cs-1");
	/* Update without secrets keeps the refresh token (grant stays). */
	assert_int_equal(vault_cred_put(u->v, &c, NULL, NULL, &created),
	    OV_OK);
	assert_int_equal(created, 0);
	assert_int_equal(vault_secret_open(u->v, c.id, VAULT_REFRESH_TOKEN,
	    NULL, &out), OV_OK);
	assert_memory_equal(out->buf, "rt-1", 4);
	secret_free(out);
	secret_free(cs);
	secret_free(rt);
}

static void
test_cred_update_rotates_secret(void **state)
{
	struct unit_vault *u = *state;
	struct vault_cred c;
	int created = -1;
	int64_t id;

	org_add(u->v, "acme", NULL);
	assert_int_equal(cred_put(u->v, "acme", "api", "old-secret",
	    &created), OV_OK);
	id = cred_id(u->v, "acme", "api");

	/* Update without a secret: fields change, the secret stays. */
	cred_fill(&c, "acme", "api");
	snprintf(c.expected_scope, sizeof(c.expected_scope), "read write");
	assert_int_equal(vault_cred_put(u->v, &c, NULL, NULL, &created),
	    OV_OK);
	assert_int_equal(created, 0);
	assert_int_equal(vault_cred_get(u->v, "acme", "api", &c), OV_OK);
	assert_int_equal(c.id, id);
	assert_string_equal(c.expected_scope, "read write");
	secret_is(u->v, id, NULL, "old-secret");
	{
		struct secret *s = NULL;

		assert_int_equal(vault_secret_open(u->v, id,
		    VAULT_CLIENT_SECRET, "previous", &s), OV_ENOTFOUND);
	}

	/* A new secret: current ← new, previous ← old. */
	assert_int_equal(cred_put(u->v, "acme", "api", "new-secret",
	    &created), OV_OK);
	assert_int_equal(created, 0);
	secret_is(u->v, id, NULL, "new-secret");
	secret_is(u->v, id, "previous", "old-secret");

	/* Another: the oldest is gone for good. */
	assert_int_equal(cred_put(u->v, "acme", "api", "newest-secret",
	    &created), OV_OK);
	secret_is(u->v, id, "current", "newest-secret");
	secret_is(u->v, id, "previous", "new-secret");
	assert_int_equal(unit_db_int(u->db, "SELECT count(*) FROM "
	    "secret_versions"), 2);
	assert_int_equal(unit_db_int(u->db, "SELECT max(version) FROM "
	    "secret_versions"), 3);
	/* Both still open after a reopen (bindings hold the version). */
	reopen(u);
	secret_is(u->v, id, "current", "newest-secret");
	secret_is(u->v, id, "previous", "new-secret");

	/* A new client id is a new destination: not without the secret
	 * (the binding rule); with the current one, every version follows
	 * and still opens; with a new one, the old versions are gone. */
	cred_fill(&c, "acme", "api");
	snprintf(c.client_id, sizeof(c.client_id), "cid-2");
	assert_int_equal(vault_cred_put(u->v, &c, NULL, NULL, &created),
	    OV_ESECRET);
	{
		struct secret *same = unit_secret("newest-secret");
		struct secret *other = unit_secret("moved-secret");

		assert_int_equal(vault_cred_put(u->v, &c, same, NULL,
		    &created), OV_OK);
		secret_is(u->v, id, "current", "newest-secret");
		secret_is(u->v, id, "previous", "new-secret");
		snprintf(c.client_id, sizeof(c.client_id), "cid-3");
		assert_int_equal(vault_cred_put(u->v, &c, other, NULL,
		    &created), OV_OK);
		secret_is(u->v, id, "current", "moved-secret");
		assert_int_equal(unit_db_int(u->db, "SELECT count(*) FROM "
		    "secret_versions"), 1);
		secret_free(same);
		secret_free(other);
	}
}

static void
test_cred_provider_change(void **state)
{
	struct unit_vault *u = *state;
	struct vault_cred c;
	int created = -1;

	org_add(u->v, "acme", NULL);
	assert_int_equal(cred_put(u->v, "acme", "api", "s", &created), OV_OK);
	cred_fill(&c, "acme", "api");
	snprintf(c.provider, sizeof(c.provider), "genesys");
	created = -1;
	assert_int_equal(vault_cred_put(u->v, &c, NULL, NULL, &created),
	    OV_ECONFLICT);
	assert_int_equal(created, -1);
	assert_int_equal(vault_cred_get(u->v, "acme", "api", &c), OV_OK);
	assert_string_equal(c.provider, "oauth2");
}

static int
cred_name_cb(const struct vault_cred *c, void *arg)
{
	struct names *n = arg;

	if (n->n < 32)
		snprintf(n->v[n->n++], sizeof(n->v[0]), "%s/%s", c->org,
		    c->name);
	return 0;
}

/* Org acme (new) and its credential NAME, with a client secret and no
 * token yet. */
static void
cred_new(struct unit_vault *u, const char *name, struct vault_cred *c)
{
	struct secret *cs = unit_secret("cs-1");
	int created;

	org_add(u->v, "acme", NULL);
	cred_fill(c, "acme", name);
	assert_int_equal(vault_cred_put(u->v, c, cs, NULL, &created), OV_OK);
	assert_int_equal(vault_cred_get(u->v, "acme", name, c), OV_OK);
	secret_free(cs);
}

/* Records a refresh of c (leased): a token of an hour, due in 45 min. */
static void
token_record(struct unit_vault *u, const struct vault_cred *c, int64_t now)
{
	struct secret *tok = unit_secret("at-1");
	struct vault_refresh r = { .owner = "unit", .outcome = "ok",
	    .status = "active", .event_kind = "refresh.ok",
	    .access_token = tok, .token_type = "Bearer", .granted_scope = "",
	    .issued_at = now, .expires_at = now + 3600,
	    .next_refresh_at = now + 2700 };

	assert_int_equal(vault_refresh_record(u->v, c->id, &r), OV_OK);
	secret_free(tok);
}

/* A forced claim that names a token generation is refused once a
 * refresh has replaced that token: the broker's late ask for a refresh
 * must not make a second one for the same deadline. */
static void
test_lease_claim_if_gen(void **state)
{
	struct unit_vault *u = *state;
	struct vault_cred c, got;
	int64_t now = timefmt_now();

	cred_new(u, "g", &c);
	assert_int_equal(c.token_generation, 0);
	/* No token yet: generation 0 may be claimed, 1 may not. */
	assert_int_equal(vault_lease_claim(u->v, c.id, "unit", NULL, now,
	    now + 60, 1, 1, &got), OV_ECONFLICT);
	assert_int_equal(vault_lease_claim(u->v, c.id, "unit", NULL, now,
	    now + 60, 1, 0, &got), OV_OK);
	token_record(u, &c, now);
	/* The token of generation 0 was replaced: an ask for it is stale. */
	assert_int_equal(vault_lease_claim(u->v, c.id, "unit", NULL, now,
	    now + 60, 1, 0, &got), OV_ECONFLICT);
	assert_int_equal(vault_lease_claim(u->v, c.id, "unit", NULL, now,
	    now + 60, 1, 1, &got), OV_OK);
	assert_int_equal(got.token_generation, 1);
	assert_int_equal(vault_lease_release(u->v, c.id, "unit"), OV_OK);
	/* Unconditional (-1) claims whatever the generation; an unforced
	 * one still needs the credential to be due. */
	assert_int_equal(vault_lease_claim(u->v, c.id, "unit", NULL, now,
	    now + 60, 0, -1, &got), OV_ECONFLICT);
	assert_int_equal(vault_lease_claim(u->v, c.id, "unit", NULL, now,
	    now + 60, 1, -1, &got), OV_OK);
}

/* A refresher that died holding the lease of a refresh-token credential:
 * recording that ends its lease and holds the credential; the broker's
 * ask (VAULT_CLAIM_ASKED) may not claim a held credential, an operator's
 * deliberate attempt (VAULT_CLAIM_OPERATOR) may. */
static void
test_lease_claim_held(void **state)
{
	struct unit_vault *u = *state;
	struct vault_cred c, got;
	struct secret *cs = unit_secret("cs-1"), *rt = unit_secret("rt-1");
	int64_t now = timefmt_now();
	int created;

	org_add(u->v, "acme", NULL);
	cred_fill(&c, "acme", "held");
	snprintf(c.grant, sizeof(c.grant), "refresh_token");
	assert_int_equal(vault_cred_put(u->v, &c, cs, rt, &created), OV_OK);
	assert_int_equal(vault_cred_get(u->v, "acme", "held", &c), OV_OK);
	assert_int_equal(vault_lease_claim(u->v, c.id, "host:1:dead", NULL,
	    now, now + 60, VAULT_CLAIM_DUE, -1, &got), OV_OK);
	assert_int_equal(vault_note_unknown(u->v, c.id, "host:1:dead"), OV_OK);
	assert_int_equal(vault_cred_get(u->v, "acme", "held", &got), OV_OK);
	assert_string_equal(got.status, "unknown");
	assert_string_equal(got.lease_owner, "");
	assert_int_equal(vault_lease_claim(u->v, c.id, "unit", NULL, now,
	    now + 60, VAULT_CLAIM_DUE, -1, &got), OV_ECONFLICT);
	assert_int_equal(vault_lease_claim(u->v, c.id, "unit", NULL, now,
	    now + 60, VAULT_CLAIM_ASKED, -1, &got), OV_ECONFLICT);
	assert_int_equal(vault_lease_claim(u->v, c.id, "unit", NULL, now,
	    now + 60, VAULT_CLAIM_OPERATOR, -1, &got), OV_OK);
	/* Another owner's lease is not ended by a late note. */
	assert_int_equal(vault_note_unknown(u->v, c.id, "host:1:dead"), OV_OK);
	assert_int_equal(vault_cred_get(u->v, "acme", "held", &got), OV_OK);
	assert_string_equal(got.lease_owner, "unit");
	secret_free(cs);
	secret_free(rt);
}

/* A wall-clock jump moves stored deadlines once; a reboot does not. */
static void
test_clock_sync(void **state)
{
	struct unit_vault *u = *state;
	struct vault_cred c;
	int64_t now = timefmt_now(), shifted = -1;

	cred_new(u, "k", &c);
	assert_int_equal(vault_lease_claim(u->v, c.id, "unit", NULL, now,
	    now + 60, 1, -1, &c), OV_OK);
	token_record(u, &c, now);
	/* First sight: a reference, no shift. */
	assert_int_equal(vault_clock_sync(u->v, "boot-a", 1000000, 30000,
	    &shifted), OV_OK);
	assert_int_equal(shifted, 0);
	/* Drift under the threshold: nothing. */
	assert_int_equal(vault_clock_sync(u->v, "boot-a", 1020000, 30000,
	    &shifted), OV_OK);
	assert_int_equal(shifted, 0);
	/* An hour forward: every stored time moves an hour, once. */
	assert_int_equal(vault_clock_sync(u->v, "boot-a", 1000000 + 3600000,
	    30000, &shifted), OV_OK);
	assert_int_equal(shifted, 3600);
	assert_int_equal(vault_clock_sync(u->v, "boot-a", 1000000 + 3600000,
	    30000, &shifted), OV_OK);
	assert_int_equal(shifted, 0);	/* another process: done already */
	assert_int_equal(vault_cred_get(u->v, "acme", "k", &c), OV_OK);
	assert_int_equal(c.expires_at, now + 3600 + 3600);
	assert_int_equal(c.next_refresh_at, now + 2700 + 3600);
	/* Back by two hours. */
	assert_int_equal(vault_clock_sync(u->v, "boot-a", 1000000 - 3600000,
	    30000, &shifted), OV_OK);
	assert_int_equal(shifted, -7200);
	assert_int_equal(vault_cred_get(u->v, "acme", "k", &c), OV_OK);
	assert_int_equal(c.expires_at, now);
	/* A reboot: boot time restarted, nothing moves. */
	assert_int_equal(vault_clock_sync(u->v, "boot-b", 99000000, 30000,
	    &shifted), OV_OK);
	assert_int_equal(shifted, 0);
	assert_int_equal(vault_cred_get(u->v, "acme", "k", &c), OV_OK);
	assert_int_equal(c.expires_at, now);
}

static void
test_cred_list_rm(void **state)
{
	struct unit_vault *u = *state;
	struct vault_cred_filter all = { 0 }, acme = { .org = "acme" };
	struct vault_cred_filter gen = { .provider = "genesys" };
	struct names n = { 0 };
	int created;
	int64_t id;

	org_add(u->v, "acme", NULL);
	org_add(u->v, "beta", NULL);
	assert_int_equal(cred_put(u->v, "beta", "x", "s", &created), OV_OK);
	assert_int_equal(cred_put(u->v, "acme", "z", "s", &created), OV_OK);
	assert_int_equal(cred_put(u->v, "acme", "a", "s", &created), OV_OK);
	assert_int_equal(vault_cred_list(u->v, &all, cred_name_cb, &n), OV_OK);
	assert_int_equal(n.n, 3);
	assert_string_equal(n.v[0], "acme/a");
	assert_string_equal(n.v[1], "acme/z");
	assert_string_equal(n.v[2], "beta/x");
	memset(&n, 0, sizeof(n));
	assert_int_equal(vault_cred_list(u->v, &acme, cred_name_cb, &n), OV_OK);
	assert_int_equal(n.n, 2);
	memset(&n, 0, sizeof(n));
	assert_int_equal(vault_cred_list(u->v, &gen, cred_name_cb, &n), OV_OK);
	assert_int_equal(n.n, 0);

	id = cred_id(u->v, "acme", "z");
	assert_int_equal(vault_cred_rm(u->v, "acme", "z"), OV_OK);
	assert_int_equal(vault_cred_rm(u->v, "acme", "z"), OV_ENOTFOUND);
	{
		struct secret *s = NULL;

		assert_int_equal(vault_secret_open(u->v, id,
		    VAULT_CLIENT_SECRET, NULL, &s), OV_ENOTFOUND);
	}
	memset(&n, 0, sizeof(n));
	assert_int_equal(vault_cred_list(u->v, &acme, cred_name_cb, &n), OV_OK);
	assert_int_equal(n.n, 1);
	assert_string_equal(n.v[0], "acme/a");
	assert_int_equal(unit_db_int(u->db, "SELECT count(*) FROM "
	    "secret_versions"), 2);
}

static void
test_org_rm_with_credentials(void **state)
{
	struct unit_vault *u = *state;
	struct vault_org o;
	int created;

	org_add(u->v, "acme", NULL);
	org_add(u->v, "keep", NULL);
	assert_int_equal(cred_put(u->v, "acme", "a", "s1", &created), OV_OK);
	assert_int_equal(cred_put(u->v, "acme", "b", "s2", &created), OV_OK);
	assert_int_equal(cred_put(u->v, "keep", "c", "s3", &created), OV_OK);
	assert_int_equal(vault_org_get(u->v, "acme", &o), OV_OK);
	assert_int_equal(o.credentials, 2);

	ov_clearerr();
	assert_int_equal(vault_org_rm(u->v, "acme", 0), OV_ECONFLICT);
	assert_non_null(strstr(ov_errmsg(), "--force"));
	assert_int_equal(vault_org_get(u->v, "acme", &o), OV_OK);
	assert_int_equal(cred_id(u->v, "acme", "a") > 0, 1);

	assert_int_equal(vault_org_rm(u->v, "acme", 1), OV_OK);
	assert_int_equal(vault_org_get(u->v, "acme", &o), OV_ENOTFOUND);
	/* Its credentials and secrets went with it; the others stayed. */
	assert_int_equal(unit_db_int(u->db, "SELECT count(*) FROM "
	    "credentials"), 1);
	assert_int_equal(unit_db_int(u->db, "SELECT count(*) FROM "
	    "secret_versions"), 1);
	secret_is(u->v, cred_id(u->v, "keep", "c"), NULL, "s3");
	/* The event counts what was removed. */
	{
		struct vault_event_filter f = { .kind = "org.deleted" };
		struct ev_copy ev = { 0 };
		json_t *d;

		assert_int_equal(vault_event_list(u->v, &f, ev_copy_cb, &ev),
		    OV_OK);
		assert_int_equal(ev.n, 1);
		assert_string_equal(ev.e[0].org, "acme");
		d = json_loads(ev.e[0].detail, 0, NULL);
		assert_non_null(d);
		assert_int_equal(json_integer_value(json_object_get(d,
		    "credentials_removed")), 2);
		json_decref(d);
	}
	/* And the audit chain is intact after the cascade. */
	{
		int64_t checked, failures;

		check(u->v, &checked, &failures);
		assert_int_equal(failures, 0);
	}
}

/* ---- events ----------------------------------------------------------- */

static void
test_events(void **state)
{
	struct unit_vault *u = *state;
	static const char *want[] = { "org.deleted", "credential.deleted",
	    "credential.updated", "credential.updated", "credential.created",
	    "org.created", "key.mac_created", "vault.initialized" };
	struct vault_event_filter all = { 0 };
	struct ev_copy ev = { 0 };
	struct names n;
	int created;
	int64_t before = 0;

	org_add(u->v, "acme", NULL);
	assert_int_equal(cred_put(u->v, "acme", "api", "s1", &created), OV_OK);
	assert_int_equal(cred_put(u->v, "acme", "api", "s2", &created), OV_OK);
	{
		struct vault_cred c;

		cred_fill(&c, "acme", "api");
		snprintf(c.expected_scope, sizeof(c.expected_scope), "read");
		assert_int_equal(vault_cred_put(u->v, &c, NULL, NULL,
		    &created), OV_OK);
	}
	assert_int_equal(vault_cred_rm(u->v, "acme", "api"), OV_OK);
	assert_int_equal(vault_org_rm(u->v, "acme", 0), OV_OK);
	/* Failed operations write no event. */
	assert_int_equal(vault_org_rm(u->v, "acme", 0), OV_ENOTFOUND);
	assert_int_equal(cred_put(u->v, "acme", "x", "s", &created),
	    OV_ENOTFOUND);

	n = events(u->v, NULL);
	assert_int_equal(n.n, 8);
	for (int i = 0; i < 8; i++)
		assert_string_equal(n.v[i], want[i]);

	assert_int_equal(vault_event_list(u->v, &all, ev_copy_cb, &ev), OV_OK);
	assert_int_equal(ev.n, 8);
	for (int i = 0; i < 8; i++) {
		/* Newest first, consecutive ids, the actor, times in order. */
		assert_int_equal(ev.e[i].id, 8 - i);
		assert_string_equal(ev.e[i].actor, "unit-test");
		if (i > 0)
			assert_true(ev.e[i].time_ms <= before);
		before = ev.e[i].time_ms;
		/* Details are JSON objects and never hold a secret. */
		{
			json_error_t err;
			json_t *d = json_loads(ev.e[i].detail, 0, &err);

			assert_non_null(d);
			assert_true(json_is_object(d));
			json_decref(d);
		}
		assert_null(strstr(ev.e[i].detail, "s1"));
		assert_null(strstr(ev.e[i].detail, "s2"));
	}
	assert_string_equal(ev.e[0].org, "acme");
	assert_string_equal(ev.e[1].credential, "api");
	/* The secret update names what was replaced, not the value. */
	{
		json_t *d = json_loads(ev.e[3].detail, 0, NULL);
		json_t *r = json_object_get(d, "secrets_replaced");

		assert_int_equal(json_array_size(r), 1);
		assert_string_equal(json_string_value(json_array_get(r, 0)),
		    "client_secret");
		json_decref(d);
		d = json_loads(ev.e[2].detail, 0, NULL);
		r = json_object_get(d, "changed");
		assert_int_equal(json_array_size(r), 1);
		assert_string_equal(json_string_value(json_array_get(r, 0)),
		    "expected_scope");
		assert_int_equal(json_array_size(json_object_get(d,
		    "secrets_replaced")), 0);
		json_decref(d);
		d = json_loads(ev.e[0].detail, 0, NULL);
		assert_int_equal(json_integer_value(json_object_get(d,
		    "credentials_removed")), 0);
		json_decref(d);
	}

	/* Filters and the limit. */
	{
		struct vault_event_filter f = { .kind = "credential.updated" };

		n = events(u->v, &f);
		assert_int_equal(n.n, 2);
	}
	{
		struct vault_event_filter f = { .org = "acme",
		    .credential = "api" };

		n = events(u->v, &f);
		assert_int_equal(n.n, 4);
	}
	{
		struct vault_event_filter f = { .limit = 2 };

		n = events(u->v, &f);
		assert_int_equal(n.n, 2);
		assert_string_equal(n.v[0], "org.deleted");
	}
}

/* ---- batches ---------------------------------------------------------- */

static void
test_batch(void **state)
{
	struct unit_vault *u = *state;
	struct vault_org o;
	int created;

	assert_int_equal(vault_begin(u->v), OV_OK);
	org_add(u->v, "one", NULL);
	org_add(u->v, "two", NULL);
	vault_rollback(u->v);
	assert_int_equal(vault_org_get(u->v, "one", &o), OV_ENOTFOUND);
	assert_int_equal(vault_org_get(u->v, "two", &o), OV_ENOTFOUND);

	assert_int_equal(vault_begin(u->v), OV_OK);
	org_add(u->v, "one", NULL);
	/* A failure inside the batch undoes only that operation. */
	assert_int_equal(cred_put(u->v, "one", "api", NULL, &created),
	    OV_EINVAL);
	assert_int_equal(cred_put(u->v, "one", "api", "s", &created), OV_OK);
	assert_int_equal(vault_commit(u->v), OV_OK);
	assert_int_equal(vault_org_get(u->v, "one", &o), OV_OK);
	assert_int_equal(o.credentials, 1);
	reopen(u);
	secret_is(u->v, cred_id(u->v, "one", "api"), NULL, "s");
	{
		int64_t checked, failures;

		check(u->v, &checked, &failures);
		assert_int_equal(failures, 0);
	}
}

/* ---- check ------------------------------------------------------------ */

static void
populate(struct unit_vault *u)
{
	int created;

	org_add(u->v, "acme", NULL);
	org_add(u->v, "beta", NULL);
	assert_int_equal(cred_put(u->v, "acme", "a", "secret-a1", &created),
	    OV_OK);
	assert_int_equal(cred_put(u->v, "acme", "a", "secret-a2", &created),
	    OV_OK);
	assert_int_equal(cred_put(u->v, "beta", "b", "secret-b1", &created),
	    OV_OK);
}

static void
test_check_clean(void **state)
{
	struct unit_vault *u = *state;
	int64_t checked, failures;
	struct failures fs;

	fs = check(u->v, &checked, &failures);
	assert_int_equal(failures, 0);
	assert_int_equal(checked, 3);	/* two events and the binding flag */
	populate(u);
	fs = check(u->v, &checked, &failures);
	assert_int_equal(failures, 0);
	assert_int_equal(fs.n, 0);
	/* 3 envelopes + 2 credential MACs + the binding flag + 7 events. */
	assert_int_equal(checked, 3 + 2 + 1 + 7);
	reopen(u);
	check(u->v, &checked, &failures);
	assert_int_equal(failures, 0);
}

static void
test_check_corrupt_ciphertext(void **state)
{
	struct unit_vault *u = *state;
	int64_t checked, failures, row;
	struct failures fs;
	int64_t id;

	populate(u);
	id = cred_id(u->v, "acme", "a");
	row = unit_db_int(u->db, "SELECT id FROM secret_versions WHERE "
	    "stage = 'previous'");
	assert_true(row > 0);
	vault_close(u->v);
	u->v = NULL;
	flip_blob(u->db, "secret_versions", "ciphertext", row, 40);
	reopen(u);

	fs = check(u->v, &checked, &failures);
	/* The row, and its credential, which check marks tampered. */
	assert_int_equal(failures, 2);
	assert_string_equal(fs.f[0].table, "secret_versions");
	assert_string_equal(fs.f[0].column, "ciphertext");
	assert_int_equal(fs.f[0].row, row);
	assert_non_null(strstr(fs.f[0].problem, "does not open"));
	assert_string_equal(fs.f[1].table, "credentials");
	assert_string_equal(fs.f[1].column, "status");
	assert_int_equal(fs.f[1].row, id);
	/* As above, and the credential.tampered event check wrote. */
	assert_int_equal(checked, 3 + 2 + 1 + 8);
	/* The other secrets still open; the corrupt one says so. */
	secret_is(u->v, id, "current", "secret-a2");
	secret_is(u->v, cred_id(u->v, "beta", "b"), NULL, "secret-b1");
	{
		struct secret *s = NULL;

		ov_clearerr();
		assert_int_equal(vault_secret_open(u->v, id,
		    VAULT_CLIENT_SECRET, "previous", &s), OV_EINTEGRITY);
		assert_null(s);
		assert_non_null(strstr(ov_errmsg(), "client_secret"));
	}
}

static void
test_check_moved_ciphertext(void **state)
{
	struct unit_vault *u = *state;
	int64_t checked, failures, ra, rb;
	struct failures fs;
	char sql[256];

	populate(u);
	ra = unit_db_int(u->db, "SELECT s.id FROM secret_versions s JOIN "
	    "credentials c ON c.id = s.credential_id WHERE c.name = 'a' AND "
	    "s.stage = 'current'");
	rb = unit_db_int(u->db, "SELECT s.id FROM secret_versions s JOIN "
	    "credentials c ON c.id = s.credential_id WHERE c.name = 'b'");
	assert_true(ra > 0 && rb > 0 && ra != rb);
	vault_close(u->v);
	u->v = NULL;
	/* Copy a valid envelope from one row into another. */
	snprintf(sql, sizeof(sql), "UPDATE secret_versions SET ciphertext = "
	    "(SELECT ciphertext FROM secret_versions WHERE id = %lld) "
	    "WHERE id = %lld", (long long)ra, (long long)rb);
	assert_int_equal(unit_db_exec(u->db, sql), SQLITE_OK);
	reopen(u);
	fs = check(u->v, &checked, &failures);
	assert_int_equal(failures, 2);		/* and b is tampered now */
	assert_string_equal(fs.f[0].table, "secret_versions");
	assert_string_equal(fs.f[0].column, "ciphertext");
	assert_int_equal(fs.f[0].row, rb);
	assert_string_equal(fs.f[1].table, "credentials");
	assert_string_equal(fs.f[1].column, "status");
	/* And the moved secret is not served under the other name. */
	{
		struct secret *s = NULL;

		assert_int_equal(vault_secret_open(u->v, cred_id(u->v, "beta",
		    "b"), VAULT_CLIENT_SECRET, NULL, &s), OV_EINTEGRITY);
		assert_null(s);
	}
}

static void
test_check_truncated_ciphertext(void **state)
{
	struct unit_vault *u = *state;
	int64_t checked, failures, row;
	struct failures fs;
	char sql[256];

	populate(u);
	row = unit_db_int(u->db, "SELECT max(id) FROM secret_versions");
	vault_close(u->v);
	u->v = NULL;
	snprintf(sql, sizeof(sql), "UPDATE secret_versions SET ciphertext = "
	    "substr(ciphertext, 1, 20) WHERE id = %lld", (long long)row);
	assert_int_equal(unit_db_exec(u->db, sql), SQLITE_OK);
	reopen(u);
	fs = check(u->v, &checked, &failures);
	assert_int_equal(failures, 1);
	assert_string_equal(fs.f[0].table, "secret_versions");
	assert_string_equal(fs.f[0].column, "ciphertext");
	assert_int_equal(fs.f[0].row, row);
	assert_non_null(strstr(fs.f[0].problem, "malformed"));
}

static void
test_check_edited_event(void **state)
{
	struct unit_vault *u = *state;
	int64_t checked, failures;
	struct failures fs;

	populate(u);
	vault_close(u->v);
	u->v = NULL;
	assert_int_equal(unit_db_exec(u->db, "UPDATE events SET actor = "
	    "'mallory' WHERE id = 3"), SQLITE_OK);
	reopen(u);
	fs = check(u->v, &checked, &failures);
	assert_int_equal(failures, 1);
	assert_string_equal(fs.f[0].table, "events");
	assert_string_equal(fs.f[0].column, "hash");
	assert_int_equal(fs.f[0].row, 3);
	assert_non_null(strstr(fs.f[0].problem, "edited"));
}

static void
test_check_deleted_event(void **state)
{
	struct unit_vault *u = *state;
	int64_t checked, failures;
	struct failures fs;

	populate(u);
	vault_close(u->v);
	u->v = NULL;
	assert_int_equal(unit_db_exec(u->db, "DELETE FROM events WHERE "
	    "id = 2"), SQLITE_OK);
	reopen(u);
	fs = check(u->v, &checked, &failures);
	assert_int_equal(failures, 1);
	assert_string_equal(fs.f[0].table, "events");
	assert_int_equal(fs.f[0].row, 3);
	assert_non_null(strstr(fs.f[0].problem, "deleted"));
}

static void
test_check_tampered_keyring(void **state)
{
	struct unit_vault *u = *state;
	int64_t checked, failures;
	struct failures fs;

	vault_close(u->v);
	u->v = NULL;
	flip_blob(u->db, "keyring", "wrapped_key", 1, 50);
	/* Opening still works, so that check can say what is wrong. */
	reopen(u);
	fs = check(u->v, &checked, &failures);
	assert_int_equal(failures, 1);
	assert_string_equal(fs.f[0].table, "keyring");
	assert_string_equal(fs.f[0].column, "wrapped_key");
	assert_int_equal(fs.f[0].row, 1);
	/* Without a data key nothing new can be sealed. */
	org_add(u->v, "acme", NULL);
	{
		int created = -1;

		assert_int_equal(cred_put(u->v, "acme", "a", "s", &created),
		    OV_EINTEGRITY);
		assert_int_equal(created, -1);
	}
}

/*
 * A vault whose keyring table lost its rows cannot seal anything, and
 * keyring_seal's error tells the operator to "run: orgvault check" —
 * so check must report the missing data key, not a clean vault.
 */
static void
test_check_missing_keyring(void **state)
{
	struct unit_vault *u = *state;
	int64_t checked, failures;
	int created = -1;

	vault_close(u->v);
	u->v = NULL;
	assert_int_equal(unit_db_exec(u->db, "DELETE FROM keyring"),
	    SQLITE_OK);
	reopen(u);
	org_add(u->v, "acme", NULL);
	ov_clearerr();
	assert_int_equal(cred_put(u->v, "acme", "a", "s", &created),
	    OV_EINTEGRITY);
	assert_non_null(strstr(ov_errmsg(), "orgvault check"));
	check(u->v, &checked, &failures);
	if (failures < 1)
		fail_msg("check reports a clean vault with no data key");
}

static void
test_check_key_version_mismatch(void **state)
{
	struct unit_vault *u = *state;
	int64_t checked, failures, row;
	struct failures fs;
	char sql[256];
	int saw = 0;

	populate(u);
	row = unit_db_int(u->db, "SELECT min(id) FROM secret_versions");
	vault_close(u->v);
	u->v = NULL;
	/* Point the row at a second keyring version it was not sealed by. */
	snprintf(sql, sizeof(sql), "PRAGMA foreign_keys = OFF; "
	    "UPDATE secret_versions SET key_version = 2 WHERE id = %lld",
	    (long long)row);
	assert_int_equal(unit_db_exec(u->db, sql), SQLITE_OK);
	reopen(u);
	fs = check(u->v, &checked, &failures);
	for (int i = 0; i < fs.n && i < 16; i++) {
		assert_string_equal(fs.f[i].table, "secret_versions");
		assert_int_equal(fs.f[i].row, row);
		if (strcmp(fs.f[i].column, "key_version") == 0)
			saw++;
	}
	assert_int_equal(saw, 1);
	/* key_version plus the dangling foreign key. */
	assert_int_equal(failures, 2);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_init_open),
		cmocka_unit_test(test_init_twice),
		cmocka_unit_test(test_open_missing),
		cmocka_unit_test(test_open_not_a_database),
		cmocka_unit_test(test_init_cleans_up_on_failure),
		cmocka_unit_test_setup_teardown(test_key_file_problems,
		    unit_vault_setup, unit_vault_teardown),
		cmocka_unit_test(test_passphrase_vault),
		cmocka_unit_test_setup_teardown(test_org_add_get_list_rm,
		    unit_vault_setup, unit_vault_teardown),
		cmocka_unit_test_setup_teardown(test_org_list_stops,
		    unit_vault_setup, unit_vault_teardown),
		cmocka_unit_test_setup_teardown(test_org_duplicate,
		    unit_vault_setup, unit_vault_teardown),
		cmocka_unit_test_setup_teardown(test_org_update,
		    unit_vault_setup, unit_vault_teardown),
		cmocka_unit_test_setup_teardown(test_cred_create_needs_secret,
		    unit_vault_setup, unit_vault_teardown),
		cmocka_unit_test_setup_teardown(test_cred_put_get_secret,
		    unit_vault_setup, unit_vault_teardown),
		cmocka_unit_test_setup_teardown(test_cred_refresh_token,
		    unit_vault_setup, unit_vault_teardown),
		cmocka_unit_test_setup_teardown(test_cred_update_rotates_secret,
		    unit_vault_setup, unit_vault_teardown),
		cmocka_unit_test_setup_teardown(test_cred_provider_change,
		    unit_vault_setup, unit_vault_teardown),
		cmocka_unit_test_setup_teardown(test_cred_list_rm,
		    unit_vault_setup, unit_vault_teardown),
		cmocka_unit_test_setup_teardown(test_org_rm_with_credentials,
		    unit_vault_setup, unit_vault_teardown),
		cmocka_unit_test_setup_teardown(test_events,
		    unit_vault_setup, unit_vault_teardown),
		cmocka_unit_test_setup_teardown(test_batch,
		    unit_vault_setup, unit_vault_teardown),
		cmocka_unit_test_setup_teardown(test_clock_sync,
		    unit_vault_setup, unit_vault_teardown),
		cmocka_unit_test_setup_teardown(test_lease_claim_held,
		    unit_vault_setup, unit_vault_teardown),
		cmocka_unit_test_setup_teardown(test_lease_claim_if_gen,
		    unit_vault_setup, unit_vault_teardown),
		cmocka_unit_test_setup_teardown(test_check_clean,
		    unit_vault_setup, unit_vault_teardown),
		cmocka_unit_test_setup_teardown(test_check_corrupt_ciphertext,
		    unit_vault_setup, unit_vault_teardown),
		cmocka_unit_test_setup_teardown(test_check_moved_ciphertext,
		    unit_vault_setup, unit_vault_teardown),
		cmocka_unit_test_setup_teardown(
		    test_check_truncated_ciphertext,
		    unit_vault_setup, unit_vault_teardown),
		cmocka_unit_test_setup_teardown(test_check_edited_event,
		    unit_vault_setup, unit_vault_teardown),
		cmocka_unit_test_setup_teardown(test_check_deleted_event,
		    unit_vault_setup, unit_vault_teardown),
		cmocka_unit_test_setup_teardown(test_check_tampered_keyring,
		    unit_vault_setup, unit_vault_teardown),
		cmocka_unit_test_setup_teardown(test_check_missing_keyring,
		    unit_vault_setup, unit_vault_teardown),
		cmocka_unit_test_setup_teardown(
		    test_check_key_version_mismatch,
		    unit_vault_setup, unit_vault_teardown),
	};

	unit_init();
	return cmocka_run_group_tests(tests, NULL, NULL);
}

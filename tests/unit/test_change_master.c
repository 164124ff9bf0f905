/*
 * test_change_master.c — vault/master.c (key change-master) through
 * vault.h against real SQLite files: key file → key file (generated or
 * copied), → passphrase and back, the old key refused, every sealed
 * thing still opening, the audit chain re-hashed; the state a crash
 * between commit and rename leaves; refusals that change nothing.
 */
#include <jansson.h>

#include "unit.h"

#define CLIENT_SECRET	"change-master-client-secret"
#define HOOK_SECRET	"change-master-webhook-secret"
#define NEW_PASSPHRASE	"change-master-passphrase"

struct fix {
	struct unit_vault	*u;
	char			 key[PATH_MAX + 16];	/* DIR/master.key */
	char			 next[PATH_MAX + 32];	/* DIR/master.key.new */
	char			 old[PATH_MAX + 16];	/* BASE/old.key */
	char			*apikey;
	int64_t			 cred_id, hook_id;
};

static void
copy_file(const char *from, const char *to)
{
	unsigned char buf[64];
	ssize_t n;
	int fd = open(from, O_RDONLY);

	assert_true(fd != -1);
	n = read(fd, buf, sizeof(buf));
	close(fd);
	assert_true(n > 0);
	unlink(to);
	assert_int_equal(unit_write_file(to, buf, (size_t)n, 0600), 0);
}

static int
same_file(const char *a, const char *b)
{
	unsigned char ba[64], bb[64];
	ssize_t na, nb;
	int fa = open(a, O_RDONLY), fb = open(b, O_RDONLY);

	na = fa == -1 ? -1 : read(fa, ba, sizeof(ba));
	nb = fb == -1 ? -1 : read(fb, bb, sizeof(bb));
	if (fa != -1)
		close(fa);
	if (fb != -1)
		close(fb);
	return na > 0 && na == nb && memcmp(ba, bb, (size_t)na) == 0;
}

/* An org, a credential, an API key, a webhook and two data keys. */
static void
fill(struct fix *f)
{
	struct vault *v = f->u->v;
	struct vault_org o = { .slug = "acme" };
	struct vault_cred c = { .org = "acme", .name = "main",
	    .provider = "oauth2", .auth = "client_secret_basic",
	    .grant = "client_credentials", .client_id = "cid",
	    .refresh_fraction = 0.75,
	    .token_url = "https://auth.example.com/oauth2/token" };
	struct secret *s = unit_secret(CLIENT_SECRET), *key = NULL;
	struct vault_apikey k;
	struct vault_webhook w;
	uint32_t version;
	int created;

	assert_int_equal(vault_org_add(v, &o), OV_OK);
	assert_int_equal(vault_cred_put(v, &c, s, NULL, &created), OV_OK);
	secret_free(s);
	assert_int_equal(vault_cred_get(v, "acme", "main", &c), OV_OK);
	f->cred_id = c.id;
	assert_int_equal(vault_apikey_create(v, &(struct vault_apikey_spec){
	    .name = "dash", .role = "reader" }, &key, &k), OV_OK);
	f->apikey = strndup((const char *)key->buf, key->len);
	secret_free(key);
	assert_int_equal(vault_key_rotate(v, &version), OV_OK);
	s = unit_secret(HOOK_SECRET);
	assert_int_equal(vault_webhook_add(v, "https://hooks.example/a", NULL,
	    s, &w), OV_OK);
	secret_free(s);
	f->hook_id = w.id;
}

static int
setup(void **state)
{
	struct fix *f = calloc(1, sizeof(*f));

	if (f == NULL || unit_vault_setup((void **)&f->u) != 0)
		return -1;
	snprintf(f->key, sizeof(f->key), "%s/%s", f->u->dir, VAULT_KEY_FILE);
	snprintf(f->next, sizeof(f->next), "%s/%s", f->u->dir,
	    VAULT_KEY_FILE_NEW);
	snprintf(f->old, sizeof(f->old), "%s/old.key", f->u->base);
	fill(f);
	copy_file(f->key, f->old);
	*state = f;
	return 0;
}

static int
teardown(void **state)
{
	struct fix *f = *state;

	free(f->apikey);
	unit_vault_free(f->u);
	free(f);
	return 0;
}

static enum ov_rc
reopen(struct fix *f, const struct secret *pp)
{
	vault_close(f->u->v);
	f->u->v = NULL;
	f->u->opts.passphrase = pp;
	ov_clearerr();
	return vault_open(&f->u->opts, 0, &f->u->v);
}

static enum ov_rc
change(struct fix *f, const struct vault_new_master *m,
    struct vault_master_report *r)
{
	vault_close(f->u->v);
	f->u->v = NULL;
	if (vault_open(&f->u->opts, VAULT_OPEN_EXCLUSIVE, &f->u->v) != OV_OK)
		fail_msg("exclusive open: %s", ov_errmsg());
	ov_clearerr();
	return vault_master_change(f->u->v, m, r);
}

static void
on_failure(const struct vault_check_failure *fl, void *arg)
{
	fprintf(stderr, "check: %s.%s row %lld: %s\n", fl->table, fl->column,
	    (long long)fl->row, fl->problem);
	(*(int *)arg)++;
}

static int
is_master_changed(const struct vault_event *e, void *arg)
{
	json_t *d = json_loads(e->detail, 0, NULL);

	assert_non_null(d);
	snprintf(arg, 16, "%s", json_string_value(json_object_get(d,
	    "mode")));
	json_decref(d);
	return 1;
}

/* Everything sealed still opens; the chain is whole and ends with
 * key.master_changed naming mode. */
static void
all_there(struct fix *f, const char *mode)
{
	struct vault *v = f->u->v;
	struct vault_event_filter ef = { .kind = "key.master_changed",
	    .limit = 1 };
	struct vault_audit_report r;
	struct vault_apikey k;
	struct secret *s = NULL;
	int64_t checked = 0, failures = 0;
	int bad = 0;
	char got[16] = "";

	assert_int_equal(vault_check(v, on_failure, &bad, &checked,
	    &failures), OV_OK);
	assert_int_equal(failures, 0);
	assert_true(checked >= 4);
	assert_int_equal(vault_secret_open(v, f->cred_id,
	    VAULT_CLIENT_SECRET, "current", &s), OV_OK);
	assert_int_equal(s->len, strlen(CLIENT_SECRET));
	assert_memory_equal(s->buf, CLIENT_SECRET, s->len);
	secret_free(s);
	assert_int_equal(vault_webhook_secret_open(v, f->hook_id, &s), OV_OK);
	assert_memory_equal(s->buf, HOOK_SECRET, s->len);
	secret_free(s);
	assert_int_equal(vault_apikey_verify(v, f->apikey, strlen(f->apikey),
	    &k, NULL), OV_OK);
	assert_int_equal(vault_audit_verify(v, &r), OV_OK);
	assert_int_equal(r.broken_id, 0);
	assert_int_equal(vault_event_list(v, &ef, is_master_changed, got),
	    OV_OK);
	assert_string_equal(got, mode);
	/* Writes after the change extend the chain with the new key. */
	assert_int_equal(vault_event_add(v, "test.after", NULL, NULL), OV_OK);
	assert_int_equal(vault_audit_verify(v, &r), OV_OK);
	assert_int_equal(r.broken_id, 0);
}

static void
test_generate(void **state)
{
	struct fix *f = *state;
	struct vault_new_master m = { .generate = 1 };
	struct vault_master_report r = { 0 };
	struct stat st;

	assert_int_equal(change(f, &m, &r), OV_OK);
	assert_int_equal(r.data_keys, 2);
	assert_true(r.events >= 5);
	assert_int_equal(stat(f->key, &st), 0);
	assert_int_equal(st.st_mode & 07777, 0600);
	assert_int_equal(st.st_size, 32);
	assert_int_equal(access(f->next, F_OK), -1);
	assert_false(same_file(f->key, f->old));
	assert_int_equal(reopen(f, NULL), OV_OK);
	all_there(f, "key_file");

	/* The old key is refused as any wrong key. */
	copy_file(f->old, f->key);
	assert_int_equal(reopen(f, NULL), OV_ECRYPTO);
	assert_non_null(strstr(ov_errmsg(), "wrong master key file"));
}

static void
test_copy_key_file(void **state)
{
	struct fix *f = *state;
	char mine[PATH_MAX + 16];
	unsigned char key[32];
	struct vault_new_master m = { .key_file = mine };
	struct vault_master_report r;

	snprintf(mine, sizeof(mine), "%s/mine.key", f->u->base);
	randombytes_buf(key, sizeof(key));
	assert_int_equal(unit_write_file(mine, key, sizeof(key), 0644), 0);
	/* A key file others can read is refused, saying how to fix it. */
	assert_int_equal(change(f, &m, &r), OV_ECRYPTO);
	assert_non_null(strstr(ov_errmsg(), "chmod 600"));
	assert_int_equal(access(f->next, F_OK), -1);
	assert_int_equal(chmod(mine, 0600), 0);
	assert_int_equal(change(f, &m, &r), OV_OK);
	assert_true(same_file(f->key, mine));
	assert_int_equal(reopen(f, NULL), OV_OK);
	all_there(f, "key_file");
	/* The current key as the new one is refused. */
	m.key_file = f->key;
	assert_int_equal(change(f, &m, &r), OV_EINVAL);
	sodium_memzero(key, sizeof(key));
}

static void
test_passphrase_and_back(void **state)
{
	struct fix *f = *state;
	struct secret *pp = unit_secret(NEW_PASSPHRASE);
	struct secret *shortpp = unit_secret("short");
	struct vault_new_master m = { .passphrase = shortpp,
	    .cost = VAULT_KDF_INTERACTIVE };
	struct vault_master_report r;

	assert_int_equal(change(f, &m, &r), OV_EINVAL);
	m.passphrase = pp;
	assert_int_equal(change(f, &m, &r), OV_OK);
	assert_int_equal(access(f->key, F_OK), -1);	/* deleted */
	assert_int_equal(reopen(f, pp), OV_OK);
	assert_int_equal(unit_db_int(f->u->db, "SELECT count(*) FROM "
	    "vault_meta WHERE key LIKE 'kdf_%'"), 4);
	all_there(f, "passphrase");
	copy_file(f->old, f->key);	/* the old key file is no key now */
	assert_int_equal(reopen(f, NULL), OV_EUSAGE);
	unlink(f->key);

	/* And back to a key file, opened with the passphrase. */
	m = (struct vault_new_master){ .generate = 1 };
	f->u->opts.passphrase = pp;
	assert_int_equal(change(f, &m, &r), OV_OK);
	assert_int_equal(reopen(f, pp), OV_EUSAGE);	/* no passphrase now */
	assert_int_equal(unit_db_int(f->u->db, "SELECT count(*) FROM "
	    "vault_meta WHERE key LIKE 'kdf_%'"), 0);
	assert_int_equal(reopen(f, NULL), OV_OK);
	all_there(f, "key_file");
	secret_free(pp);
	secret_free(shortpp);
}

/* The state a crash between the commit and the rename leaves. */
static void
test_crash_before_rename(void **state)
{
	struct fix *f = *state;
	char newkey[PATH_MAX + 16];
	struct vault_new_master m = { .generate = 1 };
	struct vault_master_report r;
	struct stat st;

	snprintf(newkey, sizeof(newkey), "%s/new.key", f->u->base);
	assert_int_equal(change(f, &m, &r), OV_OK);
	vault_close(f->u->v);
	f->u->v = NULL;
	copy_file(f->key, newkey);
	assert_int_equal(rename(f->key, f->next), 0);
	copy_file(f->old, f->key);
	/* The opener takes master.key.new and finishes the rename. */
	assert_int_equal(reopen(f, NULL), OV_OK);
	assert_int_equal(access(f->next, F_OK), -1);
	assert_true(same_file(f->key, newkey));
	assert_int_equal(stat(f->key, &st), 0);
	assert_int_equal(st.st_mode & 07777, 0600);
	all_there(f, "key_file");

	/* From a passphrase vault there was no master.key at all. */
	vault_close(f->u->v);
	f->u->v = NULL;
	assert_int_equal(rename(f->key, f->next), 0);
	assert_int_equal(reopen(f, NULL), OV_OK);
	assert_true(same_file(f->key, newkey));

	/* A master.key.new that is not the key changes nothing. */
	vault_close(f->u->v);
	f->u->v = NULL;
	copy_file(f->old, f->next);
	assert_int_equal(reopen(f, NULL), OV_OK);
	assert_true(same_file(f->key, newkey));
	assert_true(same_file(f->next, f->old));
	copy_file(f->old, f->key);
	assert_int_equal(reopen(f, NULL), OV_ECRYPTO);
	assert_non_null(strstr(ov_errmsg(), "wrong master key file"));
	assert_true(same_file(f->key, f->old));
	/* The next change replaces the stale master.key.new. */
	copy_file(newkey, f->key);
	assert_int_equal(change(f, &m, &r), OV_OK);
	assert_int_equal(access(f->next, F_OK), -1);
	assert_int_equal(reopen(f, NULL), OV_OK);
	all_there(f, "key_file");
}

static void
test_broken_chain_refused(void **state)
{
	struct fix *f = *state;
	struct vault_new_master m = { .generate = 1 };
	struct vault_master_report r;

	vault_close(f->u->v);
	f->u->v = NULL;
	assert_int_equal(unit_db_exec(f->u->db, "UPDATE events SET actor = "
	    "'mallory' WHERE id = 2"), SQLITE_OK);
	assert_int_equal(change(f, &m, &r), OV_EINTEGRITY);
	assert_non_null(strstr(ov_errmsg(), "orgvault audit verify"));
	assert_int_equal(access(f->next, F_OK), -1);
	assert_true(same_file(f->key, f->old));
	assert_int_equal(reopen(f, NULL), OV_OK);
	assert_int_equal(unit_db_int(f->u->db, "SELECT count(*) FROM events "
	    "WHERE kind = 'key.master_changed'"), 0);
}

static void
test_exclusive(void **state)
{
	struct fix *f = *state;
	struct vault_opts o = f->u->opts;
	struct vault *x = NULL;

	o.busy_timeout_ms = 50;
	/* f->u->v is open: an exclusive open is refused... */
	assert_int_equal(vault_open(&o, VAULT_OPEN_EXCLUSIVE, &x),
	    OV_ECONFLICT);
	assert_null(x);
	assert_non_null(strstr(ov_errmsg(), "another process"));
	/* ...and while one is open, nobody else gets in. */
	vault_close(f->u->v);
	f->u->v = NULL;
	assert_int_equal(vault_open(&o, VAULT_OPEN_EXCLUSIVE, &x), OV_OK);
	assert_int_equal(vault_open(&o, 0, &f->u->v), OV_EBUSY);
	vault_close(x);
	assert_int_equal(vault_open(&o, 0, &f->u->v), OV_OK);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_generate, setup,
		    teardown),
		cmocka_unit_test_setup_teardown(test_copy_key_file, setup,
		    teardown),
		cmocka_unit_test_setup_teardown(test_passphrase_and_back,
		    setup, teardown),
		cmocka_unit_test_setup_teardown(test_crash_before_rename,
		    setup, teardown),
		cmocka_unit_test_setup_teardown(test_broken_chain_refused,
		    setup, teardown),
		cmocka_unit_test_setup_teardown(test_exclusive, setup,
		    teardown),
	};

	unit_init();
	return cmocka_run_group_tests(tests, NULL, NULL);
}

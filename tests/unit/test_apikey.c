/*
 * test_apikey.c — API keys (vault/apikey.c) through vault.h against a
 * real SQLite file: format, verify's refusals, revoke and reuse,
 * validation, org restriction, the hash key, events, check; orgs by id,
 * credentials, expiry and the row MAC over them.
 */
#include <jansson.h>

#include "unit.h"
#include "util/timefmt.h"

#define SECRET_AT	(3 + VAULT_APIKEY_ID_LEN + 1)

/* Adds the orgs of a comma-separated list that do not exist yet. */
static void
orgs_make(struct vault *v, const char *list)
{
	char buf[OV_APIKEY_ORGS_MAX + 1], *save = NULL;

	snprintf(buf, sizeof(buf), "%s", list);
	for (char *t = strtok_r(buf, ",", &save); t;
	    t = strtok_r(NULL, ",", &save)) {
		struct vault_org o = { 0 };

		snprintf(o.slug, sizeof(o.slug), "%s", t);
		snprintf(o.name, sizeof(o.name), "Org %s", t);
		if (vault_org_add(v, &o) != OV_OK && vault_org_get(v, t, &o) !=
		    OV_OK)
			fail_msg("org %s: %s", t, ov_errmsg());
	}
}

static int
apikey_setup(void **state)
{
	struct unit_vault *u;

	if (unit_vault_setup(state) != 0)
		return -1;
	u = *state;
	orgs_make(u->v, "acme,beta,gamma-2,a,b-c");
	return 0;
}

static enum ov_rc
create_rc(struct vault *v, const char *name, const char *role,
    const char *orgs, const char *creds, int64_t ttl, struct secret **key,
    struct vault_apikey *out)
{
	struct vault_apikey_spec spec = { name, role, orgs, creds, ttl };

	*key = NULL;
	return vault_apikey_create(v, &spec, key, out);
}

/* Creates name and returns the key as a C string (caller frees). */
static char *
create_full(struct vault *v, const char *name, const char *role,
    const char *orgs, const char *creds, int64_t ttl,
    struct vault_apikey *out)
{
	struct secret *key = NULL;
	struct vault_apikey k;
	char *s;

	if (create_rc(v, name, role, orgs, creds, ttl, &key, &k) != OV_OK)
		fail_msg("create %s: %s", name, ov_errmsg());
	assert_non_null(key);
	assert_int_equal(key->len, VAULT_APIKEY_LEN);
	s = strndup((const char *)key->buf, key->len);
	assert_non_null(s);
	secret_free(key);
	if (out)
		*out = k;
	return s;
}

static char *
create(struct vault *v, const char *name, const char *role,
    const char *orgs, struct vault_apikey *out)
{
	return create_full(v, name, role, orgs, NULL, 0, out);
}

/* Asserts that key (of len bytes) is refused with the one message. */
static void
refused(struct vault *v, const char *key, size_t len)
{
	struct vault_apikey k;

	memset(&k, 0x5a, sizeof(k));
	ov_clearerr();
	assert_int_equal(vault_apikey_verify(v, key, len, &k, NULL), OV_ENOTFOUND);
	assert_string_equal(ov_errmsg(), "invalid API key");
	assert_int_equal(k.id, 0x5a5a5a5a5a5a5a5aLL);	/* out untouched */
}

static int
is_b64url(char c)
{
	return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') ||
	    (c >= '0' && c <= '9') || c == '-' || c == '_';
}

static void
test_create_verify(void **state)
{
	struct unit_vault *u = *state;
	struct vault_apikey made, got;
	char *key = create(u->v, "ci-bot", "operator", "acme,beta", &made);

	assert_memory_equal(key, "ov_", 3);
	for (int i = 3; i < 3 + VAULT_APIKEY_ID_LEN; i++)
		assert_true((key[i] >= '0' && key[i] <= '9') ||
		    (key[i] >= 'a' && key[i] <= 'f'));
	assert_int_equal(key[3 + VAULT_APIKEY_ID_LEN], '_');
	for (int i = SECRET_AT; i < VAULT_APIKEY_LEN; i++)
		assert_true(is_b64url(key[i]));
	assert_memory_equal(made.key_id, key + 3, VAULT_APIKEY_ID_LEN);
	assert_string_equal(made.name, "ci-bot");
	assert_string_equal(made.role, "operator");
	assert_string_equal(made.orgs, "acme,beta");
	assert_true(made.id > 0 && made.created_at > 0);
	assert_int_equal(made.revoked_at, 0);

	assert_int_equal(vault_apikey_verify(u->v, key, strlen(key), &got, NULL),
	    OV_OK);
	assert_int_equal(got.id, made.id);
	assert_string_equal(got.key_id, made.key_id);
	assert_string_equal(got.name, "ci-bot");
	assert_string_equal(got.role, "operator");
	assert_string_equal(got.orgs, "acme,beta");
	assert_true(got.last_used_at > 0);	/* touched */
	assert_int_equal(vault_apikey_get(u->v, "ci-bot", &got), OV_OK);
	assert_true(got.last_used_at > 0);

	/* Two keys differ everywhere that is random. */
	{
		char *other = create(u->v, "second", "reader", NULL, &got);

		assert_string_equal(got.orgs, "*");
		assert_memory_not_equal(other + 3, key + 3,
		    VAULT_APIKEY_ID_LEN);
		assert_memory_not_equal(other + SECRET_AT, key + SECRET_AT,
		    VAULT_APIKEY_LEN - SECRET_AT);
		free(other);
	}
	free(key);
}

static void
test_verify_refusals(void **state)
{
	struct unit_vault *u = *state;
	char *key = create(u->v, "k", "admin", "*", NULL);
	char *other = create(u->v, "other", "admin", "*", NULL);
	char buf[VAULT_APIKEY_LEN + 2];
	const size_t len = VAULT_APIKEY_LEN;

	/* Another key's secret with this key_id. */
	memcpy(buf, key, len);
	memcpy(buf + SECRET_AT, other + SECRET_AT, len - SECRET_AT);
	refused(u->v, buf, len);
	/* Every single changed character, in the key_id and the secret. */
	for (size_t i = 0; i < len; i++) {
		memcpy(buf, key, len);
		if (i >= 3 && i < 3 + VAULT_APIKEY_ID_LEN)
			buf[i] = buf[i] == 'a' ? 'b' : 'a';
		else if (i >= SECRET_AT)
			buf[i] = buf[i] == 'A' ? 'B' : 'A';
		else
			buf[i] = buf[i] == 'X' ? 'Y' : 'X';
		refused(u->v, buf, len);
	}
	/* Wrong length: one short, one over, empty, NULL. */
	refused(u->v, key, len - 1);
	memcpy(buf, key, len);
	buf[len] = 'A';
	refused(u->v, buf, len + 1);
	refused(u->v, "", 0);
	refused(u->v, NULL, 0);
	/* Uppercase hex, a bad base64url character, the wrong separator. */
	memcpy(buf, key, len);
	buf[3] = 'A';
	refused(u->v, buf, len);
	memcpy(buf, key, len);
	buf[len - 1] = '+';
	refused(u->v, buf, len);
	memcpy(buf, key, len);
	buf[3 + VAULT_APIKEY_ID_LEN] = '-';
	refused(u->v, buf, len);
	/* A well-formed key nobody made. */
	memcpy(buf, "ov_0123456789abcdef_", SECRET_AT);
	memcpy(buf + SECRET_AT, key + SECRET_AT, len - SECRET_AT);
	refused(u->v, buf, len);
	/* The real ones still pass. */
	{
		struct vault_apikey k;

		assert_int_equal(vault_apikey_verify(u->v, key, len, &k, NULL), OV_OK);
		assert_int_equal(vault_apikey_verify(u->v, other, len, &k, NULL),
		    OV_OK);
	}
	free(key);
	free(other);
}

static void
test_revoke_and_reuse(void **state)
{
	struct unit_vault *u = *state;
	struct vault_apikey first, second, k;
	char *key = create(u->v, "deploy", "token", "acme", &first);
	char *key2;

	ov_clearerr();
	assert_int_equal(create_rc(u->v, "deploy", "reader", "*", NULL, 0,
	    &(struct secret *){ NULL }, &k), OV_ECONFLICT);
	assert_non_null(strstr(ov_errmsg(), "deploy"));
	assert_non_null(strstr(ov_errmsg(), "revoke it first"));
	assert_int_equal(vault_apikey_verify(u->v, key, strlen(key), &k, NULL),
	    OV_OK);

	assert_int_equal(vault_apikey_revoke(u->v, "deploy"), OV_OK);
	refused(u->v, key, strlen(key));
	assert_int_equal(vault_apikey_get(u->v, "deploy", &k), OV_OK);
	assert_true(k.revoked_at > 0);
	assert_int_equal(vault_apikey_revoke(u->v, "deploy"), OV_ENOTFOUND);
	assert_int_equal(vault_apikey_revoke(u->v, "nosuch"), OV_ENOTFOUND);
	assert_int_equal(vault_apikey_get(u->v, "nosuch", &k), OV_ENOTFOUND);

	/* The name of a revoked key is free again; the old key stays dead. */
	key2 = create(u->v, "deploy", "reader", "*", &second);
	assert_string_not_equal(second.key_id, first.key_id);
	assert_int_equal(second.revoked_at, 0);
	refused(u->v, key, strlen(key));
	assert_int_equal(vault_apikey_verify(u->v, key2, strlen(key2), &k, NULL),
	    OV_OK);
	assert_string_equal(k.role, "reader");
	assert_int_equal(unit_db_int(u->db, "SELECT count(*) FROM api_keys "
	    "WHERE name = 'deploy'"), 1);
	free(key);
	free(key2);
}

static void
test_validation(void **state)
{
	struct unit_vault *u = *state;
	static const char *const bad_orgs[] = { "", ",", "a,", ",a", "a,,b",
	    "a,a", "b,a,b", "*,a", "a,*", "**", "A", "a b", "-a", "a_b",
	    "acme;beta" };
	static const char *const good_orgs[] = { "*", "a", "a,b-c",
	    "acme,beta,gamma-2" };
	struct secret *key = NULL;
	struct vault_apikey k;
	char orgs[OV_APIKEY_ORGS_MAX + 8];

	for (size_t i = 0; i < sizeof(bad_orgs) / sizeof(bad_orgs[0]); i++) {
		if (create_rc(u->v, "x", "reader", bad_orgs[i], NULL, 0, &key,
		    &k) != OV_EINVAL)
			fail_msg("orgs \"%s\" accepted", bad_orgs[i]);
		assert_null(key);
	}
	for (size_t i = 0; i < sizeof(good_orgs) / sizeof(good_orgs[0]);
	    i++) {
		char name[16];

		snprintf(name, sizeof(name), "good-%zu", i);
		free(create(u->v, name, "reader", good_orgs[i], &k));
		assert_string_equal(k.orgs, good_orgs[i]);
	}
	/* Length: 1024 bytes is fine, 1025 is over. */
	memset(orgs, 0, sizeof(orgs));
	for (size_t i = 0; i + 4 <= OV_APIKEY_ORGS_MAX; i += 4)
		snprintf(orgs + i, 5, "%03zx,", i / 4);
	orgs[OV_APIKEY_ORGS_MAX - 1] = 'z';	/* "...,0fe,0ffz" */
	assert_int_equal(strlen(orgs), OV_APIKEY_ORGS_MAX);
	orgs_make(u->v, orgs);
	free(create(u->v, "long", "reader", orgs, &k));
	assert_string_equal(k.orgs, orgs);
	orgs[OV_APIKEY_ORGS_MAX] = 'z';
	assert_int_equal(create_rc(u->v, "longer", "reader", orgs, NULL, 0,
	    &key, &k), OV_ELIMIT);

	assert_int_equal(create_rc(u->v, "x", "root", "*", NULL, 0, &key,
	    &k), OV_EINVAL);
	assert_int_equal(create_rc(u->v, "x", "", "*", NULL, 0, &key, &k),
	    OV_EINVAL);
	assert_int_equal(create_rc(u->v, "Bad_Name", "reader", "*", NULL, 0,
	    &key, &k), OV_EINVAL);
	assert_int_equal(create_rc(u->v, "", "reader", "*", NULL, 0, &key,
	    &k), OV_EINVAL);
	/* Orgs that exist only; credentials are names; never for admin;
	 * an expiry within (0, 3650 days]. */
	assert_int_equal(create_rc(u->v, "x", "reader", "acme,ghost", NULL, 0,
	    &key, &k), OV_EINVAL);
	assert_non_null(strstr(ov_errmsg(), "ghost"));
	for (size_t i = 0; i < sizeof(bad_orgs) / sizeof(bad_orgs[0]); i++)
		if (create_rc(u->v, "x", "token", "*", bad_orgs[i], 0, &key,
		    &k) != OV_EINVAL)
			fail_msg("credentials \"%s\" accepted", bad_orgs[i]);
	assert_int_equal(create_rc(u->v, "x", "admin", "acme", "main", 0,
	    &key, &k), OV_EINVAL);
	assert_int_equal(create_rc(u->v, "x", "token", "*", NULL, -1, &key,
	    &k), OV_EINVAL);
	assert_int_equal(create_rc(u->v, "x", "token", "*", NULL,
	    OV_APIKEY_TTL_MAX + 1, &key, &k), OV_EINVAL);
	assert_null(key);
	assert_int_equal(unit_db_int(u->db, "SELECT count(*) FROM api_keys "
	    "WHERE name IN ('x', 'longer')"), 0);
}

static void
test_allows(void **state)
{
	struct vault_apikey k;

	(void)state;
	memset(&k, 0, sizeof(k));
	snprintf(k.orgs, sizeof(k.orgs), "*");
	assert_true(vault_apikey_allows(&k, "acme"));
	assert_true(vault_apikey_allows(&k, "anything-else"));
	snprintf(k.orgs, sizeof(k.orgs), "acme,beta");
	assert_true(vault_apikey_allows(&k, "acme"));
	assert_true(vault_apikey_allows(&k, "beta"));
	assert_false(vault_apikey_allows(&k, "acm"));
	assert_false(vault_apikey_allows(&k, "acme,beta"));
	assert_false(vault_apikey_allows(&k, "bet"));
	assert_false(vault_apikey_allows(&k, "betas"));
	assert_false(vault_apikey_allows(&k, "gamma"));
	assert_false(vault_apikey_allows(&k, ""));
	assert_false(vault_apikey_allows(&k, "*"));
	snprintf(k.orgs, sizeof(k.orgs), "solo");
	assert_true(vault_apikey_allows(&k, "solo"));
	assert_false(vault_apikey_allows(&k, "sol"));
	/* No org left: nothing. */
	k.orgs[0] = '\0';
	assert_false(vault_apikey_allows(&k, "solo"));
	assert_false(vault_apikey_allows(&k, ""));
	/* Credentials, within the orgs. */
	snprintf(k.orgs, sizeof(k.orgs), "acme");
	snprintf(k.credentials, sizeof(k.credentials), "*");
	assert_true(vault_apikey_allows_cred(&k, "acme", "main"));
	assert_false(vault_apikey_allows_cred(&k, "beta", "main"));
	snprintf(k.credentials, sizeof(k.credentials), "main,cc-2");
	assert_true(vault_apikey_allows_cred(&k, "acme", "main"));
	assert_true(vault_apikey_allows_cred(&k, "acme", "cc-2"));
	assert_false(vault_apikey_allows_cred(&k, "acme", "cc"));
	assert_false(vault_apikey_allows_cred(&k, "acme", "mai"));
	assert_false(vault_apikey_allows_cred(&k, "acme", "admin"));
	assert_false(vault_apikey_allows_cred(&k, "beta", "main"));
	/* Expiry: at expires_at, not a second before; 0 never. */
	assert_false(vault_apikey_expired(&k, 1000));
	k.expires_at = 1000;
	assert_false(vault_apikey_expired(&k, 999));
	assert_true(vault_apikey_expired(&k, 1000));
	assert_true(vault_apikey_expired(&k, 5000));
}

/* Whether needle (n bytes) occurs anywhere in the file at path. */
static int
file_holds(const char *path, const void *needle, size_t n)
{
	FILE *f = fopen(path, "rb");
	char *buf;
	size_t len;
	int found = 0;

	if (f == NULL)
		return 0;
	buf = malloc(16 * 1024 * 1024);
	assert_non_null(buf);
	len = fread(buf, 1, 16 * 1024 * 1024, f);
	fclose(f);
	for (size_t i = 0; i + n <= len && !found; i++)
		found = memcmp(buf + i, needle, n) == 0;
	free(buf);
	return found;
}

static void
test_storage(void **state)
{
	struct unit_vault *u = *state;
	struct vault_apikey k;
	unsigned char plain[32], stored[32];
	char *key = create(u->v, "store", "admin", "*", &k);
	char path[PATH_MAX + 32];
	sqlite3 *h;
	sqlite3_stmt *st;

	/* The stored hash is 32 bytes and keyed: not the plain BLAKE2b. */
	assert_int_equal(sqlite3_open_v2(u->db, &h, SQLITE_OPEN_READONLY,
	    NULL), SQLITE_OK);
	assert_int_equal(sqlite3_prepare_v2(h, "SELECT secret_hash FROM "
	    "api_keys WHERE name = 'store'", -1, &st, NULL), SQLITE_OK);
	assert_int_equal(sqlite3_step(st), SQLITE_ROW);
	assert_int_equal(sqlite3_column_bytes(st, 0), 32);
	memcpy(stored, sqlite3_column_blob(st, 0), 32);
	sqlite3_finalize(st);
	sqlite3_close(h);
	{
		unsigned char in[VAULT_APIKEY_LEN];
		size_t n = 0;

		memcpy(in, key + 3, VAULT_APIKEY_ID_LEN);
		n = VAULT_APIKEY_ID_LEN;
		in[n++] = 0;
		memcpy(in + n, key + SECRET_AT, VAULT_APIKEY_LEN - SECRET_AT);
		n += VAULT_APIKEY_LEN - SECRET_AT;
		crypto_generichash(plain, 32, in, n, NULL, 0);
	}
	assert_memory_not_equal(plain, stored, 32);
	/* The hash key is an envelope in vault_meta (hex), not 32 bytes. */
	assert_true(unit_db_int(u->db, "SELECT length(value) FROM vault_meta "
	    "WHERE key = 'apikey_hash_key'") > 2 * 32 + 2 * 29);

	/* It survives reopening; the key and its secret are in no file. */
	vault_close(u->v);
	u->v = NULL;
	assert_int_equal(unit_db_exec(u->db, "PRAGMA wal_checkpoint(TRUNCATE)"),
	    SQLITE_OK);
	assert_false(file_holds(u->db, key, strlen(key)));
	assert_false(file_holds(u->db, key + SECRET_AT,
	    VAULT_APIKEY_LEN - SECRET_AT));
	snprintf(path, sizeof(path), "%s-wal", u->db);
	assert_false(file_holds(path, key + SECRET_AT,
	    VAULT_APIKEY_LEN - SECRET_AT));
	assert_int_equal(vault_open(&u->opts, 0, &u->v), OV_OK);
	assert_int_equal(vault_apikey_verify(u->v, key, strlen(key), &k, NULL),
	    OV_OK);
	/* A second create reuses the same hash key. */
	free(create(u->v, "store-2", "reader", "*", NULL));
	assert_int_equal(unit_db_int(u->db, "SELECT count(*) FROM vault_meta "
	    "WHERE key = 'apikey_hash_key'"), 1);
	assert_int_equal(vault_apikey_verify(u->v, key, strlen(key), &k, NULL),
	    OV_OK);
	free(key);
}

struct kinds {
	int	n;
	char	kind[8][OV_EVENT_KIND_MAX + 1];
	char	detail[8][OV_EVENT_DETAIL_MAX + 1];
};

static int
event_cb(const struct vault_event *e, void *arg)
{
	struct kinds *k = arg;

	if (k->n < 8 && strncmp(e->kind, "apikey.", 7) == 0) {
		snprintf(k->kind[k->n], sizeof(k->kind[0]), "%s", e->kind);
		snprintf(k->detail[k->n], sizeof(k->detail[0]), "%s",
		    e->detail);
		k->n++;
	}
	return 0;
}

static void
fail_cb(const struct vault_check_failure *f, void *arg)
{
	int *n = arg;

	(void)f;
	(*n)++;
}

static void
test_events_and_check(void **state)
{
	struct unit_vault *u = *state;
	struct vault_event_filter all = { 0 };
	struct vault_apikey k;
	struct kinds ev = { 0 };
	char *key = create(u->v, "audited", "admin", "acme", &k);
	json_t *d;
	int64_t checked, failures;
	int n = 0;

	assert_int_equal(vault_apikey_revoke(u->v, "audited"), OV_OK);
	assert_int_equal(vault_event_list(u->v, &all, event_cb, &ev), OV_OK);
	assert_int_equal(ev.n, 2);
	assert_string_equal(ev.kind[0], "apikey.revoked");	/* newest */
	assert_string_equal(ev.kind[1], "apikey.created");
	for (int i = 0; i < 2; i++) {
		assert_null(strstr(ev.detail[i], key + SECRET_AT));
		d = json_loads(ev.detail[i], 0, NULL);
		assert_non_null(d);
		assert_string_equal(json_string_value(json_object_get(d,
		    "name")), "audited");
		assert_string_equal(json_string_value(json_object_get(d,
		    "role")), "admin");
		assert_string_equal(json_string_value(json_object_get(d,
		    "orgs")), "acme");
		assert_string_equal(json_string_value(json_object_get(d,
		    "key_id")), k.key_id);
		assert_string_equal(json_string_value(json_object_get(d,
		    "credentials")), "*");
		assert_true(json_is_null(json_object_get(d, "expires_at")));
		assert_non_null(json_string_value(json_object_get(d,
		    "org_ids")));
		assert_int_equal(json_object_size(d), 7);
		json_decref(d);
	}
	/* A failed create writes no event. */
	assert_int_equal(create_rc(u->v, "x", "nope", "*", NULL, 0,
	    &(struct secret *){ NULL }, &k), OV_EINVAL);

	/* check opens the hash key; a tampered one is reported, and no key
	 * verifies (an integrity error, not "invalid API key"). */
	free(create(u->v, "live", "reader", "*", NULL));
	assert_int_equal(vault_check(u->v, fail_cb, &n, &checked, &failures),
	    OV_OK);
	assert_int_equal(failures, 0);
	vault_close(u->v);
	u->v = NULL;
	assert_int_equal(unit_db_exec(u->db, "UPDATE vault_meta SET value = "
	    "substr(value, 1, 80) || (CASE substr(value, 81, 1) WHEN '0' "
	    "THEN '1' ELSE '0' END) || substr(value, 82) WHERE key = "
	    "'apikey_hash_key'"), SQLITE_OK);
	assert_int_equal(vault_open(&u->opts, 0, &u->v), OV_OK);
	assert_int_equal(vault_check(u->v, fail_cb, &n, &checked, &failures),
	    OV_OK);
	assert_int_equal(failures, 1);
	assert_int_equal(vault_apikey_verify(u->v, key, strlen(key), &k, NULL),
	    OV_EINTEGRITY);
	free(key);
}

/* Keys hold org ids: a removed org's slug, taken again, is not covered;
 * a key whose every org is gone is revoked with the last of them. */
static void
test_orgs_by_id(void **state)
{
	struct unit_vault *u = *state;
	struct vault_event_filter all = { 0 };
	struct vault_apikey two, one, k;
	struct kinds ev = { 0 };
	char *ktwo = create(u->v, "two", "reader", "beta,acme", &two);
	char *kone = create(u->v, "one", "reader", "beta", &one);
	char want[64];
	json_t *d;

	assert_string_equal(two.orgs, "acme,beta");
	snprintf(want, sizeof(want), "%lld,%lld", (long long)unit_db_int(u->db,
	    "SELECT id FROM orgs WHERE slug = 'acme'"), (long long)unit_db_int(
	    u->db, "SELECT id FROM orgs WHERE slug = 'beta'"));
	assert_string_equal(two.org_ids, want);
	assert_int_equal(unit_db_int(u->db, "SELECT count(*) FROM api_keys "
	    "WHERE name = 'two' AND org_ids = (SELECT group_concat(id) FROM "
	    "(SELECT id FROM orgs WHERE slug IN ('acme', 'beta') ORDER BY "
	    "id))"), 1);

	assert_int_equal(vault_org_rm(u->v, "beta", 0), OV_OK);
	/* "one" had beta only: revoked, with the reason. */
	assert_int_equal(vault_apikey_get(u->v, "one", &k), OV_OK);
	assert_true(k.revoked_at > 0);
	assert_string_equal(k.orgs, "");
	refused(u->v, kone, strlen(kone));
	assert_int_equal(vault_event_list(u->v, &all, event_cb, &ev), OV_OK);
	assert_string_equal(ev.kind[0], "apikey.revoked");
	d = json_loads(ev.detail[0], 0, NULL);
	assert_non_null(d);
	assert_string_equal(json_string_value(json_object_get(d, "name")),
	    "one");
	assert_non_null(strstr(json_string_value(json_object_get(d,
	    "reason")), "removed"));
	json_decref(d);
	/* "two" keeps acme, and a new beta is not its beta. */
	orgs_make(u->v, "beta");
	assert_int_equal(vault_apikey_verify(u->v, ktwo, strlen(ktwo), &k,
	    NULL), OV_OK);
	assert_true(k.revoked_at == 0);
	assert_string_equal(k.orgs, "acme");
	assert_false(vault_apikey_allows(&k, "beta"));
	assert_true(vault_apikey_allows(&k, "acme"));
	/* A key for "*" outlives any org. */
	free(create(u->v, "all", "reader", "*", NULL));
	assert_int_equal(vault_org_rm(u->v, "acme", 0), OV_OK);
	assert_int_equal(vault_apikey_get(u->v, "all", &k), OV_OK);
	assert_int_equal(k.revoked_at, 0);
	assert_int_equal(vault_apikey_get(u->v, "two", &k), OV_OK);
	assert_true(k.revoked_at > 0);	/* its last org went */
	free(ktwo);
	free(kone);
}

static int
count_cb(const struct vault_apikey *k, void *arg)
{
	(void)k;
	(*(int *)arg)++;
	return 0;
}

/* Credentials and expiry are kept, told apart by verify, and covered by
 * the row MAC like role and orgs. */
static void
test_scope_expiry_mac(void **state)
{
	struct unit_vault *u = *state;
	static const char *const edits[] = {
		"UPDATE api_keys SET credentials = '*' WHERE name = 'narrow'",
		"UPDATE api_keys SET expires_at = NULL WHERE name = 'narrow'",
		"UPDATE api_keys SET org_ids = '*' WHERE name = 'narrow'",
		"UPDATE api_keys SET org_ids = '1,x' WHERE name = 'narrow'",
		"UPDATE api_keys SET org_ids = '1,' WHERE name = 'narrow'",
	};
	enum vault_apikey_why why;
	struct vault_apikey k;
	char *key = create_full(u->v, "narrow", "token", "acme", "main,cc",
	    3600, &k), *soon;
	int64_t checked, failures;
	int n = 0;

	assert_string_equal(k.credentials, "main,cc");
	assert_true(k.expires_at >= k.created_at + 3600 &&
	    k.expires_at <= k.created_at + 3601);
	assert_int_equal(vault_apikey_verify(u->v, key, strlen(key), &k, &why),
	    OV_OK);
	assert_string_equal(k.credentials, "main,cc");
	assert_false(vault_apikey_expired(&k, timefmt_now()));
	{	/* its id, another secret */
		char wrong[VAULT_APIKEY_LEN + 1];

		memcpy(wrong, key, sizeof(wrong));
		wrong[SECRET_AT] = wrong[SECRET_AT] == 'A' ? 'B' : 'A';
		assert_int_equal(vault_apikey_verify(u->v, wrong,
		    VAULT_APIKEY_LEN, &k, &why), OV_ENOTFOUND);
		assert_int_equal(why, VAULT_APIKEY_WRONG);
	}
	/* Each edit in the database: refused as if the row did not exist,
	 * named by check; put back, it verifies again. */
	for (size_t i = 0; i < sizeof(edits) / sizeof(edits[0]); i++) {
		vault_close(u->v);
		u->v = NULL;
		assert_int_equal(unit_db_exec(u->db, "CREATE TABLE IF NOT "
		    "EXISTS saved AS SELECT * FROM api_keys"), SQLITE_OK);
		assert_int_equal(unit_db_exec(u->db, edits[i]), SQLITE_OK);
		assert_int_equal(vault_open(&u->opts, 0, &u->v), OV_OK);
		why = 0;
		assert_int_equal(vault_apikey_verify(u->v, key, strlen(key),
		    &k, &why), OV_ENOTFOUND);
		assert_int_equal(why, VAULT_APIKEY_NO_ID);
		n = 0;
		assert_int_equal(vault_check(u->v, fail_cb, &n, &checked,
		    &failures), OV_OK);
		assert_int_equal(failures, 1);
		/* Lists and org removal still work around the edited row. */
		assert_int_equal(vault_apikey_list(u->v, count_cb, &n), OV_OK);
		orgs_make(u->v, "spare");
		assert_int_equal(vault_org_rm(u->v, "spare", 0), OV_OK);
		vault_close(u->v);
		u->v = NULL;
		assert_int_equal(unit_db_exec(u->db, "DELETE FROM api_keys; "
		    "INSERT INTO api_keys SELECT * FROM saved; DROP TABLE "
		    "saved"), SQLITE_OK);
		assert_int_equal(vault_open(&u->opts, 0, &u->v), OV_OK);
		assert_int_equal(vault_apikey_verify(u->v, key, strlen(key),
		    &k, NULL), OV_OK);
	}
	/* Revoking an edited row does not make its MAC whole again. */
	vault_close(u->v);
	u->v = NULL;
	assert_int_equal(unit_db_exec(u->db, "UPDATE api_keys SET role = "
	    "'admin' WHERE name = 'narrow'"), SQLITE_OK);
	assert_int_equal(vault_open(&u->opts, 0, &u->v), OV_OK);
	assert_int_equal(vault_apikey_revoke(u->v, "narrow"), OV_OK);
	n = 0;
	assert_int_equal(vault_check(u->v, fail_cb, &n, &checked, &failures),
	    OV_OK);
	assert_int_equal(failures, 1);
	/* An unknown id, then expiry: the one message says so, and *out is
	 * the key (for the throttle's key id). */
	why = 0;
	refused(u->v, "ov_0123456789abcdef_AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA",
	    VAULT_APIKEY_LEN);
	assert_int_equal(vault_apikey_verify(u->v, "ov_0123456789abcdef_"
	    "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA", VAULT_APIKEY_LEN,
	    &k, &why), OV_ENOTFOUND);
	assert_int_equal(why, VAULT_APIKEY_NO_ID);
	soon = create_full(u->v, "soon", "reader", "*", NULL, 1, &k);
	while (timefmt_now() < k.expires_at)
		usleep(50 * 1000);
	memset(&k, 0, sizeof(k));
	assert_int_equal(vault_apikey_verify(u->v, soon, strlen(soon), &k,
	    &why), OV_ENOTFOUND);
	assert_int_equal(why, VAULT_APIKEY_EXPIRED);
	assert_string_equal(k.name, "soon");
	assert_non_null(strstr(ov_errmsg(), "expired"));
	assert_int_equal(vault_apikey_get(u->v, "soon", &k), OV_OK);
	assert_true(vault_apikey_expired(&k, timefmt_now()));
	free(key);
	free(soon);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_create_verify,
		    apikey_setup, unit_vault_teardown),
		cmocka_unit_test_setup_teardown(test_verify_refusals,
		    apikey_setup, unit_vault_teardown),
		cmocka_unit_test_setup_teardown(test_revoke_and_reuse,
		    apikey_setup, unit_vault_teardown),
		cmocka_unit_test_setup_teardown(test_validation,
		    apikey_setup, unit_vault_teardown),
		cmocka_unit_test(test_allows),
		cmocka_unit_test_setup_teardown(test_storage,
		    apikey_setup, unit_vault_teardown),
		cmocka_unit_test_setup_teardown(test_events_and_check,
		    apikey_setup, unit_vault_teardown),
		cmocka_unit_test_setup_teardown(test_orgs_by_id,
		    apikey_setup, unit_vault_teardown),
		cmocka_unit_test_setup_teardown(test_scope_expiry_mac,
		    apikey_setup, unit_vault_teardown),
	};

	unit_init();
	return cmocka_run_group_tests(tests, NULL, NULL);
}

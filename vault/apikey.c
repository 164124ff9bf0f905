/*
 * apikey.c — API keys of the admin API: made here, shown once, kept
 * only as a keyed hash.
 *
 *   key          "ov_" key_id "_" secret             (VAULT_APIKEY_LEN)
 *   key_id       16 lowercase hex: 8 random bytes; the row's lookup id
 *   secret       43 base64url characters, no padding: 32 random bytes
 *   secret_hash  BLAKE2b-256(key = hash key, key_id || 0x00 || secret)
 *
 * A key names its orgs by id (org_ids, "*" or ascending ids "3,7"); the
 * slugs they name now are looked up on every read (orgs).  It may be
 * limited to credentials of those orgs by name (credentials) and expire
 * (expires_at).  The row MAC (bind.c) covers all three.
 *
 * key_id has a fixed length, so a secret holding '_' or '-' still parses
 * one way.  The hash key is 32 random bytes made by the first create,
 * sealed by the keyring (binding HASH_KEY_BINDING) and kept as hex in
 * vault_meta "apikey_hash_key".  It is not derived from the master key,
 * so API keys outlive a master-key change; a data-key rotation must
 * re-seal it like any other envelope (`check` opens it).  It is opened
 * for one call and wiped at the end of it.
 *
 * Never stored, logged, put in an event or an error message: the key or
 * its secret part.  The creator receives the key once, as a struct secret.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <sodium.h>

#include "util/timefmt.h"
#include "util/validate.h"
#include "vault/render.h"
#include "vault/vault_int.h"

#define HASH_KEY_META		"apikey_hash_key"
#define HASH_KEY_BINDING	"vault_meta|value|" HASH_KEY_META
#define HASH_KEY_LEN		32
#define APIKEY_PREFIX		"ov_"
#define APIKEY_SECRET_BYTES	32
#define APIKEY_SECRET_LEN	43	/* base64url, no padding, of 32 bytes */
#define APIKEY_SECRET_AT	(3 + VAULT_APIKEY_ID_LEN + 1)
/* last_used_at is written at most this often per key (seconds). */
#define LAST_USED_GRAIN_S	60

#define APIKEY_COLS "id, key_id, name, role, org_ids, credentials, " \
	"created_at, coalesce(last_used_at, 0), coalesce(revoked_at, 0), " \
	"coalesce(expires_at, 0)"
#define APIKEY_HCOL	10	/* secret_hash, then row_mac, after them */

/* "" or "3,7": decimal ids, one ',' between them. */
static int
ids_wellformed(const char *s)
{
	int digit = 0;

	if (*s == '\0')
		return 1;
	for (;; s++) {
		if (*s >= '0' && *s <= '9')
			digit = 1;
		else if (*s == ',' && digit)
			digit = 0;
		else
			return *s == '\0' && digit;
	}
}

/* k->orgs: the slugs k->org_ids name now, in order ("" when none). */
static enum ov_rc
orgs_resolve(struct vault *v, struct vault_apikey *k)
{
	char ids[OV_APIKEY_ORGS_MAX + 3];
	struct db_stmt *st;
	size_t len = 0;
	enum ov_rc rc;
	int src;

	k->orgs[0] = '\0';
	if (strcmp(k->org_ids, "*") == 0) {
		snprintf(k->orgs, sizeof(k->orgs), "*");
		return OV_OK;
	}
	/* Edited into something else (its MAC fails): it names no org. */
	if (!ids_wellformed(k->org_ids))
		return OV_OK;
	snprintf(ids, sizeof(ids), "[%s]", k->org_ids);
	if ((rc = db_prepare(v, "SELECT slug FROM orgs WHERE id IN (SELECT "
	    "CAST(value AS INTEGER) FROM json_each(?)) ORDER BY slug",
	    &st)) != OV_OK)
		return rc;
	db_bind_text(st, 1, ids, -1);
	while ((src = db_step(st)) == DB_ROW) {
		const char *slug = db_col_text(st, 0);
		int n = snprintf(k->orgs + len, sizeof(k->orgs) - len, "%s%s",
		    len ? "," : "", slug ? slug : "");

		if (n < 0 || (size_t)n >= sizeof(k->orgs) - len) {
			rc = ov_seterr(OV_EINTEGRITY, "API key %s names more "
			    "orgs than fit in %d bytes", k->name,
			    OV_APIKEY_ORGS_MAX);
			break;
		}
		len += (size_t)n;
	}
	if (rc == OV_OK && src != DB_DONE)
		rc = db_err(v, src, "reading the orgs of an API key");
	db_finish(v, st);
	return rc;
}

static enum ov_rc
apikey_row(struct vault *v, struct db_stmt *st, struct vault_apikey *k)
{
	enum ov_rc rc;

	memset(k, 0, sizeof(*k));
	k->id = db_col_int64(st, 0);
	if ((rc = db_text(st, 1, k->key_id, sizeof(k->key_id))) ||
	    (rc = db_text(st, 2, k->name, sizeof(k->name))) ||
	    (rc = db_text(st, 3, k->role, sizeof(k->role))) ||
	    (rc = db_text(st, 4, k->org_ids, sizeof(k->org_ids))) ||
	    (rc = db_text(st, 5, k->credentials, sizeof(k->credentials))))
		return rc;
	k->created_at = db_col_int64(st, 6);
	k->last_used_at = db_col_int64(st, 7);
	k->revoked_at = db_col_int64(st, 8);
	k->expires_at = db_col_int64(st, 9);
	return orgs_resolve(v, k);
}

/* The row MAC of api_keys row st points at (APIKEY_COLS, then
 * secret_hash and row_mac at hcol, hcol + 1); *ok: the stored one
 * matches.  k receives the row. */
static enum ov_rc
apikey_row_mac(struct vault *v, struct db_stmt *st, int hcol,
    struct vault_apikey *k, unsigned char mac[32], int *ok)
{
	enum ov_rc rc;

	*ok = 0;
	if ((rc = apikey_row(v, st, k)) != OV_OK ||
	    (rc = apikey_mac(v, k, db_col_blob(st, hcol),
	    (size_t)db_col_bytes(st, hcol), mac)) != OV_OK)
		return rc;
	*ok = row_mac_ok(mac, db_col_blob(st, hcol + 1),
	    db_col_bytes(st, hcol + 1));
	return OV_OK;
}

/* Row id into k, with the MAC it should have (mac) and whether the
 * stored one matches (*ok). */
static enum ov_rc
apikey_by_id(struct vault *v, int64_t id, struct vault_apikey *k,
    unsigned char mac[32], int *ok)
{
	struct db_stmt *st;
	enum ov_rc rc;
	int src;

	if ((rc = db_prepare(v, "SELECT " APIKEY_COLS ", secret_hash, row_mac "
	    "FROM api_keys WHERE id = ?", &st)) != OV_OK)
		return rc;
	db_bind_int64(st, 1, id);
	if ((src = db_step(st)) == DB_ROW)
		rc = apikey_row_mac(v, st, APIKEY_HCOL, k, mac, ok);
	else
		rc = db_err(v, src, "reading an API key");
	db_finish(v, st);
	return rc;
}

/* Writes the row MAC of api_keys row id (after a create or revoke). */
enum ov_rc
apikey_mac_write(struct vault *v, int64_t id)
{
	struct vault_apikey k;
	unsigned char mac[32];
	enum ov_rc rc;
	int ok;

	if ((rc = apikey_by_id(v, id, &k, mac, &ok)) != OV_OK)
		return rc;
	return row_mac_put(v, APIKEY_MAC_UPDATE, id, mac, "writing an API "
	    "key's MAC");
}

/* ---- validation ---------------------------------------------------- */

static enum ov_rc
role_check(const char *role)
{
	static const char *const roles[] = { "reader", "operator", "admin",
	    "token" };

	for (size_t i = 0; i < sizeof(roles) / sizeof(roles[0]); i++)
		if (strcmp(role, roles[i]) == 0)
			return OV_OK;
	return ov_seterr(OV_EINVAL, "role must be reader, operator, admin or "
	    "token");
}

/* "*", or slugs (org slugs, credential names) separated by ',' without
 * empties or duplicates; what names the list in errors ("orgs"). */
static enum ov_rc
list_check(const char *what, const char *list)
{
	char slug[OV_SLUG_MAX + 2], each[48];
	const char *p, *q;
	size_t n, len = strlen(list);
	enum ov_rc rc;

	if (len > OV_APIKEY_ORGS_MAX)
		return ov_seterr(OV_ELIMIT, "%s is longer than %d bytes", what,
		    OV_APIKEY_ORGS_MAX);
	if (strcmp(list, "*") == 0)
		return OV_OK;
	snprintf(each, sizeof(each), "each entry of %s", what);
	for (p = list;; p += n + 1) {
		n = strcspn(p, ",");
		if (n == 0)
			return ov_seterr(OV_EINVAL, "%s has an empty entry: "
			    "give \"*\" or names separated by ','", what);
		if (n == 1 && *p == '*')
			return ov_seterr(OV_EINVAL, "%s is either \"*\" alone "
			    "or a list of names", what);
		snprintf(slug, sizeof(slug), "%.*s",
		    (int)(n < sizeof(slug) - 1 ? n : sizeof(slug) - 1), p);
		if ((rc = validate_slug(each, slug)) != OV_OK)
			return rc;
		for (q = list; q < p; q += strcspn(q, ",") + 1)
			if (strcspn(q, ",") == n && strncmp(q, p, n) == 0)
				return ov_seterr(OV_EINVAL, "%s names %s twice",
				    what, slug);
		if (p[n] == '\0')
			return OV_OK;
	}
}

static int
cmp_id(const void *a, const void *b)
{
	int64_t x = *(const int64_t *)a, y = *(const int64_t *)b;

	return (x > y) - (x < y);
}

/*
 * The ids of the orgs slugs names (checked by list_check), ascending, as
 * "3,7" in out; "*" stays "*".  A slug that names no org is refused (a
 * key covers orgs that exist, not a slug a later org may take), or with
 * skip_unknown left out (migration 0005).
 */
enum ov_rc
apikey_org_ids(struct vault *v, const char *slugs, int skip_unknown,
    char *out, size_t outlen)
{
	int64_t ids[OV_APIKEY_ORGS_MAX / 2 + 1];
	char slug[OV_SLUG_MAX + 1];
	size_t nids = 0, n, len = 0;
	struct db_stmt *st;
	enum ov_rc rc = OV_OK;
	int src;

	if (strcmp(slugs, "*") == 0) {
		snprintf(out, outlen, "*");
		return OV_OK;
	}
	if ((rc = db_prepare(v, "SELECT id FROM orgs WHERE slug = ?", &st)))
		return rc;
	for (const char *p = slugs; rc == OV_OK; p += n + 1) {
		n = strcspn(p, ",");
		snprintf(slug, sizeof(slug), "%.*s", (int)n, p);
		db_reset(st);
		db_bind_text(st, 1, slug, -1);
		if ((src = db_step(st)) == DB_ROW)
			ids[nids++] = db_col_int64(st, 0);
		else if (src == DB_DONE && !skip_unknown)
			rc = ov_seterr(OV_EINVAL, "orgs names %s, which is no "
			    "org: a key covers orgs that exist (add it first: "
			    "orgvault org add %s)", slug, slug);
		else if (src != DB_DONE)
			rc = db_err(v, src, "reading orgs");
		if (p[n] == '\0')
			break;
	}
	db_finish(v, st);
	if (rc != OV_OK)
		return rc;
	qsort(ids, nids, sizeof(ids[0]), cmp_id);
	out[0] = '\0';
	for (size_t i = 0; i < nids; i++) {
		int w = snprintf(out + len, outlen - len, "%s%lld",
		    i ? "," : "", (long long)ids[i]);

		if (w < 0 || (size_t)w >= outlen - len)
			return ov_seterr(OV_ELIMIT, "orgs names more orgs than "
			    "a key can hold (their ids take over %zu bytes); "
			    "give fewer, or '*'", outlen - 1);
		len += (size_t)w;
	}
	return OV_OK;
}

/* Whether item is in list ("*" or "a,b"). */
static int
list_has(const char *list, const char *item)
{
	size_t want = strlen(item), n;

	if (strcmp(list, "*") == 0)
		return 1;
	if (want == 0 || list[0] == '\0')
		return 0;
	for (const char *p = list;; p += n + 1) {
		n = strcspn(p, ",");
		if (n == want && strncmp(p, item, n) == 0)
			return 1;
		if (p[n] == '\0')
			return 0;
	}
}

int
vault_apikey_allows(const struct vault_apikey *k, const char *slug)
{
	return list_has(k->orgs, slug);
}

int
vault_apikey_allows_cred(const struct vault_apikey *k, const char *slug,
    const char *cred)
{
	return list_has(k->orgs, slug) && list_has(k->credentials, cred);
}

int
vault_apikey_allows_org_id(const struct vault_apikey *k, int64_t org_id)
{
	char id[24];

	if (strcmp(k->org_ids, "*") == 0)
		return 1;
	snprintf(id, sizeof(id), "%lld", (long long)org_id);
	return org_id > 0 && list_has(k->org_ids, id);
}

int
vault_apikey_expired(const struct vault_apikey *k, int64_t now)
{
	return k->expires_at != 0 && now >= k->expires_at;
}

/* ---- the hash key -------------------------------------------------- */

/* The sealed hash key from vault_meta (malloc'd); *env NULL if none. */
static enum ov_rc
hash_key_read(struct vault *v, unsigned char **env, size_t *envlen)
{
	struct db_stmt *st;
	const char *hex;
	size_t hexlen;
	enum ov_rc rc;
	int src;

	*env = NULL;
	if ((rc = db_prepare(v, "SELECT value FROM vault_meta WHERE key = ?",
	    &st)) != OV_OK)
		return rc;
	db_bind_text(st, 1, HASH_KEY_META, -1);
	if ((src = db_step(st)) == DB_ROW) {
		hex = db_col_text(st, 0);
		hexlen = (size_t)db_col_bytes(st, 0);
		if (hex == NULL || hexlen < 2 || hexlen > 1024 ||
		    (*env = malloc(hexlen / 2)) == NULL ||
		    sodium_hex2bin(*env, hexlen / 2, hex, hexlen, NULL,
		    envlen, NULL) != 0)
			rc = ov_seterr(OV_EINTEGRITY, "vault setting %s is "
			    "malformed; run: orgvault check", HASH_KEY_META);
	} else if (src != DB_DONE)
		rc = db_err(v, src, "reading the API key hash key");
	db_finish(v, st);
	if (rc != OV_OK) {
		free(*env);
		*env = NULL;
	}
	return rc;
}

/* Makes a random hash key and stores it sealed (caller's transaction). */
static enum ov_rc
hash_key_make(struct vault *v, struct secret **out)
{
	struct secret *key;
	unsigned char *env = NULL;
	char *hex = NULL;
	size_t envlen;
	uint32_t kv;
	enum ov_rc rc;

	if ((rc = secret_new(HASH_KEY_LEN, &key)) != OV_OK)
		return rc;
	randombytes_buf(key->buf, HASH_KEY_LEN);
	if ((rc = vault_env_seal(v, HASH_KEY_BINDING, key->buf,
	    HASH_KEY_LEN, &env, &envlen, &kv)) != OV_OK)
		goto out;
	if ((hex = malloc(envlen * 2 + 1)) == NULL) {
		rc = ov_seterr(OV_ENOMEM, "out of memory");
		goto out;
	}
	sodium_bin2hex(hex, envlen * 2 + 1, env, envlen);
	rc = meta_set(v, HASH_KEY_META, hex);
out:
	free(env);
	free(hex);
	if (rc == OV_OK)
		*out = key;
	else
		secret_free(key);
	return rc;
}

/*
 * Opens the hash key into *out (the caller frees it).  When there is
 * none yet: makes one if `create`, else OV_ENOTFOUND without a message.
 */
static enum ov_rc
hash_key_open(struct vault *v, int create, struct secret **out)
{
	struct secret *key = NULL;
	unsigned char *env;
	size_t envlen = 0;
	enum ov_rc rc;

	if ((rc = hash_key_read(v, &env, &envlen)) != OV_OK)
		return rc;
	if (env == NULL)
		return create ? hash_key_make(v, out) : OV_ENOTFOUND;
	rc = vault_env_open(v, HASH_KEY_BINDING, env, envlen, &key);
	free(env);
	if (rc != OV_OK || key->len != HASH_KEY_LEN) {
		secret_free(key);
		return ov_seterr(rc ? rc : OV_EINTEGRITY, "the API key hash "
		    "key (vault setting %s) does not open: tampered; run: "
		    "orgvault check", HASH_KEY_META);
	}
	*out = key;
	return OV_OK;
}

/* secret_hash of key_id (VAULT_APIKEY_ID_LEN) and secret (secretlen). */
static void
key_hash(const unsigned char *hash_key, const char *key_id,
    const char *secret, size_t secretlen, unsigned char out[32])
{
	crypto_generichash_state h;
	const unsigned char sep = 0;

	crypto_generichash_init(&h, hash_key, HASH_KEY_LEN, 32);
	crypto_generichash_update(&h, (const unsigned char *)key_id,
	    VAULT_APIKEY_ID_LEN);
	crypto_generichash_update(&h, &sep, 1);
	crypto_generichash_update(&h, (const unsigned char *)secret,
	    secretlen);
	crypto_generichash_final(&h, out, 32);
	sodium_memzero(&h, sizeof(h));
}

/* ---- create, list, get, revoke ------------------------------------- */

/* A new key "ov_<key_id>_<secret>" in secure memory. */
static enum ov_rc
key_make(struct secret **out)
{
	unsigned char id[VAULT_APIKEY_ID_LEN / 2], sec[APIKEY_SECRET_BYTES];
	struct secret *key;
	char *p;
	enum ov_rc rc;

	if ((rc = secret_new(VAULT_APIKEY_LEN, &key)) != OV_OK)
		return rc;
	p = (char *)key->buf;
	randombytes_buf(id, sizeof(id));
	randombytes_buf(sec, sizeof(sec));
	memcpy(p, APIKEY_PREFIX, 3);
	sodium_bin2hex(p + 3, VAULT_APIKEY_ID_LEN + 1, id, sizeof(id));
	p[3 + VAULT_APIKEY_ID_LEN] = '_';
	sodium_bin2base64(p + APIKEY_SECRET_AT, APIKEY_SECRET_LEN + 1, sec,
	    sizeof(sec), sodium_base64_VARIANT_URLSAFE_NO_PADDING);
	sodium_memzero(sec, sizeof(sec));
	*out = key;
	return OV_OK;
}

/* A revoked key of that name makes way; a live one is a conflict. */
static enum ov_rc
name_free(struct vault *v, const char *name)
{
	struct db_stmt *st;
	enum ov_rc rc;
	int src, live = 0, found = 0;

	if ((rc = db_prepare(v, "SELECT revoked_at IS NULL FROM api_keys "
	    "WHERE name = ?", &st)) != OV_OK)
		return rc;
	db_bind_text(st, 1, name, -1);
	if ((src = db_step(st)) == DB_ROW) {
		found = 1;
		live = db_col_int(st, 0);
	} else if (src != DB_DONE)
		rc = db_err(v, src, "reading API keys");
	db_finish(v, st);
	if (rc != OV_OK || !found)
		return rc;
	if (live)
		return ov_seterr(OV_ECONFLICT, "an API key named %s exists; "
		    "revoke it first", name);
	if ((rc = db_prepare(v, "DELETE FROM api_keys WHERE name = ?",
	    &st)) != OV_OK)
		return rc;
	db_bind_text(st, 1, name, -1);
	src = db_step(st);
	db_finish(v, st);
	return src == DB_DONE ? OV_OK :
	    db_err(v, src, "replacing a revoked API key");
}

/* An apikey.* event naming k (reason: why, for a revocation orgvault
 * made itself; NULL otherwise). */
static enum ov_rc
apikey_event(struct vault *v, const char *kind, const struct vault_apikey *k,
    const char *reason)
{
	struct event_rec ev = { .kind = kind };
	json_t *detail;
	enum ov_rc rc;

	if ((detail = json_pack("{s:s, s:s, s:s, s:s, s:s, s:o, s:s, s:s*}",
	    "name", k->name, "role", k->role, "orgs", k->orgs, "org_ids",
	    k->org_ids, "credentials", k->credentials, "expires_at",
	    render_time_or_null(k->expires_at), "key_id", k->key_id,
	    "reason", reason)) == NULL)
		return ov_seterr(OV_ENOMEM, "out of memory");
	ev.detail = detail;
	rc = event_append(v, &ev);
	json_decref(detail);
	return rc;
}

static enum ov_rc
apikey_insert(struct vault *v, const struct secret *key,
    const unsigned char hash[32], struct vault_apikey *k)
{
	struct db_stmt *st;
	enum ov_rc rc;
	int src;

	memcpy(k->key_id, key->buf + 3, VAULT_APIKEY_ID_LEN);
	k->key_id[VAULT_APIKEY_ID_LEN] = '\0';
	if ((rc = db_prepare(v, "INSERT INTO api_keys (key_id, name, role, "
	    "org_ids, credentials, secret_hash, created_at, expires_at) "
	    "VALUES (?, ?, ?, ?, ?, ?, ?, nullif(?, 0)) RETURNING id", &st)))
		return rc;
	db_bind_text(st, 1, k->key_id, -1);
	db_bind_text(st, 2, k->name, -1);
	db_bind_text(st, 3, k->role, -1);
	db_bind_text(st, 4, k->org_ids, -1);
	db_bind_text(st, 5, k->credentials, -1);
	db_bind_blob(st, 6, hash, 32);
	db_bind_int64(st, 7, k->created_at);
	db_bind_int64(st, 8, k->expires_at);
	if ((src = db_step(st)) == DB_ROW)
		k->id = db_col_int64(st, 0);
	else
		rc = db_err(v, src, "adding an API key");
	db_finish(v, st);
	return rc;
}

/* k from spec, checked; org ids and slugs looked up (caller's
 * transaction). */
static enum ov_rc
apikey_spec_read(struct vault *v, const struct vault_apikey_spec *spec,
    struct vault_apikey *k)
{
	const char *orgs = spec->orgs ? spec->orgs : "*";
	const char *creds = spec->credentials ? spec->credentials : "*";
	enum ov_rc rc;

	if ((rc = validate_slug("API key name", spec->name ? spec->name :
	    "")) || (rc = role_check(spec->role ? spec->role : "")) ||
	    (rc = list_check("orgs", orgs)) ||
	    (rc = list_check("credentials", creds)))
		return rc;
	if (strcmp(creds, "*") != 0 && strcmp(spec->role, "admin") == 0)
		return ov_seterr(OV_EINVAL, "an admin key cannot be limited "
		    "to credentials (it manages orgs); limit it with --orgs, "
		    "or give the role operator, reader or token");
	if (spec->expires_in_s < 0 || spec->expires_in_s > OV_APIKEY_TTL_MAX)
		return ov_seterr(OV_EINVAL, "expires-in must be between 1 s "
		    "and %d days", OV_APIKEY_TTL_MAX / 86400);
	memset(k, 0, sizeof(*k));
	snprintf(k->name, sizeof(k->name), "%s", spec->name);
	snprintf(k->role, sizeof(k->role), "%s", spec->role);
	snprintf(k->credentials, sizeof(k->credentials), "%s", creds);
	k->created_at = timefmt_now();
	if (spec->expires_in_s)
		k->expires_at = k->created_at + spec->expires_in_s;
	if ((rc = apikey_org_ids(v, orgs, 0, k->org_ids,
	    sizeof(k->org_ids))))
		return rc;
	return orgs_resolve(v, k);
}

enum ov_rc
vault_apikey_create(struct vault *v, const struct vault_apikey_spec *spec,
    struct secret **key, struct vault_apikey *out)
{
	struct vault_apikey k;
	struct secret *hk = NULL, *made = NULL;
	unsigned char hash[32];
	enum ov_rc rc;

	if ((rc = vault_need_key(v)) != OV_OK)
		return rc;
	if ((rc = tx_begin(v)) != OV_OK)
		return rc;
	if ((rc = apikey_spec_read(v, spec, &k)) ||
	    (rc = name_free(v, k.name)) ||
	    (rc = hash_key_open(v, 1, &hk)) ||
	    (rc = key_make(&made)))
		goto out;
	key_hash(hk->buf, (const char *)made->buf + 3,
	    (const char *)made->buf + APIKEY_SECRET_AT, APIKEY_SECRET_LEN,
	    hash);
	if ((rc = apikey_insert(v, made, hash, &k)) == OV_OK &&
	    (rc = apikey_mac_write(v, k.id)) == OV_OK)
		rc = apikey_event(v, "apikey.created", &k, NULL);
out:
	secret_free(hk);
	sodium_memzero(hash, sizeof(hash));
	if ((rc = tx_end(v, rc)) != OV_OK) {
		secret_free(made);
		return rc;
	}
	*key = made;
	*out = k;
	return OV_OK;
}

enum ov_rc
vault_apikey_list(struct vault *v, vault_apikey_cb cb, void *arg)
{
	struct db_stmt *st;
	struct vault_apikey k;
	enum ov_rc rc;
	int src;

	if ((rc = db_prepare(v, "SELECT " APIKEY_COLS " FROM api_keys "
	    "ORDER BY name", &st)) != OV_OK)
		return rc;
	while ((src = db_step(st)) == DB_ROW) {
		if ((rc = apikey_row(v, st, &k)) != OV_OK || cb(&k, arg))
			break;
	}
	if (rc == OV_OK && src != DB_DONE && src != DB_ROW)
		rc = db_err(v, src, "listing API keys");
	db_finish(v, st);
	return rc;
}

enum ov_rc
vault_apikey_get(struct vault *v, const char *name, struct vault_apikey *out)
{
	struct db_stmt *st;
	struct vault_apikey k;
	enum ov_rc rc;
	int src;

	if ((rc = db_prepare(v, "SELECT " APIKEY_COLS " FROM api_keys "
	    "WHERE name = ?", &st)) != OV_OK)
		return rc;
	db_bind_text(st, 1, name, -1);
	if ((src = db_step(st)) == DB_ROW) {
		if ((rc = apikey_row(v, st, &k)) == OV_OK)
			*out = k;
	} else if (src == DB_DONE)
		rc = ov_seterr(OV_ENOTFOUND, "no API key named %s; list them "
		    "with: orgvault apikey list", name);
	else
		rc = db_err(v, src, "reading an API key");
	db_finish(v, st);
	return rc;
}

/* Revokes live key row id (if live), with an apikey.revoked event
 * (reason: see apikey_event); the caller's transaction.  A row whose MAC
 * did not hold is revoked but not MAC'd anew: check still names it. */
enum ov_rc
apikey_revoke_row(struct vault *v, int64_t id, const char *reason)
{
	struct vault_apikey k;
	unsigned char mac[32];
	struct db_stmt *st;
	enum ov_rc rc;
	int ok = 0, src;

	if ((rc = apikey_by_id(v, id, &k, mac, &ok)) != OV_OK)
		return rc;
	k.revoked_at = timefmt_now();
	if ((rc = db_prepare(v, "UPDATE api_keys SET revoked_at = ? WHERE "
	    "id = ? AND revoked_at IS NULL", &st)) != OV_OK)
		return rc;
	db_bind_int64(st, 1, k.revoked_at);
	db_bind_int64(st, 2, id);
	src = db_step(st);
	db_finish(v, st);
	if (src != DB_DONE)
		return db_err(v, src, "revoking an API key");
	if (ok && (rc = apikey_mac_write(v, id)) != OV_OK)
		return rc;
	return apikey_event(v, "apikey.revoked", &k, reason);
}

enum ov_rc
vault_apikey_revoke(struct vault *v, const char *name)
{
	struct db_stmt *st;
	int64_t id = 0;
	enum ov_rc rc;
	int src;

	if ((rc = tx_begin(v)) != OV_OK)
		return rc;
	if ((rc = db_prepare(v, "SELECT id FROM api_keys WHERE name = ? AND "
	    "revoked_at IS NULL", &st)) != OV_OK)
		return tx_end(v, rc);
	db_bind_text(st, 1, name, -1);
	if ((src = db_step(st)) == DB_ROW)
		id = db_col_int64(st, 0);
	else if (src == DB_DONE)
		rc = ov_seterr(OV_ENOTFOUND, "no live API key named %s; list "
		    "them with: orgvault apikey list", name);
	else
		rc = db_err(v, src, "revoking an API key");
	db_finish(v, st);
	if (rc == OV_OK)
		rc = apikey_revoke_row(v, id, NULL);
	return tx_end(v, rc);
}

/*
 * After an org was removed (its caller's transaction): a live key whose
 * orgs are all gone now is revoked, so that a key never outlives its
 * orgs.  Keys for "*" or with an org left keep working; ids are never
 * reused, so a removed org's id names nothing again.
 */
enum ov_rc
apikey_orgs_removed(struct vault *v, const char *reason)
{
	int64_t ids[64];
	struct db_stmt *st;
	enum ov_rc rc;
	int n, src;

	do {
		/* A row whose org_ids is not a list was edited: left to
		 * check, which names it. */
		if ((rc = db_prepare(v, "SELECT id FROM api_keys a WHERE "
		    "revoked_at IS NULL AND org_ids != '*' AND "
		    "json_valid('[' || a.org_ids || ']') AND NOT EXISTS "
		    "(SELECT 1 FROM orgs o, json_each('[' || a.org_ids || "
		    "']') j WHERE o.id = CAST(j.value AS INTEGER)) ORDER BY id "
		    "LIMIT 64", &st)))
			return rc;
		for (n = 0; (src = db_step(st)) == DB_ROW; n++)
			ids[n] = db_col_int64(st, 0);
		db_finish(v, st);
		if (src != DB_DONE)
			return db_err(v, src, "reading API keys");
		for (int i = 0; i < n && rc == OV_OK; i++)
			rc = apikey_revoke_row(v, ids[i], reason);
	} while (rc == OV_OK && n == 64);
	return rc;
}

/* ---- verify -------------------------------------------------------- */

static int
is_b64url(char c)
{
	return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') ||
	    (c >= '0' && c <= '9') || c == '-' || c == '_';
}

/* The exact shape "ov_<16 lowercase hex>_<43 base64url>". */
static int
key_parse(const char *key, size_t len)
{
	if (key == NULL || len != VAULT_APIKEY_LEN ||
	    memcmp(key, APIKEY_PREFIX, 3) != 0 ||
	    key[3 + VAULT_APIKEY_ID_LEN] != '_')
		return 0;
	for (size_t i = 3; i < 3 + VAULT_APIKEY_ID_LEN; i++)
		if (!((key[i] >= '0' && key[i] <= '9') ||
		    (key[i] >= 'a' && key[i] <= 'f')))
			return 0;
	for (size_t i = APIKEY_SECRET_AT; i < len; i++)
		if (!is_b64url(key[i]))
			return 0;
	return 1;
}

static enum ov_rc
invalid(void)
{
	return ov_seterr(OV_ENOTFOUND, "invalid API key");
}

/* Row of key_id with its stored hash; *found 0 when there is none. */
static enum ov_rc
by_key_id(struct vault *v, const char *key_id, struct vault_apikey *k,
    unsigned char stored[32], int *found)
{
	struct db_stmt *st;
	enum ov_rc rc;
	int src;

	*found = 0;
	if ((rc = db_prepare(v, "SELECT " APIKEY_COLS ", secret_hash, row_mac "
	    "FROM api_keys WHERE key_id = ?", &st)) != OV_OK)
		return rc;
	db_bind_text(st, 1, key_id, VAULT_APIKEY_ID_LEN);
	if ((src = db_step(st)) == DB_ROW) {
		unsigned char mac[32];
		int mac_ok;

		/* A row whose MAC fails (role, orgs or revoked_at edited in
		 * the database) is no key at all. */
		if ((rc = apikey_row_mac(v, st, APIKEY_HCOL, k, mac,
		    &mac_ok)) == OV_OK &&
		    mac_ok && db_col_bytes(st, APIKEY_HCOL) == 32) {
			memcpy(stored, db_col_blob(st, APIKEY_HCOL), 32);
			*found = 1;
		}
	} else if (src != DB_DONE)
		rc = db_err(v, src, "reading API keys");
	db_finish(v, st);
	return rc;
}

/*
 * Whether the audit chain records k's revocation: a revoked key whose
 * row was put back live with its old, valid MAC (an older copy of the
 * row) stays revoked.  A database that cannot answer refuses the key.
 */
static int
revoked_in_chain(struct vault *v, const struct vault_apikey *k)
{
	struct db_stmt *st;
	int src;

	if (db_prepare(v, "SELECT 1 FROM events WHERE kind = 'apikey.revoked' "
	    "AND json_extract(detail, '$.key_id') = ? LIMIT 1", &st) != OV_OK)
		return 1;
	db_bind_text(st, 1, k->key_id, -1);
	src = db_step(st);
	db_finish(v, st);
	return src != DB_DONE;
}

/* Best effort, at most once a LAST_USED_GRAIN_S: a busy database must
 * not turn a good key away. */
static void
last_used_touch(struct vault *v, struct vault_apikey *k)
{
	struct db_stmt *st;
	int64_t now = timefmt_now();

	if (now - k->last_used_at < LAST_USED_GRAIN_S)
		return;
	if (db_prepare(v, "UPDATE api_keys SET last_used_at = ? WHERE id = ?",
	    &st) != OV_OK)
		return;
	db_bind_int64(st, 1, now);
	db_bind_int64(st, 2, k->id);
	if (db_step(st) == DB_DONE)
		k->last_used_at = now;
	db_finish(v, st);
}

enum ov_rc
vault_apikey_verify(struct vault *v, const char *key, size_t len,
    struct vault_apikey *out, enum vault_apikey_why *why)
{
	static const unsigned char no_key[HASH_KEY_LEN];
	unsigned char stored[32] = { 0 }, have[32];
	char key_id[VAULT_APIKEY_ID_LEN + 1];
	struct vault_apikey k = { 0 };
	struct secret *hk = NULL;
	enum ov_rc rc;
	enum vault_apikey_why dummy;
	int found = 0, match;

	if (why == NULL)
		why = &dummy;
	*why = VAULT_APIKEY_NO_ID;
	if ((rc = vault_need_key(v)) != OV_OK)
		return rc;
	if (!key_parse(key, len))
		return invalid();
	memcpy(key_id, key + 3, VAULT_APIKEY_ID_LEN);
	key_id[VAULT_APIKEY_ID_LEN] = '\0';
	/* No hash key yet: no key was ever made; hash anyway, for timing. */
	if ((rc = hash_key_open(v, 0, &hk)) != OV_OK && rc != OV_ENOTFOUND)
		return rc;
	if ((rc = by_key_id(v, key_id, &k, stored, &found)) != OV_OK) {
		secret_free(hk);
		return rc;
	}
	key_hash(hk ? hk->buf : no_key, key_id, key + APIKEY_SECRET_AT,
	    APIKEY_SECRET_LEN, have);
	secret_free(hk);
	if (found)
		*why = VAULT_APIKEY_WRONG;
	match = sodium_memcmp(have, stored, sizeof(have)) == 0;
	sodium_memzero(have, sizeof(have));
	if (!found || !match || k.revoked_at != 0 || revoked_in_chain(v, &k))
		return invalid();
	if (vault_apikey_expired(&k, timefmt_now())) {
		char at[32];

		*why = VAULT_APIKEY_EXPIRED;
		*out = k;
		return ov_seterr(OV_ENOTFOUND, "the API key %s expired at %s; "
		    "make a new one (orgvault apikey create)", k.name,
		    render_time(k.expires_at, at, sizeof(at)));
	}
	last_used_touch(v, &k);
	*out = k;
	return OV_OK;
}

/* ---- check --------------------------------------------------------- */

static void
row_report(vault_check_cb cb, void *arg, int64_t *failures,
    const char *column, int64_t row, const char *problem)
{
	struct vault_check_failure f = { "api_keys", column, row, problem };

	(*failures)++;
	cb(&f, arg);
}

/*
 * Every row's MAC; and every key the audit chain says was revoked must
 * still be revoked: a consistent older copy of a row (its old, valid
 * MAC) is told apart only by the chain (SECURITY.md).
 */
static enum ov_rc
apikey_rows_check(struct vault *v, vault_check_cb cb, void *arg,
    int64_t *checked, int64_t *failures)
{
	struct vault_apikey k;
	unsigned char mac[32];
	struct db_stmt *st;
	enum ov_rc rc;
	int ok, src;

	if ((rc = db_prepare(v, "SELECT " APIKEY_COLS ", secret_hash, row_mac "
	    "FROM api_keys ORDER BY id", &st)) != OV_OK)
		return rc;
	while ((src = db_step(st)) == DB_ROW) {
		(*checked)++;
		if ((rc = apikey_row_mac(v, st, APIKEY_HCOL, &k, mac,
		    &ok)) != OV_OK)
			break;
		if (!ok)
			row_report(cb, arg, failures, "row_mac", k.id, "its MAC "
			    "does not match: role, orgs, credentials, expiry, "
			    "revocation or hash were edited in the database; "
			    "the key is refused");
	}
	db_finish(v, st);
	if (rc != OV_OK)
		return rc;
	if (src != DB_DONE)
		return db_err(v, src, "reading API keys");
	if ((rc = db_prepare(v, "SELECT a.id FROM events e JOIN api_keys a ON "
	    "a.key_id = json_extract(e.detail, '$.key_id') WHERE e.kind = "
	    "'apikey.revoked' AND a.revoked_at IS NULL", &st)) != OV_OK)
		return rc;
	while ((src = db_step(st)) == DB_ROW)
		row_report(cb, arg, failures, "revoked_at",
		    db_col_int64(st, 0), "the audit chain records "
		    "this key's revocation, but its row is live: the row was "
		    "restored or edited; revoke it again");
	db_finish(v, st);
	return src == DB_DONE ? OV_OK : db_err(v, src, "reading events");
}

enum ov_rc
apikey_check(struct vault *v, vault_check_cb cb, void *arg, int64_t *checked,
    int64_t *failures)
{
	struct vault_check_failure f = { "vault_meta", "value", 0, NULL };
	struct secret *hk = NULL;
	struct db_stmt *st;
	int64_t keys = 0;
	enum ov_rc rc;

	if ((rc = db_prepare(v, "SELECT count(*) FROM api_keys", &st)))
		return rc;
	if (db_step(st) == DB_ROW)
		keys = db_col_int64(st, 0);
	db_finish(v, st);
	rc = hash_key_open(v, 0, &hk);
	secret_free(hk);
	if (rc == OV_ENOTFOUND && keys == 0)
		return OV_OK;
	(*checked)++;
	if (rc == OV_ENOTFOUND)
		f.problem = "API keys exist but their hash key (vault_meta "
		    HASH_KEY_META ") is missing: no API key can be verified";
	else if (rc == OV_EINTEGRITY || rc == OV_ECRYPTO)
		f.problem = ov_errmsg();
	else if (rc != OV_OK)
		return rc;
	if (f.problem) {
		(*failures)++;
		cb(&f, arg);
	}
	return apikey_rows_check(v, cb, arg, checked, failures);
}

/*
 * bind.c — what a secret is bound to, and the MACs of the rows that grant
 * access or pick a secret (DESIGN.md "What a secret is bound to").  The
 * one owner of both forms; it never sees a key (keyring.c MACs for it).
 *
 * The binding of a secret_versions envelope (its associated data):
 *
 *   bind 1  secret_versions|KIND|ORG_ID|CRED_ID|VERSION          (0001-0003)
 *   bind 2  secret_versions|KIND|ORG_ID|CRED_ID|VERSION|NAME|DEST
 *
 * DEST is the hex BLAKE2b-256 of where and how the secret is sent:
 * provider, token URL, region or instance, client id, client auth method
 * and grant, each length-prefixed.  Editing any of them (in the database
 * or through an API that does not bring the secrets) leaves the secret
 * unopenable.  A bind-1 row opens only until every row was re-sealed:
 * then vault_meta secret_binding holds "2:" and a MAC, and bind 1 never
 * opens again.
 *
 * A row MAC is the keyed BLAKE2b-256 (the MAC key's row key) of a
 * canonical list of fields, each as an 8-byte big-endian length and its
 * bytes (integers as decimal text), starting with the table's name:
 *
 *   credentials   id org_id name provider region token_url auth grant
 *                 client_id expected_scope org_slug, then per labelled secret
 *                 version (by kind, stage): kind stage version digest
 *   api_keys/5    id key_id name role org_ids credentials secret_hash
 *                 created_at expires_at revoked_at
 *   api_keys      (schema 0004, read once by migration 0005) id key_id
 *                 name role orgs secret_hash created_at revoked_at
 *   webhooks      id url events created_at
 *   retired_refresh_tokens  credential_id digest retired_at expires_at
 *   vault_meta    "secret_binding" "2"
 *
 * A secret's digest (secret_versions.digest, retired_refresh_tokens) is
 * the keyed BLAKE2b-256 of KIND NUL VALUE under the MAC key's digest key:
 * equal secrets are told apart in constant time, and nothing learnt from
 * the database tests a guess without the key.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <sodium.h>

#include "util/log.h"
#include "util/timefmt.h"
#include "vault/vault_int.h"

/* ------------------------------------------------------ canonical lists */

struct canon {
	unsigned char	*buf;
	size_t		 len, cap;
	int		 oom;
};

static void
canon_bytes(struct canon *c, const void *p, size_t n)
{
	if (c->oom)
		return;
	if (c->len + n + 8 > c->cap) {
		size_t cap = (c->len + n + 8) * 2;
		unsigned char *b = realloc(c->buf, cap);

		if (b == NULL) {
			c->oom = 1;
			return;
		}
		c->buf = b;
		c->cap = cap;
	}
	for (int i = 7; i >= 0; i--)
		c->buf[c->len++] = (unsigned char)((uint64_t)n >> (8 * i));
	if (n)
		memcpy(c->buf + c->len, p, n);
	c->len += n;
}

static void
canon_str(struct canon *c, const char *s)
{
	canon_bytes(c, s ? s : "", s ? strlen(s) : 0);
}

static void
canon_int(struct canon *c, int64_t n)
{
	char buf[24];

	snprintf(buf, sizeof(buf), "%lld", (long long)n);
	canon_str(c, buf);
}

/* The MAC of c (and frees it); OV_ENOMEM on a failed append. */
static enum ov_rc
canon_mac(struct vault *v, struct canon *c, unsigned char out[32])
{
	enum ov_rc rc = OV_OK;

	if (c->oom)
		rc = ov_seterr(OV_ENOMEM, "out of memory");
	else if (!keyring_has_mac(v->kr))
		rc = ov_seterr(OV_EINTEGRITY, "the vault has no row MAC key "
		    "yet; open it once with its key (any orgvault command)");
	else
		keyring_row_mac(v->kr, c->buf, c->len, out);
	free(c->buf);
	memset(c, 0, sizeof(*c));
	return rc;
}

/* --------------------------------------------------------- the binding */

void
dest_row(struct db_stmt *st, int col, struct vault_cred *c)
{
	memset(c, 0, sizeof(*c));
	c->org_id = db_col_int64(st, col);
	c->id = db_col_int64(st, col + 1);
#define COPY(field, i) snprintf(c->field, sizeof(c->field), "%s", \
	    db_col_text(st, col + (i)) ? \
	    db_col_text(st, col + (i)) : "")
	COPY(name, 2);
	COPY(provider, 3);
	COPY(region, 4);
	COPY(token_url, 5);
	COPY(auth, 6);
	COPY(grant, 7);
	COPY(client_id, 8);
#undef COPY
}

int
dest_differs(const struct vault_cred *a, const struct vault_cred *b)
{
	return strcmp(a->provider, b->provider) != 0 ||
	    strcmp(a->token_url, b->token_url) != 0 ||
	    strcmp(a->region, b->region) != 0 ||
	    strcmp(a->client_id, b->client_id) != 0 ||
	    strcmp(a->auth, b->auth) != 0 || strcmp(a->grant, b->grant) != 0;
}

void
binding_secret(char *buf, size_t len, const struct vault_cred *c,
    const char *kind, int64_t version, int bind)
{
	struct canon d = { 0 };
	unsigned char h[32];
	char hex[65];

	if (bind < BIND_DEST) {
		snprintf(buf, len, "secret_versions|%s|%lld|%lld|%lld", kind,
		    (long long)c->org_id, (long long)c->id,
		    (long long)version);
		return;
	}
	canon_str(&d, c->provider);
	canon_str(&d, c->token_url);
	canon_str(&d, c->region);
	canon_str(&d, c->client_id);
	canon_str(&d, c->auth);
	canon_str(&d, c->grant);
	/* A failed append leaves a digest no seal will ever match. */
	crypto_generichash(h, sizeof(h), d.oom ? NULL : d.buf,
	    d.oom ? 0 : d.len, NULL, 0);
	free(d.buf);
	sodium_bin2hex(hex, sizeof(hex), h, sizeof(h));
	snprintf(buf, len, "secret_versions|%s|%lld|%lld|%lld|%s|%s", kind,
	    (long long)c->org_id, (long long)c->id, (long long)version,
	    c->name, hex);
}

enum ov_rc
secret_digest(struct vault *v, const char *kind, const struct secret *s,
    unsigned char out[32])
{
	struct canon c = { 0 };

	if (!keyring_has_mac(v->kr))
		return ov_seterr(OV_EINTEGRITY, "the vault has no MAC key yet");
	/* Raw bytes, not length-prefixed: the buffer holds the secret. */
	if ((c.buf = sodium_malloc(strlen(kind) + 1 + s->len + 1)) == NULL)
		return ov_seterr(OV_ENOMEM, "out of secure memory");
	memcpy(c.buf, kind, strlen(kind) + 1);
	memcpy(c.buf + strlen(kind) + 1, s->buf, s->len);
	keyring_secret_digest(v->kr, c.buf, strlen(kind) + 1 + s->len, out);
	sodium_free(c.buf);	/* wipes */
	return OV_OK;
}

/* ----------------------------------------------------------- row MACs */

/* The canonical credential row with its labelled versions. */
static enum ov_rc
cred_canon(struct vault *v, int64_t cred_id, struct canon *c, int *found)
{
	struct db_stmt *st;
	enum ov_rc rc;
	int src;

	*found = 0;
	/* The org's slug too: requests name orgs by slug (a key's org
	 * ids are looked up as slugs), so a slug swapped in the database
	 * would hand one org's tokens to another's keys. */
	if ((rc = db_prepare(v, "SELECT c.id, c.org_id, c.name, c.provider, "
	    "c.region, c.token_url, c.auth_method, c.grant_type, c.client_id, "
	    "c.expected_scope, o.slug FROM credentials c LEFT JOIN orgs o ON "
	    "o.id = c.org_id WHERE c.id = ?", &st)) != OV_OK)
		return rc;
	db_bind_int64(st, 1, cred_id);
	canon_str(c, "credentials");
	if ((src = db_step(st)) == DB_ROW) {
		*found = 1;
		canon_int(c, db_col_int64(st, 0));
		canon_int(c, db_col_int64(st, 1));
		for (int i = 2; i < 11; i++)
			canon_str(c, db_col_text(st, i));
	} else if (src != DB_DONE)
		rc = db_err(v, src, "reading a credential");
	db_finish(v, st);
	if (rc != OV_OK || !*found)
		return rc;
	if ((rc = db_prepare(v, "SELECT kind, stage, version, digest FROM "
	    "secret_versions WHERE credential_id = ? AND stage IS NOT NULL "
	    "ORDER BY kind, stage", &st)) != OV_OK)
		return rc;
	db_bind_int64(st, 1, cred_id);
	while ((src = db_step(st)) == DB_ROW) {
		canon_str(c, db_col_text(st, 0));
		canon_str(c, db_col_text(st, 1));
		canon_int(c, db_col_int64(st, 2));
		canon_bytes(c, db_col_blob(st, 3),
		    (size_t)db_col_bytes(st, 3));
	}
	if (src != DB_DONE)
		rc = db_err(v, src, "reading secret labels");
	db_finish(v, st);
	return rc;
}

enum ov_rc
row_mac_put(struct vault *v, const char *update, int64_t id,
    const unsigned char mac[32], const char *what)
{
	struct db_stmt *st;
	enum ov_rc rc;
	int src;

	if ((rc = db_prepare(v, update, &st)) != OV_OK)
		return rc;
	db_bind_blob_copy(st, 1, mac, 32);
	db_bind_int64(st, 2, id);
	src = db_step(st);
	db_finish(v, st);
	return src == DB_DONE ? OV_OK : db_err(v, src, what);
}

enum ov_rc
cred_mac_update(struct vault *v, int64_t cred_id)
{
	struct canon c = { 0 };
	unsigned char mac[32];
	enum ov_rc rc;
	int found;

	if ((rc = cred_canon(v, cred_id, &c, &found)) != OV_OK || !found) {
		free(c.buf);
		return rc;
	}
	if ((rc = canon_mac(v, &c, mac)) != OV_OK)
		return rc;
	return row_mac_put(v, "UPDATE credentials SET row_mac = ? WHERE id = "
	    "?", cred_id, mac, "writing a credential's MAC");
}

/* Compares a computed MAC with a stored column (NULL or short: no). */
static int
mac_equal(const unsigned char want[32], const void *have, int havelen)
{
	return have != NULL && havelen == 32 &&
	    sodium_memcmp(want, have, 32) == 0;
}

static enum ov_rc mac_verify(struct vault *, int64_t);

/* In one snapshot (a read transaction unless the caller has one). */
enum ov_rc
cred_mac_verify(struct vault *v, int64_t cred_id)
{
	int own = !db_in_tx(v->db);
	enum ov_rc rc;

	if (own && (rc = db_read_begin(v)) != OV_OK)
		return rc;
	rc = mac_verify(v, cred_id);
	if (own)
		(void)db_commit(v->db);
	return rc;
}

static enum ov_rc
mac_verify(struct vault *v, int64_t cred_id)
{
	struct canon c = { 0 };
	unsigned char mac[32];
	struct db_stmt *st;
	enum ov_rc rc;
	int found, ok = 0;

	if ((rc = cred_canon(v, cred_id, &c, &found)) != OV_OK || !found) {
		free(c.buf);
		return rc ? rc : ov_seterr(OV_ENOTFOUND, "credential %lld was "
		    "removed", (long long)cred_id);
	}
	if ((rc = canon_mac(v, &c, mac)) != OV_OK ||
	    (rc = db_prepare(v, "SELECT row_mac FROM credentials WHERE id = ?",
	    &st)) != OV_OK)
		return rc;
	db_bind_int64(st, 1, cred_id);
	if (db_step(st) == DB_ROW)
		ok = mac_equal(mac, db_col_blob(st, 0),
		    db_col_bytes(st, 0));
	db_finish(v, st);
	if (!ok)
		return ov_seterr(OV_EINTEGRITY, "credential %lld: its row MAC "
		    "does not match (destination, expected scope or secret "
		    "labels were edited in the database)", (long long)cred_id);
	return OV_OK;
}

enum ov_rc
apikey_mac(struct vault *v, const struct vault_apikey *k,
    const void *secret_hash, size_t hash_len, unsigned char out[32])
{
	struct canon c = { 0 };

	canon_str(&c, "api_keys/5");
	canon_int(&c, k->id);
	canon_str(&c, k->key_id);
	canon_str(&c, k->name);
	canon_str(&c, k->role);
	canon_str(&c, k->org_ids);
	canon_str(&c, k->credentials);
	canon_bytes(&c, secret_hash, hash_len);
	canon_int(&c, k->created_at);
	canon_int(&c, k->expires_at);
	canon_int(&c, k->revoked_at);
	return canon_mac(v, &c, out);
}

enum ov_rc
apikey_mac_v4(struct vault *v, const struct vault_apikey *k,
    const void *secret_hash, size_t hash_len, unsigned char out[32])
{
	struct canon c = { 0 };

	canon_str(&c, "api_keys");
	canon_int(&c, k->id);
	canon_str(&c, k->key_id);
	canon_str(&c, k->name);
	canon_str(&c, k->role);
	canon_str(&c, k->orgs);
	canon_bytes(&c, secret_hash, hash_len);
	canon_int(&c, k->created_at);
	canon_int(&c, k->revoked_at);
	return canon_mac(v, &c, out);
}

enum ov_rc
webhook_mac(struct vault *v, int64_t id, const char *url, const char *events,
    int64_t created_at, unsigned char out[32])
{
	struct canon c = { 0 };

	canon_str(&c, "webhooks");
	canon_int(&c, id);
	canon_str(&c, url);
	canon_str(&c, events);
	canon_int(&c, created_at);
	return canon_mac(v, &c, out);
}

enum ov_rc
retired_mac(struct vault *v, int64_t cred_id, const unsigned char digest[32],
    int64_t retired_at, int64_t expires_at, unsigned char out[32])
{
	struct canon c = { 0 };

	canon_str(&c, "retired_refresh_tokens");
	canon_int(&c, cred_id);
	canon_bytes(&c, digest, 32);
	canon_int(&c, retired_at);
	canon_int(&c, expires_at);
	return canon_mac(v, &c, out);
}

int
row_mac_ok(const unsigned char want[32], const void *have, int havelen)
{
	return mac_equal(want, have, havelen);
}

/* ------------------------------------------- the vault-level flag, key */

static enum ov_rc
binding_flag_value(struct vault *v, char *buf, size_t len)
{
	struct canon c = { 0 };
	unsigned char mac[32];
	char hex[65];
	enum ov_rc rc;

	canon_str(&c, "vault_meta");
	canon_str(&c, "secret_binding");
	canon_str(&c, "2");
	if ((rc = canon_mac(v, &c, mac)) != OV_OK)
		return rc;
	sodium_bin2hex(hex, sizeof(hex), mac, sizeof(mac));
	snprintf(buf, len, "2:%s", hex);
	return OV_OK;
}

/* The closing is in the audit chain too (key.binding_closed, or the
 * key.mac_created of a vault born closed): a flag deleted or edited in
 * the database does not open the old binding again. */
#define CLOSED_EVENT "SELECT 1 FROM events WHERE kind = 'key.binding_closed' " \
	"OR (kind = 'key.mac_created' AND json_extract(detail, '$.binding') " \
	"= 'closed') LIMIT 1"

static int
closed_in_chain(struct vault *v)
{
	struct db_stmt *st;
	int src;

	if (db_prepare(v, CLOSED_EVENT, &st) != OV_OK)
		return 1;	/* cannot tell: closed is the safe side */
	src = db_step(st);
	db_finish(v, st);
	return src == DB_ROW;
}

static enum ov_rc
flag_write(struct vault *v)
{
	char want[80];
	enum ov_rc rc;

	if ((rc = binding_flag_value(v, want, sizeof(want))) != OV_OK ||
	    (rc = meta_set(v, "secret_binding", want)) != OV_OK)
		return rc;
	v->binding_final = 1;
	return OV_OK;
}

enum ov_rc
binding_final_set(struct vault *v)
{
	enum ov_rc rc;

	if ((rc = flag_write(v)) != OV_OK)
		return rc;
	return event_append(v, &(struct event_rec){
	    .kind = "key.binding_closed" });
}

/* Whether the flag is set with its MAC right. */
static int
flag_ok(struct vault *v)
{
	char have[80], want[80];
	int ok;

	if (binding_flag_value(v, want, sizeof(want)) != OV_OK)
		return 0;
	ok = meta_get(v, "secret_binding", have, sizeof(have)) == OV_OK &&
	    strlen(have) == strlen(want) &&
	    sodium_memcmp(have, want, strlen(want)) == 0;
	ov_clearerr();
	return ok;
}

static void
binding_final_load(struct vault *v)
{
	v->binding_final = flag_ok(v) || closed_in_chain(v);
}

void
binding_final_reload(struct vault *v)
{
	binding_final_load(v);
}

enum ov_rc
binding_check(struct vault *v, vault_check_cb cb, void *arg, int64_t *checked,
    int64_t *failures)
{
	struct vault_check_failure f = { "vault_meta", "value", 0, "the audit "
	    "chain says the old secret binding was closed, but the "
	    "secret_binding flag is missing or its MAC does not match: it was "
	    "edited in the database (the old binding stays closed)" };

	(*checked)++;
	if (!flag_ok(v) && closed_in_chain(v)) {
		(*failures)++;
		cb(&f, arg);
	}
	return OV_OK;
}

enum ov_rc
mac_key_store(struct vault *v, const struct keyring *kr)
{
	unsigned char *wrapped = NULL;
	char *hexv;
	size_t wlen;
	enum ov_rc rc;

	if ((rc = keyring_mac_key_wrap(kr, &wrapped, &wlen)) != OV_OK)
		return rc;
	if ((hexv = malloc(wlen * 2 + 1)) == NULL)
		rc = ov_seterr(OV_ENOMEM, "out of memory");
	else {
		sodium_bin2hex(hexv, wlen * 2 + 1, wrapped, wlen);
		rc = meta_set(v, "row_mac_key", hexv);
	}
	free(hexv);
	free(wrapped);
	return rc;
}

/* Calls fn for the id of every row sql lists; *n counts them. */
static enum ov_rc
each_id(struct vault *v, const char *sql, enum ov_rc (*fn)(struct vault *,
    int64_t), int64_t *n)
{
	struct db_stmt *st;
	enum ov_rc rc;
	int src;

	if ((rc = db_prepare(v, sql, &st)) != OV_OK)
		return rc;
	while ((src = db_step(st)) == DB_ROW) {
		if ((rc = fn(v, db_col_int64(st, 0))) != OV_OK)
			break;
		(*n)++;
	}
	db_finish(v, st);
	return rc == OV_OK && src != DB_DONE ? db_err(v, src,
	    "reading rows to MAC") : rc;
}

/* MACs every row that needs one: after the MAC key was made, at schema
 * 0004 (API keys in their 0004 form: migration 0005 re-MACs them). */
static enum ov_rc
mac_all_rows(struct vault *v, int64_t *n)
{
	enum ov_rc rc;

	if ((rc = each_id(v, "SELECT id FROM credentials ORDER BY id",
	    cred_mac_update, n)) != OV_OK ||
	    (rc = each_id(v, "SELECT id FROM api_keys ORDER BY id",
	    apikey_v4_mac_write, n)) != OV_OK)
		return rc;
	return each_id(v, "SELECT id FROM webhooks ORDER BY id",
	    webhook_mac_write, n);
}

/*
 * Migration 0004's hook (schema.c), inside the migration's transaction:
 * makes the MAC key and MACs every existing row, with a key.mac_created
 * event.  Nothing else ever makes a MAC key for an existing vault: a
 * row_mac_key set back to 'pending' by a database writer (to have edited
 * rows MAC'd anew) is refused by every open, and no command redoes it.
 */
enum ov_rc
mac_key_bootstrap(struct vault *v)
{
	unsigned char *wrapped = NULL;
	struct db_stmt *st;
	size_t wlen;
	int64_t n = 0;
	json_t *d;
	enum ov_rc rc;
	int seen;

	if ((rc = tx_begin(v)) != OV_OK)
		return rc;
	if ((rc = db_prepare(v, "SELECT 1 FROM events WHERE kind = "
	    "'key.mac_created' LIMIT 1", &st)) != OV_OK)
		return tx_end(v, rc);
	seen = db_step(st) == DB_ROW;
	db_finish(v, st);
	if (seen)
		return tx_end(v, ov_seterr(OV_EINTEGRITY, "vault setting "
		    "row_mac_key was reset although the vault made its MAC "
		    "key already: the database was tampered with; restore it "
		    "from a backup"));
	if ((rc = keyring_mac_key_new(v->kr, &wrapped, &wlen)) != OV_OK)
		return tx_end(v, rc);
	free(wrapped);
	if ((rc = mac_key_store(v, v->kr)) != OV_OK ||
	    (rc = mac_all_rows(v, &n)) != OV_OK)
		return tx_end(v, rc);
	d = json_pack("{s:I}", "rows", (json_int_t)n);
	rc = event_append(v, &(struct event_rec){ .kind = "key.mac_created",
	    .detail = d });
	json_decref(d);
	return tx_end(v, rc);
}

enum ov_rc
mac_key_load(struct vault *v)
{
	char *hexv;
	unsigned char *wrapped = NULL;
	size_t hl, wlen;
	enum ov_rc rc;

	if ((hexv = malloc(512)) == NULL)
		return ov_seterr(OV_ENOMEM, "out of memory");
	if ((rc = meta_get(v, "row_mac_key", hexv, 512)) != OV_OK)
		goto out;
	if (strcmp(hexv, "pending") == 0) {
		/* Only migration 0004's own transaction sees 'pending'. */
		rc = ov_seterr(OV_EINTEGRITY, "vault setting row_mac_key is "
		    "'pending' outside its migration: the database was "
		    "tampered with; restore it from a backup");
		goto out;
	}
	hl = strlen(hexv);
	if ((wrapped = malloc(hl / 2 + 1)) == NULL ||
	    sodium_hex2bin(wrapped, hl / 2 + 1, hexv, hl, NULL, &wlen,
	    NULL) != 0) {
		rc = ov_seterr(OV_EINTEGRITY, "vault setting row_mac_key is "
		    "malformed");
		goto out;
	}
	rc = keyring_mac_key_add(v->kr, wrapped, wlen);
out:
	if (rc == OV_OK)
		binding_final_load(v);
	free(wrapped);
	free(hexv);
	return rc;
}

enum ov_rc
mac_key_init(struct vault *v)
{
	unsigned char *wrapped = NULL;
	size_t wlen;
	json_t *d;
	enum ov_rc rc;

	if ((rc = keyring_mac_key_new(v->kr, &wrapped, &wlen)) != OV_OK)
		return rc;
	free(wrapped);
	if ((rc = mac_key_store(v, v->kr)) != OV_OK)
		return rc;
	/* A new vault has nothing in the old binding: born closed. */
	if ((rc = flag_write(v)) != OV_OK ||
	    (d = json_pack("{s:s}", "binding", "closed")) == NULL)
		return rc ? rc : ov_seterr(OV_ENOMEM, "out of memory");
	rc = event_append(v, &(struct event_rec){ .kind = "key.mac_created",
	    .detail = d });
	json_decref(d);
	return rc;
}

/* ----------------------------------------------------------- tampered */

enum ov_rc
vault_cred_tampered(struct vault *v, int64_t cred_id, const char *why)
{
	struct event_rec ev = { .kind = "credential.tampered",
	    .outcome = "tampered" };
	char org[OV_SLUG_MAX + 1], name[OV_SLUG_MAX + 1], reason[200];
	struct db_stmt *st;
	json_t *d;
	enum ov_rc rc;
	int src, already = 1;

	snprintf(reason, sizeof(reason), "tampered: %s", why ? why : "");
	if ((rc = tx_begin(v)) != OV_OK)
		return rc;
	if ((rc = db_prepare(v, "SELECT c.org_id, o.slug, c.name, c.status = "
	    "'tampered' FROM credentials c JOIN orgs o ON o.id = c.org_id "
	    "WHERE c.id = ?", &st)) != OV_OK)
		return tx_end(v, rc);
	db_bind_int64(st, 1, cred_id);
	if ((src = db_step(st)) == DB_ROW) {
		ev.org_id = db_col_int64(st, 0);
		rc = db_text(st, 1, org, sizeof(org));
		if (rc == OV_OK)
			rc = db_text(st, 2, name, sizeof(name));
		already = db_col_int(st, 3);
	} else if (src != DB_DONE)
		rc = db_err(v, src, "reading a credential");
	db_finish(v, st);
	if (rc != OV_OK || already)	/* removed, or said once already */
		return tx_end(v, rc);
	if ((rc = db_prepare(v, "UPDATE credentials SET status = 'tampered', "
	    "status_reason = ?2, last_error = ?2, next_refresh_at = NULL "
	    "WHERE id = ?1", &st)) != OV_OK)
		return tx_end(v, rc);
	db_bind_int64(st, 1, cred_id);
	db_bind_text(st, 2, reason, -1);
	src = db_step(st);
	db_finish(v, st);
	if (src != DB_DONE)
		return tx_end(v, db_err(v, src, "marking a credential tampered"));
	ev.org = org;
	ev.credential = name;
	ev.cred_id = cred_id;
	d = json_pack("{s:s, s:s}", "description", why ? why : "", "fix",
	    "nothing is sent for this credential until an operator puts its "
	    "secrets again (cred put --secret-file, and --refresh-token-file "
	    "for the refresh_token grant)");
	ev.detail = d;
	rc = event_append(v, &ev);
	json_decref(d);
	return tx_end(v, rc);
}

enum ov_rc
vault_cred_verify(struct vault *v, int64_t cred_id)
{
	char why[OV_ERRMSG_MAX];
	enum ov_rc rc;

	if ((rc = cred_mac_verify(v, cred_id)) != OV_EINTEGRITY)
		return rc;
	snprintf(why, sizeof(why), "%s", ov_errmsg());
	if (vault_cred_tampered(v, cred_id, why) != OV_OK)
		log_warnx("marking credential %lld tampered: %s",
		    (long long)cred_id, ov_errmsg());
	return ov_seterr(rc, "%s", why);
}

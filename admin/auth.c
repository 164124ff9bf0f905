/*
 * auth.c — API keys on requests: "Authorization: Bearer ov_…".
 *
 * The vault verifies a key (keyed hash, constant-time compare).  To keep
 * the token broker off SQLite, a verified key is remembered for one
 * second under a keyed digest of the presented key (never the key
 * itself): a key revoked through the API stops at once, one revoked by
 * the CLI within a second.
 *
 * The key is verified once the head of a request is in (auth_verify,
 * before any body is kept) and a failure answered once the request is
 * complete (auth_check, in the route table's order).
 *
 * A key that verifies is never refused: the key is checked first, and
 * only a failure consults the throttle (throttle.h), which counts per
 * (client address, key id) — per address for unknown key ids — and
 * blocks that bucket (429) after THROTTLE_FAIL_MAX failures in a
 * window.  A block is logged and written as an auth.throttled event at
 * most once per address per window.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <sodium.h>

#include "admin/admin_int.h"
#include "admin/throttle.h"
#include "util/log.h"
#include "util/timefmt.h"

#define AUTH_CACHE_SLOTS	1024
#define AUTH_CACHE_MS		1000
/* While the database cannot be read (locked, or a PostgreSQL server
 * gone), a key verified this recently is still taken: no revocation can
 * be committed meanwhile either. */
#define AUTH_OUTAGE_MS		(15 * 60 * 1000)

struct cached_key {
	unsigned char		digest[32];
	int64_t			checked_ms;
	struct vault_apikey	key;
};

struct auth {
	pthread_mutex_t		lock;
	unsigned char		digest_key[crypto_generichash_KEYBYTES];
	struct cached_key	cache[AUTH_CACHE_SLOTS];
	struct throttle		*throttle;
};

struct auth *
auth_new(void)
{
	struct auth *au = calloc(1, sizeof(*au));

	if (au == NULL)
		return NULL;
	if ((au->throttle = throttle_new()) == NULL) {
		free(au);
		return NULL;
	}
	pthread_mutex_init(&au->lock, NULL);
	randombytes_buf(au->digest_key, sizeof(au->digest_key));
	return au;
}

void
auth_free(struct auth *au)
{
	if (au == NULL)
		return;
	throttle_free(au->throttle);
	pthread_mutex_destroy(&au->lock);
	sodium_memzero(au, sizeof(*au));
	free(au);
}

void
auth_forget(struct auth *au)
{
	pthread_mutex_lock(&au->lock);
	memset(au->cache, 0, sizeof(au->cache));
	pthread_mutex_unlock(&au->lock);
}

static void
record_block(struct req *r, const char *key_id, int event)
{
	struct vault *v;
	json_t *d;

	atomic_fetch_add(&r->a->metrics.auth_throttled, 1);
	log_warnx("request id=%s: %d failed API-key checks from %s for %s%s: "
	    "refusing them for %d s (a key that verifies is still taken)",
	    r->id, THROTTLE_FAIL_MAX, r->ip, key_id ? "key id " :
	    "unknown keys", key_id ? key_id : "", THROTTLE_BLOCK_S);
	if (!event || (v = admin_vault(r)) == NULL)
		return;
	d = json_pack("{s:s, s:s?, s:i, s:i, s:i}", "address", r->ip,
	    "key_id", key_id, "failures", THROTTLE_FAIL_MAX, "window_s",
	    THROTTLE_WINDOW_MS / 1000, "blocked_s", THROTTLE_BLOCK_S);
	if (vault_event_add(v, "auth.throttled", NULL, d) != OV_OK)
		log_warnx("recording auth.throttled: %s", ov_errmsg());
	json_decref(d);
}

/* A failed check: 401 (problem type `type`), or 429 when this
 * (address, key id) is blocked. */
static enum MHD_Result
unauthorized(struct req *r, const char *key_id, const char *type,
    const char *why)
{
	struct throttle_verdict t = throttle_failure(r->a->auth->throttle,
	    r->ip, key_id, timefmt_mono_ms());
	char ra[24];

	atomic_fetch_add(&r->a->metrics.auth_failures, 1);
	if (t.retry_after_s > 0) {
		atomic_fetch_add(&r->a->metrics.auth_throttled, 1);
		snprintf(ra, sizeof(ra), "%ld", t.retry_after_s);
		http_header(r, MHD_HTTP_HEADER_RETRY_AFTER, ra);
		return http_problem(r, 429, "too-many-requests", NULL, "too "
		    "many failed API-key checks from %s for this key; retry "
		    "in %ld s", r->ip, t.retry_after_s);
	}
	if (t.block_started)
		record_block(r, key_id, t.event_due);
	return http_problem(r, 401, type, NULL, "%s", why);
}

/* Why a key did not verify (req->auth_fail). */
enum { AUTH_NO_HEADER = 1, AUTH_NOT_BEARER, AUTH_UNKNOWN, AUTH_EXPIRED,
	AUTH_ERROR };

/* dst = src, copying only the used part of each list: a whole key is
 * 3 KiB, and this runs on every token request (under the cache lock). */
static void
key_copy(struct vault_apikey *dst, const struct vault_apikey *src)
{
	dst->id = src->id;
	memcpy(dst->key_id, src->key_id, sizeof(dst->key_id));
	memcpy(dst->name, src->name, sizeof(dst->name));
	memcpy(dst->role, src->role, sizeof(dst->role));
	memcpy(dst->orgs, src->orgs, strlen(src->orgs) + 1);
	memcpy(dst->org_ids, src->org_ids, strlen(src->org_ids) + 1);
	memcpy(dst->credentials, src->credentials,
	    strlen(src->credentials) + 1);
	dst->created_at = src->created_at;
	dst->last_used_at = src->last_used_at;
	dst->revoked_at = src->revoked_at;
	dst->expires_at = src->expires_at;
}

/* A verified key, remembered under its digest; 0 when r is now authed. */
static int
cache_lookup(struct auth *au, struct req *r, const unsigned char digest[32],
    int64_t now, int64_t max_age_ms)
{
	struct cached_key *slot;

	pthread_mutex_lock(&au->lock);
	slot = &au->cache[(digest[0] | digest[1] << 8) % AUTH_CACHE_SLOTS];
	/* An expired key is verified again, to be answered key-expired. */
	if (slot->checked_ms && now - slot->checked_ms < max_age_ms &&
	    sodium_memcmp(slot->digest, digest, 32) == 0 &&
	    (slot->key.expires_at == 0 ||	/* no clock read: most keys */
	    !vault_apikey_expired(&slot->key, timefmt_now()))) {
		key_copy(&r->key, &slot->key);
		r->authed = 1;
	}
	pthread_mutex_unlock(&au->lock);
	return r->authed ? 0 : -1;
}

static void
cache_store(struct auth *au, const struct req *r,
    const unsigned char digest[32], int64_t now)
{
	struct cached_key *slot;

	pthread_mutex_lock(&au->lock);
	slot = &au->cache[(digest[0] | digest[1] << 8) % AUTH_CACHE_SLOTS];
	memcpy(slot->digest, digest, 32);
	key_copy(&slot->key, &r->key);
	slot->checked_ms = now;
	pthread_mutex_unlock(&au->lock);
}

static int
verify_fail(struct req *r, int why, enum ov_rc rc)
{
	r->auth_fail = why;
	r->auth_rc = rc;
	return -1;
}

int
auth_verify(struct req *r)
{
	struct auth *au = r->a->auth;
	const char *h = MHD_lookup_connection_value(r->conn, MHD_HEADER_KIND,
	    MHD_HTTP_HEADER_AUTHORIZATION);
	unsigned char digest[32];
	struct vault *v;
	int64_t now = timefmt_mono_ms();
	size_t len;
	enum vault_apikey_why why = VAULT_APIKEY_NO_ID;
	enum ov_rc rc;

	r->auth_done = 1;
	if (h == NULL)
		return verify_fail(r, AUTH_NO_HEADER, OV_OK);
	if (strncasecmp(h, "Bearer ", 7) != 0)
		return verify_fail(r, AUTH_NOT_BEARER, OV_OK);
	h += 7;
	while (*h == ' ')
		h++;
	len = strlen(h);
	crypto_generichash(digest, sizeof(digest), (const unsigned char *)h,
	    len, au->digest_key, sizeof(au->digest_key));
	if (cache_lookup(au, r, digest, now, AUTH_CACHE_MS) == 0)
		return 0;
	if ((v = admin_vault(r)) == NULL)
		return verify_fail(r, AUTH_ERROR, OV_EINTERNAL);  /* answered */
	rc = vault_apikey_verify(v, h, len, &r->key, &why);
	if (rc == OV_ENOTFOUND) {
		/* A known id is 16 hex digits after "ov_" (key_parse). */
		snprintf(r->auth_key_id, sizeof(r->auth_key_id), "%.*s",
		    VAULT_APIKEY_ID_LEN, why != VAULT_APIKEY_NO_ID ? h + 3 :
		    "");
		if (why == VAULT_APIKEY_EXPIRED) {
			snprintf(r->auth_error, sizeof(r->auth_error), "%s",
			    ov_errmsg());
			return verify_fail(r, AUTH_EXPIRED, rc);
		}
		return verify_fail(r, AUTH_UNKNOWN, rc);
	}
	if ((rc == OV_EIO || rc == OV_EBUSY) &&
	    cache_lookup(au, r, digest, now, AUTH_OUTAGE_MS) == 0)
		return 0;
	if (rc != OV_OK)
		return verify_fail(r, AUTH_ERROR, rc);
	r->authed = 1;
	cache_store(au, r, digest, now);
	{	/* events from now on name the key */
		char actor[OV_ACTOR_MAX + 1];

		snprintf(actor, sizeof(actor), "api:%s", r->key.name);
		vault_set_actor(v, actor);
	}
	return 0;
}

int
auth_check(struct req *r, enum MHD_Result *answered)
{
	if (!r->auth_done)
		auth_verify(r);
	if (r->authed)
		return 0;
	if (r->status) {	/* auth_verify answered (no vault) */
		*answered = MHD_YES;
		return -1;
	}
	switch (r->auth_fail) {
	case AUTH_NO_HEADER:
		*answered = http_problem(r, 401, "unauthorized", NULL, "send "
		    "an API key as 'Authorization: Bearer ov_...' (orgvault "
		    "apikey create)");
		break;
	case AUTH_NOT_BEARER:
		*answered = unauthorized(r, NULL, "unauthorized", "the "
		    "Authorization header must be 'Bearer <API key>'");
		break;
	case AUTH_UNKNOWN:
		*answered = unauthorized(r, r->auth_key_id[0] ?
		    r->auth_key_id : NULL, "unauthorized", "invalid API key "
		    "(unknown, revoked or mistyped)");
		break;
	case AUTH_EXPIRED:
		*answered = unauthorized(r, r->auth_key_id, "key-expired",
		    r->auth_error);
		break;
	default:
		*answered = http_rc(r, r->auth_rc);
		break;
	}
	return -1;
}

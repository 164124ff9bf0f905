/*
 * auth.c — API keys on requests: "Authorization: Bearer ov_…".
 *
 * The vault verifies a key (keyed hash, constant-time compare).  To keep
 * the token broker off SQLite, a verified key is remembered for one
 * second under a keyed digest of the presented key (never the key
 * itself): a key revoked through the API stops at once, one revoked by
 * the CLI within a second.
 *
 * Failures are counted per client address: AUTH_FAIL_MAX failures in
 * AUTH_WINDOW_MS block the address for AUTH_BLOCK_S seconds (429), and
 * each block is an audit event.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <sodium.h>

#include "admin/admin_int.h"
#include "util/log.h"
#include "util/timefmt.h"

#define AUTH_CACHE_SLOTS	1024
#define AUTH_CACHE_MS		1000
#define AUTH_FAIL_SLOTS		1024
#define AUTH_FAIL_MAX		10
#define AUTH_WINDOW_MS		60000
#define AUTH_BLOCK_S		60

struct cached_key {
	unsigned char		digest[32];
	int64_t			checked_ms;
	struct vault_apikey	key;
};

struct failures {
	char	ip[64];
	int	count;
	int64_t	window_start_ms, blocked_until_ms;
};

struct auth {
	pthread_mutex_t		lock;
	unsigned char		digest_key[crypto_generichash_KEYBYTES];
	struct cached_key	cache[AUTH_CACHE_SLOTS];
	struct failures		fail[AUTH_FAIL_SLOTS];
};

struct auth *
auth_new(void)
{
	struct auth *au = calloc(1, sizeof(*au));

	if (au == NULL)
		return NULL;
	pthread_mutex_init(&au->lock, NULL);
	randombytes_buf(au->digest_key, sizeof(au->digest_key));
	return au;
}

void
auth_free(struct auth *au)
{
	if (au == NULL)
		return;
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

static struct failures *
fail_slot(struct auth *au, const char *ip)
{
	unsigned char h[8];

	crypto_generichash(h, sizeof(h), (const unsigned char *)ip,
	    strlen(ip), au->digest_key, sizeof(au->digest_key));
	return &au->fail[(h[0] | h[1] << 8) % AUTH_FAIL_SLOTS];
}

/* Seconds the address must wait, 0 if it may try. */
static long
blocked(struct auth *au, const char *ip, int64_t now)
{
	struct failures *f;
	long wait = 0;

	pthread_mutex_lock(&au->lock);
	f = fail_slot(au, ip);
	if (strcmp(f->ip, ip) == 0 && f->blocked_until_ms > now)
		wait = (long)((f->blocked_until_ms - now + 999) / 1000);
	pthread_mutex_unlock(&au->lock);
	return wait;
}

/* Counts a failure; returns 1 when it starts a block. */
static int
count_failure(struct auth *au, const char *ip, int64_t now)
{
	struct failures *f;
	int starts = 0;

	pthread_mutex_lock(&au->lock);
	f = fail_slot(au, ip);
	if (strcmp(f->ip, ip) != 0 || now - f->window_start_ms >
	    AUTH_WINDOW_MS) {
		snprintf(f->ip, sizeof(f->ip), "%s", ip);
		f->count = 0;
		f->window_start_ms = now;
	}
	if (++f->count >= AUTH_FAIL_MAX && f->blocked_until_ms <= now) {
		f->blocked_until_ms = now + AUTH_BLOCK_S * 1000;
		f->count = 0;
		f->window_start_ms = now;
		starts = 1;
	}
	pthread_mutex_unlock(&au->lock);
	return starts;
}

static void
record_block(struct req *r)
{
	struct vault *v = admin_vault(r);
	json_t *d = json_pack("{s:s, s:i, s:i, s:i}", "address", r->ip,
	    "failures", AUTH_FAIL_MAX, "window_s", AUTH_WINDOW_MS / 1000,
	    "blocked_s", AUTH_BLOCK_S);

	log_warnx("request id=%s: %d failed API-key checks from %s: "
	    "blocking it for %d s", r->id, AUTH_FAIL_MAX, r->ip, AUTH_BLOCK_S);
	if (v && vault_event_add(v, "auth.throttled", NULL, d) != OV_OK)
		log_warnx("recording auth.throttled: %s", ov_errmsg());
	json_decref(d);
}

static enum MHD_Result
too_many(struct req *r, long wait)
{
	char ra[24];

	atomic_fetch_add(&r->a->metrics.auth_throttled, 1);
	snprintf(ra, sizeof(ra), "%ld", wait);
	http_header(r, MHD_HTTP_HEADER_RETRY_AFTER, ra);
	return http_problem(r, 429, "too-many-requests", NULL, "too many "
	    "failed API-key checks from %s; retry in %ld s", r->ip, wait);
}

static enum MHD_Result
unauthorized(struct req *r, const char *why)
{
	atomic_fetch_add(&r->a->metrics.auth_failures, 1);
	if (count_failure(r->a->auth, r->ip, timefmt_mono_ms())) {
		atomic_fetch_add(&r->a->metrics.auth_throttled, 1);
		record_block(r);
	}
	return http_problem(r, 401, "unauthorized", NULL, "%s", why);
}

int
auth_check(struct req *r, enum MHD_Result *answered)
{
	struct auth *au = r->a->auth;
	const char *h = MHD_lookup_connection_value(r->conn, MHD_HEADER_KIND,
	    MHD_HTTP_HEADER_AUTHORIZATION);
	unsigned char digest[32];
	struct cached_key *slot;
	struct vault *v;
	int64_t now = timefmt_mono_ms();
	size_t len;
	long wait;
	enum ov_rc rc;

	if ((wait = blocked(au, r->ip, now)) > 0) {
		*answered = too_many(r, wait);
		return -1;
	}
	if (h == NULL) {
		*answered = http_problem(r, 401, "unauthorized", NULL, "send an "
		    "API key as 'Authorization: Bearer ov_...' (orgvault apikey "
		    "create)");
		return -1;
	}
	if (strncasecmp(h, "Bearer ", 7) != 0) {
		*answered = unauthorized(r, "the Authorization header must be "
		    "'Bearer <API key>'");
		return -1;
	}
	h += 7;
	while (*h == ' ')
		h++;
	len = strlen(h);
	crypto_generichash(digest, sizeof(digest), (const unsigned char *)h,
	    len, au->digest_key, sizeof(au->digest_key));
	pthread_mutex_lock(&au->lock);
	slot = &au->cache[(digest[0] | digest[1] << 8) % AUTH_CACHE_SLOTS];
	if (slot->checked_ms && now - slot->checked_ms < AUTH_CACHE_MS &&
	    sodium_memcmp(slot->digest, digest, sizeof(digest)) == 0) {
		r->key = slot->key;
		r->authed = 1;
	}
	pthread_mutex_unlock(&au->lock);
	if (r->authed)
		return 0;
	if ((v = admin_vault(r)) == NULL) {
		*answered = MHD_YES;	/* answered */
		return -1;
	}
	rc = vault_apikey_verify(v, h, len, &r->key);
	if (rc == OV_ENOTFOUND) {
		*answered = unauthorized(r, "invalid API key (unknown, revoked "
		    "or mistyped)");
		return -1;
	}
	if (rc != OV_OK) {
		*answered = http_rc(r, rc);
		return -1;
	}
	r->authed = 1;
	pthread_mutex_lock(&au->lock);
	memcpy(slot->digest, digest, sizeof(digest));
	slot->key = r->key;
	slot->checked_ms = now;
	pthread_mutex_unlock(&au->lock);
	{	/* events from now on name the key */
		char actor[OV_ACTOR_MAX + 1];

		snprintf(actor, sizeof(actor), "api:%s", r->key.name);
		vault_set_actor(v, actor);
	}
	return 0;
}

/*
 * broker.c — the token broker: GET …/token answered from memory.
 *
 * An entry per credential asked for holds its current access token (in
 * secure memory), expiry, refresh deadline and status.  An entry older
 * than BROKER_RECHECK_MS is checked against the vault (a cheap read; the
 * token is decrypted again only when its generation changed), so CLI
 * changes and other `serve` processes are seen within a second; when
 * that read fails (the database locked or unreachable) the entry's token
 * is served as long as it is valid.  The scheduler's listener
 * (broker_on_result) updates entries at once.
 *
 *   valid token, before its refresh deadline  200
 *   valid token, inside the refresh window    200, X-Token-Refreshing,
 *                                             one refresh requested
 *   no valid token, an attempt due or in     wait (connection
 *   flight                                    suspended) up to 5 s for
 *                                             the one refresh, then 200
 *                                             or 503 + Retry-After
 *   no valid token, in backoff or paused by   503 at once, Retry-After
 *   a 429                                     the time to its next try
 *   revoked, held (outcome unknown),          409, a problem type per
 *   disabled, tampered; invalid_client or     fix, no Retry-After: only
 *   secret_or_grant_refused without a token   an operator can end it
 *
 * POST …/refresh waits the same way for the attempt it requests.
 * One mutex guards the entries and the waiters; the hot path holds it
 * for a lookup and a copy.
 *
 * Once serve listens, a thread loads every valid token (preload_main),
 * so that a database that is unreachable before a caller first asks
 * still leaves the broker something to serve.  It stops at half of the
 * secure-memory pool, which the scheduler and requests need too.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <sodium.h>

#include "admin/admin_int.h"
#include "util/log.h"
#include "util/secmem.h"
#include "util/timefmt.h"
#include "vault/render.h"

#define BROKER_BUCKETS		4096
#define BROKER_RECHECK_MS	1000
#define BROKER_WAIT_MS		5000	/* token requests */
#define BROKER_REFRESH_WAIT_MS	(OV_REQUEST_TIMEOUT_MS + 10000)
#define BROKER_MIN_LEFT_S	5	/* a token this close to expiry is
					 * not handed out */
#define BROKER_RETRY_AFTER_S	2

struct entry {
	char		 key[2 * OV_SLUG_MAX + 2];	/* org/name */
	int64_t		 cred_id;
	char		 status[32];
	char		 last_error[OV_OAUTH_DESC_MAX + OV_OAUTH_ERROR_MAX + 8];
	int64_t		 last_attempt_at;
	struct secret	*token;
	int64_t		 generation;
	char		 token_type[16];
	char		 scope[OV_SCOPE_MAX + 1];
	int64_t		 expires_at, next_refresh_at;
	int		 failures;	/* consecutive, of the last attempts */
	char		 token_url[OV_URL_MAX + 1];	/* its pause */
	char		 client_id[OV_CLIENT_ID_MAX + 1];
	int64_t		 checked_ms;
	int64_t		 verified_ms;	/* its row MAC last verified */
	int		 refreshing;	/* asked the scheduler */
	struct req	*waiters;	/* linked by wait_next */
	struct entry	*next_name, *next_id;
};

struct broker {
	struct admin	*a;
	pthread_mutex_t	 lock;
	pthread_cond_t	 cond;		/* a new earliest wait, or stop */
	pthread_t	 timer, preload;
	int		 timer_started, preload_started, stop;
	struct entry	*by_name[BROKER_BUCKETS], *by_id[BROKER_BUCKETS];
	size_t		 nwaiting;
};

enum wait_kind { WAIT_TOKEN = 1, WAIT_REFRESH = 2 };

static uint32_t
hash_str(const char *s)
{
	uint32_t h = 2166136261u;

	while (*s)
		h = (h ^ (unsigned char)*s++) * 16777619u;
	return h % BROKER_BUCKETS;
}

static uint32_t
hash_id(int64_t id)
{
	return (uint32_t)((uint64_t)id * 2654435761u) % BROKER_BUCKETS;
}

static struct entry *
find_name(struct broker *b, const char *key)
{
	struct entry *e = b->by_name[hash_str(key)];

	while (e && strcmp(e->key, key) != 0)
		e = e->next_name;
	return e;
}

static struct entry *
find_id(struct broker *b, int64_t id)
{
	struct entry *e = b->by_id[hash_id(id)];

	while (e && e->cred_id != id)
		e = e->next_id;
	return e;
}

static void
unlink_id(struct broker *b, struct entry *e)
{
	for (struct entry **p = &b->by_id[hash_id(e->cred_id)]; *p;
	    p = &(*p)->next_id)
		if (*p == e) {
			*p = e->next_id;
			return;
		}
}

/* ----------------------------------------------------------------- waits */

/* Lock held.  Takes r off its entry's list and lets MHD run it again. */
static void
wake(struct broker *b, struct req *r, int timed_out)
{
	struct entry *e = r->wait_entry;

	for (struct req **p = &e->waiters; *p; p = &(*p)->wait_next)
		if (*p == r) {
			*p = r->wait_next;
			break;
		}
	r->wait_next = NULL;
	r->wait_entry = NULL;
	r->timed_out = timed_out;
	if (timed_out)
		e->refreshing = 0;	/* a lost request must not stick */
	r->suspended = 0;
	r->resumed = 1;
	b->nwaiting--;
	MHD_resume_connection(r->conn);
}

/* Lock held.  Suspends r until its credential's attempt is told. */
static void
wait_on(struct broker *b, struct entry *e, struct req *r,
    enum wait_kind kind, int64_t ms)
{
	r->wait_kind = kind;
	r->wait_until_ms = timefmt_mono_ms() + ms;
	r->wait_entry = e;
	r->wait_next = e->waiters;
	e->waiters = r;
	r->suspended = 1;
	b->nwaiting++;
	MHD_suspend_connection(r->conn);
	pthread_cond_signal(&b->cond);
}

static void *
timer_main(void *arg)
{
	struct broker *b = arg;

	pthread_mutex_lock(&b->lock);
	while (!b->stop) {
		int64_t now = timefmt_mono_ms(), next = now + 60000;
		struct timespec ts;

		for (size_t i = 0; b->nwaiting && i < BROKER_BUCKETS; i++)
			for (struct entry *e = b->by_name[i]; e;
			    e = e->next_name)
				for (struct req *r = e->waiters, *n; r; r = n) {
					n = r->wait_next;
					if (r->wait_until_ms <= now)
						wake(b, r, 1);
					else if (r->wait_until_ms < next)
						next = r->wait_until_ms;
				}
		ts.tv_sec = (time_t)(next / 1000);
		ts.tv_nsec = (long)(next % 1000) * 1000000;
		pthread_cond_timedwait(&b->cond, &b->lock, &ts);
	}
	pthread_mutex_unlock(&b->lock);
	return NULL;
}

/* ------------------------------------------------------------- entries */

static int
held(const char *status)
{
	return strcmp(status, "revoked") == 0 ||
	    strcmp(status, "unknown") == 0 ||
	    strcmp(status, "disabled") == 0 ||
	    strcmp(status, "tampered") == 0;
}

/* Lock held: the entry of org/name, created when missing. */
static struct entry *
entry_get(struct broker *b, const char *key, int64_t cred_id)
{
	struct entry *e = find_name(b, key);
	uint32_t h;

	if (e == NULL) {
		if ((e = calloc(1, sizeof(*e))) == NULL)
			return NULL;
		snprintf(e->key, sizeof(e->key), "%s", key);
		h = hash_str(key);
		e->next_name = b->by_name[h];
		b->by_name[h] = e;
		e->cred_id = -1;
		e->generation = -1;
	}
	if (e->cred_id != cred_id) {	/* new, or deleted and re-created */
		if (e->cred_id >= 0)
			unlink_id(b, e);
		e->cred_id = cred_id;
		h = hash_id(cred_id);
		e->next_id = b->by_id[h];
		b->by_id[h] = e;
		secret_free(e->token);
		e->token = NULL;
		e->generation = -1;
	}
	return e;
}

/* Reads org/name from the vault into its entry (decrypting the token
 * only when it changed, or always when the cache is off). */
static enum ov_rc
load(struct broker *b, struct vault *v, const char *key, const char *org,
    const char *name)
{
	struct vault_cred c;
	struct secret *tok = NULL;
	struct entry *e;
	int64_t have = -1, gen;
	enum ov_rc rc;
	int verify;

	/* The credential row and its token are two reads: a refresh
	 * committed between them is seen as a token of another generation;
	 * read both again then, so expiry and deadline match the token. */
	for (int tries = 0; tries < 3; tries++) {
		secret_free(tok);
		tok = NULL;
		if ((rc = vault_cred_get(v, org, name, &c)) == OV_ENOTFOUND) {
			/* Deleted: its token leaves memory now. */
			pthread_mutex_lock(&b->lock);
			if ((e = find_name(b, key)) != NULL) {
				secret_free(e->token);
				e->token = NULL;
				e->generation = -1;
			}
			pthread_mutex_unlock(&b->lock);
		}
		if (rc != OV_OK)
			return rc;
		pthread_mutex_lock(&b->lock);
		if ((e = find_name(b, key)) && e->cred_id == c.id && e->token)
			have = e->generation;
		pthread_mutex_unlock(&b->lock);
		if (c.expires_at == 0 || (c.token_generation == have &&
		    b->a->cfg.token_cache))
			break;
		rc = vault_token_open_gen(v, c.id, &tok, &gen);
		if (rc != OV_OK && rc != OV_ENOTFOUND)
			return rc;
		if (rc == OV_ENOTFOUND || gen == c.token_generation)
			break;
	}
	/* A row edited in the database is found here too, not only when
	 * the scheduler next opens its secrets: verified at most once a
	 * recheck period per entry (with --token-cache off every request
	 * loads). */
	pthread_mutex_lock(&b->lock);
	e = find_name(b, key);
	verify = e == NULL || e->cred_id != c.id ||
	    timefmt_mono_ms() - e->verified_ms >= BROKER_RECHECK_MS;
	pthread_mutex_unlock(&b->lock);
	if (verify && strcmp(c.status, "tampered") != 0 &&
	    vault_cred_verify(v, c.id) == OV_EINTEGRITY)
		snprintf(c.status, sizeof(c.status), "tampered");
	pthread_mutex_lock(&b->lock);
	if ((e = entry_get(b, key, c.id)) == NULL) {
		pthread_mutex_unlock(&b->lock);
		secret_free(tok);
		return ov_seterr(OV_ENOMEM, "out of memory");
	}
	if (e->token && e->generation > c.token_generation) {
		/* The scheduler's listener brought a newer token while we
		 * read this one: keep what it wrote. */
		pthread_mutex_unlock(&b->lock);
		secret_free(tok);
		return OV_OK;
	}
	if (tok || c.expires_at == 0) {
		secret_free(e->token);
		e->token = tok;
		e->generation = c.token_generation;
		snprintf(e->token_type, sizeof(e->token_type), "Bearer");
	}
	snprintf(e->status, sizeof(e->status), "%s", c.status);
	snprintf(e->last_error, sizeof(e->last_error), "%s", c.last_error);
	snprintf(e->scope, sizeof(e->scope), "%s", c.granted_scope);
	e->last_attempt_at = c.last_attempt_at;
	e->expires_at = c.expires_at;
	e->next_refresh_at = c.next_refresh_at;
	e->failures = c.consecutive_failures;
	snprintf(e->token_url, sizeof(e->token_url), "%s", c.token_url);
	snprintf(e->client_id, sizeof(e->client_id), "%s", c.client_id);
	e->checked_ms = timefmt_mono_ms();
	if (verify)
		e->verified_ms = e->checked_ms;
	pthread_mutex_unlock(&b->lock);
	return OV_OK;
}

void
broker_forget(struct broker *b, const char *org, const char *name)
{
	char key[2 * OV_SLUG_MAX + 2];
	size_t n = (size_t)snprintf(key, sizeof(key), "%s/%s", org,
	    name ? name : "");

	pthread_mutex_lock(&b->lock);
	for (size_t i = 0; i < BROKER_BUCKETS; i++)
		for (struct entry *e = b->by_name[i]; e; e = e->next_name)
			if (name ? strcmp(e->key, key) == 0 :
			    strncmp(e->key, key, n) == 0)
				e->checked_ms = 0;	/* reread it */
	pthread_mutex_unlock(&b->lock);
}

/* ------------------------------------------------------ scheduler news */

void
broker_on_result(void *arg, const struct rot_result *res)
{
	struct broker *b = arg;
	const struct vault_refresh *rec = res->rec;
	struct entry *e;

	metrics_refresh(&b->a->metrics, res);
	pthread_mutex_lock(&b->lock);
	if ((e = find_id(b, res->cred->id)) == NULL)
		goto out;
	e->refreshing = 0;
	if (res->busy) {
		/* Someone else is at it: token waits go on (they reread the
		 * vault when they time out); a refresh request hears now.
		 * Superseded: a newer token is stored; token waits reread
		 * the vault now. */
		if (res->superseded)
			e->checked_ms = 0;
		for (struct req *r = e->waiters, *n; r; r = n) {
			n = r->wait_next;
			if (res->superseded && r->wait_kind == WAIT_TOKEN)
				wake(b, r, 0);
			else if (!res->superseded &&
			    r->wait_kind == WAIT_REFRESH) {
				r->busy = 1;
				r->outcome = (int)res->outcome;
				wake(b, r, 0);
			}
		}
		goto out;
	}
	/* Parked: not in the database yet (disk full, read-only), but the
	 * new token is good: serve it from memory meanwhile. */
	if ((res->recorded || res->parked) && rec->access_token) {
		struct secret *t;

		if (secret_from(rec->access_token->buf,
		    rec->access_token->len, &t) == OV_OK) {
			secret_free(e->token);
			e->token = t;
			e->generation = res->cred->token_generation + 1;
			snprintf(e->token_type, sizeof(e->token_type), "%s",
			    rec->token_type ? rec->token_type : "Bearer");
			snprintf(e->scope, sizeof(e->scope), "%s",
			    rec->granted_scope ? rec->granted_scope : "");
			e->expires_at = rec->expires_at;
		} else
			e->checked_ms = 0;
	}
	if (res->recorded || res->parked) {
		snprintf(e->status, sizeof(e->status), "%s", rec->status);
		e->next_refresh_at = rec->next_refresh_at;
		e->failures = rec->consecutive_failures;
		snprintf(e->last_error, sizeof(e->last_error), "%s%s%s",
		    rec->oauth_error ? rec->oauth_error : "",
		    rec->description && *rec->description ? ": " : "",
		    rec->description ? rec->description : "");
		e->last_attempt_at = timefmt_now();
	} else
		e->checked_ms = 0;	/* not stored: ask the vault */
	while (e->waiters) {
		e->waiters->outcome = (int)res->outcome;
		wake(b, e->waiters, 0);
	}
out:
	pthread_mutex_unlock(&b->lock);
}

/* -------------------------------------------------------------- answers */

/* JSON string contents, at most 6 bytes out per byte in; tokens are
 * printable ASCII, scopes too. */
static size_t
escape(char *out, const char *in, size_t inlen)
{
	static const char hex[] = "0123456789abcdef";
	size_t o = 0;

	for (size_t i = 0; i < inlen; i++) {
		unsigned char ch = (unsigned char)in[i];

		if (ch == '"' || ch == '\\') {
			out[o++] = '\\';
			out[o++] = (char)ch;
		} else if (ch < 0x20) {
			memcpy(out + o, "\\u00", 4);
			out[o + 4] = hex[ch >> 4];
			out[o + 5] = hex[ch & 15];
			o += 6;
		} else
			out[o++] = (char)ch;
	}
	return o;
}

/* Lock held: the answer's body, in secure memory.  cap holds both
 * escaped strings at their worst (6x) plus the fixed fields (token_type
 * < 16, the time < 32, expires_in < 21 bytes, ~90 of names). */
static char *
token_body(const struct entry *e, int64_t now, size_t *len)
{
	size_t tl = e->token->len, sl = strlen(e->scope);
	size_t cap = 6 * (tl + sl) + 256, o;
	char *buf = secmem_alloc(cap), exp[32];
	int n;

	if (buf == NULL)
		return NULL;
	timefmt_rfc3339(e->expires_at, exp, sizeof(exp));
	o = (size_t)snprintf(buf, cap, "{\"access_token\":\"");
	o += escape(buf + o, (const char *)e->token->buf, tl);
	n = snprintf(buf + o, cap - o, "\",\"token_type\":\"%s\","
	    "\"expires_at\":\"%s\",\"expires_in\":%lld,\"scope\":\"",
	    e->token_type, exp, (long long)(e->expires_at - now));
	if (n < 0 || (size_t)n >= cap - o - 6 * sl - 3) {
		secmem_free(buf);
		return NULL;
	}
	o += (size_t)n;
	o += escape(buf + o, e->scope, sl);
	memcpy(buf + o, "\"}", 3);
	*len = o + 2;
	return buf;
}

static void
count_token(struct req *r, unsigned status)
{
	atomic_fetch_add(&r->a->metrics.token[http_status_index(status)], 1);
}

static enum MHD_Result
unavailable(struct req *r, const char *why, const char *status,
    long retry_after)
{
	char ra[24];

	count_token(r, 503);
	snprintf(ra, sizeof(ra), "%ld", retry_after > 0 ? retry_after : 1);
	http_header(r, MHD_HTTP_HEADER_RETRY_AFTER, ra);
	return http_problem(r, 503, "unavailable", NULL, "no valid access "
	    "token for this credential yet (%s, status %s); retry in %s s",
	    why, status, ra);
}

/* No token, and only an operator can bring one: 409 naming the fix. */
static enum MHD_Result
needs_operator(struct req *r, const struct entry *e)
{
	count_token(r, 409);
	if (strcmp(e->status, "invalid_client") == 0)
		return http_problem(r, 409, "credential-invalid-client", NULL,
		    "no valid access token: the provider refuses the client "
		    "secret (invalid_client); put a new one (orgvault cred put "
		    "--secret-file, or PUT this credential with "
		    "client_secret)");
	return http_problem(r, 409, "credential-secret-or-grant-refused",
	    NULL, "no valid access token: the provider refused the client "
	    "secret or the refresh token without saying which; put a new "
	    "client secret, or re-authorize for a new refresh token "
	    "(orgvault cred put --secret-file or --refresh-token-file)");
}

static enum MHD_Result
revoked(struct req *r, const struct entry *e)
{
	char when[32] = "";

	count_token(r, 409);
	if (strcmp(e->status, "tampered") == 0)
		return http_problem(r, 409, "credential-tampered", NULL, "the "
		    "credential is tampered: its destination or secrets were "
		    "changed outside orgvault, so no token is served or "
		    "requested for it; an operator must put its secrets again "
		    "(orgvault cred put, or PUT this credential with its "
		    "secrets)");
	if (e->last_attempt_at)
		timefmt_rfc3339(e->last_attempt_at, when, sizeof(when));
	/* The OAuth error code only: never the provider's own text. */
	return http_problem(r, 409, "credential-revoked", NULL, "the "
	    "credential is %s%s%s%s%.*s: %s", e->status, when[0] ? " since " :
	    "", when, e->last_error[0] ? "; provider error: " : "",
	    (int)strcspn(e->last_error, ": "), e->last_error,
	    strcmp(e->status, "unknown") == 0 ? "a refresh's outcome is "
	    "unknown; put a new refresh token (orgvault cred put)" :
	    strcmp(e->status, "revoked") == 0 ? "put a new refresh token or "
	    "client secret (orgvault cred put, or PUT this credential)" :
	    "enable it first");
}

/* Entry for org/name, reread from the vault when stale (lock NOT held
 * on return; NULL when answered). */
static int
fresh_entry(struct req *r, const char *org, const char *name, char *key,
    size_t keylen, int force, enum MHD_Result *ret)
{
	struct broker *b = r->a->broker;
	struct entry *e;
	struct vault *v;
	int stale;
	enum ov_rc rc;

	snprintf(key, keylen, "%s/%s", org, name);
	pthread_mutex_lock(&b->lock);
	e = find_name(b, key);
	stale = force || e == NULL || !b->a->cfg.token_cache ||
	    timefmt_mono_ms() - e->checked_ms >= BROKER_RECHECK_MS;
	pthread_mutex_unlock(&b->lock);
	if (!stale)
		return 0;
	if ((v = admin_vault(r)) == NULL) {
		*ret = MHD_YES;
		return -1;
	}
	if ((rc = load(b, v, key, org, name)) != OV_OK) {
		/* The database unreachable or locked (a PostgreSQL restart, a
		 * cut network): what memory holds is still the newest token
		 * this process knows; serve_token judges its expiry. */
		if ((rc == OV_EIO || rc == OV_EBUSY) && !force) {
			pthread_mutex_lock(&b->lock);
			e = find_name(b, key);
			stale = e == NULL || e->token == NULL;
			pthread_mutex_unlock(&b->lock);
			if (!stale)
				return 0;
		}
		if (rc == OV_ENOTFOUND)
			*ret = http_problem(r, 404, "not-found", NULL, "no "
			    "credential %s/%s", org, name);
		else
			*ret = http_rc(r, rc);
		return -1;
	}
	return 0;
}

static enum MHD_Result
serve_token(struct req *r, struct entry *e, int64_t now, int refreshing)
{
	struct MHD_Response *resp;
	size_t len;
	char *body = token_body(e, now, &len);

	pthread_mutex_unlock(&r->a->broker->lock);
	if (body == NULL)
		return http_problem(r, 500, "internal", NULL, "out of memory");
	resp = MHD_create_response_from_buffer_with_free_callback(len, body,
	    secmem_free);
	if (resp == NULL) {
		secmem_free(body);
		return MHD_NO;
	}
	count_token(r, 200);
	http_header(r, MHD_HTTP_HEADER_CACHE_CONTROL, "no-store");
	if (refreshing)
		http_header(r, "X-Token-Refreshing", "true");
	return http_response(r, 200, resp, "application/json");
}

/* In backoff or paused (a failed last attempt): when the next attempt
 * may start (wall s), 0 when it may start now.  Lock held. */
static int64_t
backoff_end(struct req *r, const struct entry *e, int64_t now)
{
	int64_t paused = (rot_scheduler_paused(r->a->sched, e->token_url,
	    e->client_id, NULL) + 999) / 1000;
	int64_t next = e->failures > 0 && e->next_refresh_at > now ?
	    e->next_refresh_at : 0;

	return paused > next ? paused : next;
}

enum MHD_Result
broker_token(struct req *r, const char *org, const char *name)
{
	struct broker *b = r->a->broker;
	char key[2 * OV_SLUG_MAX + 2];
	struct entry *e;
	int64_t now = timefmt_now(), id, gen, next;
	int ask = 0, in_window;
	enum MHD_Result ret;

	if (fresh_entry(r, org, name, key, sizeof(key), r->timed_out, &ret))
		return ret;
	pthread_mutex_lock(&b->lock);
	if ((e = find_name(b, key)) == NULL) {	/* gone meanwhile */
		pthread_mutex_unlock(&b->lock);
		return http_problem(r, 404, "not-found", NULL, "no credential "
		    "%s/%s", org, name);
	}
	if (held(e->status)) {
		ret = revoked(r, e);
		pthread_mutex_unlock(&b->lock);
		return ret;
	}
	id = e->cred_id;
	gen = e->generation;	/* the refresh asked for is of this token */
	if (e->token && e->expires_at - now >= BROKER_MIN_LEFT_S) {
		in_window = e->next_refresh_at && now >= e->next_refresh_at;
		if (in_window && !e->refreshing &&
		    strcmp(e->status, "invalid_client") != 0 &&
		    strcmp(e->status, "secret_or_grant_refused") != 0) {
			e->refreshing = ask = 1;
		}
		ret = serve_token(r, e, now, in_window);	/* unlocks */
		if (ask)
			rot_scheduler_request(r->a->sched, id, gen, NULL, NULL);
		return ret;
	}
	if (strcmp(e->status, "invalid_client") == 0 ||
	    strcmp(e->status, "secret_or_grant_refused") == 0) {
		ret = needs_operator(r, e);
		pthread_mutex_unlock(&b->lock);
		return ret;
	}
	/* In backoff or paused: the scheduler's next try is the answer. */
	next = r->resumed || e->refreshing ? 0 : backoff_end(r, e, now);
	if (r->resumed || next > now) {
		char status[32];

		snprintf(status, sizeof(status), "%s", e->status);
		pthread_mutex_unlock(&b->lock);
		return unavailable(r, r->resumed ? "the refresh did not bring "
		    "one in time" : "the last attempt failed or was answered "
		    "429; the next is scheduled", status, r->resumed ?
		    BROKER_RETRY_AFTER_S : (long)(next - now));
	}
	if (b->stop) {		/* no wait may begin: nobody would end it */
		pthread_mutex_unlock(&b->lock);
		return unavailable(r, "serve is stopping", "-",
		    BROKER_RETRY_AFTER_S);
	}
	if (!e->refreshing)
		e->refreshing = ask = 1;
	wait_on(b, e, r, WAIT_TOKEN, BROKER_WAIT_MS);
	pthread_mutex_unlock(&b->lock);
	if (ask)
		rot_scheduler_request(r->a->sched, id, gen, NULL, NULL);
	return MHD_YES;
}

/* A refresh asked of a client paused by a 429: 503 until its end. */
static enum MHD_Result
paused_answer(struct req *r, const struct vault_cred *c)
{
	const char *why = NULL;
	int64_t until = rot_scheduler_paused(r->a->sched, c->token_url,
	    c->client_id, &why);
	long wait = (long)((until - timefmt_now_ms() + 999) / 1000);
	char ra[24];

	snprintf(ra, sizeof(ra), "%ld", wait > 0 ? wait : 1);
	http_header(r, MHD_HTTP_HEADER_RETRY_AFTER, ra);
	return http_problem(r, 503, "unavailable", NULL, "%s/%s cannot be "
	    "refreshed for %s s: %s answered 429", c->org, c->name, ra,
	    why && strcmp(why, "host_rate_limited") == 0 ? "its token host "
	    "(several clients)" : "its token endpoint, for its client,");
}

enum MHD_Result
broker_refresh(struct req *r, const char *org, const char *name)
{
	struct broker *b = r->a->broker;
	char key[2 * OV_SLUG_MAX + 2];
	struct vault_cred c;
	struct vault *v;
	struct entry *e;
	int64_t id;
	enum MHD_Result ret;
	enum ov_rc rc;

	if (r->resumed) {
		if (r->timed_out)
			return http_problem(r, 503, "unavailable", NULL,
			    "the refresh is still running; see the "
			    "credential's status in a moment");
		if (r->busy && r->outcome != OAUTH_RATE_LIMITED)
			return http_problem(r, 409, "conflict", NULL, "%s/%s "
			    "cannot be refreshed right now: another process "
			    "holds its lease", org, name);
		if ((v = admin_vault(r)) == NULL)
			return MHD_YES;
		if ((rc = vault_cred_get(v, org, name, &c)) != OV_OK)
			return http_rc(r, rc);
		if (r->busy)
			return paused_answer(r, &c);
		return http_json(r, 200, json_pack("{s:s, s:o}", "outcome",
		    oauth_outcome_str((enum oauth_outcome)r->outcome),
		    "credential", admin_render_cred(r->a, &c)));
	}
	if (fresh_entry(r, org, name, key, sizeof(key), 1, &ret))
		return ret;
	pthread_mutex_lock(&b->lock);
	if ((e = find_name(b, key)) == NULL) {
		pthread_mutex_unlock(&b->lock);
		return http_problem(r, 404, "not-found", NULL, "no credential "
		    "%s/%s", org, name);
	}
	if (b->stop) {
		pthread_mutex_unlock(&b->lock);
		return http_problem(r, 503, "unavailable", NULL, "serve is "
		    "stopping");
	}
	e->refreshing = 1;
	id = e->cred_id;
	wait_on(b, e, r, WAIT_REFRESH, BROKER_REFRESH_WAIT_MS);
	pthread_mutex_unlock(&b->lock);
	admin_request_refresh(r, id);
	return MHD_YES;
}

/* ------------------------------------------------------------- preload */

struct preload {
	struct preload_item {
		char	org[OV_SLUG_MAX + 1], name[OV_SLUG_MAX + 1];
	}	*item;
	size_t	 n, cap;
	int64_t	 now;
};

/* vault_cred_list callback: the credentials whose token the broker
 * would hand out now. */
static int
preload_pick(const struct vault_cred *c, void *arg)
{
	struct preload *p = arg;
	struct preload_item *grown;

	if (c->expires_at <= p->now + BROKER_MIN_LEFT_S || held(c->status))
		return 0;
	if (p->n == p->cap) {
		size_t cap = p->cap ? 2 * p->cap : 256;

		if ((grown = realloc(p->item, cap * sizeof(*grown))) == NULL)
			return 1;
		p->item = grown;
		p->cap = cap;
	}
	snprintf(p->item[p->n].org, sizeof(p->item[p->n].org), "%s", c->org);
	snprintf(p->item[p->n].name, sizeof(p->item[p->n].name), "%s",
	    c->name);
	p->n++;
	return 0;
}

static int
stopping(struct broker *b)
{
	int stop;

	pthread_mutex_lock(&b->lock);
	stop = b->stop;
	pthread_mutex_unlock(&b->lock);
	return stop;
}

static void *
preload_main(void *arg)
{
	struct broker *b = arg;
	struct preload p = { .now = timefmt_now() };
	char key[2 * OV_SLUG_MAX + 2];
	int64_t t0 = timefmt_mono_ms();
	size_t loaded = 0, i;
	struct vault *v;
	enum ov_rc rc;

	if ((v = admin_vault_take(b->a)) == NULL) {
		log_warnx("token broker: no tokens loaded at start: %s",
		    ov_errmsg());
		return NULL;
	}
	vault_set_actor(v, "serve");
	if ((rc = vault_cred_list(v, &(struct vault_cred_filter){ 0 },
	    preload_pick, &p)) != OV_OK) {
		log_warnx("token broker: no tokens loaded at start: %s",
		    ov_errmsg());
		goto out;
	}
	for (i = 0; i < p.n && !stopping(b); i++) {
		if (secmem_half_used()) {
			log_warnx("token broker: half of the secure memory "
			    "pool is in use; %zu of %zu tokens loaded at "
			    "start, the others load when asked for", loaded,
			    p.n);
			break;
		}
		snprintf(key, sizeof(key), "%s/%s", p.item[i].org,
		    p.item[i].name);
		if ((rc = load(b, v, key, p.item[i].org, p.item[i].name)) ==
		    OV_OK)
			loaded++;
		else if (rc == OV_EIO || rc == OV_EBUSY) {
			log_warnx("token broker: %zu of %zu tokens loaded at "
			    "start: %s", loaded, p.n, ov_errmsg());
			break;
		}
	}
	if (i == p.n)
		log_info("token broker: %zu tokens loaded at start (%lld ms)",
		    loaded, (long long)(timefmt_mono_ms() - t0));
out:
	free(p.item);
	admin_vault_put(b->a, v);
	return NULL;
}

/* Tokens held in memory (the orgvault_broker_tokens gauge). */
size_t
broker_tokens(struct broker *b)
{
	size_t n = 0;

	pthread_mutex_lock(&b->lock);
	for (size_t i = 0; i < BROKER_BUCKETS; i++)
		for (struct entry *e = b->by_name[i]; e; e = e->next_name)
			n += e->token != NULL;
	pthread_mutex_unlock(&b->lock);
	return n;
}

/* ------------------------------------------------------------ lifecycle */

struct broker *
broker_new(struct admin *a)
{
	struct broker *b = calloc(1, sizeof(*b));
	pthread_condattr_t ca;

	if (b == NULL)
		return NULL;
	b->a = a;
	pthread_mutex_init(&b->lock, NULL);
	pthread_condattr_init(&ca);
	pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);	/* waits */
	pthread_cond_init(&b->cond, &ca);
	pthread_condattr_destroy(&ca);
	if (pthread_create(&b->timer, NULL, timer_main, b) != 0) {
		free(b);
		return NULL;
	}
	b->timer_started = 1;
	return b;
}

/* Once the API listens (admin_start): a serve that cannot start loads
 * nothing.  Without the cache every request reads the vault anyway. */
void
broker_preload_start(struct broker *b)
{
	if (b->a->cfg.token_cache && !b->preload_started &&
	    pthread_create(&b->preload, NULL, preload_main, b) == 0)
		b->preload_started = 1;
}

void
broker_stop(struct broker *b)
{
	if (b == NULL)
		return;
	pthread_mutex_lock(&b->lock);
	b->stop = 1;
	for (size_t i = 0; i < BROKER_BUCKETS; i++)
		for (struct entry *e = b->by_name[i]; e; e = e->next_name)
			while (e->waiters)
				wake(b, e->waiters, 1);
	pthread_cond_signal(&b->cond);
	pthread_mutex_unlock(&b->lock);
	if (b->timer_started) {
		pthread_join(b->timer, NULL);
		b->timer_started = 0;
	}
	if (b->preload_started) {
		pthread_join(b->preload, NULL);
		b->preload_started = 0;
	}
}

void
broker_free(struct broker *b)
{
	if (b == NULL)
		return;
	broker_stop(b);
	for (size_t i = 0; i < BROKER_BUCKETS; i++)
		for (struct entry *e = b->by_name[i], *n; e; e = n) {
			n = e->next_name;
			secret_free(e->token);
			free(e);
		}
	pthread_cond_destroy(&b->cond);
	pthread_mutex_destroy(&b->lock);
	free(b);
}

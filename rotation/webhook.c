/*
 * webhook.c — the webhook sender: one thread that claims due
 * deliveries from the vault one at a time, POSTs each, and records the
 * answer.  It never sees a credential's secret; it opens a webhook's
 * signing secret for one signature and wipes it at once.
 *
 * Request (README.md "Webhooks"):
 *
 *   POST <the webhook's URL>
 *   Content-Type: application/json
 *   X-Orgvault-Event: <event>            revoked, failing, ...
 *   X-Orgvault-Delivery: <delivery id>   the same on every retry
 *   X-Orgvault-Timestamp: <unix seconds>  of this attempt
 *   X-Orgvault-Signature: sha256=<hex HMAC-SHA256(secret,
 *                                          timestamp "." body)>
 *   <body: the queued JSON, byte for byte>
 *
 * Hygiene (STYLE.md): https, or plain http only to loopback (checked
 * again before every POST); TLS verification on; no redirects; connect
 * and total timeouts; the answer's body is read into nothing and cut
 * off past a bound; never CURLOPT_VERBOSE.  Logs name the webhook and
 * delivery by id, never the URL (it may carry a token) or a body.
 *
 * A claim holds a delivery for OV_WEBHOOK_LEASE_S (longer than one
 * POST can take), so two serve processes never send it at once, and
 * one killed mid-POST leaves it due again after the lease.
 */
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <curl/curl.h>
#include <sodium.h>

#include "rotation/http.h"
#include "rotation/webhook.h"
#include "util/log.h"
#include "util/timefmt.h"
#include "util/validate.h"

#define POLL_MS		1000		/* new deliveries are seen this fast */
#define PRUNE_EVERY_S	3600

struct webhook_sender {
	struct vault	*v;
	pthread_t	 thread;
	pthread_mutex_t	 lock;
	pthread_cond_t	 wake;
	atomic_int	 stop;
	int64_t		 pruned_at;
};

void
webhook_sign(const struct secret *key, const char *timestamp,
    const char *body, size_t len, char out[WEBHOOK_SIGNATURE_LEN + 1])
{
	crypto_auth_hmacsha256_state st;
	unsigned char mac[crypto_auth_hmacsha256_BYTES];

	crypto_auth_hmacsha256_init(&st, key->buf, key->len);
	crypto_auth_hmacsha256_update(&st, (const unsigned char *)timestamp,
	    strlen(timestamp));
	crypto_auth_hmacsha256_update(&st, (const unsigned char *)".", 1);
	crypto_auth_hmacsha256_update(&st, (const unsigned char *)body, len);
	crypto_auth_hmacsha256_final(&st, mac);
	memcpy(out, "sha256=", 7);
	sodium_bin2hex(out + 7, WEBHOOK_SIGNATURE_LEN + 1 - 7, mac,
	    sizeof(mac));
	sodium_memzero(&st, sizeof(st));
}

long
webhook_backoff(int attempts, double rand01)
{
	double ceiling = 1;
	long s;

	for (int i = 1; i < attempts && ceiling < OV_WEBHOOK_BACKOFF_CAP_S;
	    i++)
		ceiling *= 2;
	if (ceiling > OV_WEBHOOK_BACKOFF_CAP_S)
		ceiling = OV_WEBHOOK_BACKOFF_CAP_S;
	/* "Equal jitter": never sooner than half the ceiling. */
	s = (long)(ceiling / 2 + rand01 * ceiling / 2 + 0.5);
	return s < 1 ? 1 : s;
}

/* ------------------------------------------------------------ one POST */

struct answer {
	size_t			 len;
	struct webhook_sender	*s;
};

/* The answer's body tells nothing we act on: count it, keep nothing. */
static size_t
on_answer(char *p, size_t size, size_t n, void *arg)
{
	struct answer *a = arg;

	(void)p;
	a->len += size * n;
	return a->len > OV_WEBHOOK_ANSWER_MAX ? 0 : size * n;
}

/* Lets stop() cut a slow POST short. */
static int
on_progress(void *arg, curl_off_t dt, curl_off_t dn, curl_off_t ut,
    curl_off_t un)
{
	struct answer *a = arg;

	return atomic_load(&a->s->stop) ? 1 : 0;
}

static struct curl_slist *
headers_new(const struct vault_delivery *d, const char *ts, const char *sig)
{
	struct curl_slist *h = NULL, *n;
	char line[4][128];

	snprintf(line[0], sizeof(line[0]), "X-Orgvault-Event: %s", d->event);
	snprintf(line[1], sizeof(line[1]), "X-Orgvault-Delivery: %lld",
	    (long long)d->id);
	snprintf(line[2], sizeof(line[2]), "X-Orgvault-Timestamp: %s", ts);
	snprintf(line[3], sizeof(line[3]), "X-Orgvault-Signature: %s", sig);
	if ((h = curl_slist_append(NULL, "Content-Type: application/json")) ==
	    NULL)
		return NULL;
	for (size_t i = 0; i < 4; i++) {
		if ((n = curl_slist_append(h, line[i])) == NULL) {
			curl_slist_free_all(h);
			return NULL;
		}
		h = n;
	}
	/* No "Expect: 100-continue" round trip. */
	if ((n = curl_slist_append(h, "Expect:")) == NULL)
		curl_slist_free_all(h);
	return n;
}

/*
 * POSTs d: 1 when it was answered 2xx.  *status is the HTTP status of
 * the answer (0: none) and err says what went wrong otherwise.
 */
static int
post(struct webhook_sender *s, const struct vault_delivery *d,
    const char *ts, const char *sig, long *status, char *err, size_t errlen)
{
	struct answer a = { 0, s };
	struct http_guard g = { .what = "webhook URL" };
	struct curl_slist *h = NULL;
	char url[OV_URL_MAX + 1];
	CURL *e = NULL;
	CURLcode code = CURLE_OUT_OF_MEMORY;

	*status = 0;
	if (validate_url("webhook URL", d->url, url, sizeof(url)) != OV_OK) {
		snprintf(err, errlen, "%s", ov_errmsg());
		return 0;
	}
	if ((e = curl_easy_init()) == NULL ||
	    (h = headers_new(d, ts, sig)) == NULL) {
		snprintf(err, errlen, "out of memory");
		goto out;
	}
	http_hygiene(e, url, (long)OV_WEBHOOK_CONNECT_MS,
	    (long)OV_WEBHOOK_TIMEOUT_MS, &g);
	curl_easy_setopt(e, CURLOPT_HTTPHEADER, h);
	curl_easy_setopt(e, CURLOPT_POST, 1L);
	curl_easy_setopt(e, CURLOPT_POSTFIELDS, d->body);
	curl_easy_setopt(e, CURLOPT_POSTFIELDSIZE, (long)d->body_len);
	curl_easy_setopt(e, CURLOPT_WRITEFUNCTION, on_answer);
	curl_easy_setopt(e, CURLOPT_WRITEDATA, &a);
	curl_easy_setopt(e, CURLOPT_NOPROGRESS, 0L);
	curl_easy_setopt(e, CURLOPT_XFERINFOFUNCTION, on_progress);
	curl_easy_setopt(e, CURLOPT_XFERINFODATA, &a);
	code = curl_easy_perform(e);
	curl_easy_getinfo(e, CURLINFO_RESPONSE_CODE, status);
	if (code == CURLE_WRITE_ERROR && a.len > OV_WEBHOOK_ANSWER_MAX)
		code = CURLE_OK;	/* answered, at length: it came */
	if (code == CURLE_ABORTED_BY_CALLBACK)
		snprintf(err, errlen, "abandoned: serve is stopping");
	else if (code != CURLE_OK)
		snprintf(err, errlen, "%s", http_error_text(code, &g));
	else if (*status < 200 || *status > 299)
		snprintf(err, errlen, "HTTP %ld", *status);
out:
	curl_slist_free_all(h);
	curl_easy_cleanup(e);
	return code == CURLE_OK && *status >= 200 && *status <= 299;
}

/* Signs, sends and records one claimed delivery. */
static void
deliver(struct webhook_sender *s, const struct vault_delivery *d)
{
	char ts[24], sig[WEBHOOK_SIGNATURE_LEN + 1];
	char err[OV_WEBHOOK_ERROR_MAX + 1] = "";
	struct secret *key = NULL;
	int64_t now = timefmt_now(), retry_at;
	long status = 0, wait;
	int delivered = 0;
	enum ov_rc rc;

	if ((rc = vault_webhook_secret_open(s->v, d->webhook_id, &key)) ==
	    OV_ENOTFOUND)
		return;		/* removed since: its deliveries went too */
	if (rc != OV_OK) {
		log_warnx("webhook %lld delivery %lld: %s", (long long)
		    d->webhook_id, (long long)d->id, ov_errmsg());
		snprintf(err, sizeof(err), "the signing secret does not open; "
		    "run: orgvault check");
	} else {
		snprintf(ts, sizeof(ts), "%lld", (long long)now);
		webhook_sign(key, ts, d->body, d->body_len, sig);
		secret_free(key);
		delivered = post(s, d, ts, sig, &status, err, sizeof(err));
	}
	if (delivered) {
		log_info("webhook %lld delivery %lld (%s): delivered, HTTP %ld",
		    (long long)d->webhook_id, (long long)d->id, d->event,
		    status);
		retry_at = 0;
	} else {
		/* Stopping is nobody's failure: due again at once. */
		wait = atomic_load(&s->stop) ? 0 :
		    webhook_backoff(d->attempts + 1, (double)
		    randombytes_uniform(1000000) / 1000000.0);
		retry_at = now + wait;
		log_warnx("webhook %lld delivery %lld (%s): attempt %d: %s; "
		    "retrying in %ld s", (long long)d->webhook_id,
		    (long long)d->id, d->event, d->attempts + 1, err, wait);
	}
	if (vault_delivery_done(s->v, d->id, status, err, retry_at) != OV_OK)
		log_warnx("webhook %lld delivery %lld: not recorded (it will "
		    "be sent again): %s", (long long)d->webhook_id,
		    (long long)d->id, ov_errmsg());
}

/* ---------------------------------------------------------- the thread */

static void
nap(struct webhook_sender *s, long ms)
{
	struct timespec until;

	timefmt_deadline(&until, CLOCK_MONOTONIC, ms);
	pthread_mutex_lock(&s->lock);
	if (!atomic_load(&s->stop))
		pthread_cond_timedwait(&s->wake, &s->lock, &until);
	pthread_mutex_unlock(&s->lock);
}

static void
prune(struct webhook_sender *s, int64_t now)
{
	int64_t n = 0;

	if (now - s->pruned_at < PRUNE_EVERY_S)
		return;
	s->pruned_at = now;
	if (vault_delivery_prune(s->v, now - OV_WEBHOOK_KEEP_S, &n) != OV_OK)
		log_warnx("webhooks: pruning old deliveries: %s", ov_errmsg());
	else if (n > 0)
		log_info("webhooks: pruned %lld deliveries older than %ld days",
		    (long long)n, OV_WEBHOOK_KEEP_S / 86400);
}

static void *
sender_main(void *arg)
{
	struct webhook_sender *s = arg;
	struct vault_delivery d;
	int64_t now, due;
	enum ov_rc rc;

	while (!atomic_load(&s->stop)) {
		now = timefmt_now();
		due = 0;
		rc = vault_delivery_claim(s->v, now, OV_WEBHOOK_LEASE_S, &d,
		    &due);
		if (rc == OV_OK) {
			deliver(s, &d);
			vault_delivery_cleanup(&d);
			continue;
		}
		if (rc != OV_ENOTFOUND)
			log_warnx("webhooks: %s", ov_errmsg());
		prune(s, now);
		/* Others (the CLI, another serve) queue too: poll.  Due
		 * times are whole seconds, so a second is soon enough. */
		nap(s, POLL_MS);
	}
	return NULL;
}

enum ov_rc
webhook_sender_start(struct vault *v, struct webhook_sender **out)
{
	struct webhook_sender *s;
	pthread_condattr_t ca;

	if ((s = calloc(1, sizeof(*s))) == NULL)
		return ov_seterr(OV_ENOMEM, "out of memory");
	s->v = v;
	vault_set_actor(v, "webhooks");
	pthread_mutex_init(&s->lock, NULL);
	pthread_condattr_init(&ca);
	pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
	pthread_cond_init(&s->wake, &ca);
	pthread_condattr_destroy(&ca);
	if (pthread_create(&s->thread, NULL, sender_main, s) != 0) {
		pthread_cond_destroy(&s->wake);
		pthread_mutex_destroy(&s->lock);
		free(s);
		return ov_seterr(OV_EINTERNAL, "cannot start the webhook "
		    "sender");
	}
	*out = s;
	return OV_OK;
}

void
webhook_sender_stop(struct webhook_sender *s)
{
	if (s == NULL)
		return;
	pthread_mutex_lock(&s->lock);
	atomic_store(&s->stop, 1);
	pthread_cond_signal(&s->wake);
	pthread_mutex_unlock(&s->lock);
	pthread_join(s->thread, NULL);
	pthread_cond_destroy(&s->wake);
	pthread_mutex_destroy(&s->lock);
	vault_close(s->v);
	free(s);
}

/*
 * scheduler.c — one thread that keeps every credential fresh.
 *
 * Event-driven: the thread sleeps in curl_multi_poll() until the
 * earliest of (a) the next credential deadline, (b) a finished
 * transfer, (c) a commit by another process (vault_watch: inotify on
 * SQLite's directory, LISTEN on PostgreSQL; CLI writes act at once),
 * (d) a host budget freeing up, (e) a wake-up from another thread.
 * There is no fixed poll interval.
 *
 * Each attempt holds the credential's lease; leases of dead processes
 * on this host are taken over at once, others are waited out.  Per
 * token-endpoint host: at most host_concurrency requests in flight and
 * host_rate requests per host_rate_window_s.  A 429 pauses the (host,
 * client id) that got it, the whole host only when host_pause_clients
 * clients of it got one within a minute (pause.h).
 * Due credentials beyond the budget wait, in deadline order.
 *
 * Other threads (the token broker, the admin API) ask for an attempt
 * on one credential with rot_scheduler_request(); it bypasses the
 * deadline and the budgets' concurrency, not its client's 429 pause or
 * a lease.
 * The listener of rot_config hears every attempt's outcome.
 */
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <curl/curl.h>

#include "rotation/pause.h"
#include "rotation/refresh_int.h"
#include "util/log.h"
#include "util/timefmt.h"

#define SCAN_LIMIT	2048
#define IDLE_WAKE_MS	(60 * 1000)	/* a safety net, not a poll; also
					 * how soon a clock jump is seen */
#define CLOCK_JUMP_MS	30000		/* smaller steps are drift */

struct host {
	char		 name[256];
	char		 url[OV_URL_MAX + 1];	/* a URL known to be here */
	int		 inflight;
	int64_t		*starts;	/* ring of request start times, ms */
	int		 head, count;
};

/* Who asked for an attempt (rot_scheduler_request), for its events. */
struct asker {
	int64_t	id;
	int64_t	if_gen;		/* -1: unconditional */
	char	actor[OV_ACTOR_MAX + 1];	/* "": the scheduler */
	char	request_id[33];
};

struct attempt {
	struct rot_scheduler	*s;
	struct vault_cred	 cred;
	struct asker		 asker;
	int			 pending;	/* sent with the pending secret */
	size_t			 host;	/* index: hosts[] may move */
	struct attempt		*next;
};

struct rot_scheduler {
	struct rot_config	 cfg;
	struct vault		*v;
	struct oauth_pool	*pool;
	pthread_t		 thread;
	atomic_int		 stop;
	int			 grace_ms;
	struct vault_watch	*watch;		/* other processes' commits */
	struct host		*hosts;
	size_t			 nhosts;
	struct attempt		*inflight;
	struct rot_done		*done;		/* finished, not yet recorded */
	size_t			 ndone, capdone;
	struct rot_done		**parked;	/* successes the database
						 * refused (disk full,
						 * read-only): retried */
	size_t			 nparked;
	int64_t			 parked_retry_ms;
	int64_t			 wake_ms;	/* earliest reason to scan */
	int64_t			 clock_offset_ms;	/* wall - boot time */
	int			 clock_synced;
	pthread_mutex_t		 req_lock;	/* guards req, nreq, capreq */
	struct asker		*req;		/* requested attempts */
	size_t			 nreq, capreq;
	atomic_int		 alive;
	struct pause_reg	*pauses;	/* 429s, by (host, client) */
};

static void
host_name(const char *url, char *out, size_t len)
{
	CURLU *u = curl_url();
	char *h = NULL, *port = NULL;

	snprintf(out, len, "?");
	if (u && curl_url_set(u, CURLUPART_URL, url, 0) == CURLUE_OK &&
	    curl_url_get(u, CURLUPART_HOST, &h, 0) == CURLUE_OK) {
		curl_url_get(u, CURLUPART_PORT, &port, 0);
		snprintf(out, len, "%s%s%s", h, port ? ":" : "",
		    port ? port : "");
	}
	curl_free(h);
	curl_free(port);
	curl_url_cleanup(u);
}

/* Index of the budget of url's host, created on first use; -1: no mem. */
static long
host_get(struct rot_scheduler *s, const char *url)
{
	char name[256];
	struct host *h;
	int64_t *starts;

	for (size_t i = 0; i < s->nhosts; i++)
		if (strcmp(s->hosts[i].url, url) == 0)
			return (long)i;
	host_name(url, name, sizeof(name));
	for (size_t i = 0; i < s->nhosts; i++)
		if (strcmp(s->hosts[i].name, name) == 0) {
			snprintf(s->hosts[i].url, sizeof(s->hosts[i].url),
			    "%s", url);
			return (long)i;
		}
	if ((starts = calloc((size_t)s->cfg.host_rate,
	    sizeof(int64_t))) == NULL)
		return -1;
	if ((h = realloc(s->hosts, (s->nhosts + 1) * sizeof(*h))) == NULL) {
		free(starts);
		return -1;
	}
	s->hosts = h;
	h = &s->hosts[s->nhosts];
	memset(h, 0, sizeof(*h));
	snprintf(h->name, sizeof(h->name), "%s", name);
	snprintf(h->url, sizeof(h->url), "%s", url);
	h->starts = starts;
	return (long)s->nhosts++;
}

/* 0 if a request may start now, else the ms time it may. */
static int64_t
host_blocked_until(const struct rot_scheduler *s, const struct host *h,
    int64_t now)
{
	int64_t window = (int64_t)s->cfg.host_rate_window_s * 1000;

	if (h->inflight >= s->cfg.host_concurrency)
		return -1;	/* a completion will wake us */
	if (h->count == s->cfg.host_rate) {
		int64_t oldest = h->starts[h->head];

		if (oldest + window > now)
			return oldest + window;
	}
	return 0;
}

static void
host_started(const struct rot_scheduler *s, struct host *h, int64_t now)
{
	int slot = (h->head + h->count) % s->cfg.host_rate;

	if (h->count == s->cfg.host_rate) {
		h->starts[h->head] = now;
		h->head = (h->head + 1) % s->cfg.host_rate;
	} else {
		h->starts[slot] = now;
		h->count++;
	}
	h->inflight++;
}

/* Moves the reservations made at `scanned` to `sent`. */
static void
host_restamp(struct rot_scheduler *s, int64_t scanned, int64_t sent)
{
	for (size_t i = 0; i < s->nhosts; i++) {
		struct host *h = &s->hosts[i];

		for (int k = 0; k < h->count; k++) {
			int64_t *t = &h->starts[(h->head + k) %
			    s->cfg.host_rate];

			if (*t == scanned)
				*t = sent;
		}
	}
}

/* Undoes the newest host_started() (a claim that did not happen). */
static void
host_unstarted(const struct rot_scheduler *s, struct host *h)
{
	if (h->count > 0)
		h->count--;
	h->inflight--;
}

static void
wake_at(struct rot_scheduler *s, int64_t ms)
{
	if (ms > 0 && ms < s->wake_ms)
		s->wake_ms = ms;
}

static void
attempt_unlink(struct rot_scheduler *s, struct attempt *a)
{
	for (struct attempt **p = &s->inflight; *p; p = &(*p)->next)
		if (*p == a) {
			*p = a->next;
			break;
		}
}

/* Transfers finish inside oauth_pool_run(); their results are
 * recorded together right after it returns (flush_done). */
static void
attempt_done(void *arg, struct oauth_result *res)
{
	struct attempt *a = arg;
	struct rot_scheduler *s = a->s;
	struct host *h = &s->hosts[a->host];
	struct rot_done *d;

	h->inflight--;
	/* The current secret refused and one is staged: the provider may
	 * have switched already.  Try the pending one once, same lease (an
	 * invalid_client is decided before any refresh token is used). */
	if (rot_try_pending(&a->cred, res, a->pending) &&
	    !atomic_load(&s->stop)) {
		a->pending = 1;
		if (rot_attempt_start(s->v, &s->cfg, s->pool, &a->cred,
		    "pending", attempt_done, a) == OV_OK) {
			log_info("%s/%s: the current client secret was "
			    "refused; trying the pending one", a->cred.org,
			    a->cred.name);
			h->inflight++;
			oauth_result_cleanup(res);
			return;
		}
		log_warnx("%s/%s: cannot try the pending secret: %s",
		    a->cred.org, a->cred.name, ov_errmsg());
	}
	if (res->outcome == OAUTH_RATE_LIMITED) {
		long pause = res->retry_after_s >= 0 ? res->retry_after_s :
		    s->cfg.backoff_base_s;

		/* The client's pause; the host's when several clients of it
		 * got one (a host-wide limit, not one customer's). */
		if (pause_record(s->pauses, h->name, a->cred.client_id,
		    timefmt_now_ms(), pause))
			log_warnx("host %s answered 429 to %d clients within a "
			    "minute: pausing the host for %ld s", h->name,
			    s->cfg.host_pause_clients, pause);
		else
			log_warnx("host %s answered 429 for %s/%s: pausing its "
			    "client for %ld s", h->name, a->cred.org,
			    a->cred.name, pause);
	}
	if (s->ndone == s->capdone) {
		size_t cap = s->capdone ? s->capdone * 2 : 64;

		if ((d = realloc(s->done, cap * sizeof(*d))) == NULL) {
			/* Record it alone rather than lose it. */
			struct rot_done one = { .cred = a->cred, .res = *res };

			snprintf(one.actor, sizeof(one.actor), "%s",
			    a->asker.actor);
			snprintf(one.request_id, sizeof(one.request_id), "%s",
			    a->asker.request_id);
			one.promote = a->pending && res->outcome == OAUTH_OK;
			one.pending_tried = a->pending;

			rot_done_prepare(&s->cfg, &one);
			rot_done_commit(s->v, &s->cfg, &one, 1);
			goto out;
		}
		s->done = d;
		s->capdone = cap;
	}
	d = &s->done[s->ndone++];
	memset(d, 0, sizeof(*d));
	d->cred = a->cred;
	d->res = *res;
	snprintf(d->actor, sizeof(d->actor), "%s", a->asker.actor);
	snprintf(d->request_id, sizeof(d->request_id), "%s",
	    a->asker.request_id);
	d->promote = a->pending && res->outcome == OAUTH_OK;
	d->pending_tried = a->pending;
	d->may_park = 1;
	d->at = timefmt_now();
	/* Prepared when recorded: s->done may still move (realloc). */
out:
	attempt_unlink(s, a);
	free(a);
}

static void
prepare_done(struct rot_scheduler *s)
{
	for (size_t i = 0; i < s->ndone; i++)
		rot_done_prepare(&s->cfg, &s->done[i]);
}

/* After settling: what the database refused is kept, each on its own
 * (prepared again: rec points into the copy now). */
static void
keep_parked(struct rot_scheduler *s)
{
	for (size_t i = 0; i < s->ndone; i++) {
		struct rot_done *d = &s->done[i], *p, **list;

		if (!d->parked)
			continue;
		if ((p = malloc(sizeof(*p))) == NULL || (list = realloc(
		    s->parked, (s->nparked + 1) * sizeof(*list))) == NULL) {
			free(p);
			log_warnx("out of memory: the refresh of %s/%s is "
			    "lost%s", d->cred.org, d->cred.name,
			    d->res.refresh_token ? ", with its rotated refresh "
			    "token" : "");
			json_decref(d->rec.detail);
			json_decref(d->rec.drift);
			oauth_result_cleanup(&d->res);
			continue;
		}
		*p = *d;
		p->rec.detail = p->rec.drift = NULL;
		json_decref(d->rec.detail);
		json_decref(d->rec.drift);
		rot_done_prepare(&s->cfg, p);
		s->parked = list;
		s->parked[s->nparked++] = p;
	}
	if (s->nparked && s->parked_retry_ms == 0)
		s->parked_retry_ms = timefmt_now_ms() + 1000;
}

static int
parked_has(const struct rot_scheduler *s, int64_t id)
{
	for (size_t i = 0; i < s->nparked; i++)
		if (s->parked[i]->cred.id == id)
			return 1;
	return 0;
}

/* Records the parked successes the database takes now; every second
 * while some are left (a full disk or a read-only file may come back). */
static void
retry_parked(struct rot_scheduler *s, int final)
{
	size_t kept = 0;

	if (s->nparked == 0 || (!final && timefmt_now_ms() <
	    s->parked_retry_ms))
		return;
	for (size_t i = 0; i < s->nparked; i++) {
		struct rot_done *p = s->parked[i];

		p->may_park = !final;
		rot_done_commit(s->v, &s->cfg, p, 1);
		if (p->parked)
			s->parked[kept++] = p;
		else
			free(p);
	}
	s->nparked = kept;
	s->parked_retry_ms = kept ? timefmt_now_ms() + 1000 : 0;
	if (kept)
		wake_at(s, s->parked_retry_ms);
}

static void
flush_done(struct rot_scheduler *s)
{
	if (s->ndone == 0)
		return;
	prepare_done(s);
	rot_done_commit(s->v, &s->cfg, s->done, s->ndone);
	keep_parked(s);
	s->ndone = 0;
}

struct candidate {
	struct vault_due	due;
	long			host;
	int			takeover;
	int			force;	/* requested, not due */
	struct asker		asker;
};

struct scan {
	struct rot_scheduler	*s;
	int64_t			 now_ms;
	struct candidate	*c;
	size_t			 n, cap;
};

/* Picks what may start: lease free (or its owner dead), host budget. */
static int
consider(const struct vault_due *d, void *arg)
{
	struct scan *sc = arg;
	struct rot_scheduler *s = sc->s;
	int64_t until, now = sc->now_ms / 1000;
	int takeover = 0;
	long hi;

	if (parked_has(s, d->id))
		return 0;	/* its new tokens wait for the database */
	if (d->lease_owner[0] && d->lease_until >= now) {
		if (!rot_owner_dead(d->lease_owner)) {
			wake_at(s, (d->lease_until + 1) * 1000);
			return 0;
		}
		takeover = 1;
	}
	if ((hi = host_get(s, d->token_url)) < 0)
		return 0;
	if ((until = host_blocked_until(s, &s->hosts[hi], sc->now_ms)) != 0 ||
	    (until = pause_until(s->pauses, s->hosts[hi].name, d->client_id,
	    sc->now_ms, NULL)) != 0) {
		wake_at(s, until);
		return 0;
	}
	if (sc->n == sc->cap) {
		size_t cap = sc->cap ? sc->cap * 2 : 64;
		struct candidate *c = realloc(sc->c, cap * sizeof(*c));

		if (c == NULL)
			return 1;
		sc->c = c;
		sc->cap = cap;
	}
	sc->c[sc->n].due = *d;
	sc->c[sc->n].host = hi;
	sc->c[sc->n].takeover = takeover;
	sc->c[sc->n].force = 0;
	memset(&sc->c[sc->n].asker, 0, sizeof(sc->c[sc->n].asker));
	sc->n++;
	host_started(s, &s->hosts[hi], sc->now_ms);	/* reserve */
	return 0;
}

/* Tells the listener a requested attempt could not start. */
static void
tell_busy(struct rot_scheduler *s, const struct vault_cred *c,
    enum oauth_outcome why, int superseded)
{
	struct rot_result r = { .cred = c, .outcome = why, .busy = 1,
	    .superseded = superseded };

	if (s->cfg.listener)
		s->cfg.listener(s->cfg.listener_arg, &r);
}

/* In flight, or finished and not recorded yet (its outcome will be
 * told when it is). */
static int
inflight_has(const struct rot_scheduler *s, int64_t id)
{
	for (const struct attempt *a = s->inflight; a; a = a->next)
		if (a->cred.id == id)
			return 1;
	for (size_t i = 0; i < s->ndone; i++)
		if (s->done[i].cred.id == id)
			return 1;
	return 0;
}

/* Adds the requested credentials to the scan's candidates. */
static void
take_requests(struct rot_scheduler *s, struct scan *sc)
{
	struct asker *ids;
	int64_t now = sc->now_ms / 1000;
	size_t n;

	pthread_mutex_lock(&s->req_lock);
	ids = s->req;
	n = s->nreq;
	s->req = NULL;
	s->nreq = s->capreq = 0;
	pthread_mutex_unlock(&s->req_lock);
	for (size_t i = 0; i < n; i++) {
		struct vault_cred c;
		size_t k;
		long hi;

		for (k = 0; k < sc->n && sc->c[k].due.id != ids[i].id; k++)
			;
		if (k < sc->n || inflight_has(s, ids[i].id) ||
		    parked_has(s, ids[i].id))
			continue;	/* its outcome will be told */
		if (vault_cred_by_id(s->v, ids[i].id, &c) != OV_OK) {
			memset(&c, 0, sizeof(c));
			c.id = ids[i].id;
			tell_busy(s, &c, OAUTH_TRANSIENT, 0);
			continue;
		}
		if (ids[i].if_gen >= 0 && c.token_generation != ids[i].if_gen) {
			tell_busy(s, &c, OAUTH_OK, 1);	/* refreshed */
			continue;
		}
		if ((hi = host_get(s, c.token_url)) < 0 ||
		    pause_until(s->pauses, s->hosts[hi].name, c.client_id,
		    sc->now_ms, NULL) != 0) {
			tell_busy(s, &c, OAUTH_RATE_LIMITED, 0);
			continue;
		}
		if (c.lease_owner[0] && c.lease_until >= now &&
		    !rot_owner_dead(c.lease_owner)) {
			tell_busy(s, &c, OAUTH_TRANSIENT, 0);
			continue;
		}
		if (sc->n == sc->cap) {
			size_t cap = sc->cap ? sc->cap * 2 : 64;
			struct candidate *nc = realloc(sc->c,
			    cap * sizeof(*nc));

			if (nc == NULL) {
				tell_busy(s, &c, OAUTH_TRANSIENT, 0);
				continue;
			}
			sc->c = nc;
			sc->cap = cap;
		}
		memset(&sc->c[sc->n], 0, sizeof(sc->c[sc->n]));
		sc->c[sc->n].due.id = c.id;
		sc->c[sc->n].due.lease_until = c.lease_until;
		snprintf(sc->c[sc->n].due.lease_owner,
		    sizeof(sc->c[sc->n].due.lease_owner), "%s", c.lease_owner);
		snprintf(sc->c[sc->n].due.token_url,
		    sizeof(sc->c[sc->n].due.token_url), "%s", c.token_url);
		sc->c[sc->n].host = hi;
		sc->c[sc->n].takeover = c.lease_owner[0] &&
		    c.lease_until >= now;
		sc->c[sc->n].force = 1;
		sc->c[sc->n].asker = ids[i];
		sc->n++;
		host_started(s, &s->hosts[hi], sc->now_ms);
	}
	free(ids);
}

/* Starts the request of a claimed credential. */
static void
start(struct rot_scheduler *s, const struct vault_cred *c, long hi,
    const struct asker *asker)
{
	struct attempt *a;

	if ((a = calloc(1, sizeof(*a))) == NULL ||
	    rot_attempt_start(s->v, &s->cfg, s->pool, c, NULL, attempt_done, a) !=
	    OV_OK) {
		log_warnx("cannot refresh %s/%s: %s", c->org, c->name,
		    a ? ov_errmsg() : "out of memory");
		free(a);
		vault_lease_release(s->v, c->id, s->cfg.owner);
		host_unstarted(s, &s->hosts[hi]);
		return;
	}
	a->s = s;
	a->cred = *c;
	a->asker = *asker;
	a->host = (size_t)hi;
	a->next = s->inflight;
	s->inflight = a;
}

/*
 * Claims every candidate in one transaction, committed before any
 * request is sent, then starts them.  A candidate someone else claimed
 * first (or that was refreshed meanwhile) gives its budget back.
 */
static void
claim_and_start(struct rot_scheduler *s, struct scan *sc)
{
	struct vault_cred *claimed = NULL;
	int64_t now = sc->now_ms / 1000;
	size_t n = 0;
	int began, committed;

	if (sc->n == 0 && s->ndone == 0)
		return;
	if (sc->n && (claimed = calloc(sc->n, sizeof(*claimed))) == NULL) {
		flush_done(s);
		goto undo;
	}
	/* One transaction: finished results first, then the new leases. */
	prepare_done(s);
	began = vault_begin(s->v) == OV_OK;
	if (began)
		rot_done_record(s->v, s->done, s->ndone);
	for (size_t i = 0; began && i < sc->n; i++) {
		struct candidate *c = &sc->c[i];

		if (c->takeover) {
			log_info("taking over credential %lld from dead "
			    "refresher %s", (long long)c->due.id,
			    c->due.lease_owner);
			/* What it sent may have rotated the refresh token. */
			if (vault_note_unknown(s->v, c->due.id,
			    c->due.lease_owner) != OV_OK)
				log_warnx("%s", ov_errmsg());
		}
		/* An API operator's refresh is deliberate; the broker's ask
		 * never overrides a hold (the takeover above may just have
		 * made one): that would replay a possibly rotated token. */
		if (vault_lease_claim(s->v, c->due.id, s->cfg.owner,
		    c->takeover ? c->due.lease_owner : NULL, now, now +
		    s->cfg.timeout_ms / 1000 + 60, !c->force ? VAULT_CLAIM_DUE :
		    c->asker.actor[0] ? VAULT_CLAIM_OPERATOR : VAULT_CLAIM_ASKED,
		    c->force ? c->asker.if_gen : -1, &claimed[n]) == OV_OK) {
			c->takeover = 2;	/* claimed */
			n++;
		}
	}
	committed = began && vault_commit(s->v) == OV_OK;
	/* Requests leave now, not at the scan: the rate window counts
	 * from when they are sent. */
	host_restamp(s, sc->now_ms, timefmt_now_ms());
	rot_done_settle(s->v, &s->cfg, s->done, s->ndone, committed);
	keep_parked(s);
	s->ndone = 0;
	if (!committed && sc->n) {
		log_warnx("scheduler: cannot take leases: %s", ov_errmsg());
		n = 0;
		for (size_t i = 0; i < sc->n; i++)
			sc->c[i].takeover = 0;
	}
	for (size_t i = 0, j = 0; i < sc->n; i++) {
		if (sc->c[i].takeover == 2)
			start(s, &claimed[j++], sc->c[i].host,
			    &sc->c[i].asker);
		else {
			host_unstarted(s, &s->hosts[sc->c[i].host]);
			if (sc->c[i].force) {
				struct vault_cred c = { .id = sc->c[i].due.id };

				tell_busy(s, &c, OAUTH_TRANSIENT, 0);
			}
		}
	}
	free(claimed);
	return;
undo:
	for (size_t i = 0; i < sc->n; i++)
		host_unstarted(s, &s->hosts[sc->c[i].host]);
}

/* Wall time less boot time (CLOCK_BOOTTIME counts suspend too): it
 * moves only when the wall clock is set. */
static int64_t
clock_offset_ms(void)
{
	struct timespec b;

	clock_gettime(CLOCK_BOOTTIME, &b);
	return timefmt_now_ms() - ((int64_t)b.tv_sec * 1000 +
	    b.tv_nsec / 1000000);
}

/* The times this process keeps in wall-clock ms (host budgets and
 * pauses, parked retries) follow a jump of delta_ms too. */
static void
shift_memory(struct rot_scheduler *s, int64_t delta_ms)
{
	for (size_t i = 0; i < s->nhosts; i++) {
		struct host *h = &s->hosts[i];

		for (int k = 0; k < h->count; k++)
			h->starts[(h->head + k) % s->cfg.host_rate] +=
			    delta_ms;
	}
	pause_shift(s->pauses, delta_ms);
	if (s->parked_retry_ms)
		s->parked_retry_ms += delta_ms;
}

/* At start and whenever the wall clock jumped: stored deadlines follow
 * (vault_clock_sync), so a jump neither expires every token at once nor
 * keeps one past its real expiry.  0 when the stored times agree with
 * the wall clock now, -1 when a jump could not be recorded yet (the scan
 * must not act on unmoved deadlines). */
static int
clock_check(struct rot_scheduler *s)
{
	static char boot_id[64];
	int64_t off = clock_offset_ms(), shifted;
	FILE *f;

	if (s->clock_synced && llabs(off - s->clock_offset_ms) <=
	    CLOCK_JUMP_MS)
		return 0;
	if (boot_id[0] == '\0') {
		if ((f = fopen("/proc/sys/kernel/random/boot_id", "r")) ==
		    NULL || fscanf(f, "%63s", boot_id) != 1)
			snprintf(boot_id, sizeof(boot_id), "unknown");
		if (f)
			fclose(f);
	}
	if (vault_clock_sync(s->v, boot_id, off, CLOCK_JUMP_MS, &shifted) !=
	    OV_OK) {
		log_warnx("scheduler: checking the clock: %s", ov_errmsg());
		return -1;	/* again in a second */
	}
	if (shifted)
		log_warnx("the wall clock jumped %s by %lld s: stored "
		    "deadlines and expiries moved with it", shifted > 0 ?
		    "forward" : "back", (long long)llabs(shifted));
	if (s->clock_synced)
		shift_memory(s, off - s->clock_offset_ms);
	s->clock_offset_ms = off;
	s->clock_synced = 1;
	return 0;
}

static void
scan(struct rot_scheduler *s)
{
	struct scan sc = { .s = s, .now_ms = timefmt_now_ms() };
	int64_t next = 0;

	/* The time the scan uses must be the one the deadlines were moved
	 * to: checked again after it is read. */
	for (int tries = 0;; tries++) {
		if (clock_check(s) != 0 || tries == 3) {
			s->wake_ms = timefmt_now_ms() + 1000;
			return;
		}
		sc.now_ms = timefmt_now_ms();
		if (llabs(clock_offset_ms() - s->clock_offset_ms) <=
		    CLOCK_JUMP_MS)
			break;
	}
	s->wake_ms = sc.now_ms + IDLE_WAKE_MS;
	retry_parked(s, 0);
	if (vault_due_list(s->v, sc.now_ms / 1000, s->cfg.owner, SCAN_LIMIT,
	    consider, &sc) != OV_OK)
		log_warnx("scheduler: %s", ov_errmsg());
	if (!atomic_load(&s->stop))
		take_requests(s, &sc);
	if (atomic_load(&s->stop)) {
		for (size_t i = 0; i < sc.n; i++)
			host_unstarted(s, &s->hosts[sc.c[i].host]);
		sc.n = 0;
	}
	claim_and_start(s, &sc);	/* also records what finished */
	free(sc.c);
	if (vault_next_deadline(s->v, sc.now_ms / 1000, &next) == OV_OK &&
	    next)
		wake_at(s, next * 1000);
}

/* Shutdown: wait for in-flight transfers up to the grace period, then
 * record what is left as unknown (refresh grants) or failed. */
static void
finish_inflight(struct rot_scheduler *s)
{
	int64_t deadline = timefmt_now_ms() + s->grace_ms;

	while (s->inflight && timefmt_now_ms() < deadline) {
		oauth_pool_run(s->pool, 100, -1);
		flush_done(s);
	}
	while (s->inflight) {
		struct attempt *a = s->inflight;
		struct oauth_result r = { .retry_after_s = -1 };

		r.outcome = strcmp(a->cred.grant, "refresh_token") == 0 ?
		    OAUTH_UNKNOWN : OAUTH_TRANSIENT;
		snprintf(r.error, sizeof(r.error), "shutdown");
		snprintf(r.description, sizeof(r.description), "orgvault "
		    "stopped before the provider answered");
		attempt_done(a, &r);	/* unlinks and frees a */
	}
	flush_done(s);
	retry_parked(s, 1);	/* last chance; what fails is lost, loudly */
}

static void *
scheduler_main(void *arg)
{
	struct rot_scheduler *s = arg;

	while (!atomic_load(&s->stop)) {
		int64_t wait;

		scan(s);
		wait = s->wake_ms - timefmt_now_ms();
		if (wait < 0)
			wait = 0;
		oauth_pool_run(s->pool, (int)(wait > IDLE_WAKE_MS ?
		    IDLE_WAKE_MS : wait), s->watch ? vault_watch_fd(s->watch) :
		    -1);
		if (s->watch)
			(void)vault_watch_drain(s->watch);
	}
	finish_inflight(s);
	atomic_store(&s->alive, 0);
	return NULL;
}

enum ov_rc
rot_scheduler_start(struct vault *v, const struct rot_config *cfg,
    struct rot_scheduler **out)
{
	struct rot_scheduler *s;

	if ((s = calloc(1, sizeof(*s))) == NULL)
		return ov_seterr(OV_ENOMEM, "out of memory");
	s->cfg = *cfg;
	s->v = v;
	pthread_mutex_init(&s->req_lock, NULL);
	if (vault_watch_open(v, &s->watch) != OV_OK)
		log_warnx("%s; CLI changes are seen within a minute",
		    ov_errmsg());
	atomic_store(&s->alive, 1);
	if ((s->pauses = pause_reg_new(cfg->host_pause_clients)) == NULL ||
	    (s->pool = oauth_pool_new(cfg->retry_after_cap_s)) == NULL ||
	    pthread_create(&s->thread, NULL, scheduler_main, s) != 0) {
		oauth_pool_free(s->pool);
		pause_reg_free(s->pauses);
		vault_watch_close(s->watch);
		free(s);
		return ov_seterr(OV_EINTERNAL, "cannot start the scheduler");
	}
	*out = s;
	return OV_OK;
}

void
rot_scheduler_request(struct rot_scheduler *s, int64_t cred_id,
    int64_t if_gen, const char *actor, const char *request_id)
{
	struct asker *q = NULL;

	pthread_mutex_lock(&s->req_lock);
	for (size_t i = 0; q == NULL && i < s->nreq; i++)
		if (s->req[i].id == cred_id)
			q = &s->req[i];
	if (q) {
		/* One attempt serves both.  An unconditional ask wins, with
		 * its actor; else the newer generation (the stored one is at
		 * least that, so an ask for an older one is stale). */
		if (q->if_gen < 0 || (if_gen >= 0 && q->if_gen >= if_gen))
			goto out;
		if (if_gen >= 0) {
			q->if_gen = if_gen;
			goto out;
		}
		goto fill;
	}
	if (s->nreq == s->capreq) {
		size_t cap = s->capreq ? s->capreq * 2 : 16;
		struct asker *r = realloc(s->req, cap * sizeof(*r));

		if (r == NULL)
			goto out;	/* the broker's wait times out */
		s->req = r;
		s->capreq = cap;
	}
	q = &s->req[s->nreq++];
	q->id = cred_id;
fill:
	q->if_gen = if_gen;
	snprintf(q->actor, sizeof(q->actor), "%s", actor ? actor : "");
	snprintf(q->request_id, sizeof(q->request_id), "%s",
	    request_id ? request_id : "");
out:
	pthread_mutex_unlock(&s->req_lock);
	oauth_pool_wakeup(s->pool);
}

int
rot_scheduler_alive(struct rot_scheduler *s)
{
	return s != NULL && atomic_load(&s->alive);
}

void
rot_scheduler_stop(struct rot_scheduler *s, int grace_ms)
{
	if (s == NULL)
		return;
	s->grace_ms = grace_ms;
	atomic_store(&s->stop, 1);
	oauth_pool_wakeup(s->pool);
	pthread_join(s->thread, NULL);
	oauth_pool_free(s->pool);
	vault_watch_close(s->watch);
	for (size_t i = 0; i < s->nhosts; i++)
		free(s->hosts[i].starts);
	free(s->hosts);
	free(s->done);
	free(s->parked);	/* emptied by finish_inflight() */
	free(s->req);
	pthread_mutex_destroy(&s->req_lock);
	pause_reg_free(s->pauses);
	vault_close(s->v);
	free(s);
}

int64_t
rot_scheduler_paused(struct rot_scheduler *s, const char *token_url,
    const char *client_id, const char **reason)
{
	char host[256];

	int64_t now = timefmt_now_ms();

	if (reason)
		*reason = NULL;
	/* Lists and /metrics ask for every credential: no URL parse while
	 * nothing is paused. */
	if (s == NULL || !pause_any(s->pauses, now))
		return 0;
	host_name(token_url, host, sizeof(host));
	return pause_until(s->pauses, host, client_id, now, reason);
}

void
rot_scheduler_each_pause(struct rot_scheduler *s,
    void (*cb)(void *, const char *, int, int), void *arg,
    uint64_t *client_pauses)
{
	*client_pauses = 0;
	if (s == NULL)
		return;
	pause_each_host(s->pauses, timefmt_now_ms(), cb, arg);
	*client_pauses = pause_clients_total(s->pauses);
}

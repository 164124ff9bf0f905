/*
 * conn.c — the admin API's connections, apart from their requests: how
 * many each client address holds open (--max-connections-per-ip,
 * refused at accept), and a deadline per connection that bytes do not
 * push back (--request-timeout, --idle-timeout), kept by one reaper
 * thread.  libmicrohttpd's own timeout restarts on every byte: a client
 * trickling a header byte a second would hold its slot for ever.
 *
 *	phase		starts at		deadline
 *	NEW		accept			accept + request timeout: the
 *						first request, head and body
 *	RECEIVING	the request line	its line + request timeout (the
 *						first request: accept + ...)
 *	ANSWERING	dispatch		none: handlers, token-broker
 *						waits, secret tests run on
 *	IDLE		a response done		+ idle timeout, in all
 *
 * A connection past its deadline is shut down (shutdown(2), both ways);
 * libmicrohttpd sees its end and closes it as usual.  This file must
 * never shut down a descriptor that is no longer the connection's: an
 * entry leaves the list, under the lock, in the CLOSED notification,
 * which libmicrohttpd (0.9.75 as later) makes before it closes the
 * descriptor (MHD_cleanup_connections; the failure path of
 * new_connection_process_); the reaper shuts down only under that lock.
 *
 * Counts per address are taken at STARTED and given back at CLOSED.  The
 * accept policy refuses an address at its limit before libmicrohttpd
 * makes a connection of it; STARTED checks again under the lock (worker
 * threads accept at once).  Addresses in --trusted-proxy are counted but
 * never refused: every client of a proxy has its address.  Refusals are
 * logged at most once per address per 10 s, and so are cuts.
 */
#include <pthread.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>

#include <sodium.h>

#include "admin/admin_int.h"
#include "util/log.h"
#include "util/timefmt.h"

#define REAP_EVERY_MS	250
#define WARN_EVERY_MS	10000	/* one line per address */
#define TABLE_BUCKETS	1024
#define CUT_LINES_MAX	8	/* warnings one pass of the reaper logs */

/* ------------------------------------------------------------- deadlines */

void
conn_clock_start(struct conn_clock *k, int64_t now_ms)
{
	k->phase = CONN_NEW;
	k->since_ms = now_ms;
}

void
conn_clock_request(struct conn_clock *k, int64_t now_ms)
{
	/* The first request's time runs from the accept. */
	if (k->phase == CONN_IDLE || k->phase == CONN_ANSWERING)
		k->since_ms = now_ms;
	k->phase = CONN_RECEIVING;
}

void
conn_clock_answer(struct conn_clock *k)
{
	k->phase = CONN_ANSWERING;
}

void
conn_clock_done(struct conn_clock *k, int64_t now_ms)
{
	k->phase = CONN_IDLE;
	k->since_ms = now_ms;
}

int64_t
conn_clock_deadline(const struct conn_clock *k, int request_s, int idle_s)
{
	switch (k->phase) {
	case CONN_NEW:
	case CONN_RECEIVING:
		return k->since_ms + (int64_t)request_s * 1000;
	case CONN_IDLE:
		return k->since_ms + (int64_t)idle_s * 1000;
	case CONN_ANSWERING:
		break;
	}
	return INT64_MAX;
}

/* ----------------------------------------------------- counts by address */

struct conn_addr {
	struct conn_addr	*next;
	unsigned char		 addr[16];
	int			 open;		/* connections counted */
	int64_t			 warned_ms[CONN_WARN_KINDS]; /* the last
						 * line of each kind, 0: none */
};

/* Buckets by a keyed hash: clients choose their IPv6 addresses. */
struct conn_table {
	unsigned char		 key[crypto_shorthash_KEYBYTES];
	struct conn_addr	*bucket[TABLE_BUCKETS];
};

struct conn_table *
conn_table_new(void)
{
	struct conn_table *t = calloc(1, sizeof(*t));

	if (t)
		randombytes_buf(t->key, sizeof(t->key));
	return t;
}

void
conn_table_free(struct conn_table *t)
{
	struct conn_addr *e;

	if (t == NULL)
		return;
	for (size_t i = 0; i < TABLE_BUCKETS; i++)
		while ((e = t->bucket[i]) != NULL) {
			t->bucket[i] = e->next;
			free(e);
		}
	free(t);
}

static size_t
slot(const struct conn_table *t, const unsigned char addr[16])
{
	uint64_t h;

	crypto_shorthash((unsigned char *)&h, addr, 16, t->key);
	return (size_t)(h % TABLE_BUCKETS);
}

/* An entry with nothing open is kept while a line about it is recent
 * (else a client could reconnect its way to a line per attempt). */
static int
stale(const struct conn_addr *e, int64_t now_ms)
{
	if (e->open > 0)
		return 0;
	for (int k = 0; k < CONN_WARN_KINDS; k++)
		if (e->warned_ms[k] != 0 && now_ms - e->warned_ms[k] <
		    WARN_EVERY_MS)
			return 0;
	return 1;
}

static void
purge(struct conn_table *t, size_t i, int64_t now_ms)
{
	struct conn_addr **pp = &t->bucket[i], *e;

	while ((e = *pp) != NULL)
		if (stale(e, now_ms)) {
			*pp = e->next;
			free(e);
		} else
			pp = &e->next;
}

static struct conn_addr *
find(const struct conn_table *t, size_t i, const unsigned char addr[16])
{
	struct conn_addr *e;

	for (e = t->bucket[i]; e; e = e->next)
		if (memcmp(e->addr, addr, 16) == 0)
			return e;
	return NULL;
}

static struct conn_addr *
find_or_add(struct conn_table *t, const unsigned char addr[16],
    int64_t now_ms)
{
	size_t i = slot(t, addr);
	struct conn_addr *e;

	purge(t, i, now_ms);
	if ((e = find(t, i, addr)) != NULL)
		return e;
	if ((e = calloc(1, sizeof(*e))) == NULL)
		return NULL;
	memcpy(e->addr, addr, 16);
	e->next = t->bucket[i];
	t->bucket[i] = e;
	return e;
}

int
conn_table_take(struct conn_table *t, const unsigned char addr[16],
    int limit, int64_t now_ms)
{
	struct conn_addr *e = find_or_add(t, addr, now_ms);

	if (e == NULL)
		return -1;
	if (limit > 0 && e->open >= limit)
		return 0;
	e->open++;
	return 1;
}

void
conn_table_give(struct conn_table *t, const unsigned char addr[16],
    int64_t now_ms)
{
	size_t i = slot(t, addr);
	struct conn_addr *e = find(t, i, addr);

	if (e && e->open > 0)
		e->open--;
	purge(t, i, now_ms);
}

int
conn_table_open(const struct conn_table *t, const unsigned char addr[16])
{
	const struct conn_addr *e = find(t, slot(t, addr), addr);

	return e ? e->open : 0;
}

int
conn_table_warn(struct conn_table *t, const unsigned char addr[16],
    int kind, int64_t now_ms)
{
	struct conn_addr *e = find_or_add(t, addr, now_ms);

	if (e == NULL)
		return 1;
	if (e->warned_ms[kind] != 0 && now_ms - e->warned_ms[kind] <
	    WARN_EVERY_MS)
		return 0;
	e->warned_ms[kind] = now_ms;
	return 1;
}

/* ----------------------------------------------------------- connections */

/* The list (prev, next) and counts are the conns' lock's; the clock and
 * cut are the connection's own lock's, so that the request path of one
 * worker thread never waits for another's (the reaper takes both, list
 * first). */
struct conn {
	struct conn		*prev, *next;
	int			 fd;
	unsigned char		 addr[16];
	int			 counted;	/* holds one of addr's slots */
	pthread_mutex_t		 lock;
	int			 cut;		/* shut down by this file */
	struct conn_clock	 clock;
};

struct conns {
	pthread_mutex_t		 lock;
	pthread_cond_t		 wake;		/* the reaper's sleep */
	struct conn		*head;
	struct conn_table	*table;
	const struct cidr_list	*exempt;	/* --trusted-proxy */
	int			 per_ip, request_s, idle_s;
	struct metrics		*metrics;
	int			 stop, running;
	pthread_t		 reaper;
};

struct conns *
conns_new(const struct admin_config *cfg, struct metrics *m)
{
	struct conns *cs = calloc(1, sizeof(*cs));
	pthread_condattr_t ca;

	if (cs == NULL)
		return NULL;
	if ((cs->table = conn_table_new()) == NULL) {
		free(cs);
		return NULL;
	}
	pthread_mutex_init(&cs->lock, NULL);
	pthread_condattr_init(&ca);
	pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
	pthread_cond_init(&cs->wake, &ca);
	pthread_condattr_destroy(&ca);
	cs->exempt = &cfg->trusted_proxies;
	cs->per_ip = cfg->max_per_ip;
	cs->request_s = cfg->request_timeout_s;
	cs->idle_s = cfg->idle_timeout_s;
	cs->metrics = m;
	return cs;
}

static void
refused(struct conns *cs, const unsigned char addr[16], int warn)
{
	char ip[64];

	atomic_fetch_add(&cs->metrics->conn_refused, 1);
	if (warn)
		log_warnx("http: refusing connections from %s: it holds %d "
		    "(--max-connections-per-ip); no more lines about it for "
		    "%d s", cidr_addr_str(addr, ip, sizeof(ip)), cs->per_ip,
		    WARN_EVERY_MS / 1000);
}

enum MHD_Result
conn_admit(void *cls, const struct sockaddr *sa, socklen_t len)
{
	struct conns *cs = cls;
	unsigned char addr[16];
	int open, warn = 0;

	(void)len;
	if (cidr_addr_of(sa, addr) != 0 || cidr_list_has(cs->exempt, addr))
		return MHD_YES;
	pthread_mutex_lock(&cs->lock);
	if ((open = conn_table_open(cs->table, addr)) >= cs->per_ip)
		warn = conn_table_warn(cs->table, addr, CONN_WARN_REFUSED,
		    timefmt_mono_ms());
	pthread_mutex_unlock(&cs->lock);
	if (open < cs->per_ip)
		return MHD_YES;
	refused(cs, addr, warn);
	return MHD_NO;
}

/* STARTED: counted and watched, or shut down at once (over the limit
 * after all, or no memory to watch it with). */
static struct conn *
conn_started(struct conns *cs, struct MHD_Connection *c)
{
	const union MHD_ConnectionInfo *fd = MHD_get_connection_info(c,
	    MHD_CONNECTION_INFO_CONNECTION_FD), *ci = MHD_get_connection_info(c,
	    MHD_CONNECTION_INFO_CLIENT_ADDRESS);
	int64_t now = timefmt_mono_ms();
	struct conn *k;
	int taken, warn = 0;

	if (fd == NULL)
		return NULL;
	if ((k = calloc(1, sizeof(*k))) == NULL) {
		shutdown(fd->connect_fd, SHUT_RDWR);
		return NULL;
	}
	k->fd = fd->connect_fd;
	pthread_mutex_init(&k->lock, NULL);
	if (ci == NULL || cidr_addr_of(ci->client_addr, k->addr) != 0)
		memset(k->addr, 0, sizeof(k->addr));	/* "::": one bucket */
	conn_clock_start(&k->clock, now);
	pthread_mutex_lock(&cs->lock);
	taken = conn_table_take(cs->table, k->addr, cidr_list_has(cs->exempt,
	    k->addr) ? 0 : cs->per_ip, now);
	if (taken == 0)
		warn = conn_table_warn(cs->table, k->addr,
		    CONN_WARN_REFUSED, now);
	if ((k->next = cs->head) != NULL)
		k->next->prev = k;
	cs->head = k;
	if (!(k->counted = taken == 1)) {
		k->cut = 1;
		shutdown(k->fd, SHUT_RDWR);
	}
	pthread_mutex_unlock(&cs->lock);
	if (taken == 0)
		refused(cs, k->addr, warn);
	return k;
}

/* CLOSED: before libmicrohttpd closes the descriptor. */
static void
conn_closed(struct conns *cs, struct conn *k)
{
	pthread_mutex_lock(&cs->lock);
	if (k->prev)
		k->prev->next = k->next;
	else
		cs->head = k->next;
	if (k->next)
		k->next->prev = k->prev;
	if (k->counted)
		conn_table_give(cs->table, k->addr, timefmt_mono_ms());
	pthread_mutex_unlock(&cs->lock);
	pthread_mutex_destroy(&k->lock);
	free(k);
}

void
conn_notify(void *cls, struct MHD_Connection *c, void **socket_context,
    enum MHD_ConnectionNotificationCode what)
{
	struct conns *cs = cls;

	if (what == MHD_CONNECTION_NOTIFY_STARTED)
		*socket_context = conn_started(cs, c);
	else if (*socket_context != NULL) {
		conn_closed(cs, *socket_context);
		*socket_context = NULL;
	}
}

static struct conn *
conn_of(struct MHD_Connection *c)
{
	const union MHD_ConnectionInfo *i = MHD_get_connection_info(c,
	    MHD_CONNECTION_INFO_SOCKET_CONTEXT);

	return i ? i->socket_context : NULL;
}

void
conn_request_begins(struct conns *cs, struct MHD_Connection *c)
{
	struct conn *k = conn_of(c);

	if (k == NULL)
		return;
	(void)cs;
	pthread_mutex_lock(&k->lock);
	conn_clock_request(&k->clock, timefmt_mono_ms());
	pthread_mutex_unlock(&k->lock);
}

void
conn_answering(struct conns *cs, struct MHD_Connection *c)
{
	struct conn *k = conn_of(c);

	if (k == NULL)
		return;
	/* Under its lock: the reaper either cut it before, or never. */
	(void)cs;
	pthread_mutex_lock(&k->lock);
	conn_clock_answer(&k->clock);
	pthread_mutex_unlock(&k->lock);
}

int
conn_request_done(struct conns *cs, struct MHD_Connection *c)
{
	struct conn *k = conn_of(c);
	int cut;

	if (k == NULL)
		return 0;
	(void)cs;
	pthread_mutex_lock(&k->lock);
	conn_clock_done(&k->clock, timefmt_mono_ms());
	cut = k->cut;
	pthread_mutex_unlock(&k->lock);
	return cut;
}

/* ---------------------------------------------------------------- reaper */

struct cut_report {
	int		nlines;
	unsigned char	addr[CUT_LINES_MAX][16];
};

/* One pass, with the lock held: shuts down what is past its deadline. */
static void
reap(struct conns *cs, int64_t now, struct cut_report *rep)
{
	struct conn *k;

	rep->nlines = 0;
	for (k = cs->head; k; k = k->next) {
		int idle;

		pthread_mutex_lock(&k->lock);
		if (k->cut || now < conn_clock_deadline(&k->clock,
		    cs->request_s, cs->idle_s)) {
			pthread_mutex_unlock(&k->lock);
			continue;
		}
		shutdown(k->fd, SHUT_RDWR);
		k->cut = 1;
		idle = k->clock.phase == CONN_IDLE;
		pthread_mutex_unlock(&k->lock);
		if (idle)
			continue;	/* keep-alive ending: not news */
		atomic_fetch_add(&cs->metrics->requests_cut, 1);
		if (rep->nlines < CUT_LINES_MAX &&
		    conn_table_warn(cs->table, k->addr, CONN_WARN_CUT, now))
			memcpy(rep->addr[rep->nlines++], k->addr, 16);
	}
}

static void
report(const struct conns *cs, const struct cut_report *rep)
{
	char ip[64];

	for (int i = 0; i < rep->nlines; i++)
		log_warnx("http: closed a connection from %s that sent no "
		    "whole request in %d s (--request-timeout); no more lines "
		    "about it for %d s", cidr_addr_str(rep->addr[i], ip,
		    sizeof(ip)), cs->request_s, WARN_EVERY_MS / 1000);
}

static void *
reaper_run(void *arg)
{
	struct conns *cs = arg;
	struct cut_report rep;
	struct timespec ts;

	pthread_mutex_lock(&cs->lock);
	while (!cs->stop) {
		reap(cs, timefmt_mono_ms(), &rep);
		if (rep.nlines) {	/* not under the lock */
			pthread_mutex_unlock(&cs->lock);
			report(cs, &rep);
			pthread_mutex_lock(&cs->lock);
			if (cs->stop)
				break;
		}
		clock_gettime(CLOCK_MONOTONIC, &ts);
		ts.tv_nsec += REAP_EVERY_MS * 1000000L;
		ts.tv_sec += ts.tv_nsec / 1000000000L;
		ts.tv_nsec %= 1000000000L;
		pthread_cond_timedwait(&cs->wake, &cs->lock, &ts);
	}
	pthread_mutex_unlock(&cs->lock);
	return NULL;
}

enum ov_rc
conns_start(struct conns *cs)
{
	int err;

	if (cs->running)
		return OV_OK;
	if ((err = pthread_create(&cs->reaper, NULL, reaper_run, cs)) != 0)
		return ov_seterr(OV_EINTERNAL, "cannot start the connection "
		    "reaper: %s", strerror(err));
	cs->running = 1;
	return OV_OK;
}

void
conns_stop(struct conns *cs)
{
	if (cs == NULL || !cs->running)
		return;
	pthread_mutex_lock(&cs->lock);
	cs->stop = 1;
	pthread_cond_signal(&cs->wake);
	pthread_mutex_unlock(&cs->lock);
	pthread_join(cs->reaper, NULL);
	cs->running = 0;
}

void
conns_free(struct conns *cs)
{
	struct conn *k;

	if (cs == NULL)
		return;
	conns_stop(cs);
	/* Nothing is left once the daemons stopped (CLOSED for each). */
	while ((k = cs->head) != NULL) {
		cs->head = k->next;
		free(k);
	}
	conn_table_free(cs->table);
	pthread_cond_destroy(&cs->wake);
	pthread_mutex_destroy(&cs->lock);
	free(cs);
}

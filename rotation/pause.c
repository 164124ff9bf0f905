/*
 * pause.c — the pause registry of pause.h: a list of client pauses and
 * one of hosts, searched linearly (they hold only clients that got a
 * 429 in the last window or are still paused, a handful at a time),
 * pruned as they are written.
 */
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "rotation/pause.h"
#include "util/limits.h"

struct client_pause {
	char	host[256];
	char	client_id[OV_CLIENT_ID_MAX + 1];
	int64_t	until_ms, last_429_ms;
};

struct host_pause {
	char	host[256];
	int64_t	until_ms;
};

struct pause_reg {
	pthread_mutex_t		 lock;
	int			 host_clients;
	struct client_pause	*c;
	size_t			 nc, capc;
	struct host_pause	*h;
	size_t			 nh, caph;
	uint64_t		 total;
};

struct pause_reg *
pause_reg_new(int host_clients)
{
	struct pause_reg *r = calloc(1, sizeof(*r));

	if (r == NULL)
		return NULL;
	pthread_mutex_init(&r->lock, NULL);
	r->host_clients = host_clients > 0 ? host_clients : PAUSE_HOST_CLIENTS;
	return r;
}

void
pause_reg_free(struct pause_reg *r)
{
	if (r == NULL)
		return;
	pthread_mutex_destroy(&r->lock);
	free(r->c);
	free(r->h);
	free(r);
}

/* Drops client entries that neither pause nor count any more. */
static void
prune(struct pause_reg *r, int64_t now)
{
	size_t k = 0;

	for (size_t i = 0; i < r->nc; i++)
		if (r->c[i].until_ms > now ||
		    now - r->c[i].last_429_ms < PAUSE_WINDOW_MS)
			r->c[k++] = r->c[i];
	r->nc = k;
}

static struct host_pause *
host_find(struct pause_reg *r, const char *host, int create)
{
	struct host_pause *h;

	for (size_t i = 0; i < r->nh; i++)
		if (strcmp(r->h[i].host, host) == 0)
			return &r->h[i];
	if (!create)
		return NULL;
	if (r->nh == r->caph) {
		size_t cap = r->caph ? r->caph * 2 : 8;

		if ((h = realloc(r->h, cap * sizeof(*h))) == NULL)
			return NULL;
		r->h = h;
		r->caph = cap;
	}
	h = &r->h[r->nh++];
	memset(h, 0, sizeof(*h));
	snprintf(h->host, sizeof(h->host), "%s", host);
	return h;
}

static struct client_pause *
client_find(struct pause_reg *r, const char *host, const char *client_id,
    int create)
{
	struct client_pause *c;

	for (size_t i = 0; i < r->nc; i++)
		if (strcmp(r->c[i].host, host) == 0 &&
		    strcmp(r->c[i].client_id, client_id) == 0)
			return &r->c[i];
	if (!create)
		return NULL;
	if (r->nc == r->capc) {
		size_t cap = r->capc ? r->capc * 2 : 16;

		if ((c = realloc(r->c, cap * sizeof(*c))) == NULL)
			return NULL;
		r->c = c;
		r->capc = cap;
	}
	c = &r->c[r->nc++];
	memset(c, 0, sizeof(*c));
	snprintf(c->host, sizeof(c->host), "%s", host);
	snprintf(c->client_id, sizeof(c->client_id), "%s", client_id);
	return c;
}

int
pause_record(struct pause_reg *r, const char *host, const char *client_id,
    int64_t now, long retry_after_s)
{
	struct client_pause *c;
	struct host_pause *h;
	int64_t until = now + (int64_t)(retry_after_s > 0 ? retry_after_s :
	    1) * 1000;
	int recent = 0, whole = 0;

	pthread_mutex_lock(&r->lock);
	prune(r, now);
	if ((c = client_find(r, host, client_id, 1)) != NULL) {
		if (c->until_ms < until)
			c->until_ms = until;
		c->last_429_ms = now;
		r->total++;
	}
	for (size_t i = 0; i < r->nc; i++)
		if (strcmp(r->c[i].host, host) == 0 &&
		    now - r->c[i].last_429_ms < PAUSE_WINDOW_MS)
			recent++;
	h = host_find(r, host, 1);
	if (h && recent >= r->host_clients) {
		if (h->until_ms < until)
			h->until_ms = until;
		whole = 1;
	}
	pthread_mutex_unlock(&r->lock);
	return whole;
}

int64_t
pause_until(struct pause_reg *r, const char *host, const char *client_id,
    int64_t now, const char **reason)
{
	struct client_pause *c;
	struct host_pause *h;
	int64_t until = 0;
	const char *why = NULL;

	pthread_mutex_lock(&r->lock);
	if ((h = host_find(r, host, 0)) != NULL && h->until_ms > now) {
		until = h->until_ms;
		why = "host_rate_limited";
	}
	if ((c = client_find(r, host, client_id, 0)) != NULL &&
	    c->until_ms > now && c->until_ms > until) {
		until = c->until_ms;
		why = "rate_limited";
	}
	pthread_mutex_unlock(&r->lock);
	if (reason)
		*reason = why;
	return until;
}

int
pause_any(struct pause_reg *r, int64_t now)
{
	int any = 0;

	pthread_mutex_lock(&r->lock);
	for (size_t i = 0; !any && i < r->nc; i++)
		any = r->c[i].until_ms > now;
	for (size_t i = 0; !any && i < r->nh; i++)
		any = r->h[i].until_ms > now;
	pthread_mutex_unlock(&r->lock);
	return any;
}

void
pause_each_host(struct pause_reg *r, int64_t now, pause_host_cb cb,
    void *arg)
{
	pthread_mutex_lock(&r->lock);
	for (size_t i = 0; i < r->nh; i++) {
		int clients = 0;

		for (size_t k = 0; k < r->nc; k++)
			if (strcmp(r->c[k].host, r->h[i].host) == 0 &&
			    r->c[k].until_ms > now)
				clients++;
		cb(arg, r->h[i].host, r->h[i].until_ms > now, clients);
	}
	pthread_mutex_unlock(&r->lock);
}

uint64_t
pause_clients_total(struct pause_reg *r)
{
	uint64_t n;

	pthread_mutex_lock(&r->lock);
	n = r->total;
	pthread_mutex_unlock(&r->lock);
	return n;
}

void
pause_shift(struct pause_reg *r, int64_t delta)
{
	pthread_mutex_lock(&r->lock);
	for (size_t i = 0; i < r->nc; i++) {
		if (r->c[i].until_ms)
			r->c[i].until_ms += delta;
		r->c[i].last_429_ms += delta;
	}
	for (size_t i = 0; i < r->nh; i++)
		if (r->h[i].until_ms)
			r->h[i].until_ms += delta;
	pthread_mutex_unlock(&r->lock);
}

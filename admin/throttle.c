/*
 * throttle.c — the failure buckets of throttle.h: a fixed table of
 * slots found by a keyed hash of (address, key id), so the table's size
 * is bounded whatever the clients send.  A collision replaces the slot's
 * owner (its count restarts): an attacker can reset only counters, never
 * make a valid key fail.  A second table remembers, per address, when
 * its last auth.throttled event was due.
 */
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <sodium.h>

#include "admin/throttle.h"

#define SLOTS		4096
#define NAME_MAX_	100	/* "%.64s %.32s" */

struct bucket {
	char	name[NAME_MAX_];	/* "addr key_id" or "addr *" */
	int	count;
	int64_t	window_start_ms, blocked_until_ms;
};

struct last_event {
	char	addr[64];
	int64_t	at_ms;
	int	set;
};

struct throttle {
	pthread_mutex_t		lock;
	unsigned char		hash_key[crypto_shorthash_KEYBYTES];
	struct bucket		bucket[SLOTS];
	struct last_event	event[SLOTS];
};

struct throttle *
throttle_new(void)
{
	struct throttle *t = calloc(1, sizeof(*t));

	if (t == NULL)
		return NULL;
	pthread_mutex_init(&t->lock, NULL);
	randombytes_buf(t->hash_key, sizeof(t->hash_key));
	return t;
}

void
throttle_free(struct throttle *t)
{
	if (t == NULL)
		return;
	pthread_mutex_destroy(&t->lock);
	free(t);
}

static size_t
slot_of(const struct throttle *t, const char *s)
{
	unsigned char h[crypto_shorthash_BYTES];
	uint64_t v;

	crypto_shorthash(h, (const unsigned char *)s, strlen(s), t->hash_key);
	memcpy(&v, h, sizeof(v));
	return (size_t)(v % SLOTS);
}

/* The event slot of addr: 1 when an event is due (none in the window). */
static int
event_due(struct throttle *t, const char *addr, int64_t now)
{
	struct last_event *e = &t->event[slot_of(t, addr)];

	if (e->set && strcmp(e->addr, addr) == 0 &&
	    now - e->at_ms < THROTTLE_WINDOW_MS)
		return 0;
	snprintf(e->addr, sizeof(e->addr), "%s", addr);
	e->at_ms = now;
	e->set = 1;
	return 1;
}

struct throttle_verdict
throttle_failure(struct throttle *t, const char *addr, const char *key_id,
    int64_t now)
{
	struct throttle_verdict out = { 0, 0, 0 };
	char name[NAME_MAX_];
	struct bucket *b;

	snprintf(name, sizeof(name), "%.64s %.32s", addr, key_id &&
	    *key_id ? key_id : "*");
	pthread_mutex_lock(&t->lock);
	b = &t->bucket[slot_of(t, name)];
	if (strcmp(b->name, name) != 0) {
		memset(b, 0, sizeof(*b));
		snprintf(b->name, sizeof(b->name), "%s", name);
	}
	if (b->blocked_until_ms > now) {
		out.retry_after_s = (long)((b->blocked_until_ms - now + 999) /
		    1000);
		goto out;
	}
	if (b->count == 0 || now - b->window_start_ms > THROTTLE_WINDOW_MS) {
		b->count = 0;
		b->window_start_ms = now;
	}
	if (++b->count >= THROTTLE_FAIL_MAX) {
		b->blocked_until_ms = now + THROTTLE_BLOCK_S * 1000;
		b->count = 0;
		out.block_started = 1;
		out.event_due = event_due(t, addr, now);
	}
out:
	pthread_mutex_unlock(&t->lock);
	return out;
}

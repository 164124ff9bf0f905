/*
 * state.c — the shared state of the fake OAuth server, apart from the
 * clients: the one mutex, the stop flag that every sleeper watches, the
 * request log, the statistics and the issued access tokens.
 *
 * Request-log entries are jansson objects, built once and only updated
 * (status) under the mutex; they are serialised under it too, so no other
 * thread ever sees one half-written.  Sequence numbers keep increasing
 * across POST /_admin/reset so that a test's "since" stays meaningful.
 */
#include <errno.h>
#include <stdio.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include "fake_oauth.h"

#define STATUS_SLOTS 600

struct access_token {
	char	*token;
	char	*client_id;
	char	*scope;
	int64_t	 expires_ms;
	bool	 revoked;
};

static struct {
	pthread_mutex_t		 mu;
	pthread_cond_t		 wake;	/* broadcast on stop */
	bool			 stopping;
	json_t			**log;		/* ascending seq */
	size_t			 log_len, log_cap;
	uint64_t		 next_seq;
	uint64_t		 requests;
	uint64_t		 by_status[STATUS_SLOTS];
	long			 in_flight, max_concurrency;
	struct access_token	*tokens;
	size_t			 tokens_len, tokens_cap;
} st = {
	.mu = PTHREAD_MUTEX_INITIALIZER,
};

void
fo_state_init(void)
{
	pthread_condattr_t attr;

	pthread_condattr_init(&attr);
	pthread_condattr_setclock(&attr, CLOCK_MONOTONIC);
	if (pthread_cond_init(&st.wake, &attr) != 0)
		abort();
	pthread_condattr_destroy(&attr);
	st.next_seq = 1;
}

void
fo_lock(void)
{
	pthread_mutex_lock(&st.mu);
}

void
fo_unlock(void)
{
	pthread_mutex_unlock(&st.mu);
}

static void
forget_locked(void)
{
	size_t i;

	fo_clients_free_all_locked();
	for (i = 0; i < st.log_len; i++)
		json_decref(st.log[i]);
	free(st.log);
	st.log = NULL;
	st.log_len = st.log_cap = 0;
	for (i = 0; i < st.tokens_len; i++) {
		free(st.tokens[i].token);
		free(st.tokens[i].client_id);
		free(st.tokens[i].scope);
	}
	free(st.tokens);
	st.tokens = NULL;
	st.tokens_len = st.tokens_cap = 0;
	st.requests = 0;
	memset(st.by_status, 0, sizeof(st.by_status));
	st.max_concurrency = st.in_flight;
}

void
fo_state_reset(void)
{
	fo_lock();
	forget_locked();
	fo_unlock();
}

void
fo_state_cleanup(void)
{
	fo_lock();
	forget_locked();
	fo_unlock();
	pthread_cond_destroy(&st.wake);
}

void
fo_request_stop(void)
{
	fo_lock();
	st.stopping = true;
	pthread_cond_broadcast(&st.wake);
	fo_unlock();
}

bool
fo_sleep_ms(long ms)
{
	struct timespec deadline;
	bool stopping;
	int rc = 0;

	clock_gettime(CLOCK_MONOTONIC, &deadline);
	deadline.tv_sec += ms / 1000;
	deadline.tv_nsec += (ms % 1000) * 1000000L;
	if (deadline.tv_nsec >= 1000000000L) {
		deadline.tv_sec++;
		deadline.tv_nsec -= 1000000000L;
	}
	fo_lock();
	while (!st.stopping && rc != ETIMEDOUT)
		rc = pthread_cond_timedwait(&st.wake, &st.mu, &deadline);
	stopping = st.stopping;
	fo_unlock();
	return !stopping;
}

void
fo_inflight_enter(void)
{
	fo_lock();
	if (++st.in_flight > st.max_concurrency)
		st.max_concurrency = st.in_flight;
	fo_unlock();
}

void
fo_inflight_leave(void)
{
	fo_lock();
	st.in_flight--;
	fo_unlock();
}

uint64_t
fo_log_append_locked(const struct fo_log_fields *f)
{
	json_t *e;
	uint64_t seq = st.next_seq++;

	e = json_pack("{s:I,s:I,s:o,s:o,s:o,s:o,s:o,s:o,s:i,s:o}",
	    "seq", (json_int_t)seq,
	    "time_ms", (json_int_t)fo_now_ms(),
	    "path", fo_json_str(f->path),
	    "client_id", fo_json_str(f->client_id),
	    "auth_method", fo_json_str(f->auth_method),
	    "grant_type", fo_json_str(f->grant_type),
	    "scope", fo_json_str(f->scope),
	    "refresh_token", fo_json_str(f->refresh_token),
	    "status", 0,
	    "behaviour", fo_json_str(f->behaviour));
	if (e == NULL)
		abort();
	if (f->token_client != NULL)
		json_object_set_new(e, "token_client",
		    fo_json_str(f->token_client));
	if (st.log_len == st.log_cap) {
		st.log_cap = st.log_cap ? st.log_cap * 2 : 256;
		st.log = fo_xrealloc(st.log, st.log_cap * sizeof(*st.log));
	}
	st.log[st.log_len++] = e;
	st.requests++;
	return seq;
}

uint64_t
fo_log_append(const struct fo_log_fields *f)
{
	uint64_t seq;

	fo_lock();
	seq = fo_log_append_locked(f);
	fo_unlock();
	return seq;
}

static uint64_t
entry_seq(const json_t *e)
{
	return (uint64_t)json_integer_value(json_object_get(e, "seq"));
}

void
fo_log_finish(uint64_t seq, int status)
{
	size_t i;

	if (seq == 0)
		return;
	fo_lock();
	st.by_status[status >= 0 && status < STATUS_SLOTS ? status : 0]++;
	for (i = st.log_len; i > 0; i--) {
		if (entry_seq(st.log[i - 1]) == seq) {
			json_object_set_new(st.log[i - 1], "status",
			    json_integer(status));
			break;
		}
		if (entry_seq(st.log[i - 1]) < seq)
			break;	/* dropped by a reset meanwhile */
	}
	fo_unlock();
}

static bool
entry_of(const json_t *e, const char *client_id)
{
	const char *id = json_string_value(json_object_get(e, "client_id"));

	return id != NULL && strcmp(id, client_id) == 0;
}

void
fo_log_drop_client_locked(const char *client_id)
{
	size_t i, kept = 0;

	for (i = 0; i < st.log_len; i++) {
		if (entry_of(st.log[i], client_id))
			json_decref(st.log[i]);
		else
			st.log[kept++] = st.log[i];
	}
	st.log_len = kept;
}

char *
fo_log_dump(const char *client_id, uint64_t since)
{
	json_t *arr = json_array();
	char *text;
	size_t i;

	fo_lock();
	for (i = 0; i < st.log_len; i++) {
		if (entry_seq(st.log[i]) <= since)
			continue;
		if (client_id != NULL && !entry_of(st.log[i], client_id))
			continue;
		json_array_append(arr, st.log[i]);
	}
	text = json_dumps(arr, JSON_COMPACT);
	json_decref(arr);	/* entries live on in st.log */
	fo_unlock();
	if (text == NULL)
		abort();
	return text;
}

char *
fo_stats_dump(void)
{
	json_t *o, *by = json_object();
	char key[16], *text;
	int i;

	fo_lock();
	for (i = 0; i < STATUS_SLOTS; i++) {
		if (st.by_status[i] == 0)
			continue;
		snprintf(key, sizeof(key), "%d", i);
		json_object_set_new(by, key,
		    json_integer((json_int_t)st.by_status[i]));
	}
	o = json_pack("{s:I,s:o,s:I,s:I,s:I,s:I}",
	    "requests", (json_int_t)st.requests,
	    "by_status", by,
	    "in_flight", (json_int_t)st.in_flight,
	    "max_concurrency", (json_int_t)st.max_concurrency,
	    "access_tokens", (json_int_t)st.tokens_len,
	    "next_seq", (json_int_t)st.next_seq);
	fo_unlock();
	text = json_dumps(o, JSON_COMPACT);
	json_decref(o);
	if (text == NULL)
		abort();
	return text;
}

void
fo_access_add_locked(const char *token, const char *client_id,
    const char *scope, int64_t expires_ms)
{
	struct access_token *t;

	if (st.tokens_len == st.tokens_cap) {
		st.tokens_cap = st.tokens_cap ? st.tokens_cap * 2 : 256;
		st.tokens = fo_xrealloc(st.tokens,
		    st.tokens_cap * sizeof(*st.tokens));
	}
	t = &st.tokens[st.tokens_len++];
	t->token = fo_xstrdup(token);
	t->client_id = fo_xstrdup(client_id);
	t->scope = fo_xstrdup(scope);
	t->expires_ms = expires_ms;
	t->revoked = false;
}

static struct access_token *
access_find_locked(const char *token)
{
	size_t i;

	for (i = 0; i < st.tokens_len; i++)
		if (fo_secret_eq(st.tokens[i].token, token))
			return &st.tokens[i];
	return NULL;
}

int
fo_access_check(const char *token, char **client_id, char **scope)
{
	struct access_token *t;
	int rc = -1;

	fo_lock();
	t = access_find_locked(token);
	if (t != NULL && !t->revoked && fo_now_ms() < t->expires_ms) {
		*client_id = fo_xstrdup(t->client_id);
		*scope = fo_xstrdup(t->scope);
		rc = 0;
	}
	fo_unlock();
	return rc;
}

void
fo_access_revoke(const char *token)
{
	struct access_token *t;

	fo_lock();
	t = access_find_locked(token);
	if (t != NULL)
		t->revoked = true;
	fo_unlock();
}

void
fo_access_drop_client_locked(const char *client_id)
{
	size_t i, kept = 0;

	for (i = 0; i < st.tokens_len; i++) {
		if (strcmp(st.tokens[i].client_id, client_id) == 0) {
			free(st.tokens[i].token);
			free(st.tokens[i].client_id);
			free(st.tokens[i].scope);
		} else {
			st.tokens[kept++] = st.tokens[i];
		}
	}
	st.tokens_len = kept;
}

/*
 * clients.c — the registered clients: their counters, the behaviour each
 * request gets, the grant itself and the refresh-token families.
 *
 * A family is every refresh token issued to a client, oldest first; the
 * last one is current.  Presenting the current one succeeds (and, with
 * rotate_refresh, appends a new one).  Presenting an older one is reuse
 * (RFC 9700 §4.14.2): invalid_grant, stale_presentations++, and the whole
 * family is revoked, so the current token fails from then on too.  A
 * token that was never issued to this client is plain invalid_grant.
 *
 * Everything here runs under the state mutex (fo_lock()).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "clients_int.h"

struct client {
	char		*id;
	struct fo_config cfg;
	uint64_t	 requests;
	uint64_t	 successes;
	uint64_t	 stale_presentations;
	uint64_t	 secret_regenerations;
	uint64_t	 access_seq;	/* n of at-<client>-<n> */
	uint64_t	 refresh_seq;	/* n of rt-<client>-<n> */
	char		**family;	/* issued tokens, oldest first */
	size_t		 family_len;
	bool		 family_revoked;
	struct client	*next;
};

static struct client *clients;

static struct client *
find_locked(const char *id)
{
	struct client *c;

	if (id == NULL)
		return NULL;
	for (c = clients; c != NULL; c = c->next)
		if (strcmp(c->id, id) == 0)
			return c;
	return NULL;
}

static void
family_clear(struct client *c)
{
	size_t i;

	for (i = 0; i < c->family_len; i++)
		free(c->family[i]);
	free(c->family);
	c->family = NULL;
	c->family_len = 0;
	c->family_revoked = false;
}

static void
family_push(struct client *c, const char *token)
{
	c->family = fo_xrealloc(c->family,
	    (c->family_len + 1) * sizeof(*c->family));
	c->family[c->family_len++] = fo_xstrdup(token);
}

/* Index of token in the family, or -1. */
static long
family_index(const struct client *c, const char *token)
{
	size_t i;

	for (i = 0; i < c->family_len; i++)
		if (fo_secret_eq(c->family[i], token))
			return (long)i;
	return -1;
}

static void
client_free(struct client *c)
{
	if (c == NULL)
		return;
	family_clear(c);
	fo_config_cleanup(&c->cfg);
	free(c->id);
	free(c);
}

/* Forgets counters, family, tokens and log entries (PUT "reset": true). */
static void
client_reset_locked(struct client *c)
{
	c->requests = c->successes = c->stale_presentations = 0;
	c->secret_regenerations = c->access_seq = c->refresh_seq = 0;
	family_clear(c);
	fo_access_drop_client_locked(c->id);
	fo_log_drop_client_locked(c->id);
}

/* A seed already issued is ignored, so re-PUTting a config keeps state. */
static void
seed_refresh_locked(struct client *c, const char *token)
{
	if (family_index(c, token) >= 0)
		return;
	family_push(c, token);
	c->family_revoked = false;
}

static json_t *
client_json_locked(const struct client *c)
{
	json_t *o = json_pack("{s:s}", "client_id", c->id);
	const char *current = c->family_len ?
	    c->family[c->family_len - 1] : NULL;

	json_object_update_new(o, fo_config_json(&c->cfg));
	json_object_update_new(o, json_pack(
	    "{s:I,s:I,s:I,s:s?,s:I,s:b,s:I,s:I}",
	    "requests", (json_int_t)c->requests,
	    "successes", (json_int_t)c->successes,
	    "stale_presentations", (json_int_t)c->stale_presentations,
	    "current_refresh_token", current,
	    "issued_refresh_tokens", (json_int_t)c->family_len,
	    "family_revoked", c->family_revoked,
	    "access_tokens_issued", (json_int_t)c->access_seq,
	    "secret_regenerations", (json_int_t)c->secret_regenerations));
	return o;
}

static char *
dump_new(json_t *o)
{
	char *text = json_dumps(o, JSON_COMPACT);

	json_decref(o);
	if (text == NULL)
		abort();
	return text;
}

static char *
error_body(const char *message)
{
	return dump_new(json_pack("{s:s}", "error", message));
}

static struct client *
client_add_locked(const char *id)
{
	struct client *c = fo_xmalloc(sizeof(*c));

	memset(c, 0, sizeof(*c));
	c->id = fo_xstrdup(id);
	c->next = clients;
	clients = c;
	return c;
}

/* Installs a validated configuration (which it takes over). */
static void
commit_locked(struct client *c, struct fo_config *cfg,
    const struct fo_config_update *up)
{
	fo_config_cleanup(&c->cfg);
	c->cfg = *cfg;
	if (up->reset)
		client_reset_locked(c);
	if (up->seed_refresh != NULL)
		seed_refresh_locked(c, up->seed_refresh);
}

int
fo_client_put(const char *id, const char *text, size_t len, bool patch,
    char **body)
{
	struct fo_config_update up = { 0 };
	struct fo_config cfg = { 0 };
	struct client *c;
	json_error_t jerr;
	char err[240];
	json_t *obj;
	int status = 400;

	if ((obj = json_loadb(text, len, JSON_REJECT_DUPLICATES, &jerr)) ==
	    NULL) {
		snprintf(err, sizeof(err), "body is not valid JSON: %s",
		    jerr.text);
		*body = error_body(err);
		return status;
	}
	fo_lock();
	c = find_locked(id);
	if (patch && c == NULL) {
		snprintf(err, sizeof(err), "no such client");
		status = 404;
		goto out;
	}
	if (patch)
		fo_config_copy(&cfg, &c->cfg);
	else
		fo_config_defaults(&cfg);
	if (fo_config_apply(&cfg, &up, id, obj, err, sizeof(err)) != 0)
		goto out;
	if (!patch && !up.has_secret) {
		snprintf(err, sizeof(err), "client_secret: required");
		goto out;
	}
	status = c == NULL ? 201 : 200;
	if (c == NULL)
		c = client_add_locked(id);
	commit_locked(c, &cfg, &up);
	memset(&cfg, 0, sizeof(cfg));
	*body = dump_new(client_json_locked(c));
out:
	fo_unlock();
	fo_config_cleanup(&cfg);
	json_decref(obj);	/* after commit: seed_refresh points into it */
	if (status >= 400)
		*body = error_body(err);
	return status;
}

int
fo_client_get(const char *id, char **body)
{
	struct client *c;
	int status = 200;

	fo_lock();
	c = find_locked(id);
	if (c != NULL)
		*body = dump_new(client_json_locked(c));
	fo_unlock();
	if (c == NULL) {
		*body = error_body("no such client");
		status = 404;
	}
	return status;
}

int
fo_client_delete(const char *id, char **body)
{
	struct client **pp, *c = NULL;

	fo_lock();
	for (pp = &clients; *pp != NULL; pp = &(*pp)->next) {
		if (strcmp((*pp)->id, id) == 0) {
			c = *pp;
			*pp = c->next;
			fo_access_drop_client_locked(c->id);
			break;
		}
	}
	fo_unlock();
	if (c == NULL) {
		*body = error_body("no such client");
		return 404;
	}
	*body = dump_new(json_pack("{s:s}", "deleted", id));
	client_free(c);
	return 200;
}

char *
fo_clients_dump(void)
{
	json_t *arr = json_array();
	struct client *c;
	char *text;

	fo_lock();
	for (c = clients; c != NULL; c = c->next)
		json_array_append_new(arr, client_json_locked(c));
	fo_unlock();
	text = dump_new(arr);
	return text;
}

void
fo_clients_free_all_locked(void)
{
	struct client *c;

	while ((c = clients) != NULL) {
		clients = c->next;
		client_free(c);
	}
}

static enum fo_behaviour
pick_locked(struct client *c)
{
	enum fo_behaviour b;

	if (c->cfg.script_len == 0)
		return c->cfg.behaviour;
	b = c->cfg.script[0];
	memmove(c->cfg.script, c->cfg.script + 1,
	    --c->cfg.script_len * sizeof(*c->cfg.script));
	return b;
}

void
fo_client_begin(const struct fo_token_req *t, bool pick, struct fo_plan *out)
{
	struct fo_log_fields f = {
		.path = t->path, .client_id = t->client_id,
		.auth_method = t->auth_method, .grant_type = t->grant_type,
		.scope = t->scope, .refresh_token = t->refresh_token,
	};
	struct client *c;

	memset(out, 0, sizeof(*out));
	fo_lock();
	c = find_locked(t->client_id);
	if (c != NULL) {
		out->known_client = true;
		c->requests++;
		out->delay_ms = c->cfg.delay_ms;
		out->retry_after = c->cfg.retry_after;
		out->retry_after_date = c->cfg.retry_after_date;
		if (pick) {
			out->behaviour = pick_locked(c);
			f.behaviour = fo_behaviour_str(out->behaviour);
		}
	}
	out->seq = fo_log_append_locked(&f);
	fo_unlock();
}

/* The refresh_token grant's family check; rotates on success. */
static enum fo_grant_rc
refresh_locked(struct client *c, const char *presented, struct fo_grant *g)
{
	long idx = presented != NULL ? family_index(c, presented) : -1;
	char *next;

	if (idx < 0)
		return FO_GRANT_UNKNOWN_REFRESH;
	if ((size_t)idx != c->family_len - 1) {
		c->stale_presentations++;
		c->family_revoked = true;
		return FO_GRANT_REUSED_REFRESH;
	}
	if (c->family_revoked)
		return FO_GRANT_REVOKED_REFRESH;
	if (c->cfg.rotate_refresh) {
		next = fo_xasprintf("rt-%s-%llu", c->id,
		    (unsigned long long)++c->refresh_seq);
		family_push(c, next);
		g->refresh_token = next;
	} else if (c->cfg.echo_refresh) {
		g->refresh_token = fo_xstrdup(presented);
	}
	return FO_GRANT_OK;
}

enum fo_grant_rc
fo_client_grant(const struct fo_token_req *t, struct fo_grant *out)
{
	struct fo_grant g = { 0 };
	enum fo_grant_rc rc = FO_GRANT_OK;
	const char *granted;
	struct client *c;

	fo_lock();
	c = find_locked(t->client_id);
	if (c == NULL || !fo_secret_eq(c->cfg.secret, t->client_secret)) {
		rc = FO_GRANT_BAD_CLIENT;
		goto out;
	}
	if (strcmp(t->grant_type, "client_credentials") != 0 &&
	    strcmp(t->grant_type, "refresh_token") != 0) {
		rc = FO_GRANT_UNSUPPORTED;
		goto out;
	}
	if (strcmp(t->grant_type, "refresh_token") == 0 &&
	    (rc = refresh_locked(c, t->refresh_token, &g)) != FO_GRANT_OK)
		goto out;
	granted = c->cfg.scope != NULL ? c->cfg.scope : t->scope;
	g.access_token = fo_xasprintf("at-%s-%llu", c->id,
	    (unsigned long long)++c->access_seq);
	g.lifetime = c->cfg.lifetime;
	if (!c->cfg.omit_scope && granted != NULL && *granted != '\0')
		g.scope = fo_xstrdup(granted);
	fo_access_add_locked(g.access_token, c->id, granted ? granted : "",
	    fo_now_ms() + (int64_t)g.lifetime * 1000);
	c->successes++;
	*out = g;
	memset(&g, 0, sizeof(g));
out:
	fo_unlock();
	fo_grant_cleanup(&g);
	return rc;
}

void
fo_grant_cleanup(struct fo_grant *g)
{
	free(g->access_token);
	free(g->refresh_token);
	free(g->scope);
	memset(g, 0, sizeof(*g));
}

int
fo_client_regenerate(const char *id, char **secret)
{
	struct client *c;

	fo_lock();
	c = find_locked(id);
	if (c != NULL) {
		free(c->cfg.secret);
		c->cfg.secret = fo_random_secret();
		c->secret_regenerations++;
		*secret = fo_xstrdup(c->cfg.secret);
	}
	fo_unlock();
	return c != NULL ? 0 : -1;
}

enum fo_behaviour
fo_client_api_behaviour(const char *id, long *retry_after,
    bool *retry_after_date)
{
	enum fo_behaviour b = FO_B_OK;
	struct client *c;

	*retry_after = 2;
	*retry_after_date = false;
	fo_lock();
	c = find_locked(id);
	if (c != NULL) {
		b = c->cfg.api_behaviour;
		*retry_after = c->cfg.retry_after;
		*retry_after_date = c->cfg.retry_after_date;
	}
	fo_unlock();
	return b;
}

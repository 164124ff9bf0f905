/*
 * api.c — the slice of the Genesys Cloud platform API that orgvault uses
 * besides the token endpoint, authorised by a Bearer access token that
 * this server issued and that has not expired:
 *
 *   POST   /api/v2/oauth/clients/{id}/secret  200 {"secret": new}; 404
 *   GET    /api/v2/tokens/me                   200 token description
 *   DELETE /api/v2/tokens/me                   204, revokes the token
 *
 * Errors use the Genesys body {"message":M,"code":C,"status":S}; 401 for
 * a missing, unknown or expired token; 403 when /secret is asked with a
 * token whose scope lacks oauth:client:edit (the permission it needs).  The api_behaviour of the client
 * concerned (the target of /secret, the token's owner for /tokens/me)
 * runs first, as on the token endpoint: faults replace the answer.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "fake_oauth.h"

#define CLIENTS_PREFIX	"/api/v2/oauth/clients/"
#define SECRET_SUFFIX	"/secret"

static void
genesys_error(struct fo_reply *r, int status, const char *code,
    const char *message)
{
	fo_reply_json(r, status, json_pack("{s:s,s:s,s:i}", "message",
	    message, "code", code, "status", status));
}

/* The client id of /api/v2/oauth/clients/{id}/secret (malloc'd), or NULL. */
static char *
secret_path_client(const char *path)
{
	size_t plen = strlen(CLIENTS_PREFIX), slen = strlen(SECRET_SUFFIX);
	size_t len = strlen(path);
	char *id;

	if (len <= plen + slen || strncmp(path, CLIENTS_PREFIX, plen) != 0 ||
	    strcmp(path + len - slen, SECRET_SUFFIX) != 0)
		return NULL;
	id = fo_xstrdup(path + plen);
	id[len - plen - slen] = '\0';
	if (strchr(id, '/') != NULL) {
		free(id);
		return NULL;
	}
	return id;
}

/* Whether the space-separated scope holds the word. */
static bool
scope_has(const char *scope, const char *word)
{
	size_t n = strlen(word);

	for (const char *p = scope; p && (p = strstr(p, word)) != NULL; p += n)
		if ((p == scope || p[-1] == ' ') && (p[n] == '\0' || p[n] == ' '))
			return true;
	return false;
}

/* Runs a fault behaviour; true when it produced the answer. */
static bool
misbehave(enum fo_behaviour b, long retry_after, bool as_date,
    struct fo_reply *r)
{
	if (b == FO_B_OK || b == FO_B_SLOW)
		return false;	/* delay_ms: token endpoint only */
	fo_fault_reply(r, FO_STYLE_GENESYS, b, retry_after, as_date);
	return true;
}

static void
regenerate(const char *target, struct fo_reply *r)
{
	char *secret = NULL;

	if (fo_client_regenerate(target, &secret) != 0) {
		genesys_error(r, 404, "not.found", "OAuth client not found");
		return;
	}
	fo_reply_json(r, 200, json_pack("{s:s}", "secret", secret));
	free(secret);
}

static void
tokens_me(const struct fo_http_req *hr, const char *token, const char *scope,
    const char *owner, struct fo_reply *r)
{
	json_t *scopes = json_array();
	char *copy = fo_xstrdup(scope), *word, *save = NULL;

	if (strcmp(hr->method, "DELETE") == 0) {
		fo_access_revoke(token);
		fo_reply_text(r, 204, "application/json", "");
		json_decref(scopes);
		free(copy);
		return;
	}
	for (word = strtok_r(copy, " ", &save); word != NULL;
	    word = strtok_r(NULL, " ", &save))
		json_array_append_new(scopes, json_string(word));
	free(copy);
	fo_reply_json(r, 200, json_pack("{s:{s:s},s:{s:s},s:o}",
	    "organization", "id", "fake-org",
	    "OAuthClient", "id", owner,
	    "authorizedScope", scopes));
}

void
fo_api_handle(const struct fo_http_req *hr, struct fo_reply *r)
{
	const char *token = fo_bearer_token(hr->authorization);
	char *target = secret_path_client(hr->path), *owner = NULL;
	char *scope = NULL;
	bool me = strcmp(hr->path, "/api/v2/tokens/me") == 0;
	bool live = token != NULL &&
	    fo_access_check(token, &owner, &scope) == 0;
	struct fo_log_fields f = {
		.path = hr->path, .client_id = target ? target : owner,
		.auth_method = token ? "bearer" : NULL, .token_client = owner,
	};
	enum fo_behaviour b;
	long retry_after;
	bool as_date;

	b = fo_client_api_behaviour(f.client_id, &retry_after, &as_date);
	f.behaviour = fo_behaviour_str(b);
	r->seq = fo_log_append(&f);
	snprintf(r->note, sizeof(r->note), "client=%.64s token_client=%.64s",
	    f.client_id ? f.client_id : "-", owner ? owner : "-");
	if (target == NULL && !me)
		genesys_error(r, 404, "not.found", "no such resource");
	else if ((target && strcmp(hr->method, "POST") != 0) ||
	    (me && strcmp(hr->method, "GET") && strcmp(hr->method, "DELETE")))
		genesys_error(r, 405, "method.not.allowed",
		    "method not allowed");
	else if (misbehave(b, retry_after, as_date, r))
		;
	else if (!live)
		genesys_error(r, 401, "bad.credentials",
		    "Invalid login credentials.");
	else if (target != NULL && !scope_has(scope, "oauth:client:edit"))
		genesys_error(r, 403, "missing.permissions", "Missing "
		    "permission oauth:client:edit");
	else if (target != NULL)
		regenerate(target, r);
	else
		tokens_me(hr, token, scope, owner, r);
	free(target);
	free(owner);
	free(scope);
}

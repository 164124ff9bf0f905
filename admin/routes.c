/*
 * routes.c — the route table: method, path pattern, the role it needs,
 * the handler.  Dispatch order: path (404), method (405), API key (401,
 * 429), the key's orgs (404, as if the org did not exist), role (403),
 * the key's credentials (403), then the handler.  The key is verified once the head is in
 * (routes_need_key), so that a request without a good key keeps no
 * body; its 401 or 429 still comes in this order.
 */
#include <stdio.h>
#include <string.h>

#include "admin/admin_int.h"
#include "util/validate.h"

enum need { NEED_NONE, NEED_READER, NEED_OPERATOR, NEED_ADMIN,
	NEED_ADMIN_ALL /* admin for every org */, NEED_TOKEN };

struct route {
	const char	*method;
	const char	*pattern;	/* "{}" matches one slug */
	enum need	 need;
	enum MHD_Result	(*fn)(struct req *);
};

#define CRED "/v1/orgs/{}/credentials/{}"
static const struct route routes[] = {
	{ "GET",    "/v1/health",		NEED_NONE,	h_health },
	{ "GET",    "/metrics",			NEED_READER,	metrics_answer },
	{ "GET",    "/v1/orgs",			NEED_READER,	h_orgs_list },
	{ "POST",   "/v1/orgs",			NEED_ADMIN,	h_org_create },
	{ "GET",    "/v1/orgs/{}",		NEED_READER,	h_org_get },
	{ "PATCH",  "/v1/orgs/{}",		NEED_ADMIN,	h_org_patch },
	{ "DELETE", "/v1/orgs/{}",		NEED_ADMIN,	h_org_delete },
	{ "GET",    "/v1/credentials",		NEED_READER,	h_creds_all },
	{ "GET",    "/v1/orgs/{}/credentials",	NEED_READER,	h_creds_of_org },
	{ "PUT",    CRED,			NEED_OPERATOR,	h_cred_put },
	{ "GET",    CRED,			NEED_READER,	h_cred_get },
	{ "DELETE", CRED,			NEED_OPERATOR,	h_cred_delete },
	{ "POST",   CRED "/refresh",		NEED_OPERATOR,	h_cred_refresh },
	{ "GET",    CRED "/token",		NEED_TOKEN,	h_token },
	{ "PUT",    CRED "/secret/pending",	NEED_OPERATOR,	h_secret_stage },
	{ "DELETE", CRED "/secret/pending",	NEED_OPERATOR,	h_secret_discard },
	{ "POST",   CRED "/secret/test",	NEED_OPERATOR,	h_secret_test },
	{ "POST",   CRED "/secret/promote",	NEED_OPERATOR,	h_secret_promote },
	{ "POST",   CRED "/secret/rollback",	NEED_OPERATOR,	h_secret_rollback },
	{ "GET",    "/v1/audit/events",		NEED_READER,	h_audit_events },
	{ "GET",    "/v1/audit/drift",		NEED_READER,	h_audit_drift },
	{ "GET",    "/v1/audit/revocations",	NEED_READER,	h_audit_revocations },
	{ "GET",    "/v1/audit/verify",		NEED_READER,	h_audit_verify },
	{ "GET",    "/v1/apikeys",		NEED_ADMIN_ALL,	h_apikeys_list },
	{ "POST",   "/v1/apikeys",		NEED_ADMIN_ALL,	h_apikey_create },
	{ "DELETE", "/v1/apikeys/{}",		NEED_ADMIN_ALL,	h_apikey_delete },
	{ "GET",    "/v1/webhooks",		NEED_ADMIN_ALL,	h_webhooks_list },
	{ "POST",   "/v1/webhooks",		NEED_ADMIN_ALL,	h_webhook_add },
	{ "DELETE", "/v1/webhooks/{}",		NEED_ADMIN_ALL,	h_webhook_delete },
};
#define NROUTES	(sizeof(routes) / sizeof(routes[0]))

_Static_assert(NROUTES < METRICS_ROUTE_N, "metrics need a slot per route");

const char *
routes_label(int i, char *buf, size_t len)
{
	const char *p;
	size_t o = 0;
	int k = 0;

	if (i < 0 || (size_t)i >= NROUTES)
		return "other";
	/* "{}" → "{org}", "{name}" */
	for (p = routes[i].pattern; *p && o + 8 < len; p++) {
		if (p[0] == '{' && p[1] == '}') {
			o += (size_t)snprintf(buf + o, len - o, "%s", k++ == 0 &&
			    strncmp(routes[i].pattern, "/v1/orgs", 8) == 0 ?
			    "{org}" : "{name}");
			p++;
		} else
			buf[o++] = *p;
	}
	buf[o] = '\0';
	return buf;
}

const char *
routes_method(int i)
{
	return i < 0 || (size_t)i >= NROUTES ? "" : routes[i].method;
}

/* Matches path against pattern, filling r->params; 1 on a match. */
static int
match(struct req *r, const char *pattern, const char *path)
{
	int np = 0;

	memset(r->params, 0, sizeof(r->params));
	while (*pattern && *path) {
		if (pattern[0] == '{' && pattern[1] == '}') {
			size_t n = strcspn(path, "/");

			if (n == 0 || n > OV_SLUG_MAX || np == ADMIN_PARAMS_MAX)
				return 0;
			memcpy(r->pbuf[np], path, n);
			r->pbuf[np][n] = '\0';
			r->params[np] = r->pbuf[np];
			np++;
			path += n;
			pattern += 2;
		} else if (*pattern++ != *path++)
			return 0;
	}
	return *pattern == '\0' && *path == '\0';
}

static int
rank(const char *role)
{
	if (strcmp(role, "admin") == 0)
		return 3;
	if (strcmp(role, "operator") == 0)
		return 2;
	if (strcmp(role, "reader") == 0)
		return 1;
	return 0;	/* token */
}

static int
allowed(const struct vault_apikey *k, enum need need)
{
	switch (need) {
	case NEED_NONE:		return 1;
	case NEED_READER:	return rank(k->role) >= 1;
	case NEED_OPERATOR:	return rank(k->role) >= 2;
	case NEED_ADMIN:	return rank(k->role) >= 3;
	case NEED_ADMIN_ALL:	return rank(k->role) >= 3 &&
				    strcmp(k->orgs, "*") == 0;
	case NEED_TOKEN:	return strcmp(k->role, "token") == 0;
	}
	return 0;
}

static const char *
need_str(enum need need)
{
	switch (need) {
	case NEED_READER:	return "a reader, operator or admin key";
	case NEED_OPERATOR:	return "an operator or admin key";
	case NEED_ADMIN:	return "an admin key";
	case NEED_ADMIN_ALL:	return "an admin key for all orgs (--orgs '*')";
	case NEED_TOKEN:	return "a token key (role token)";
	default:		return "no key";
	}
}

/* r's route (r->route, r->params set), or NULL; allow gets the methods
 * of the path's other routes. */
static const struct route *
find(struct req *r, char *allow, size_t len)
{
	allow[0] = '\0';
	for (size_t i = 0; i < NROUTES; i++) {
		if (!match(r, routes[i].pattern, r->path))
			continue;
		if (strcmp(routes[i].method, r->method) == 0) {
			r->route = (int)i;
			return &routes[i];
		}
		snprintf(allow + strlen(allow), len - strlen(allow), "%s%s",
		    allow[0] ? ", " : "", routes[i].method);
	}
	return NULL;
}

int
routes_need_key(struct req *r)
{
	const struct route *rt;
	char allow[64];

	rt = find(r, allow, sizeof(allow));
	r->route = -1;		/* set by the dispatch */
	return rt != NULL && rt->need != NEED_NONE;
}

enum MHD_Result
routes_dispatch(struct req *r)
{
	const struct route *rt;
	char allow[64];
	enum MHD_Result ret;

	rt = find(r, allow, sizeof(allow));
	if (rt == NULL && allow[0]) {
		http_header(r, MHD_HTTP_HEADER_ALLOW, allow);
		return http_problem(r, 405, "method-not-allowed", NULL,
		    "%s is not allowed here; use %s", r->method, allow);
	}
	if (rt == NULL)
		return http_problem(r, 404, "not-found", NULL, "no such "
		    "endpoint: %.100s (see the API in README.md)", r->path);
	if (rt->need != NEED_NONE && auth_check(r, &ret) != 0)
		return ret;
	for (int i = 0; i < ADMIN_PARAMS_MAX && r->params[i]; i++)
		if (validate_slug("path", r->params[i]) != OV_OK)
			return http_problem(r, 404, "not-found", NULL,
			    "'%.64s' is not a valid name", r->params[i]);
	/* A key limited to some orgs: the others do not exist for it,
	 * whatever its role. */
	if (strncmp(rt->pattern, "/v1/orgs/{}", 11) == 0 && r->authed &&
	    !vault_apikey_allows(&r->key, r->params[0]))
		return http_problem(r, 404, "not-found", NULL, "no org '%s'",
		    r->params[0]);
	if (rt->need != NEED_NONE && !allowed(&r->key, rt->need))
		return http_problem(r, 403, "forbidden", NULL, "the key '%s' "
		    "(role %s) cannot do this: it needs %s", r->key.name,
		    r->key.role, need_str(rt->need));
	/* A key limited to some credentials of its orgs: 403 for the
	 * others (the lists leave them out). */
	if (strncmp(rt->pattern, CRED, sizeof(CRED) - 1) == 0 && r->authed &&
	    !vault_apikey_allows_cred(&r->key, r->params[0], r->params[1]))
		return http_problem(r, 403, "forbidden", NULL, "the key '%s' "
		    "is limited to the credentials %s", r->key.name,
		    r->key.credentials);
	return rt->fn(r);
}

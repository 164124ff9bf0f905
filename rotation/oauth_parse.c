/*
 * oauth_parse.c — what a token endpoint's answer means.
 *
 *   status  body                                  outcome
 *   200     access_token, token_type bearer, ...  OAUTH_OK
 *   200     anything else                         OAUTH_TRANSIENT "protocol"
 *   4xx     error=invalid_grant                   OAUTH_REVOKED
 *   4xx     error=invalid_client                  OAUTH_INVALID_CLIENT
 *   401/403 anything else (incl. ServiceNow's
 *           server_error/access_denied)           OAUTH_INVALID_CLIENT,
 *           ... on a refresh_token grant          OAUTH_SECRET_OR_GRANT
 *           (oauth_refine_for_grant: a wrong secret and a dead refresh
 *           token answer alike, so both fixes are named)
 *   429     (Retry-After honoured, capped)        OAUTH_RATE_LIMITED
 *   4xx     invalid_scope, unauthorized_client,
 *           unsupported_grant_type, other         OAUTH_FAILING
 *   5xx, other                                    OAUTH_TRANSIENT
 *
 * Provider text (error, error_description) is sanitised to printable
 * ASCII and truncated before it is kept; the body is never copied
 * anywhere else.  Pure functions: the fuzz target calls them directly.
 */
#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <curl/curl.h>
#include <jansson.h>

#include "rotation/oauth.h"

const char *
oauth_outcome_str(enum oauth_outcome o)
{
	static const char *names[] = { "ok", "revoked", "invalid_client",
	    "failing", "rate_limited", "transient", "outcome_unknown",
	    "secret_or_grant_refused" };

	return (unsigned)o < sizeof(names) / sizeof(names[0]) ? names[o] :
	    "unknown";
}

void
oauth_result_cleanup(struct oauth_result *r)
{
	secret_free(r->access_token);
	secret_free(r->refresh_token);
	r->access_token = r->refresh_token = NULL;
}

/* Printable ASCII only, at most len-1 bytes; others become '?'. */
static void
sanitise(char *dst, size_t len, const char *src)
{
	size_t i;

	for (i = 0; src && src[i] && i + 1 < len; i++)
		dst[i] = (src[i] >= 0x20 && src[i] < 0x7f) ? src[i] : '?';
	dst[i] = '\0';
}

long
oauth_parse_retry_after(const char *v, int64_t now, long cap)
{
	long secs = -1;
	time_t when;

	if (v == NULL)
		return -1;
	while (*v == ' ' || *v == '\t')
		v++;
	if (*v >= '0' && *v <= '9') {
		char *end;
		unsigned long long n = strtoull(v, &end, 10);

		while (*end == ' ' || *end == '\t' || *end == '\r' ||
		    *end == '\n')
			end++;
		if (*end != '\0')
			return -1;
		secs = n > (unsigned long long)cap ? cap : (long)n;
	} else if ((when = curl_getdate(v, NULL)) != -1) {
		secs = when <= now ? 0 : (long)(when - now);
		if (secs > cap)
			secs = cap;
	}
	return secs;
}

static const char *
jstr(json_t *o, const char *key)
{
	json_t *v = json_object_get(o, key);

	return json_is_string(v) ? json_string_value(v) : NULL;
}

static void
protocol_error(struct oauth_result *out, const char *why)
{
	out->outcome = OAUTH_TRANSIENT;
	snprintf(out->error, sizeof(out->error), "protocol");
	sanitise(out->description, sizeof(out->description), why);
}

/* Tokens are printable ASCII without spaces (RFC 6750 b64token and
 * every real provider's tokens fit that). */
static int
token_chars_ok(json_t *v)
{
	const char *p = json_string_value(v);
	size_t n = json_string_length(v);

	for (size_t i = 0; i < n; i++)
		if (p[i] <= 0x20 || p[i] >= 0x7f)
			return 0;
	return 1;
}

/* A 200 answer: every field checked before anything is kept. */
static void
parse_success(json_t *o, const char *requested_scope, long default_lifetime,
    struct oauth_result *out)
{
	json_t *at = json_object_get(o, "access_token");
	json_t *tt = json_object_get(o, "token_type");
	json_t *ei = json_object_get(o, "expires_in");
	json_t *sc = json_object_get(o, "scope");
	json_t *rt = json_object_get(o, "refresh_token");
	json_t *rte = json_object_get(o, "refresh_token_expires_in");

	if (!json_is_string(at) || json_string_length(at) == 0 ||
	    json_string_length(at) > OV_TOKEN_MAX || !token_chars_ok(at))
		return protocol_error(out, "access_token missing, mistyped or "
		    "too long");
	if (!json_is_string(tt) || strcasecmp(json_string_value(tt),
	    "bearer") != 0)
		return protocol_error(out, "token_type missing or not Bearer");
	if (ei && !json_is_null(ei) && (!json_is_integer(ei) ||
	    json_integer_value(ei) <= 0 ||
	    json_integer_value(ei) > OV_LIFETIME_MAX))
		return protocol_error(out, "expires_in mistyped or out of "
		    "range");
	if (sc && !json_is_null(sc) && (!json_is_string(sc) ||
	    json_string_length(sc) > OV_SCOPE_MAX))
		return protocol_error(out, "scope mistyped or too long");
	if (rt && !json_is_null(rt) && (!json_is_string(rt) ||
	    json_string_length(rt) == 0 ||
	    json_string_length(rt) > OV_SECRET_MAX || !token_chars_ok(rt)))
		return protocol_error(out, "refresh_token mistyped or too "
		    "long");
	/* Not RFC 6749, but some providers say when the refresh token
	 * dies; anything unusable is ignored, not fatal. */
	if (json_is_integer(rte) && json_integer_value(rte) > 0 &&
	    json_integer_value(rte) <= OV_LIFETIME_MAX * 10)
		out->refresh_expires_in = (long)json_integer_value(rte);
	if (secret_from(json_string_value(at), json_string_length(at),
	    &out->access_token) != OV_OK)
		return protocol_error(out, "out of memory");
	if (json_is_string(rt) && secret_from(json_string_value(rt),
	    json_string_length(rt), &out->refresh_token) != OV_OK) {
		oauth_result_cleanup(out);
		return protocol_error(out, "out of memory");
	}
	snprintf(out->token_type, sizeof(out->token_type), "Bearer");
	out->expires_in = json_is_integer(ei) ?
	    (long)json_integer_value(ei) : default_lifetime;
	snprintf(out->granted_scope, sizeof(out->granted_scope), "%s",
	    json_is_string(sc) ? json_string_value(sc) : requested_scope);
	out->outcome = OAUTH_OK;
}

static void
parse_error(long status, json_t *o, struct oauth_result *out)
{
	const char *err = o ? jstr(o, "error") : NULL;
	const char *desc = o ? jstr(o, "error_description") : NULL;

	if (desc == NULL && o)
		desc = jstr(o, "description");
	if (desc == NULL && o)
		desc = jstr(o, "message");	/* Genesys 429 bodies */
	sanitise(out->error, sizeof(out->error), err ? err : "");
	sanitise(out->description, sizeof(out->description), desc);
	if (err && strcmp(err, "invalid_grant") == 0)
		out->outcome = OAUTH_REVOKED;
	else if (err && strcmp(err, "invalid_client") == 0)
		out->outcome = OAUTH_INVALID_CLIENT;
	else if (status == 429)
		out->outcome = OAUTH_RATE_LIMITED;
	else if (status == 401 || status == 403)
		out->outcome = OAUTH_INVALID_CLIENT;
	else if (status >= 400 && status < 500)
		out->outcome = OAUTH_FAILING;
	else
		out->outcome = OAUTH_TRANSIENT;
	if (out->error[0] == '\0')
		snprintf(out->error, sizeof(out->error), "http_%ld", status);
}

void
oauth_refine_for_grant(struct oauth_result *r, int refresh_grant)
{
	if (refresh_grant && r->outcome == OAUTH_INVALID_CLIENT &&
	    strcmp(r->error, "invalid_client") != 0)
		r->outcome = OAUTH_SECRET_OR_GRANT;
}

/* The body as a JSON object, or NULL.  ALLOW_NUL: a NUL in a
 * description must not hide invalid_grant. */
static json_t *
load_object(const char *body, size_t len)
{
	json_error_t jerr;
	json_t *o = json_loadb(body, len, JSON_REJECT_DUPLICATES |
	    JSON_ALLOW_NUL, &jerr);

	if (o && !json_is_object(o)) {
		json_decref(o);
		o = NULL;
	}
	return o;
}

void
oauth_parse_response(long status, const char *body, size_t len,
    const char *retry_after, const char *requested_scope,
    long default_lifetime, long retry_after_cap, struct oauth_result *out)
{
	json_t *o = load_object(body, len);

	out->http_status = status;
	out->retry_after_s = -1;
	out->error[0] = out->description[0] = '\0';
	if (status == 200) {
		if (o == NULL)
			protocol_error(out, "response is not a JSON object");
		else
			parse_success(o, requested_scope ? requested_scope : "",
			    default_lifetime, out);
	} else
		parse_error(status, o, out);
	if (status == 429)
		out->retry_after_s = oauth_parse_retry_after(retry_after,
		    (int64_t)time(NULL), retry_after_cap);
	json_decref(o);
}

void
oauth_parse_new_secret(long status, const char *body, size_t len,
    struct oauth_result *out, struct secret **secret)
{
	json_t *o = load_object(body, len), *s;

	*secret = NULL;
	out->http_status = status;
	out->retry_after_s = -1;
	out->error[0] = out->description[0] = '\0';
	if (status != 200)
		parse_error(status, o, out);
	else if (o == NULL)
		protocol_error(out, "response is not a JSON object");
	else if (!json_is_string(s = json_object_get(o, "secret")) ||
	    json_string_length(s) == 0 || !token_chars_ok(s))
		protocol_error(out, "no usable \"secret\" in the answer");
	else if (json_string_length(s) > OV_SECRET_MAX)
		protocol_error(out, "the new secret is too long");
	else if (secret_from(json_string_value(s), json_string_length(s),
	    secret) != OV_OK)
		protocol_error(out, "out of memory");
	else
		out->outcome = OAUTH_OK;
	json_decref(o);
}

/*
 * faults.c — what the server answers: RFC 6749 §5.2 errors phrased in each
 * provider's style, and every injected fault.
 *
 *   style       error body
 *   ----------  ------------------------------------------------------------
 *   genesys     {"error":E,"description":D,"error_description":D}
 *   rfc         {"error":E,"error_description":D}
 *   servicenow  invalid_client and invalid_grant become HTTP 401
 *               {"error":"server_error","error_description":"access_denied"}
 *               (what ServiceNow really sends); other errors as rfc.
 *
 * invalid_client is 401, with WWW-Authenticate: Basic realm="fake" when the
 * client used Basic; the other RFC errors are 400.  429 carries Retry-After
 * and the Genesys rate-limit body on every style; 503 carries Retry-After.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "fake_oauth.h"

void
fo_oauth_error(struct fo_reply *r, enum fo_style style, int status,
    const char *error, const char *description)
{
	json_t *o;

	if (style == FO_STYLE_GENESYS)
		o = json_pack("{s:s,s:s,s:s}", "error", error,
		    "description", description,
		    "error_description", description);
	else
		o = json_pack("{s:s,s:s}", "error", error,
		    "error_description", description);
	fo_reply_json(r, status, o);
}

void
fo_auth_failure(struct fo_reply *r, enum fo_style style, const char *error,
    const char *description, bool basic)
{
	if (style == FO_STYLE_SERVICENOW)
		fo_oauth_error(r, FO_STYLE_RFC, 401, "server_error",
		    "access_denied");
	else
		fo_oauth_error(r, style,
		    strcmp(error, "invalid_client") == 0 ? 401 : 400,
		    error, description);
	r->www_authenticate = basic && r->status == 401;
}

static void
set_retry_after(struct fo_reply *r, long seconds, bool as_date)
{
	if (as_date)
		fo_http_date(time(NULL) + seconds, r->retry_after,
		    sizeof(r->retry_after));
	else
		snprintf(r->retry_after, sizeof(r->retry_after), "%ld",
		    seconds);
}

static void
rate_limited(struct fo_reply *r, long seconds, bool as_date)
{
	char message[128];

	snprintf(message, sizeof(message), "Rate limit exceeded the maximum."
	    " Retry the request in [%ld] seconds", seconds);
	fo_reply_json(r, 429, json_pack("{s:s,s:s,s:i}", "message", message,
	    "code", "too.many.requests.retry.after", "status", 429));
	set_retry_after(r, seconds, as_date);
}

/* A syntactically valid token response of FO_HUGE_BODY bytes. */
static void
huge(struct fo_reply *r)
{
	static const char head[] = "{\"access_token\":\"at-huge\","
	    "\"token_type\":\"bearer\",\"expires_in\":3600,\"padding\":\"";
	static const char tail[] = "\"}";
	size_t pad = FO_HUGE_BODY - (sizeof(head) - 1) - (sizeof(tail) - 1);
	char *body = fo_xmalloc(FO_HUGE_BODY + 1);

	memcpy(body, head, sizeof(head) - 1);
	memset(body + sizeof(head) - 1, 'x', pad);
	memcpy(body + sizeof(head) - 1 + pad, tail, sizeof(tail));
	fo_reply_cleanup(r);
	r->action = FO_SEND;
	r->status = 200;
	r->content_type = "application/json";
	r->body = body;
	r->body_len = FO_HUGE_BODY;
}

/* The 200 replies that are not a usable token response. */
static void
bad_success(struct fo_reply *r, enum fo_behaviour b)
{
	switch (b) {
	case FO_B_GARBAGE:
		fo_reply_text(r, 200, "application/json",
		    "<<this is not JSON>> {\"access_token\": ");
		break;
	case FO_B_HUGE:
		huge(r);
		break;
	case FO_B_MISSING_ACCESS_TOKEN:
		fo_reply_json(r, 200, json_pack("{s:s,s:i}",
		    "token_type", "bearer", "expires_in", 3600));
		break;
	default:	/* FO_B_MISTYPED */
		fo_reply_json(r, 200, json_pack("{s:i,s:s,s:s}",
		    "access_token", 123, "token_type", "bearer",
		    "expires_in", "3600"));
		break;
	}
}

/*
 * Every behaviour but ok and slow, which the callers implement.  The
 * caller sets www_authenticate on a 401 when Basic was used.
 */
void
fo_fault_reply(struct fo_reply *r, enum fo_style style, enum fo_behaviour b,
    long retry_after, bool retry_after_date)
{
	switch (b) {
	case FO_B_INVALID_GRANT:
		fo_auth_failure(r, style, "invalid_grant",
		    "the authorization grant is invalid or expired", false);
		break;
	case FO_B_INVALID_CLIENT:
		fo_auth_failure(r, style, "invalid_client",
		    "authentication failed", false);
		break;
	case FO_B_INVALID_SCOPE:
		fo_oauth_error(r, style, 400, "invalid_scope",
		    "the requested scope is invalid");
		break;
	case FO_B_UNAUTHORIZED_CLIENT:
		fo_oauth_error(r, style, 400, "unauthorized_client",
		    "client is not authorized to use this grant type");
		break;
	case FO_B_UNSUPPORTED_GRANT_TYPE:
		fo_oauth_error(r, style, 400, "unsupported_grant_type",
		    "grant type not supported");
		break;
	case FO_B_INVALID_REQUEST:
		fo_oauth_error(r, style, 400, "invalid_request",
		    "malformed request");
		break;
	case FO_B_SERVICENOW_401:
		fo_oauth_error(r, FO_STYLE_RFC, 401, "server_error",
		    "access_denied");
		break;
	case FO_B_429:
		rate_limited(r, retry_after, retry_after_date);
		break;
	case FO_B_503:
		fo_oauth_error(r, style, 503, "temporarily_unavailable",
		    "service unavailable");
		set_retry_after(r, retry_after, retry_after_date);
		break;
	case FO_B_HTML_500:
		fo_reply_text(r, 500, "text/html", "<html><head><title>500 "
		    "Internal Server Error</title></head><body><h1>Internal "
		    "Server Error</h1></body></html>\n");
		break;
	case FO_B_HANG:
		r->action = FO_HANG;
		break;
	case FO_B_RESET:
		r->action = FO_RESET;
		break;
	case FO_B_GARBAGE:
	case FO_B_HUGE:
	case FO_B_MISSING_ACCESS_TOKEN:
	case FO_B_MISTYPED:
		bad_success(r, b);
		break;
	default:	/* FO_B_500; ok and slow never get here */
		fo_oauth_error(r, style, 500, "server_error",
		    "internal server error");
		break;
	}
}

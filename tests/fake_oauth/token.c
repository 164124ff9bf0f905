/*
 * token.c — the token endpoints (/oauth/token, /oauth_token.do, /token):
 * parse the form, authenticate the client (RFC 6749 §2.3.1), pick the
 * client's behaviour and either grant or misbehave.
 *
 * Order of checks: method, content type, form syntax, repeated
 * parameters, credentials in both places, missing credentials, missing
 * grant_type or refresh_token → these never consume a script step.  Then
 * the client's behaviour is picked (one script step per request); only ok
 * and slow reach the real logic: secret, grant_type, refresh family.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "fake_oauth.h"

struct parsed {
	struct fo_form		 form;
	struct fo_token_req	 t;
	char			*basic_id;
	char			*basic_secret;
	int			 basic;	/* fo_basic_decode() */
};

/* Reasons compared by address in refuse(). */
static const char why_method[] = "method not allowed";
static const char why_basic[] = "malformed Basic credentials";
static const char why_noauth[] = "client authentication required";

static bool
is_form(const char *ct)
{
	static const char want[] = "application/x-www-form-urlencoded";
	size_t n = sizeof(want) - 1;

	if (ct == NULL || strncasecmp(ct, want, n) != 0)
		return false;
	for (ct += n; *ct == ' ' || *ct == '\t'; ct++)
		;
	return *ct == '\0' || *ct == ';';
}

/* RFC 6749 §3.2: no parameter twice; ours must also be UTF-8 text. */
static const char *
bad_param(const struct fo_form *form)
{
	static const char *const names[] = { "grant_type", "scope",
		"refresh_token", "client_id", "client_secret", NULL };
	const char *value;
	int i, n;

	for (i = 0; names[i] != NULL; i++) {
		value = fo_form_get(form, names[i], &n);
		if (n > 1)
			return "repeated parameter";
		if (value != NULL && !fo_utf8_valid(value))
			return "parameter is not UTF-8";
	}
	return NULL;
}

/* Fills p->t from the request; returns why it is invalid, or NULL. */
static const char *
parse(const struct fo_http_req *hr, struct parsed *p)
{
	const char *body_id, *body_secret, *why;

	if (strcmp(hr->method, "POST") != 0)
		return why_method;
	if (!is_form(hr->content_type))
		return "content type must be application/x-www-form-urlencoded";
	if (fo_form_parse(hr->body, hr->body_len, &p->form) != 0)
		return "malformed form body";
	if ((why = bad_param(&p->form)) != NULL)
		return why;
	p->t.grant_type = fo_form_get(&p->form, "grant_type", NULL);
	p->t.scope = fo_form_get(&p->form, "scope", NULL);
	p->t.refresh_token = fo_form_get(&p->form, "refresh_token", NULL);
	body_id = fo_form_get(&p->form, "client_id", NULL);
	body_secret = fo_form_get(&p->form, "client_secret", NULL);
	p->basic = fo_basic_decode(hr->authorization, &p->basic_id,
	    &p->basic_secret);
	if (p->basic != 0) {
		p->t.auth_method = "basic";
		p->t.client_id = p->basic_id;
		p->t.client_secret = p->basic_secret;
		if (body_secret != NULL || (body_id != NULL &&
		    (p->basic_id == NULL || strcmp(body_id, p->basic_id)))) {
			p->t.auth_method = "both";
			return "client credentials in both header and body";
		}
	} else if (body_id != NULL) {
		p->t.auth_method = "post";
		p->t.client_id = body_id;
		p->t.client_secret = body_secret;
	}
	return NULL;
}

/* Checks that need the credentials; NULL when the request is usable. */
static const char *
incomplete(const struct parsed *p)
{
	if (p->t.grant_type == NULL)
		return "grant_type missing";
	if (strcmp(p->t.grant_type, "refresh_token") == 0 &&
	    p->t.refresh_token == NULL)
		return "refresh_token missing";
	return NULL;
}

static void
grant_reply(struct fo_reply *r, const struct parsed *p)
{
	struct fo_grant g = { 0 };
	enum fo_grant_rc rc = fo_client_grant(&p->t, &g);
	enum fo_style style = p->t.style;
	bool basic = p->basic != 0;
	json_t *o;

	switch (rc) {
	case FO_GRANT_OK:
		o = json_pack("{s:s,s:s,s:I}", "access_token", g.access_token,
		    "token_type", "bearer", "expires_in",
		    (json_int_t)g.lifetime);
		if (g.scope != NULL)
			json_object_set_new(o, "scope", json_string(g.scope));
		if (g.refresh_token != NULL)
			json_object_set_new(o, "refresh_token",
			    json_string(g.refresh_token));
		fo_reply_json(r, 200, o);
		fo_grant_cleanup(&g);
		break;
	case FO_GRANT_BAD_CLIENT:
		fo_auth_failure(r, style, "invalid_client",
		    "authentication failed", basic);
		break;
	case FO_GRANT_UNKNOWN_REFRESH:
		fo_auth_failure(r, style, "invalid_grant",
		    "invalid refresh token", basic);
		break;
	case FO_GRANT_REUSED_REFRESH:
		fo_auth_failure(r, style, "invalid_grant",
		    "refresh token reuse detected", basic);
		break;
	case FO_GRANT_REVOKED_REFRESH:
		fo_auth_failure(r, style, "invalid_grant",
		    "refresh token revoked", basic);
		break;
	case FO_GRANT_UNSUPPORTED:
		fo_oauth_error(r, style, 400, "unsupported_grant_type",
		    "grant type not supported");
		break;
	}
}

/* A request that never reaches a behaviour: logged, then refused. */
static void
refuse(struct fo_reply *r, struct parsed *p, const char *why)
{
	struct fo_plan plan;

	fo_client_begin(&p->t, false, &plan);
	r->seq = plan.seq;
	snprintf(r->note, sizeof(r->note), "client=%.64s refused: %s",
	    p->t.client_id ? p->t.client_id : "-", why);
	if (why == why_method)
		fo_oauth_error(r, p->t.style, 405, "invalid_request", why);
	else if (why == why_basic || why == why_noauth)
		fo_auth_failure(r, p->t.style, "invalid_client", why,
		    why == why_basic);
	else
		fo_oauth_error(r, p->t.style, 400, "invalid_request", why);
}

static void
behave(struct fo_reply *r, struct parsed *p)
{
	struct fo_plan plan;

	fo_client_begin(&p->t, true, &plan);
	r->seq = plan.seq;
	snprintf(r->note, sizeof(r->note), "client=%.64s behaviour=%s",
	    p->t.client_id, plan.known_client ?
	    fo_behaviour_str(plan.behaviour) : "-");
	if (!plan.known_client) {
		fo_auth_failure(r, p->t.style, "invalid_client",
		    "authentication failed", p->basic != 0);
		return;
	}
	switch (plan.behaviour) {
	case FO_B_SLOW:
		if (!fo_sleep_ms(plan.delay_ms)) {
			r->action = FO_RESET;	/* server stopping */
			return;
		}
		/* FALLTHROUGH */
	case FO_B_OK:
		grant_reply(r, p);
		return;
	default:
		fo_fault_reply(r, p->t.style, plan.behaviour, plan.retry_after,
		    plan.retry_after_date);
		/* Any 401 to a Basic client carries the challenge. */
		r->www_authenticate = p->basic != 0 && r->status == 401;
		return;
	}
}

void
fo_token_handle(const struct fo_http_req *hr, enum fo_style style,
    struct fo_reply *r)
{
	struct parsed p;
	const char *why;

	memset(&p, 0, sizeof(p));
	p.t.style = style;
	p.t.path = hr->path;
	why = parse(hr, &p);
	if (why == NULL && p.basic < 0)
		why = why_basic;
	if (why == NULL && p.t.client_id == NULL)
		why = why_noauth;
	if (why == NULL)
		why = incomplete(&p);
	if (why != NULL)
		refuse(r, &p, why);
	else
		behave(r, &p);
	fo_form_cleanup(&p.form);
	free(p.basic_id);
	free(p.basic_secret);
}

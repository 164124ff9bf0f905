/*
 * admin.c — the control API under /_admin/ (documented at the top of
 * fake_oauth.c).  Tests drive the server with it; it is never logged in
 * the request log nor counted in the statistics.  Bodies are JSON; errors
 * are {"error": message}.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "fake_oauth.h"

static void
reply_body(struct fo_reply *r, int status, char *json)
{
	fo_reply_cleanup(r);
	r->action = FO_SEND;
	r->status = status;
	r->content_type = "application/json";
	r->body = json;
	r->body_len = strlen(json);
}

static bool
method_is(const struct fo_http_req *hr, const char *method,
    struct fo_reply *r)
{
	if (strcmp(hr->method, method) == 0)
		return true;
	fo_reply_error(r, 405, "method not allowed");
	return false;
}

static void
client_route(const struct fo_http_req *hr, const char *id,
    struct fo_reply *r)
{
	char *body = NULL;
	int status;

	if (strlen(id) > FO_FIELD_MAX || !fo_utf8_valid(id)) {
		fo_reply_error(r, 400, "client id too long or not UTF-8");
		return;
	}
	if (strcmp(hr->method, "PUT") == 0 || strcmp(hr->method, "PATCH") == 0)
		status = fo_client_put(id, hr->body, hr->body_len,
		    hr->method[1] == 'A', &body);
	else if (strcmp(hr->method, "GET") == 0)
		status = fo_client_get(id, &body);
	else if (strcmp(hr->method, "DELETE") == 0)
		status = fo_client_delete(id, &body);
	else {
		fo_reply_error(r, 405, "method not allowed");
		return;
	}
	reply_body(r, status, body);
}

static void
requests_route(const struct fo_http_req *hr, struct fo_reply *r)
{
	const char *since_arg = fo_req_query(hr, "since");
	unsigned long long since = 0;
	char *end;

	if (since_arg != NULL && *since_arg != '\0') {
		errno = 0;
		since = strtoull(since_arg, &end, 10);
		if (errno != 0 || *end != '\0' || *since_arg == '-') {
			fo_reply_error(r, 400, "since: expected a number");
			return;
		}
	}
	reply_body(r, 200, fo_log_dump(fo_req_query(hr, "client_id"),
	    (uint64_t)since));
}

void
fo_admin_handle(const struct fo_http_req *hr, struct fo_reply *r)
{
	const char *rest = hr->path + strlen("/_admin/");

	if (strncmp(rest, "clients/", 8) == 0 && rest[8] != '\0')
		client_route(hr, rest + 8, r);
	else if (strcmp(rest, "clients") == 0) {
		if (method_is(hr, "GET", r))
			reply_body(r, 200, fo_clients_dump());
	} else if (strcmp(rest, "requests") == 0) {
		if (method_is(hr, "GET", r))
			requests_route(hr, r);
	} else if (strcmp(rest, "stats") == 0) {
		if (method_is(hr, "GET", r))
			reply_body(r, 200, fo_stats_dump());
	} else if (strcmp(rest, "reset") == 0) {
		if (method_is(hr, "POST", r)) {
			fo_state_reset();
			fo_reply_json(r, 200, json_pack("{s:b}", "reset", 1));
		}
	} else if (strcmp(rest, "health") == 0) {
		if (method_is(hr, "GET", r))
			fo_reply_json(r, 200, json_pack("{s:b}", "ok", 1));
	} else
		fo_reply_error(r, 404, "no such control endpoint");
}

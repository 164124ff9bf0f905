/*
 * http.c — answers of the admin API: JSON, problem+json (RFC 9457),
 * request bodies and query arguments.
 *
 * Problem details never carry internal messages or provider bodies:
 * http_rc() shows ov_errmsg() only for the error classes whose messages
 * are written for users (validation, not found, conflict), and a fixed
 * text otherwise; the full message goes to the log with the request id.
 */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <sodium.h>

#include "admin/admin_int.h"
#include "util/log.h"
#include "util/secmem.h"
#include "util/validate.h"

#define PROBLEM_BASE	"https://orgvault.dev/problems/"
#define HEADERS_MAX	6

static const unsigned statuses[METRICS_STATUS_N] = {
	200, 201, 204, 400, 401, 403, 404, 405, 409, 413, 415, 422, 429, 500,
	503, 0 /* other */
};

int
http_status_index(unsigned status)
{
	for (int i = 0; i < METRICS_STATUS_N - 1; i++)
		if (statuses[i] == status)
			return i;
	return METRICS_STATUS_N - 1;
}

unsigned
http_status_of_index(int i)
{
	return statuses[i];
}

/* Headers wait in the request until its response is made. */
struct pending_header {
	char	name[32];
	char	value[96];
};
static _Thread_local struct pending_header pending[HEADERS_MAX];
static _Thread_local int npending;

void
http_header(struct req *r, const char *name, const char *value)
{
	(void)r;
	if (npending == HEADERS_MAX)
		return;
	snprintf(pending[npending].name, sizeof(pending[0].name), "%s", name);
	snprintf(pending[npending].value, sizeof(pending[0].value), "%s",
	    value);
	npending++;
}

enum MHD_Result
http_response(struct req *r, unsigned status, struct MHD_Response *resp,
    const char *ctype)
{
	enum MHD_Result ret;

	if (resp == NULL) {
		npending = 0;
		return MHD_NO;	/* out of memory: drop the connection */
	}
	if (ctype)
		MHD_add_response_header(resp, MHD_HTTP_HEADER_CONTENT_TYPE,
		    ctype);
	MHD_add_response_header(resp, "X-Request-Id", r->id);
	MHD_add_response_header(resp, "X-Content-Type-Options", "nosniff");
	for (int i = 0; i < npending; i++)
		MHD_add_response_header(resp, pending[i].name,
		    pending[i].value);
	npending = 0;
	r->status = (int)status;
	ret = MHD_queue_response(r->conn, status, resp);
	MHD_destroy_response(resp);
	return ret;
}

/* body comes from jansson (whose free wipes) or malloc: freed with
 * secmem_wipe_free either way. */
enum MHD_Result
http_text(struct req *r, unsigned status, const char *ctype, char *body,
    size_t len)
{
	struct MHD_Response *resp;

	resp = MHD_create_response_from_buffer_with_free_callback(len, body,
	    secmem_wipe_free);
	if (resp == NULL)
		secmem_wipe_free(body);
	return http_response(r, status, resp, ctype);
}

enum MHD_Result
http_json(struct req *r, unsigned status, json_t *j)
{
	char *s;

	if (j == NULL)
		return http_problem(r, 500, "internal", NULL, "out of memory");
	s = json_dumps(j, JSON_COMPACT | JSON_PRESERVE_ORDER);
	json_decref(j);
	if (s == NULL)
		return http_problem(r, 500, "internal", NULL, "out of memory");
	return http_text(r, status, "application/json", s, strlen(s));
}

enum MHD_Result
http_empty(struct req *r, unsigned status)
{
	return http_response(r, status, MHD_create_response_from_buffer(0, "",
	    MHD_RESPMEM_PERSISTENT), NULL);
}

static const char *
title_of(unsigned status)
{
	switch (status) {
	case 400: return "Bad request";
	case 401: return "Unauthorized";
	case 403: return "Forbidden";
	case 404: return "Not found";
	case 405: return "Method not allowed";
	case 409: return "Conflict";
	case 413: return "Payload too large";
	case 415: return "Unsupported media type";
	case 422: return "Validation failed";
	case 429: return "Too many requests";
	case 503: return "Service unavailable";
	default:  return "Internal error";
	}
}

enum MHD_Result
http_problem(struct req *r, unsigned status, const char *type,
    const char *field, const char *fmt, ...)
{
	char detail[OV_ERRMSG_MAX], uri[96];
	json_t *j;
	char *s;
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(detail, sizeof(detail), fmt, ap);
	va_end(ap);
	/* Details may quote a path or a name: printable ASCII only, so the
	 * JSON is always valid. */
	for (char *p = detail; *p; p++)
		if ((unsigned char)*p < 0x20 || (unsigned char)*p > 0x7e)
			*p = '?';
	snprintf(uri, sizeof(uri), PROBLEM_BASE "%s", type);
	j = json_pack("{s:s, s:s, s:i, s:s, s:s}", "type", uri, "title",
	    title_of(status), "status", (int)status, "detail", detail,
	    "request_id", r->id);
	if (j && field)
		json_object_set_new(j, "field", json_string(field));
	s = j ? json_dumps(j, JSON_COMPACT | JSON_PRESERVE_ORDER) : NULL;
	json_decref(j);
	if (s == NULL)
		return MHD_NO;
	if (status == 401)
		http_header(r, MHD_HTTP_HEADER_WWW_AUTHENTICATE,
		    "Bearer realm=\"orgvault\"");
	return http_text(r, status, "application/problem+json", s,
	    strlen(s));
}

enum MHD_Result
http_rc(struct req *r, enum ov_rc rc)
{
	switch (rc) {
	case OV_EINVAL:
	case OV_EUSAGE:
		return http_problem(r, 422, "validation", NULL, "%s",
		    ov_errmsg());
	case OV_ELIMIT:
		return http_problem(r, 422, "validation", NULL, "%s",
		    ov_errmsg());
	case OV_ENOTFOUND:
		return http_problem(r, 404, "not-found", NULL, "%s",
		    ov_errmsg());
	case OV_ECONFLICT:
		return http_problem(r, 409, "conflict", NULL, "%s",
		    ov_errmsg());
	case OV_EINTEGRITY:
		/* A row that does not verify: the vault's own message names
		 * the row, never a secret. */
		return http_problem(r, 409, "tampered", NULL, "%s",
		    ov_errmsg());
	case OV_ESECRET:
		return http_problem(r, 422, "secret-required",
		    strstr(ov_errmsg(), "give a refresh token") ?
		    "refresh_token" : "client_secret", "%s", ov_errmsg());
	case OV_EBUSY:
		http_header(r, MHD_HTTP_HEADER_RETRY_AFTER, "1");
		return http_problem(r, 503, "unavailable", NULL, "the vault "
		    "is busy; retry in a moment");
	default:
		log_warnx("request %s %s %s: %s: %s", r->id, r->method,
		    r->path, ov_rc_str(rc), ov_errmsg());
		return http_problem(r, 500, "internal", NULL, "the request "
		    "failed inside orgvault; the server log has the details "
		    "under request id %s", r->id);
	}
}

json_t *
http_body(struct req *r, enum MHD_Result *answered)
{
	json_error_t err;
	json_t *j;

	if (r->bad_type) {
		*answered = http_problem(r, 415, "unsupported-media-type", NULL,
		    "send the body as Content-Type: application/json");
		return NULL;
	}
	if (r->len == 0) {
		*answered = http_problem(r, 400, "malformed-json", NULL,
		    "the request needs a JSON object as its body");
		return NULL;
	}
	j = json_loadb(r->body, r->len, JSON_REJECT_DUPLICATES, &err);
	if (!json_is_object(j)) {
		json_decref(j);
		/* Not jansson's text: it quotes the input, which may be a
		 * secret. */
		*answered = http_problem(r, 400, "malformed-json", NULL,
		    j ? "the body must be a JSON object" : "the body is not "
		    "valid JSON (or has a duplicate key or invalid UTF-8) "
		    "near line %d, column %d", err.line, err.column);
		return NULL;
	}
	return j;
}

const char *
http_arg(struct req *r, const char *name)
{
	return MHD_lookup_connection_value(r->conn, MHD_GET_ARGUMENT_KIND,
	    name);
}

struct args_scan {
	const char *const	*allowed;
	const char		*unknown;
};

static enum MHD_Result
arg_one(void *cls, enum MHD_ValueKind kind, const char *key,
    const char *value)
{
	struct args_scan *a = cls;
	const char *const *p;

	(void)kind;
	(void)value;
	for (p = a->allowed; *p && strcmp(*p, key) != 0; p++)
		;
	if (*p == NULL && a->unknown == NULL)
		a->unknown = key;
	return MHD_YES;
}

int
http_args_only(struct req *r, const char *const *allowed,
    enum MHD_Result *answered)
{
	struct args_scan a = { allowed, NULL };
	char name[64], list[256] = "";

	MHD_get_connection_values(r->conn, MHD_GET_ARGUMENT_KIND, arg_one, &a);
	if (a.unknown == NULL)
		return 0;
	for (const char *const *p = allowed; *p; p++)
		snprintf(list + strlen(list), sizeof(list) - strlen(list),
		    "%s%s", list[0] ? ", " : "", *p);
	log_escape(a.unknown, name, sizeof(name));
	*answered = http_problem(r, 400, "bad-request", name, "unknown query "
	    "parameter '%s'; this route takes %s", name, list[0] ? list :
	    "none");
	return -1;
}

int
http_int_arg(struct req *r, const char *name, long min, long max,
    long *out, enum MHD_Result *answered)
{
	const char *s = http_arg(r, name);
	char *end;
	long v;

	if (s == NULL)
		return 0;
	v = strtol(s, &end, 10);
	if (end == s || *end != '\0' || v < min || v > max) {
		*answered = http_problem(r, 400, "bad-request", NULL, "%s must "
		    "be a number from %ld to %ld", name, min, max);
		return -1;
	}
	*out = v;
	return 0;
}

/* Cursors: base64url (no padding) of up to two slugs joined by '/'; out
 * must hold sodium_base64_ENCODED_LEN of them (libsodium aborts on a
 * short buffer). */
void
http_cursor_make(const char *a, const char *b, char *out, size_t len)
{
	char raw[2 * OV_SLUG_MAX + 2];
	size_t n = (size_t)snprintf(raw, sizeof(raw), "%s%s%s", a, b ? "/" :
	    "", b ? b : "");

	sodium_bin2base64(out, len, (const unsigned char *)raw, n,
	    sodium_base64_VARIANT_URLSAFE_NO_PADDING);
}

int
http_cursor_read(struct req *r, int parts, char *a, char *b, size_t len,
    enum MHD_Result *answered)
{
	const char *s = http_arg(r, "cursor");
	char raw[2 * OV_SLUG_MAX + 2], *slash;
	size_t n;

	a[0] = b[0] = '\0';
	if (s == NULL)
		return 0;
	if (sodium_base642bin((unsigned char *)raw, sizeof(raw) - 1, s,
	    strlen(s), NULL, &n, NULL,
	    sodium_base64_VARIANT_URLSAFE_NO_PADDING) != 0)
		goto bad;
	raw[n] = '\0';
	if ((slash = strchr(raw, '/')) != NULL)
		*slash++ = '\0';
	if ((slash != NULL) != (parts == 2))
		goto bad;
	if (validate_slug("cursor", raw) != OV_OK || (slash &&
	    validate_slug("cursor", slash) != OV_OK) || strlen(raw) >= len ||
	    (slash && strlen(slash) >= len))
		goto bad;
	snprintf(a, len, "%s", raw);
	snprintf(b, len, "%s", slash ? slash : "");
	return 0;
bad:
	*answered = http_problem(r, 400, "bad-request", NULL, "cursor is not "
	    "a next_cursor this API gave");
	return -1;
}

int
http_fields(struct req *r, json_t *o, const char *const *allowed,
    enum MHD_Result *answered)
{
	const char *key;
	json_t *v;

	json_object_foreach(o, key, v) {
		size_t i;

		for (i = 0; allowed[i] && strcmp(allowed[i], key) != 0; i++)
			;
		if (allowed[i] == NULL) {
			*answered = http_problem(r, 422, "validation", key,
			    "unknown field \"%.64s\"", key);
			return -1;
		}
	}
	return 0;
}

int
http_str(struct req *r, json_t *o, const char *key, const char **out,
    enum MHD_Result *answered)
{
	json_t *v = json_object_get(o, key);

	*out = NULL;
	if (v == NULL || json_is_null(v))
		return 0;
	if (!json_is_string(v) || memchr(json_string_value(v), '\0',
	    json_string_length(v))) {
		*answered = http_problem(r, 422, "validation", key, "\"%s\" "
		    "must be a string", key);
		return -1;
	}
	*out = json_string_value(v);
	return 0;
}

enum MHD_Result
http_invalid(struct req *r, enum ov_rc rc, const char *field)
{
	if (rc == OV_EINVAL || rc == OV_ELIMIT || rc == OV_EUSAGE)
		return http_problem(r, 422, "validation", field, "%s",
		    ov_errmsg());
	return http_rc(r, rc);
}

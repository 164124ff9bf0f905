/*
 * fuzz_token_response.c — oauth_parse_response(), the classifier of a
 * token endpoint's answer (rotation/oauth_parse.c).
 *
 * Input: a first line "STATUS[ RETRY-AFTER]" (the HTTP status and the
 * raw Retry-After header), then the response body, as the provider sent
 * it.  Besides the sanitizers, every promise of oauth.h is checked: an
 * OAUTH_OK result carries exactly the body's access token (printable,
 * bounded), a Bearer type, a lifetime in range; anything else carries no
 * token; error texts are printable ASCII; Retry-After is -1 or capped.
 */
#include <jansson.h>

#include "fuzz.h"
#include "rotation/oauth.h"

#define REQUESTED_SCOPE	"users:read analytics"
#define DEFAULT_LIFETIME 86400
#define RETRY_CAP	OV_RETRY_AFTER_CAP_S

/* The token string of the body's `key`, NULL if none. */
static json_t *
body_string(const char *body, size_t len, const char *key)
{
	json_t *o = json_loadb(body, len, JSON_REJECT_DUPLICATES |
	    JSON_ALLOW_NUL, NULL), *v;

	v = json_is_object(o) ? json_object_get(o, key) : NULL;
	if (!json_is_string(v)) {
		json_decref(o);
		return NULL;
	}
	json_incref(v);
	json_decref(o);
	return v;
}

static void
check_token(const struct secret *s, size_t max, const char *body,
    size_t len, const char *key)
{
	json_t *want = body_string(body, len, key);

	if (s->len == 0 || s->len > max)
		fuzz_fail("%s of %zu bytes accepted", key, s->len);
	for (size_t i = 0; i < s->len; i++)
		if (s->buf[i] <= 0x20 || s->buf[i] >= 0x7f)
			fuzz_fail("%s holds byte 0x%02x", key, s->buf[i]);
	if (want == NULL || json_string_length(want) != s->len ||
	    memcmp(json_string_value(want), s->buf, s->len) != 0)
		fuzz_fail("%s kept is not the body's %s", key, key);
	json_decref(want);
}

static void
check_ok(const struct oauth_result *r, const char *body, size_t len)
{
	if (r->access_token == NULL)
		fuzz_fail("OAUTH_OK without an access token");
	check_token(r->access_token, OV_TOKEN_MAX, body, len, "access_token");
	if (r->refresh_token)
		check_token(r->refresh_token, OV_SECRET_MAX, body, len,
		    "refresh_token");
	if (strcmp(r->token_type, "Bearer") != 0)
		fuzz_fail("token_type '%s'", r->token_type);
	if (r->expires_in <= 0 || r->expires_in > OV_LIFETIME_MAX)
		fuzz_fail("expires_in %ld", r->expires_in);
	if (r->refresh_expires_in < 0 ||
	    r->refresh_expires_in > OV_LIFETIME_MAX * 10)
		fuzz_fail("refresh_expires_in %ld", r->refresh_expires_in);
	if (strlen(r->granted_scope) > OV_SCOPE_MAX)
		fuzz_fail("granted scope too long");
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	const uint8_t *p = data;
	size_t n = size;
	char *line = fuzz_field(&p, &n), *sp, *end;
	const char *retry_after = NULL;
	struct oauth_result r;
	long status;

	status = strtol(line, &end, 10);
	if (end == line || status < 0 || status > 999)
		status = 200;
	if ((sp = strchr(line, ' ')) != NULL)
		retry_after = sp + 1;
	memset(&r, 0, sizeof(r));
	oauth_parse_response(status, (const char *)p, n, retry_after,
	    REQUESTED_SCOPE, DEFAULT_LIFETIME, RETRY_CAP, &r);

	if ((unsigned)r.outcome >= OAUTH_UNKNOWN)
		fuzz_fail("outcome %d", (int)r.outcome);
	if (r.http_status != status)
		fuzz_fail("http_status %ld for %ld", r.http_status, status);
	if (!fuzz_printable(r.error, sizeof(r.error)) ||
	    !fuzz_printable(r.description, sizeof(r.description)))
		fuzz_fail("error or description not printable ASCII");
	if (r.outcome == OAUTH_OK) {
		if (status != 200)
			fuzz_fail("OAUTH_OK for HTTP %ld", status);
		check_ok(&r, (const char *)p, n);
	} else {
		if (r.access_token || r.refresh_token)
			fuzz_fail("a token kept from a %s answer",
			    oauth_outcome_str(r.outcome));
		if (r.error[0] == '\0')
			fuzz_fail("a failure without an error code");
		if (status == 200 && (r.outcome != OAUTH_TRANSIENT ||
		    strcmp(r.error, "protocol") != 0))
			fuzz_fail("unusable 200 is %s/%s",
			    oauth_outcome_str(r.outcome), r.error);
	}
	if (r.outcome == OAUTH_REVOKED && strcmp(r.error, "invalid_grant"))
		fuzz_fail("revoked without invalid_grant");
	if (status == 429 ? r.retry_after_s < -1 || r.retry_after_s >
	    RETRY_CAP : r.retry_after_s != -1)
		fuzz_fail("retry_after_s %ld for HTTP %ld", r.retry_after_s,
		    status);
	oauth_result_cleanup(&r);
	free(line);
	return 0;
}

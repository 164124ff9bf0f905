/*
 * fuzz_new_secret.c — oauth_parse_new_secret(), the classifier of the
 * Genesys platform API's answer to a client-secret regeneration
 * (rotation/oauth_parse.c).
 *
 * Input: a first line "STATUS", then the response body.  Checked: a
 * secret comes back exactly when the outcome is OAUTH_OK, and it is the
 * body's "secret", printable without spaces and at most OV_SECRET_MAX;
 * error texts are printable ASCII.
 */
#include <jansson.h>

#include "fuzz.h"
#include "rotation/oauth.h"

static void
check_secret(const struct secret *s, const char *body, size_t len)
{
	json_t *o = json_loadb(body, len, JSON_REJECT_DUPLICATES |
	    JSON_ALLOW_NUL, NULL);
	json_t *want = json_is_object(o) ? json_object_get(o, "secret") : NULL;

	if (s->len == 0 || s->len > OV_SECRET_MAX)
		fuzz_fail("a secret of %zu bytes accepted", s->len);
	for (size_t i = 0; i < s->len; i++)
		if (s->buf[i] <= 0x20 || s->buf[i] >= 0x7f)
			fuzz_fail("the secret holds byte 0x%02x", s->buf[i]);
	if (!json_is_string(want) || json_string_length(want) != s->len ||
	    memcmp(json_string_value(want), s->buf, s->len) != 0)
		fuzz_fail("the secret kept is not the body's \"secret\"");
	json_decref(o);
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	const uint8_t *p = data;
	size_t n = size;
	char *line = fuzz_field(&p, &n), *end;
	static struct secret untouched;
	struct oauth_result r;
	struct secret *s = &untouched;	/* must be overwritten */
	long status;

	status = strtol(line, &end, 10);
	if (end == line || status < 0 || status > 999)
		status = 200;
	memset(&r, 0, sizeof(r));
	oauth_parse_new_secret(status, (const char *)p, n, &r, &s);

	if ((unsigned)r.outcome >= OAUTH_UNKNOWN)
		fuzz_fail("outcome %d", (int)r.outcome);
	if (!fuzz_printable(r.error, sizeof(r.error)) ||
	    !fuzz_printable(r.description, sizeof(r.description)))
		fuzz_fail("error or description not printable ASCII");
	if ((r.outcome == OAUTH_OK) != (s != NULL))
		fuzz_fail("outcome %s with%s a secret",
		    oauth_outcome_str(r.outcome), s ? "" : "out");
	if (s) {
		if (status != 200)
			fuzz_fail("a secret from HTTP %ld", status);
		check_secret(s, (const char *)p, n);
	}
	if (r.access_token || r.refresh_token || r.retry_after_s != -1)
		fuzz_fail("token fields set by a secret answer");
	secret_free(s);
	free(line);
	return 0;
}

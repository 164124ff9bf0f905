/* test_oauth_parse.c — token-endpoint answers and what they mean. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>
#include <time.h>

#include <cmocka.h>
#include <sodium.h>

#include "rotation/oauth.h"

static void
parse(long status, const char *body, const char *retry_after,
    struct oauth_result *r)
{
	memset(r, 0, sizeof(*r));
	oauth_parse_response(status, body, strlen(body), retry_after, "a b",
	    86400, 600, r);
}

static void
test_success_full(void **state)
{
	struct oauth_result r;

	parse(200, "{\"access_token\":\"AT\",\"token_type\":\"BEARER\","
	    "\"expires_in\":3600,\"scope\":\"a\",\"refresh_token\":\"RT2\"}",
	    NULL, &r);
	assert_int_equal(r.outcome, OAUTH_OK);
	assert_string_equal((char *)r.access_token->buf, "AT");
	assert_non_null(r.refresh_token);
	assert_string_equal((char *)r.refresh_token->buf, "RT2");
	assert_int_equal(r.expires_in, 3600);
	assert_string_equal(r.granted_scope, "a");
	assert_int_equal(r.refresh_expires_in, 0);
	oauth_result_cleanup(&r);
	assert_null(r.access_token);
	parse(200, "{\"access_token\":\"AT\",\"token_type\":\"bearer\","
	    "\"refresh_token\":\"R\",\"refresh_token_expires_in\":7776000}",
	    NULL, &r);
	assert_int_equal(r.refresh_expires_in, 7776000);
	oauth_result_cleanup(&r);
	parse(200, "{\"access_token\":\"AT\",\"token_type\":\"bearer\","
	    "\"refresh_token_expires_in\":\"soon\"}", NULL, &r);
	assert_int_equal(r.outcome, OAUTH_OK);
	assert_int_equal(r.refresh_expires_in, 0);
	oauth_result_cleanup(&r);
}

static void
test_success_defaults(void **state)
{
	struct oauth_result r;

	/* RFC 6749: no scope → the requested one; no expires_in → default;
	 * no refresh_token → keep the old one. */
	parse(200, "{\"access_token\":\"AT\",\"token_type\":\"bearer\"}",
	    NULL, &r);
	assert_int_equal(r.outcome, OAUTH_OK);
	assert_int_equal(r.expires_in, 86400);
	assert_string_equal(r.granted_scope, "a b");
	assert_null(r.refresh_token);
	oauth_result_cleanup(&r);
}

static void
test_success_malformed(void **state)
{
	static const char *bodies[] = {
		"not json",
		"[1,2]",
		"{\"token_type\":\"bearer\"}",
		"{\"access_token\":123,\"token_type\":\"bearer\"}",
		"{\"access_token\":\"\",\"token_type\":\"bearer\"}",
		"{\"access_token\":\"AT\"}",
		"{\"access_token\":\"AT\",\"token_type\":\"mac\"}",
		"{\"access_token\":\"AT\",\"token_type\":\"bearer\","
		    "\"expires_in\":\"3600\"}",
		"{\"access_token\":\"AT\",\"token_type\":\"bearer\","
		    "\"expires_in\":0}",
		"{\"access_token\":\"AT\",\"token_type\":\"bearer\","
		    "\"expires_in\":-5}",
		"{\"access_token\":\"AT\",\"token_type\":\"bearer\","
		    "\"expires_in\":99999999999}",
		"{\"access_token\":\"AT\",\"token_type\":\"bearer\","
		    "\"scope\":7}",
		"{\"access_token\":\"AT\",\"token_type\":\"bearer\","
		    "\"refresh_token\":false}",
		"{\"access_token\":\"AT\",\"access_token\":\"AT2\","
		    "\"token_type\":\"bearer\"}",
		"{\"access_token\":\"AT\",\"token_type\":\"bearer\"",
		"{\"access_token\":\"A T\",\"token_type\":\"bearer\"}",
		"{\"access_token\":\"A\\u0000T\",\"token_type\":\"bearer\"}",
		"{\"access_token\":\"AT\",\"token_type\":\"bearer\","
		    "\"refresh_token\":\"R\\nT\"}",
	};
	struct oauth_result r;

	for (size_t i = 0; i < sizeof(bodies) / sizeof(bodies[0]); i++) {
		parse(200, bodies[i], NULL, &r);
		assert_int_equal(r.outcome, OAUTH_TRANSIENT);
		assert_string_equal(r.error, "protocol");
		assert_null(r.access_token);
		assert_null(r.refresh_token);
	}
}

static void
test_errors(void **state)
{
	static const struct {
		long		 status;
		const char	*body;
		enum oauth_outcome want;
		const char	*error;
	} cases[] = {
		{ 400, "{\"error\":\"invalid_grant\",\"error_description\":"
		    "\"expired\"}", OAUTH_REVOKED, "invalid_grant" },
		{ 401, "{\"error\":\"invalid_client\",\"description\":\"auth "
		    "failed\",\"error_description\":\"authentication failed\"}",
		    OAUTH_INVALID_CLIENT, "invalid_client" },
		{ 400, "{\"error\":\"invalid_client\"}", OAUTH_INVALID_CLIENT,
		    "invalid_client" },
		/* ServiceNow: not an RFC code, still an auth failure. */
		{ 401, "{\"error\":\"server_error\",\"error_description\":"
		    "\"access_denied\"}", OAUTH_INVALID_CLIENT, "server_error" },
		{ 403, "", OAUTH_INVALID_CLIENT, "http_403" },
		{ 400, "{\"error\":\"invalid_scope\"}", OAUTH_FAILING,
		    "invalid_scope" },
		{ 400, "{\"error\":\"unauthorized_client\"}", OAUTH_FAILING,
		    "unauthorized_client" },
		{ 400, "{\"error\":\"unsupported_grant_type\"}", OAUTH_FAILING,
		    "unsupported_grant_type" },
		{ 400, "{\"error\":\"invalid_request\"}", OAUTH_FAILING,
		    "invalid_request" },
		{ 404, "<html>", OAUTH_FAILING, "http_404" },
		{ 429, "{\"message\":\"slow down\",\"code\":\"too.many.requests."
		    "retry.after\",\"status\":429}", OAUTH_RATE_LIMITED,
		    "http_429" },
		{ 500, "{\"error\":\"server_error\"}", OAUTH_TRANSIENT,
		    "server_error" },
		{ 503, "<html>busy</html>", OAUTH_TRANSIENT, "http_503" },
	};
	struct oauth_result r;

	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		parse(cases[i].status, cases[i].body, NULL, &r);
		assert_int_equal(r.outcome, cases[i].want);
		assert_string_equal(r.error, cases[i].error);
		assert_int_equal(r.http_status, cases[i].status);
		assert_null(r.access_token);
	}
}

static void
test_description_sanitised(void **state)
{
	struct oauth_result r;
	char longdesc[2000];

	parse(400, "{\"error\":\"invalid_grant\",\"error_description\":"
	    "\"bad\\u0000\\n\\u00e9x\"}", NULL, &r);
	assert_int_equal(r.outcome, OAUTH_REVOKED);
	/* jansson stops a C string at NUL: no control bytes survive. */
	for (const char *p = r.description; *p; p++)
		assert_true(*p >= 0x20 && *p < 0x7f);
	memset(longdesc, 0, sizeof(longdesc));
	strcpy(longdesc, "{\"error\":\"invalid_grant\",\"error_description\":\"");
	memset(longdesc + strlen(longdesc), 'x', 1500);
	strcat(longdesc, "\"}");
	parse(400, longdesc, NULL, &r);
	assert_int_equal(strlen(r.description), OV_OAUTH_DESC_MAX);
}

/* The Genesys secret API's answers: only a clean {"secret": S} is one. */
static void
test_new_secret(void **state)
{
	static const char *const bad[] = {
		"{}", "[]", "not json", "{\"secret\":\"\"}",
		"{\"secret\":7}", "{\"secret\":\"has space\"}",
		"{\"secret\":\"a\",\"secret\":\"b\"}",
	};
	struct oauth_result r;
	struct secret *s;

	(void)state;
	memset(&r, 0, sizeof(r));
	oauth_parse_new_secret(200, "{\"id\":\"c\",\"secret\":\"n3w-S\"}", 27,
	    &r, &s);
	assert_int_equal(r.outcome, OAUTH_OK);
	assert_non_null(s);
	assert_int_equal(s->len, 5);
	assert_memory_equal(s->buf, "n3w-S", 5);
	secret_free(s);
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		oauth_parse_new_secret(200, bad[i], strlen(bad[i]), &r, &s);
		assert_int_equal(r.outcome, OAUTH_TRANSIENT);
		assert_string_equal(r.error, "protocol");
		assert_null(s);
	}
	oauth_parse_new_secret(403, "{\"message\":\"Missing permission\","
	    "\"code\":\"missing.permissions\",\"status\":403}", 74, &r, &s);
	assert_int_equal(r.outcome, OAUTH_INVALID_CLIENT);
	assert_int_equal(r.http_status, 403);
	assert_string_equal(r.description, "Missing permission");
	assert_null(s);
	oauth_parse_new_secret(404, "", 0, &r, &s);
	assert_int_equal(r.outcome, OAUTH_FAILING);
	oauth_parse_new_secret(429, "{}", 2, &r, &s);
	assert_int_equal(r.outcome, OAUTH_RATE_LIMITED);
	oauth_parse_new_secret(502, "<html>", 6, &r, &s);
	assert_int_equal(r.outcome, OAUTH_TRANSIENT);
}

static void
test_retry_after(void **state)
{
	struct oauth_result r;
	int64_t now = (int64_t)time(NULL);
	char date[64];
	struct tm tm;
	time_t later = (time_t)(now + 120);

	assert_int_equal(oauth_parse_retry_after("30", now, 600), 30);
	assert_int_equal(oauth_parse_retry_after(" 7 ", now, 600), 7);
	assert_int_equal(oauth_parse_retry_after("3600", now, 600), 600);
	assert_int_equal(oauth_parse_retry_after("99999999999999999999", now,
	    600), 600);
	assert_int_equal(oauth_parse_retry_after("-1", now, 600), -1);
	assert_int_equal(oauth_parse_retry_after("12abc", now, 600), -1);
	assert_int_equal(oauth_parse_retry_after("soon", now, 600), -1);
	assert_int_equal(oauth_parse_retry_after(NULL, now, 600), -1);
	gmtime_r(&later, &tm);
	strftime(date, sizeof(date), "%a, %d %b %Y %H:%M:%S GMT", &tm);
	assert_in_range(oauth_parse_retry_after(date, now, 600), 119, 120);
	assert_int_equal(oauth_parse_retry_after("Wed, 21 Oct 2015 07:28:00 "
	    "GMT", now, 600), 0);
	parse(429, "{}", "5", &r);
	assert_int_equal(r.outcome, OAUTH_RATE_LIMITED);
	assert_int_equal(r.retry_after_s, 5);
	parse(429, "{}", NULL, &r);
	assert_int_equal(r.retry_after_s, -1);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_success_full),
		cmocka_unit_test(test_success_defaults),
		cmocka_unit_test(test_success_malformed),
		cmocka_unit_test(test_errors),
		cmocka_unit_test(test_description_sanitised),
		cmocka_unit_test(test_retry_after),
		cmocka_unit_test(test_new_secret),
	};

	if (sodium_init() < 0)
		return 1;
	return cmocka_run_group_tests(tests, NULL, NULL);
}

/*
 * test_admin.c — the pure parts of admin/: --listen parsing, the route
 * labels of /metrics, the status table.  The server itself is tested
 * over real HTTP by tests/integration/t_api_*.sh.
 */
#include "unit.h"

#include "admin/admin_int.h"
#include "util/log.h"

static void
test_parse_listen(void **state)
{
	struct admin_config c;

	(void)state;
	admin_config_defaults(&c);
	assert_string_equal(c.host, "127.0.0.1");
	assert_int_equal(c.port, ADMIN_DEFAULT_PORT);
	assert_int_equal(c.token_cache, 1);

	assert_int_equal(admin_parse_listen("127.0.0.1:0", &c), OV_OK);
	assert_int_equal(c.port, 0);
	assert_int_equal(admin_parse_listen("[::1]:9000", &c), OV_OK);
	assert_string_equal(c.host, "::1");
	assert_int_equal(c.port, 9000);
	assert_int_equal(admin_parse_listen(":8080", &c), OV_OK);
	assert_string_equal(c.host, "127.0.0.1");
	assert_int_equal(c.port, 8080);
	assert_int_equal(admin_parse_listen("10.1.2.3:65535", &c), OV_OK);
	assert_string_equal(c.host, "10.1.2.3");

	/* Refused, and the config keeps its last good value. */
	assert_int_equal(admin_parse_listen("8080", &c), OV_EUSAGE);
	assert_int_equal(admin_parse_listen("localhost:80", &c), OV_EUSAGE);
	assert_non_null(strstr(ov_errmsg(), "numeric"));
	assert_int_equal(admin_parse_listen("127.0.0.1:65536", &c), OV_EUSAGE);
	assert_int_equal(admin_parse_listen("127.0.0.1:-1", &c), OV_EUSAGE);
	assert_int_equal(admin_parse_listen("127.0.0.1:80x", &c), OV_EUSAGE);
	assert_int_equal(admin_parse_listen("127.0.0.1:", &c), OV_EUSAGE);
	assert_int_equal(admin_parse_listen("[::1:80", &c), OV_EUSAGE);
	assert_string_equal(c.host, "10.1.2.3");
	assert_int_equal(c.port, 65535);
}

static void
test_loopback_listen(void **state)
{
	(void)state;
	assert_true(admin_listen_is_loopback("127.0.0.1"));
	assert_true(admin_listen_is_loopback("127.255.0.9"));
	assert_true(admin_listen_is_loopback("::1"));
	assert_true(admin_listen_is_loopback("::ffff:127.0.0.1"));
	assert_false(admin_listen_is_loopback("0.0.0.0"));
	assert_false(admin_listen_is_loopback("::"));
	assert_false(admin_listen_is_loopback("10.1.2.3"));
	assert_false(admin_listen_is_loopback("128.0.0.1"));
	assert_false(admin_listen_is_loopback("::ffff:10.0.0.1"));
	assert_false(admin_listen_is_loopback("localhost"));
}

/* The escaping of every log line (util/log.c). */
static void
test_log_escape(void **state)
{
	char out[64];

	(void)state;
	assert_int_equal(log_escape("path=/v1/x\norgvault: forged", out,
	    sizeof(out)), strlen("path=/v1/x\\x0aorgvault: forged"));
	assert_string_equal(out, "path=/v1/x\\x0aorgvault: forged");
	log_escape("a\\b\r\x7f", out, sizeof(out));
	assert_string_equal(out, "a\\\\b\\x0d\\x7f");
	/* Valid UTF-8 stays; invalid bytes, overlongs, surrogates do not. */
	log_escape("caf\xc3\xa9 \xe2\x82\xac", out, sizeof(out));
	assert_string_equal(out, "caf\xc3\xa9 \xe2\x82\xac");
	log_escape("bad\xff\xc0\xaf\xed\xa0\x80", out, sizeof(out));
	assert_string_equal(out, "bad\\xff\\xc0\\xaf\\xed\\xa0\\x80");
	/* C1 controls (NEL among them) and the Unicode line and paragraph
	 * separators end lines in some viewers: escaped as code points. */
	log_escape("a\xc2\x85" "b\xc2\x9b[2Jc\xe2\x80\xa8" "d\xe2\x80\xa9" "e",
	    out, sizeof(out));
	assert_string_equal(out, "a\\u0085b\\u009b[2Jc\\u2028d\\u2029e");
	log_escape("\xc2\xa0\xe2\x80\xa7", out, sizeof(out));	/* NBSP, U+2027 stay */
	assert_string_equal(out, "\xc2\xa0\xe2\x80\xa7");
	/* Cut at a whole escape, always terminated. */
	log_escape("\n\n\n", out, 9);
	assert_string_equal(out, "\\x0a\\x0a");
}

static void
test_route_labels(void **state)
{
	char buf[96];
	int seen_token = 0, seen_apikey = 0;

	(void)state;
	for (int i = 0; i < METRICS_ROUTE_N; i++) {
		const char *l = routes_label(i, buf, sizeof(buf));

		assert_null(strstr(l, "{}"));
		if (strcmp(l, "/v1/orgs/{org}/credentials/{name}/token") == 0) {
			assert_string_equal(routes_method(i), "GET");
			seen_token = 1;
		}
		if (strcmp(l, "/v1/apikeys/{name}") == 0) {
			assert_string_equal(routes_method(i), "DELETE");
			seen_apikey = 1;
		}
	}
	assert_true(seen_token && seen_apikey);
	assert_string_equal(routes_label(-1, buf, sizeof(buf)), "other");
	assert_string_equal(routes_method(METRICS_ROUTE_N - 1), "");
}

static void
test_status_index(void **state)
{
	static const unsigned known[] = { 200, 201, 204, 400, 401, 403, 404,
	    405, 409, 413, 415, 422, 429, 500, 503 };

	(void)state;
	for (size_t i = 0; i < sizeof(known) / sizeof(known[0]); i++)
		assert_int_equal(http_status_of_index(http_status_index(
		    known[i])), known[i]);
	/* Anything else shares the last slot. */
	assert_int_equal(http_status_index(418), METRICS_STATUS_N - 1);
	assert_int_equal(http_status_index(302), METRICS_STATUS_N - 1);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_parse_listen),
		cmocka_unit_test(test_loopback_listen),
		cmocka_unit_test(test_log_escape),
		cmocka_unit_test(test_route_labels),
		cmocka_unit_test(test_status_index),
	};

	unit_init();
	return cmocka_run_group_tests(tests, NULL, NULL);
}

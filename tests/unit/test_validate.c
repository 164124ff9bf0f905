/* test_validate.c — util/validate.c: checks of untrusted strings. */
#include "unit.h"

#include "util/limits.h"
#include "util/validate.h"

/* A malloc'd string of n copies of c. */
static char *
rep(char c, size_t n)
{
	char *s = malloc(n + 1);

	assert_non_null(s);
	memset(s, c, n);
	s[n] = '\0';
	return s;
}

static void
test_slug_ok(void **state)
{
	static const char *ok[] = { "a", "0", "acme-1", "a-b-c", "9lives",
	    "abcdefghijklmnopqrstuvwxyz0123456789", "a--b" };
	char *max = rep('a', OV_SLUG_MAX);

	(void)state;
	for (size_t i = 0; i < sizeof(ok) / sizeof(ok[0]); i++)
		assert_int_equal(validate_slug("org slug", ok[i]), OV_OK);
	assert_int_equal(strlen(max), 63);
	assert_int_equal(validate_slug("org slug", max), OV_OK);
	free(max);
}

static void
test_slug_bad(void **state)
{
	static const char *bad[] = { "", "Acme", "acmE", "a_b", "-a", "a-",
	    "-", "a b", " a", "a ", "a.b", "a/b", "a\tb", "caf\xc3\xa9",
	    "\xe2\x82\xac", "a\x80", "a\n" };
	char *over = rep('a', OV_SLUG_MAX + 1);

	(void)state;
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		ov_clearerr();
		if (validate_slug("org slug", bad[i]) != OV_EINVAL)
			fail_msg("slug \"%s\" was not refused", bad[i]);
		/* The message names what was checked. */
		assert_non_null(strstr(ov_errmsg(), "org slug"));
	}
	assert_int_equal(validate_slug("org slug", over), OV_EINVAL);
	assert_non_null(strstr(ov_errmsg(), "63"));
	free(over);
}

static void
test_text_ok(void **state)
{
	static const char *ok[] = {
		"Acme Corp",
		"caf\xc3\xa9",				/* U+00E9 */
		"\xe2\x82\xac 5",			/* U+20AC */
		"\xf0\x9f\x94\x91 key",			/* U+1F511 */
		"\xc2\xa0",				/* U+00A0 */
		"\xed\x9f\xbf",				/* U+D7FF */
		"\xee\x80\x80",				/* U+E000 */
		"\xef\xbf\xbd",				/* U+FFFD */
		"\xf4\x8f\xbf\xbf",			/* U+10FFFF */
		"~!@#$%^&*()_+{}|:\"<>?`-=[]\\;',./",
	};

	(void)state;
	for (size_t i = 0; i < sizeof(ok) / sizeof(ok[0]); i++)
		if (validate_text("org name", ok[i], 200) != OV_OK)
			fail_msg("text #%zu refused: %s", i, ov_errmsg());
}

static void
test_text_control(void **state)
{
	static const char *bad[] = { "a\tb", "a\nb", "a\rb", "\x1b[31mred",
	    "a\x7f", "\x01", "tail\x1f" };

	(void)state;
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		ov_clearerr();
		assert_int_equal(validate_text("org name", bad[i], 200),
		    OV_EINVAL);
		assert_non_null(strstr(ov_errmsg(), "control"));
		assert_non_null(strstr(ov_errmsg(), "org name"));
	}
}

/*
 * C1 control characters (U+0080..U+009F) are control characters too;
 * U+009B is CSI, which some terminals obey like ESC [ — the header
 * promises "printable UTF-8 text without control characters".
 */
static void
test_text_c1_control(void **state)
{
	static const char *bad[] = { "\xc2\x80", "a\xc2\x85z",
	    "\xc2\x9b" "31mred", "\xc2\x9f" };

	(void)state;
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
		if (validate_text("org name", bad[i], 200) != OV_EINVAL)
			fail_msg("C1 control in text #%zu was accepted", i);
}

static void
test_text_bad_utf8(void **state)
{
	static const char *bad[] = {
		"\x80",				/* lone continuation */
		"a\xbf",			/* lone continuation */
		"\xc3",				/* truncated 2-byte */
		"\xe2\x82",			/* truncated 3-byte */
		"\xf0\x9f\x94",			/* truncated 4-byte */
		"\xc3(",			/* bad continuation */
		"\xe2(\xa1",			/* bad continuation */
		"\xc0\xaf",			/* overlong '/' */
		"\xc1\xbf",			/* overlong */
		"\xe0\x80\xaf",			/* overlong 3-byte */
		"\xe0\x9f\xbf",			/* overlong U+07FF */
		"\xf0\x80\x80\xaf",		/* overlong 4-byte */
		"\xf0\x8f\xbf\xbf",		/* overlong U+FFFF */
		"\xed\xa0\x80",			/* U+D800 high surrogate */
		"\xed\xaf\xbf",			/* U+DBFF */
		"\xed\xb0\x80",			/* U+DC00 low surrogate */
		"\xed\xbf\xbf",			/* U+DFFF */
		"\xed\xa0\xbd\xed\xb4\x91",	/* CESU-8 pair */
		"\xf4\x90\x80\x80",		/* U+110000 */
		"\xf7\xbf\xbf\xbf",		/* > U+10FFFF */
		"\xf8\x88\x80\x80\x80",		/* 5-byte form */
		"\xfc\x84\x80\x80\x80\x80",	/* 6-byte form */
		"\xfe", "\xff",
		"ok\xc3\xa9\xc3",		/* good then truncated */
	};

	(void)state;
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		ov_clearerr();
		if (validate_text("org name", bad[i], 200) != OV_EINVAL)
			fail_msg("bad UTF-8 #%zu was accepted", i);
		assert_non_null(strstr(ov_errmsg(), "UTF-8"));
	}
}

static void
test_text_length(void **state)
{
	char *max = rep('x', OV_NAME_MAX), *over = rep('x', OV_NAME_MAX + 1);
	/* 100 two-byte characters: 200 bytes, fits; 101 do not. */
	char two[2 * 101 + 1];

	(void)state;
	assert_int_equal(validate_text("org name", "", OV_NAME_MAX),
	    OV_EINVAL);
	assert_int_equal(validate_text("org name", max, OV_NAME_MAX), OV_OK);
	ov_clearerr();
	assert_int_equal(validate_text("org name", over, OV_NAME_MAX),
	    OV_ELIMIT);
	assert_non_null(strstr(ov_errmsg(), "200"));
	for (size_t i = 0; i < 101; i++)
		memcpy(two + 2 * i, "\xc3\xa9", 2);
	two[200] = '\0';
	assert_int_equal(validate_text("org name", two, OV_NAME_MAX), OV_OK);
	memcpy(two + 200, "\xc3\xa9", 2);
	two[202] = '\0';
	assert_int_equal(validate_text("org name", two, OV_NAME_MAX),
	    OV_ELIMIT);
	/* max counts bytes, and a 1-byte max takes one ASCII char. */
	assert_int_equal(validate_text("x", "a", 1), OV_OK);
	assert_int_equal(validate_text("x", "\xc3\xa9", 1), OV_ELIMIT);
	free(max);
	free(over);
}

static void
test_client_id(void **state)
{
	static const char *ok[] = { "a", "0oa1b2c3d4", "client-id_1.2~x",
	    "!#$%&'()*+,-./:;<=>?@[\\]^_`{|}~\"",
	    "6e1d6a1f-8b2b-4c3b-9b70-8e3a2f4d5c6b" };
	static const char *bad[] = { "", " ", "a b", " a", "a ", "a\tb",
	    "a\nb", "a\x7f", "\x01", "caf\xc3\xa9", "\x80" };
	char *max = rep('c', OV_CLIENT_ID_MAX), *over =
	    rep('c', OV_CLIENT_ID_MAX + 1);

	(void)state;
	for (size_t i = 0; i < sizeof(ok) / sizeof(ok[0]); i++)
		if (validate_client_id(ok[i]) != OV_OK)
			fail_msg("client id \"%s\" refused", ok[i]);
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
		if (validate_client_id(bad[i]) != OV_EINVAL)
			fail_msg("client id #%zu accepted", i);
	assert_int_equal(validate_client_id(max), OV_OK);
	assert_int_equal(validate_client_id(over), OV_EINVAL);
	free(max);
	free(over);
}

static void
scope_is(const char *in, const char *want)
{
	char out[OV_SCOPE_MAX + 1];

	memset(out, 'Z', sizeof(out));
	if (validate_scope(in, out, sizeof(out)) != OV_OK)
		fail_msg("scope \"%s\" refused: %s", in, ov_errmsg());
	assert_string_equal(out, want);
}

static void
test_scope_normalise(void **state)
{
	(void)state;
	scope_is("", "");
	scope_is(" ", "");
	scope_is("   ", "");
	scope_is("a", "a");
	scope_is("a  b a", "a b");
	scope_is("  b a b a  ", "b a");
	scope_is("read write read", "read write");
	scope_is("a ab abc ab a", "a ab abc");	/* prefixes are not dups */
	scope_is("ab a", "ab a");
	scope_is("user:read user:write admin:*", "user:read user:write "
	    "admin:*");
	scope_is("https://graph.example/.default openid",
	    "https://graph.example/.default openid");
	scope_is("!#[]^~", "!#[]^~");
}

static void
test_scope_bad_chars(void **state)
{
	static const char *bad[] = { "a\"b", "a\\b", "\"", "\\", "a\tb",
	    "a\nb", "a\x7f", "a\x01", "caf\xc3\xa9", "ok bad\"" };
	char out[64];

	(void)state;
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		ov_clearerr();
		if (validate_scope(bad[i], out, sizeof(out)) != OV_EINVAL)
			fail_msg("scope #%zu accepted", i);
		assert_non_null(strstr(ov_errmsg(), "RFC 6749"));
	}
}

static void
test_scope_too_long(void **state)
{
	char *over = rep('s', OV_SCOPE_MAX + 1), out[OV_SCOPE_MAX + 1];
	char *spaces = rep(' ', OV_SCOPE_MAX + 1);
	char small[4];

	(void)state;
	assert_int_equal(validate_scope(over, out, sizeof(out)), OV_ELIMIT);
	/* The limit is on the input, even if it normalises to nothing. */
	assert_int_equal(validate_scope(spaces, out, sizeof(out)), OV_ELIMIT);
	/* A too-small output buffer is a limit, never an overflow. */
	assert_int_equal(validate_scope("abcd", small, sizeof(small)),
	    OV_ELIMIT);
	assert_int_equal(validate_scope("ab cd", small, sizeof(small)),
	    OV_ELIMIT);
	assert_int_equal(validate_scope("a b", small, sizeof(small)), OV_OK);
	assert_string_equal(small, "a b");
	free(over);
	free(spaces);
}

/*
 * A scope of exactly OV_SCOPE_MAX bytes is within the documented limit
 * and fits an OV_SCOPE_MAX + 1 buffer (struct vault_cred's
 * expected_scope), so it must be accepted — as one token or several.
 */
static void
test_scope_at_limit(void **state)
{
	static char one[OV_SCOPE_MAX + 1], many[OV_SCOPE_MAX + 1];
	char out[OV_SCOPE_MAX + 1], tiny[3];

	(void)state;
	memset(one, 's', OV_SCOPE_MAX);
	memset(many, 's', OV_SCOPE_MAX);
	many[1] = ' ';		/* "s sss…": 2048 bytes, two tokens */
	assert_int_equal(validate_scope(many, out, sizeof(out)), OV_OK);
	assert_string_equal(out, many);
	if (validate_scope(one, out, sizeof(out)) != OV_OK)
		fail_msg("a single %d-byte scope was refused: %s",
		    OV_SCOPE_MAX, ov_errmsg());
	assert_string_equal(out, one);
	/* Same edge, small: "ab" fits in 3 bytes. */
	assert_int_equal(validate_scope("ab", tiny, sizeof(tiny)), OV_OK);
	assert_string_equal(tiny, "ab");
}

static void
refresh_is(const char *in, double fraction, int64_t age)
{
	double f = -1;
	int64_t a = -1;

	if (validate_refresh_at(in, &f, &a) != OV_OK)
		fail_msg("refresh-at \"%s\" refused: %s", in, ov_errmsg());
	assert_float_equal(f, fraction, 1e-12);
	assert_int_equal(a, age);
}

static void
test_refresh_at_ok(void **state)
{
	(void)state;
	refresh_is("0.75", 0.75, 0);
	refresh_is("0.5", 0.5, 0);
	refresh_is(".9", 0.9, 0);
	refresh_is("0.01", 0.01, 0);
	refresh_is("0.999", 0.999, 0);
	refresh_is("18h", 0, 64800);
	refresh_is("90m", 0, 5400);
	refresh_is("3600s", 0, 3600);
	refresh_is("1s", 0, 1);
	refresh_is("2d", 0, 172800);
	refresh_is("365d", 0, 365LL * 86400);
	refresh_is("8760h", 0, 365LL * 86400);
	refresh_is("525600m", 0, 365LL * 86400);
	refresh_is("31536000s", 0, 365LL * 86400);
}

static void
test_refresh_at_bad(void **state)
{
	static const char *bad[] = { "0", "1", "1.5", "1.0", "0.0", "-0.5",
	    "-1h", "18x", "h", "", "400d", "366d", "8761h", "525601m",
	    "31536001s", "0s", "0h", "18", "18hh", "18 h", "1.5h", "0.75x",
	    "nan", "inf", "0.75.1", "99999999999999999999d",
	    "106751991167301d", "18H", "1e3s", "0x10s" };

	(void)state;
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		double f = -1;
		int64_t a = -1;

		ov_clearerr();
		if (validate_refresh_at(bad[i], &f, &a) != OV_EINVAL)
			fail_msg("refresh-at \"%s\" accepted (f=%g a=%lld)",
			    bad[i], f, (long long)a);
		assert_true(ov_errmsg()[0] != '\0');
		/* Outputs untouched on failure. */
		assert_float_equal(f, -1, 0);
		assert_int_equal(a, -1);
	}
}

/* validate_duration (apikey --expires-in, and the age of refresh-at). */
static void
test_duration(void **state)
{
	static const struct { const char *in; int64_t want; } ok[] = {
		{ "1s", 1 }, { "90d", 90 * 86400 }, { "12h", 43200 },
		{ "30m", 1800 }, { "3650d", 3650LL * 86400 },
		{ "87600h", 3650LL * 86400 }, { "315360000s", 3650LL * 86400 },
	};
	static const char *const bad[] = { "", "d", "0d", "0s", "5", "5w",
	    "-1h", "+5d", " 5d", "5d ", "1.5d", "5dd", "3651d", "87601h",
	    "315360001s", "99999999999999999999d", "9223372036854775807s",
	    "9223372036854775807d", "0x10s" };
	const int64_t max = 3650LL * 86400;

	(void)state;
	for (size_t i = 0; i < sizeof(ok) / sizeof(ok[0]); i++) {
		int64_t got = -1;

		if (validate_duration(ok[i].in, max, &got) != OV_OK)
			fail_msg("duration \"%s\" refused: %s", ok[i].in,
			    ov_errmsg());
		assert_int_equal(got, ok[i].want);
	}
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		int64_t got = -1;

		if (validate_duration(bad[i], max, &got) != OV_EINVAL)
			fail_msg("duration \"%s\" accepted (%lld)", bad[i],
			    (long long)got);
		assert_int_equal(got, -1);
		assert_non_null(strstr(ov_errmsg(), "3650 days"));
	}
}

static void
url_ok(const char *in, const char *want)
{
	char out[OV_URL_MAX + 1];

	if (validate_token_url(in, out, sizeof(out)) != OV_OK)
		fail_msg("token URL \"%s\" refused: %s", in, ov_errmsg());
	assert_string_equal(out, want);
}

static void
url_bad(const char *in, enum ov_rc want)
{
	char out[OV_URL_MAX + 1] = "untouched";
	enum ov_rc rc = validate_token_url(in, out, sizeof(out));

	if (rc != want)
		fail_msg("token URL \"%s\": rc %s, want %s", in,
		    ov_rc_str(rc), ov_rc_str(want));
	assert_string_equal(out, "untouched");
}

static void
test_token_url_ok(void **state)
{
	(void)state;
	url_ok("https://login.mypurecloud.com/oauth/token",
	    "https://login.mypurecloud.com/oauth/token");
	url_ok("https://acme.service-now.com/oauth_token.do",
	    "https://acme.service-now.com/oauth_token.do");
	url_ok("https://example.com", "https://example.com/");
	url_ok("https://example.com:8443/t?x=1",
	    "https://example.com:8443/t?x=1");
	url_ok("http://127.0.0.1:8080/x", "http://127.0.0.1:8080/x");
	url_ok("http://127.0.0.2/x", "http://127.0.0.2/x");
	url_ok("http://localhost", "http://localhost/");
	url_ok("http://localhost:9999/token", "http://localhost:9999/token");
	url_ok("http://[::1]:9/x", "http://[::1]:9/x");
}

static void
test_token_url_bad(void **state)
{
	char *longurl;
	size_t n;

	(void)state;
	url_bad("http://example.com", OV_EINVAL);
	url_bad("http://example.com/oauth/token", OV_EINVAL);
	url_bad("http://10.0.0.1/t", OV_EINVAL);
	url_bad("http://128.0.0.1/t", OV_EINVAL);
	url_bad("http://localhost.example.com/t", OV_EINVAL);
	url_bad("http://[::2]/t", OV_EINVAL);
	url_bad("ftp://example.com/x", OV_EINVAL);
	url_bad("file:///etc/passwd", OV_EINVAL);
	url_bad("gopher://127.0.0.1/x", OV_EINVAL);
	url_bad("https://user:pass@example.com/", OV_EINVAL);
	url_bad("https://user@example.com/", OV_EINVAL);
	url_bad("https://:pass@example.com/", OV_EINVAL);
	url_bad("http://user:pass@127.0.0.1/", OV_EINVAL);
	url_bad("https://example.com/x#frag", OV_EINVAL);
	url_bad("http://localhost/x#f", OV_EINVAL);
	url_bad("garbage", OV_EINVAL);
	url_bad("", OV_EINVAL);
	url_bad("https://", OV_EINVAL);
	url_bad("example.com/token", OV_EINVAL);
	url_bad("https://exa mple.com/", OV_EINVAL);
	url_bad("https://example.com/a b", OV_EINVAL);

	/* Over OV_URL_MAX: a limit, checked before parsing. */
	n = OV_URL_MAX + 1;
	longurl = rep('a', n);
	memcpy(longurl, "https://example.com/", 20);
	url_bad(longurl, OV_ELIMIT);
	/* Exactly OV_URL_MAX is fine. */
	longurl[OV_URL_MAX] = '\0';
	url_ok(longurl, longurl);
	free(longurl);
	/* A short output buffer is a limit, not an overflow. */
	{
		char out[8] = "keep";

		assert_int_equal(validate_token_url("https://example.com/t",
		    out, sizeof(out)), OV_ELIMIT);
		assert_string_equal(out, "keep");
	}
}

/*
 * "Loopback" must mean loopback: a DNS name that merely starts with
 * "127." (anyone can register 127.attacker.example) is not, and plain
 * http to it would send the client secret in the clear.
 */
static void
test_token_url_fake_loopback(void **state)
{
	(void)state;
	url_bad("http://127.attacker.example/token", OV_EINVAL);
	url_bad("http://127.0.0.1.attacker.example/token", OV_EINVAL);
}

/*
 * Found by tests/fuzz/fuzz_url.c: libcurl decodes %XX in a host, so
 * "https://gi%86x.example/t" was kept with a raw 0x86 byte — not UTF-8,
 * and a credential with that token URL could not be rendered as JSON
 * (PUT stored it, then answered 500; so did every GET of it).
 */
static void
test_token_url_decoded_host(void **state)
{
	(void)state;
	url_bad("https://gi%86x.example/t", OV_EINVAL);
	url_bad("https://gi%7f.1/t", OV_EINVAL);
	url_bad("https://a%01b.example/t", OV_EINVAL);
	url_bad("https://b\xc3\xbc" "cher.example/t", OV_EINVAL);
	url_ok("https://xn--bcher-kva.example/t",
	    "https://xn--bcher-kva.example/t");
	url_ok("http://lo%63alhost:8080/t", "http://localhost:8080/t");
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_slug_ok),
		cmocka_unit_test(test_slug_bad),
		cmocka_unit_test(test_text_ok),
		cmocka_unit_test(test_text_control),
		cmocka_unit_test(test_text_c1_control),
		cmocka_unit_test(test_text_bad_utf8),
		cmocka_unit_test(test_text_length),
		cmocka_unit_test(test_client_id),
		cmocka_unit_test(test_scope_normalise),
		cmocka_unit_test(test_scope_bad_chars),
		cmocka_unit_test(test_scope_too_long),
		cmocka_unit_test(test_scope_at_limit),
		cmocka_unit_test(test_refresh_at_ok),
		cmocka_unit_test(test_refresh_at_bad),
		cmocka_unit_test(test_duration),
		cmocka_unit_test(test_token_url_ok),
		cmocka_unit_test(test_token_url_bad),
		cmocka_unit_test(test_token_url_fake_loopback),
		cmocka_unit_test(test_token_url_decoded_host),
	};

	unit_init();
	return cmocka_run_group_tests(tests, NULL, NULL);
}

/* test_secret.c — util/secret.c (reading secrets) and util/timefmt.c. */
#include "unit.h"

#include "util/timefmt.h"

static int
setup(void **state)
{
	char *dir = unit_tmpdir();

	if (dir == NULL)
		return -1;
	*state = dir;
	return 0;
}

static int
teardown(void **state)
{
	unit_rmrf(*state);
	free(*state);
	return 0;
}

/* Writes len bytes to DIR/secret and reads them back with max. */
static enum ov_rc
read_bytes(const char *dir, const void *buf, size_t len, size_t max,
    struct secret **out)
{
	char path[PATH_MAX];

	snprintf(path, sizeof(path), "%s/secret", dir);
	unlink(path);
	assert_int_equal(unit_write_file(path, buf, len, 0600), 0);
	*out = NULL;
	ov_clearerr();
	return secret_read(path, max, "client secret", out);
}

static void
expect_secret(const char *dir, const void *file, size_t flen,
    const char *want)
{
	struct secret *s = NULL;

	assert_int_equal(read_bytes(dir, file, flen, 64, &s), OV_OK);
	assert_non_null(s);
	assert_int_equal(s->len, strlen(want));
	assert_memory_equal(s->buf, want, s->len);
	assert_int_equal(s->buf[s->len], '\0');
	secret_free(s);
}

static void
test_read_strips_one_newline(void **state)
{
	const char *dir = *state;

	expect_secret(dir, "abc", 3, "abc");
	expect_secret(dir, "abc\n", 4, "abc");
	expect_secret(dir, "abc\r\n", 5, "abc");
	expect_secret(dir, "x", 1, "x");
	expect_secret(dir, "x\n", 2, "x");
	/* Inner spaces and tabs are part of the secret. */
	expect_secret(dir, " a\tb \n", 6, " a\tb ");
	/* Bytes other than NUL, CR, LF pass through unchanged. */
	expect_secret(dir, "\xff\x01\xc3\xa9\n", 5, "\xff\x01\xc3\xa9");
}

static void
expect_refused(const char *dir, const void *file, size_t flen, size_t max,
    enum ov_rc want)
{
	struct secret *s = NULL;
	enum ov_rc rc = read_bytes(dir, file, flen, max, &s);

	if (rc != want)
		fail_msg("rc %s, want %s (%s)", ov_rc_str(rc), ov_rc_str(want),
		    ov_errmsg());
	assert_null(s);
	/* The message names the secret, and never holds its bytes. */
	assert_non_null(strstr(ov_errmsg(), "client secret"));
	if (flen >= 6)
		assert_null(strstr(ov_errmsg(), "s3cr3t"));
}

static void
test_read_empty(void **state)
{
	const char *dir = *state;

	expect_refused(dir, "", 0, 64, OV_EINVAL);
	expect_refused(dir, "\n", 1, 64, OV_EINVAL);
	expect_refused(dir, "\r\n", 2, 64, OV_EINVAL);
}

static void
test_read_embedded(void **state)
{
	const char *dir = *state;

	expect_refused(dir, "s3cr3t\nmore", 11, 64, OV_EINVAL);
	expect_refused(dir, "s3cr3t\rmore", 11, 64, OV_EINVAL);
	expect_refused(dir, "s3cr3t\0more", 11, 64, OV_EINVAL);
	expect_refused(dir, "\0s3cr3t", 7, 64, OV_EINVAL);
	expect_refused(dir, "s3cr3t\0", 7, 64, OV_EINVAL);
	/* Only one trailing newline is dropped. */
	expect_refused(dir, "s3cr3t\n\n", 8, 64, OV_EINVAL);
	expect_refused(dir, "s3cr3t\r\n\r\n", 10, 64, OV_EINVAL);
	expect_refused(dir, "\ns3cr3t", 7, 64, OV_EINVAL);
}

static void
test_read_max(void **state)
{
	const char *dir = *state;
	char buf[OV_SECRET_MAX + 64];
	struct secret *s = NULL;

	memset(buf, 'k', sizeof(buf));
	/* Exactly max, with or without the line end: accepted. */
	assert_int_equal(read_bytes(dir, buf, 8, 8, &s), OV_OK);
	assert_int_equal(s->len, 8);
	secret_free(s);
	buf[8] = '\n';
	assert_int_equal(read_bytes(dir, buf, 9, 8, &s), OV_OK);
	assert_int_equal(s->len, 8);
	secret_free(s);
	buf[8] = '\r';
	buf[9] = '\n';
	assert_int_equal(read_bytes(dir, buf, 10, 8, &s), OV_OK);
	assert_int_equal(s->len, 8);
	secret_free(s);
	/* One over, with or without the line end: a limit. */
	memset(buf, 'k', sizeof(buf));
	expect_refused(dir, buf, 9, 8, OV_ELIMIT);
	buf[9] = '\n';
	expect_refused(dir, buf, 10, 8, OV_ELIMIT);
	buf[9] = '\r';
	buf[10] = '\n';
	expect_refused(dir, buf, 11, 8, OV_ELIMIT);
	/* Far over: still a limit (reading stops early). */
	memset(buf, 'k', sizeof(buf));
	expect_refused(dir, buf, sizeof(buf), 8, OV_ELIMIT);
	/* The real limit. */
	assert_int_equal(read_bytes(dir, buf, OV_SECRET_MAX, OV_SECRET_MAX,
	    &s), OV_OK);
	assert_int_equal(s->len, OV_SECRET_MAX);
	secret_free(s);
	expect_refused(dir, buf, OV_SECRET_MAX + 1, OV_SECRET_MAX, OV_ELIMIT);
}

static void
test_read_missing(void **state)
{
	const char *dir = *state;
	char path[PATH_MAX];
	struct secret *s = NULL;

	snprintf(path, sizeof(path), "%s/nope", dir);
	ov_clearerr();
	assert_int_equal(secret_read(path, 64, "client secret", &s),
	    OV_ENOTFOUND);
	assert_null(s);
	assert_non_null(strstr(ov_errmsg(), path));
	/* A directory is not readable as a secret: an I/O error. */
	assert_int_equal(secret_read(dir, 64, "client secret", &s), OV_EIO);
	assert_null(s);
}

static void
test_read_stdin(void **state)
{
	struct secret *s = NULL;
	int saved = dup(STDIN_FILENO), p[2];

	(void)state;
	assert_true(saved >= 0);
	assert_int_equal(pipe(p), 0);
	assert_int_equal(write(p[1], "from-stdin\n", 11), 11);
	close(p[1]);
	assert_int_equal(dup2(p[0], STDIN_FILENO), STDIN_FILENO);
	close(p[0]);
	assert_int_equal(secret_read("-", 64, "refresh token", &s), OV_OK);
	dup2(saved, STDIN_FILENO);
	close(saved);
	assert_int_equal(s->len, 10);
	assert_memory_equal(s->buf, "from-stdin", 10);
	secret_free(s);
}

static void
test_secret_from(void **state)
{
	struct secret *s = NULL;

	(void)state;
	assert_int_equal(secret_from("a\0b", 3, &s), OV_OK);
	assert_int_equal(s->len, 3);
	assert_memory_equal(s->buf, "a\0b", 4);
	secret_free(s);
	assert_int_equal(secret_from("", 0, &s), OV_OK);
	assert_int_equal(s->len, 0);
	assert_int_equal(s->buf[0], '\0');
	secret_free(s);
	secret_free(NULL);
}

static void
test_time_format(void **state)
{
	char buf[32];

	(void)state;
	assert_string_equal(timefmt_rfc3339(0, buf, sizeof(buf)),
	    "1970-01-01T00:00:00Z");
	assert_string_equal(timefmt_rfc3339(1795258751, buf, sizeof(buf)),
	    "2026-11-21T10:59:11Z");
	assert_string_equal(timefmt_rfc3339(951782400, buf, sizeof(buf)),
	    "2000-02-29T00:00:00Z");
	assert_string_equal(timefmt_rfc3339_ms(1795258751123LL, buf,
	    sizeof(buf)), "2026-11-21T10:59:11.123Z");
	assert_string_equal(timefmt_rfc3339_ms(1795258751005LL, buf,
	    sizeof(buf)), "2026-11-21T10:59:11.005Z");
	assert_string_equal(timefmt_rfc3339_ms(0, buf, sizeof(buf)),
	    "1970-01-01T00:00:00.000Z");
	/* The clock is plausible and the two reads agree. */
	assert_true(timefmt_now() > 1700000000);
	assert_in_range(timefmt_now_ms() / 1000 - timefmt_now(), 0, 1);
}

static void
parse_is(const char *s, int64_t want)
{
	int64_t got = -12345;

	if (timefmt_parse_rfc3339(s, &got) != 0)
		fail_msg("\"%s\" did not parse", s);
	assert_int_equal(got, want);
}

static void
test_time_parse(void **state)
{
	(void)state;
	parse_is("1970-01-01T00:00:00Z", 0);
	parse_is("2026-11-21T10:59:11Z", 1795258751);
	parse_is("2026-11-21T10:59:11z", 1795258751);
	parse_is("2026-11-21T12:59:11+02:00", 1795258751);
	parse_is("2026-11-21T10:59:11+00:00", 1795258751);
	parse_is("2026-11-21T05:29:11-05:30", 1795258751);
	parse_is("2026-11-22T00:59:11+14:00", 1795258751);
	parse_is("2026-11-21T10:59:11.123Z", 1795258751);
	parse_is("2026-11-21T12:59:11.5+02:00", 1795258751);
	parse_is("2000-02-29T00:00:00Z", 951782400);
}

static void
test_time_round_trip(void **state)
{
	static const int64_t t[] = { 0, 1, 59, 86399, 86400, 951782400,
	    1700000000, 1795258751, 4102444799LL };
	char buf[32];

	(void)state;
	for (size_t i = 0; i < sizeof(t) / sizeof(t[0]); i++)
		parse_is(timefmt_rfc3339(t[i], buf, sizeof(buf)), t[i]);
	parse_is(timefmt_rfc3339(timefmt_now(), buf, sizeof(buf)),
	    timefmt_now());
}

static void
test_time_parse_bad(void **state)
{
	static const char *bad[] = { "", "2026-11-21", "2026-11-21T10:59:11",
	    "2026-11-21 10:59:11Z", "2026-11-21T10:59:11ZZ",
	    "2026-11-21T10:59:11Z ", "2026-11-21T10:59:11+0200",
	    "2026-11-21T10:59:11+02", "2026-11-21T10:59:11X", "garbage",
	    "2026-11-21T10:59:11.Zjunk" };

	(void)state;
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		int64_t v = 777;

		if (timefmt_parse_rfc3339(bad[i], &v) != -1)
			fail_msg("\"%s\" parsed as %lld", bad[i],
			    (long long)v);
		assert_int_equal(v, 777);
	}
}

/*
 * A short offset ("+2:00", "+02:0") is matched by sscanf("%2d:%2d") in
 * fewer than 5 characters, but the parser then skips 6: it reads past
 * the end of the string.  Each input is an exact-size heap copy, so
 * AddressSanitizer sees the overread; without it the result is garbage
 * (may accept or refuse depending on the byte after the string).
 */
static void
test_time_parse_short_offset(void **state)
{
	static const char *bad[] = { "2026-11-21T10:59:11+2:00",
	    "2026-11-21T10:59:11+02:0", "2026-11-21T10:59:11+2:0" };

	(void)state;
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		size_t n = strlen(bad[i]) + 1;
		char *s = malloc(n);
		int64_t v = 777;
		int rc;

		assert_non_null(s);
		memcpy(s, bad[i], n);
		rc = timefmt_parse_rfc3339(s, &v);
		free(s);
		if (rc != -1)
			fail_msg("\"%s\" parsed as %lld", bad[i],
			    (long long)v);
	}
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_read_strips_one_newline,
		    setup, teardown),
		cmocka_unit_test_setup_teardown(test_read_empty, setup,
		    teardown),
		cmocka_unit_test_setup_teardown(test_read_embedded, setup,
		    teardown),
		cmocka_unit_test_setup_teardown(test_read_max, setup, teardown),
		cmocka_unit_test_setup_teardown(test_read_missing, setup,
		    teardown),
		cmocka_unit_test(test_read_stdin),
		cmocka_unit_test(test_secret_from),
		cmocka_unit_test(test_time_format),
		cmocka_unit_test(test_time_parse),
		cmocka_unit_test(test_time_round_trip),
		cmocka_unit_test(test_time_parse_bad),
		cmocka_unit_test(test_time_parse_short_offset),
	};

	unit_init();
	return cmocka_run_group_tests(tests, NULL, NULL);
}

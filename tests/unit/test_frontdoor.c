/*
 * test_frontdoor.c — the pure decisions of the admin API's front door:
 * the failed-key throttle (admin/throttle.c) and the address lists of
 * --trusted-proxy and the endpoint policy (util/cidr.c), the outbound
 * policy's address classes (util/netpolicy.c), a connection's deadline
 * and the counts per address (admin/conn.c).  No sockets; the server is
 * tried from outside by tests/integration/t_auth_throttle.sh and
 * t_slowclients.sh.
 */
#include "unit.h"

#include "admin/admin_int.h"
#include "admin/throttle.h"
#include "util/cidr.h"
#include "util/netpolicy.h"

#define KEY_A	"0123456789abcdef"
#define KEY_B	"fedcba9876543210"

/* n failures of (addr, key); the verdict of the last. */
static struct throttle_verdict
fail_n(struct throttle *t, const char *addr, const char *key, int n,
    int64_t now)
{
	struct throttle_verdict v = { 0, 0, 0 };

	for (int i = 0; i < n; i++)
		v = throttle_failure(t, addr, key, now);
	return v;
}

static void
test_throttle_buckets(void **state)
{
	struct throttle *t = throttle_new();
	struct throttle_verdict v;
	int64_t now = 1000000;

	(void)state;
	assert_non_null(t);
	/* Nine failures: nothing happens. */
	v = fail_n(t, "127.0.0.1", KEY_A, THROTTLE_FAIL_MAX - 1, now);
	assert_int_equal(v.retry_after_s, 0);
	assert_false(v.block_started);
	/* The tenth starts a block (still answered 401), with an event. */
	v = throttle_failure(t, "127.0.0.1", KEY_A, now);
	assert_int_equal(v.retry_after_s, 0);
	assert_true(v.block_started);
	assert_true(v.event_due);
	/* Then that (address, key id) waits. */
	v = throttle_failure(t, "127.0.0.1", KEY_A, now + 1500);
	assert_int_equal(v.retry_after_s, THROTTLE_BLOCK_S - 1);
	/* Another key id from the same address, the same key id from
	 * another address, unknown keys from the address: not blocked. */
	assert_int_equal(throttle_failure(t, "127.0.0.1", KEY_B,
	    now).retry_after_s, 0);
	assert_int_equal(throttle_failure(t, "127.0.0.2", KEY_A,
	    now).retry_after_s, 0);
	assert_int_equal(throttle_failure(t, "127.0.0.1", NULL,
	    now).retry_after_s, 0);
	/* A second bucket of the same address blocks without a second
	 * event in the window; another address gets its own. */
	v = fail_n(t, "127.0.0.1", KEY_B, THROTTLE_FAIL_MAX - 1, now + 10);
	assert_true(v.block_started);
	assert_false(v.event_due);
	v = fail_n(t, "127.0.0.2", KEY_A, THROTTLE_FAIL_MAX - 1, now + 10);
	assert_true(v.block_started);
	assert_true(v.event_due);
	/* Unknown key ids ("" as NULL) share one bucket per address. */
	v = fail_n(t, "10.0.0.9", "", THROTTLE_FAIL_MAX - 1, now);
	assert_false(v.block_started);
	v = throttle_failure(t, "10.0.0.9", NULL, now);
	assert_true(v.block_started);
	/* The block ends; counting starts again. */
	v = throttle_failure(t, "127.0.0.1", KEY_A, now +
	    THROTTLE_BLOCK_S * 1000);
	assert_int_equal(v.retry_after_s, 0);
	assert_false(v.block_started);
	/* Failures spread wider than the window never block. */
	for (int i = 0; i < 3 * THROTTLE_FAIL_MAX; i++) {
		v = throttle_failure(t, "192.0.2.1", KEY_A, now +
		    (int64_t)i * (THROTTLE_WINDOW_MS / 5));
		assert_false(v.block_started);
	}
	/* After the window, a new block may write a new event. */
	v = fail_n(t, "127.0.0.1", KEY_A, THROTTLE_FAIL_MAX, now +
	    THROTTLE_BLOCK_S * 1000 + THROTTLE_WINDOW_MS + 1);
	assert_true(v.block_started);
	assert_true(v.event_due);
	throttle_free(t);
	throttle_free(NULL);
}

/* Many addresses: the table is bounded and never makes a block up. */
static void
test_throttle_many_addresses(void **state)
{
	struct throttle *t = throttle_new();
	char addr[32];
	int blocked = 0;

	(void)state;
	for (int i = 0; i < 50000; i++) {
		snprintf(addr, sizeof(addr), "10.%d.%d.%d", i >> 16 & 255,
		    i >> 8 & 255, i & 255);
		if (throttle_failure(t, addr, KEY_A, 5000).retry_after_s)
			blocked++;
	}
	assert_int_equal(blocked, 0);
	throttle_free(t);
}

static void
addr(const char *s, unsigned char out[16])
{
	assert_int_equal(cidr_addr_parse(s, out), 0);
}

static void
test_cidr(void **state)
{
	struct cidr_list l = { .n = 0 };
	unsigned char a[16];
	char buf[64];

	(void)state;
	assert_int_equal(cidr_list_parse("127.0.0.0/8, ::1,10.1.0.0/16",
	    "--x", &l), OV_OK);
	assert_int_equal(l.n, 3);
	addr("127.9.8.7", a);
	assert_true(cidr_list_has(&l, a));
	addr("128.0.0.1", a);
	assert_false(cidr_list_has(&l, a));
	addr("::1", a);
	assert_true(cidr_list_has(&l, a));
	addr("::2", a);
	assert_false(cidr_list_has(&l, a));
	addr("10.1.255.255", a);
	assert_true(cidr_list_has(&l, a));
	addr("10.2.0.0", a);
	assert_false(cidr_list_has(&l, a));
	/* IPv4 and its mapped form are one address. */
	addr("::ffff:127.0.0.1", a);
	assert_true(cidr_list_has(&l, a));
	assert_string_equal(cidr_addr_str(a, buf, sizeof(buf)), "127.0.0.1");
	/* Odd prefixes. */
	l.n = 0;
	assert_int_equal(cidr_list_parse("100.64.0.0/10,fe80::/10", "--x", &l),
	    OV_OK);
	addr("100.127.255.1", a);
	assert_true(cidr_list_has(&l, a));
	addr("100.128.0.1", a);
	assert_false(cidr_list_has(&l, a));
	addr("febf::1", a);
	assert_true(cidr_list_has(&l, a));
	addr("fec0::1", a);
	assert_false(cidr_list_has(&l, a));
	l.n = 0;
	assert_int_equal(cidr_list_parse("0.0.0.0/0", "--x", &l), OV_OK);
	addr("203.0.113.9", a);
	assert_true(cidr_list_has(&l, a));
	/* Not addresses: names, decimal or octal or hex IPv4, host bits,
	 * prefixes out of range, empty items. */
	static const char *bad[] = { "localhost", "2130706433", "0177.0.0.1",
	    "0x7f.0.0.1", "127.1", "10.1.2.3/8", "10.0.0.0/33", "::/129",
	    "10.0.0.0/", "10.0.0.0/x", "", ",", "127.0.0.1,", " , ",
	    NULL };
	for (int i = 0; bad[i]; i++) {
		l.n = 0;
		assert_int_equal(cidr_list_parse(bad[i], "--x", &l), OV_EUSAGE);
		assert_non_null(strstr(ov_errmsg(), "--x"));
	}
	assert_int_equal(cidr_addr_parse("0177.0.0.1", a), -1);
	assert_int_equal(cidr_addr_parse("2130706433", a), -1);
}

/* The outbound policy's classes, without a resolver. */
static void
test_netpolicy(void **state)
{
	static const char *internal[] = { "0.1.2.3", "10.9.8.7", "100.64.0.1",
	    "100.127.255.255", "127.0.0.1", "127.255.255.254", "169.254.169.254",
	    "172.16.0.1", "172.31.255.255", "192.168.0.1", "224.0.0.251",
	    "239.255.255.250", "240.0.0.1", "255.255.255.255", "::", "::1",
	    "fc00::1", "fdff::1", "fe80::1", "febf::1", "ff02::1",
	    "::ffff:127.0.0.1", "::ffff:10.0.0.1", "64:ff9b::a9fe:a9fe",
	    "64:ff9b::7f00:1", "2002:a00:1::", "2002:7f00:1::1", "::10.0.0.1",
	    NULL };
	static const char *public[] = { "8.8.8.8", "1.1.1.1", "100.63.255.255",
	    "100.128.0.0", "172.15.255.255", "172.32.0.0", "203.0.113.10",
	    "11.0.0.1", "2606:4700::1111", "::ffff:8.8.8.8", "64:ff9b::808:808",
	    "2002:808:808::", NULL };
	unsigned char a[16];

	(void)state;
	netpolicy_resolve_names(0);
	netpolicy_allow(NULL, NULL);	/* unit_init allowed 127/8 */
	for (int i = 0; internal[i]; i++) {
		addr(internal[i], a);
		if (netpolicy_internal(a) == NULL)
			fail_msg("%s should be internal", internal[i]);
		assert_int_equal(netpolicy_check_addr("token URL", a),
		    OV_EINVAL);
	}
	for (int i = 0; public[i]; i++) {
		addr(public[i], a);
		if (netpolicy_internal(a) != NULL)
			fail_msg("%s should be public", public[i]);
		assert_int_equal(netpolicy_check_addr("token URL", a), OV_OK);
	}
	/* Literal spellings in URLs, judged by what they mean. */
	static const char *urls[] = { "https://2130706433/t",
	    "https://0177.0.0.1/t", "https://0x7f.1/t", "https://127.1/t",
	    "https://[::ffff:7f00:1]/t", "http://127.0.0.1:8080/t",
	    "https://[fe80::1]/t", "https://0/t", NULL };
	for (int i = 0; urls[i]; i++)
		if (netpolicy_check_url("token URL", urls[i]) != OV_EINVAL)
			fail_msg("%s should be refused", urls[i]);
	assert_int_equal(netpolicy_check_url("token URL",
	    "https://login.mypurecloud.com/oauth/token"), OV_OK);
	assert_int_equal(netpolicy_check_url("token URL",
	    "https://203.0.113.10/t"), OV_OK);
	/* An allowed range lets its addresses through, no others. */
	assert_int_equal(netpolicy_allow("127.0.0.0/8", "--endpoint-allow"),
	    OV_OK);
	assert_int_equal(netpolicy_check_url("token URL",
	    "http://127.0.0.1:8080/t"), OV_OK);
	assert_int_equal(netpolicy_check_url("token URL",
	    "https://[::1]/t"), OV_EINVAL);
	assert_non_null(strstr(ov_errmsg(), "loopback"));
	assert_non_null(strstr(ov_errmsg(), "--endpoint-allow"));
}

/* A connection's deadline through its phases: bytes never move it. */
static void
test_conn_clock(void **state)
{
	struct conn_clock k;
	const int rq = 3, idle = 30;
	int64_t t0 = 5000000;

	(void)state;
	/* A new connection: its first request, head and body, within rq s
	 * of the accept; its request line does not restart the clock. */
	conn_clock_start(&k, t0);
	assert_int_equal(k.phase, CONN_NEW);
	assert_true(conn_clock_deadline(&k, rq, idle) == t0 + 3000);
	conn_clock_request(&k, t0 + 2900);
	assert_int_equal(k.phase, CONN_RECEIVING);
	assert_true(conn_clock_deadline(&k, rq, idle) == t0 + 3000);
	/* Dispatched (a token wait, a secret test): never cut. */
	conn_clock_answer(&k);
	assert_true(conn_clock_deadline(&k, rq, idle) == INT64_MAX);
	/* Answered: idle s in all for the next request line ... */
	conn_clock_done(&k, t0 + 60000);
	assert_int_equal(k.phase, CONN_IDLE);
	assert_true(conn_clock_deadline(&k, rq, idle) == t0 + 90000);
	/* ... then rq s from that line, however late in the idle time. */
	conn_clock_request(&k, t0 + 89000);
	assert_true(conn_clock_deadline(&k, rq, idle) == t0 + 92000);
	/* A second request line (none comes before the answer) keeps the
	 * clock. */
	conn_clock_request(&k, t0 + 91000);
	assert_true(conn_clock_deadline(&k, rq, idle) == t0 + 92000);
	/* A keep-alive client a second apart is never near a deadline. */
	for (int i = 0; i < 8; i++) {
		int64_t at = t0 + 100000 + i * 1000;

		conn_clock_done(&k, at);
		conn_clock_request(&k, at + 999);
		assert_true(conn_clock_deadline(&k, rq, idle) > at + 999);
		conn_clock_answer(&k);
	}
}

/* Counts per address: the limit, giving back, a line per 10 s. */
static void
test_conn_table(void **state)
{
	struct conn_table *t = conn_table_new();
	unsigned char a[16], b[16], c[16];
	int64_t now = 7000000;

	(void)state;
	assert_non_null(t);
	addr("127.0.0.2", a);
	addr("127.0.0.1", b);
	addr("2001:db8::7", c);
	for (int i = 0; i < 20; i++)
		assert_int_equal(conn_table_take(t, a, 20, now), 1);
	assert_int_equal(conn_table_take(t, a, 20, now), 0);
	assert_int_equal(conn_table_open(t, a), 20);
	/* Other addresses are not affected; limit 0: none. */
	assert_int_equal(conn_table_take(t, b, 20, now), 1);
	for (int i = 0; i < 100; i++)
		assert_int_equal(conn_table_take(t, c, 0, now), 1);
	assert_int_equal(conn_table_open(t, c), 100);
	/* One given back: one more may come. */
	conn_table_give(t, a, now);
	assert_int_equal(conn_table_open(t, a), 19);
	assert_int_equal(conn_table_take(t, a, 20, now), 1);
	assert_int_equal(conn_table_take(t, a, 20, now), 0);
	/* A line per address and kind per 10 s. */
	assert_true(conn_table_warn(t, a, CONN_WARN_REFUSED, now));
	assert_false(conn_table_warn(t, a, CONN_WARN_REFUSED, now + 9999));
	assert_true(conn_table_warn(t, a, CONN_WARN_CUT, now + 5000));
	assert_true(conn_table_warn(t, b, CONN_WARN_REFUSED, now + 1));
	assert_true(conn_table_warn(t, a, CONN_WARN_REFUSED, now + 10000));
	/* All closed: the count is gone, the recent line is not
	 * (reconnecting buys no new line) ... */
	for (int i = 0; i < 20; i++)
		conn_table_give(t, a, now + 10001);
	assert_int_equal(conn_table_open(t, a), 0);
	assert_false(conn_table_warn(t, a, CONN_WARN_REFUSED, now + 10002));
	/* ... until 10 s passed; giving back more than was taken is
	 * harmless. */
	conn_table_give(t, a, now + 30000);
	assert_true(conn_table_warn(t, a, CONN_WARN_REFUSED, now + 30001));
	conn_table_give(t, c, now);
	assert_int_equal(conn_table_open(t, c), 99);
	conn_table_free(t);
	conn_table_free(NULL);
}

/* Many addresses come and go, each counted on its own. */
static void
test_conn_table_many(void **state)
{
	struct conn_table *t = conn_table_new();
	unsigned char a[16];
	char s[32];

	(void)state;
	for (int i = 0; i < 20000; i++) {
		snprintf(s, sizeof(s), "10.%d.%d.%d", i >> 16 & 255,
		    i >> 8 & 255, i & 255);
		addr(s, a);
		assert_int_equal(conn_table_take(t, a, 1, 1000), 1);
		assert_int_equal(conn_table_take(t, a, 1, 1000), 0);
	}
	for (int i = 0; i < 20000; i++) {
		snprintf(s, sizeof(s), "10.%d.%d.%d", i >> 16 & 255,
		    i >> 8 & 255, i & 255);
		addr(s, a);
		assert_int_equal(conn_table_open(t, a), 1);
		conn_table_give(t, a, 2000);
		assert_int_equal(conn_table_open(t, a), 0);
	}
	conn_table_free(t);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_throttle_buckets),
		cmocka_unit_test(test_throttle_many_addresses),
		cmocka_unit_test(test_cidr),
		cmocka_unit_test(test_netpolicy),
		cmocka_unit_test(test_conn_clock),
		cmocka_unit_test(test_conn_table),
		cmocka_unit_test(test_conn_table_many),
	};

	unit_init();
	return cmocka_run_group_tests(tests, NULL, NULL);
}

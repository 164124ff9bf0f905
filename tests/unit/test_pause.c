/*
 * test_pause.c — rate-limit pause scope (rotation/pause.c): a 429 pauses
 * its (host, client id); the host only when several clients of it got
 * one within the window.  Pure: times are passed in.
 */
#include "unit.h"

#include "rotation/pause.h"

#define HOST	"login.usw2.pure.cloud"
#define T0	1800000000000LL

static void
test_client_scope(void **state)
{
	struct pause_reg *r = pause_reg_new(3);
	const char *why;

	(void)state;
	assert_int_equal(pause_until(r, HOST, "a", T0, &why), 0);
	assert_null(why);
	/* One client's 429 pauses it alone. */
	assert_int_equal(pause_record(r, HOST, "a", T0, 30), 0);
	assert_int_equal(pause_until(r, HOST, "a", T0 + 1000, &why),
	    T0 + 30000);
	assert_string_equal(why, "rate_limited");
	assert_int_equal(pause_until(r, HOST, "b", T0 + 1000, &why), 0);
	assert_null(why);
	assert_int_equal(pause_until(r, "login.mypurecloud.com", "a", T0,
	    NULL), 0);
	/* Over at its Retry-After. */
	assert_int_equal(pause_until(r, HOST, "a", T0 + 30000, NULL), 0);
	/* A longer one extends it, a shorter one does not shorten it. */
	assert_int_equal(pause_record(r, HOST, "c", T0, 60), 0);
	assert_int_equal(pause_record(r, "other.example", "c", T0 + 10, 5),
	    0);
	assert_int_equal(pause_until(r, HOST, "c", T0 + 1, NULL), T0 + 60000);
	assert_int_equal(pause_clients_total(r), 3);
	pause_reg_free(r);
	pause_reg_free(NULL);
}

static void
test_host_scope(void **state)
{
	struct pause_reg *r = pause_reg_new(3);
	const char *why;

	(void)state;
	/* The same client three times is one client. */
	assert_int_equal(pause_record(r, HOST, "a", T0, 1), 0);
	assert_int_equal(pause_record(r, HOST, "a", T0 + 2000, 1), 0);
	assert_int_equal(pause_record(r, HOST, "a", T0 + 4000, 1), 0);
	assert_int_equal(pause_until(r, HOST, "z", T0 + 4000, NULL), 0);
	/* Three distinct clients within a minute: the host. */
	assert_int_equal(pause_record(r, HOST, "b", T0 + 5000, 10), 0);
	assert_int_equal(pause_record(r, HOST, "c", T0 + 6000, 20), 1);
	assert_int_equal(pause_until(r, HOST, "z", T0 + 7000, &why),
	    T0 + 26000);
	assert_string_equal(why, "host_rate_limited");
	/* A client whose own pause is longer says so. */
	assert_int_equal(pause_record(r, HOST, "d", T0 + 7000, 100), 1);
	assert_int_equal(pause_until(r, HOST, "d", T0 + 8000, &why),
	    T0 + 107000);
	assert_string_equal(why, "host_rate_limited");
	pause_reg_free(r);

	/* Spread wider than the window: never the host. */
	r = pause_reg_new(3);
	assert_int_equal(pause_record(r, HOST, "a", T0, 1), 0);
	assert_int_equal(pause_record(r, HOST, "b", T0 + PAUSE_WINDOW_MS, 1),
	    0);
	assert_int_equal(pause_record(r, HOST, "c", T0 + 2 * PAUSE_WINDOW_MS,
	    1), 0);
	assert_int_equal(pause_until(r, HOST, "z", T0 + 2 * PAUSE_WINDOW_MS,
	    NULL), 0);
	pause_reg_free(r);

	/* A threshold of 1: every 429 pauses the host (the old rule). */
	r = pause_reg_new(1);
	assert_int_equal(pause_record(r, HOST, "a", T0, 5), 1);
	assert_int_equal(pause_until(r, HOST, "z", T0, NULL), T0 + 5000);
	pause_reg_free(r);
}

struct seen {
	int	hosts, paused, clients;
};

static void
count_host(void *arg, const char *host, int paused, int clients)
{
	struct seen *s = arg;

	(void)host;
	s->hosts++;
	s->paused += paused;
	s->clients += clients;
}

static void
test_each_and_shift(void **state)
{
	struct pause_reg *r = pause_reg_new(2);
	struct seen s = { 0, 0, 0 };

	(void)state;
	pause_record(r, HOST, "a", T0, 10);
	pause_record(r, "h2.example", "a", T0, 10);
	pause_record(r, "h2.example", "b", T0, 10);
	pause_each_host(r, T0 + 1, count_host, &s);
	assert_int_equal(s.hosts, 2);
	assert_int_equal(s.paused, 1);
	assert_int_equal(s.clients, 3);
	/* A clock jump moves every pause with it. */
	pause_shift(r, 3600 * 1000);
	assert_int_equal(pause_until(r, HOST, "a", T0 + 3600 * 1000 + 5000,
	    NULL), T0 + 3600 * 1000 + 10000);
	s = (struct seen){ 0, 0, 0 };
	pause_each_host(r, T0 + 20000, count_host, &s);
	assert_int_equal(s.paused + s.clients, 4);
	pause_reg_free(r);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_client_scope),
		cmocka_unit_test(test_host_scope),
		cmocka_unit_test(test_each_and_shift),
	};

	unit_init();
	return cmocka_run_group_tests(tests, NULL, NULL);
}

/* test_policy.c — deadlines, backoff, scope drift, outcome → status. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>
#include <sodium.h>

#include "rotation/rotation.h"

static struct vault_cred
cred(double fraction, int64_t age)
{
	struct vault_cred c;

	memset(&c, 0, sizeof(c));
	c.refresh_fraction = fraction;
	c.refresh_age_s = age;
	strcpy(c.status, "active");
	strcpy(c.expected_scope, "a b");
	return c;
}

static void
test_next_refresh_genesys_day(void **state)
{
	struct vault_cred c = cred(0.75, 0);

	/* 24 h token: 18 h without jitter, 18 h − 5 % of 24 h at most. */
	assert_int_equal(rot_next_refresh(&c, 1000, 86400, 0.0, 0.05),
	    1000 + 64800);
	assert_int_equal(rot_next_refresh(&c, 1000, 86400, 0.999999, 0.05),
	    1000 + 64800 - 4319);
	for (int i = 0; i < 1000; i++) {
		double r = (double)randombytes_uniform(1000000) / 1e6;
		int64_t n = rot_next_refresh(&c, 0, 86400, r, 0.05);

		assert_in_range(n, 64800 - 4320, 64800);
	}
}

static void
test_next_refresh_absolute_and_margin(void **state)
{
	struct vault_cred c = cred(0, 18 * 3600);

	assert_int_equal(rot_next_refresh(&c, 0, 86400, 0.0, 0.05), 64800);
	/* An age beyond the lifetime is capped by the safety margin. */
	c.refresh_age_s = 2 * 86400;
	assert_int_equal(rot_next_refresh(&c, 0, 86400, 0.0, 0.05), 86400 - 60);
	/* Short tokens: margin is a tenth of the lifetime. */
	assert_int_equal(rot_safety_margin(86400), 60);
	assert_int_equal(rot_safety_margin(300), 30);
	assert_int_equal(rot_safety_margin(10), 1);
	assert_int_equal(rot_safety_margin(3), 1);
	c = cred(0.99, 0);
	assert_int_equal(rot_next_refresh(&c, 0, 300, 0.0, 0.05), 270);
	/* Never before issue + 1. */
	c = cred(0.75, 0);
	assert_int_equal(rot_next_refresh(&c, 50, 1, 0.5, 0.05), 51);
}

static void
test_backoff_full_jitter(void **state)
{
	for (int f = 1; f <= 20; f++) {
		long ceiling = 1;

		for (int i = 1; i < f && ceiling < 300; i++)
			ceiling *= 2;
		if (ceiling > 300)
			ceiling = 300;
		assert_in_range(rot_backoff(f, 1, 300, 0.0), 1, 1);
		assert_in_range(rot_backoff(f, 1, 300, 0.999999), 1, ceiling);
		assert_int_equal(rot_backoff(f, 1, 300, 0.999999),
		    ceiling == 1 ? 1 : ceiling);
	}
	assert_int_equal(rot_backoff(50, 1, 300, 0.999999), 300);
}

static void
test_scope_drift(void **state)
{
	json_t *d;

	assert_null(rot_scope_drift("a b", "b a"));
	assert_null(rot_scope_drift("a b", "a  b"));
	d = rot_scope_drift("a b c", "a d");
	assert_non_null(d);
	assert_int_equal(json_array_size(json_object_get(d, "missing")), 2);
	assert_string_equal(json_string_value(json_array_get(
	    json_object_get(d, "missing"), 0)), "b");
	assert_string_equal(json_string_value(json_array_get(
	    json_object_get(d, "extra"), 0)), "d");
	assert_int_equal(json_array_size(json_object_get(d, "overbroad")), 0);
	json_decref(d);
	d = rot_scope_drift("a", "a admin users:* x:admin *");
	assert_int_equal(json_array_size(json_object_get(d, "overbroad")), 4);
	json_decref(d);
	/* No expected set: only breadth is judged. */
	assert_null(rot_scope_drift("", "a b"));
	d = rot_scope_drift("", "a *");
	assert_int_equal(json_array_size(json_object_get(d, "extra")), 0);
	assert_int_equal(json_array_size(json_object_get(d, "overbroad")), 1);
	json_decref(d);
	assert_true(rot_scope_overbroad("admin"));
	assert_false(rot_scope_overbroad("administrator"));
	assert_false(rot_scope_overbroad("users:read"));
}

static void
classify(const struct vault_cred *c, enum oauth_outcome o, long retry_after,
    struct vault_refresh *out)
{
	struct rot_config cfg;
	struct oauth_result r;

	rot_config_defaults(&cfg);
	memset(&r, 0, sizeof(r));
	r.outcome = o;
	r.retry_after_s = retry_after;
	r.expires_in = 3600;
	strcpy(r.granted_scope, "a b");
	rot_classify(&cfg, c, &r, 10000, 0.5, out);
}

static void
test_classify(void **state)
{
	struct vault_cred c = cred(0.75, 0);
	struct vault_refresh v;

	classify(&c, OAUTH_REVOKED, -1, &v);
	assert_string_equal(v.status, "revoked");
	assert_string_equal(v.event_kind, "credential.revoked");
	assert_int_equal(v.next_refresh_at, 0);
	json_decref(v.detail);

	classify(&c, OAUTH_INVALID_CLIENT, -1, &v);
	assert_string_equal(v.status, "invalid_client");
	assert_int_equal(v.next_refresh_at, 10000 + 300);
	json_decref(v.detail);

	classify(&c, OAUTH_FAILING, -1, &v);
	assert_string_equal(v.status, "failing");
	assert_int_equal(v.next_refresh_at, 10000 + 300);

	classify(&c, OAUTH_RATE_LIMITED, 42, &v);
	assert_string_equal(v.status, "active");
	assert_int_equal(v.next_refresh_at, 10000 + 42);
	json_decref(v.detail);

	/* Transient: active until the third failure in a row. */
	c.consecutive_failures = 1;
	classify(&c, OAUTH_TRANSIENT, -1, &v);
	assert_string_equal(v.status, "active");
	assert_int_equal(v.consecutive_failures, 2);
	assert_in_range(v.next_refresh_at, 10001, 10002);
	c.consecutive_failures = 2;
	classify(&c, OAUTH_TRANSIENT, -1, &v);
	assert_string_equal(v.status, "failing");
	assert_int_equal(v.consecutive_failures, 3);

	/* Unknown outcome: held, unless the provider keeps its token. */
	classify(&c, OAUTH_UNKNOWN, -1, &v);
	assert_int_equal(v.unknown_outcome, 1);
	assert_string_equal(v.event_kind, "refresh.outcome_unknown");
	assert_string_equal(v.status, "unknown");
	assert_int_equal(v.next_refresh_at, 0);
	json_decref(v.detail);
	c.refresh_token_kept = 1;
	classify(&c, OAUTH_UNKNOWN, -1, &v);
	assert_int_equal(v.unknown_outcome, 1);
	assert_string_equal(v.status, "failing");
	assert_true(v.next_refresh_at > 10000);
	c.refresh_token_kept = 0;

	classify(&c, OAUTH_OK, -1, &v);
	assert_string_equal(v.status, "active");
	assert_int_equal(v.consecutive_failures, 0);
	assert_int_equal(v.issued_at, 10000);
	assert_int_equal(v.expires_at, 13600);
	assert_in_range(v.next_refresh_at, 10000 + 2700 - 180, 10000 + 2700);
	assert_null(v.drift);
	json_decref(v.detail);
}

static void
test_revocation_names_unknown_outcome(void **state)
{
	struct vault_cred c = cred(0.75, 0);
	struct vault_refresh v;

	c.unknown_outcome_at = 9000;
	c.last_success_at = 5000;
	classify(&c, OAUTH_REVOKED, -1, &v);
	assert_non_null(json_object_get(v.detail, "likely_cause"));
	assert_non_null(json_object_get(v.detail,
	    "earlier_outcome_unknown_at"));
	assert_non_null(json_object_get(v.detail, "last_success_at"));
	json_decref(v.detail);
}

static void
test_refresh_token_expiry_caps(void **state)
{
	struct vault_cred c = cred(0.75, 0);
	struct rot_config cfg;
	struct oauth_result r;
	struct vault_refresh v;

	rot_config_defaults(&cfg);
	memset(&r, 0, sizeof(r));
	r.outcome = OAUTH_OK;
	r.expires_in = 86400;
	r.refresh_expires_in = 3600;	/* dies long before the token */
	rot_classify(&cfg, &c, &r, 1000, 0.0, &v);
	assert_int_equal(v.refresh_token_expires_at, 4600);
	assert_int_equal(v.next_refresh_at, 4600 - 60);
	json_decref(v.detail);
	json_decref(v.drift);
	/* Not said again, no new refresh token: the known expiry stays. */
	c.refresh_token_expires_at = 5000;
	r.refresh_expires_in = 0;
	rot_classify(&cfg, &c, &r, 1000, 0.0, &v);
	assert_int_equal(v.refresh_token_expires_at, 5000);
	assert_int_equal(v.next_refresh_at, 5000 - 60);
	json_decref(v.detail);
	json_decref(v.drift);
}

static void
test_drift_event_once(void **state)
{
	struct vault_cred c = cred(0.75, 0);
	struct rot_config cfg;
	struct oauth_result r;
	struct vault_refresh v;

	rot_config_defaults(&cfg);
	memset(&r, 0, sizeof(r));
	r.outcome = OAUTH_OK;
	r.expires_in = 3600;
	strcpy(r.granted_scope, "a b admin");
	rot_classify(&cfg, &c, &r, 1, 0.5, &v);	/* first grant: drift */
	assert_non_null(v.drift);
	json_decref(v.drift);
	json_decref(v.detail);
	c.token_generation = 1;
	strcpy(c.granted_scope, "a b admin");
	rot_classify(&cfg, &c, &r, 2, 0.5, &v);	/* same drift: no event */
	assert_null(v.drift);
	json_decref(v.detail);
	strcpy(r.granted_scope, "a b");
	rot_classify(&cfg, &c, &r, 3, 0.5, &v);	/* matches again */
	assert_non_null(v.drift);
	assert_true(json_is_true(json_object_get(v.drift, "resolved")));
	json_decref(v.drift);
	json_decref(v.detail);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_next_refresh_genesys_day),
		cmocka_unit_test(test_next_refresh_absolute_and_margin),
		cmocka_unit_test(test_backoff_full_jitter),
		cmocka_unit_test(test_scope_drift),
		cmocka_unit_test(test_classify),
		cmocka_unit_test(test_revocation_names_unknown_outcome),
		cmocka_unit_test(test_drift_event_once),
		cmocka_unit_test(test_refresh_token_expiry_caps),
	};

	if (sodium_init() < 0)
		return 1;
	return cmocka_run_group_tests(tests, NULL, NULL);
}

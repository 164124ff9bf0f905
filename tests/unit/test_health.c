/*
 * test_health.c — a credential's health and the list filters
 * (vault/health.c): pure functions of a row and the time.
 */
#include "unit.h"

#define NOW	1800000000LL

static struct vault_cred
cred(const char *status, int64_t expires_at, int failures)
{
	struct vault_cred c;

	memset(&c, 0, sizeof(c));
	snprintf(c.status, sizeof(c.status), "%s", status);
	c.expires_at = expires_at;
	c.consecutive_failures = failures;
	return c;
}

static void
test_health(void **state)
{
	static const char *operator[] = { "revoked", "invalid_client",
	    "secret_or_grant_refused", "tampered", "unknown", "disabled",
	    NULL };
	struct vault_cred c;

	(void)state;
	c = cred("active", NOW + 3600, 0);
	assert_int_equal(vault_cred_health(&c, NOW), VAULT_HEALTH_OK);
	/* Never had a token, or it expired: never ok. */
	c = cred("active", 0, 0);
	assert_int_equal(vault_cred_health(&c, NOW), VAULT_HEALTH_NEEDS_ACTION);
	c = cred("active", NOW, 0);
	assert_int_equal(vault_cred_health(&c, NOW), VAULT_HEALTH_NEEDS_ACTION);
	/* A valid token, failed attempts. */
	c = cred("active", NOW + 60, 1);
	assert_int_equal(vault_cred_health(&c, NOW), VAULT_HEALTH_DEGRADED);
	c = cred("failing", NOW + 60, 3);
	assert_int_equal(vault_cred_health(&c, NOW), VAULT_HEALTH_DEGRADED);
	c = cred("failing", 0, 3);
	assert_int_equal(vault_cred_health(&c, NOW), VAULT_HEALTH_NEEDS_ACTION);
	/* Only an operator can end these, valid token or not. */
	for (int i = 0; operator[i]; i++) {
		c = cred(operator[i], NOW + 3600, 0);
		assert_int_equal(vault_cred_health(&c, NOW),
		    VAULT_HEALTH_NEEDS_ACTION);
	}
	assert_string_equal(vault_health_str(VAULT_HEALTH_DEGRADED),
	    "degraded");
}

static void
test_filters(void **state)
{
	struct vault_cred_filter f = { 0 };
	struct vault_cred c = cred("failing", NOW + 60, 3);

	(void)state;
	assert_int_equal(vault_cred_filter_check(&f), OV_OK);
	assert_true(vault_cred_filter_match(&f, &c, NOW));
	f.status = "active,failing";
	assert_int_equal(vault_cred_filter_check(&f), OV_OK);
	assert_true(vault_cred_filter_match(&f, &c, NOW));
	f.status = "active";
	assert_false(vault_cred_filter_match(&f, &c, NOW));
	f.status = "fail";	/* a prefix is not a status */
	assert_int_equal(vault_cred_filter_check(&f), OV_EINVAL);
	assert_non_null(strstr(ov_errmsg(), "status"));
	f.status = "active,,failing";
	assert_int_equal(vault_cred_filter_check(&f), OV_EINVAL);
	f.status = NULL;
	f.health = "degraded";
	assert_int_equal(vault_cred_filter_check(&f), OV_OK);
	assert_true(vault_cred_filter_match(&f, &c, NOW));
	assert_false(vault_cred_filter_match(&f, &c, NOW + 60));
	f.health = "ok,needs_action";
	assert_true(vault_cred_filter_match(&f, &c, NOW + 60));
	f.health = "fine";
	assert_int_equal(vault_cred_filter_check(&f), OV_EINVAL);
	assert_non_null(strstr(ov_errmsg(), "health"));
	f.health = NULL;
	f.provider = "okta";
	assert_int_equal(vault_cred_filter_check(&f), OV_EINVAL);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_health),
		cmocka_unit_test(test_filters),
	};

	unit_init();
	return cmocka_run_group_tests(tests, NULL, NULL);
}

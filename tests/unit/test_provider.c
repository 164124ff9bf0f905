/* test_provider.c — rotation/provider.c: regions, profiles, merging. */
#include <ctype.h>

#include "unit.h"

#include "rotation/provider.h"
#include "util/validate.h"

/* Copied from /work/shared/providers.md, not from provider.c. */
static const struct {
	const char	*key, *domain;
} regions[] = {
	{ "us_east_1",		"mypurecloud.com" },
	{ "us_east_2",		"use2.us-gov-pure.cloud" },
	{ "us_west_2",		"usw2.pure.cloud" },
	{ "ca_central_1",	"cac1.pure.cloud" },
	{ "sa_east_1",		"sae1.pure.cloud" },
	{ "mx_central_1",	"mxc1.pure.cloud" },
	{ "eu_west_1",		"mypurecloud.ie" },
	{ "eu_west_2",		"euw2.pure.cloud" },
	{ "eu_central_1",	"mypurecloud.de" },
	{ "eu_central_2",	"euc2.pure.cloud" },
	{ "eusc_de_east_1",	"edee1.eusc-pure.cloud" },
	{ "me_central_1",	"mec1.pure.cloud" },
	{ "ap_south_1",		"aps1.pure.cloud" },
	{ "ap_southeast_1",	"apse1.pure.cloud" },
	{ "ap_southeast_2",	"mypurecloud.com.au" },
	{ "ap_northeast_1",	"mypurecloud.jp" },
	{ "ap_northeast_2",	"apne2.pure.cloud" },
	{ "ap_northeast_3",	"apne3.pure.cloud" },
};
#define NREGIONS (sizeof(regions) / sizeof(regions[0]))

static void
region_is(const char *in, size_t want)
{
	const char *key = NULL, *domain = NULL;

	if (provider_genesys_region(in, &key, &domain) != OV_OK)
		fail_msg("region \"%s\" refused: %s", in, ov_errmsg());
	assert_string_equal(key, regions[want].key);
	assert_string_equal(domain, regions[want].domain);
}

static void
test_regions_table(void **state)
{
	(void)state;
	assert_int_equal(NREGIONS, 18);
	for (size_t i = 0; i < NREGIONS; i++) {
		char hyph[64], upper[64], udom[64];

		snprintf(hyph, sizeof(hyph), "%s", regions[i].key);
		for (char *p = hyph; *p; p++)
			if (*p == '_')
				*p = '-';
		snprintf(upper, sizeof(upper), "%s", hyph);
		for (char *p = upper; *p; p++)
			*p = (char)toupper((unsigned char)*p);
		snprintf(udom, sizeof(udom), "%s", regions[i].domain);
		for (char *p = udom; *p; p++)
			*p = (char)toupper((unsigned char)*p);
		region_is(regions[i].key, i);
		region_is(regions[i].domain, i);
		region_is(hyph, i);
		region_is(upper, i);
		region_is(udom, i);
	}
}

static void
test_region_unknown(void **state)
{
	static const char *bad[] = { "", "us_east_9", "us-east", "mars_1",
	    "pure.cloud", "login.mypurecloud.com", "mypurecloud.com.",
	    " us_east_1", "us_east_1 ", "usw2", "us_east_1_",
	    "a_very_long_region_name_that_does_not_fit_the_buffer_at_all" };
	const char *key = "untouched", *domain = "untouched";

	(void)state;
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		ov_clearerr();
		if (provider_genesys_region(bad[i], &key, &domain) !=
		    OV_EINVAL)
			fail_msg("region \"%s\" accepted", bad[i]);
		assert_string_equal(key, "untouched");
		assert_string_equal(domain, "untouched");
		/* The message lists every key, so the user can pick one. */
		for (size_t j = 0; j < NREGIONS; j++)
			if (strstr(ov_errmsg(), regions[j].key) == NULL)
				fail_msg("message lacks %s: %s",
				    regions[j].key, ov_errmsg());
	}
}

static void
test_default_lifetime(void **state)
{
	(void)state;
	assert_int_equal(provider_default_lifetime("genesys"), 86400);
	assert_int_equal(provider_default_lifetime("servicenow"), 1800);
	assert_int_equal(provider_default_lifetime("oauth2"), 3600);
	assert_int_equal(provider_default_lifetime("unknown"), 3600);
}

static void
test_resolve_genesys(void **state)
{
	struct cred_input in = {
		.org = "acme", .name = "cc-prod", .provider = "genesys",
		.region = "us-west-2", .client_id = "cid-1",
	};
	struct vault_cred c;

	(void)state;
	memset(&c, 0x5a, sizeof(c));
	assert_int_equal(provider_resolve(&in, NULL, &c), OV_OK);
	assert_string_equal(c.org, "acme");
	assert_string_equal(c.name, "cc-prod");
	assert_string_equal(c.provider, "genesys");
	assert_string_equal(c.region, "us_west_2");
	assert_string_equal(c.token_url,
	    "https://login.usw2.pure.cloud/oauth/token");
	assert_string_equal(c.auth, "client_secret_basic");
	assert_string_equal(c.grant, "client_credentials");
	assert_string_equal(c.client_id, "cid-1");
	assert_string_equal(c.expected_scope, "");
	assert_float_equal(c.refresh_fraction, 0.75, 1e-12);
	assert_int_equal(c.refresh_age_s, 0);

	/* Every region makes its login URL. */
	for (size_t i = 0; i < NREGIONS; i++) {
		char want[128];

		in.region = regions[i].domain;
		assert_int_equal(provider_resolve(&in, NULL, &c), OV_OK);
		snprintf(want, sizeof(want), "https://login.%s/oauth/token",
		    regions[i].domain);
		assert_string_equal(c.token_url, want);
		assert_string_equal(c.region, regions[i].key);
	}
}

static void
test_resolve_genesys_needs_region(void **state)
{
	struct cred_input in = {
		.org = "acme", .name = "cc", .provider = "genesys",
		.client_id = "cid",
	};
	struct vault_cred c;

	(void)state;
	ov_clearerr();
	assert_int_equal(provider_resolve(&in, NULL, &c), OV_EINVAL);
	assert_non_null(strstr(ov_errmsg(), "--region"));
	in.region = "atlantis";
	assert_int_equal(provider_resolve(&in, NULL, &c), OV_EINVAL);
	assert_non_null(strstr(ov_errmsg(), "us_east_1"));
	/* --instance is for servicenow. */
	in.region = "us_east_1";
	in.instance = "acme";
	assert_int_equal(provider_resolve(&in, NULL, &c), OV_EINVAL);
	assert_non_null(strstr(ov_errmsg(), "--instance"));
}

static void
test_resolve_genesys_token_url_override(void **state)
{
	struct cred_input in = {
		.org = "acme", .name = "cc", .provider = "genesys",
		.region = "eu_west_1", .client_id = "cid",
		.token_url = "http://127.0.0.1:8080/oauth/token",
	};
	struct vault_cred c;

	(void)state;
	assert_int_equal(provider_resolve(&in, NULL, &c), OV_OK);
	assert_string_equal(c.region, "eu_west_1");
	assert_string_equal(c.token_url, "http://127.0.0.1:8080/oauth/token");
	/* Without a region, a token URL alone is enough. */
	in.region = NULL;
	assert_int_equal(provider_resolve(&in, NULL, &c), OV_OK);
	assert_string_equal(c.region, "");
	assert_string_equal(c.token_url, "http://127.0.0.1:8080/oauth/token");
	/* A bad override is refused, not ignored. */
	in.token_url = "http://example.com/oauth/token";
	assert_int_equal(provider_resolve(&in, NULL, &c), OV_EINVAL);
}

/* The platform API host follows the token URL: login. -> api., and an
 * override (the fake server on loopback) keeps its host and port. */
static void
test_genesys_api_base(void **state)
{
	struct cred_input in = {
		.org = "acme", .name = "cc", .provider = "genesys",
		.region = "eu-central-1", .client_id = "cid",
	};
	struct vault_cred c;
	char base[256];

	(void)state;
	assert_int_equal(provider_resolve(&in, NULL, &c), OV_OK);
	assert_int_equal(provider_genesys_api_base(&c, base, sizeof(base)),
	    OV_OK);
	assert_string_equal(base, "https://api.mypurecloud.de");
	in.token_url = "http://127.0.0.1:8080/oauth/token";
	assert_int_equal(provider_resolve(&in, NULL, &c), OV_OK);
	assert_int_equal(provider_genesys_api_base(&c, base, sizeof(base)),
	    OV_OK);
	assert_string_equal(base, "http://127.0.0.1:8080");
	assert_int_equal(provider_genesys_api_base(&c, base, 10), OV_ELIMIT);
	in.provider = "oauth2";
	in.region = NULL;
	assert_int_equal(provider_resolve(&in, NULL, &c), OV_OK);
	assert_int_equal(provider_genesys_api_base(&c, base, sizeof(base)),
	    OV_EUSAGE);
}

static void
test_resolve_servicenow(void **state)
{
	struct cred_input in = {
		.org = "acme", .name = "itsm", .provider = "servicenow",
		.instance = "acme-dev", .client_id = "sn-client",
	};
	struct vault_cred c;

	(void)state;
	assert_int_equal(provider_resolve(&in, NULL, &c), OV_OK);
	assert_string_equal(c.provider, "servicenow");
	assert_string_equal(c.region, "acme-dev");
	assert_string_equal(c.token_url,
	    "https://acme-dev.service-now.com/oauth_token.do");
	assert_string_equal(c.auth, "client_secret_post");
	assert_string_equal(c.grant, "client_credentials");
	assert_float_equal(c.refresh_fraction, 0.75, 1e-12);

	/* An instance is a host label: no dots, slashes, capitals. */
	in.instance = "evil.com/x";
	assert_int_equal(provider_resolve(&in, NULL, &c), OV_EINVAL);
	in.instance = "Acme";
	assert_int_equal(provider_resolve(&in, NULL, &c), OV_EINVAL);
	/* --region is for genesys. */
	in.instance = "acme";
	in.region = "us_east_1";
	ov_clearerr();
	assert_int_equal(provider_resolve(&in, NULL, &c), OV_EINVAL);
	assert_non_null(strstr(ov_errmsg(), "--region"));
	/* Without an instance. */
	in.region = NULL;
	in.instance = NULL;
	assert_int_equal(provider_resolve(&in, NULL, &c), OV_EINVAL);
	assert_non_null(strstr(ov_errmsg(), "--instance"));
}

/*
 * An instance that passes validation (a slug, up to 63 bytes) must be
 * stored whole, or refused — never cut to fit the region field
 * while the token URL keeps the whole name.
 */
static void
test_resolve_servicenow_long_instance(void **state)
{
	const char *inst = "acme-corporation-production-instance-01"; /* 39 */
	struct cred_input in = {
		.org = "acme", .name = "itsm", .provider = "servicenow",
		.instance = inst, .client_id = "sn-client",
	};
	struct vault_cred c;
	enum ov_rc rc;

	(void)state;
	assert_int_equal(validate_slug("ServiceNow instance", inst), OV_OK);
	rc = provider_resolve(&in, NULL, &c);
	if (rc == OV_OK && (strnlen(c.region, sizeof(c.region)) !=
	    strlen(inst) || memcmp(c.region, inst, strlen(inst)) != 0))
		fail_msg("instance stored as \"%s\" (cut), token URL %s",
		    c.region, c.token_url);
}

static void
test_resolve_oauth2(void **state)
{
	struct cred_input in = {
		.org = "acme", .name = "api", .provider = "oauth2",
		.client_id = "cid",
	};
	struct vault_cred c;

	(void)state;
	ov_clearerr();
	assert_int_equal(provider_resolve(&in, NULL, &c), OV_EINVAL);
	assert_non_null(strstr(ov_errmsg(), "--token-url"));
	in.token_url = "https://auth.example.com/oauth2/token";
	in.scope = "read  write read";
	in.refresh_at = "18h";
	in.auth = "post";
	in.grant = "refresh_token";
	assert_int_equal(provider_resolve(&in, NULL, &c), OV_OK);
	assert_string_equal(c.provider, "oauth2");
	assert_string_equal(c.region, "");
	assert_string_equal(c.token_url,
	    "https://auth.example.com/oauth2/token");
	assert_string_equal(c.auth, "client_secret_post");
	assert_string_equal(c.grant, "refresh_token");
	assert_string_equal(c.expected_scope, "read write");
	assert_float_equal(c.refresh_fraction, 0, 0);
	assert_int_equal(c.refresh_age_s, 64800);
	/* auth defaults to basic; both spellings are accepted. */
	in.auth = NULL;
	assert_int_equal(provider_resolve(&in, NULL, &c), OV_OK);
	assert_string_equal(c.auth, "client_secret_basic");
	in.auth = "client_secret_post";
	assert_int_equal(provider_resolve(&in, NULL, &c), OV_OK);
	assert_string_equal(c.auth, "client_secret_post");
	in.auth = "basic";
	assert_int_equal(provider_resolve(&in, NULL, &c), OV_OK);
	assert_string_equal(c.auth, "client_secret_basic");
	/* --region and --instance are not for oauth2. */
	in.region = "us_east_1";
	assert_int_equal(provider_resolve(&in, NULL, &c), OV_EINVAL);
	in.region = NULL;
	in.instance = "acme";
	assert_int_equal(provider_resolve(&in, NULL, &c), OV_EINVAL);
}

/* A JSON text field with a NUL inside is refused, not cut short (found
 * by fuzz_admin_body: "a\u0000b" was stored as "a"). */
static void
test_input_json_nul(void **state)
{
	json_t *o = json_loadb("{\"provider\":\"oauth2\",\"scope\":\"a\\u0000b\"}",
	    40, JSON_ALLOW_NUL, NULL);
	struct cred_input in;
	struct secret *cs, *rt;
	const char *bad = NULL;

	(void)state;
	assert_non_null(o);
	memset(&in, 0, sizeof(in));
	assert_int_equal(provider_input_json(o, NULL, &in, &cs, &rt, &bad),
	    OV_EINVAL);
	assert_string_equal(bad, "scope");
	assert_non_null(strstr(ov_errmsg(), "NUL"));
	json_object_set_new(o, "scope", json_string("a b"));
	assert_int_equal(provider_input_json(o, NULL, &in, &cs, &rt, &bad),
	    OV_OK);
	assert_string_equal(in.scope, "a b");
	secret_free(cs);
	secret_free(rt);
	json_decref(o);
}

static void
test_resolve_refused_inputs(void **state)
{
	struct cred_input good = {
		.org = "acme", .name = "api", .provider = "oauth2",
		.client_id = "cid", .token_url = "https://a.example/t",
	};
	struct cred_input in;
	struct vault_cred c;

	(void)state;
	in = good;
	in.org = "Acme";
	assert_int_equal(provider_resolve(&in, NULL, &c), OV_EINVAL);
	in = good;
	in.name = "bad name";
	assert_int_equal(provider_resolve(&in, NULL, &c), OV_EINVAL);
	in = good;
	in.provider = NULL;
	assert_int_equal(provider_resolve(&in, NULL, &c), OV_EINVAL);
	assert_non_null(strstr(ov_errmsg(), "--provider"));
	in = good;
	in.provider = "okta";
	assert_int_equal(provider_resolve(&in, NULL, &c), OV_EINVAL);
	in = good;
	in.client_id = NULL;
	assert_int_equal(provider_resolve(&in, NULL, &c), OV_EINVAL);
	assert_non_null(strstr(ov_errmsg(), "--client-id"));
	in = good;
	in.client_id = "has space";
	assert_int_equal(provider_resolve(&in, NULL, &c), OV_EINVAL);
	in = good;
	in.auth = "private_key_jwt";
	assert_int_equal(provider_resolve(&in, NULL, &c), OV_EINVAL);
	in = good;
	in.grant = "password";
	assert_int_equal(provider_resolve(&in, NULL, &c), OV_EINVAL);
	in = good;
	in.scope = "a\"b";
	assert_int_equal(provider_resolve(&in, NULL, &c), OV_EINVAL);
	in = good;
	in.refresh_at = "1.5";
	assert_int_equal(provider_resolve(&in, NULL, &c), OV_EINVAL);
	in = good;
	assert_int_equal(provider_resolve(&in, NULL, &c), OV_OK);
}

static void
existing(struct vault_cred *old)
{
	struct cred_input in = {
		.org = "acme", .name = "cc", .provider = "genesys",
		.region = "eu_central_1", .client_id = "cid-old",
		.scope = "a b", .refresh_at = "0.5", .auth = "post",
	};

	assert_int_equal(provider_resolve(&in, NULL, old), OV_OK);
	old->id = 42;
	old->org_id = 7;
	snprintf(old->status, sizeof(old->status), "active");
}

static void
test_resolve_update_keeps_fields(void **state)
{
	struct cred_input in = { .org = "acme", .name = "cc" };
	struct vault_cred old, c;

	(void)state;
	existing(&old);
	assert_int_equal(provider_resolve(&in, &old, &c), OV_OK);
	assert_int_equal(c.id, 42);
	assert_int_equal(c.org_id, 7);
	assert_string_equal(c.provider, "genesys");
	assert_string_equal(c.region, "eu_central_1");
	assert_string_equal(c.token_url,
	    "https://login.mypurecloud.de/oauth/token");
	assert_string_equal(c.auth, "client_secret_post");
	assert_string_equal(c.grant, "client_credentials");
	assert_string_equal(c.client_id, "cid-old");
	assert_string_equal(c.expected_scope, "a b");
	assert_float_equal(c.refresh_fraction, 0.5, 1e-12);
	assert_int_equal(c.refresh_age_s, 0);
	assert_string_equal(c.status, "active");

	/* Change one field: only it changes. */
	in.client_id = "cid-new";
	assert_int_equal(provider_resolve(&in, &old, &c), OV_OK);
	assert_string_equal(c.client_id, "cid-new");
	assert_string_equal(c.region, "eu_central_1");
	assert_string_equal(c.expected_scope, "a b");
	assert_string_equal(c.auth, "client_secret_post");
	assert_float_equal(c.refresh_fraction, 0.5, 1e-12);

	/* A new region moves the token URL with it. */
	in.client_id = NULL;
	in.region = "ap-northeast-1";
	assert_int_equal(provider_resolve(&in, &old, &c), OV_OK);
	assert_string_equal(c.region, "ap_northeast_1");
	assert_string_equal(c.token_url,
	    "https://login.mypurecloud.jp/oauth/token");
	assert_string_equal(c.client_id, "cid-old");

	/* refresh-at switches between fraction and age. */
	in.region = NULL;
	in.refresh_at = "90m";
	assert_int_equal(provider_resolve(&in, &old, &c), OV_OK);
	assert_float_equal(c.refresh_fraction, 0, 0);
	assert_int_equal(c.refresh_age_s, 5400);

	/* An empty scope clears it; the same provider is fine. */
	in.refresh_at = NULL;
	in.scope = "";
	in.provider = "genesys";
	assert_int_equal(provider_resolve(&in, &old, &c), OV_OK);
	assert_string_equal(c.expected_scope, "");
	assert_string_equal(c.region, "eu_central_1");
}

static void
test_resolve_update_provider_change(void **state)
{
	struct cred_input in = { .org = "acme", .name = "cc",
	    .provider = "oauth2", .token_url = "https://a.example/t" };
	struct vault_cred old, c;

	(void)state;
	existing(&old);
	memset(&c, 0x11, sizeof(c));
	ov_clearerr();
	assert_int_equal(provider_resolve(&in, &old, &c), OV_ECONFLICT);
	assert_non_null(strstr(ov_errmsg(), "genesys"));
	assert_non_null(strstr(ov_errmsg(), "oauth2"));
	in.provider = "servicenow";
	assert_int_equal(provider_resolve(&in, &old, &c), OV_ECONFLICT);
	/* out is untouched on failure. */
	assert_int_equal(c.id, 0x1111111111111111LL);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_regions_table),
		cmocka_unit_test(test_region_unknown),
		cmocka_unit_test(test_default_lifetime),
		cmocka_unit_test(test_resolve_genesys),
		cmocka_unit_test(test_resolve_genesys_needs_region),
		cmocka_unit_test(test_resolve_genesys_token_url_override),
		cmocka_unit_test(test_resolve_servicenow),
		cmocka_unit_test(test_resolve_servicenow_long_instance),
		cmocka_unit_test(test_resolve_oauth2),
		cmocka_unit_test(test_resolve_refused_inputs),
		cmocka_unit_test(test_genesys_api_base),
		cmocka_unit_test(test_input_json_nul),
		cmocka_unit_test(test_resolve_update_keeps_fields),
		cmocka_unit_test(test_resolve_update_provider_change),
	};

	unit_init();
	return cmocka_run_group_tests(tests, NULL, NULL);
}

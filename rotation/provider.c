/*
 * provider.c — provider profiles (shared/providers.md).
 *
 *   genesys     https://login.<domain>/oauth/token   client_secret_basic
 *   servicenow  https://<instance>.service-now.com/oauth_token.do
 *                                                     client_secret_post
 *   oauth2      the token URL given                   client_secret_basic
 *
 * --token-url overrides the derived URL for any profile (loopback tests,
 * private endpoints).
 */
#include <stdio.h>
#include <string.h>
#include <strings.h>

#include "rotation/provider.h"
#include "util/netpolicy.h"
#include "util/validate.h"

static const struct region {
	const char	*key;
	const char	*domain;
} genesys_regions[] = {
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
#define NREGIONS (sizeof(genesys_regions) / sizeof(genesys_regions[0]))

static const struct profile {
	const char	*name;
	const char	*auth;
	long		 lifetime;
} profiles[] = {
	{ "genesys",	"client_secret_basic",	86400 },
	{ "servicenow",	"client_secret_post",	1800 },
	{ "oauth2",	"client_secret_basic",	3600 },
};

static const struct profile *
profile_find(const char *name)
{
	for (size_t i = 0; i < sizeof(profiles) / sizeof(profiles[0]); i++)
		if (strcmp(profiles[i].name, name) == 0)
			return &profiles[i];
	return NULL;
}

long
provider_default_lifetime(const char *provider)
{
	const struct profile *p = profile_find(provider);

	return p ? p->lifetime : 3600;
}

enum ov_rc
provider_genesys_region(const char *in, const char **key, const char **domain)
{
	char norm[OV_REGION_MAX + 1], list[512];
	size_t n = strlen(in), used = 0;

	if (n > 0 && n < sizeof(norm)) {
		for (size_t i = 0; i <= n; i++)
			norm[i] = in[i] == '-' ? '_' : in[i];
		for (size_t i = 0; i < NREGIONS; i++)
			if (strcasecmp(norm, genesys_regions[i].key) == 0 ||
			    strcasecmp(in, genesys_regions[i].domain) == 0) {
				*key = genesys_regions[i].key;
				*domain = genesys_regions[i].domain;
				return OV_OK;
			}
	}
	list[0] = '\0';
	for (size_t i = 0; i < NREGIONS && used < sizeof(list); i++)
		used += (size_t)snprintf(list + used, sizeof(list) - used,
		    "%s%s", i ? ", " : "", genesys_regions[i].key);
	return ov_seterr(OV_EINVAL, "unknown Genesys Cloud region; use one "
	    "of: %s (or its domain, e.g. usw2.pure.cloud)", list);
}

static enum ov_rc
copy(char *dst, size_t len, const char *src, const char *what)
{
	if ((size_t)snprintf(dst, len, "%s", src) >= len)
		return ov_seterr(OV_ELIMIT, "%s is too long", what);
	return OV_OK;
}

/* Derives region and token URL from what was given. */
static enum ov_rc
resolve_endpoint(const struct cred_input *in, struct vault_cred *c)
{
	const char *key, *domain;
	char url[OV_URL_MAX + 1];
	enum ov_rc rc;

	if (in->region && strcmp(c->provider, "genesys") != 0)
		return ov_seterr(OV_EINVAL, "--region is for genesys "
		    "credentials (servicenow uses --instance)");
	if (in->instance && strcmp(c->provider, "servicenow") != 0)
		return ov_seterr(OV_EINVAL, "--instance is for servicenow "
		    "credentials");
	if (in->region) {
		if ((rc = provider_genesys_region(in->region, &key, &domain)))
			return rc;
		if ((rc = copy(c->region, sizeof(c->region), key, "region")))
			return rc;
		snprintf(c->token_url, sizeof(c->token_url),
		    "https://login.%s/oauth/token", domain);
	}
	if (in->instance) {
		if ((rc = validate_slug("ServiceNow instance", in->instance)))
			return rc;
		if ((rc = copy(c->region, sizeof(c->region), in->instance,
		    "instance")))
			return rc;
		snprintf(c->token_url, sizeof(c->token_url),
		    "https://%s.service-now.com/oauth_token.do", in->instance);
	}
	if (in->token_url) {
		if ((rc = validate_token_url(in->token_url, url,
		    sizeof(url))) != OV_OK ||
		    (rc = netpolicy_check_url("token URL", url)) != OV_OK)
			return rc;
		if ((rc = copy(c->token_url, sizeof(c->token_url), url,
		    "token URL")))
			return rc;
	}
	if (c->token_url[0] == '\0')
		return ov_seterr(OV_EINVAL, "%s credentials need %s",
		    c->provider, strcmp(c->provider, "genesys") == 0 ?
		    "--region (or --token-url)" :
		    strcmp(c->provider, "servicenow") == 0 ?
		    "--instance (or --token-url)" : "--token-url");
	return OV_OK;
}

static enum ov_rc
resolve_auth_grant(const struct cred_input *in, const struct profile *p,
    struct vault_cred *c)
{
	if (in->auth) {
		if (strcmp(in->auth, "basic") == 0 ||
		    strcmp(in->auth, "client_secret_basic") == 0)
			copy(c->auth, sizeof(c->auth), "client_secret_basic", "");
		else if (strcmp(in->auth, "post") == 0 ||
		    strcmp(in->auth, "client_secret_post") == 0)
			copy(c->auth, sizeof(c->auth), "client_secret_post", "");
		else
			return ov_seterr(OV_EINVAL, "auth must be basic or "
			    "post");
	} else if (c->auth[0] == '\0')
		copy(c->auth, sizeof(c->auth), p->auth, "");
	if (in->grant) {
		if (strcmp(in->grant, "client_credentials") != 0 &&
		    strcmp(in->grant, "refresh_token") != 0)
			return ov_seterr(OV_EINVAL, "grant must be "
			    "client_credentials or refresh_token");
		copy(c->grant, sizeof(c->grant), in->grant, "");
	} else if (c->grant[0] == '\0')
		copy(c->grant, sizeof(c->grant), "client_credentials", "");
	return OV_OK;
}

enum ov_rc
provider_resolve(const struct cred_input *in, const struct vault_cred *old,
    struct vault_cred *out)
{
	struct vault_cred c;
	const struct profile *p;
	enum ov_rc rc;

	if (old)
		c = *old;
	else
		memset(&c, 0, sizeof(c));
	if ((rc = validate_slug("org slug", in->org)) ||
	    (rc = validate_slug("credential name", in->name)))
		return rc;
	copy(c.org, sizeof(c.org), in->org, "org");
	copy(c.name, sizeof(c.name), in->name, "name");
	if (in->provider == NULL && old == NULL)
		return ov_seterr(OV_EINVAL, "a new credential needs --provider "
		    "genesys|servicenow|oauth2");
	if (in->provider) {
		if ((p = profile_find(in->provider)) == NULL)
			return ov_seterr(OV_EINVAL, "unknown provider; use "
			    "genesys, servicenow or oauth2");
		if (old && strcmp(old->provider, in->provider) != 0)
			return ov_seterr(OV_ECONFLICT, "credential %s/%s is a "
			    "%s credential; remove it before putting a %s one",
			    in->org, in->name, old->provider, in->provider);
		copy(c.provider, sizeof(c.provider), in->provider, "");
	}
	p = profile_find(c.provider);
	if (in->region || in->instance || in->token_url || old == NULL)
		if ((rc = resolve_endpoint(in, &c)) != OV_OK)
			return rc;
	if ((rc = resolve_auth_grant(in, p, &c)) != OV_OK)
		return rc;
	if (in->client_id) {
		if ((rc = validate_client_id(in->client_id)) != OV_OK)
			return rc;
		copy(c.client_id, sizeof(c.client_id), in->client_id, "");
	} else if (old == NULL)
		return ov_seterr(OV_EINVAL, "a new credential needs "
		    "--client-id");
	if (in->scope && (rc = validate_scope(in->scope, c.expected_scope,
	    sizeof(c.expected_scope))) != OV_OK)
		return rc;
	if (in->refresh_at) {
		if ((rc = validate_refresh_at(in->refresh_at,
		    &c.refresh_fraction, &c.refresh_age_s)) != OV_OK)
			return rc;
	} else if (old == NULL)
		c.refresh_fraction = 0.75;
	*out = c;
	return OV_OK;
}

enum ov_rc
provider_genesys_api_base(const struct vault_cred *c, char *out, size_t len)
{
	char url[OV_URL_MAX + 1];
	const char *host, *end;
	enum ov_rc rc;
	int n;

	if (strcmp(c->provider, "genesys") != 0)
		return ov_seterr(OV_EUSAGE, "%s/%s is a %s credential; the "
		    "platform API is Genesys Cloud's", c->org, c->name,
		    c->provider);
	if ((rc = validate_token_url(c->token_url, url, sizeof(url))))
		return rc;
	host = strstr(url, "://") + 3;	/* validated: has a scheme */
	end = host + strcspn(host, "/?#");
	if (strncmp(host, "login.", 6) == 0)
		n = snprintf(out, len, "%.*sapi.%.*s", (int)(host - url), url,
		    (int)(end - host - 6), host + 6);
	else
		n = snprintf(out, len, "%.*s", (int)(end - url), url);
	if (n < 0 || (size_t)n >= len)
		return ov_seterr(OV_ELIMIT, "API base URL too long");
	return OV_OK;
}

enum ov_rc
provider_resolve_put(struct vault *v, const struct cred_input *in,
    struct vault_cred *out)
{
	char why[OV_ERRMSG_MAX];
	struct vault_cred old;
	enum ov_rc rc;

	rc = vault_cred_get(v, in->org, in->name, &old);
	if (rc == OV_ENOTFOUND)
		return provider_resolve(in, NULL, out);
	if (rc != OV_OK)
		return rc;
	if (strcmp(old.status, "tampered") != 0) {
		if ((rc = vault_cred_verify(v, old.id)) == OV_OK)
			return provider_resolve(in, &old, out);
		if (rc != OV_EINTEGRITY)
			return rc;
	}
	/* Its stored destination and scope may be an attacker's: nothing
	 * of it is inherited; the put says everything, as for a new one. */
	if ((rc = provider_resolve(in, NULL, out)) == OV_OK)
		return OV_OK;
	snprintf(why, sizeof(why), "%s", ov_errmsg());
	return ov_seterr(rc == OV_EINVAL ? OV_ESECRET : rc, "%s/%s is tampered: "
	    "put it in full, as a new credential (provider, endpoint, client "
	    "id, scope and secrets): %s", in->org, in->name, why);
}

const char *
provider_region_filter(const char *in)
{
	const char *key, *domain;

	if (in && provider_genesys_region(in, &key, &domain) == OV_OK)
		return key;
	ov_clearerr();
	return in;
}

/*
 * health.c — what a credential's state means for its callers (README
 * "Statuses and health"), and the filters of credential lists.
 *
 *	ok		a valid access token, and the last attempt succeeded
 *	degraded	a valid token, but recent attempts failed (or, in
 *			serve, its client is paused by a 429)
 *	needs_action	no valid token — never had one, or it expired — or
 *			a state only an operator can end: revoked,
 *			invalid_client, secret_or_grant_refused, tampered,
 *			unknown (held), disabled
 *
 * Pure: the time is passed in.
 */
#include <stdio.h>
#include <string.h>

#include "util/validate.h"
#include "vault/vault.h"

static const char *const statuses[] = {
	"active", "failing", "revoked", "invalid_client",
	"secret_or_grant_refused", "tampered", "unknown", "disabled", NULL
};
static const char *const operator_statuses[] = {
	"revoked", "invalid_client", "secret_or_grant_refused", "tampered",
	"unknown", "disabled", NULL
};
static const char *const healths[] = {
	"ok", "degraded", "needs_action", NULL
};

static int
in_list(const char *s, const char *const *list)
{
	for (; *list; list++)
		if (strcmp(s, *list) == 0)
			return 1;
	return 0;
}

const char *
vault_health_str(enum vault_health h)
{
	return healths[h];
}

enum vault_health
vault_cred_health(const struct vault_cred *c, int64_t now)
{
	if (in_list(c->status, operator_statuses) || c->expires_at <= now)
		return VAULT_HEALTH_NEEDS_ACTION;
	if (strcmp(c->status, "active") != 0 || c->consecutive_failures > 0)
		return VAULT_HEALTH_DEGRADED;
	return VAULT_HEALTH_OK;
}

/* Whether each item of the comma list s is in list (s non-empty). */
static enum ov_rc
list_check(const char *field, const char *s, const char *const *list)
{
	char item[40];
	const char *p = s, *comma;
	size_t n;

	if (s == NULL)
		return OV_OK;
	do {
		comma = strchr(p, ',');
		n = comma ? (size_t)(comma - p) : strlen(p);
		if (n == 0 || n >= sizeof(item))
			goto bad;
		memcpy(item, p, n);
		item[n] = '\0';
		if (!in_list(item, list))
			goto bad;
		p = comma + 1;
	} while (comma);
	return OV_OK;
bad:
	{
		char all[200] = "";

		for (; *list; list++)
			snprintf(all + strlen(all), sizeof(all) - strlen(all),
			    "%s%s", all[0] ? ", " : "", *list);
		return ov_seterr(OV_EINVAL, "%s: '%.60s' is not one of %s "
		    "(several: a,b)", field, s, all);
	}
}

enum ov_rc
vault_cred_filter_check(const struct vault_cred_filter *f)
{
	enum ov_rc rc;

	if ((rc = list_check("status", f->status, statuses)) != OV_OK ||
	    (rc = list_check("health", f->health, healths)) != OV_OK)
		return rc;
	if (f->provider && strcmp(f->provider, "genesys") != 0 &&
	    strcmp(f->provider, "servicenow") != 0 &&
	    strcmp(f->provider, "oauth2") != 0)
		return ov_seterr(OV_EINVAL, "provider: '%.60s' is not one of "
		    "genesys, servicenow, oauth2", f->provider);
	return OV_OK;
}

int
vault_cred_filter_match(const struct vault_cred_filter *f,
    const struct vault_cred *c, int64_t now)
{
	return (f->status == NULL || validate_in_list(f->status, c->status)) &&
	    (f->health == NULL || validate_in_list(f->health,
	    vault_health_str(vault_cred_health(c, now))));
}

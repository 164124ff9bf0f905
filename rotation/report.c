/*
 * report.c — the audit reports shared by the CLI (`audit drift`,
 * `audit revocations`) and the admin API (/v1/audit/drift,
 * /v1/audit/revocations): JSON arrays of objects with an "org" field.
 */
#include "rotation/rotation.h"
#include "vault/render.h"

static int
drift_row(const struct vault_cred *c, void *arg)
{
	json_t *list = arg, *d;

	if (c->token_generation == 0)
		return 0;	/* never granted: nothing to compare */
	if ((d = rot_scope_drift(c->expected_scope, c->granted_scope)) == NULL)
		return 0;
	json_object_set_new(d, "org", json_string(c->org));
	json_object_set_new(d, "credential", json_string(c->name));
	json_array_append_new(list, d);
	return 0;
}

enum ov_rc
rot_drift_report(struct vault *v, json_t *list)
{
	struct vault_cred_filter f = { 0 };

	return vault_cred_list(v, &f, drift_row, list);
}

static int
ledger_row(const struct vault_event *e, void *arg)
{
	json_t *list = arg;
	json_t *j = render_event(e);

	json_object_set_new(j, "org_id", json_integer(e->org_id));
	json_object_set_new(j, "http_status", json_integer(e->http_status));
	json_object_set_new(j, "oauth_error", json_string(e->oauth_error));
	json_array_append_new(list, j);
	return 0;
}

enum ov_rc
rot_revocation_ledger(struct vault *v, json_t *list)
{
	static const char *const kinds[] = { "credential.revoked",
	    "credential.invalid_client", "credential.secret_or_grant_refused",
	    NULL };

	return vault_event_list_kinds(v, kinds, OV_LIST_LIMIT_MAX, ledger_row,
	    list);
}

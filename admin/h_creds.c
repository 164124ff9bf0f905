/*
 * h_creds.c — credentials: lists (per org and across orgs), put (the
 * secrets are write-only), show, delete, refresh now, and the token.
 */
#include <stdio.h>
#include <string.h>

#include "admin/admin_int.h"
#include "rotation/provider.h"
#include "vault/render.h"

json_t *
admin_render_cred(struct admin *a, const struct vault_cred *c)
{
	json_t *j = render_cred(c);
	const char *why = NULL;
	int64_t until = rot_scheduler_paused(a->sched, c->token_url,
	    c->client_id, &why);

	if (j == NULL)
		return NULL;
	/* Rounded up: a pause is over when its second is. */
	json_object_set_new(j, "paused_until", until ?
	    render_time_or_null((until + 999) / 1000) : json_null());
	json_object_set_new(j, "pause_reason", why ? json_string(why) :
	    json_null());
	return j;
}

struct cred_list {
	struct admin			*a;
	const struct vault_apikey	*key;
	const char			*region;
	json_t				*list;
};

static int
cred_row(const struct vault_cred *c, void *arg)
{
	struct cred_list *l = arg;

	if (vault_apikey_allows(l->key, c->org) && (l->region == NULL ||
	    strcmp(l->region, c->region) == 0))
		json_array_append_new(l->list, admin_render_cred(l->a, c));
	return 0;
}

static enum MHD_Result
cred_list(struct req *r, const struct vault_cred_filter *f,
    const char *region)
{
	struct cred_list l = { r->a, &r->key, region, NULL };
	enum ov_rc rc;

	if (admin_vault(r) == NULL)
		return MHD_YES;
	l.list = json_array();
	if ((rc = vault_cred_list(r->v, f, cred_row, &l)) != OV_OK) {
		json_decref(l.list);
		return http_rc(r, rc);
	}
	return http_json(r, 200, l.list);
}

enum MHD_Result
h_creds_all(struct req *r)
{
	struct vault_cred_filter f = {
		.org = http_arg(r, "org"), .status = http_arg(r, "status"),
		.provider = http_arg(r, "provider"),
	};

	return cred_list(r, &f, http_arg(r, "region"));
}

enum MHD_Result
h_creds_of_org(struct req *r)
{
	struct vault_cred_filter f = { .org = r->params[0] };
	struct vault_org o;
	enum ov_rc rc;

	if (admin_vault(r) == NULL)
		return MHD_YES;
	if ((rc = vault_org_get(r->v, r->params[0], &o)) != OV_OK)
		return http_rc(r, rc);
	return cred_list(r, &f, NULL);
}

enum MHD_Result
h_cred_put(struct req *r)
{
	struct cred_input in;
	struct vault_cred c;
	struct vault_org o;
	struct secret *cs = NULL, *rt = NULL;
	const char *bad;
	enum MHD_Result ret;
	json_t *j;
	struct vault_put_result res;
	enum ov_rc rc;

	if ((j = http_body(r, &ret)) == NULL)
		return ret;
	memset(&in, 0, sizeof(in));
	if ((rc = provider_input_json(j, NULL, &in, &cs, &rt, &bad)) !=
	    OV_OK) {
		ret = http_invalid(r, rc, bad);
		goto out;
	}
	in.org = r->params[0];
	in.name = r->params[1];
	if (admin_vault(r) == NULL) {
		ret = MHD_YES;
		goto out;
	}
	if ((rc = vault_org_get(r->v, in.org, &o)) != OV_OK) {
		ret = http_rc(r, rc);
		goto out;
	}
	if ((rc = provider_resolve_put(r->v, &in, &c)) ||
	    (rc = vault_cred_put_ex(r->v, &c, cs, rt, 0, &res)) ||
	    (rc = vault_cred_get(r->v, in.org, in.name, &c))) {
		ret = http_invalid(r, rc, provider_error_field(ov_errmsg()));
		goto out;
	}
	broker_forget(r->a->broker, in.org, in.name);
	/* Made due by the put (new, new secrets, moved, a retry): refreshed
	 * at once (the scheduler's inotify wake-up may scan before this
	 * commit is visible to it). */
	if (c.next_refresh_at == 0 && strcmp(c.status, "active") == 0)
		admin_request_refresh(r, c.id);
	ret = http_json(r, res.created ? 201 : 200, admin_render_cred(r->a, &c));
out:
	secret_free(cs);
	secret_free(rt);
	json_decref(j);		/* jansson's free wipes the secrets */
	return ret;
}

enum MHD_Result
h_cred_get(struct req *r)
{
	struct vault_cred c;
	enum ov_rc rc;

	if (admin_vault(r) == NULL)
		return MHD_YES;
	if ((rc = vault_cred_get(r->v, r->params[0], r->params[1], &c)) !=
	    OV_OK)
		return http_rc(r, rc);
	return http_json(r, 200, admin_render_cred(r->a, &c));
}

enum MHD_Result
h_cred_delete(struct req *r)
{
	enum ov_rc rc;

	if (admin_vault(r) == NULL)
		return MHD_YES;
	if ((rc = vault_cred_rm(r->v, r->params[0], r->params[1])) != OV_OK)
		return http_rc(r, rc);
	broker_forget(r->a->broker, r->params[0], r->params[1]);
	return http_empty(r, 204);
}

enum MHD_Result
h_cred_refresh(struct req *r)
{
	return broker_refresh(r, r->params[0], r->params[1]);
}

enum MHD_Result
h_token(struct req *r)
{
	return broker_token(r, r->params[0], r->params[1]);
}

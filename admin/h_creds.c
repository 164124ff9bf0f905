/*
 * h_creds.c — credentials: lists (per org and across orgs), put (the
 * secrets are write-only), show, delete, refresh now, and the token.
 */
#include <stdio.h>
#include <string.h>

#include <sodium.h>

#include "admin/admin_int.h"
#include "rotation/provider.h"
#include "util/timefmt.h"
#include "util/validate.h"
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
	/* Paused: a valid token, but no attempt until the pause ends. */
	if (until && vault_cred_health(c, timefmt_now()) == VAULT_HEALTH_OK)
		json_object_set_new(j, "health", json_string(vault_health_str(
		    VAULT_HEALTH_DEGRADED)));
	return j;
}

struct cred_list {
	struct admin			*a;
	const struct vault_apikey	*key;
	const char			*health;	/* as rendered */
	json_t				*list;
	long				 limit;		/* 0: no pages */
	int				 more;
	char				 last_org[OV_SLUG_MAX + 1];
	char				 last_name[OV_SLUG_MAX + 1];
};

static int
cred_row(const struct vault_cred *c, void *arg)
{
	struct cred_list *l = arg;
	json_t *j;
	const char *h;

	if (!vault_apikey_allows_cred(l->key, c->org, c->name))
		return 0;
	if (l->limit && (long)json_array_size(l->list) == l->limit) {
		l->more = 1;
		return 1;
	}
	if ((j = admin_render_cred(l->a, c)) == NULL)
		return 0;
	/* Health as shown (a pause makes an ok credential degraded). */
	h = json_string_value(json_object_get(j, "health"));
	if (l->health && h && !validate_in_list(l->health, h)) {
		json_decref(j);
		return 0;
	}
	json_array_append_new(l->list, j);
	snprintf(l->last_org, sizeof(l->last_org), "%s", c->org);
	snprintf(l->last_name, sizeof(l->last_name), "%s", c->name);
	return 0;
}

/* The filters both lists take; 0, or -1 having answered 400. */
static int
cred_filter(struct req *r, struct vault_cred_filter *f, const char **health,
    enum MHD_Result *answered)
{
	enum ov_rc rc;

	f->status = http_arg(r, "status");
	f->provider = http_arg(r, "provider");
	f->region = provider_region_filter(http_arg(r, "region"));
	f->client_id = http_arg(r, "client_id");
	f->health = http_arg(r, "health");
	if ((rc = vault_cred_filter_check(f)) != OV_OK) {
		*answered = http_problem(r, 400, "bad-request",
		    provider_error_field(ov_errmsg()), "%s", ov_errmsg());
		return -1;
	}
	*health = f->health;	/* judged as rendered, in cred_row */
	f->health = NULL;
	return 0;
}

static enum MHD_Result
cred_list(struct req *r, const struct vault_cred_filter *f,
    const char *health, long limit)
{
	struct cred_list l = { r->a, &r->key, health, NULL, limit, 0, "",
	    "" };
	char next[sodium_base64_ENCODED_LEN(2 * OV_SLUG_MAX + 1,
	    sodium_base64_VARIANT_URLSAFE_NO_PADDING)];
	enum ov_rc rc;

	if (admin_vault(r) == NULL)
		return MHD_YES;
	l.list = json_array();
	if ((rc = vault_cred_list(r->v, f, cred_row, &l)) != OV_OK) {
		json_decref(l.list);
		return http_rc(r, rc);
	}
	if (!limit)
		return http_json(r, 200, l.list);
	if (l.more)
		http_cursor_make(l.last_org, l.last_name, next, sizeof(next));
	return http_json(r, 200, json_pack("{s:o, s:o}", "credentials",
	    l.list, "next_cursor", l.more ? json_string(next) : json_null()));
}

enum MHD_Result
h_creds_all(struct req *r)
{
	static const char *const args[] = { "org", "status", "provider",
	    "region", "client_id", "health", "limit", "cursor", NULL };
	struct vault_cred_filter f = { .org = http_arg(r, "org") };
	char after_org[OV_SLUG_MAX + 1], after_name[OV_SLUG_MAX + 1];
	const char *health;
	long limit = OV_LIST_PAGE_DEFAULT;
	enum MHD_Result ret;

	if (http_args_only(r, args, &ret) || cred_filter(r, &f, &health,
	    &ret) || http_int_arg(r, "limit", 1, OV_LIST_PAGE_MAX, &limit, &ret) ||
	    http_cursor_read(r, 2, after_org, after_name, sizeof(after_org),
	    &ret))
		return ret;
	if (after_org[0]) {
		f.after_org = after_org;
		f.after_name = after_name;
	}
	return cred_list(r, &f, health, limit);
}

enum MHD_Result
h_creds_of_org(struct req *r)
{
	static const char *const args[] = { "status", "provider", "region",
	    "client_id", "health", NULL };
	struct vault_cred_filter f = { .org = r->params[0] };
	struct vault_org o;
	const char *health;
	enum MHD_Result ret;
	enum ov_rc rc;

	if (http_args_only(r, args, &ret) || cred_filter(r, &f, &health, &ret))
		return ret;
	if (admin_vault(r) == NULL)
		return MHD_YES;
	if ((rc = vault_org_get(r->v, r->params[0], &o)) != OV_OK)
		return http_rc(r, rc);
	return cred_list(r, &f, health, 0);
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

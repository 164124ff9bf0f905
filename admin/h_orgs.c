/* h_orgs.c — /v1/orgs: list, create, show, update, delete. */
#include <stdio.h>
#include <string.h>

#include <sodium.h>

#include "admin/admin_int.h"
#include "util/validate.h"
#include "vault/render.h"

struct org_list {
	const struct vault_apikey	*key;
	json_t				*list;
	long				 limit;
	int				 more;
	char				 last[OV_SLUG_MAX + 1];
};

static int
org_row(const struct vault_org *o, void *arg)
{
	struct org_list *l = arg;

	if (!vault_apikey_allows(l->key, o->slug))
		return 0;
	if ((long)json_array_size(l->list) == l->limit) {
		l->more = 1;
		return 1;
	}
	json_array_append_new(l->list, render_org(o));
	snprintf(l->last, sizeof(l->last), "%s", o->slug);
	return 0;
}

enum MHD_Result
h_orgs_list(struct req *r)
{
	static const char *const args[] = { "name", "limit", "cursor", NULL };
	struct org_list l = { &r->key, NULL, OV_LIST_PAGE_DEFAULT, 0, "" };
	struct vault_org_filter f = { http_arg(r, "name"), NULL };
	char after[OV_SLUG_MAX + 1], unused[OV_SLUG_MAX + 1];
	char next[sodium_base64_ENCODED_LEN(OV_SLUG_MAX,
	    sodium_base64_VARIANT_URLSAFE_NO_PADDING)];
	enum MHD_Result ret;
	enum ov_rc rc;

	if (http_args_only(r, args, &ret) || http_int_arg(r, "limit", 1,
	    OV_LIST_PAGE_MAX, &l.limit, &ret) || http_cursor_read(r, 1, after,
	    unused, sizeof(after), &ret))
		return ret;
	f.after_slug = after[0] ? after : NULL;
	if (admin_vault(r) == NULL)
		return MHD_YES;
	l.list = json_array();
	if ((rc = vault_org_list(r->v, &f, org_row, &l)) != OV_OK) {
		json_decref(l.list);
		return http_rc(r, rc);
	}
	if (l.more)
		http_cursor_make(l.last, NULL, next, sizeof(next));
	return http_json(r, 200, json_pack("{s:o, s:o}", "orgs", l.list,
	    "next_cursor", l.more ? json_string(next) : json_null()));
}

static enum MHD_Result
org_answer(struct req *r, unsigned status, const char *slug)
{
	struct vault_org o;
	enum ov_rc rc;

	if ((rc = vault_org_get(r->v, slug, &o)) != OV_OK)
		return http_rc(r, rc);
	if (status == 201) {
		char loc[96];

		snprintf(loc, sizeof(loc), "/v1/orgs/%s", slug);
		http_header(r, MHD_HTTP_HEADER_LOCATION, loc);
	}
	return http_json(r, status, render_org(&o));
}

enum MHD_Result
h_org_create(struct req *r)
{
	static const char *const allowed[] = { "slug", "name", "external_id",
	    NULL };
	struct vault_org o = { 0 };
	const char *slug, *name, *ext, *bad = NULL;
	enum MHD_Result ret;
	json_t *j;
	enum ov_rc rc;

	if ((j = http_body(r, &ret)) == NULL)
		return ret;
	if (http_fields(r, j, allowed, &ret) || http_str(r, j, "slug", &slug,
	    &ret) || http_str(r, j, "name", &name, &ret) ||
	    http_str(r, j, "external_id", &ext, &ret))
		goto out;
	if (slug == NULL) {
		ret = http_problem(r, 422, "validation", "slug", "\"slug\" is "
		    "required");
		goto out;
	}
	if (!vault_apikey_allows(&r->key, slug)) {
		ret = http_problem(r, 403, "forbidden", NULL, "the key '%s' is "
		    "limited to orgs %s", r->key.name, r->key.orgs);
		goto out;
	}
	if (((rc = validate_slug("slug", slug)) && (bad = "slug")) ||
	    (name && (rc = validate_text("name", name, OV_NAME_MAX)) &&
	    (bad = "name")) || (ext && (rc = validate_text("external_id", ext,
	    OV_EXTERNAL_ID_MAX)) && (bad = "external_id"))) {
		ret = http_invalid(r, rc, bad);
		goto out;
	}
	snprintf(o.slug, sizeof(o.slug), "%s", slug);
	snprintf(o.name, sizeof(o.name), "%s", name ? name : slug);
	snprintf(o.external_id, sizeof(o.external_id), "%s", ext ? ext : "");
	if (admin_vault(r) == NULL) {
		ret = MHD_YES;
		goto out;
	}
	if ((rc = vault_org_add(r->v, &o)) != OV_OK)
		ret = http_rc(r, rc);
	else
		ret = org_answer(r, 201, slug);
out:
	json_decref(j);
	return ret;
}

enum MHD_Result
h_org_get(struct req *r)
{
	if (admin_vault(r) == NULL)
		return MHD_YES;
	return org_answer(r, 200, r->params[0]);
}

enum MHD_Result
h_org_patch(struct req *r)
{
	static const char *const allowed[] = { "name", "external_id", NULL };
	const char *name, *ext;
	struct vault_org o;
	enum MHD_Result ret;
	json_t *j;
	enum ov_rc rc;

	if ((j = http_body(r, &ret)) == NULL)
		return ret;
	if (http_fields(r, j, allowed, &ret) || http_str(r, j, "name", &name,
	    &ret) || http_str(r, j, "external_id", &ext, &ret))
		goto out;
	if (admin_vault(r) == NULL) {
		ret = MHD_YES;
		goto out;
	}
	rc = vault_org_update(r->v, r->params[0], name, ext, &o);
	if (rc != OV_OK)
		ret = http_invalid(r, rc, strstr(ov_errmsg(), "external_id") ?
		    "external_id" : "name");
	else
		ret = http_json(r, 200, render_org(&o));
out:
	json_decref(j);
	return ret;
}

enum MHD_Result
h_org_delete(struct req *r)
{
	const char *force = http_arg(r, "force");
	enum ov_rc rc;

	if (force && strcmp(force, "true") != 0 && strcmp(force, "false") != 0)
		return http_problem(r, 400, "bad-request", NULL, "force must "
		    "be true or false");
	if (admin_vault(r) == NULL)
		return MHD_YES;
	rc = vault_org_rm(r->v, r->params[0], force && strcmp(force, "true") ==
	    0);
	if (rc == OV_ECONFLICT)
		return http_problem(r, 409, "conflict", NULL, "%s (add "
		    "?force=true to delete its credentials too)", ov_errmsg());
	if (rc != OV_OK)
		return http_rc(r, rc);
	broker_forget(r->a->broker, r->params[0], NULL);
	/* Remembered keys hold slugs: none may see a later org of this
	 * slug, and a key revoked with its last org stops at once. */
	auth_forget(r->a->auth);
	return http_empty(r, 204);
}

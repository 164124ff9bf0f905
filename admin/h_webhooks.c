/* h_webhooks.c — /v1/webhooks for admins: list, add, remove. */
#include <stdio.h>
#include <string.h>

#include "admin/admin_int.h"
#include "vault/render.h"

static int
hook_row(const struct vault_webhook *w, void *arg)
{
	json_array_append_new(arg, render_webhook(w));
	return 0;
}

enum MHD_Result
h_webhooks_list(struct req *r)
{
	json_t *list;
	enum ov_rc rc;

	if (admin_vault(r) == NULL)
		return MHD_YES;
	list = json_array();
	if ((rc = vault_webhook_list(r->v, hook_row, list)) != OV_OK) {
		json_decref(list);
		return http_rc(r, rc);
	}
	return http_json(r, 200, list);
}

enum MHD_Result
h_webhook_add(struct req *r)
{
	static const char *const allowed[] = { "url", "events", "secret",
	    NULL };
	const char *url, *events, *sec;
	struct vault_webhook w;
	struct secret *s = NULL;
	enum MHD_Result ret;
	json_t *j;
	enum ov_rc rc;

	if ((j = http_body(r, &ret)) == NULL)
		return ret;
	if (http_fields(r, j, allowed, &ret) || http_str(r, j, "url", &url,
	    &ret) || http_str(r, j, "events", &events, &ret) ||
	    http_str(r, j, "secret", &sec, &ret))
		goto out;
	if (url == NULL || sec == NULL) {
		ret = http_problem(r, 422, "validation", url ? "secret" : "url",
		    "\"url\" and \"secret\" (the signing secret) are required");
		goto out;
	}
	if (admin_vault(r) == NULL) {
		ret = MHD_YES;
		goto out;
	}
	if ((rc = secret_from(sec, strlen(sec), &s)) != OV_OK ||
	    (rc = vault_webhook_add(r->v, url, events, s, &w)) != OV_OK) {
		ret = http_invalid(r, rc, strncmp(ov_errmsg(), "events:", 7)
		    == 0 ? "events" : strstr(ov_errmsg(), "secret") ?
		    "secret" : strstr(ov_errmsg(), "event") ? "events" :
		    "url");
		goto out;
	}
	{
		char loc[48];

		snprintf(loc, sizeof(loc), "/v1/webhooks/%lld",
		    (long long)w.id);
		http_header(r, MHD_HTTP_HEADER_LOCATION, loc);
	}
	ret = http_json(r, 201, render_webhook(&w));
out:
	secret_free(s);
	json_decref(j);		/* jansson's free wipes the secret */
	return ret;
}

enum MHD_Result
h_webhook_delete(struct req *r)
{
	struct vault_webhook w;
	enum ov_rc rc;

	if (admin_vault(r) == NULL)
		return MHD_YES;
	if ((rc = vault_webhook_rm(r->v, r->params[0], &w)) != OV_OK)
		return http_rc(r, rc);
	return http_empty(r, 204);
}

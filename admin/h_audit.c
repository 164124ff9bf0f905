/*
 * h_audit.c — health, the audit trail (events with cursor pages, the
 * scope-drift report, the revocation ledger) and API keys.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "admin/admin_int.h"
#include "util/timefmt.h"
#include "util/validate.h"
#include "util/version.h"
#include "vault/render.h"

#define EVENTS_LIMIT_DEFAULT	100
#define EVENTS_LIMIT_MAX	1000

static int
last_version(const struct vault_migration *m, void *arg)
{
	if (m->applied_at)
		*(int *)arg = m->version;
	return 0;
}

enum MHD_Result
h_health(struct req *r)
{
	int schema = 0, db, sched;

	if (admin_vault(r) == NULL)
		return MHD_YES;
	db = vault_migrate_status(r->v, last_version, &schema) == OV_OK;
	sched = rot_scheduler_alive(r->a->sched);
	return http_json(r, db && sched ? 200 : 503, json_pack("{s:s, s:s, "
	    "s:i, s:s, s:s}", "status", db && sched ? "ok" : "degraded",
	    "version", ORGVAULT_VERSION, "schema_version", schema,
	    "database", db ? "ok" : "error", "scheduler", sched ? "alive" :
	    "stopped"));
}

/* --------------------------------------------------------------- events */

struct page {
	json_t	*list;
	int64_t	 last_id;
	int	 n;
};

static int
event_row(const struct vault_event *e, void *arg)
{
	struct page *p = arg;

	json_array_append_new(p->list, render_event(e));
	p->last_id = e->id;
	p->n++;
	return 0;
}

/* A key's list ("3,7" or "a,b") as a JSON array text: of numbers or
 * of strings; NULL for "*" (no limit) or out of memory (*oom). */
static char *
list_json(const char *list, int numbers, int *oom)
{
	json_t *a;
	char *s, *save = NULL, buf[OV_APIKEY_ORGS_MAX + 1];

	if (strcmp(list, "*") == 0)
		return NULL;
	a = json_array();
	snprintf(buf, sizeof(buf), "%s", list);
	for (char *t = strtok_r(buf, ",", &save); t;
	    t = strtok_r(NULL, ",", &save))
		json_array_append_new(a, numbers ?
		    json_integer(strtoll(t, NULL, 10)) : json_string(t));
	s = json_dumps(a, JSON_COMPACT);
	json_decref(a);
	if (s == NULL)
		*oom = 1;
	return s;
}

static int
time_arg(struct req *r, const char *name, int64_t *ms, enum MHD_Result *ret)
{
	const char *s = http_arg(r, name);
	int64_t secs;

	*ms = 0;
	if (s == NULL)
		return 0;
	if (timefmt_parse_rfc3339(s, &secs) != 0) {
		*ret = http_problem(r, 400, "bad-request", NULL, "%s must be "
		    "an RFC 3339 time such as 2026-11-21T00:00:00Z", name);
		return -1;
	}
	*ms = secs * 1000;
	return 0;
}

enum MHD_Result
h_audit_events(struct req *r)
{
	struct vault_event_filter f = {
		.org = http_arg(r, "org"),
		.credential = http_arg(r, "credential"),
		.kind = http_arg(r, "kind"),
	};
	struct page p = { 0 };
	long limit = EVENTS_LIMIT_DEFAULT, cursor = 0;
	char *oj, *cj, next[24];
	int oom = 0;
	enum MHD_Result ret;
	enum ov_rc rc;

	if (time_arg(r, "since", &f.since_ms, &ret) ||
	    time_arg(r, "until", &f.until_ms, &ret) ||
	    http_int_arg(r, "limit", 1, EVENTS_LIMIT_MAX, &limit, &ret) ||
	    http_int_arg(r, "cursor", 1, 0x7fffffffL, &cursor, &ret))
		return ret;
	f.limit = (int)limit;
	f.before_id = cursor;
	if (admin_vault(r) == NULL)
		return MHD_YES;
	/* A key limited to some orgs (by id) or credentials sees their
	 * events only (and its orgs' events about no credential). */
	oj = list_json(r->key.org_ids, 1, &oom);
	cj = list_json(r->key.credentials, 0, &oom);
	if (oom) {
		free(oj);
		free(cj);
		return http_problem(r, 500, "internal", NULL, "out of memory");
	}
	f.org_ids_json = oj;
	f.creds_json = cj;
	p.list = json_array();
	rc = vault_event_list(r->v, &f, event_row, &p);
	free(oj);
	free(cj);
	if (rc != OV_OK) {
		json_decref(p.list);
		return http_rc(r, rc);
	}
	snprintf(next, sizeof(next), "%lld", (long long)p.last_id);
	return http_json(r, 200, json_pack("{s:o, s:o}", "events", p.list,
	    "next_cursor", p.n == f.limit ? json_string(next) : json_null()));
}

/* Drops the rows of credentials the key does not see. */
static json_t *
only_allowed(struct req *r, json_t *list)
{
	json_t *out = json_array(), *row;
	size_t i;

	json_array_foreach(list, i, row) {
		const char *org = json_string_value(json_object_get(row,
		    "org"));
		const char *cred = json_string_value(json_object_get(row,
		    "credential"));
		json_t *id = json_object_get(row, "org_id");

		/* Events name their org by id too: a removed org's, whose
		 * slug a new org took, are not the new org's. */
		if (id && !vault_apikey_allows_org_id(&r->key,
		    json_integer_value(id)))
			continue;
		if (org && cred && vault_apikey_allows_cred(&r->key, org, cred))
			json_array_append(out, row);
	}
	json_decref(list);
	return out;
}

static enum MHD_Result
report(struct req *r, enum ov_rc (*fill)(struct vault *, json_t *))
{
	json_t *list;
	enum ov_rc rc;

	if (admin_vault(r) == NULL)
		return MHD_YES;
	list = json_array();
	if ((rc = fill(r->v, list)) != OV_OK) {
		json_decref(list);
		return http_rc(r, rc);
	}
	return http_json(r, 200, only_allowed(r, list));
}

enum MHD_Result
h_audit_drift(struct req *r)
{
	return report(r, rot_drift_report);
}

enum MHD_Result
h_audit_revocations(struct req *r)
{
	return report(r, rot_revocation_ledger);
}

enum MHD_Result
h_audit_verify(struct req *r)
{
	struct vault_audit_report rep;
	enum ov_rc rc;

	if (admin_vault(r) == NULL)
		return MHD_YES;
	if ((rc = vault_audit_verify(r->v, &rep)) != OV_OK)
		return http_rc(r, rc);
	return http_json(r, 200, json_pack("{s:b, s:I, s:o, s:s}", "whole",
	    rep.broken_id == 0, "checked", (json_int_t)rep.checked,
	    "first_broken_id", rep.broken_id ? json_integer(rep.broken_id) :
	    json_null(), "problem", rep.problem));
}

/* ------------------------------------------------------------- API keys */

static int
key_row(const struct vault_apikey *k, void *arg)
{
	json_array_append_new(arg, render_apikey(k));
	return 0;
}

enum MHD_Result
h_apikeys_list(struct req *r)
{
	json_t *list;
	enum ov_rc rc;

	if (admin_vault(r) == NULL)
		return MHD_YES;
	list = json_array();
	if ((rc = vault_apikey_list(r->v, key_row, list)) != OV_OK) {
		json_decref(list);
		return http_rc(r, rc);
	}
	return http_json(r, 200, list);
}

/* The field an apikey create error is about (the message names it). */
static const char *
apikey_field(const char *msg)
{
	static const char *const fields[] = { "expires", "credentials",
	    "role", "org", NULL };
	static const char *const names[] = { "expires_in", "credentials",
	    "role", "orgs" };

	for (int i = 0; fields[i]; i++)
		if (strstr(msg, fields[i]))
			return names[i];
	return "name";
}

enum MHD_Result
h_apikey_create(struct req *r)
{
	static const char *const allowed[] = { "name", "role", "orgs",
	    "credentials", "expires_in", NULL };
	struct vault_apikey_spec spec = { 0 };
	const char *expires_in;
	struct vault_apikey k;
	struct secret *key = NULL;
	enum MHD_Result ret;
	json_t *j, *out;
	enum ov_rc rc;

	if ((j = http_body(r, &ret)) == NULL)
		return ret;
	if (http_fields(r, j, allowed, &ret) || http_str(r, j, "name",
	    &spec.name, &ret) || http_str(r, j, "role", &spec.role, &ret) ||
	    http_str(r, j, "orgs", &spec.orgs, &ret) || http_str(r, j,
	    "credentials", &spec.credentials, &ret) || http_str(r, j,
	    "expires_in", &expires_in, &ret))
		goto out;
	if (spec.name == NULL || spec.role == NULL) {
		ret = http_problem(r, 422, "validation", spec.name ? "role" :
		    "name", "\"name\" and \"role\" are required");
		goto out;
	}
	if (expires_in && validate_duration(expires_in, OV_APIKEY_TTL_MAX,
	    &spec.expires_in_s) != OV_OK) {
		ret = http_problem(r, 422, "validation", "expires_in",
		    "expires_in: %s", ov_errmsg());
		goto out;
	}
	if (admin_vault(r) == NULL) {
		ret = MHD_YES;
		goto out;
	}
	if ((rc = vault_apikey_create(r->v, &spec, &key, &k)) != OV_OK) {
		ret = http_invalid(r, rc, apikey_field(ov_errmsg()));
		goto out;
	}
	/* The one answer that carries an API key: made in jansson's wiping
	 * memory and freed by wiping (http_json). */
	out = render_apikey(&k);
	json_object_set_new(out, "key", json_stringn((const char *)key->buf,
	    key->len));
	secret_free(key);
	http_header(r, MHD_HTTP_HEADER_CACHE_CONTROL, "no-store");
	ret = http_json(r, 201, out);
out:
	json_decref(j);
	return ret;
}

enum MHD_Result
h_apikey_delete(struct req *r)
{
	enum ov_rc rc;

	if (admin_vault(r) == NULL)
		return MHD_YES;
	if ((rc = vault_apikey_revoke(r->v, r->params[0])) != OV_OK)
		return http_rc(r, rc);
	auth_forget(r->a->auth);
	return http_empty(r, 204);
}

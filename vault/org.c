/* org.c — orgs: the tenants of the vault. */
#include <stdio.h>
#include <string.h>

#include "util/timefmt.h"
#include "util/validate.h"
#include "vault/vault_int.h"

#define ORG_COLS "o.id, o.slug, o.name, o.external_id, o.enabled, " \
	"o.created_at, o.updated_at, " \
	"(SELECT count(*) FROM credentials c WHERE c.org_id = o.id)"

static enum ov_rc
org_row(struct db_stmt *st, struct vault_org *o)
{
	enum ov_rc rc;

	o->id = db_col_int64(st, 0);
	if ((rc = db_text(st, 1, o->slug, sizeof(o->slug))) ||
	    (rc = db_text(st, 2, o->name, sizeof(o->name))) ||
	    (rc = db_text(st, 3, o->external_id, sizeof(o->external_id))))
		return rc;
	o->enabled = db_col_int(st, 4);
	o->created_at = db_col_int64(st, 5);
	o->updated_at = db_col_int64(st, 6);
	o->credentials = db_col_int64(st, 7);
	return OV_OK;
}

enum ov_rc
vault_org_add(struct vault *v, const struct vault_org *o)
{
	struct db_stmt *st = NULL;
	json_t *detail;
	struct event_rec ev = { .kind = "org.created", .org = o->slug };
	int64_t now = timefmt_now();
	enum ov_rc rc;
	int src;

	if ((rc = tx_begin(v)) != OV_OK)
		return rc;
	/* A taken slug is refused before the rest of the request reaches
	 * the database (a server may log statements with their values). */
	if ((rc = db_prepare(v, "SELECT 1 FROM orgs WHERE slug = ?", &st)) !=
	    OV_OK)
		return tx_end(v, rc);
	db_bind_text(st, 1, o->slug, -1);
	src = db_step(st);
	db_finish(v, st);
	st = NULL;
	if (src == DB_ROW)
		return tx_end(v, ov_seterr(OV_ECONFLICT, "org %s already "
		    "exists", o->slug));
	if (src != DB_DONE)
		return tx_end(v, db_err(v, src, "reading orgs"));
	/* DO NOTHING all the same: a conflict writes no row (PostgreSQL
	 * would keep the refused row's bytes in its WAL, and abort the
	 * transaction around it). */
	if ((rc = db_prepare(v, "INSERT INTO orgs (slug, name, external_id, "
	    "created_at, updated_at) VALUES (?, ?, ?, ?, ?) "
	    "ON CONFLICT (slug) DO NOTHING RETURNING id", &st)) != OV_OK)
		return tx_end(v, rc);
	db_bind_text(st, 1, o->slug, -1);
	db_bind_text(st, 2, o->name[0] ? o->name : o->slug, -1);
	db_bind_text(st, 3, o->external_id, -1);
	db_bind_int64(st, 4, now);
	db_bind_int64(st, 5, now);
	src = db_step(st);
	if (src == DB_ROW)
		ev.org_id = db_col_int64(st, 0);
	db_finish(v, st);
	if (src == DB_DONE || db_errclass(v->db, src) == DB_E_CONSTRAINT)
		return tx_end(v, ov_seterr(OV_ECONFLICT, "org %s already "
		    "exists", o->slug));
	if (src != DB_ROW)
		return tx_end(v, db_err(v, src, "adding an org"));
	detail = json_pack("{s:s, s:s}", "name", o->name[0] ? o->name :
	    o->slug, "external_id", o->external_id);
	ev.detail = detail;
	rc = event_append(v, &ev);
	json_decref(detail);
	return tx_end(v, rc);
}

enum ov_rc
vault_org_get(struct vault *v, const char *slug, struct vault_org *out)
{
	struct db_stmt *st;
	struct vault_org o;
	enum ov_rc rc;
	int src;

	if ((rc = db_prepare(v, "SELECT " ORG_COLS " FROM orgs o "
	    "WHERE o.slug = ?", &st)) != OV_OK)
		return rc;
	db_bind_text(st, 1, slug, -1);
	if ((src = db_step(st)) == DB_ROW) {
		if ((rc = org_row(st, &o)) == OV_OK)
			*out = o;
	} else if (src == DB_DONE)
		rc = ov_seterr(OV_ENOTFOUND, "no org %s; list them with: "
		    "orgvault org list", slug);
	else
		rc = db_err(v, src, "reading an org");
	db_finish(v, st);
	return rc;
}

enum ov_rc
vault_org_list(struct vault *v, const struct vault_org_filter *f,
    vault_org_cb cb, void *arg)
{
	static const struct vault_org_filter all = { NULL, NULL };
	struct db_stmt *st;
	struct vault_org o;
	enum ov_rc rc;
	int src;

	if (f == NULL)
		f = &all;
	/* instr(lower(...)): a substring, no LIKE wildcards to escape. */
	if ((rc = db_prepare(v, "SELECT " ORG_COLS " FROM orgs o "
	    "WHERE (CAST(?1 AS TEXT) IS NULL OR "
	    "instr(lower(o.name), lower(?1)) > 0) "
	    "AND (CAST(?2 AS TEXT) IS NULL OR o.slug > ?2) ORDER BY o.slug",
	    &st)) != OV_OK)
		return rc;
	db_bind_text(st, 1, f->name, -1);
	db_bind_text(st, 2, f->after_slug, -1);
	while ((src = db_step(st)) == DB_ROW) {
		if ((rc = org_row(st, &o)) != OV_OK || cb(&o, arg))
			break;
	}
	if (rc == OV_OK && src != DB_DONE && src != DB_ROW)
		rc = db_err(v, src, "listing orgs");
	db_finish(v, st);
	return rc;
}

enum ov_rc
vault_org_rm(struct vault *v, const char *slug, int force)
{
	struct db_stmt *st = NULL;
	struct vault_org o;
	struct event_rec ev = { .kind = "org.deleted", .org = slug };
	json_t *detail;
	enum ov_rc rc;
	int src;

	if ((rc = tx_begin(v)) != OV_OK)
		return rc;
	if ((rc = vault_org_get(v, slug, &o)) != OV_OK)
		return tx_end(v, rc);
	if (o.credentials > 0 && !force)
		return tx_end(v, ov_seterr(OV_ECONFLICT, "org %s holds %lld "
		    "credential(s); remove them first or use --force", slug,
		    (long long)o.credentials));
	/* Secrets go with the credentials (ON DELETE CASCADE, wiped). */
	if ((rc = db_prepare(v, "DELETE FROM orgs WHERE id = ?", &st)) != OV_OK)
		return tx_end(v, rc);
	db_bind_int64(st, 1, o.id);
	src = db_step(st);
	db_finish(v, st);
	if (src != DB_DONE)
		return tx_end(v, db_err(v, src, "removing an org"));
	ev.org_id = o.id;
	detail = json_pack("{s:I}", "credentials_removed",
	    (json_int_t)o.credentials);
	ev.detail = detail;
	rc = event_append(v, &ev);
	json_decref(detail);
	/* A key that named this org and no other that exists goes too. */
	if (rc == OV_OK)
		rc = apikey_orgs_removed(v, "its orgs were removed");
	return tx_end(v, rc);
}

/* The fields that differ, as an org.updated detail (empty: none). */
static json_t *
org_changes(struct vault_org *o, const char *name, const char *external_id)
{
	json_t *detail = json_object();

	if (detail == NULL)
		return NULL;
	if (name && strcmp(name, o->name) != 0) {
		json_object_set_new(detail, "name", json_string(name));
		snprintf(o->name, sizeof(o->name), "%s", name);
	}
	if (external_id && strcmp(external_id, o->external_id) != 0) {
		json_object_set_new(detail, "external_id",
		    json_string(external_id));
		snprintf(o->external_id, sizeof(o->external_id), "%s",
		    external_id);
	}
	return detail;
}

enum ov_rc
vault_org_update(struct vault *v, const char *slug, const char *name,
    const char *external_id, struct vault_org *out)
{
	struct db_stmt *st = NULL;
	struct vault_org o;
	struct event_rec ev = { .kind = "org.updated", .org = slug };
	json_t *detail = NULL;
	enum ov_rc rc;
	int src;

	/* An empty external_id clears it; a name cannot be empty. */
	if ((name && (rc = validate_text("name", name, OV_NAME_MAX))) ||
	    (external_id && *external_id && (rc = validate_text(
	    "external_id", external_id, OV_EXTERNAL_ID_MAX))))
		return rc;
	if ((rc = tx_begin(v)) != OV_OK)
		return rc;
	if ((rc = vault_org_get(v, slug, &o)) != OV_OK)
		return tx_end(v, rc);
	if ((detail = org_changes(&o, name, external_id)) == NULL)
		return tx_end(v, ov_seterr(OV_ENOMEM, "out of memory"));
	if (json_object_size(detail) == 0)
		goto out;	/* nothing changes: no write, no event */
	o.updated_at = timefmt_now();
	if ((rc = db_prepare(v, "UPDATE orgs SET name = ?, external_id = ?, "
	    "updated_at = ? WHERE id = ?", &st)) != OV_OK)
		goto out;
	db_bind_text(st, 1, o.name, -1);
	db_bind_text(st, 2, o.external_id, -1);
	db_bind_int64(st, 3, o.updated_at);
	db_bind_int64(st, 4, o.id);
	src = db_step(st);
	db_finish(v, st);
	if (src != DB_DONE) {
		rc = db_err(v, src, "updating an org");
		goto out;
	}
	ev.org_id = o.id;
	ev.detail = detail;
	rc = event_append(v, &ev);
out:
	json_decref(detail);
	if ((rc = tx_end(v, rc)) == OV_OK)
		*out = o;
	return rc;
}

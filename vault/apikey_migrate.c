/*
 * apikey_migrate.c — API key rows of schema 0004, read by migrations
 * only: 0004's hook MACs them in their 0004 form (orgs as slugs), and
 * 0005's hook turns those slugs into org ids and MACs the rows in the
 * form of today (bind.c).  A row whose 0004 MAC does not hold (edited in
 * the database) is converted but not MAC'd: it stays refused, and
 * `orgvault check` names it.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "vault/keyring.h"
#include "vault/vault_int.h"

/* k from a V4_COLS row (k->orgs: the slugs it holds) and its MAC in the
 * 0004 form. */
static enum ov_rc
v4_mac(struct vault *v, struct db_stmt *st, struct vault_apikey *k,
    unsigned char mac[32])
{
	enum ov_rc rc;

	memset(k, 0, sizeof(*k));
	k->id = db_col_int64(st, 0);
	if ((rc = db_text(st, 1, k->key_id, sizeof(k->key_id))) ||
	    (rc = db_text(st, 2, k->name, sizeof(k->name))) ||
	    (rc = db_text(st, 3, k->role, sizeof(k->role))) ||
	    (rc = db_text(st, 4, k->orgs, sizeof(k->orgs))))
		return rc;
	k->created_at = db_col_int64(st, 5);
	k->revoked_at = db_col_int64(st, 6);
	return apikey_mac_v4(v, k, db_col_blob(st, 7),
	    (size_t)db_col_bytes(st, 7), mac);
}

/* The columns of a row in its 0004 form; orgs: the column holding the
 * slugs ("orgs" in 0004, "org_ids" in 0005 before its hook). */
#define V4_COLS(orgs) "id, key_id, name, role, " orgs ", created_at, " \
	"coalesce(revoked_at, 0), secret_hash, row_mac FROM api_keys"

enum ov_rc
apikey_v4_mac_write(struct vault *v, int64_t id)
{
	struct vault_apikey k;
	unsigned char mac[32];
	struct db_stmt *st;
	enum ov_rc rc;
	int src;

	if ((rc = db_prepare(v, "SELECT " V4_COLS("orgs") " WHERE id = ?",
	    &st)) != OV_OK)
		return rc;
	db_bind_int64(st, 1, id);
	if ((src = db_step(st)) == DB_ROW)
		rc = v4_mac(v, st, &k, mac);
	else
		rc = db_err(v, src, "reading an API key");
	db_finish(v, st);
	if (rc != OV_OK)
		return rc;
	return row_mac_put(v, APIKEY_MAC_UPDATE, id, mac, "writing an API "
	    "key's MAC");
}

/* One row of the 0005 hook: slugs → ids, MAC'd anew if its MAC held; a
 * live key left with no org (or more than fit as ids) is revoked. */
static enum ov_rc
convert_one(struct vault *v, int64_t id)
{
	char ids[OV_APIKEY_ORGS_MAX + 1];
	struct vault_apikey k;
	unsigned char mac[32];
	const char *why = "migration 0005: keys name orgs by id, and none of "
	    "the orgs this key named exists";
	struct db_stmt *st;
	enum ov_rc rc;
	int ok = 0, src;

	if ((rc = db_prepare(v, "SELECT " V4_COLS("org_ids") " WHERE id = ?",
	    &st)) != OV_OK)
		return rc;
	db_bind_int64(st, 1, id);
	if ((src = db_step(st)) != DB_ROW)
		rc = db_err(v, src, "reading an API key");
	else if ((rc = v4_mac(v, st, &k, mac)) == OV_OK)
		ok = row_mac_ok(mac, db_col_blob(st, 8),
		    db_col_bytes(st, 8));
	db_finish(v, st);
	if (rc != OV_OK)
		return rc;
	/* More orgs than their ids fit in (ids longer than the slugs): the
	 * key cannot be kept as it was; it goes, with the reason. */
	if ((rc = apikey_org_ids(v, k.orgs, 1, ids, sizeof(ids))) ==
	    OV_ELIMIT) {
		ids[0] = '\0';
		why = "migration 0005: keys name orgs by id, and the ids of "
		    "this key's orgs do not fit in a key; make a new key";
	} else if (rc != OV_OK)
		return rc;
	if ((rc = db_prepare(v, "UPDATE api_keys SET org_ids = ? WHERE id = ?",
	    &st)) != OV_OK)
		return rc;
	db_bind_text(st, 1, ids, -1);
	db_bind_int64(st, 2, id);
	src = db_step(st);
	db_finish(v, st);
	if (src != DB_DONE)
		return db_err(v, src, "converting an API key's orgs");
	if (!ok)
		return OV_OK;	/* stays refused: check names it */
	if ((rc = apikey_mac_write(v, id)) != OV_OK || ids[0] != '\0' ||
	    k.revoked_at != 0)
		return rc;
	return apikey_revoke_row(v, id, why);
}

enum ov_rc
apikey_scope_migrate(struct vault *v)
{
	int64_t *ids = NULL, *grown;
	size_t n = 0, cap = 0;
	struct db_stmt *st;
	enum ov_rc rc;
	int src;

	if (!keyring_has_mac(v->kr) && (rc = mac_key_load(v)) != OV_OK)
		return rc;
	if ((rc = db_prepare(v, "SELECT id FROM api_keys ORDER BY id", &st)))
		return rc;
	while ((src = db_step(st)) == DB_ROW) {
		if (n == cap) {
			cap = cap ? cap * 2 : 64;
			grown = realloc(ids, cap * sizeof(*ids));
			if (grown == NULL) {
				rc = ov_seterr(OV_ENOMEM, "out of memory");
				break;
			}
			ids = grown;
		}
		ids[n++] = db_col_int64(st, 0);
	}
	db_finish(v, st);
	if (rc == OV_OK && src != DB_DONE)
		rc = db_err(v, src, "reading API keys");
	for (size_t i = 0; i < n && rc == OV_OK; i++)
		rc = convert_one(v, ids[i]);
	free(ids);
	return rc;
}

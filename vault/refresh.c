/*
 * refresh.c — the vault side of rotation: which credentials are due,
 * who holds the lease on each, and the one durable transaction that
 * records an attempt.
 *
 * vault_refresh_record() commits the new access token, any rotated
 * refresh token, the granted scope, the next deadline, the status, the
 * events and the lease release together (synchronous=FULL): once it
 * returns, a rotated refresh token cannot be lost.  It commits only if
 * the caller still holds the lease, so a slow process whose lease was
 * taken over cannot overwrite a newer token.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "util/timefmt.h"
#include "vault/envelope.h"
#include "vault/vault_int.h"

#define SCHEDULABLE "c.status IN ('active', 'failing', 'invalid_client', " \
	"'secret_or_grant_refused')"

/* Light rows: the scheduler scans often and claims few. */
enum ov_rc
vault_due_list(struct vault *v, int64_t now, const char *self, int limit,
    vault_due_cb cb, void *arg)
{
	struct db_stmt *st;
	struct vault_due d;
	enum ov_rc rc;
	int src;

	if ((rc = db_prepare(v, "SELECT c.id, coalesce(c.next_refresh_at, 0), "
	    "coalesce(c.lease_until, 0), coalesce(c.lease_owner, ''), "
	    "c.token_url, c.client_id FROM credentials c WHERE " SCHEDULABLE
	    " AND "
	    "(c.next_refresh_at IS NULL OR c.next_refresh_at <= ?1) AND NOT "
	    "(coalesce(c.lease_owner, '') = ?3 AND c.lease_until >= ?1) "
	    "ORDER BY coalesce(c.next_refresh_at, 0), c.id LIMIT ?2", &st)))
		return rc;
	db_bind_int64(st, 1, now);
	db_bind_int(st, 2, limit);
	db_bind_text(st, 3, self, -1);
	while ((src = db_step(st)) == DB_ROW) {
		d.id = db_col_int64(st, 0);
		d.next_refresh_at = db_col_int64(st, 1);
		d.lease_until = db_col_int64(st, 2);
		if ((rc = db_text(st, 3, d.lease_owner,
		    sizeof(d.lease_owner))) ||
		    (rc = db_text(st, 4, d.token_url, sizeof(d.token_url))) ||
		    (rc = db_text(st, 5, d.client_id, sizeof(d.client_id))) ||
		    cb(&d, arg))
			break;
	}
	if (rc == OV_OK && src != DB_DONE && src != DB_ROW)
		rc = db_err(v, src, "listing due credentials");
	db_finish(v, st);
	return rc;
}

enum ov_rc
vault_next_deadline(struct vault *v, int64_t after, int64_t *at)
{
	struct db_stmt *st;
	enum ov_rc rc;
	int src;

	if ((rc = db_prepare(v, "SELECT coalesce(min(c.next_refresh_at), 0) "
	    "FROM credentials c WHERE c.next_refresh_at > ? AND "
	    SCHEDULABLE, &st)) != OV_OK)
		return rc;
	db_bind_int64(st, 1, after);
	if ((src = db_step(st)) == DB_ROW)
		*at = db_col_int64(st, 0);
	else
		rc = db_err(v, src, "reading deadlines");
	db_finish(v, st);
	return rc;
}

enum ov_rc
vault_lease_claim(struct vault *v, int64_t cred_id, const char *owner,
    const char *expected_owner, int64_t now, int64_t until, int force,
    int64_t if_gen, struct vault_cred *out)
{
	struct db_stmt *st;
	struct vault_cred c;
	enum ov_rc rc;
	int src, changed;

	if ((rc = tx_begin(v)) != OV_OK)
		return rc;
	if ((rc = db_prepare(v, "UPDATE credentials SET lease_owner = ?1, "
	    "lease_until = ?2 WHERE id = ?3 AND (lease_owner IS NULL OR "
	    "lease_until < ?4 OR lease_owner = ?1 OR lease_owner = ?5) AND "
	    "(?6 >= 2 OR ((?6 = 1 OR next_refresh_at IS NULL OR "
	    "next_refresh_at <= ?4) AND status IN ('active', 'failing', "
	    "'invalid_client', 'secret_or_grant_refused'))) AND "
	    "(?7 < 0 OR coalesce((SELECT generation FROM tokens WHERE "
	    "credential_id = ?3), 0) = ?7)", &st)) != OV_OK)
		return tx_end(v, rc);
	db_bind_text(st, 1, owner, -1);
	db_bind_int64(st, 2, until);
	db_bind_int64(st, 3, cred_id);
	db_bind_int64(st, 4, now);
	db_bind_text(st, 5, expected_owner ? expected_owner : "", -1);
	db_bind_int(st, 6, force);
	db_bind_int64(st, 7, if_gen);
	src = db_step(st);
	changed = db_changes(v->db);
	db_finish(v, st);
	if (src != DB_DONE)
		return tx_end(v, db_err(v, src, "taking a lease"));
	if (changed == 0)
		return tx_end(v, ov_seterr(OV_ECONFLICT, "credential %lld is "
		    "leased by another refresher or no longer due",
		    (long long)cred_id));
	rc = vault_cred_by_id(v, cred_id, &c);
	if ((rc = tx_end(v, rc)) == OV_OK)
		*out = c;
	return rc;
}

enum ov_rc
vault_lease_release(struct vault *v, int64_t cred_id, const char *owner)
{
	struct db_stmt *st;
	enum ov_rc rc;
	int src;

	if ((rc = db_prepare(v, "UPDATE credentials SET lease_owner = NULL, "
	    "lease_until = NULL WHERE id = ? AND lease_owner = ?", &st)))
		return rc;
	db_bind_int64(st, 1, cred_id);
	db_bind_text(st, 2, owner, -1);
	src = db_step(st);
	db_finish(v, st);
	return src == DB_DONE ? OV_OK : db_err(v, src, "releasing a lease");
}

enum ov_rc
vault_note_unknown(struct vault *v, int64_t cred_id, const char *dead_owner)
{
	struct vault_cred c;
	struct event_rec ev = { .kind = "refresh.outcome_unknown",
	    .outcome = "outcome_unknown", .oauth_error = "refresher_died" };
	struct db_stmt *st;
	json_t *detail;
	enum ov_rc rc;
	int src;

	if ((rc = tx_begin(v)) != OV_OK)
		return rc;
	if ((rc = vault_cred_by_id(v, cred_id, &c)) != OV_OK)
		return tx_end(v, rc);
	/* The dead refresher's lease ends with this record (unless another
	 * process took it over first): left in place, it would be taken over
	 * again, and a credential re-authorized meanwhile held again. */
	if ((rc = db_prepare(v, "UPDATE credentials SET unknown_outcome_at = "
	    "?1, status = CASE WHEN refresh_token_kept = 0 AND grant_type = "
	    "'refresh_token' THEN 'unknown' ELSE status END, last_error = "
	    "CASE WHEN refresh_token_kept = 0 AND grant_type = "
	    "'refresh_token' THEN 'refresher_died: its request may have rotated the refresh "
	    "token' ELSE last_error END, lease_owner = CASE WHEN lease_owner = "
	    "?3 THEN NULL ELSE lease_owner END, lease_until = CASE WHEN "
	    "lease_owner = ?3 THEN NULL ELSE lease_until END WHERE id = ?2",
	    &st)) != OV_OK)
		return tx_end(v, rc);
	db_bind_int64(st, 1, timefmt_now());
	db_bind_int64(st, 2, cred_id);
	db_bind_text(st, 3, dead_owner, -1);
	src = db_step(st);
	db_finish(v, st);
	if (src != DB_DONE)
		return tx_end(v, db_err(v, src, "recording an unknown outcome"));
	ev.org_id = c.org_id;
	ev.org = c.org;
	ev.cred_id = c.id;
	ev.credential = c.name;
	detail = json_pack("{s:s, s:s}", "lease_owner", dead_owner,
	    "description", "the refresher died holding the lease; its "
	    "request may have reached the provider");
	ev.detail = detail;
	rc = event_append(v, &ev);
	json_decref(detail);
	return tx_end(v, rc);
}

/* The new access token, sealed and bound to its generation. */
static enum ov_rc
token_store(struct vault *v, const struct vault_cred *c,
    const struct vault_refresh *r)
{
	struct db_stmt *st = NULL;
	unsigned char *env = NULL;
	char binding[160];
	size_t envlen;
	int64_t gen = c->token_generation + 1;
	uint32_t kv;
	enum ov_rc rc;
	int src;

	binding_token(binding, sizeof(binding), c->org_id, c->id, gen);
	if ((rc = vault_env_seal(v, binding, r->access_token->buf,
	    r->access_token->len, &env, &envlen, &kv)) != OV_OK)
		return rc;
	if ((rc = db_prepare(v, "INSERT INTO tokens (credential_id, generation, "
	    "ciphertext, key_version, token_type, granted_scope, issued_at, "
	    "expires_at, refresh_token_expires_at) VALUES (?, ?, ?, ?, ?, ?, "
	    "?, ?, nullif(?, 0)) ON CONFLICT (credential_id) DO UPDATE SET "
	    "generation = excluded.generation, ciphertext = "
	    "excluded.ciphertext, key_version = excluded.key_version, "
	    "token_type = excluded.token_type, granted_scope = "
	    "excluded.granted_scope, issued_at = excluded.issued_at, "
	    "expires_at = excluded.expires_at, refresh_token_expires_at = "
	    "excluded.refresh_token_expires_at", &st)))
		goto out;
	db_bind_int64(st, 1, c->id);
	db_bind_int64(st, 2, gen);
	db_bind_blob(st, 3, env, (int)envlen);
	db_bind_int64(st, 4, kv);
	db_bind_text(st, 5, r->token_type, -1);
	db_bind_text(st, 6, r->granted_scope, -1);
	db_bind_int64(st, 7, r->issued_at);
	db_bind_int64(st, 8, r->expires_at);
	db_bind_int64(st, 9, r->refresh_token_expires_at);
	if ((src = db_step(st)) != DB_DONE)
		rc = db_err(v, src, "storing a token");
out:
	db_finish(v, st);
	free(env);
	return rc;
}

static enum ov_rc
cred_state_update(struct vault *v, int64_t cred_id,
    const struct vault_refresh *r, int64_t now)
{
	struct db_stmt *st;
	char last_error[sizeof(((struct vault_cred *)0)->last_error)];
	int ok = r->access_token != NULL;
	enum ov_rc rc;
	int src;

	last_error[0] = '\0';
	if (!ok)
		snprintf(last_error, sizeof(last_error), "%s%s%s",
		    r->oauth_error ? r->oauth_error : r->outcome,
		    r->description && *r->description ? ": " : "",
		    r->description ? r->description : "");
	/* A credential found tampered meanwhile stays so. */
	if ((rc = db_prepare(v, "UPDATE credentials SET status = CASE WHEN "
	    "status = 'tampered' THEN status ELSE ?1 END, "
	    "status_reason = ?2, last_error = ?2, consecutive_failures = ?3, "
	    "next_refresh_at = nullif(?4, 0), last_attempt_at = ?5, "
	    "last_success_at = CASE WHEN ?6 <> 0 THEN ?5 ELSE last_success_at END, "
	    "unknown_outcome_at = CASE WHEN ?6 <> 0 THEN NULL WHEN ?7 <> 0 THEN ?5 "
	    "ELSE unknown_outcome_at END, lease_owner = NULL, "
	    "lease_until = NULL, refresh_token_kept = CASE WHEN ?6 <> 0 THEN ?9 "
	    "ELSE refresh_token_kept END WHERE id = ?8", &st)) != OV_OK)
		return rc;
	db_bind_text(st, 1, r->status, -1);
	db_bind_text(st, 2, last_error, -1);
	db_bind_int(st, 3, r->consecutive_failures);
	db_bind_int64(st, 4, r->next_refresh_at);
	db_bind_int64(st, 5, now);
	db_bind_int(st, 6, ok);
	db_bind_int(st, 7, r->unknown_outcome);
	db_bind_int64(st, 8, cred_id);
	db_bind_int(st, 9, r->refresh_token == NULL);
	src = db_step(st);
	db_finish(v, st);
	return src == DB_DONE ? OV_OK :
	    db_err(v, src, "recording a refresh");
}

static enum ov_rc
record_events(struct vault *v, const struct vault_cred *c,
    const struct vault_refresh *r)
{
	json_t *detail;
	struct event_rec ev = { .org_id = c->org_id, .org = c->org,
	    .cred_id = c->id, .credential = c->name, .kind = r->event_kind,
	    .http_status = r->http_status, .oauth_error = r->oauth_error,
	    .outcome = r->outcome };
	enum ov_rc rc;

	detail = r->detail ? json_deep_copy(r->detail) : json_object();
	json_object_set_new(detail, "duration_ms",
	    json_integer(r->duration_ms));
	if (r->description && *r->description)
		json_object_set_new(detail, "description",
		    json_string(r->description));
	ev.detail = detail;
	rc = event_append(v, &ev);
	json_decref(detail);
	if (rc == OV_OK && r->drift) {
		struct event_rec dev = ev;

		dev.kind = json_is_true(json_object_get(r->drift,
		    "resolved")) ? "scope_drift.resolved" : "scope_drift";
		dev.detail = r->drift;
		dev.http_status = 0;
		dev.oauth_error = NULL;
		rc = event_append(v, &dev);
	}
	return rc;
}

enum ov_rc
vault_refresh_record(struct vault *v, int64_t cred_id,
    const struct vault_refresh *r)
{
	struct vault_cred c;
	char why[OV_ERRMSG_MAX];
	int64_t now = timefmt_now();
	enum ov_rc rc;
	int trusted;

	if ((rc = vault_need_key(v)) != OV_OK || (rc = tx_begin(v)) != OV_OK)
		return rc;
	if ((rc = vault_cred_by_id(v, cred_id, &c)) != OV_OK)
		return tx_end(v, rc);
	if (strcmp(c.lease_owner, r->owner) != 0)
		return tx_end(v, ov_seterr(OV_ECONFLICT, "lease on %s/%s was "
		    "lost to %s; not recording", c.org, c.name,
		    c.lease_owner[0] ? c.lease_owner : "nobody"));
	/* Verified inside this transaction (no writer in between): an
	 * edit made in the database while the refresh was in flight is
	 * never blessed by the MAC this record writes.  (A change an
	 * operator made meanwhile verifies: it is theirs.) */
	rc = cred_mac_verify(v, cred_id);
	if (rc != OV_OK && rc != OV_EINTEGRITY)
		return tx_end(v, rc);
	if (!(trusted = rc == OV_OK))
		snprintf(why, sizeof(why), "changed while a refresh was in "
		    "flight: %s", ov_errmsg());
	rc = OV_OK;
	if (r->access_token && (rc = token_store(v, &c, r)) != OV_OK)
		return tx_end(v, rc);
	if (r->refresh_token && (rc = trusted ? vault_secret_store(v, &c,
	    VAULT_REFRESH_TOKEN, r->refresh_token, NULL) :
	    secret_store_unblessed(v, r->cred ? r->cred : &c,
	    VAULT_REFRESH_TOKEN, r->refresh_token)) != OV_OK)
		return tx_end(v, rc);
	if (!trusted && (rc = vault_cred_tampered(v, cred_id, why)) != OV_OK)
		return tx_end(v, rc);
	if ((rc = cred_state_update(v, cred_id, r, now)) != OV_OK ||
	    (rc = record_events(v, &c, r)) != OV_OK)
		return tx_end(v, rc);
	return tx_end(v, OV_OK);
}

enum ov_rc
vault_token_open_gen(struct vault *v, int64_t cred_id, struct secret **out,
    int64_t *generation)
{
	struct db_stmt *st;
	char binding[160];
	enum ov_rc rc;
	int src;

	if ((rc = vault_need_key(v)) != OV_OK)
		return rc;
	if ((rc = db_prepare(v, "SELECT c.org_id, t.generation, t.ciphertext "
	    "FROM tokens t JOIN credentials c ON c.id = t.credential_id "
	    "WHERE t.credential_id = ?", &st)) != OV_OK)
		return rc;
	db_bind_int64(st, 1, cred_id);
	if ((src = db_step(st)) == DB_ROW) {
		binding_token(binding, sizeof(binding),
		    db_col_int64(st, 0), cred_id,
		    db_col_int64(st, 1));
		rc = vault_env_open(v, binding, db_col_blob(st, 2),
		    (size_t)db_col_bytes(st, 2), out);
		if (rc == OV_OK && generation)
			*generation = db_col_int64(st, 1);
	} else if (src == DB_DONE)
		rc = ov_seterr(OV_ENOTFOUND, "credential %lld has no access "
		    "token yet", (long long)cred_id);
	else
		rc = db_err(v, src, "reading a token");
	db_finish(v, st);
	return rc;
}

enum ov_rc
vault_token_open(struct vault *v, int64_t cred_id, struct secret **out)
{
	return vault_token_open_gen(v, cred_id, out, NULL);
}

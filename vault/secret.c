/*
 * secret.c — the versions of a credential's secrets and their staging
 * labels (DESIGN.md "Domain model": the AWS Secrets Manager protocol).
 *
 * Each (credential, kind) has numbered versions; at most one holds each
 * label:
 *
 *	current		what refreshes use
 *	pending		a client secret staged for rotation, not used yet
 *	previous	the one before current, kept for a rollback
 *
 * A new secret is sealed with its version in the envelope's binding, not
 * its label, so moving a label never re-encrypts (seal.c seals and
 * opens).  Labels move only inside one transaction, with an audit event
 * naming the versions — never secret material — and the credential's
 * row MAC, which covers the labels, written again (bind.c).  A version
 * that loses its last label is deleted (secure_delete overwrites it).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "util/timefmt.h"
#include "vault/envelope.h"
#include "vault/vault_int.h"

static const char *kind_names[] = { "client_secret", "refresh_token" };

/* The labelled versions of (credential, kind); 0: no such label. */
struct stages {
	int64_t	current, pending, previous;
	int64_t	newest;		/* highest version, labelled or not */
};

static enum ov_rc
stages_read(struct vault *v, int64_t cred_id, const char *kname,
    struct stages *out)
{
	struct db_stmt *st;
	enum ov_rc rc;
	int src;

	memset(out, 0, sizeof(*out));
	if ((rc = db_prepare(v, "SELECT coalesce(stage, ''), version FROM "
	    "secret_versions WHERE credential_id = ? AND kind = ?", &st)))
		return rc;
	db_bind_int64(st, 1, cred_id);
	db_bind_text(st, 2, kname, -1);
	while ((src = db_step(st)) == DB_ROW) {
		const char *stage = db_col_text(st, 0);
		int64_t version = db_col_int64(st, 1);

		if (strcmp(stage, "current") == 0)
			out->current = version;
		else if (strcmp(stage, "pending") == 0)
			out->pending = version;
		else if (strcmp(stage, "previous") == 0)
			out->previous = version;
		if (version > out->newest)
			out->newest = version;
	}
	if (src != DB_DONE)
		rc = db_err(v, src, "reading secret versions");
	db_finish(v, st);
	return rc;
}

/* Runs a prepared, bound statement that returns no rows; finishes st. */
static enum ov_rc
step_done(struct vault *v, struct db_stmt *st, const char *doing)
{
	int src = db_step(st);

	db_finish(v, st);
	return src == DB_DONE ? OV_OK : db_err(v, src, doing);
}

/* Prepares sql and binds one version: ?1 credential, ?2 kind, ?3 version. */
static enum ov_rc
version_stmt(struct vault *v, const char *sql, int64_t cred_id,
    const char *kname, int64_t version, struct db_stmt **st)
{
	enum ov_rc rc;

	if ((rc = db_prepare(v, sql, st)) != OV_OK)
		return rc;
	db_bind_int64(*st, 1, cred_id);
	db_bind_text(*st, 2, kname, -1);
	db_bind_int64(*st, 3, version);
	return OV_OK;
}

/* Labels a version (stage NULL: none). */
static enum ov_rc
set_stage(struct vault *v, int64_t cred_id, const char *kname,
    int64_t version, const char *stage)
{
	struct db_stmt *st;
	enum ov_rc rc;

	if ((rc = version_stmt(v, "UPDATE secret_versions SET stage = ?4 "
	    "WHERE credential_id = ?1 AND kind = ?2 AND version = ?3",
	    cred_id, kname, version, &st)) != OV_OK)
		return rc;
	db_bind_text(st, 4, stage, -1);
	return step_done(v, st, "moving a secret's label");
}

static enum ov_rc
drop_version(struct vault *v, int64_t cred_id, const char *kname,
    int64_t version)
{
	struct db_stmt *st;
	enum ov_rc rc;

	if ((rc = version_stmt(v, "DELETE FROM secret_versions WHERE "
	    "credential_id = ?1 AND kind = ?2 AND version = ?3", cred_id,
	    kname, version, &st)) != OV_OK)
		return rc;
	return step_done(v, st, "deleting a secret version");
}

/*
 * Makes version `to` current: the current one becomes previous and the
 * old previous, unless it is `to`, is deleted.  The current one waits
 * unlabelled in between, as the unique index allows one holder per
 * label at every step.  Serves a new secret, promote and rollback.
 */
static enum ov_rc
make_current(struct vault *v, int64_t cred_id, const char *kname,
    const struct stages *s, int64_t to)
{
	enum ov_rc rc;

	if (s->previous && s->previous != to && (rc = drop_version(v,
	    cred_id, kname, s->previous)) != OV_OK)
		return rc;
	if (s->current && (rc = set_stage(v, cred_id, kname, s->current,
	    NULL)) != OV_OK)
		return rc;
	if ((rc = set_stage(v, cred_id, kname, to, "current")) != OV_OK)
		return rc;
	if (s->current)
		return set_stage(v, cred_id, kname, s->current, "previous");
	return OV_OK;
}

static enum ov_rc store(struct vault *, const struct vault_cred *,
    enum vault_secret_kind, const struct secret *, int *, int);

/* Seals s as the new `current` version of (cred, kind), unless it is
 * the current value already. */
enum ov_rc
vault_secret_store(struct vault *v, const struct vault_cred *c,
    enum vault_secret_kind kind, const struct secret *s, int *changed)
{
	return store(v, c, kind, s, changed, 1);
}

enum ov_rc
secret_store_unblessed(struct vault *v, const struct vault_cred *c,
    enum vault_secret_kind kind, const struct secret *s)
{
	return store(v, c, kind, s, NULL, 0);
}

/* remac: write the credential's row MAC again (the row was verified in
 * this transaction); 0 leaves a row that does not verify as it is. */
static enum ov_rc
store(struct vault *v, const struct vault_cred *c, enum vault_secret_kind kind,
    const struct secret *s, int *changed, int remac)
{
	const char *kname = kind_names[kind];
	struct stages have;
	enum ov_rc rc;
	int same;

	if ((rc = secret_equals_current(v, c, kname, s, &same)) != OV_OK)
		return rc;
	if (changed)
		*changed = !same;
	if (same)
		return OV_OK;
	if (kind == VAULT_REFRESH_TOKEN && (rc = rt_retire_current(v, c)))
		return rc;
	if ((rc = stages_read(v, c->id, kname, &have)) != OV_OK ||
	    (rc = secret_seal_version(v, c, kname, have.newest + 1, NULL,
	    s)) != OV_OK ||
	    (rc = make_current(v, c->id, kname, &have, have.newest + 1)))
		return rc;
	return remac ? cred_mac_update(v, c->id) : OV_OK;
}

/*
 * Client-secret rotation.  Each operation: one transaction that finds
 * the credential and its labelled versions (op_begin), moves labels,
 * and appends its event (op_end).
 */
struct secret_op {
	struct vault_cred	c;
	struct stages		have;
	const char		*kind;		/* of the event */
	json_t			*detail;	/* the versions involved */
};

static enum ov_rc
op_begin(struct vault *v, const char *org, const char *name,
    struct secret_op *op)
{
	enum ov_rc rc;

	if ((rc = vault_need_key(v)) != OV_OK || (rc = tx_begin(v)) != OV_OK)
		return rc;
	if ((rc = vault_cred_get(v, org, name, &op->c)) != OV_OK ||
	    (rc = cred_mac_verify(v, op->c.id)) != OV_OK ||
	    (rc = stages_read(v, op->c.id, kind_names[VAULT_CLIENT_SECRET],
	    &op->have)) != OV_OK)
		return tx_end(v, rc);
	/* Only new secrets (cred put) bring a tampered credential back. */
	if (strcmp(op->c.status, "tampered") == 0)
		return tx_end(v, ov_seterr(OV_ESECRET, "%s/%s is tampered: put "
		    "its secrets again with cred put --secret-file (and "
		    "--refresh-token-file for the refresh_token grant)", org,
		    name));
	return OV_OK;
}

/* Appends the event if all went well, commits or rolls back. */
static enum ov_rc
op_end(struct vault *v, struct secret_op *op, enum ov_rc rc)
{
	struct event_rec ev = { .org_id = op->c.org_id, .org = op->c.org,
	    .cred_id = op->c.id, .credential = op->c.name, .kind = op->kind,
	    .detail = op->detail };

	if (rc == OV_OK)
		rc = cred_mac_update(v, op->c.id);
	if (rc == OV_OK)
		rc = event_append(v, &ev);
	json_decref(op->detail);
	return tx_end(v, rc);
}

/* A version number for an event detail: null for none. */
static json_t *
version_json(int64_t version)
{
	return version ? json_integer(version) : json_null();
}

static enum ov_rc
no_stage(const struct secret_op *op, const char *stage, const char *hint)
{
	return ov_seterr(OV_ENOTFOUND, "%s/%s has no %s client secret%s",
	    op->c.org, op->c.name, stage, hint);
}

enum ov_rc
vault_secret_stage(struct vault *v, const char *org, const char *name,
    const struct secret *s)
{
	const char *kname = kind_names[VAULT_CLIENT_SECRET];
	struct secret_op op = { .kind = "secret.staged" };
	enum ov_rc rc;

	if ((rc = op_begin(v, org, name, &op)) != OV_OK)
		return rc;
	op.detail = json_pack("{s:I, s:o}", "version",
	    (json_int_t)(op.have.newest + 1), "replaced_pending",
	    version_json(op.have.pending));
	if (op.have.pending)
		rc = drop_version(v, op.c.id, kname, op.have.pending);
	if (rc == OV_OK)
		rc = secret_seal_version(v, &op.c, kname, op.have.newest + 1,
		    "pending", s);
	return op_end(v, &op, rc);
}

/* pending (or, for a rollback, previous) becomes current; rescheduled. */
static enum ov_rc
switch_current(struct vault *v, const char *org, const char *name,
    int rollback)
{
	struct secret_op op = { .kind = rollback ? "secret.rolled_back" :
	    "secret.promoted" };
	int64_t to;
	enum ov_rc rc;

	if ((rc = op_begin(v, org, name, &op)) != OV_OK)
		return rc;
	if ((to = rollback ? op.have.previous : op.have.pending) == 0)
		return op_end(v, &op, rollback ? no_stage(&op, "previous",
		    " to roll back to") : no_stage(&op, "pending",
		    " to promote (stage one first)"));
	op.detail = json_pack("{s:I, s:o, s:o, s:s}", "current",
	    (json_int_t)to, "previous", version_json(op.have.current),
	    "deleted", version_json(rollback ? 0 : op.have.previous),
	    "status_before", op.c.status);
	if ((rc = make_current(v, op.c.id, kind_names[VAULT_CLIENT_SECRET],
	    &op.have, to)) == OV_OK)
		rc = cred_reschedule(v, op.c.id);
	return op_end(v, &op, rc);
}

enum ov_rc
vault_secret_promote(struct vault *v, const char *org, const char *name)
{
	return switch_current(v, org, name, 0);
}

enum ov_rc
vault_secret_rollback(struct vault *v, const char *org, const char *name)
{
	return switch_current(v, org, name, 1);
}

enum ov_rc
vault_secret_discard(struct vault *v, const char *org, const char *name)
{
	struct secret_op op = { .kind = "secret.discarded" };
	enum ov_rc rc;

	if ((rc = op_begin(v, org, name, &op)) != OV_OK)
		return rc;
	if (op.have.pending == 0)
		return op_end(v, &op, no_stage(&op, "pending", " to discard"));
	op.detail = json_pack("{s:I}", "version", (json_int_t)op.have.pending);
	return op_end(v, &op, drop_version(v, op.c.id,
	    kind_names[VAULT_CLIENT_SECRET], op.have.pending));
}

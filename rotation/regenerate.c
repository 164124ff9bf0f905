/*
 * regenerate.c — `secret regenerate`: the provider makes a new client
 * secret, and orgvault carries it through stage -> test -> promote ->
 * refresh.
 *
 * A Genesys client has one secret at a time: once the provider answers,
 * the current secret is dead and the new one exists only in this
 * process.  So the credential's lease is taken first (no refresh runs
 * with the dying secret meanwhile) and the new secret is staged in the
 * same transaction as the secret.regenerated event, before anything
 * else.  If a later step fails the secret stays pending, where the
 * scheduler finds it: an invalid_client with the current secret makes
 * it try the pending one and promote it when it works.
 */
#include <stdio.h>
#include <string.h>
#include <time.h>

#include <jansson.h>

#include "rotation/provider.h"
#include "rotation/rotation.h"
#include "util/log.h"
#include "util/timefmt.h"

#define TEST_TRIES	3	/* the new secret may take a moment to work */
#define LEASE_SLACK_S	120

const char *
rot_regen_step_str(enum rot_regen_step s)
{
	static const char *const names[] = { "admin_token", "lease", "call",
	    "stage", "test", "promote", "refresh", "done" };

	return (unsigned)s <= REGEN_DONE ? names[s] : "?";
}

static void
note(struct rot_regen *out, enum rot_regen_step step,
    const struct oauth_result *r)
{
	out->step = step;
	if (r == NULL)
		return;
	out->outcome = r->outcome;
	out->http_status = r->http_status;
	snprintf(out->error, sizeof(out->error), "%s", r->error);
	snprintf(out->description, sizeof(out->description), "%s",
	    r->description);
}

/* An access token of the admin credential: the stored one while it has
 * a minute left, else a refresh now (recorded like any other). */
static enum ov_rc
admin_token(struct vault *v, const struct rot_config *cfg,
    const struct vault_cred *admin, struct rot_regen *out,
    struct secret **tok)
{
	struct vault_cred after;
	struct oauth_result r;
	enum oauth_outcome o = OAUTH_OK;
	int64_t gen;
	enum ov_rc rc;

	if (admin->expires_at - timefmt_now() < 60 || admin->token_generation
	    == 0 || strcmp(admin->status, "active") != 0) {
		if ((rc = rot_refresh_one(v, cfg, admin, &o, &after)) != OV_OK)
			return rc;
		if (o != OAUTH_OK) {
			memset(&r, 0, sizeof(r));
			r.outcome = o;
			r.http_status = 0;
			snprintf(r.error, sizeof(r.error), "%s",
			    oauth_outcome_str(o));
			snprintf(r.description, sizeof(r.description), "%.*s",
			    (int)sizeof(r.description) - 1, after.last_error);
			note(out, REGEN_ADMIN_TOKEN, &r);
			return ov_seterr(OV_EINTERNAL, "the admin credential "
			    "%s/%s gets no token (%s: %s); nothing was changed",
			    admin->org, admin->name, oauth_outcome_str(o),
			    after.last_error);
		}
	}
	return vault_token_open_gen(v, admin->id, tok, &gen);
}

/* The provider makes the new secret; it is staged at once. */
static enum ov_rc
call_and_stage(struct vault *v, const struct rot_config *cfg,
    const struct vault_cred *c, const struct vault_cred *admin,
    const struct secret *tok, struct rot_regen *out)
{
	char api[OV_URL_MAX + 1];
	struct oauth_result r;
	struct secret *fresh = NULL;
	json_t *d;
	enum ov_rc rc;

	if ((rc = provider_genesys_api_base(admin, api, sizeof(api))))
		return rc;
	if ((rc = rot_genesys_new_secret(api, c->client_id, tok, cfg, &r,
	    &fresh)) != OV_OK)
		return rc;
	note(out, REGEN_CALL, &r);
	d = json_pack("{s:s, s:s, s:I, s:i, s:s, s:s}", "admin_credential",
	    admin->name, "step", "call", "duration_ms",
	    (json_int_t)r.duration_ms, "http_status", (int)r.http_status,
	    "outcome", oauth_outcome_str(r.outcome), "error", r.error);
	if (r.outcome != OAUTH_OK) {
		if (r.outcome == OAUTH_UNKNOWN)
			json_object_set_new(d, "note", json_string("sent, no "
			    "answer: the provider may have replaced the "
			    "secret; run regenerate again"));
		json_object_set_new(d, "description",
		    json_string(r.description));
		if (vault_cred_event_add(v, c, "secret.regenerate_failed",
		    r.http_status, r.error, oauth_outcome_str(r.outcome), d))
			log_warnx("%s", ov_errmsg());
		json_decref(d);
		if (r.outcome == OAUTH_UNKNOWN)
			return ov_seterr(OV_EINTERNAL, "the request for a new "
			    "secret of %s/%s got no answer (%s): the provider "
			    "may have replaced the secret, and nobody knows the "
			    "new one; run regenerate again", c->org, c->name,
			    r.error);
		return ov_seterr(OV_EINTERNAL, "the provider did not make a "
		    "new secret for %s/%s (%s%s%s%s): the current secret is "
		    "unchanged", c->org, c->name, r.http_status == 401 ||
		    r.http_status == 403 ? "the admin credential lacks "
		    "oauth:client:edit; " : "", oauth_outcome_str(r.outcome),
		    r.error[0] ? ", " : "", r.error);
	}
	out->regenerated = 1;
	/* From here on the new secret exists only in this process. */
	for (int tries = 0; tries < 5; tries++) {
		if ((rc = vault_begin(v)) == OV_OK) {
			rc = vault_secret_stage(v, c->org, c->name, fresh);
			if (rc == OV_OK)
				rc = vault_cred_event_add(v, c,
				    "secret.regenerated", r.http_status, NULL,
				    "ok", d);
			if (rc == OV_OK)
				rc = vault_commit(v);
			else
				vault_rollback(v);
		}
		if (rc != OV_EBUSY)
			break;
	}
	json_decref(d);
	secret_free(fresh);
	if (rc != OV_OK) {
		out->step = REGEN_STAGE;
		return ov_seterr(rc, "the provider made a new secret for %s/%s "
		    "but it could not be stored (%s); the old secret no longer "
		    "works: run regenerate again once the vault is writable",
		    c->org, c->name, ov_errmsg());
	}
	out->staged = 1;
	return OV_OK;
}

/* A token with the pending secret, a few tries a second or two apart. */
static enum ov_rc
test_pending(struct vault *v, const struct rot_config *cfg,
    const char *org, const char *name, struct rot_regen *out)
{
	struct oauth_result r;
	struct vault_cred c;
	enum ov_rc rc;

	for (int i = 0; i < TEST_TRIES; i++) {
		if (i > 0)
			nanosleep(&(struct timespec){ i, 0 }, NULL);
		if ((rc = vault_cred_get(v, org, name, &c)) != OV_OK ||
		    (rc = rot_secret_test(v, cfg, &c, &r)) != OV_OK)
			return rc;
		oauth_result_cleanup(&r);
		note(out, REGEN_TEST, &r);
		if (r.outcome == OAUTH_OK)
			return OV_OK;
		if (r.outcome != OAUTH_INVALID_CLIENT &&
		    r.outcome != OAUTH_TRANSIENT)
			break;
	}
	return ov_seterr(OV_EINTERNAL, "the new secret of %s/%s does not "
	    "work yet (%s%s%s); it stays pending: `orgvault secret test`, "
	    "then `secret promote` (serve tries it by itself when the current "
	    "one is refused)", org, name, oauth_outcome_str(out->outcome),
	    out->error[0] ? ", " : "", out->error);
}

static enum ov_rc
promote_refresh(struct vault *v, const struct rot_config *cfg,
    const char *org, const char *name, struct rot_regen *out)
{
	struct vault_cred c, after;
	enum oauth_outcome o;
	enum ov_rc rc;

	out->step = REGEN_PROMOTE;
	if ((rc = vault_secret_promote(v, org, name)) != OV_OK)
		return rc;
	out->promoted = 1;
	out->step = REGEN_REFRESH;
	if ((rc = vault_cred_get(v, org, name, &c)) != OV_OK ||
	    (rc = rot_refresh_one(v, cfg, &c, &o, &after)) != OV_OK)
		return rc;
	out->outcome = o;
	if (o != OAUTH_OK) {
		snprintf(out->error, sizeof(out->error), "%s",
		    oauth_outcome_str(o));
		return ov_seterr(OV_EINTERNAL, "the new secret of %s/%s is "
		    "current but the refresh with it failed (%s: %s); see "
		    "`orgvault cred show`", org, name, oauth_outcome_str(o),
		    after.last_error);
	}
	out->error[0] = out->description[0] = '\0';
	out->http_status = 0;
	out->step = REGEN_DONE;
	return OV_OK;
}

enum ov_rc
rot_regenerate(struct vault *v, const struct rot_config *cfg,
    const char *org, const char *name, const char *admin_name,
    struct rot_regen *out)
{
	struct vault_cred c, admin, leased;
	struct secret *tok = NULL;
	int64_t t0 = timefmt_now_ms(), now = timefmt_now();
	enum ov_rc rc;

	memset(out, 0, sizeof(*out));
	out->step = REGEN_ADMIN_TOKEN;
	if ((rc = vault_cred_get(v, org, name, &c)) != OV_OK ||
	    (rc = vault_cred_get(v, org, admin_name, &admin)) != OV_OK)
		return rc;
	if (strcmp(c.provider, "genesys") != 0 ||
	    strcmp(admin.provider, "genesys") != 0)
		return ov_seterr(OV_EUSAGE, "regenerate is for Genesys Cloud "
		    "credentials (%s/%s is %s, %s is %s); stage a secret made "
		    "at the provider instead", org, name, c.provider,
		    admin_name, admin.provider);
	if (c.id == admin.id)
		return ov_seterr(OV_EUSAGE, "%s/%s cannot regenerate its own "
		    "secret: name another admin credential of %s", org, name,
		    org);
	if ((rc = admin_token(v, cfg, &admin, out, &tok)) != OV_OK)
		goto out;
	out->step = REGEN_LEASE;
	if ((rc = vault_lease_claim(v, c.id, cfg->owner, NULL, now, now +
	    cfg->timeout_ms / 1000 * (TEST_TRIES + 2) + LEASE_SLACK_S,
	    VAULT_CLAIM_OPERATOR, -1, &leased)) != OV_OK) {
		if (rc == OV_ECONFLICT)
			rc = ov_seterr(rc, "%s/%s is being refreshed by %s; try "
			    "again in a moment", org, name, c.lease_owner);
		goto out;
	}
	rc = call_and_stage(v, cfg, &leased, &admin, tok, out);
	if (rc == OV_OK && strcmp(c.grant, "client_credentials") == 0) {
		out->tested = 1;
		rc = test_pending(v, cfg, org, name, out);
	}
	if (rc == OV_OK)
		rc = promote_refresh(v, cfg, org, name, out);
	/* The refresh gave the lease back; a failed step did not. */
	if (vault_lease_release(v, c.id, cfg->owner) != OV_OK)
		log_warnx("%s", ov_errmsg());
out:
	secret_free(tok);
	out->duration_ms = timefmt_now_ms() - t0;
	/* The caller reports a failure; serve's log and -v get this line. */
	log_info("secret regenerate org=%s "
	    "credential=%s admin=%s step=%s outcome=%s http=%ld "
	    "duration_ms=%lld", org, name, admin_name,
	    rot_regen_step_str(out->step), out->step == REGEN_DONE ? "ok" :
	    out->error[0] ? out->error : "error", out->http_status,
	    (long long)out->duration_ms);
	return rc;
}

/*
 * refresh.c — one refresh attempt: claim the lease, open the secrets,
 * send the request, classify the answer, record it in one transaction.
 * Used by the scheduler for every credential and by the CLI for one;
 * rot_request_run() also sends secret_test.c's unrecorded request.
 */
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <sodium.h>

#include "rotation/provider.h"
#include "rotation/refresh_int.h"
#include "util/log.h"
#include "util/timefmt.h"

void
rot_owner_init(struct rot_config *cfg)
{
	char host[64] = "localhost";

	gethostname(host, sizeof(host) - 1);
	host[strcspn(host, ":")] = '\0';
	snprintf(cfg->owner, sizeof(cfg->owner), "%s:%ld:%08x", host,
	    (long)getpid(), randombytes_random());
}

int
rot_owner_dead(const char *owner)
{
	char host[64] = "localhost", *end;
	const char *p = strchr(owner, ':');
	long pid;

	gethostname(host, sizeof(host) - 1);
	host[strcspn(host, ":")] = '\0';
	if (p == NULL || (size_t)(p - owner) != strlen(host) ||
	    strncmp(owner, host, strlen(host)) != 0)
		return 0;	/* another host: wait out the lease */
	pid = strtol(p + 1, &end, 10);
	if (pid <= 0 || *end != ':')
		return 0;
	return kill((pid_t)pid, 0) == -1 && errno == ESRCH;
}

double
rot_rand01(void)
{
	return (double)randombytes_uniform(1000000) / 1000000.0;
}

/*
 * A secret that does not open where the credential says it goes is never
 * sent anywhere: the first to find out marks the credential tampered
 * (DESIGN.md "What a secret is bound to").  The message stays the one
 * that says why; the caller logs it.
 */
static void
tampered_check(struct vault *v, const struct vault_cred *c, enum ov_rc rc)
{
	char why[OV_ERRMSG_MAX];

	if (rc != OV_EINTEGRITY && rc != OV_ECRYPTO)
		return;
	snprintf(why, sizeof(why), "%s", ov_errmsg());
	if (vault_cred_tampered(v, c->id, why) != OV_OK)
		log_warnx("marking %s/%s tampered: %s", c->org, c->name,
		    ov_errmsg());
	ov_seterr(rc, "%s/%s is tampered: %s", c->org, c->name, why);
}

/* Starts c's request with the client secret of stage (NULL: current). */
static enum ov_rc
request_start(struct vault *v, const struct rot_config *cfg,
    struct oauth_pool *pool, const struct vault_cred *c, const char *stage,
    oauth_done_cb cb, void *arg)
{
	struct secret *cs = NULL, *rt = NULL;
	struct oauth_request req;
	enum ov_rc rc;

	if (strcmp(c->status, "tampered") == 0)
		return ov_seterr(OV_EINTEGRITY, "%s/%s is tampered: nothing is "
		    "sent for it until its secrets are put again (cred put "
		    "--secret-file)", c->org, c->name);
	if ((rc = vault_secret_open_for(v, c, VAULT_CLIENT_SECRET, stage,
	    &cs)) != OV_OK || (strcmp(c->grant, "refresh_token") == 0 &&
	    (rc = vault_secret_open_for(v, c, VAULT_REFRESH_TOKEN, NULL,
	    &rt)) != OV_OK)) {
		tampered_check(v, c, rc);
		goto out;
	}
	req = (struct oauth_request){
		.token_url = c->token_url, .client_id = c->client_id,
		.client_secret = cs, .refresh_token = rt,
		.auth_basic = strcmp(c->auth, "client_secret_basic") == 0,
		.scope = c->expected_scope,
		.connect_timeout_ms = cfg->connect_timeout_ms,
		.timeout_ms = cfg->timeout_ms,
	};
	if (oauth_pool_add(pool, &req, provider_default_lifetime(c->provider),
	    cb, arg) != 0)
		rc = ov_seterr(OV_EINTERNAL, "cannot start a token request for "
		    "%s/%s", c->org, c->name);
out:
	secret_free(cs);
	secret_free(rt);
	return rc;
}

enum ov_rc
rot_attempt_start(struct vault *v, const struct rot_config *cfg,
    struct oauth_pool *pool, const struct vault_cred *c, const char *stage,
    oauth_done_cb cb, void *arg)
{
	return request_start(v, cfg, pool, c, stage, cb, arg);
}

static void
log_outcome(const struct vault_cred *c, const struct vault_refresh *r)
{
	char next[32];

	if (r->next_refresh_at)
		timefmt_rfc3339(r->next_refresh_at, next, sizeof(next));
	else
		snprintf(next, sizeof(next), "none");
	(r->access_token ? log_info : log_warnx)("refresh org=%s "
	    "credential=%s outcome=%s status=%s http=%ld error=%s "
	    "duration_ms=%lld next=%s", c->org, c->name, r->outcome,
	    r->status, r->http_status, r->oauth_error && *r->oauth_error ?
	    r->oauth_error : "-", (long long)r->duration_ms, next);
}

int
rot_try_pending(const struct vault_cred *c, const struct oauth_result *res,
    int tried)
{
	return !tried && c->has_pending_secret &&
	    (res->outcome == OAUTH_INVALID_CLIENT ||
	    res->outcome == OAUTH_SECRET_OR_GRANT);
}

void
rot_done_prepare(const struct rot_config *cfg, struct rot_done *d)
{
	if (d->at == 0)
		d->at = timefmt_now();
	json_decref(d->rec.detail);
	json_decref(d->rec.drift);
	rot_classify(cfg, &d->cred, &d->res, d->at, rot_rand01(), &d->rec);
	d->rec.cred = &d->cred;
	if (d->pending_tried && d->rec.detail)
		json_object_set_new(d->rec.detail, "pending_secret_tried",
		    json_true());
	d->rc = OV_EINTERNAL;
}

/* Records d under its own actor (an API caller's) when it has one.
 * When the pending secret worked where the current one was refused, it
 * becomes current in the same transaction as the new token. */
static enum ov_rc
record(struct vault *v, struct rot_done *d)
{
	char saved[OV_ACTOR_MAX + 1];
	enum ov_rc rc;

	snprintf(saved, sizeof(saved), "%s", vault_actor(v));
	if (d->actor[0]) {
		vault_set_actor(v, d->actor);
		vault_set_request_id(v, d->request_id);
	}
	if (d->promote && vault_secret_promote(v, d->cred.org, d->cred.name) !=
	    OV_OK)
		log_warnx("promoting the pending secret of %s/%s: %s",
		    d->cred.org, d->cred.name, ov_errmsg());
	rc = vault_refresh_record(v, d->cred.id, &d->rec);
	if (d->actor[0]) {
		vault_set_actor(v, saved);
		vault_set_request_id(v, NULL);
	}
	return rc;
}

/* One record alone; a rotated refresh token is worth a few retries. */
static enum ov_rc
record_alone(struct vault *v, struct rot_done *d)
{
	enum ov_rc rc = OV_EINTERNAL;

	for (int tries = 0; tries < 3; tries++) {
		rc = record(v, d);
		if (rc != OV_EBUSY && rc != OV_EIO)
			break;
		log_warnx("recording the refresh of %s/%s: %s; retrying",
		    d->cred.org, d->cred.name, ov_errmsg());
	}
	return rc;
}

void
rot_done_record(struct vault *v, struct rot_done *d, size_t n)
{
	for (size_t i = 0; i < n; i++)
		d[i].rc = record(v, &d[i]);
}

enum ov_rc
rot_done_commit(struct vault *v, const struct rot_config *cfg,
    struct rot_done *d, size_t n)
{
	int batched = 0;

	if (n > 1 && vault_begin(v) == OV_OK) {
		rot_done_record(v, d, n);
		batched = vault_commit(v) == OV_OK;
	}
	return rot_done_settle(v, cfg, d, n, batched);
}

enum ov_rc
rot_done_settle(struct vault *v, const struct rot_config *cfg,
    struct rot_done *d, size_t n, int batched)
{
	enum ov_rc first = OV_OK;

	for (size_t i = 0; i < n; i++) {
		if (!batched || d[i].rc == OV_EBUSY || d[i].rc == OV_EIO)
			d[i].rc = record_alone(v, &d[i]);
		d[i].parked = d[i].rc != OV_OK && d[i].may_park &&
		    d[i].res.outcome == OAUTH_OK;
		if (d[i].rc == OV_OK)
			log_outcome(&d[i].cred, &d[i].rec);
		else {
			log_warnx("refresh of %s/%s not recorded: %s%s",
			    d[i].cred.org, d[i].cred.name, ov_errmsg(),
			    d[i].parked ? "; its tokens are kept in memory "
			    "and recorded once the database takes them" :
			    d[i].res.refresh_token ? " (a rotated refresh "
			    "token was lost)" : "");
			if (first == OV_OK)
				first = d[i].rc;
		}
		if (cfg->listener && !(d[i].parked && d[i].told_parked)) {
			struct rot_result r = {
				.cred = &d[i].cred, .outcome = d[i].res.outcome,
				.recorded = d[i].rc == OV_OK, .rec = &d[i].rec,
				.parked = d[i].parked, .again = d[i].told_parked,
				.duration_ms = d[i].res.duration_ms,
			};

			cfg->listener(cfg->listener_arg, &r);
			d[i].told_parked |= d[i].parked;
		}
		if (d[i].parked)
			continue;	/* the caller's to record later */
		json_decref(d[i].rec.detail);
		json_decref(d[i].rec.drift);
		d[i].rec.detail = d[i].rec.drift = NULL;
		oauth_result_cleanup(&d[i].res);
	}
	return first;
}

/* A single request waits for its one transfer. */
struct one {
	struct oauth_result	res;
	int			done;
};

static void
one_done(void *arg, struct oauth_result *r)
{
	struct one *o = arg;

	o->res = *r;
	o->done = 1;
}

enum ov_rc
rot_request_run(struct vault *v, const struct rot_config *cfg,
    const struct vault_cred *c, const char *stage, struct oauth_result *res)
{
	struct oauth_pool *pool;
	struct one o;
	enum ov_rc rc;

	if ((pool = oauth_pool_new(cfg->retry_after_cap_s)) == NULL)
		return ov_seterr(OV_ENOMEM, "out of memory");
	memset(&o, 0, sizeof(o));
	if ((rc = request_start(v, cfg, pool, c, stage, one_done, &o)) ==
	    OV_OK) {
		while (!o.done)
			oauth_pool_run(pool, 1000, -1);
		*res = o.res;
	}
	oauth_pool_free(pool);
	return rc;
}

enum ov_rc
rot_refresh_one(struct vault *v, const struct rot_config *cfg,
    const struct vault_cred *c, enum oauth_outcome *outcome,
    struct vault_cred *after)
{
	struct vault_cred leased;
	struct rot_done d;
	int64_t now = timefmt_now();
	const char *holder = c->lease_owner[0] && rot_owner_dead(
	    c->lease_owner) ? c->lease_owner : NULL;
	enum ov_rc rc;

	if (holder) {
		/* A refresher died during an attempt that may have rotated
		 * the refresh token: hold the credential and say so.  Only a
		 * second, deliberate refresh (of the held credential) may
		 * replay its token. */
		if ((rc = vault_note_unknown(v, c->id, holder)) != OV_OK ||
		    (rc = vault_cred_get(v, c->org, c->name, after)) != OV_OK)
			return rc;
		if (strcmp(after->status, "unknown") == 0)
			return ov_seterr(OV_ECONFLICT, "%s/%s is held: its last "
			    "refresher (%s) died during an attempt that may "
			    "have rotated the refresh token, and presenting "
			    "the stored one could make the provider revoke the "
			    "whole token family; re-authorize (cred put "
			    "--refresh-token-file), or run this refresh again "
			    "to retry on purpose", c->org, c->name, holder);
	}
	rc = vault_lease_claim(v, c->id, cfg->owner, holder, now, now +
	    cfg->timeout_ms / 1000 + 60, VAULT_CLAIM_OPERATOR, -1, &leased);
	if (rc == OV_ECONFLICT)
		return ov_seterr(rc, "%s/%s is being refreshed by %s right "
		    "now; try again in a moment", c->org, c->name,
		    c->lease_owner[0] ? c->lease_owner : "another process");
	if (rc != OV_OK)
		return rc;
	memset(&d, 0, sizeof(d));
	if ((rc = rot_request_run(v, cfg, &leased, NULL, &d.res)) != OV_OK) {
		vault_lease_release(v, c->id, cfg->owner);
		return rc;
	}
	if (rot_try_pending(&leased, &d.res, 0)) {
		struct oauth_result again;

		log_info("%s/%s: the current client secret was refused; trying "
		    "the pending one", c->org, c->name);
		if (rot_request_run(v, cfg, &leased, "pending", &again) ==
		    OV_OK) {
			oauth_result_cleanup(&d.res);
			d.res = again;
			d.pending_tried = 1;
			d.promote = again.outcome == OAUTH_OK;
		} else
			log_warnx("%s/%s: cannot try the pending secret: %s",
			    c->org, c->name, ov_errmsg());
	}
	*outcome = d.res.outcome;
	d.cred = leased;
	rot_done_prepare(cfg, &d);
	if ((rc = rot_done_commit(v, cfg, &d, 1)) == OV_OK)
		rc = vault_cred_get(v, c->org, c->name, after);
	return rc;
}

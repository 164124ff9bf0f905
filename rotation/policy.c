/*
 * policy.c — when to refresh, how long to back off, what an outcome
 * does to a credential (DESIGN.md "Rotation", issue rules):
 *
 *   next = issued + lifetime × fraction (or + absolute age)
 *          − U[0, jitter × lifetime)
 *   next ≤ expires − margin, margin = min(60 s, lifetime / 10)
 *   next ≤ refresh-token expiry − its margin, when the provider says
 *
 *   outcome         status                      next attempt
 *   ok              active                      policy above
 *   revoked         revoked                     none (operator)
 *   invalid_client  invalid_client              backoff cap
 *   failing         failing                     backoff cap
 *   rate_limited    failing after N in a row    Retry-After (capped)
 *   transient       failing after N in a row    full-jitter backoff
 *   unknown         remembered for the next answer; held for an operator
 *                   (status unknown, no replay) unless the provider is
 *                   known to keep its refresh token: then as transient
 */
#include <stdio.h>
#include <string.h>

#include "rotation/rotation.h"
#include "util/timefmt.h"

long
rot_safety_margin(long lifetime)
{
	long tenth = lifetime / 10;

	return tenth < 60 ? (tenth < 1 ? 1 : tenth) : 60;
}

int64_t
rot_next_refresh(const struct vault_cred *c, int64_t issued_at, long lifetime,
    double rand01, double jitter)
{
	int64_t next, latest = issued_at + lifetime -
	    rot_safety_margin(lifetime);

	if (c->refresh_age_s > 0)
		next = issued_at + c->refresh_age_s;
	else
		next = issued_at + (int64_t)((double)lifetime *
		    (c->refresh_fraction > 0 ? c->refresh_fraction : 0.75));
	next -= (int64_t)(rand01 * jitter * (double)lifetime);
	if (next > latest)
		next = latest;
	if (next <= issued_at)
		next = issued_at + 1;
	return next;
}

long
rot_backoff(int failures, long base, long cap, double rand01)
{
	long ceiling = base;

	for (int i = 1; i < failures && ceiling < cap; i++)
		ceiling *= 2;
	if (ceiling > cap)
		ceiling = cap;
	/* Full jitter (uniform in [0, ceiling]), at least one second. */
	ceiling = (long)(rand01 * (double)(ceiling + 1));
	return ceiling < 1 ? 1 : ceiling;
}

int
rot_scope_overbroad(const char *s)
{
	size_t n = strlen(s);

	return strcmp(s, "*") == 0 || strcmp(s, "admin") == 0 ||
	    (n >= 2 && strcmp(s + n - 2, ":*") == 0) ||
	    (n >= 6 && strcmp(s + n - 6, ":admin") == 0);
}

/* True when the space-separated set holds token tok of length n. */
static int
set_has(const char *set, const char *tok, size_t n)
{
	while (*set) {
		size_t m = strcspn(set, " ");

		if (m == n && strncmp(set, tok, n) == 0)
			return 1;
		set += m;
		while (*set == ' ')
			set++;
	}
	return 0;
}

/* Appends the tokens of a that are not in b to arr. */
static void
set_minus(const char *a, const char *b, json_t *arr)
{
	while (*a) {
		size_t m = strcspn(a, " ");

		if (m > 0 && !set_has(b, a, m))
			json_array_append_new(arr, json_stringn(a, m));
		a += m;
		while (*a == ' ')
			a++;
	}
}

json_t *
rot_scope_drift(const char *expected, const char *granted)
{
	json_t *missing = json_array(), *extra = json_array();
	json_t *broad = json_array(), *o;
	size_t i;
	json_t *v;

	set_minus(expected, granted, missing);
	set_minus(granted, expected, extra);
	json_array_foreach(extra, i, v)
		if (rot_scope_overbroad(json_string_value(v)))
			json_array_append(broad, v);
	/* An empty expected set means "not configured": only flag breadth. */
	if (*expected == '\0') {
		json_array_clear(extra);
		json_array_clear(missing);
	}
	if (json_array_size(missing) + json_array_size(extra) +
	    json_array_size(broad) == 0) {
		json_decref(missing);
		json_decref(extra);
		json_decref(broad);
		return NULL;
	}
	o = json_pack("{s:o, s:o, s:o, s:s, s:s}", "missing", missing,
	    "extra", extra, "overbroad", broad, "expected", expected,
	    "granted", granted);
	return o;
}

/*
 * A scope_drift event when the grant drifts, or drifts differently than
 * the last grant; scope_drift.resolved when it matches again.  The same
 * drift on every refresh is one event, not thousands.
 */
static json_t *
drift_event(const struct vault_cred *c, const char *granted)
{
	json_t *now = rot_scope_drift(c->expected_scope, granted), *before;
	int had_token = c->token_generation > 0;

	before = had_token ? rot_scope_drift(c->expected_scope,
	    c->granted_scope) : NULL;
	if (now && before && strcmp(c->granted_scope, granted) == 0) {
		json_decref(now);
		now = NULL;		/* unchanged drift */
	} else if (now == NULL && before)
		now = json_pack("{s:s, s:s, s:b}", "expected",
		    c->expected_scope, "granted", granted, "resolved", 1);
	json_decref(before);
	return now;
}

static const char *
failure_status(const struct rot_config *cfg, const struct vault_cred *c,
    int failures)
{
	if (failures >= cfg->failing_after)
		return "failing";
	return strcmp(c->status, "failing") == 0 ? "failing" : "active";
}

/* Context for an operator reading a revocation. */
static json_t *
revocation_detail(const struct vault_cred *c, int64_t now)
{
	json_t *d = json_object();
	char t[32];

	if (c->last_success_at)
		json_object_set_new(d, "last_success_at", json_string(
		    timefmt_rfc3339(c->last_success_at, t, sizeof(t))));
	if (c->refresh_token_set_at)
		json_object_set_new(d, "refresh_token_age_s",
		    json_integer(now - c->refresh_token_set_at));
	if (c->issued_at)
		json_object_set_new(d, "token_age_s",
		    json_integer(now - c->issued_at));
	json_object_set_new(d, "attempts",
	    json_integer(c->consecutive_failures + 1));
	if (c->unknown_outcome_at) {
		json_object_set_new(d, "earlier_outcome_unknown_at",
		    json_string(timefmt_rfc3339(c->unknown_outcome_at, t,
		    sizeof(t))));
		json_object_set_new(d, "likely_cause", json_string("an "
		    "earlier refresh was sent but got no answer; the provider "
		    "probably rotated the refresh token then"));
	}
	return d;
}

void
rot_classify(const struct rot_config *cfg, const struct vault_cred *c,
    const struct oauth_result *res, int64_t now, double rand01,
    struct vault_refresh *out)
{
	int failures = c->consecutive_failures + 1;

	memset(out, 0, sizeof(*out));
	out->owner = cfg->owner;
	out->outcome = oauth_outcome_str(res->outcome);
	out->http_status = res->http_status;
	out->oauth_error = res->error;
	out->description = res->description;
	out->duration_ms = res->duration_ms;
	out->consecutive_failures = failures;
	switch (res->outcome) {
	case OAUTH_OK:
		out->status = "active";
		out->event_kind = "refresh.ok";
		out->consecutive_failures = 0;
		out->access_token = res->access_token;
		out->refresh_token = res->refresh_token;
		out->token_type = res->token_type;
		out->granted_scope = res->granted_scope;
		out->issued_at = now;
		out->expires_at = now + res->expires_in;
		out->next_refresh_at = rot_next_refresh(c, now,
		    res->expires_in, rand01, cfg->jitter);
		/* A known refresh-token expiry caps the deadline too; a kept
		 * refresh token keeps its known expiry. */
		out->refresh_token_expires_at = res->refresh_expires_in > 0 ?
		    now + res->refresh_expires_in : res->refresh_token ? 0 :
		    c->refresh_token_expires_at;
		if (out->refresh_token_expires_at > now) {
			int64_t rt_latest = out->refresh_token_expires_at -
			    rot_safety_margin(out->refresh_token_expires_at -
			    now);

			if (rt_latest < out->next_refresh_at)
				out->next_refresh_at = rt_latest > now ?
				    rt_latest : now + 1;
		}
		out->drift = drift_event(c, res->granted_scope);
		out->detail = json_pack("{s:I, s:b}", "expires_in",
		    (json_int_t)res->expires_in, "refresh_token_rotated",
		    res->refresh_token != NULL);
		break;
	case OAUTH_REVOKED:
		out->status = "revoked";
		out->event_kind = "credential.revoked";
		out->detail = revocation_detail(c, now);
		break;
	case OAUTH_INVALID_CLIENT:
		out->status = "invalid_client";
		out->event_kind = "credential.invalid_client";
		out->next_refresh_at = now + cfg->backoff_cap_s;
		out->detail = revocation_detail(c, now);
		break;
	case OAUTH_SECRET_OR_GRANT:
		/* Either fix may be the one: say both, everywhere. */
		out->status = "secret_or_grant_refused";
		out->event_kind = "credential.secret_or_grant_refused";
		out->next_refresh_at = now + cfg->backoff_cap_s;
		out->detail = revocation_detail(c, now);
		json_object_set_new(out->detail, "fix", json_string("the "
		    "provider refused either the client secret or the refresh "
		    "token and does not say which: put a new client secret "
		    "(cred put --secret-file), or re-authorize for a new "
		    "refresh token (cred put --refresh-token-file)"));
		break;
	case OAUTH_FAILING:
		out->status = "failing";
		out->event_kind = "refresh.failed";
		out->next_refresh_at = now + cfg->backoff_cap_s;
		break;
	case OAUTH_RATE_LIMITED:
		out->status = failure_status(cfg, c, failures);
		out->event_kind = "refresh.rate_limited";
		out->next_refresh_at = now + (res->retry_after_s >= 0 ?
		    res->retry_after_s : rot_backoff(failures,
		    cfg->backoff_base_s, cfg->backoff_cap_s, rand01));
		out->detail = json_pack("{s:I}", "retry_after_s",
		    (json_int_t)res->retry_after_s);
		break;
	case OAUTH_UNKNOWN:
		out->unknown_outcome = 1;
		if (!c->refresh_token_kept) {
			/* The provider may have rotated the token we sent:
			 * a replay could revoke the family.  Hold it for an
			 * operator (DESIGN.md: never replayed blindly). */
			out->status = "unknown";
			out->event_kind = "refresh.outcome_unknown";
			out->next_refresh_at = 0;
			out->detail = json_pack("{s:s}", "action", "held: run "
			    "`orgvault cred refresh` to retry, or put a new "
			    "refresh token");
			break;
		}
		/* The provider keeps its refresh token: a retry is safe. */
		/* FALLTHROUGH */
	case OAUTH_TRANSIENT:
	case OAUTH_OUTCOME_COUNT:	/* not an outcome: as transient */
		out->status = failure_status(cfg, c, failures);
		out->event_kind = res->outcome == OAUTH_UNKNOWN ?
		    "refresh.outcome_unknown" : "refresh.failed";
		out->next_refresh_at = now + rot_backoff(failures,
		    cfg->backoff_base_s, cfg->backoff_cap_s, rand01);
		break;
	}
	/* Do not outlive a still-valid token by waiting out a backoff. */
	if (res->outcome == OAUTH_TRANSIENT && c->expires_at > now &&
	    out->next_refresh_at > c->expires_at)
		out->next_refresh_at = c->expires_at;
}

void
rot_config_defaults(struct rot_config *cfg)
{
	memset(cfg, 0, sizeof(*cfg));
	cfg->connect_timeout_ms = OV_CONNECT_TIMEOUT_MS;
	cfg->timeout_ms = OV_REQUEST_TIMEOUT_MS;
	cfg->host_concurrency = 8;
	cfg->host_rate = 240;
	cfg->host_rate_window_s = 60;
	cfg->retry_after_cap_s = OV_RETRY_AFTER_CAP_S;
	cfg->backoff_base_s = OV_BACKOFF_BASE_S;
	cfg->backoff_cap_s = OV_BACKOFF_CAP_S;
	cfg->jitter = 0.05;
	cfg->failing_after = 3;
	cfg->host_pause_clients = 3;
}

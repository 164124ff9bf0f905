/* render.c — JSON views of vault rows (render.h). */
#include <stdio.h>
#include <string.h>

#include "util/timefmt.h"
#include "vault/render.h"

const char *
render_time(int64_t secs, char *buf, size_t len)
{
	return timefmt_rfc3339(secs, buf, len);
}

json_t *
render_org(const struct vault_org *o)
{
	char c[32], u[32];

	return json_pack("{s:s, s:s, s:s, s:b, s:I, s:s, s:s}",
	    "slug", o->slug, "name", o->name, "external_id", o->external_id,
	    "enabled", o->enabled, "credentials", (json_int_t)o->credentials,
	    "created_at", render_time(o->created_at, c, sizeof(c)),
	    "updated_at", render_time(o->updated_at, u, sizeof(u)));
}

json_t *
render_time_or_null(int64_t secs)
{
	char t[32];

	return secs ? json_string(render_time(secs, t, sizeof(t))) :
	    json_null();
}

/* Never a secret: only whether one exists. */
json_t *
render_cred(const struct vault_cred *cr)
{
	char c[32], u[32], refresh_at[32];
	json_t *j;

	if (cr->refresh_age_s > 0)
		snprintf(refresh_at, sizeof(refresh_at), "%llds",
		    (long long)cr->refresh_age_s);
	else
		snprintf(refresh_at, sizeof(refresh_at), "%g",
		    cr->refresh_fraction);
	j = json_pack("{s:s, s:s, s:s, s:s, s:s, s:s, s:s, s:s, s:s, s:s, "
	    "s:s, s:b, s:b, s:s, s:s, s:o, s:o, s:o, s:s, s:o, s:i, s:s, "
	    "s:o}",
	    "org", cr->org, "name", cr->name, "provider", cr->provider,
	    "region", cr->region, "token_url", cr->token_url,
	    "client_id", cr->client_id, "grant", cr->grant, "auth", cr->auth,
	    "expected_scope", cr->expected_scope, "refresh_at", refresh_at,
	    "status", cr->status,
	    "has_refresh_token", cr->has_refresh_token,
	    "has_pending_secret", cr->has_pending_secret,
	    "created_at", render_time(cr->created_at, c, sizeof(c)),
	    "updated_at", render_time(cr->updated_at, u, sizeof(u)),
	    "expires_at", render_time_or_null(cr->expires_at),
	    "next_refresh_at", render_time_or_null(cr->next_refresh_at),
	    "last_success_at", render_time_or_null(cr->last_success_at),
	    "granted_scope", cr->granted_scope,
	    "last_attempt_at", render_time_or_null(cr->last_attempt_at),
	    "consecutive_failures", cr->consecutive_failures,
	    "last_error", cr->last_error,
	    "refresh_token_expires_at",
	    render_time_or_null(cr->refresh_token_expires_at));
	if (j)
		json_object_set_new(j, "health", json_string(vault_health_str(
		    vault_cred_health(cr, timefmt_now()))));
	return j;
}

json_t *
render_event(const struct vault_event *e)
{
	char t[40];
	json_t *detail = json_loads(e->detail, 0, NULL);

	return json_pack("{s:I, s:s, s:s, s:s, s:s, s:s, s:o}",
	    "id", (json_int_t)e->id,
	    "time", timefmt_rfc3339_ms(e->time_ms, t, sizeof(t)),
	    "actor", e->actor, "org", e->org, "credential", e->credential,
	    "kind", e->kind, "detail", detail ? detail : json_object());
}

/* Never the key or its hash: the key_id names it. */
json_t *
render_apikey(const struct vault_apikey *k)
{
	char c[32];

	return json_pack("{s:s, s:s, s:s, s:s, s:s, s:s, s:o, s:o, s:b, s:o, "
	    "s:b}", "name", k->name, "role", k->role, "orgs", k->orgs,
	    "credentials", k->credentials, "key_id", k->key_id,
	    "created_at", render_time(k->created_at, c, sizeof(c)),
	    "last_used_at", render_time_or_null(k->last_used_at),
	    "revoked_at", render_time_or_null(k->revoked_at),
	    "revoked", k->revoked_at != 0,
	    "expires_at", render_time_or_null(k->expires_at),
	    "expired", vault_apikey_expired(k, timefmt_now()));
}

/* Never the signing secret. */
json_t *
render_webhook(const struct vault_webhook *w)
{
	json_t *events = json_array();
	char c[32];
	size_t n;

	for (const char *p = w->events; *p; p += n + (p[n] == ',')) {
		n = strcspn(p, ",");
		json_array_append_new(events, json_stringn(p, n));
	}
	return json_pack("{s:I, s:s, s:o, s:s, s:I, s:I, s:o}",
	    "id", (json_int_t)w->id, "url", w->url, "events", events,
	    "created_at", render_time(w->created_at, c, sizeof(c)),
	    "pending", (json_int_t)w->pending,
	    "delivered", (json_int_t)w->delivered,
	    "last_delivered_at", render_time_or_null(w->last_delivered_at));
}

json_t *
render_delivery(const struct vault_delivery *d)
{
	char c[32];

	return json_pack("{s:I, s:I, s:s, s:s, s:I, s:i, s:o, s:s, s:s, "
	    "s:o, s:b, s:o}",
	    "id", (json_int_t)d->id, "webhook_id", (json_int_t)d->webhook_id,
	    "url", d->url, "event", d->event,
	    "audit_event_id", (json_int_t)d->event_id,
	    "attempts", d->attempts,
	    "last_status", d->last_status ? json_integer(d->last_status) :
	    json_null(), "last_error", d->last_error,
	    "created_at", render_time(d->created_at, c, sizeof(c)),
	    "next_attempt_at", d->delivered_at ? json_null() :
	    render_time_or_null(d->next_attempt_at),
	    "delivered", d->delivered_at != 0,
	    "delivered_at", render_time_or_null(d->delivered_at));
}

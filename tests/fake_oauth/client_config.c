/*
 * client_config.c — a client's configuration and its JSON form, as PUT,
 * PATCHed and read back through /_admin/clients/{id}.  Validation is
 * strict (unknown fields and wrong types are 400) so that a typo in a test
 * fails loudly instead of silently testing the default.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "clients_int.h"

static const char *const behaviour_names[FO_B_COUNT] = {
	[FO_B_OK] = "ok",
	[FO_B_INVALID_GRANT] = "invalid_grant",
	[FO_B_INVALID_CLIENT] = "invalid_client",
	[FO_B_INVALID_SCOPE] = "invalid_scope",
	[FO_B_UNAUTHORIZED_CLIENT] = "unauthorized_client",
	[FO_B_UNSUPPORTED_GRANT_TYPE] = "unsupported_grant_type",
	[FO_B_INVALID_REQUEST] = "invalid_request",
	[FO_B_SERVICENOW_401] = "servicenow_401",
	[FO_B_429] = "429",
	[FO_B_500] = "500",
	[FO_B_503] = "503",
	[FO_B_SLOW] = "slow",
	[FO_B_HANG] = "hang",
	[FO_B_RESET] = "reset",
	[FO_B_GARBAGE] = "garbage",
	[FO_B_HUGE] = "huge",
	[FO_B_MISSING_ACCESS_TOKEN] = "missing_access_token",
	[FO_B_MISTYPED] = "mistyped",
	[FO_B_HTML_500] = "html_500",
};

/* Fields GET adds that a PUT of the same object may carry back. */
static const char *const output_only[] = {
	"requests", "successes", "stale_presentations",
	"current_refresh_token", "issued_refresh_tokens", "family_revoked",
	"access_tokens_issued", "secret_regenerations", NULL
};

const char *
fo_behaviour_str(enum fo_behaviour b)
{
	return b < FO_B_COUNT ? behaviour_names[b] : "?";
}

int
fo_behaviour_parse(const char *name, enum fo_behaviour *out)
{
	int i;

	for (i = 0; i < FO_B_COUNT; i++) {
		if (strcmp(behaviour_names[i], name) == 0) {
			*out = (enum fo_behaviour)i;
			return 0;
		}
	}
	return -1;
}

void
fo_config_defaults(struct fo_config *cfg)
{
	memset(cfg, 0, sizeof(*cfg));
	cfg->lifetime = 3600;
	cfg->rotate_refresh = true;
	cfg->behaviour = FO_B_OK;
	cfg->api_behaviour = FO_B_OK;
	cfg->retry_after = 2;
}

void
fo_config_copy(struct fo_config *dst, const struct fo_config *src)
{
	size_t n = src->script_len * sizeof(*src->script);

	*dst = *src;
	dst->secret = fo_xstrdup(src->secret);
	dst->scope = fo_xstrdup(src->scope);
	dst->script = NULL;
	if (src->script_len > 0) {
		dst->script = fo_xmalloc(n);
		memcpy(dst->script, src->script, n);
	}
}

void
fo_config_cleanup(struct fo_config *cfg)
{
	free(cfg->secret);
	free(cfg->scope);
	free(cfg->script);
	memset(cfg, 0, sizeof(*cfg));
}

static int
get_string(json_t *v, const char *key, bool nullable, char **out, char *err,
    size_t errlen)
{
	if (nullable && json_is_null(v)) {
		free(*out);
		*out = NULL;
		return 0;
	}
	if (!json_is_string(v) || json_string_length(v) > FO_FIELD_MAX ||
	    strlen(json_string_value(v)) != json_string_length(v)) {
		snprintf(err, errlen, "%s: expected a string%s", key,
		    nullable ? " or null" : "");
		return -1;
	}
	free(*out);
	*out = fo_xstrdup(json_string_value(v));
	return 0;
}

static int
get_long(json_t *v, const char *key, long lo, long hi, long *out, char *err,
    size_t errlen)
{
	if (!json_is_integer(v) || json_integer_value(v) < lo ||
	    json_integer_value(v) > hi) {
		snprintf(err, errlen, "%s: expected an integer in [%ld, %ld]",
		    key, lo, hi);
		return -1;
	}
	*out = (long)json_integer_value(v);
	return 0;
}

static int
get_bool(json_t *v, const char *key, bool *out, char *err, size_t errlen)
{
	if (!json_is_boolean(v)) {
		snprintf(err, errlen, "%s: expected true or false", key);
		return -1;
	}
	*out = json_is_true(v);
	return 0;
}

static int
get_behaviour(json_t *v, const char *key, enum fo_behaviour *out, char *err,
    size_t errlen)
{
	if (!json_is_string(v) ||
	    fo_behaviour_parse(json_string_value(v), out) != 0) {
		snprintf(err, errlen, "%s: unknown behaviour", key);
		return -1;
	}
	return 0;
}

static int
get_script(struct fo_config *cfg, json_t *v, char *err, size_t errlen)
{
	enum fo_behaviour *script = NULL;
	size_t i, n;
	json_t *step;

	if (json_is_null(v))
		n = 0;
	else if (json_is_array(v))
		n = json_array_size(v);
	else {
		snprintf(err, errlen, "script: expected an array");
		return -1;
	}
	if (n > 0)
		script = fo_xmalloc(n * sizeof(*script));
	json_array_foreach(v, i, step) {
		if (get_behaviour(step, "script", &script[i], err, errlen)) {
			free(script);
			return -1;
		}
	}
	free(cfg->script);
	cfg->script = script;
	cfg->script_len = n;
	return 0;
}

static bool
is_output_only(const char *key)
{
	int i;

	for (i = 0; output_only[i] != NULL; i++)
		if (strcmp(output_only[i], key) == 0)
			return true;
	return false;
}

static int
apply_field(struct fo_config *cfg, struct fo_config_update *up,
    const char *id, const char *key, json_t *v, char *err, size_t errlen)
{
	const long big = 1000000000L;

	if (strcmp(key, "client_id") == 0) {
		if (!json_is_string(v) || strcmp(json_string_value(v), id)) {
			snprintf(err, errlen, "client_id: not the path's");
			return -1;
		}
		return 0;
	}
	if (strcmp(key, "client_secret") == 0) {
		up->has_secret = true;
		return get_string(v, key, false, &cfg->secret, err, errlen);
	}
	if (strcmp(key, "scope") == 0)
		return get_string(v, key, true, &cfg->scope, err, errlen);
	if (strcmp(key, "refresh_token") == 0) {
		if (json_is_null(v))
			return 0;
		if (!json_is_string(v) || json_string_length(v) == 0 ||
		    json_string_length(v) > FO_FIELD_MAX) {
			snprintf(err, errlen, "refresh_token: bad string");
			return -1;
		}
		up->seed_refresh = json_string_value(v);
		return 0;
	}
	if (strcmp(key, "lifetime") == 0)
		return get_long(v, key, -big, big, &cfg->lifetime, err, errlen);
	if (strcmp(key, "delay_ms") == 0)
		return get_long(v, key, 0, FO_DELAY_MAX_MS, &cfg->delay_ms,
		    err, errlen);
	if (strcmp(key, "retry_after") == 0)
		return get_long(v, key, -big, big, &cfg->retry_after, err,
		    errlen);
	if (strcmp(key, "omit_scope") == 0)
		return get_bool(v, key, &cfg->omit_scope, err, errlen);
	if (strcmp(key, "rotate_refresh") == 0)
		return get_bool(v, key, &cfg->rotate_refresh, err, errlen);
	if (strcmp(key, "echo_refresh") == 0)
		return get_bool(v, key, &cfg->echo_refresh, err, errlen);
	if (strcmp(key, "retry_after_date") == 0)
		return get_bool(v, key, &cfg->retry_after_date, err, errlen);
	if (strcmp(key, "reset") == 0)
		return get_bool(v, key, &up->reset, err, errlen);
	if (strcmp(key, "behaviour") == 0)
		return get_behaviour(v, key, &cfg->behaviour, err, errlen);
	if (strcmp(key, "api_behaviour") == 0)
		return get_behaviour(v, key, &cfg->api_behaviour, err, errlen);
	if (strcmp(key, "script") == 0)
		return get_script(cfg, v, err, errlen);
	if (is_output_only(key))
		return 0;
	snprintf(err, errlen, "unknown field \"%.64s\"", key);
	return -1;
}

int
fo_config_apply(struct fo_config *cfg, struct fo_config_update *up,
    const char *id, json_t *obj, char *err, size_t errlen)
{
	const char *key;
	json_t *v;

	if (!json_is_object(obj)) {
		snprintf(err, errlen, "expected a JSON object");
		return -1;
	}
	json_object_foreach(obj, key, v) {
		if (apply_field(cfg, up, id, key, v, err, errlen) != 0)
			return -1;
	}
	return 0;
}

json_t *
fo_config_json(const struct fo_config *cfg)
{
	json_t *script = json_array();
	size_t i;

	for (i = 0; i < cfg->script_len; i++)
		json_array_append_new(script,
		    json_string(fo_behaviour_str(cfg->script[i])));
	return json_pack("{s:s?,s:I,s:s?,s:b,s:b,s:b,s:s,s:o,s:I,s:I,s:b,s:s}",
	    "client_secret", cfg->secret,
	    "lifetime", (json_int_t)cfg->lifetime,
	    "scope", cfg->scope,
	    "omit_scope", cfg->omit_scope,
	    "rotate_refresh", cfg->rotate_refresh,
	    "echo_refresh", cfg->echo_refresh,
	    "behaviour", fo_behaviour_str(cfg->behaviour),
	    "script", script,
	    "delay_ms", (json_int_t)cfg->delay_ms,
	    "retry_after", (json_int_t)cfg->retry_after,
	    "retry_after_date", cfg->retry_after_date,
	    "api_behaviour", fo_behaviour_str(cfg->api_behaviour));
}

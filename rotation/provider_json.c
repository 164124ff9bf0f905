/*
 * provider_json.c — a credential as a JSON object (an `import` line or
 * an admin API body) read into a struct cred_input and its secrets.
 */
#include <string.h>

#include "rotation/provider.h"

static const char *const text_fields[] = {
	"provider", "region", "instance", "token_url", "client_id", "grant",
	"auth", "scope", "refresh_at", NULL
};
static const char *const secret_fields[] = {
	"client_secret", "refresh_token", NULL
};

static int
listed(const char *const *list, const char *key)
{
	for (; list && *list; list++)
		if (strcmp(*list, key) == 0)
			return 1;
	return 0;
}

static enum ov_rc
text(json_t *o, const char *key, const char **out, const char **bad)
{
	json_t *v = json_object_get(o, key);

	*out = NULL;
	if (v == NULL || json_is_null(v))
		return OV_OK;
	if (!json_is_string(v)) {
		*bad = key;
		return ov_seterr(OV_EINVAL, "%s must be a string", key);
	}
	/* A NUL would cut the value short without a word. */
	if (strlen(json_string_value(v)) != json_string_length(v)) {
		*bad = key;
		return ov_seterr(OV_EINVAL, "%s must not contain a NUL "
		    "character", key);
	}
	*out = json_string_value(v);
	return OV_OK;
}

static enum ov_rc
secret(json_t *o, const char *key, struct secret **out, const char **bad)
{
	json_t *v = json_object_get(o, key);

	*out = NULL;
	if (v == NULL || json_is_null(v))
		return OV_OK;
	*bad = key;
	if (!json_is_string(v) || json_string_length(v) == 0)
		return ov_seterr(OV_EINVAL, "%s must be a non-empty string",
		    key);
	if (json_string_length(v) > OV_SECRET_MAX)
		return ov_seterr(OV_ELIMIT, "%s is longer than %d bytes", key,
		    OV_SECRET_MAX);
	if (strcspn(json_string_value(v), "\r\n") != json_string_length(v))
		return ov_seterr(OV_EINVAL, "%s must be one line (no NUL, CR "
		    "or LF)", key);
	*bad = NULL;
	return secret_from(json_string_value(v), json_string_length(v), out);
}

const char *
provider_error_field(const char *msg)
{
	static const struct { const char *needle, *field; } map[] = {
		{ "Genesys Cloud region", "region" }, { "--region", "region" },
		{ "ServiceNow instance", "instance" },
		{ "--instance", "instance" }, { "token URL", "token_url" },
		{ "--token-url", "token_url" }, { "provider", "provider" },
		{ "client id", "client_id" }, { "--client-id", "client_id" },
		{ "auth must", "auth" }, { "grant must", "grant" },
		{ "scope", "scope" }, { "refresh-at", "refresh_at" },
		{ "client secret", "client_secret" },
		{ "refresh token", "refresh_token" },
	};
	const char *best = NULL, *at = NULL, *p;

	/* The field named first in the message. */
	for (size_t i = 0; i < sizeof(map) / sizeof(map[0]); i++)
		if ((p = strstr(msg, map[i].needle)) && (at == NULL || p < at)) {
			at = p;
			best = map[i].field;
		}
	return best;
}

enum ov_rc
provider_input_json(json_t *o, const char *const *extra,
    struct cred_input *in, struct secret **cs, struct secret **rt,
    const char **bad)
{
	const char **slots[] = { &in->provider, &in->region, &in->instance,
	    &in->token_url, &in->client_id, &in->grant, &in->auth, &in->scope,
	    &in->refresh_at };
	const char *key;
	json_t *v;
	enum ov_rc rc;

	*bad = NULL;
	*cs = *rt = NULL;
	json_object_foreach(o, key, v) {
		if (!listed(text_fields, key) && !listed(secret_fields, key) &&
		    !listed(extra, key)) {
			*bad = key;
			return ov_seterr(OV_EINVAL, "unknown field \"%.64s\"",
			    key);
		}
	}
	for (size_t i = 0; text_fields[i]; i++)
		if ((rc = text(o, text_fields[i], slots[i], bad)) != OV_OK)
			return rc;
	if ((rc = secret(o, "client_secret", cs, bad)) != OV_OK)
		return rc;
	if ((rc = secret(o, "refresh_token", rt, bad)) != OV_OK) {
		secret_free(*cs);
		*cs = NULL;
		return rc;
	}
	return OV_OK;
}

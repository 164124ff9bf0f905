/*
 * provider.h — provider profiles: Genesys Cloud regions, ServiceNow
 * instances, plain OAuth 2.0 endpoints; how a credential's token URL,
 * client authentication and defaults follow from its profile.
 */
#ifndef OV_PROVIDER_H
#define OV_PROVIDER_H

#include <stddef.h>

#include <jansson.h>

#include "util/err.h"
#include "vault/vault.h"

/* Canonical Genesys region key for "us_west_2", "us-west-2" or
 * "usw2.pure.cloud" (any case); OV_EINVAL listing the keys otherwise. */
enum ov_rc	 provider_genesys_region(const char *in, const char **key,
		    const char **domain);
/* The region to filter credentials by: a Genesys region in any spelling
 * provider_genesys_region takes becomes its key; anything else (a
 * ServiceNow instance) is taken as it is. */
const char	*provider_region_filter(const char *in);
/* The Genesys platform API base of a credential, from its token URL:
 * scheme and authority, a leading "login." turned into "api."
 * (https://login.mypurecloud.com/oauth/token -> https://api.mypurecloud.com;
 * an override such as http://127.0.0.1:8080/oauth/token keeps its host). */
enum ov_rc	 provider_genesys_api_base(const struct vault_cred *,
		    char *out, size_t len);
/* Default access-token lifetime in seconds (RFC: absent expires_in). */
long		 provider_default_lifetime(const char *provider);

/*
 * What an operator or API caller says about a credential; NULL fields
 * were not given.  provider_resolve() merges it onto `existing` (NULL on
 * create) and fills a complete, canonical struct vault_cred.
 */
struct cred_input {
	const char	*org, *name;
	const char	*provider, *region, *instance, *token_url;
	const char	*client_id, *grant, *auth, *scope, *refresh_at;
};
enum ov_rc	 provider_resolve(const struct cred_input *,
		    const struct vault_cred *existing, struct vault_cred *out);
/* provider_resolve over the stored credential org/name of in, if any —
 * unless it is tampered or its row does not verify (then marked so):
 * such a row gives nothing, and in must be whole, as for a new one. */
enum ov_rc	 provider_resolve_put(struct vault *, const struct cred_input *,
		    struct vault_cred *out);
/*
 * Reads the fields of cred_input (org and name aside) and the secrets
 * client_secret and refresh_token from a JSON object.  Keys that are
 * neither those nor in `extra` (NULL-terminated) are refused.  On error
 * *bad names the field at fault; in's strings point into o.
 */
/* The JSON field a provider_resolve() message is about, or NULL. */
const char	*provider_error_field(const char *msg);
enum ov_rc	 provider_input_json(json_t *o, const char *const *extra,
		    struct cred_input *in, struct secret **client_secret,
		    struct secret **refresh_token, const char **bad);

#endif

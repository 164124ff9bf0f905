/*
 * oauth.h — the OAuth 2.0 token client: one request per credential,
 * many at once on one thread (libcurl multi), strict response parsing
 * and outcome classification (DESIGN.md "Outcomes").
 *
 * Requests and results hold secrets only as struct secret; the caller
 * frees results with oauth_result_cleanup(), which wipes them.
 */
#ifndef OV_OAUTH_H
#define OV_OAUTH_H

#include <stddef.h>
#include <stdint.h>

#include "util/limits.h"
#include "util/secret.h"

enum oauth_outcome {
	OAUTH_OK,
	OAUTH_REVOKED,		/* invalid_grant */
	OAUTH_INVALID_CLIENT,	/* invalid_client, 401/403, SN access_denied */
	OAUTH_FAILING,		/* invalid_scope, unauthorized_client, ... */
	OAUTH_RATE_LIMITED,	/* 429 */
	OAUTH_TRANSIENT,	/* 5xx, network, timeouts, malformed bodies */
	OAUTH_UNKNOWN,		/* refresh sent, no answer: may have rotated */
	OAUTH_SECRET_OR_GRANT,	/* refresh-token grant refused, and the
				 * answer cannot say whether the secret or
				 * the grant (ServiceNow's 401) */
	OAUTH_OUTCOME_COUNT
};

struct oauth_request {
	const char		*token_url;
	const char		*client_id;
	const struct secret	*client_secret;
	const struct secret	*refresh_token;	/* NULL: client_credentials */
	int			 auth_basic;	/* else client_secret_post */
	const char		*scope;		/* requested; "" to omit */
	long			 connect_timeout_ms, timeout_ms;
};

struct oauth_result {
	enum oauth_outcome	 outcome;
	long			 http_status;		/* 0: no response */
	char			 error[OV_OAUTH_ERROR_MAX + 1];
	char			 description[OV_OAUTH_DESC_MAX + 1];
	long			 retry_after_s;		/* 429 only; -1 none */
	struct secret		*access_token;		/* OAUTH_OK */
	struct secret		*refresh_token;		/* NULL: keep old */
	char			 token_type[16];
	long			 expires_in;
	long			 refresh_expires_in;	/* 0: not said */
	char			 granted_scope[OV_SCOPE_MAX + 1];
	int64_t			 duration_ms;
};

const char	*oauth_outcome_str(enum oauth_outcome);
void		 oauth_result_cleanup(struct oauth_result *);

/*
 * Classifies one HTTP response.  body/len is the (bounded) body,
 * retry_after the raw Retry-After header or NULL, requested_scope the
 * scope asked for (RFC 6749 §3.3: absent scope means that one), and
 * default_lifetime the provider's expires_in default.  Never fails: a
 * response it cannot use is OAUTH_TRANSIENT with error "protocol".
 */
void	oauth_parse_response(long status, const char *body, size_t len,
	    const char *retry_after, const char *requested_scope,
	    long default_lifetime, long retry_after_cap,
	    struct oauth_result *out);
/* A refusal on a refresh-token grant that names neither invalid_client
 * nor invalid_grant (a bare 401/403, ServiceNow's server_error /
 * access_denied) becomes OAUTH_SECRET_OR_GRANT: it cannot tell a wrong
 * secret from a dead refresh token.  refresh_grant: the request sent
 * one. */
void	oauth_refine_for_grant(struct oauth_result *, int refresh_grant);
/*
 * Classifies the Genesys platform API's answer to a secret regeneration
 * (POST /api/v2/oauth/clients/{id}/secret): 200 with {"secret": S}
 * (printable ASCII, no spaces, at most OV_SECRET_MAX) is OAUTH_OK with
 * *secret set; errors are classified as token-endpoint errors are
 * (401/403 OAUTH_INVALID_CLIENT: the admin token lacks the permission,
 * 429 OAUTH_RATE_LIMITED, other 4xx OAUTH_FAILING, else transient).
 */
void	oauth_parse_new_secret(long status, const char *body, size_t len,
	    struct oauth_result *out, struct secret **secret);
/* Retry-After: delta-seconds or HTTP-date; -1 when unusable.  Capped. */
long	oauth_parse_retry_after(const char *, int64_t now, long cap);

/* Wiping allocators for libcurl (it copies headers and bodies). */
int	oauth_global_init(void);

struct oauth_pool;
typedef void (*oauth_done_cb)(void *arg, struct oauth_result *);
struct oauth_pool	*oauth_pool_new(long retry_after_cap);
void			 oauth_pool_free(struct oauth_pool *);
/* Starts a request; done is called from oauth_pool_run().  The request's
 * strings and secrets are copied: the caller may free them at once. */
int			 oauth_pool_add(struct oauth_pool *,
			    const struct oauth_request *, long default_lifetime,
			    oauth_done_cb, void *arg);
/* Waits up to timeout_ms for transfers (or extra fd, or a wakeup) and
 * completes what finished.  Returns the transfers still running. */
int			 oauth_pool_run(struct oauth_pool *, int timeout_ms,
			    int extra_fd);
void			 oauth_pool_wakeup(struct oauth_pool *);

#endif

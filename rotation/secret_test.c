/*
 * secret_test.c — does a staged (pending) client secret work?  One token
 * request with it, like a refresh but recording nothing: no lease, no
 * event, no new token, no change of status or deadline.  The access
 * token it gets proves the secret and is wiped at once; it must never
 * be stored, returned or logged.
 */
#include <string.h>

#include "rotation/refresh_int.h"
#include "util/log.h"

enum ov_rc
rot_secret_test(struct vault *v, const struct rot_config *cfg,
    const struct vault_cred *c, struct oauth_result *res)
{
	struct oauth_result r;
	enum ov_rc rc;

	/* A refresh-token grant would rotate the refresh token at the
	 * provider, and the new one would be thrown away with the test. */
	if (strcmp(c->grant, "client_credentials") != 0)
		return ov_seterr(OV_EUSAGE, "secret test works for "
		    "client_credentials credentials; for refresh_token grants "
		    "promote and refresh");
	if (!c->has_pending_secret)
		return ov_seterr(OV_ENOTFOUND, "%s/%s has no pending client "
		    "secret to test (stage one first)", c->org, c->name);
	memset(&r, 0, sizeof(r));
	if ((rc = rot_request_run(v, cfg, c, "pending", &r)) != OV_OK)
		return rc;
	secret_free(r.access_token);
	secret_free(r.refresh_token);
	r.access_token = r.refresh_token = NULL;
	/* The caller reports the outcome; -v and serve's log get this. */
	log_info("secret test org=%s "
	    "credential=%s outcome=%s http=%ld error=%s duration_ms=%lld",
	    c->org, c->name, oauth_outcome_str(r.outcome), r.http_status,
	    r.error[0] ? r.error : "-", (long long)r.duration_ms);
	*res = r;
	return OV_OK;
}

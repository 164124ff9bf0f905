/*
 * genesys.c — the one Genesys Cloud platform API call orgvault makes:
 * POST {api}/api/v2/oauth/clients/{clientId}/secret gives the client a
 * new secret, and the old one stops working at once (a client has one
 * secret at a time).  One blocking request; the bearer token and the
 * answer (which holds the new secret) live in sodium memory.
 */
#include <stdio.h>
#include <string.h>

#include <curl/curl.h>

#include "rotation/http.h"
#include "rotation/rotation.h"
#include "util/secmem.h"
#include "util/timefmt.h"
#include "util/validate.h"

#define ANSWER_INITIAL	1024

/* "Authorization: Bearer <token>" in sodium memory. */
static char *
bearer_header(const struct secret *token)
{
	size_t len = sizeof("Authorization: Bearer ") + token->len;
	char *h = secmem_alloc(len);

	if (h != NULL)
		snprintf(h, len, "Authorization: Bearer %.*s",
		    (int)token->len, (const char *)token->buf);
	return h;
}

enum ov_rc
rot_genesys_new_secret(const char *api_base, const char *client_id,
    const struct secret *admin_token, const struct rot_config *cfg,
    struct oauth_result *res, struct secret **secret)
{
	struct http_body answer;
	struct http_guard guard = { .what = "Genesys API URL" };
	struct curl_slist *h = NULL, *h2;
	char url[OV_URL_MAX + 1], checked[OV_URL_MAX + 1], *esc = NULL;
	char *auth = NULL;
	int64_t t0 = timefmt_now_ms();
	curl_off_t sent = 0;
	CURLcode code;
	CURL *e;
	long status = 0;
	enum ov_rc rc = OV_OK;

	*secret = NULL;
	memset(res, 0, sizeof(*res));
	res->retry_after_s = -1;
	if ((e = curl_easy_init()) == NULL)
		return ov_seterr(OV_ENOMEM, "out of memory");
	if ((esc = curl_easy_escape(e, client_id, 0)) == NULL ||
	    (size_t)snprintf(url, sizeof(url), "%s/api/v2/oauth/clients/%s/"
	    "secret", api_base, esc) >= sizeof(url)) {
		rc = ov_seterr(OV_ELIMIT, "the API URL is too long");
		goto out;
	}
	if ((rc = validate_url("Genesys API URL", url, checked,
	    sizeof(checked))) != OV_OK)
		goto out;
	if (http_body_init(&answer, ANSWER_INITIAL, OV_TOKEN_BODY_MAX) != 0 ||
	    (auth = bearer_header(admin_token)) == NULL ||
	    (h = curl_slist_append(NULL, auth)) == NULL ||
	    (h2 = curl_slist_append(h, "Accept: application/json")) == NULL ||
	    (h2 = curl_slist_append(h, "Content-Type: application/json")) ==
	    NULL) {
		rc = ov_seterr(OV_ENOMEM, "out of memory");
		goto out_body;
	}
	http_hygiene(e, checked, cfg->connect_timeout_ms, cfg->timeout_ms,
	    &guard);
	curl_easy_setopt(e, CURLOPT_HTTPHEADER, h);
	curl_easy_setopt(e, CURLOPT_POST, 1L);
	curl_easy_setopt(e, CURLOPT_POSTFIELDS, "{}");
	curl_easy_setopt(e, CURLOPT_POSTFIELDSIZE, 2L);
	curl_easy_setopt(e, CURLOPT_WRITEFUNCTION, http_body_write);
	curl_easy_setopt(e, CURLOPT_WRITEDATA, &answer);
	code = curl_easy_perform(e);
	curl_easy_getinfo(e, CURLINFO_RESPONSE_CODE, &status);
	curl_easy_getinfo(e, CURLINFO_SIZE_UPLOAD_T, &sent);
	if (code == CURLE_OK)
		oauth_parse_new_secret(status, answer.buf, answer.len, res,
		    secret);
	else {
		/* Sent in full, then silence: the provider may have made a
		 * new secret that nobody will ever see. */
		res->outcome = sent == 2 && !answer.overflow && (code ==
		    CURLE_OPERATION_TIMEDOUT || code == CURLE_GOT_NOTHING ||
		    code == CURLE_RECV_ERROR || code == CURLE_PARTIAL_FILE) ?
		    OAUTH_UNKNOWN : OAUTH_TRANSIENT;
		res->http_status = status;
		snprintf(res->error, sizeof(res->error), "%s", answer.overflow ?
		    "protocol" : http_refused(code, &guard) ? "policy" : code ==
		    CURLE_OPERATION_TIMEDOUT ? "timeout" : "network");
		snprintf(res->description, sizeof(res->description), "%s",
		    answer.overflow ? "answer too large" :
		    http_error_text(code, &guard));
		if (http_refused(code, &guard))
			res->outcome = OAUTH_FAILING;
	}
	res->duration_ms = timefmt_now_ms() - t0;
out_body:
	http_body_free(&answer);
out:
	curl_slist_free_all(h);
	secmem_free(auth);
	curl_free(esc);
	curl_easy_cleanup(e);
	return rc;
}

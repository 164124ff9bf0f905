/*
 * h_secret.c — client-secret rotation over the API: stage (PUT
 * …/secret/pending), discard (DELETE …/secret/pending), test, promote,
 * roll back.  A test sends a token request (up to the request timeout):
 * it runs on a thread of its own while the connection is suspended, so
 * the worker threads keep serving.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "admin/admin_int.h"
#include "rotation/provider.h"
#include "vault/render.h"

static enum MHD_Result
cred_answer(struct req *r, unsigned status)
{
	struct vault_cred c;
	enum ov_rc rc;

	if ((rc = vault_cred_get(r->v, r->params[0], r->params[1], &c)) !=
	    OV_OK)
		return http_rc(r, rc);
	return http_json(r, status, admin_render_cred(r->a, &c));
}

enum MHD_Result
h_secret_stage(struct req *r)
{
	static const char *const allowed[] = { "client_secret", NULL };
	struct cred_input in;
	struct secret *cs = NULL, *rt = NULL;
	const char *bad;
	enum MHD_Result ret;
	json_t *j;
	enum ov_rc rc;

	if ((j = http_body(r, &ret)) == NULL)
		return ret;
	if (http_fields(r, j, allowed, &ret))
		goto out;
	memset(&in, 0, sizeof(in));
	if ((rc = provider_input_json(j, NULL, &in, &cs, &rt, &bad)) !=
	    OV_OK) {
		ret = http_invalid(r, rc, bad);
		goto out;
	}
	if (cs == NULL) {
		ret = http_problem(r, 422, "validation", "client_secret",
		    "\"client_secret\" is required");
		goto out;
	}
	if (admin_vault(r) == NULL) {
		ret = MHD_YES;
		goto out;
	}
	if ((rc = vault_secret_stage(r->v, r->params[0], r->params[1], cs)) !=
	    OV_OK)
		ret = http_rc(r, rc);
	else
		ret = cred_answer(r, 200);
out:
	secret_free(cs);
	secret_free(rt);
	json_decref(j);
	return ret;
}

/* discard, promote, rollback: one vault call, then the credential. */
static enum MHD_Result
stage_move(struct req *r, enum ov_rc (*fn)(struct vault *, const char *,
    const char *), int refresh)
{
	struct vault_cred c;
	enum ov_rc rc;

	if (admin_vault(r) == NULL)
		return MHD_YES;
	if ((rc = fn(r->v, r->params[0], r->params[1])) != OV_OK)
		return http_rc(r, rc);
	broker_forget(r->a->broker, r->params[0], r->params[1]);
	if (refresh && vault_cred_get(r->v, r->params[0], r->params[1], &c) ==
	    OV_OK)
		admin_request_refresh(r, c.id);	/* with the new secret */
	return cred_answer(r, 200);
}

enum MHD_Result
h_secret_discard(struct req *r)
{
	return stage_move(r, vault_secret_discard, 0);
}

enum MHD_Result
h_secret_promote(struct req *r)
{
	return stage_move(r, vault_secret_promote, 1);
}

enum MHD_Result
h_secret_rollback(struct req *r)
{
	return stage_move(r, vault_secret_rollback, 1);
}

/* ------------------------------------------------------------------ test */

struct test_job {
	struct req		*r;
	struct vault_cred	 c;
};

static void *
test_main(void *arg)
{
	struct test_job *job = arg;
	struct req *r = job->r;
	struct admin *a = r->a;
	struct oauth_result res;
	struct vault *v = admin_vault_take(a);
	enum ov_rc rc = OV_EINTERNAL;

	memset(&res, 0, sizeof(res));
	if (v)
		rc = rot_secret_test(v, &a->rot, &job->c, &res);
	admin_vault_put(a, v);
	r->test_rc = rc;
	if (rc != OV_OK)
		snprintf(r->test_msg, sizeof(r->test_msg), "%s", ov_errmsg());
	r->outcome = (int)res.outcome;
	r->test_http = res.http_status;
	snprintf(r->test_error, sizeof(r->test_error), "%s", res.error);
	oauth_result_cleanup(&res);
	free(job);
	r->suspended = 0;
	r->resumed = 1;
	MHD_resume_connection(r->conn);
	admin_job_done(a);
	return NULL;
}

enum MHD_Result
h_secret_test(struct req *r)
{
	struct test_job *job;
	pthread_t t;
	enum ov_rc rc;

	if (r->resumed) {
		if (r->test_rc != OV_OK) {
			ov_seterr(r->test_rc, "%s", r->test_msg);
			return http_rc(r, r->test_rc);
		}
		if (r->outcome != OAUTH_OK)
			return http_problem(r, 422, "secret-test-failed", NULL,
			    "the pending secret does not work: outcome %s, "
			    "HTTP %ld, error %s", oauth_outcome_str(
			    (enum oauth_outcome)r->outcome), r->test_http,
			    r->test_error[0] ? r->test_error : "-");
		return http_json(r, 200, json_pack("{s:b, s:s, s:I}", "works",
		    1, "outcome", "ok", "http_status",
		    (json_int_t)r->test_http));
	}
	if (admin_vault(r) == NULL)
		return MHD_YES;
	if ((job = calloc(1, sizeof(*job))) == NULL)
		return http_problem(r, 500, "internal", NULL, "out of memory");
	if ((rc = vault_cred_get(r->v, r->params[0], r->params[1], &job->c)) !=
	    OV_OK) {
		free(job);
		return http_rc(r, rc);
	}
	if (!job->c.has_pending_secret || strcmp(job->c.grant,
	    "client_credentials") != 0) {
		int staged = job->c.has_pending_secret;

		free(job);
		return http_problem(r, 409, "conflict", NULL, "%s", !staged ?
		    "nothing is staged: PUT .../secret/pending first" :
		    "a test works for client_credentials credentials only (a "
		    "refresh-token grant would rotate the refresh token); "
		    "promote and refresh instead");
	}
	job->r = r;
	if (!admin_job_start(r->a)) {
		free(job);
		http_header(r, MHD_HTTP_HEADER_RETRY_AFTER, "5");
		return http_problem(r, 503, "unavailable", NULL, "orgvault is "
		    "stopping");
	}
	r->suspended = 1;
	MHD_suspend_connection(r->conn);
	if (pthread_create(&t, NULL, test_main, job) != 0) {
		free(job);
		r->test_rc = OV_EINTERNAL;
		snprintf(r->test_msg, sizeof(r->test_msg), "cannot start "
		    "the test");
		r->suspended = 0;
		r->resumed = 1;
		MHD_resume_connection(r->conn);
		admin_job_done(r->a);
		return MHD_YES;
	}
	pthread_detach(t);
	return MHD_YES;
}

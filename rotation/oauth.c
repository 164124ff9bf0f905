/*
 * oauth.c — token requests over libcurl multi: many transfers on the
 * scheduler's one thread.
 *
 * Hygiene (STYLE.md): https only, plain http only to loopback; TLS peer
 * and host verification always on; no redirects; connect and total
 * timeouts; the response is capped at OV_TOKEN_BODY_MAX; never
 * CURLOPT_VERBOSE.  Client id and secret are form-urlencoded before
 * Base64 for HTTP Basic (RFC 6749 §2.3.1).  The form body and the
 * Authorization header live in sodium memory, and libcurl's own copies
 * are wiped on free (oauth_global_init).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include <curl/curl.h>
#include <sodium.h>

#include "rotation/http.h"
#include "rotation/oauth.h"
#include "util/secmem.h"
#include "util/timefmt.h"
#include "util/validate.h"

#define RESP_INITIAL	4096	/* most token responses fit */

struct transfer {
	CURL			*easy;
	struct curl_slist	*headers;
	char			*body;		/* secmem */
	size_t			 body_len;
	struct http_body	 resp;
	struct http_guard	 guard;
	char			 retry_after[128];
	char			 scope[OV_SCOPE_MAX + 1];
	long			 default_lifetime;
	int			 refresh_grant;
	int64_t			 started_ms;
	oauth_done_cb		 done;
	void			*arg;
	struct transfer		*next, **prevp;	/* pool's in-flight list */
};

struct oauth_pool {
	CURLM		*multi;
	long		 retry_after_cap;
	int		 running;
	struct transfer	*inflight;
};

/* libcurl strdup's headers and URLs: wipe every block it frees. */
int
oauth_global_init(void)
{
	return curl_global_init_mem(CURL_GLOBAL_DEFAULT, malloc,
	    secmem_wipe_free, secmem_wipe_realloc, strdup, calloc) == CURLE_OK ? 0 : -1;
}

static size_t
on_header(char *p, size_t size, size_t n, void *arg)
{
	struct transfer *t = arg;
	size_t len = size * n;
	static const char name[] = "retry-after:";

	if (len > sizeof(name) - 1 && len < sizeof(t->retry_after) +
	    sizeof(name) && strncasecmp(p, name, sizeof(name) - 1) == 0) {
		size_t vlen = len - (sizeof(name) - 1);

		memcpy(t->retry_after, p + sizeof(name) - 1, vlen);
		t->retry_after[vlen] = '\0';
		t->retry_after[strcspn(t->retry_after, "\r\n")] = '\0';
	}
	return len;
}

static void
transfer_free(struct transfer *t)
{
	if (t == NULL)
		return;
	curl_easy_cleanup(t->easy);
	curl_slist_free_all(t->headers);
	secmem_free(t->body);
	http_body_free(&t->resp);
	free(t);
}

/* Appends "&name=<escaped value>" (no '&' first) to the sodium body. */
static int
form_add(struct transfer *t, size_t cap, const char *name, const char *val,
    size_t vlen)
{
	char *esc = curl_easy_escape(t->easy, val, (int)vlen);
	size_t need;
	int n;

	if (esc == NULL)
		return -1;
	need = strlen(name) + strlen(esc) + 2;
	if (t->body_len + need >= cap) {
		curl_free(esc);
		return -1;
	}
	n = snprintf(t->body + t->body_len, cap - t->body_len, "%s%s=%s",
	    t->body_len ? "&" : "", name, esc);
	t->body_len += (size_t)n;
	curl_free(esc);
	return 0;
}

/* "Authorization: Basic base64(esc(id):esc(secret))", in sodium memory. */
static int
basic_header(struct transfer *t, const struct oauth_request *r)
{
	char *id = curl_easy_escape(t->easy, r->client_id, 0);
	char *sec = curl_easy_escape(t->easy, (const char *)
	    r->client_secret->buf, (int)r->client_secret->len);
	char *pair = NULL, *hdr = NULL;
	size_t plen, b64len, hlen;
	int rc = -1;

	if (id == NULL || sec == NULL)
		goto out;
	plen = strlen(id) + 1 + strlen(sec);
	b64len = sodium_base64_encoded_len(plen,
	    sodium_base64_VARIANT_ORIGINAL);
	hlen = sizeof("Authorization: Basic ") + b64len;
	if ((pair = secmem_alloc(plen + 1)) == NULL ||
	    (hdr = secmem_alloc(hlen)) == NULL)
		goto out;
	snprintf(pair, plen + 1, "%s:%s", id, sec);
	memcpy(hdr, "Authorization: Basic ", 21);
	sodium_bin2base64(hdr + 21, hlen - 21, (unsigned char *)pair, plen,
	    sodium_base64_VARIANT_ORIGINAL);
	if (curl_slist_append(t->headers, hdr) != NULL)
		rc = 0;
out:
	curl_free(id);
	curl_free(sec);
	secmem_free(pair);
	secmem_free(hdr);
	return rc;
}

/* Worst case of form_add(): '&', name, '=', every byte as %XX. */
static size_t
form_size(const char *name, size_t vlen)
{
	return strlen(name) + 2 + 3 * vlen;
}

static int
build_body(struct transfer *t, const struct oauth_request *r)
{
	size_t cap = 1 + form_size("grant_type", 18) +
	    (r->refresh_token ? form_size("refresh_token",
	    r->refresh_token->len) : 0) +
	    (r->scope ? form_size("scope", strlen(r->scope)) : 0) +
	    (r->auth_basic ? 0 : form_size("client_id", strlen(r->client_id)) +
	    form_size("client_secret", r->client_secret->len));

	if ((t->body = secmem_alloc(cap)) == NULL)
		return -1;
	t->body[0] = '\0';
	if (r->refresh_token) {
		if (form_add(t, cap, "grant_type", "refresh_token", 13) ||
		    form_add(t, cap, "refresh_token", (const char *)
		    r->refresh_token->buf, r->refresh_token->len))
			return -1;
	} else if (form_add(t, cap, "grant_type", "client_credentials", 18))
		return -1;
	if (r->scope && *r->scope && form_add(t, cap, "scope", r->scope,
	    strlen(r->scope)))
		return -1;
	if (!r->auth_basic && (form_add(t, cap, "client_id", r->client_id,
	    strlen(r->client_id)) || form_add(t, cap, "client_secret",
	    (const char *)r->client_secret->buf, r->client_secret->len)))
		return -1;
	return 0;
}

static int
transfer_setup(struct transfer *t, const struct oauth_request *r)
{
	struct curl_slist *h = NULL;
	CURL *e = t->easy;

	h = curl_slist_append(h, "Content-Type: "
	    "application/x-www-form-urlencoded");
	if (h)
		h = curl_slist_append(h, "Accept: application/json");
	if (h)
		h = curl_slist_append(h, "Expect:");
	if ((t->headers = h) == NULL)
		return -1;
	if (r->auth_basic && basic_header(t, r) != 0)
		return -1;
	if (build_body(t, r) != 0 || http_body_init(&t->resp, RESP_INITIAL,
	    OV_TOKEN_BODY_MAX) != 0)
		return -1;
	t->guard.what = "token URL";
	http_hygiene(e, r->token_url, r->connect_timeout_ms, r->timeout_ms,
	    &t->guard);
	curl_easy_setopt(e, CURLOPT_HTTPHEADER, t->headers);
	curl_easy_setopt(e, CURLOPT_POST, 1L);
	curl_easy_setopt(e, CURLOPT_POSTFIELDS, t->body);
	curl_easy_setopt(e, CURLOPT_POSTFIELDSIZE, (long)t->body_len);
	curl_easy_setopt(e, CURLOPT_WRITEFUNCTION, http_body_write);
	curl_easy_setopt(e, CURLOPT_WRITEDATA, &t->resp);
	curl_easy_setopt(e, CURLOPT_HEADERFUNCTION, on_header);
	curl_easy_setopt(e, CURLOPT_HEADERDATA, t);
	curl_easy_setopt(e, CURLOPT_PRIVATE, t);
	return 0;
}

struct oauth_pool *
oauth_pool_new(long retry_after_cap)
{
	struct oauth_pool *p = calloc(1, sizeof(*p));

	if (p == NULL || (p->multi = curl_multi_init()) == NULL) {
		free(p);
		return NULL;
	}
	p->retry_after_cap = retry_after_cap;
	return p;
}

int
oauth_pool_add(struct oauth_pool *p, const struct oauth_request *r,
    long default_lifetime, oauth_done_cb done, void *arg)
{
	struct transfer *t;
	char url[OV_URL_MAX + 1];

	/* Checked at put time too; a stored row is not trusted blindly. */
	if (validate_token_url(r->token_url, url, sizeof(url)) != OV_OK)
		return -1;
	if ((t = calloc(1, sizeof(*t))) == NULL)
		return -1;
	if ((t->easy = curl_easy_init()) == NULL ||
	    transfer_setup(t, r) != 0) {
		transfer_free(t);
		return -1;
	}
	snprintf(t->scope, sizeof(t->scope), "%s", r->scope ? r->scope : "");
	t->default_lifetime = default_lifetime;
	t->refresh_grant = r->refresh_token != NULL;
	t->started_ms = timefmt_now_ms();
	t->done = done;
	t->arg = arg;
	if (curl_multi_add_handle(p->multi, t->easy) != CURLM_OK) {
		transfer_free(t);
		return -1;
	}
	if ((t->next = p->inflight) != NULL)
		t->next->prevp = &t->next;
	t->prevp = &p->inflight;
	p->inflight = t;
	p->running++;
	return 0;
}

/* Turns a finished transfer into a result and hands it over. */
static void
transfer_finish(struct oauth_pool *p, struct transfer *t, CURLcode code)
{
	struct oauth_result r;
	curl_off_t sent = 0;
	long status = 0;

	memset(&r, 0, sizeof(r));
	r.retry_after_s = -1;
	curl_easy_getinfo(t->easy, CURLINFO_RESPONSE_CODE, &status);
	curl_easy_getinfo(t->easy, CURLINFO_SIZE_UPLOAD_T, &sent);
	if (code == CURLE_OK) {
		oauth_parse_response(status, t->resp.buf, t->resp.len,
		    t->retry_after[0] ? t->retry_after : NULL, t->scope,
		    t->default_lifetime, p->retry_after_cap, &r);
		oauth_refine_for_grant(&r, t->refresh_grant);
	} else if (http_refused(code, &t->guard)) {
		/* An operator's fix, not a network fault: no backoff storm. */
		r.outcome = OAUTH_FAILING;
		snprintf(r.error, sizeof(r.error), "policy");
		snprintf(r.description, sizeof(r.description), "%s",
		    t->guard.why);
	} else if (t->resp.overflow) {
		r.outcome = OAUTH_TRANSIENT;
		r.http_status = status;
		snprintf(r.error, sizeof(r.error), "protocol");
		snprintf(r.description, sizeof(r.description), "response "
		    "larger than %d bytes", OV_TOKEN_BODY_MAX);
	} else {
		/* Sent in full, then silence: the provider may have acted. */
		int unknown = t->refresh_grant && sent == (curl_off_t)
		    t->body_len && (code == CURLE_OPERATION_TIMEDOUT ||
		    code == CURLE_GOT_NOTHING || code == CURLE_RECV_ERROR ||
		    code == CURLE_PARTIAL_FILE);

		r.outcome = unknown ? OAUTH_UNKNOWN : OAUTH_TRANSIENT;
		r.http_status = status;
		snprintf(r.error, sizeof(r.error), "%s",
		    code == CURLE_OPERATION_TIMEDOUT ? "timeout" : "network");
		snprintf(r.description, sizeof(r.description), "%s",
		    curl_easy_strerror(code));
	}
	r.duration_ms = timefmt_now_ms() - t->started_ms;
	t->done(t->arg, &r);	/* the callback owns r's secrets */
}

int
oauth_pool_run(struct oauth_pool *p, int timeout_ms, int extra_fd)
{
	struct curl_waitfd wfd = { .fd = extra_fd, .events = CURL_WAIT_POLLIN };
	CURLMsg *msg;
	int still, left;

	curl_multi_poll(p->multi, extra_fd >= 0 ? &wfd : NULL,
	    extra_fd >= 0 ? 1 : 0, timeout_ms, NULL);
	curl_multi_perform(p->multi, &still);
	while ((msg = curl_multi_info_read(p->multi, &left)) != NULL) {
		struct transfer *t;

		if (msg->msg != CURLMSG_DONE)
			continue;
		curl_easy_getinfo(msg->easy_handle, CURLINFO_PRIVATE,
		    (char **)&t);
		curl_multi_remove_handle(p->multi, t->easy);
		p->running--;
		if ((*t->prevp = t->next) != NULL)
			t->next->prevp = t->prevp;
		transfer_finish(p, t, msg->data.result);
		transfer_free(t);
	}
	return p->running;
}

void
oauth_pool_wakeup(struct oauth_pool *p)
{
	curl_multi_wakeup(p->multi);
}

void
oauth_pool_free(struct oauth_pool *p)
{
	struct transfer *t;

	if (p == NULL)
		return;
	/* Abandon what is still running (shutdown). */
	while ((t = p->inflight) != NULL) {
		p->inflight = t->next;
		curl_multi_remove_handle(p->multi, t->easy);
		transfer_free(t);
	}
	curl_multi_cleanup(p->multi);
	free(p);
}

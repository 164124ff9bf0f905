/* http.c — see http.h. */
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>

#include "rotation/http.h"
#include "util/cidr.h"
#include "util/netpolicy.h"
#include "util/secmem.h"
#include "util/version.h"

int
http_body_init(struct http_body *b, size_t initial, size_t max)
{
	memset(b, 0, sizeof(*b));
	if ((b->buf = secmem_alloc(initial)) == NULL)
		return -1;
	b->cap = initial;
	b->max = max;
	return 0;
}

void
http_body_free(struct http_body *b)
{
	secmem_free(b->buf);
	memset(b, 0, sizeof(*b));
}

size_t
http_body_write(char *p, size_t size, size_t n, void *arg)
{
	struct http_body *b = arg;
	size_t len = size * n;

	if (len > b->max - b->len) {
		b->overflow = 1;
		return 0;	/* aborts the transfer: CURLE_WRITE_ERROR */
	}
	if (b->len + len > b->cap) {
		/* Grow in guarded memory: the body may hold a secret. */
		size_t cap = b->cap * 4;
		char *bigger;

		while (cap < b->len + len)
			cap *= 2;
		if (cap > b->max)
			cap = b->max;
		if ((bigger = secmem_alloc(cap)) == NULL)
			return 0;
		memcpy(bigger, b->buf, b->len);
		secmem_free(b->buf);
		b->buf = bigger;
		b->cap = cap;
	}
	memcpy(b->buf + b->len, p, len);
	b->len += len;
	return len;
}

/* CURLOPT_OPENSOCKETFUNCTION: the policy before any connect. */
static curl_socket_t
open_guarded(void *arg, curlsocktype purpose, struct curl_sockaddr *sa)
{
	struct http_guard *g = arg;
	unsigned char addr[16];

	(void)purpose;
	if (cidr_addr_of(&sa->addr, addr) != 0 ||
	    netpolicy_check_addr(g->what, addr) != OV_OK) {
		if (!g->refused)
			snprintf(g->why, sizeof(g->why), "%s", ov_errmsg()[0] ?
			    ov_errmsg() : "an address of another family");
		g->refused = 1;
		return CURL_SOCKET_BAD;
	}
	return socket(sa->family, sa->socktype, sa->protocol);
}

int
http_refused(CURLcode code, const struct http_guard *g)
{
	/* Refused addresses and then an allowed one: the transfer went on
	 * and its outcome (maybe unknown) is what counts. */
	return g && g->refused && code == CURLE_COULDNT_CONNECT;
}

const char *
http_error_text(CURLcode code, const struct http_guard *g)
{
	return http_refused(code, g) ? g->why : curl_easy_strerror(code);
}

void
http_hygiene(CURL *e, const char *url, long connect_timeout_ms,
    long timeout_ms, struct http_guard *g)
{
	const char *proxy = netpolicy_proxy();

	curl_easy_setopt(e, CURLOPT_URL, url);
	curl_easy_setopt(e, CURLOPT_PROTOCOLS_STR, "http,https");
	curl_easy_setopt(e, CURLOPT_FOLLOWLOCATION, 0L);
	curl_easy_setopt(e, CURLOPT_SSL_VERIFYPEER, 1L);
	curl_easy_setopt(e, CURLOPT_SSL_VERIFYHOST, 2L);
	curl_easy_setopt(e, CURLOPT_NOSIGNAL, 1L);
	curl_easy_setopt(e, CURLOPT_CONNECTTIMEOUT_MS, connect_timeout_ms);
	curl_easy_setopt(e, CURLOPT_TIMEOUT_MS, timeout_ms);
	curl_easy_setopt(e, CURLOPT_USERAGENT, "orgvault/" ORGVAULT_VERSION);
	/* "" turns off the environment's proxies as well; no NO_PROXY from
	 * it either (it would send chosen hosts around --proxy). */
	curl_easy_setopt(e, CURLOPT_PROXY, proxy);
	curl_easy_setopt(e, CURLOPT_NOPROXY, "");
	g->refused = 0;
	g->why[0] = '\0';
	/* Through a proxy the operator named, libcurl connects to the proxy
	 * only; the URL's host was checked when it was stored. */
	if (*proxy == '\0') {
		curl_easy_setopt(e, CURLOPT_OPENSOCKETFUNCTION, open_guarded);
		curl_easy_setopt(e, CURLOPT_OPENSOCKETDATA, g);
	}
}

/*
 * http.h — what every outgoing request of orgvault shares (token
 * requests, the Genesys platform API, webhooks): the hygiene options
 * and a bounded response body in guarded memory.
 */
#ifndef OV_HTTP_H
#define OV_HTTP_H

#include <stddef.h>

#include <curl/curl.h>

/* A response body that may hold a secret: sodium memory, at most max
 * bytes (more aborts the transfer with CURLE_WRITE_ERROR, overflow set). */
struct http_body {
	char	*buf;
	size_t	 len, cap, max;
	int	 overflow;
};
int	http_body_init(struct http_body *, size_t initial, size_t max);
void	http_body_free(struct http_body *);
/* CURLOPT_WRITEFUNCTION with CURLOPT_WRITEDATA a struct http_body. */
size_t	http_body_write(char *, size_t, size_t, void *);

/*
 * The outbound policy at connect time (util/netpolicy.h): every address
 * libcurl is about to connect to is checked; a refused one is not
 * connected to, refused is set and why holds the message.  One per
 * transfer, alive as long as the transfer; what names the URL ("token
 * URL").
 */
struct http_guard {
	const char	*what;
	int		 refused;
	char		 why[200];	/* fits an oauth_result description */
};

/*
 * URL and hygiene: http and https only (the caller has checked that
 * plain http goes only where the policy allows), no redirects, TLS peer
 * and host verification, no signals, connect and total timeouts, our
 * User-Agent, no proxy unless --proxy gave one (never the environment's
 * http_proxy/ALL_PROXY), the outbound policy on every connect (g).
 * Never CURLOPT_VERBOSE anywhere: it would print secrets.
 */
void	http_hygiene(CURL *, const char *url, long connect_timeout_ms,
	    long timeout_ms, struct http_guard *g);
/* Whether a transfer failed because the policy refused every address
 * (nothing was sent). */
int	http_refused(CURLcode, const struct http_guard *);
/* What to say about a failed transfer: the policy's refusal, or
 * libcurl's generic text for code (never the peer's words). */
const char *http_error_text(CURLcode, const struct http_guard *);

#endif

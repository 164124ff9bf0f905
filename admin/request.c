/*
 * request.c — one request's head and body as libmicrohttpd's calls of
 * the access handler bring them (server.c makes the calls): the checks
 * of the head, the API key verified as soon as the head is in, and the
 * body.
 *
 * Only a request whose key verified keeps its body, in secure memory (a
 * PUT carries client secrets) sized to its Content-Length; a chunked
 * body grows by copying, the old block wiped.  Any other body is read
 * and dropped, only counted: before its key verified no client gets
 * locked memory.  Bodies are capped at 64 KiB: a Content-Length over
 * the cap is refused before the body is read, a chunked body when it
 * crosses the cap.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "admin/admin_int.h"
#include "util/log.h"
#include "util/secmem.h"

/* Body buffers: a chunked body's first, and how it grows (the classes
 * of secmem.c); blocks above BODY_POOLED_MAX are guarded blocks of their
 * own, so that clients cannot use up the pool that tokens live in. */
#define BODY_CHUNKED_FIRST	1024
#define BODY_GROWTH		4
#define BODY_POOLED_MAX		4096

static int
has_body_method(const char *m)
{
	return strcmp(m, "POST") == 0 || strcmp(m, "PUT") == 0 ||
	    strcmp(m, "PATCH") == 0;
}

/* application/json, with parameters (charset=utf-8) allowed. */
static int
is_json_type(const char *ct)
{
	size_t n = strlen("application/json");

	if (ct == NULL)
		return 0;
	while (*ct == ' ')
		ct++;
	return strncasecmp(ct, "application/json", n) == 0 &&
	    (ct[n] == '\0' || ct[n] == ';' || ct[n] == ' ');
}

/*
 * What libmicrohttpd 0.9.75 lets through and a strict server refuses:
 * framing that two parsers could read two ways (two Content-Length
 * headers, Content-Length with Transfer-Encoding), a header value with
 * a control character or a NUL inside (value_size counts past it), two
 * Authorization headers (which key is it?).
 */
struct head_scan {
	int		 content_length, transfer_encoding, authorization;
	int		 forwarded_for;
	const char	*bad;		/* the first bad header's name */
};

static enum MHD_Result
head_scan_one(void *cls, enum MHD_ValueKind kind, const char *key,
    size_t key_size, const char *value, size_t value_size)
{
	struct head_scan *h = cls;
	size_t i;

	(void)kind;
	(void)key_size;
	if (strcasecmp(key, MHD_HTTP_HEADER_CONTENT_LENGTH) == 0)
		h->content_length++;
	else if (strcasecmp(key, MHD_HTTP_HEADER_TRANSFER_ENCODING) == 0)
		h->transfer_encoding++;
	else if (strcasecmp(key, MHD_HTTP_HEADER_AUTHORIZATION) == 0)
		h->authorization++;
	else if (strcasecmp(key, "X-Forwarded-For") == 0)
		h->forwarded_for++;
	for (i = 0; value && i < value_size && h->bad == NULL; i++)
		if (((unsigned char)value[i] < 0x20 && value[i] != '\t') ||
		    value[i] == 0x7f)
			h->bad = key;
	return MHD_YES;
}

/* NULL, or why the head is refused (400). */
static const char *
head_refusal(struct req *r, char *buf, size_t len)
{
	struct head_scan h = { 0 };

	MHD_get_connection_values_n(r->conn, MHD_HEADER_KIND, head_scan_one,
	    &h);
	if (h.content_length > 1)
		return "more than one Content-Length header";
	if (h.content_length && h.transfer_encoding)
		return "Content-Length and Transfer-Encoding together";
	if (h.transfer_encoding > 1)
		return "more than one Transfer-Encoding header";
	if (h.authorization > 1)
		return "more than one Authorization header";
	/* server.c reads one (a proxy that appends a line would let the
	 * client's own first one be believed). */
	if (h.forwarded_for > 1)
		return "more than one X-Forwarded-For header";
	if (h.bad) {
		char name[64];

		log_escape(h.bad, name, sizeof(name));
		snprintf(buf, len, "a control character in the value of "
		    "header '%s'", name);
		return buf;
	}
	return NULL;
}

/*
 * First call: checks what the headers say about the body, and the key.
 * Answering here would cost keep-alive (libmicrohttpd closes a
 * connection answered before the request is complete): only framing
 * that cannot be read on (400) and a body announced over the cap (413)
 * are.  A key that does not verify is answered at the end.
 */
enum MHD_Result
req_head(struct req *r)
{
	const char *cl = MHD_lookup_connection_value(r->conn,
	    MHD_HEADER_KIND, MHD_HTTP_HEADER_CONTENT_LENGTH);
	const char *ct = MHD_lookup_connection_value(r->conn,
	    MHD_HEADER_KIND, MHD_HTTP_HEADER_CONTENT_TYPE);
	unsigned long long announced = cl ? strtoull(cl, NULL, 10) : 0;
	char why[160];
	const char *bad;

	if ((bad = head_refusal(r, why, sizeof(why))) != NULL)
		return http_problem(r, 400, "bad-request", NULL, "%s", bad);
	if (announced > ADMIN_BODY_MAX)
		return http_problem(r, 413, "payload-too-large", NULL,
		    "request bodies are at most %d bytes", ADMIN_BODY_MAX);
	r->announced = (size_t)announced;
	if (has_body_method(r->method) && !is_json_type(ct) && (cl == NULL ||
	    strcmp(cl, "0") != 0))
		r->bad_type = 1;
	/* Every route that reads a body needs a key. */
	if (routes_need_key(r))
		r->keep_body = auth_verify(r) == 0;
	return MHD_YES;
}

/* Room for need bytes of body (need <= ADMIN_BODY_MAX): the announced
 * length at once; a chunked body grows, copied, the old block wiped. */
static int
body_room(struct req *r, size_t need)
{
	size_t cap = r->cap ? r->cap : r->announced ? r->announced :
	    BODY_CHUNKED_FIRST;
	char *p;

	if (need <= r->cap)
		return 0;
	while (cap < need)
		cap *= BODY_GROWTH;
	if (cap > ADMIN_BODY_MAX)
		cap = ADMIN_BODY_MAX;
	p = cap <= BODY_POOLED_MAX ? secmem_alloc(cap) : secmem_alloc_own(cap);
	if (p == NULL)
		return -1;
	if (r->len)
		memcpy(p, r->body, r->len);
	secmem_free(r->body);	/* wipes */
	r->body = p;
	r->cap = cap;
	return 0;
}

enum MHD_Result
req_body(struct req *r, const char *data, size_t *size)
{
	size_t n = *size;

	*size = 0;
	if (r->too_big || r->bad_type || r->seen + n > ADMIN_BODY_MAX) {
		r->too_big = !r->bad_type;
		return MHD_YES;		/* read and drop */
	}
	r->seen += n;
	if (!r->keep_body)
		return MHD_YES;		/* no good key: read and drop */
	if (body_room(r, r->len + n) != 0)
		return MHD_NO;
	memcpy(r->body + r->len, data, n);
	r->len += n;
	return MHD_YES;
}

/*
 * util.c — small helpers of the fake OAuth server: allocation that aborts
 * on failure, clocks, form-urlencoded decoding, HTTP Basic and Bearer
 * parsing, and replies.  Nothing here touches the server state.
 */
#include <ctype.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <sodium.h>

#include "fake_oauth.h"

void *
fo_xmalloc(size_t n)
{
	void *p = malloc(n ? n : 1);

	if (p == NULL)
		abort();
	return p;
}

void *
fo_xrealloc(void *p, size_t n)
{
	p = realloc(p, n ? n : 1);
	if (p == NULL)
		abort();
	return p;
}

char *
fo_xstrdup(const char *s)
{
	char *d;

	if (s == NULL)
		return NULL;
	d = strdup(s);
	if (d == NULL)
		abort();
	return d;
}

char *
fo_xasprintf(const char *fmt, ...)
{
	va_list ap;
	char *s;
	int n;

	va_start(ap, fmt);
	n = vasprintf(&s, fmt, ap);
	va_end(ap);
	if (n < 0)
		abort();
	return s;
}

int64_t
fo_now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_REALTIME, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* RFC 9110 IMF-fixdate, e.g. "Sun, 06 Nov 1994 08:49:37 GMT". */
void
fo_http_date(time_t t, char *buf, size_t len)
{
	static const char days[7][4] = { "Sun", "Mon", "Tue", "Wed", "Thu",
		"Fri", "Sat" };
	static const char months[12][4] = { "Jan", "Feb", "Mar", "Apr", "May",
		"Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec" };
	struct tm tm;

	gmtime_r(&t, &tm);
	snprintf(buf, len, "%s, %02d %s %04d %02d:%02d:%02d GMT",
	    days[tm.tm_wday], tm.tm_mday, months[tm.tm_mon],
	    tm.tm_year + 1900, tm.tm_hour, tm.tm_min, tm.tm_sec);
}

/* Constant time for equal lengths; the length itself is no secret here. */
bool
fo_secret_eq(const char *a, const char *b)
{
	size_t n;

	if (a == NULL || b == NULL)
		return false;
	n = strlen(a);
	if (n != strlen(b))
		return false;
	return sodium_memcmp(a, b, n) == 0;
}

bool
fo_utf8_valid(const char *s)
{
	json_t *j = json_string(s);	/* jansson validates UTF-8 */

	json_decref(j);
	return j != NULL;
}

json_t *
fo_json_str(const char *s)
{
	json_t *j;
	char *copy, *p;

	if (s == NULL)
		return json_null();
	if ((j = json_string(s)) != NULL)
		return j;
	copy = fo_xstrdup(s);
	for (p = copy; *p != '\0'; p++)
		if ((unsigned char)*p >= 0x80)
			*p = '?';
	j = json_string(copy);
	free(copy);
	return j;
}

char *
fo_random_secret(void)
{
	unsigned char raw[24];
	char hex[sizeof(raw) * 2 + 1];

	randombytes_buf(raw, sizeof(raw));
	sodium_bin2hex(hex, sizeof(hex), raw, sizeof(raw));
	return fo_xasprintf("sec-%s", hex);
}

static int
hexval(int c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	c = tolower(c);
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	return -1;
}

char *
fo_url_decode(const char *s, size_t len)
{
	char *out = fo_xmalloc(len + 1);
	size_t i, o = 0;
	int hi, lo;

	for (i = 0; i < len; i++) {
		if (s[i] == '+') {
			out[o++] = ' ';
		} else if (s[i] == '%') {
			if (i + 2 >= len)
				goto bad;
			hi = hexval((unsigned char)s[i + 1]);
			lo = hexval((unsigned char)s[i + 2]);
			if (hi < 0 || lo < 0 || (hi == 0 && lo == 0))
				goto bad;
			out[o++] = (char)(hi << 4 | lo);
			i += 2;
		} else if (s[i] == '\0') {
			goto bad;
		} else {
			out[o++] = s[i];
		}
	}
	out[o] = '\0';
	return out;
bad:
	free(out);
	return NULL;
}

int
fo_form_parse(const char *body, size_t len, struct fo_form *f)
{
	const char *p = body, *end = body + len, *amp, *eq;
	struct fo_form_pair pair;

	f->pairs = NULL;
	f->len = 0;
	while (p < end) {
		amp = memchr(p, '&', (size_t)(end - p));
		if (amp == NULL)
			amp = end;
		if (amp == p) {		/* "a=1&&b=2": skip the gap */
			p++;
			continue;
		}
		eq = memchr(p, '=', (size_t)(amp - p));
		if (eq == NULL)
			eq = amp;
		pair.key = fo_url_decode(p, (size_t)(eq - p));
		pair.value = eq < amp ?
		    fo_url_decode(eq + 1, (size_t)(amp - eq - 1)) :
		    fo_xstrdup("");
		if (pair.key == NULL || pair.value == NULL) {
			free(pair.key);
			free(pair.value);
			fo_form_cleanup(f);
			return -1;
		}
		f->pairs = fo_xrealloc(f->pairs, (f->len + 1) * sizeof(pair));
		f->pairs[f->len++] = pair;
		p = amp + 1;
	}
	return 0;
}

const char *
fo_form_get(const struct fo_form *f, const char *key, int *count)
{
	const char *value = NULL;
	size_t i;
	int n = 0;

	for (i = 0; i < f->len; i++) {
		if (strcmp(f->pairs[i].key, key) == 0) {
			if (value == NULL)
				value = f->pairs[i].value;
			n++;
		}
	}
	if (count != NULL)
		*count = n;
	return value;
}

void
fo_form_cleanup(struct fo_form *f)
{
	size_t i;

	for (i = 0; i < f->len; i++) {
		free(f->pairs[i].key);
		free(f->pairs[i].value);
	}
	free(f->pairs);
	f->pairs = NULL;
	f->len = 0;
}

/* The credentials after "<scheme> ", or NULL if the scheme differs. */
static const char *
auth_param(const char *header, const char *scheme)
{
	size_t n = strlen(scheme);

	if (header == NULL || strncasecmp(header, scheme, n) != 0 ||
	    header[n] != ' ')
		return NULL;
	header += n;
	while (*header == ' ')
		header++;
	return header;
}

int
fo_basic_decode(const char *header, char **id, char **secret)
{
	const char *b64 = auth_param(header, "Basic");
	size_t b64_len, bin_len;
	char *bin, *colon;
	const char *end;
	int rc = -1;

	if (b64 == NULL)
		return 0;
	b64_len = strlen(b64);
	while (b64_len > 0 && b64[b64_len - 1] == ' ')
		b64_len--;
	bin = fo_xmalloc(b64_len + 1);
	if (sodium_base642bin((unsigned char *)bin, b64_len, b64, b64_len,
	    NULL, &bin_len, &end, sodium_base64_VARIANT_ORIGINAL) != 0 ||
	    end != b64 + b64_len || memchr(bin, '\0', bin_len) != NULL)
		goto out;
	bin[bin_len] = '\0';
	colon = strchr(bin, ':');
	if (colon == NULL)
		goto out;
	*id = fo_url_decode(bin, (size_t)(colon - bin));
	*secret = fo_url_decode(colon + 1, strlen(colon + 1));
	if (*id == NULL || *secret == NULL || !fo_utf8_valid(*id) ||
	    !fo_utf8_valid(*secret)) {
		free(*id);
		free(*secret);
		*id = *secret = NULL;
		goto out;
	}
	rc = 1;
out:
	sodium_memzero(bin, b64_len + 1);
	free(bin);
	return rc;
}

const char *
fo_bearer_token(const char *header)
{
	const char *token = auth_param(header, "Bearer");

	return token != NULL && *token != '\0' ? token : NULL;
}

void
fo_reply_json(struct fo_reply *r, int status, json_t *steal)
{
	char *text = json_dumps(steal, JSON_COMPACT);

	json_decref(steal);
	if (text == NULL)
		abort();
	r->action = FO_SEND;
	r->status = status;
	r->content_type = "application/json";
	free(r->body);
	r->body = text;
	r->body_len = strlen(text);
}

void
fo_reply_text(struct fo_reply *r, int status, const char *ctype,
    const char *text)
{
	r->action = FO_SEND;
	r->status = status;
	r->content_type = ctype;
	free(r->body);
	r->body = fo_xstrdup(text);
	r->body_len = strlen(text);
}

/* Errors of the control API and of plain HTTP: {"error": message}. */
void
fo_reply_error(struct fo_reply *r, int status, const char *message)
{
	fo_reply_json(r, status, json_pack("{s:s}", "error", message));
}

void
fo_reply_cleanup(struct fo_reply *r)
{
	free(r->body);
	r->body = NULL;
	r->body_len = 0;
}

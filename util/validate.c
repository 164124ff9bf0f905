/*
 * validate.c — validation of operator and API input.  Pure functions
 * over bounded strings; libcurl's URL parser judges URLs.
 */
#include <ctype.h>
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <arpa/inet.h>

#include <curl/curl.h>

#include "util/limits.h"
#include "util/validate.h"

enum ov_rc
validate_slug(const char *what, const char *s)
{
	size_t n = strlen(s);

	if (n == 0 || n > OV_SLUG_MAX)
		return ov_seterr(OV_EINVAL, "%s must be 1 to %d characters",
		    what, OV_SLUG_MAX);
	for (size_t i = 0; i < n; i++)
		if (!((s[i] >= 'a' && s[i] <= 'z') ||
		    (s[i] >= '0' && s[i] <= '9') || s[i] == '-'))
			return ov_seterr(OV_EINVAL, "%s may hold only lowercase "
			    "letters, digits and '-'", what);
	if (s[0] == '-' || s[n - 1] == '-')
		return ov_seterr(OV_EINVAL, "%s must not start or end with '-'",
		    what);
	return OV_OK;
}

/* Length of the UTF-8 sequence at s, or 0 if it is not well formed. */
static size_t
utf8_seq(const unsigned char *s)
{
	size_t n;
	unsigned cp;

	if (s[0] < 0x80)
		return 1;
	if ((s[0] & 0xe0) == 0xc0) {
		n = 2;
		cp = s[0] & 0x1f;
	} else if ((s[0] & 0xf0) == 0xe0) {
		n = 3;
		cp = s[0] & 0x0f;
	} else if ((s[0] & 0xf8) == 0xf0) {
		n = 4;
		cp = s[0] & 0x07;
	} else
		return 0;
	for (size_t i = 1; i < n; i++) {
		if ((s[i] & 0xc0) != 0x80)
			return 0;
		cp = (cp << 6) | (s[i] & 0x3f);
	}
	if ((n == 2 && cp < 0x80) || (n == 3 && cp < 0x800) ||
	    (n == 4 && (cp < 0x10000 || cp > 0x10ffff)) ||
	    (cp >= 0xd800 && cp <= 0xdfff))
		return 0;
	return n;
}

enum ov_rc
validate_text(const char *what, const char *s, size_t max)
{
	const unsigned char *p = (const unsigned char *)s;
	size_t n = strlen(s), step;

	if (n == 0)
		return ov_seterr(OV_EINVAL, "%s must not be empty", what);
	if (n > max)
		return ov_seterr(OV_ELIMIT, "%s is longer than %zu bytes",
		    what, max);
	for (size_t i = 0; i < n; i += step) {
		if (p[i] < 0x20 || p[i] == 0x7f)
			return ov_seterr(OV_EINVAL, "%s must not hold control "
			    "characters", what);
		if ((step = utf8_seq(p + i)) == 0)
			return ov_seterr(OV_EINVAL, "%s is not valid UTF-8",
			    what);
		/* C1 controls U+0080..U+009F (0xc2 0x80..0x9f). */
		if (p[i] == 0xc2 && p[i + 1] >= 0x80 && p[i + 1] <= 0x9f)
			return ov_seterr(OV_EINVAL, "%s must not hold control "
			    "characters", what);
	}
	return OV_OK;
}

enum ov_rc
validate_client_id(const char *s)
{
	size_t n = strlen(s);

	if (n == 0 || n > OV_CLIENT_ID_MAX)
		return ov_seterr(OV_EINVAL, "client id must be 1 to %d "
		    "characters", OV_CLIENT_ID_MAX);
	for (size_t i = 0; i < n; i++)
		if (s[i] <= 0x20 || s[i] >= 0x7f)
			return ov_seterr(OV_EINVAL, "client id may hold only "
			    "printable ASCII without spaces");
	return OV_OK;
}

static int
scope_char(unsigned char c)
{
	/* RFC 6749 §3.3: %x21 / %x23-5B / %x5D-7E */
	return c == 0x21 || (c >= 0x23 && c <= 0x5b) ||
	    (c >= 0x5d && c <= 0x7e);
}

enum ov_rc
validate_scope(const char *in, char *out, size_t outlen)
{
	size_t used = 0;
	const char *p = in;

	if (strlen(in) > OV_SCOPE_MAX)
		return ov_seterr(OV_ELIMIT, "scope is longer than %d bytes",
		    OV_SCOPE_MAX);
	if (outlen == 0)
		return ov_seterr(OV_EINTERNAL, "scope buffer is empty");
	out[0] = '\0';
	while (*p) {
		const char *tok;
		size_t n;
		int dup = 0;

		while (*p == ' ')
			p++;
		tok = p;
		while (*p && *p != ' ') {
			if (!scope_char((unsigned char)*p))
				return ov_seterr(OV_EINVAL, "scope holds a "
				    "character RFC 6749 does not allow");
			p++;
		}
		if ((n = (size_t)(p - tok)) == 0)
			break;
		for (const char *q = out; *q && !dup; ) {
			size_t m = strcspn(q, " ");
			dup = (m == n && strncmp(q, tok, n) == 0);
			q += m + (q[m] == ' ');
		}
		if (dup)
			continue;
		if (used + (used ? 1 : 0) + n + 1 > outlen)
			return ov_seterr(OV_ELIMIT, "scope is too long");
		if (used)
			out[used++] = ' ';
		memcpy(out + used, tok, n);
		used += n;
		out[used] = '\0';
	}
	return OV_OK;
}

enum ov_rc
validate_refresh_at(const char *s, double *fraction, int64_t *age_s)
{
	char *end;
	double f;

	if (strchr(s, '.') || strcmp(s, "0") == 0 || strcmp(s, "1") == 0) {
		errno = 0;
		f = strtod(s, &end);
		if (errno || *end != '\0' || !isfinite(f) || f <= 0.0 ||
		    f >= 1.0)
			return ov_seterr(OV_EINVAL, "refresh-at fraction must "
			    "be between 0 and 1, e.g. 0.75");
		*fraction = f;
		*age_s = 0;
		return OV_OK;
	}
	if (validate_duration(s, 365LL * 86400, age_s) != OV_OK)
		return ov_seterr(OV_EINVAL, "refresh-at must be a fraction of "
		    "the token lifetime (0.75) or an age such as 18h, 90m, "
		    "3600s, 2d");
	*fraction = 0.0;
	return OV_OK;
}

enum ov_rc
validate_duration(const char *s, int64_t max_s, int64_t *out)
{
	char *end;
	long long v;

	errno = 0;
	v = strtoll(s, &end, 10);
	if (errno || end == s || v <= 0 || v > max_s || end[0] == '\0' ||
	    end[1] != '\0' || !isdigit((unsigned char)s[0]))
		goto bad;
	switch (end[0]) {
	case 's': break;
	case 'm': v = v > max_s / 60 ? max_s + 1 : v * 60; break;
	case 'h': v = v > max_s / 3600 ? max_s + 1 : v * 3600; break;
	case 'd': v = v > max_s / 86400 ? max_s + 1 : v * 86400; break;
	default: goto bad;
	}
	if (v > max_s)
		goto bad;
	*out = v;
	return OV_OK;
bad:
	return ov_seterr(OV_EINVAL, "a duration is a positive whole number "
	    "with s, m, h or d (90d, 18h, 30m, 3600s), at most %lld days",
	    (long long)(max_s / 86400));
}

/* localhost, [::1], or an IPv4 literal in 127.0.0.0/8 — not a name
 * that merely starts with "127.". */
static int
loopback_host(const char *h)
{
	struct in_addr a;

	if (strcmp(h, "localhost") == 0 || strcmp(h, "[::1]") == 0 ||
	    strcmp(h, "::1") == 0)
		return 1;
	return inet_pton(AF_INET, h, &a) == 1 &&
	    (ntohl(a.s_addr) >> 24) == 127;
}

enum ov_rc
validate_url(const char *what, const char *in, char *out, size_t outlen)
{
	CURLU *u;
	char *scheme = NULL, *host = NULL, *user = NULL, *frag = NULL;
	char *full = NULL;
	enum ov_rc rc = OV_OK;

	if (strlen(in) > OV_URL_MAX)
		return ov_seterr(OV_ELIMIT, "%s is longer than %d bytes",
		    what, OV_URL_MAX);
	if ((u = curl_url()) == NULL)
		return ov_seterr(OV_ENOMEM, "out of memory");
	if (curl_url_set(u, CURLUPART_URL, in, 0) != CURLUE_OK ||
	    curl_url_get(u, CURLUPART_SCHEME, &scheme, 0) != CURLUE_OK ||
	    curl_url_get(u, CURLUPART_HOST, &host, 0) != CURLUE_OK) {
		rc = ov_seterr(OV_EINVAL, "%s is not a valid absolute URL",
		    what);
		goto out;
	}
	if (curl_url_get(u, CURLUPART_USER, &user, 0) == CURLUE_OK ||
	    curl_url_get(u, CURLUPART_FRAGMENT, &frag, 0) == CURLUE_OK) {
		rc = ov_seterr(OV_EINVAL, "%s must not hold user info or a "
		    "fragment", what);
		goto out;
	}
	if (strcmp(scheme, "https") != 0 &&
	    !(strcmp(scheme, "http") == 0 && loopback_host(host))) {
		rc = ov_seterr(OV_EINVAL, "%s must use https (plain http is "
		    "allowed only to a loopback host)", what);
		goto out;
	}
	if (curl_url_get(u, CURLUPART_URL, &full, 0) != CURLUE_OK ||
	    strlen(full) >= outlen) {
		rc = ov_seterr(OV_ELIMIT, "%s is too long", what);
		goto out;
	}
	/* libcurl decodes %XX in the host ("%7f", "%86"): a URL kept with
	 * control bytes or bytes that are not UTF-8 cannot be shown as JSON
	 * (GET of the credential would fail) nor logged safely. */
	for (const unsigned char *p = (const unsigned char *)full; *p; p++)
		if (*p <= 0x20 || *p >= 0x7f) {
			rc = ov_seterr(OV_EINVAL, "%s must be printable ASCII "
			    "(a host name that is not ASCII in punycode, "
			    "xn--...)", what);
			goto out;
		}
	memcpy(out, full, strlen(full) + 1);
out:
	curl_free(scheme);
	curl_free(host);
	curl_free(user);
	curl_free(frag);
	curl_free(full);
	curl_url_cleanup(u);
	return rc;
}

enum ov_rc
validate_token_url(const char *in, char *out, size_t outlen)
{
	return validate_url("token URL", in, out, outlen);
}

int
validate_in_list(const char *list, const char *item)
{
	size_t n = strlen(item);
	const char *p = list;

	while (n && (p = strstr(p, item)) != NULL) {
		if ((p == list || p[-1] == ',') && (p[n] == ',' ||
		    p[n] == '\0'))
			return 1;
		p += n;
	}
	return 0;
}

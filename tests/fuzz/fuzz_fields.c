/*
 * fuzz_fields.c — the one-string parsers of API bodies, import lines and
 * options: slugs, display text, client ids (util/validate.c), Genesys
 * regions (rotation/provider.c), refresh policies (validate_refresh_at),
 * `serve --listen HOST:PORT` (admin_parse_listen) and the RFC 3339 times
 * of the audit API's since/until (timefmt_parse_rfc3339).
 *
 * Input: one byte choosing the parser, then the string.  Each answer is
 * checked against the rule its header states, written again here in the
 * plainest way, in both directions where the rule is exact.
 */
#include <arpa/inet.h>
#include <ctype.h>
#include <strings.h>

#include <jansson.h>

#include "fuzz.h"
#include "admin/admin.h"
#include "rotation/provider.h"
#include "util/timefmt.h"
#include "util/validate.h"

static void
slug(const char *s)
{
	size_t n = strlen(s);
	int ok = n >= 1 && n <= OV_SLUG_MAX && s[0] != '-' && s[n - 1] != '-';

	for (size_t i = 0; i < n; i++)
		ok &= (s[i] >= 'a' && s[i] <= 'z') || (s[i] >= '0' &&
		    s[i] <= '9') || s[i] == '-';
	if ((validate_slug("slug", s) == OV_OK) != ok)
		fuzz_fail("slug '%s' judged %s", s, ok ? "bad" : "good");
}

static void
text(const char *s)
{
	const unsigned char *p = (const unsigned char *)s;
	size_t n = strlen(s);
	json_t *utf8 = json_string(s);	/* NULL: not valid UTF-8 */
	int ok = n >= 1 && n <= OV_NAME_MAX && utf8 != NULL;

	for (size_t i = 0; i < n; i++)	/* C0, DEL, C1 (c2 80..9f) */
		if (p[i] < 0x20 || p[i] == 0x7f || (p[i] == 0xc2 &&
		    p[i + 1] >= 0x80 && p[i + 1] <= 0x9f))
			ok = 0;
	json_decref(utf8);
	if ((validate_text("name", s, OV_NAME_MAX) == OV_OK) != ok)
		fuzz_fail("text of %zu bytes judged %s", n, ok ? "bad" : "good");
}

static void
client_id(const char *s)
{
	size_t n = strlen(s);
	int ok = n >= 1 && n <= OV_CLIENT_ID_MAX;

	for (size_t i = 0; i < n; i++)
		ok &= s[i] > 0x20 && s[i] < 0x7f;
	if ((validate_client_id(s) == OV_OK) != ok)
		fuzz_fail("client id '%s' judged %s", s, ok ? "bad" : "good");
}

static void
region(const char *s)
{
	const char *key, *domain, *k2, *d2;
	char upper[OV_REGION_MAX + 1];

	if (provider_genesys_region(s, &key, &domain) != OV_OK)
		return;
	if (strlen(s) > OV_REGION_MAX || domain[0] == '\0')
		fuzz_fail("region '%s' accepted", s);
	/* The key and the domain name the same region, in any case. */
	if (provider_genesys_region(key, &k2, &d2) != OV_OK || k2 != key ||
	    provider_genesys_region(domain, &k2, &d2) != OV_OK || k2 != key)
		fuzz_fail("region '%s' is not stable", s);
	for (size_t i = 0; i <= strlen(s); i++)
		upper[i] = (char)toupper((unsigned char)s[i]);
	if (provider_genesys_region(upper, &k2, &d2) != OV_OK || k2 != key)
		fuzz_fail("region '%s' depends on case", s);
}

static void
refresh_at(const char *s)
{
	double f = -1;
	int64_t age = -1;

	if (validate_refresh_at(s, &f, &age) != OV_OK) {
		if (f != -1 || age != -1)
			fuzz_fail("refresh-at '%s' refused but written", s);
		return;
	}
	if (!((f > 0.0 && f < 1.0 && age == 0) ||
	    (f == 0.0 && age >= 1 && age <= 365LL * 86400)))
		fuzz_fail("refresh-at '%s' gives %g / %lld", s, f,
		    (long long)age);
}

static void
listen_addr(const char *s)
{
	struct admin_config c, before;
	unsigned char addr[16];

	admin_config_defaults(&c);
	before = c;
	if (admin_parse_listen(s, &c) != OV_OK) {
		if (memcmp(&c, &before, sizeof(c)) != 0)
			fuzz_fail("--listen '%s' refused but written", s);
		return;
	}
	if (c.port < 0 || c.port > 65535 || (inet_pton(AF_INET, c.host,
	    addr) != 1 && inet_pton(AF_INET6, c.host, addr) != 1))
		fuzz_fail("--listen '%s' gives %s port %d", s, c.host, c.port);
}

static void
rfc3339(const char *s)
{
	int64_t secs, again, ms;
	char buf[40];

	if (timefmt_parse_rfc3339(s, &secs) != 0)
		return;
	/* The audit API works in milliseconds (h_audit.c time_arg). */
	if (__builtin_mul_overflow(secs, (int64_t)1000, &ms))
		fuzz_fail("time '%s' overflows in milliseconds", s);
	/* An offset can move a time out of years 0000-9999, which RFC 3339
	 * cannot write: those are not formatted again. */
	if (secs < -62167219200LL || secs > 253402300799LL)
		return;
	timefmt_rfc3339(secs, buf, sizeof(buf));
	if (timefmt_parse_rfc3339(buf, &again) != 0 || again != secs)
		fuzz_fail("time '%s' = %lld does not round-trip via %s", s,
		    (long long)secs, buf);
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static void (*const parsers[])(const char *) = { slug, text,
	    client_id, region, refresh_at, listen_addr, rfc3339 };
	char *s;

	if (size == 0)
		return 0;
	s = fuzz_strndup(data + 1, size - 1);
	parsers[data[0] % (sizeof(parsers) / sizeof(parsers[0]))](s);
	free(s);
	return 0;
}

/*
 * fuzz_url.c — URLs orgvault sends to: validate_url() and
 * validate_token_url() (util/validate.c, over libcurl's URL parser) and
 * the Genesys platform API base derived from a token URL
 * (provider_genesys_api_base).
 *
 * Input: the URL.  Checked: an accepted URL is https, or http to a
 * loopback address, without user info or fragment, printable ASCII;
 * its normal form is accepted again with the same scheme; it fits a
 * buffer of exactly its size and not one byte less; the API base is
 * scheme and authority only.
 */
#include "fuzz.h"
#include "rotation/provider.h"
#include "util/validate.h"

static void
check_api_base(const char *url)
{
	struct vault_cred c;
	char base[OV_URL_MAX + 1];
	const char *auth;

	memset(&c, 0, sizeof(c));
	snprintf(c.provider, sizeof(c.provider), "genesys");
	snprintf(c.token_url, sizeof(c.token_url), "%s", url);
	if (provider_genesys_api_base(&c, base, sizeof(base)) != OV_OK)
		fuzz_fail("no API base for accepted '%s'", url);
	if ((auth = strstr(base, "://")) == NULL || strncmp(base, url,
	    (size_t)(auth - base)) != 0)
		fuzz_fail("API base '%s' of '%s' lost the scheme", base, url);
	auth += 3;
	if (*auth == '\0' || strpbrk(auth, "/?#@") != NULL)
		fuzz_fail("API base '%s' is not scheme://authority", base);
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char out[OV_URL_MAX + 1], again[OV_URL_MAX + 1], *url, *exact;
	size_t n;

	url = fuzz_strndup(data, size);
	if (validate_token_url(url, out, sizeof(out)) != OV_OK) {
		free(url);
		return 0;
	}
	if (strncmp(out, "https://", 8) != 0 && strncmp(out, "http://", 7) != 0)
		fuzz_fail("'%s' accepted as '%s'", url, out);
	for (const unsigned char *p = (unsigned char *)out; *p; p++)
		if (*p <= 0x20 || *p >= 0x7f)
			fuzz_fail("'%s' accepted with byte 0x%02x", url, *p);
	/* What is stored is what libcurl parses when it sends: it must pass
	 * the same rules on its own, with the same scheme.  (Not always
	 * unchanged: libcurl 7.88 writes "https:/60.7%30" as
	 * https://60.70/, which it then reads as 60.0.0.70 — the host
	 * it connects to either way.) */
	if (validate_url("webhook URL", out, again, sizeof(again)) != OV_OK ||
	    strncmp(again, out, (size_t)(strchr(out, ':') - out + 1)) != 0)
		fuzz_fail("'%s' normalised to '%s', then '%s'", url, out, again);
	n = strlen(out);
	if ((exact = malloc(n + 1)) == NULL)
		fuzz_fail("out of memory");
	if (validate_token_url(url, exact, n + 1) != OV_OK ||
	    strcmp(exact, out) != 0 ||
	    validate_token_url(url, exact, n) != OV_ELIMIT)
		fuzz_fail("'%s' does not fit exactly %zu bytes", out, n + 1);
	free(exact);
	check_api_base(out);
	free(url);
	return 0;
}

/*
 * fuzz_retry_after.c — oauth_parse_retry_after(), the Retry-After header
 * of a 429 (delta-seconds or an HTTP date, through curl_getdate).
 *
 * Input: the raw header value.  Checked: the answer is -1 or within the
 * cap; a smaller cap only clips (the same value parsed with caps of one
 * day and ten minutes agrees); delta-seconds are read exactly.
 */
#include "fuzz.h"
#include "rotation/oauth.h"

#define NOW		1767225600	/* 2026-01-01T00:00:00Z */
#define CAP_SHORT	OV_RETRY_AFTER_CAP_S
#define CAP_LONG	86400L

/* The delta-seconds value of v when it is only digits (and blanks
 * around them), else -2. */
static long
digits_only(const char *v, long cap)
{
	unsigned long long n = 0;
	int any = 0, big = 0;

	while (*v == ' ' || *v == '\t')
		v++;
	for (; *v >= '0' && *v <= '9'; v++, any = 1) {
		if (n > (unsigned long long)cap)
			big = 1;
		else
			n = n * 10 + (unsigned long long)(*v - '0');
	}
	while (*v == ' ' || *v == '\t' || *v == '\r' || *v == '\n')
		v++;
	if (!any || *v != '\0')
		return -2;
	return big || n > (unsigned long long)cap ? cap : (long)n;
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char *v = fuzz_strndup(data, size);
	long s = oauth_parse_retry_after(v, NOW, CAP_SHORT);
	long l = oauth_parse_retry_after(v, NOW, CAP_LONG);
	long want = digits_only(v, CAP_SHORT);

	if (s < -1 || s > CAP_SHORT || l < -1 || l > CAP_LONG)
		fuzz_fail("retry-after %ld / %ld out of range", s, l);
	if ((s == -1) != (l == -1) || (s != -1 && s != (l < CAP_SHORT ? l :
	    CAP_SHORT)))
		fuzz_fail("cap %d gives %ld but cap %ld gives %ld", CAP_SHORT,
		    s, CAP_LONG, l);
	if (want != -2 && s != want)
		fuzz_fail("delta-seconds read as %ld, not %ld", s, want);
	if (oauth_parse_retry_after(NULL, NOW, CAP_SHORT) != -1)
		fuzz_fail("no header is not -1");
	free(v);
	return 0;
}

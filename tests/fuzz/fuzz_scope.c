/*
 * fuzz_scope.c — scope sets: validate_scope() (util/validate.c), the
 * normaliser of an expected scope (API body, import line, CLI), and
 * rot_scope_drift() (rotation/policy.c), which compares it with the
 * scope a provider granted.
 *
 * Input: one byte for the size of a small output buffer, then
 * "EXPECTED\nGRANTED".  Checked: a normalised set is RFC 6749 characters
 * in single-space-separated, unique tokens, the same set as the input,
 * and normalising it again changes nothing; a small buffer gives
 * OV_ELIMIT, never an overflow; drift lists exactly the tokens missing
 * from or added to the grant.
 */
#include <jansson.h>

#include "fuzz.h"
#include "rotation/rotation.h"
#include "util/validate.h"

static int
scope_char(unsigned char c)
{
	return c == 0x21 || (c >= 0x23 && c <= 0x5b) || (c >= 0x5d && c <= 0x7e);
}

/* True when the space-separated set holds the n bytes at tok. */
static int
has(const char *set, const char *tok, size_t n)
{
	for (const char *p = set; *p; ) {
		size_t m = strcspn(p, " ");

		if (m == n && m > 0 && memcmp(p, tok, n) == 0)
			return 1;
		p += m + (p[m] == ' ');
	}
	return 0;
}

/* Every token of a is in b. */
static int
subset(const char *a, const char *b)
{
	for (const char *p = a; *p; ) {
		size_t m = strcspn(p, " ");

		if (m > 0 && !has(b, p, m))
			return 0;
		p += m + (p[m] == ' ');
	}
	return 1;
}

static void
check_normal(const char *in, const char *out)
{
	char again[OV_SCOPE_MAX + 1];
	size_t n = strlen(out);

	if (n && (out[0] == ' ' || out[n - 1] == ' ' || strstr(out, "  ")))
		fuzz_fail("scope '%s' is not single-spaced", out);
	for (const char *p = out; *p; p++)
		if (*p != ' ' && !scope_char((unsigned char)*p))
			fuzz_fail("scope holds byte 0x%02x", (unsigned char)*p);
	for (const char *p = out; *p; ) {
		size_t m = strcspn(p, " ");

		if (has(p + m, p, m))
			fuzz_fail("scope '%s' repeats '%.*s'", out, (int)m, p);
		p += m + (p[m] == ' ');
	}
	if (!subset(in, out) || !subset(out, in))
		fuzz_fail("scope '%s' is not the set of '%s'", out, in);
	if (validate_scope(out, again, sizeof(again)) != OV_OK ||
	    strcmp(again, out) != 0)
		fuzz_fail("normalising '%s' again gave '%s'", out, again);
}

static int
listed(json_t *arr, const char *tok, size_t n)
{
	size_t i;
	json_t *v;

	json_array_foreach(arr, i, v)
		if (json_string_length(v) == n &&
		    memcmp(json_string_value(v), tok, n) == 0)
			return 1;
	return 0;
}

/* Every token of a not in b is listed in arr, and nothing else. */
static void
check_minus(const char *a, const char *b, json_t *arr, const char *what)
{
	size_t want = 0, i;
	json_t *v;

	for (const char *p = a; *p; ) {
		size_t m = strcspn(p, " ");

		if (m > 0 && !has(b, p, m)) {
			want++;
			if (!listed(arr, p, m))
				fuzz_fail("%s misses '%.*s'", what, (int)m, p);
		}
		p += m;
		while (*p == ' ')
			p++;
	}
	json_array_foreach(arr, i, v)
		if (!has(a, json_string_value(v), json_string_length(v)) ||
		    has(b, json_string_value(v), json_string_length(v)))
			fuzz_fail("%s lists '%s' wrongly", what,
			    json_string_value(v));
	if (json_array_size(arr) != want)
		fuzz_fail("%s lists %zu, not %zu", what, json_array_size(arr),
		    want);
}

static void
check_drift(const char *expected, const char *granted)
{
	json_t *d = rot_scope_drift(expected, granted), *none;
	/* An empty expected set is "not configured": breadth only. */
	int differ = *expected && (!subset(granted, expected) ||
	    !subset(expected, granted));

	if ((none = rot_scope_drift(expected, expected)) != NULL &&
	    (json_array_size(json_object_get(none, "missing")) ||
	    json_array_size(json_object_get(none, "extra"))))
		fuzz_fail("'%s' drifts from itself", expected);
	json_decref(none);
	if (differ && d == NULL)
		fuzz_fail("no drift between '%s' and '%s'", expected, granted);
	if (d && *expected) {
		check_minus(expected, granted, json_object_get(d, "missing"),
		    "missing");
		check_minus(granted, expected, json_object_get(d, "extra"),
		    "extra");
	}
	json_decref(d);
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char normal[OV_SCOPE_MAX + 1], *small, *expected, *granted;
	const uint8_t *p = data + (size > 0);
	size_t n = size - (size > 0), smallen = size ? data[0] % 48 + 1 : 1;
	json_t *utf8;
	enum ov_rc rc;

	expected = fuzz_field(&p, &n);
	granted = fuzz_strndup(p, n);
	rc = validate_scope(expected, normal, sizeof(normal));
	if (rc == OV_OK)
		check_normal(expected, normal);
	else if (rc != OV_EINVAL && rc != OV_ELIMIT)
		fuzz_fail("validate_scope: %s", ov_rc_str(rc));
	/* A buffer of the exact size ASan watches. */
	if ((small = malloc(smallen)) == NULL)
		fuzz_fail("out of memory");
	rc = validate_scope(expected, small, smallen);
	if (rc == OV_OK && (strlen(small) >= smallen || strcmp(small, normal)))
		fuzz_fail("small buffer gave '%s'", small);
	free(small);
	/* What the scheduler compares: a stored (normalised) expected set
	 * and a grant from a provider's JSON (valid UTF-8). */
	if ((utf8 = json_string(granted)) != NULL &&
	    strlen(granted) <= OV_SCOPE_MAX)
		check_drift(validate_scope(expected, normal, sizeof(normal)) ==
		    OV_OK ? normal : "", granted);
	json_decref(utf8);
	free(expected);
	free(granted);
	return 0;
}

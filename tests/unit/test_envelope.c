/* test_envelope.c — vault/envelope.c: the AEAD format of every secret. */
#include "unit.h"

#include "vault/envelope.h"

#define BINDING "secret_versions|client_secret|1|2|3"

static unsigned char key[32], other_key[32];

static void
seal(uint32_t kv, const char *binding, const unsigned char *pt, size_t len,
    unsigned char **env, size_t *envlen)
{
	assert_int_equal(envelope_seal(key, kv, binding, pt, len, env, envlen),
	    OV_OK);
	assert_non_null(*env);
	assert_int_equal(*envlen, len + ENVELOPE_OVERHEAD);
}

static void
test_round_trip_lengths(void **state)
{
	static const size_t lens[] = { 0, 1, 2, 15, 16, 17, 31, 32, 33, 255,
	    1000, 4096, 16384, 65536 };

	(void)state;
	for (size_t i = 0; i < sizeof(lens) / sizeof(lens[0]); i++) {
		unsigned char *pt = malloc(lens[i] + 1), *env = NULL;
		struct secret *out = NULL;
		size_t envlen = 0;

		assert_non_null(pt);
		randombytes_buf(pt, lens[i] + 1);
		seal(7, BINDING, pt, lens[i], &env, &envlen);
		assert_int_equal(envelope_open(key, BINDING, env, envlen,
		    &out), OV_OK);
		assert_non_null(out);
		assert_int_equal(out->len, lens[i]);
		if (lens[i] > 0)
			assert_memory_equal(out->buf, pt, lens[i]);
		assert_int_equal(out->buf[lens[i]], '\0');
		/* The plaintext is not in the envelope. */
		if (lens[i] >= 16)
			assert_null(memmem(env, envlen, pt, lens[i]));
		secret_free(out);
		free(env);
		free(pt);
	}
}

static void
test_header_layout(void **state)
{
	const unsigned char pt[] = "client-secret-value";
	unsigned char *a = NULL, *b = NULL;
	size_t alen, blen;

	(void)state;
	seal(0x01020304, BINDING, pt, sizeof(pt) - 1, &a, &alen);
	seal(0x01020304, BINDING, pt, sizeof(pt) - 1, &b, &blen);
	assert_int_equal(a[0], ENVELOPE_FORMAT);
	assert_int_equal(a[1], 0x01);
	assert_int_equal(a[2], 0x02);
	assert_int_equal(a[3], 0x03);
	assert_int_equal(a[4], 0x04);
	/* Random nonces: two seals of the same input differ. */
	assert_int_equal(alen, blen);
	assert_memory_not_equal(a + 5, b + 5, 24);
	assert_memory_not_equal(a + ENVELOPE_HEADER, b + ENVELOPE_HEADER,
	    alen - ENVELOPE_HEADER);
	free(a);
	free(b);
}

static void
flip_every_byte(size_t ptlen)
{
	unsigned char *pt = malloc(ptlen ? ptlen : 1), *env = NULL;
	size_t envlen;

	assert_non_null(pt);
	randombytes_buf(pt, ptlen ? ptlen : 1);
	seal(3, BINDING, pt, ptlen, &env, &envlen);
	for (size_t i = 0; i < envlen; i++) {
		for (int bit = 0; bit < 8; bit += 7) {
			struct secret *out = NULL;

			env[i] ^= (unsigned char)(1u << bit);
			ov_clearerr();
			assert_int_equal(envelope_open(key, BINDING, env,
			    envlen, &out), OV_EINTEGRITY);
			assert_null(out);
			assert_true(ov_errmsg()[0] != '\0');
			env[i] ^= (unsigned char)(1u << bit);
		}
	}
	/* And the untouched envelope still opens. */
	{
		struct secret *out = NULL;

		assert_int_equal(envelope_open(key, BINDING, env, envlen, &out),
		    OV_OK);
		assert_int_equal(out->len, ptlen);
		secret_free(out);
	}
	free(env);
	free(pt);
}

static void
test_flip_every_byte_1(void **state)
{
	(void)state;
	flip_every_byte(1);
}

static void
test_flip_every_byte_64(void **state)
{
	(void)state;
	flip_every_byte(64);
}

static void
test_flip_every_byte_16384(void **state)
{
	(void)state;
	flip_every_byte(16384);
}

static void
test_flip_every_byte_empty(void **state)
{
	(void)state;
	flip_every_byte(0);
}

static void
test_binding_mismatch(void **state)
{
	static const char *wrong[] = {
		"tokens|client_secret|1|2|3",			/* table */
		"secret_versions|refresh_token|1|2|3",		/* column */
		"secret_versions|client_secret|9|2|3",		/* org id */
		"secret_versions|client_secret|1|9|3",		/* cred id */
		"secret_versions|client_secret|1|2|4",		/* version */
		"secret_versions|client_secret|1|2|30",		/* suffix */
		"secret_versions|client_secret|1|2|",		/* prefix */
		"",						/* none */
	};
	const unsigned char pt[] = "s3cr3t";
	unsigned char *env = NULL;
	size_t envlen;

	(void)state;
	seal(1, BINDING, pt, sizeof(pt) - 1, &env, &envlen);
	for (size_t i = 0; i < sizeof(wrong) / sizeof(wrong[0]); i++) {
		struct secret *out = NULL;

		assert_int_equal(envelope_open(key, wrong[i], env, envlen,
		    &out), OV_EINTEGRITY);
		assert_null(out);
	}
	free(env);
}

static void
test_wrong_key(void **state)
{
	const unsigned char pt[] = "s3cr3t";
	unsigned char *env = NULL;
	struct secret *out = NULL;
	size_t envlen;

	(void)state;
	seal(1, BINDING, pt, sizeof(pt) - 1, &env, &envlen);
	assert_int_equal(envelope_open(other_key, BINDING, env, envlen, &out),
	    OV_EINTEGRITY);
	assert_null(out);
	assert_non_null(strstr(ov_errmsg(), "does not open"));
	free(env);
}

static void
test_malformed(void **state)
{
	const unsigned char pt[] = "s3cr3t";
	unsigned char *env = NULL;
	struct secret *out = NULL;
	uint32_t kv = 12345;
	size_t envlen;

	(void)state;
	seal(1, BINDING, pt, sizeof(pt) - 1, &env, &envlen);

	/* Shorter than header + tag: malformed, never read past the end. */
	for (size_t len = 0; len < ENVELOPE_OVERHEAD; len++) {
		unsigned char *cut = malloc(len ? len : 1);

		assert_non_null(cut);
		memcpy(cut, env, len);
		ov_clearerr();
		assert_int_equal(envelope_open(key, BINDING, cut, len, &out),
		    OV_EINTEGRITY);
		assert_non_null(strstr(ov_errmsg(), "malformed"));
		assert_int_equal(envelope_key_version(cut, len, &kv),
		    OV_EINTEGRITY);
		assert_int_equal(kv, 12345);	/* untouched on failure */
		free(cut);
	}
	/* Long enough to parse but cut: the tag fails. */
	for (size_t len = ENVELOPE_OVERHEAD; len < envlen; len++)
		assert_int_equal(envelope_open(key, BINDING, env, len, &out),
		    OV_EINTEGRITY);
	/* Wrong format byte. */
	for (unsigned f = 0; f < 256; f++) {
		if (f == ENVELOPE_FORMAT)
			continue;
		env[0] = (unsigned char)f;
		ov_clearerr();
		assert_int_equal(envelope_open(key, BINDING, env, envlen,
		    &out), OV_EINTEGRITY);
		assert_non_null(strstr(ov_errmsg(), "malformed"));
		assert_int_equal(envelope_key_version(env, envlen, &kv),
		    OV_EINTEGRITY);
	}
	assert_null(out);
	free(env);
}

static void
test_too_large(void **state)
{
	size_t len = ENVELOPE_MAX - ENVELOPE_OVERHEAD + 1;
	unsigned char *pt = calloc(1, len), *env = NULL, *big;
	struct secret *out = NULL;
	size_t envlen = 0;

	(void)state;
	assert_non_null(pt);
	assert_int_equal(envelope_seal(key, 1, BINDING, pt, len, &env,
	    &envlen), OV_ELIMIT);
	assert_null(env);
	/* An over-long buffer is malformed before any crypto. */
	big = calloc(1, ENVELOPE_MAX + 1);
	assert_non_null(big);
	big[0] = ENVELOPE_FORMAT;
	assert_int_equal(envelope_open(key, BINDING, big, ENVELOPE_MAX + 1,
	    &out), OV_EINTEGRITY);
	assert_non_null(strstr(ov_errmsg(), "malformed"));
	free(big);
	free(pt);
}

static void
test_key_version(void **state)
{
	static const uint32_t versions[] = { 0, 1, 2, 255, 256, 65536,
	    0x7fffffffu, 0x80000000u, 0xffffffffu };
	const unsigned char pt[] = "x";

	(void)state;
	for (size_t i = 0; i < sizeof(versions) / sizeof(versions[0]); i++) {
		unsigned char *env = NULL;
		uint32_t kv = 0xdeadbeef;
		size_t envlen;

		seal(versions[i], BINDING, pt, 1, &env, &envlen);
		assert_int_equal(envelope_key_version(env, envlen, &kv), OV_OK);
		assert_int_equal(kv, versions[i]);
		free(env);
	}
}

static void
test_version_bound(void **state)
{
	/* Rewriting the key version in the header breaks the tag. */
	const unsigned char pt[] = "s3cr3t";
	unsigned char *env = NULL;
	struct secret *out = NULL;
	uint32_t kv;
	size_t envlen;

	(void)state;
	seal(1, BINDING, pt, sizeof(pt) - 1, &env, &envlen);
	env[4] = 2;
	assert_int_equal(envelope_key_version(env, envlen, &kv), OV_OK);
	assert_int_equal(kv, 2);
	assert_int_equal(envelope_open(key, BINDING, env, envlen, &out),
	    OV_EINTEGRITY);
	assert_null(out);
	free(env);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_round_trip_lengths),
		cmocka_unit_test(test_header_layout),
		cmocka_unit_test(test_flip_every_byte_1),
		cmocka_unit_test(test_flip_every_byte_64),
		cmocka_unit_test(test_flip_every_byte_16384),
		cmocka_unit_test(test_flip_every_byte_empty),
		cmocka_unit_test(test_binding_mismatch),
		cmocka_unit_test(test_wrong_key),
		cmocka_unit_test(test_malformed),
		cmocka_unit_test(test_too_large),
		cmocka_unit_test(test_key_version),
		cmocka_unit_test(test_version_bound),
	};

	unit_init();
	crypto_aead_xchacha20poly1305_ietf_keygen(key);
	crypto_aead_xchacha20poly1305_ietf_keygen(other_key);
	return cmocka_run_group_tests(tests, NULL, NULL);
}

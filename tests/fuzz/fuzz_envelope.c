/*
 * fuzz_envelope.c — envelope decoding (vault/envelope.c): the header
 * (format byte, key version, nonce) and the AEAD open of a secret
 * column's bytes, with this file's fixed data key and binding.
 *
 * Each input is used twice:
 *   1. as an envelope read from the database: envelope_key_version()
 *      and envelope_open() must agree on what is well formed, and an
 *      envelope that opens gives exactly len - ENVELOPE_OVERHEAD bytes;
 *   2. as a plaintext: sealed, it must open to the same bytes; with one
 *      byte changed (position and bits from the input), under another
 *      binding or another key it must not open.
 *
 * The seeds in corpus/envelope/ are envelopes made by envelope_seal()
 * with KEY and BINDING; remake them with
 *	FUZZ_WRITE_SEEDS=tests/fuzz/corpus/envelope build-fuzz/fuzz/fuzz_envelope -runs=0
 */
#define FUZZ_OWN_INIT
#include "fuzz.h"
#include "vault/envelope.h"

#define BINDING		"secret_versions|client_secret|1|2|3"
#define OTHER_BINDING	"secret_versions|client_secret|1|2|4"

static unsigned char key[32], other_key[32];

static void
write_seed(const char *dir, const char *name, uint32_t kv, const char *pt)
{
	unsigned char *env;
	size_t len;
	char path[512];
	FILE *f;

	if (envelope_seal(key, kv, BINDING, (const unsigned char *)pt,
	    strlen(pt), &env, &len) != OV_OK)
		fuzz_fail("seal: %s", ov_errmsg());
	snprintf(path, sizeof(path), "%s/%s", dir, name);
	if ((f = fopen(path, "wb")) == NULL || fwrite(env, 1, len, f) != len ||
	    fclose(f) != 0)
		fuzz_fail("cannot write %s", path);
	free(env);
}

int
LLVMFuzzerInitialize(int *argc, char ***argv)
{
	const char *dir = getenv("FUZZ_WRITE_SEEDS");

	(void)argc;
	(void)argv;
	fuzz_init();
	for (size_t i = 0; i < sizeof(key); i++) {
		key[i] = (unsigned char)(0x40 + i);
		other_key[i] = (unsigned char)(0x41 + i);
	}
	if (dir) {
		write_seed(dir, "client-secret-v1", 1, "s3cr3t-Client-Secret-0042");
		write_seed(dir, "refresh-token-v7", 7, "rt.AAEAAQ-example.refresh"
		    ".token_with-dots");
		write_seed(dir, "empty-v1", 1, "");
		write_seed(dir, "genesys-token-v65536", 65536, "gZrQjbXUqg9wS8a"
		    "0nh1hAXvWnEGAjkUhk3CbZ2fy1Vx6Vl0c2UyZf2q4qe6FZ-dU4b0KxD7sDP"
		    "hOa7aHjN5iY");
	}
	return 0;
}

/* Part 1: the input as stored bytes. */
static void
open_stored(const uint8_t *data, size_t size)
{
	struct secret *out = NULL;
	uint32_t kv = 0;
	enum ov_rc krc, orc;

	krc = envelope_key_version(data, size, &kv);
	if (krc == OV_OK && (size < ENVELOPE_OVERHEAD ||
	    size > ENVELOPE_MAX || data[0] != ENVELOPE_FORMAT))
		fuzz_fail("a malformed header of %zu bytes accepted", size);
	if (krc == OV_OK && kv != ((uint32_t)data[1] << 24 |
	    (uint32_t)data[2] << 16 | (uint32_t)data[3] << 8 | data[4]))
		fuzz_fail("key version %u is not the header's", kv);
	orc = envelope_open(key, BINDING, data, size, &out);
	if (orc == OV_OK) {
		if (krc != OV_OK)
			fuzz_fail("an envelope opened without a valid header");
		if (out == NULL || out->len != size - ENVELOPE_OVERHEAD ||
		    out->buf[out->len] != '\0')
			fuzz_fail("opened to the wrong length");
		secret_free(out);
	} else if (orc != OV_EINTEGRITY)
		fuzz_fail("open failed with %s", ov_rc_str(orc));
}

/* Part 2: the input as a plaintext. */
static void
round_trip(const uint8_t *data, size_t size)
{
	uint32_t kv = size >= 4 ? (uint32_t)data[0] << 24 |
	    (uint32_t)data[1] << 16 | (uint32_t)data[2] << 8 | data[3] : 1;
	unsigned char *env = NULL;
	struct secret *out = NULL;
	size_t envlen, at;
	uint32_t got;

	if (envelope_seal(key, kv, BINDING, data, size, &env, &envlen) != OV_OK)
		fuzz_fail("seal of %zu bytes: %s", size, ov_errmsg());
	if (envlen != size + ENVELOPE_OVERHEAD ||
	    envelope_key_version(env, envlen, &got) != OV_OK || got != kv)
		fuzz_fail("sealed envelope has the wrong length or version");
	if (envelope_open(key, BINDING, env, envlen, &out) != OV_OK ||
	    out->len != size || (size && memcmp(out->buf, data, size) != 0))
		fuzz_fail("round trip of %zu bytes lost data", size);
	secret_free(out);
	out = NULL;
	if (envelope_open(key, OTHER_BINDING, env, envlen, &out) == OV_OK ||
	    envelope_open(other_key, BINDING, env, envlen, &out) == OV_OK)
		fuzz_fail("opened under another binding or key");
	at = size ? data[size - 1] * 257u % envlen : 0;
	env[at] ^= (unsigned char)(size > 1 ? data[size - 2] | 1 : 0x80);
	if (envelope_open(key, BINDING, env, envlen, &out) == OV_OK)
		fuzz_fail("opened with byte %zu changed", at);
	free(env);
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	open_stored(data, size);
	if (size <= ENVELOPE_MAX - ENVELOPE_OVERHEAD)
		round_trip(data, size);
	return 0;
}

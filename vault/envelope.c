/*
 * envelope.c — the on-disk form of every secret column.
 *
 *   offset  size  field
 *   0       1     format version (1)
 *   1       4     key version, big-endian (data-key version in keyring)
 *   5       24    random nonce
 *   29      n+16  XChaCha20-Poly1305 ciphertext and tag
 *
 * Associated data = the 5 header bytes || the caller's binding string
 * "table|column|org_id|credential_id|version" (see vault/store.c), so a
 * ciphertext moved to another row, column, org or key version fails.
 * This file sees data keys passed in by keyring.c, never the master key.
 */
#include <stdlib.h>
#include <string.h>

#include <sodium.h>

#include "vault/envelope.h"

static void
header_write(unsigned char *h, uint32_t key_version)
{
	h[0] = ENVELOPE_FORMAT;
	h[1] = (unsigned char)(key_version >> 24);
	h[2] = (unsigned char)(key_version >> 16);
	h[3] = (unsigned char)(key_version >> 8);
	h[4] = (unsigned char)key_version;
}

/* AD = header(5) || binding; returned in a malloc'd buffer. */
static unsigned char *
ad_build(const unsigned char *h, const char *binding, size_t *len)
{
	size_t blen = strlen(binding);
	unsigned char *ad;

	if ((ad = malloc(5 + blen)) == NULL)
		return NULL;
	memcpy(ad, h, 5);
	memcpy(ad + 5, binding, blen);
	*len = 5 + blen;
	return ad;
}

enum ov_rc
envelope_seal(const unsigned char key[32], uint32_t key_version,
    const char *binding, const unsigned char *pt, size_t ptlen,
    unsigned char **out, size_t *outlen)
{
	unsigned char *env, *ad;
	unsigned long long clen;
	size_t adlen;

	if (ptlen > ENVELOPE_MAX - ENVELOPE_OVERHEAD)
		return ov_seterr(OV_ELIMIT, "secret too large to seal");
	if ((env = malloc(ptlen + ENVELOPE_OVERHEAD)) == NULL)
		return ov_seterr(OV_ENOMEM, "out of memory");
	header_write(env, key_version);
	randombytes_buf(env + 5, 24);
	if ((ad = ad_build(env, binding, &adlen)) == NULL) {
		free(env);
		return ov_seterr(OV_ENOMEM, "out of memory");
	}
	crypto_aead_xchacha20poly1305_ietf_encrypt(env + ENVELOPE_HEADER,
	    &clen, pt, ptlen, ad, adlen, NULL, env + 5, key);
	free(ad);
	*out = env;
	*outlen = ENVELOPE_HEADER + (size_t)clen;
	return OV_OK;
}

enum ov_rc
envelope_key_version(const unsigned char *env, size_t len,
    uint32_t *key_version)
{
	if (len < ENVELOPE_OVERHEAD || len > ENVELOPE_MAX ||
	    env[0] != ENVELOPE_FORMAT)
		return ov_seterr(OV_EINTEGRITY, "envelope is malformed");
	*key_version = (uint32_t)env[1] << 24 | (uint32_t)env[2] << 16 |
	    (uint32_t)env[3] << 8 | env[4];
	return OV_OK;
}

enum ov_rc
envelope_open(const unsigned char key[32], const char *binding,
    const unsigned char *env, size_t len, struct secret **out)
{
	struct secret *pt;
	unsigned char *ad;
	unsigned long long ptlen;
	size_t adlen;
	uint32_t kv;
	enum ov_rc rc;

	if ((rc = envelope_key_version(env, len, &kv)) != OV_OK)
		return rc;
	if ((ad = ad_build(env, binding, &adlen)) == NULL)
		return ov_seterr(OV_ENOMEM, "out of memory");
	/* Decrypt straight into the caller's secret: one guarded buffer. */
	if ((rc = secret_new(len - ENVELOPE_OVERHEAD, &pt)) != OV_OK) {
		free(ad);
		return rc;
	}
	if (crypto_aead_xchacha20poly1305_ietf_decrypt(pt->buf, &ptlen, NULL,
	    env + ENVELOPE_HEADER, len - ENVELOPE_HEADER, ad, adlen,
	    env + 5, key) != 0) {
		secret_free(pt);
		rc = ov_seterr(OV_EINTEGRITY, "envelope does not open: "
		    "tampered, moved from another row, or wrong key");
	} else
		*out = pt;
	free(ad);
	return rc;
}

/* envelope.h — AEAD envelopes (format in envelope.c). Internal to vault/. */
#ifndef OV_ENVELOPE_H
#define OV_ENVELOPE_H

#include <stddef.h>
#include <stdint.h>

#include "util/err.h"
#include "util/secret.h"

#define ENVELOPE_FORMAT		1
#define ENVELOPE_HEADER		(1 + 4 + 24)
#define ENVELOPE_OVERHEAD	(ENVELOPE_HEADER + 16)
#define ENVELOPE_MAX		(ENVELOPE_OVERHEAD + 65536)

/* Seals pt under key; *out is malloc'd, *outlen = ptlen + OVERHEAD. */
enum ov_rc	envelope_seal(const unsigned char key[32], uint32_t key_version,
		    const char *ad, const unsigned char *pt, size_t ptlen,
		    unsigned char **out, size_t *outlen);
/* Reads the key version from a well-formed header. */
enum ov_rc	envelope_key_version(const unsigned char *env, size_t len,
		    uint32_t *key_version);
enum ov_rc	envelope_open(const unsigned char key[32], const char *ad,
		    const unsigned char *env, size_t len, struct secret **out);

#endif

/*
 * secret.h — plaintext secrets in guarded memory.
 *
 * A struct secret holds bytes in sodium_malloc memory (guard pages, no
 * swap where the OS allows it) and is wiped by secret_free().  Secrets
 * enter orgvault only through secret_read() — from a file or stdin,
 * never argv or the environment — or from a parsed request body.
 */
#ifndef OV_SECRET_H
#define OV_SECRET_H

#include <stddef.h>

#include "util/err.h"

struct secret {
	unsigned char	*buf;	/* sodium_malloc'd, len + 1 bytes, NUL-ended */
	size_t		 len;
};

/*
 * Reads a one-line secret from PATH, or from stdin when PATH is "-".
 * One trailing "\n" or "\r\n" is dropped; empty, over max, or holding a
 * NUL, CR or LF inside is refused.  `what` names the secret in errors
 * ("client secret").  On success *out is a new secret for secret_free().
 */
enum ov_rc	 secret_read(const char *path, size_t max, const char *what,
		    struct secret **out);
/* A new zeroed secret of len bytes (NUL-ended), to be filled in. */
enum ov_rc	 secret_new(size_t len, struct secret **out);
/* Copies len bytes into a new secret. */
enum ov_rc	 secret_from(const void *, size_t, struct secret **out);
void		 secret_free(struct secret *);	/* wipes; NULL ok */

/* Makes jansson wipe every block it frees (request bodies hold secrets). */
void		 secret_json_wipe_on_free(void);

#endif

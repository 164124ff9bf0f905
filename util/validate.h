/*
 * validate.h — checks and normalisers for untrusted strings: slugs,
 * scopes, client ids, display text, refresh policies and token URLs.
 * Each returns OV_OK or OV_EINVAL/OV_ELIMIT with a message naming `what`.
 */
#ifndef OV_VALIDATE_H
#define OV_VALIDATE_H

#include <stddef.h>
#include <stdint.h>

#include "util/err.h"

/* lowercase letters, digits, '-'; 1..OV_SLUG_MAX; no leading/trailing '-' */
enum ov_rc	validate_slug(const char *what, const char *);
/* printable UTF-8 text without control characters, 1..max bytes */
enum ov_rc	validate_text(const char *what, const char *, size_t max);
/* printable ASCII without spaces, 1..OV_CLIENT_ID_MAX */
enum ov_rc	validate_client_id(const char *);
/*
 * Normalises a space-separated scope set (RFC 6749 §3.3 characters):
 * duplicates dropped, order kept, single spaces.  "" is a valid empty set.
 */
enum ov_rc	validate_scope(const char *in, char *out, size_t outlen);
/*
 * "0.75" → fraction 0.75 (0 < f < 1), or "18h" / "90m" / "3600s" / "2d"
 * → absolute age in seconds.  Exactly one of *fraction, *age_s is set
 * non-zero.
 */
enum ov_rc	validate_refresh_at(const char *, double *fraction,
		    int64_t *age_s);
/* "90d", "18h", "30m", "3600s" → seconds in *out (1 .. max_s). */
enum ov_rc	validate_duration(const char *, int64_t max_s, int64_t *out);
/*
 * A token URL: https, or http only to a loopback host; no user info, no
 * fragment.  Returns the URL normalised by libcurl in out.
 */
enum ov_rc	validate_token_url(const char *, char *out, size_t outlen);
/* The same rules for any URL orgvault sends to (webhooks); `what`
 * names it in errors. */
enum ov_rc	validate_url(const char *what, const char *, char *out,
		    size_t outlen);

/* Whether item is one of the comma-separated list ("a,b,c"). */
int		validate_in_list(const char *list, const char *item);

#endif

/*
 * throttle.h — failed API-key checks, counted so that no failure can
 * refuse a key that verifies (the caller verifies first and asks here
 * only about a failure).  Failures are counted per (client address, key
 * id) — a stale key of a dashboard blocks that key from that address and
 * nothing else — and, for a key id that does not exist or a malformed
 * key, per address.  Pure: the caller passes the time; no sockets.
 */
#ifndef OV_THROTTLE_H
#define OV_THROTTLE_H

#include <stdint.h>

#define THROTTLE_FAIL_MAX	10	/* failures in a window ... */
#define THROTTLE_WINDOW_MS	60000
#define THROTTLE_BLOCK_S	60	/* ... block that bucket this long */

struct throttle;

struct throttle	*throttle_new(void);
void		 throttle_free(struct throttle *);	/* NULL ok */

struct throttle_verdict {
	long	retry_after_s;	/* > 0: blocked, answer 429 */
	int	block_started;	/* this failure started a block */
	int	event_due;	/* record an auth.throttled event (at most
				 * one per address per window) */
};
/* A failed check from addr presenting key_id (NULL or "": no such key
 * id, or no key at all) at now_ms (monotonic). */
struct throttle_verdict throttle_failure(struct throttle *,
		    const char *addr, const char *key_id, int64_t now_ms);

#endif

/*
 * pause.h — rate-limit pauses scoped like the providers' limits.  A 429
 * pauses the (token host, client id) that got it for its Retry-After;
 * the whole host is paused only when host_clients distinct clients of
 * that host got a 429 within PAUSE_WINDOW_MS (one customer's burst does
 * not stall a Genesys region).  Times are wall-clock ms (they are shown
 * as RFC 3339 and move with a clock jump, pause_shift).  Thread-safe:
 * the scheduler writes, the admin API and /metrics read.
 */
#ifndef OV_PAUSE_H
#define OV_PAUSE_H

#include <stdint.h>

#define PAUSE_WINDOW_MS		60000
#define PAUSE_HOST_CLIENTS	3	/* default of --host-pause-clients */

struct pause_reg;

struct pause_reg *pause_reg_new(int host_clients);
void	 pause_reg_free(struct pause_reg *);		/* NULL ok */

/* A 429 for client_id at host, now_ms, Retry-After retry_after_s.
 * Returns 1 when it paused the whole host, 0 when the client only. */
int	 pause_record(struct pause_reg *, const char *host,
	    const char *client_id, int64_t now_ms, long retry_after_s);
/* When client_id at host may send again (0: now); *reason (may be NULL)
 * "rate_limited" for the client's own pause, "host_rate_limited" for
 * its host's. */
int64_t	 pause_until(struct pause_reg *, const char *host,
	    const char *client_id, int64_t now_ms, const char **reason);
/* Whether any client or host is paused at now_ms (a cheap test before
 * a lookup: most of the time nothing is). */
int	 pause_any(struct pause_reg *, int64_t now_ms);
/* Every host that had a pause: paused (1/0) and its paused clients. */
typedef void (*pause_host_cb)(void *, const char *host, int host_paused,
	    int clients_paused);
void	 pause_each_host(struct pause_reg *, int64_t now_ms, pause_host_cb,
	    void *);
/* Client pauses started so far (a counter for /metrics). */
uint64_t pause_clients_total(struct pause_reg *);
/* A clock jump: every pause moves by delta_ms. */
void	 pause_shift(struct pause_reg *, int64_t delta_ms);

#endif

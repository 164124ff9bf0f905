/* timefmt.h — clock reads and RFC 3339 UTC formatting. */
#ifndef OV_TIMEFMT_H
#define OV_TIMEFMT_H

#include <stddef.h>
#include <stdint.h>
#include <time.h>

int64_t	timefmt_now(void);		/* unix seconds */
int64_t	timefmt_now_ms(void);		/* unix milliseconds */
/* Milliseconds of CLOCK_MONOTONIC: for durations and waits, which a
 * wall-clock jump must not stretch or cut. */
int64_t	timefmt_mono_ms(void);
/* "2026-11-21T10:59:11Z"; buf of at least 32 bytes.  Returns buf. */
char	*timefmt_rfc3339(int64_t secs, char *buf, size_t len);
/* "2026-11-21T10:59:11.123Z" */
char	*timefmt_rfc3339_ms(int64_t ms, char *buf, size_t len);
/* *ts = now on `clock` plus ms: a deadline for pthread_cond_timedwait. */
void	timefmt_deadline(struct timespec *ts, clockid_t clock, long ms);
/* Parses RFC 3339 UTC ("Z" or offset) to unix seconds; -1 on error. */
int	 timefmt_parse_rfc3339(const char *, int64_t *secs);

#endif

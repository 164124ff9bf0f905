/*
 * log.c — leveled logging to stderr.  fatal()/fatalx() are for start-up
 * failures and broken invariants only.
 */
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <jansson.h>

#include "util/log.h"
#include "util/timefmt.h"

static enum log_level	max_level = LOG_LVL_WARN;
static int		as_json;

void
log_init(enum log_level level, int json)
{
	max_level = level;
	as_json = json;
}

static void vlog(enum log_level, int, const char *, va_list)
    __attribute__((format(printf, 3, 0)));

static void
vlog(enum log_level level, int with_errno, const char *fmt, va_list ap)
{
	static const char *names[] = { "error", "warn", "info", "debug" };
	char msg[1024], when[40];
	int saved = errno;

	if (level > max_level)
		return;
	vsnprintf(msg, sizeof(msg), fmt, ap);
	if (with_errno) {
		size_t n = strlen(msg);
		snprintf(msg + n, sizeof(msg) - n, ": %s", strerror(saved));
	}
	if (as_json) {
		json_t *o;
		char *s;

		timefmt_rfc3339_ms(timefmt_now_ms(), when, sizeof(when));
		o = json_pack("{s:s, s:s, s:s}", "time", when, "level",
		    names[level], "msg", msg);
		s = o ? json_dumps(o, JSON_COMPACT) : NULL;
		if (s)
			fprintf(stderr, "%s\n", s);
		free(s);
		json_decref(o);
	} else
		fprintf(stderr, "orgvault: %s%s\n",
		    level == LOG_LVL_WARN ? "warning: " : "", msg);
	errno = saved;
}

#define LOGFN(fn, level, e)				\
void							\
fn(const char *fmt, ...)				\
{							\
	va_list ap;					\
	va_start(ap, fmt);				\
	vlog(level, e, fmt, ap);			\
	va_end(ap);					\
}

LOGFN(log_warn, LOG_LVL_WARN, 1)
LOGFN(log_warnx, LOG_LVL_WARN, 0)
LOGFN(log_info, LOG_LVL_INFO, 0)
LOGFN(log_debug, LOG_LVL_DEBUG, 0)

void
fatal(const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vlog(LOG_LVL_ERROR, 1, fmt, ap);
	va_end(ap);
	exit(5);
}

void
fatalx(const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vlog(LOG_LVL_ERROR, 0, fmt, ap);
	va_end(ap);
	exit(5);
}

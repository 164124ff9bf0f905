/*
 * log.c — leveled logging to stderr (or a file put in its place by
 * log_open_file, reopened on SIGHUP).  fatal()/fatalx() are for start-up
 * failures and broken invariants only.
 *
 * Every message is escaped before it is written: a byte below 0x20, DEL,
 * a backslash and a byte that is not part of valid UTF-8 become \xHH
 * (\\ for a backslash), and the C1 controls and U+2028/U+2029 become
 * \uHHHH, so a request path can never start a log line of its own or
 * send a terminal escape, and a JSON line is always valid JSON (jansson
 * refuses invalid UTF-8, which used to drop the line).
 */
#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <jansson.h>

#include "util/err.h"
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

enum ov_rc
log_open_file(const char *path)
{
	int fd = open(path, O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC, 0640);

	if (fd < 0)
		return ov_seterr(OV_EIO, "cannot open the log file %s: %s",
		    path, strerror(errno));
	/* One descriptor swap: a line being written goes to one file. */
	if (fd != STDERR_FILENO) {
		if (dup2(fd, STDERR_FILENO) < 0) {
			int e = errno;

			close(fd);
			return ov_seterr(OV_EIO, "cannot log to %s: %s", path,
			    strerror(e));
		}
		close(fd);
	}
	return OV_OK;
}

/* Length of the valid UTF-8 sequence at s (0: not one). */
static size_t
utf8_len(const unsigned char *s)
{
	size_t n, i;
	unsigned cp;

	if (s[0] < 0x80)
		return 1;
	if (s[0] >= 0xc2 && s[0] <= 0xdf)
		n = 2, cp = s[0] & 0x1f;
	else if (s[0] >= 0xe0 && s[0] <= 0xef)
		n = 3, cp = s[0] & 0x0f;
	else if (s[0] >= 0xf0 && s[0] <= 0xf4)
		n = 4, cp = s[0] & 0x07;
	else
		return 0;
	for (i = 1; i < n; i++) {
		if ((s[i] & 0xc0) != 0x80)
			return 0;
		cp = cp << 6 | (s[i] & 0x3f);
	}
	if ((n == 3 && (cp < 0x800 || (cp >= 0xd800 && cp <= 0xdfff))) ||
	    (n == 4 && (cp < 0x10000 || cp > 0x10ffff)))
		return 0;
	return n;
}

/* C1 controls (U+0080-U+009F: NEL, CSI) and U+2028/U+2029, which some
 * terminals and log viewers take as a line break or an escape. */
static int
line_breaking(const unsigned char *s, size_t n)
{
	return (n == 2 && s[0] == 0xc2 && s[1] <= 0x9f) ||
	    (n == 3 && s[0] == 0xe2 && s[1] == 0x80 && (s[2] == 0xa8 ||
	    s[2] == 0xa9));
}

size_t
log_escape(const char *in, char *out, size_t outlen)
{
	const unsigned char *s = (const unsigned char *)in;
	size_t o = 0, n;

	if (outlen == 0)
		return 0;
	for (; *s; s += n) {
		n = utf8_len(s);
		if (n == 1 && *s == '\\') {
			if (o + 2 >= outlen)
				break;
			out[o++] = '\\';
			out[o++] = '\\';
		} else if (n == 0 || (n == 1 && (*s < 0x20 || *s == 0x7f))) {
			if (o + 4 >= outlen)
				break;
			o += (size_t)snprintf(out + o, outlen - o, "\\x%02x",
			    *s);
			n = 1;
		} else if (line_breaking(s, n)) {
			unsigned cp = n == 2 ? (s[0] & 0x1fu) << 6 | (s[1] & 0x3fu) :
			    (s[0] & 0x0fu) << 12 | (s[1] & 0x3fu) << 6 |
			    (s[2] & 0x3fu);

			if (o + 6 >= outlen)
				break;
			o += (size_t)snprintf(out + o, outlen - o, "\\u%04x",
			    cp);
		} else {
			if (o + n >= outlen)
				break;
			memcpy(out + o, s, n);
			o += n;
		}
	}
	out[o] = '\0';
	return o;
}

static void vlog(enum log_level, int, const char *, va_list)
    __attribute__((format(printf, 3, 0)));

static void
vlog(enum log_level level, int with_errno, const char *fmt, va_list ap)
{
	static const char *names[] = { "error", "warn", "info", "debug" };
	char raw[1024], msg[2048], when[40];
	int saved = errno;

	if (level > max_level)
		return;
	vsnprintf(raw, sizeof(raw), fmt, ap);
	if (with_errno) {
		size_t n = strlen(raw);
		snprintf(raw + n, sizeof(raw) - n, ": %s", strerror(saved));
	}
	log_escape(raw, msg, sizeof(msg));
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

/*
 * log.h — OpenBSD-style logging to stderr: text for people, or one JSON
 * object per line (log_init(..., 1)) for collectors.  Never log a secret;
 * name orgs and credentials by slug or id.
 */
#ifndef OV_LOG_H
#define OV_LOG_H

enum log_level { LOG_LVL_ERROR, LOG_LVL_WARN, LOG_LVL_INFO, LOG_LVL_DEBUG };

#include <stddef.h>

#include "util/err.h"

void	log_init(enum log_level, int json);
/* Makes path (appended to, created 0640) the log in place of stderr;
 * called again (SIGHUP) it reopens the file after a rotation. */
enum ov_rc log_open_file(const char *path);
/* The escaping every log line gets (log.c's comment); out is always
 * terminated, cut at a whole character; returns its length. */
size_t	log_escape(const char *in, char *out, size_t outlen);
void	log_warn(const char *, ...) __attribute__((format(printf, 1, 2)));
void	log_warnx(const char *, ...) __attribute__((format(printf, 1, 2)));
void	log_info(const char *, ...) __attribute__((format(printf, 1, 2)));
void	log_debug(const char *, ...) __attribute__((format(printf, 1, 2)));
void	fatal(const char *, ...)
	    __attribute__((format(printf, 1, 2), noreturn));
void	fatalx(const char *, ...)
	    __attribute__((format(printf, 1, 2), noreturn));

#endif

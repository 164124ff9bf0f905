/*
 * err.c — error names, the rc → exit-code table, and the per-thread
 * message that carries a secret-free explanation up to the caller.
 */
#include <stdarg.h>
#include <stdio.h>

#include "util/err.h"
#include "util/limits.h"

/* One table: rc, name, exit code (README "Exit codes"). */
static const struct {
	const char	*name;
	int		 exit_code;
} rc_table[OV_RC_COUNT] = {
	[OV_OK]		= { "ok",		0 },
	[OV_EUSAGE]	= { "usage",		1 },
	[OV_EINVAL]	= { "invalid",		1 },
	[OV_ENOTFOUND]	= { "not_found",	2 },
	[OV_ECONFLICT]	= { "conflict",		3 },
	[OV_EINTEGRITY]	= { "integrity",	4 },
	[OV_ECRYPTO]	= { "crypto",		4 },
	[OV_EBUSY]	= { "busy",		5 },
	[OV_ELIMIT]	= { "limit",		1 },
	[OV_ESCHEMA]	= { "schema",		5 },
	[OV_EIO]	= { "io",		5 },
	[OV_ENOMEM]	= { "no_memory",	5 },
	[OV_EINTERNAL]	= { "internal",		5 },
	[OV_ESECRET]	= { "secret_required",	1 },
};

static _Thread_local char errmsg[OV_ERRMSG_MAX];

const char *
ov_rc_str(enum ov_rc rc)
{
	if ((unsigned)rc >= OV_RC_COUNT)
		return "unknown";
	return rc_table[rc].name;
}

int
ov_rc_exit(enum ov_rc rc)
{
	if ((unsigned)rc >= OV_RC_COUNT)
		return 5;
	return rc_table[rc].exit_code;
}

enum ov_rc
ov_seterr(enum ov_rc rc, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(errmsg, sizeof(errmsg), fmt, ap);
	va_end(ap);
	return rc;
}

const char *
ov_errmsg(void)
{
	return errmsg;
}

void
ov_clearerr(void)
{
	errmsg[0] = '\0';
}

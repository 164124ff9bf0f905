/*
 * render.h — the JSON views of vault rows, shared by the CLI's --json
 * output and the admin API, so both show the same fields.  Never a
 * secret: credentials say only whether one exists.
 */
#ifndef OV_RENDER_H
#define OV_RENDER_H

#include <jansson.h>

#include "vault/vault.h"

/* RFC 3339 UTC, as every time of the CLI and the API. */
const char	*render_time(int64_t secs, char *buf, size_t len);
/* The string of render_time(), or JSON null for 0 (unknown). */
json_t		*render_time_or_null(int64_t secs);
json_t		*render_org(const struct vault_org *);
json_t		*render_cred(const struct vault_cred *);
json_t		*render_event(const struct vault_event *);
json_t		*render_apikey(const struct vault_apikey *);
json_t		*render_webhook(const struct vault_webhook *);
json_t		*render_delivery(const struct vault_delivery *);

#endif

/*
 * clients_int.h — a client's configuration, shared by clients.c (the
 * registry and the grant logic) and client_config.c (its JSON form).
 */
#ifndef FAKE_OAUTH_CLIENTS_INT_H
#define FAKE_OAUTH_CLIENTS_INT_H

#include "fake_oauth.h"

struct fo_config {
	char			*secret;
	long			 lifetime;	/* expires_in */
	char			*scope;	/* NULL: grant the request's */
	bool			 omit_scope;
	bool			 rotate_refresh;
	bool			 echo_refresh; /* no rotation: resend */
	enum fo_behaviour	 behaviour;
	enum fo_behaviour	 api_behaviour;	/* for /api/v2 calls */
	enum fo_behaviour	*script;	/* next first; consumed */
	size_t			 script_len;
	long			 delay_ms;
	long			 retry_after;
	bool			 retry_after_date;
};

/* What a PUT or PATCH asks for beyond the configuration itself. */
struct fo_config_update {
	bool		 has_secret;
	const char	*seed_refresh;	/* into the JSON; NULL: none */
	bool		 reset;
};

void	fo_config_defaults(struct fo_config *);
void	fo_config_copy(struct fo_config *dst, const struct fo_config *src);
void	fo_config_cleanup(struct fo_config *);
/*
 * Applies the fields of obj onto cfg: 0, or -1 with a message in err (cfg
 * then half-applied: callers work on a copy).  Output-only fields of
 * GET /_admin/clients/{id} are ignored so a GET body can be PUT back.
 */
int	fo_config_apply(struct fo_config *, struct fo_config_update *,
	    const char *id, json_t *obj, char *err, size_t errlen);
/* The configuration as JSON (new reference), the remaining script too. */
json_t	*fo_config_json(const struct fo_config *);

#endif /* FAKE_OAUTH_CLIENTS_INT_H */

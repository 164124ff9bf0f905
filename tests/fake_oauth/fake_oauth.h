/*
 * fake_oauth.h — what the files of the fake OAuth token server share.
 *
 * The server is a test tool, not part of orgvault: it answers like Genesys
 * Cloud, ServiceNow or a plain RFC 6749 server, and misbehaves on demand.
 * fake_oauth.c owns libmicrohttpd; the other files see a request as a
 * struct fo_http_req and answer by filling a struct fo_reply, so that only
 * one place talks to the network.  The control API is documented at the top
 * of fake_oauth.c.
 *
 * Out of memory aborts the process (fo_xmalloc and friends): a test server
 * that cannot allocate has no useful answer to give.
 */
#ifndef FAKE_OAUTH_H
#define FAKE_OAUTH_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <time.h>

#include <jansson.h>

/* Hard caps. */
#define FO_BODY_MAX		(64 * 1024) /* request body, else 413 */
#define FO_HUGE_BODY		(5 * 1024 * 1024) /* the "huge" behaviour */
#define FO_FIELD_MAX		4096	/* any configured string */
#define FO_CONN_LIMIT		4000	/* concurrent connections */
#define FO_HANG_POLL_MS		50	/* a hang checks its peer */
#define FO_DELAY_MAX_MS		600000	/* delay_ms upper bound */

/* The three token endpoints differ only in how they phrase errors. */
enum fo_style {
	FO_STYLE_GENESYS,	/* /oauth/token */
	FO_STYLE_SERVICENOW,	/* /oauth_token.do */
	FO_STYLE_RFC		/* /token */
};

enum fo_behaviour {
	FO_B_OK,
	FO_B_INVALID_GRANT,
	FO_B_INVALID_CLIENT,
	FO_B_INVALID_SCOPE,
	FO_B_UNAUTHORIZED_CLIENT,
	FO_B_UNSUPPORTED_GRANT_TYPE,
	FO_B_INVALID_REQUEST,
	FO_B_SERVICENOW_401,
	FO_B_429,
	FO_B_500,
	FO_B_503,
	FO_B_SLOW,
	FO_B_HANG,
	FO_B_RESET,
	FO_B_GARBAGE,
	FO_B_HUGE,
	FO_B_MISSING_ACCESS_TOKEN,
	FO_B_MISTYPED,
	FO_B_HTML_500,
	FO_B_COUNT
};

const char	*fo_behaviour_str(enum fo_behaviour);
/* Returns 0 and sets *out, or -1 for an unknown name. */
int		 fo_behaviour_parse(const char *, enum fo_behaviour *out);

/* A request as the handlers see it.  All strings belong to the caller. */
struct fo_http_req {
	void		*conn;		/* for fo_req_query() */
	const char	*method;
	const char	*path;		/* without the query string */
	const char	*content_type;	/* NULL when absent */
	const char	*authorization;	/* NULL when absent */
	const char	*body;		/* body_len bytes, then NUL */
	size_t		 body_len;
};

/* A query-string argument, or NULL.  Valid while the request lives. */
const char	*fo_req_query(const struct fo_http_req *, const char *key);

enum fo_action {
	FO_SEND,	/* send status, headers and body */
	FO_RESET,	/* close the connection without an answer */
	FO_HANG		/* no answer until the peer or server quits */
};

/* What a handler answers; fake_oauth.c sends it and frees the body. */
struct fo_reply {
	enum fo_action	 action;
	int		 status;
	const char	*content_type;	/* static string */
	char		*body;		/* malloc'd, or NULL */
	size_t		 body_len;
	char		 retry_after[64]; /* "" when not sent */
	bool		 www_authenticate;
	uint64_t	 seq;		/* log entry to finish, 0: none */
	char		 note[160];	/* for --log: never a secret */
};

void	fo_reply_json(struct fo_reply *, int status, json_t *steal);
void	fo_reply_text(struct fo_reply *, int status, const char *ctype,
	    const char *text);
void	fo_reply_error(struct fo_reply *, int status, const char *message);
void	fo_reply_cleanup(struct fo_reply *);

/* Handlers (token.c, admin.c, api.c). */
void	fo_token_handle(const struct fo_http_req *, enum fo_style,
	    struct fo_reply *);
void	fo_admin_handle(const struct fo_http_req *, struct fo_reply *);
void	fo_api_handle(const struct fo_http_req *, struct fo_reply *);

/* Answers (faults.c); see the table there. */
void	fo_oauth_error(struct fo_reply *, enum fo_style, int status,
	    const char *error, const char *description);
/* invalid_client or invalid_grant; basic: the client used HTTP Basic. */
void	fo_auth_failure(struct fo_reply *, enum fo_style, const char *error,
	    const char *description, bool basic);
/* Any behaviour but ok and slow. */
void	fo_fault_reply(struct fo_reply *, enum fo_style, enum fo_behaviour,
	    long retry_after, bool retry_after_date);

/*
 * State (state.c): one mutex guards everything below and in clients.c.
 * Functions named *_locked expect the caller to hold it.
 */
void	fo_state_init(void);
void	fo_state_cleanup(void);		/* frees everything */
void	fo_state_reset(void);		/* POST /_admin/reset */
void	fo_lock(void);
void	fo_unlock(void);
void	fo_request_stop(void);		/* wakes every sleeper */
/* Sleeps ms milliseconds; false when the server is stopping. */
bool	fo_sleep_ms(long ms);

void	fo_inflight_enter(void);
void	fo_inflight_leave(void);

/* The request log: one entry per non-admin request. */
struct fo_log_fields {
	const char	*path;
	const char	*client_id;
	const char	*auth_method;	/* "basic", "post", ... */
	const char	*grant_type;
	const char	*scope;
	const char	*refresh_token;
	const char	*behaviour;
	const char	*token_client;	/* owner of a bearer token */
};
uint64_t	fo_log_append_locked(const struct fo_log_fields *);
uint64_t	fo_log_append(const struct fo_log_fields *);
void		fo_log_finish(uint64_t seq, int status);
void		fo_log_drop_client_locked(const char *client_id);
/* The JSON text of the entries after since (for a client, or all). */
char		*fo_log_dump(const char *client_id, uint64_t since);
char		*fo_stats_dump(void);

/* Access tokens, for the bearer checks of the /api/v2 endpoints. */
void		 fo_access_add_locked(const char *token,
		    const char *client_id, const char *scope,
		    int64_t expires_ms);
/* The owner and scope of a live token: 0, or -1 if unknown or expired. */
int		 fo_access_check(const char *token, char **client_id,
		    char **scope);
void		 fo_access_revoke(const char *token);
void		 fo_access_drop_client_locked(const char *client_id);

/* Clients (clients.c). */
struct fo_token_req {		/* a parsed token request */
	enum fo_style	 style;
	const char	*path;
	const char	*client_id;
	const char	*client_secret;
	const char	*auth_method;
	const char	*grant_type;
	const char	*scope;
	const char	*refresh_token;
};

struct fo_plan {		/* the client's settings, snapshotted */
	bool			known_client;
	enum fo_behaviour	behaviour;
	long			delay_ms;
	long			retry_after;
	bool			retry_after_date;
	uint64_t		seq;
};

/*
 * Logs the request and counts it for its client; when pick is true also
 * chooses the behaviour (consuming one script step).
 */
void	fo_client_begin(const struct fo_token_req *, bool pick,
	    struct fo_plan *out);

enum fo_grant_rc {
	FO_GRANT_OK,
	FO_GRANT_BAD_CLIENT,		/* unknown client or wrong secret */
	FO_GRANT_UNKNOWN_REFRESH,
	FO_GRANT_REUSED_REFRESH,	/* older token: family now revoked */
	FO_GRANT_REVOKED_REFRESH,	/* current token, revoked family */
	FO_GRANT_UNSUPPORTED		/* grant_type not supported */
};

struct fo_grant {		/* a successful grant; strings malloc'd */
	char	*access_token;
	char	*refresh_token;	/* NULL: none in the response */
	char	*scope;		/* NULL: omit */
	long	 lifetime;
};

enum fo_grant_rc fo_client_grant(const struct fo_token_req *,
		    struct fo_grant *out);
void		 fo_grant_cleanup(struct fo_grant *);

/* Control API: each returns an HTTP status and sets *body (JSON, malloc'd). */
int	fo_client_put(const char *id, const char *json, size_t len,
	    bool patch, char **body);
int	fo_client_get(const char *id, char **body);
int	fo_client_delete(const char *id, char **body);
char	*fo_clients_dump(void);
void	fo_clients_free_all_locked(void);

/* The Genesys secret API: 0 and a new secret, or -1 if no such client. */
int	fo_client_regenerate(const char *id, char **secret);
/* The api_behaviour of a client (FO_B_OK when unknown). */
enum fo_behaviour fo_client_api_behaviour(const char *id, long *retry_after,
		    bool *retry_after_date);

/* Helpers (util.c). */
void	*fo_xmalloc(size_t);
void	*fo_xrealloc(void *, size_t);
char	*fo_xstrdup(const char *);	/* NULL stays NULL */
char	*fo_xasprintf(const char *, ...)
	    __attribute__((format(printf, 1, 2)));
int64_t	 fo_now_ms(void);
void	 fo_http_date(time_t, char *, size_t);
bool	 fo_secret_eq(const char *, const char *);
bool	 fo_utf8_valid(const char *);
/* A JSON string (null for NULL); invalid UTF-8 bytes become '?'. */
json_t	*fo_json_str(const char *);
char	*fo_random_secret(void);

struct fo_form_pair {
	char	*key;
	char	*value;
};
struct fo_form {
	struct fo_form_pair	*pairs;
	size_t			 len;
};
/* Decodes an x-www-form-urlencoded body: 0, or -1 on a bad escape. */
int		 fo_form_parse(const char *, size_t, struct fo_form *);
/* The value of key and how many times it occurs (0: NULL). */
const char	*fo_form_get(const struct fo_form *, const char *key,
		    int *count);
void		 fo_form_cleanup(struct fo_form *);
/* One form-urlencoded component; NULL on a bad escape or a NUL byte. */
char		*fo_url_decode(const char *, size_t);
/*
 * An Authorization header as RFC 6749 §2.3.1 Basic credentials: 1 and
 * malloc'd id and secret, 0 when it is not Basic, -1 when malformed.
 */
int		 fo_basic_decode(const char *header, char **id,
		    char **secret);
/* The token of "Bearer <token>", pointing into header, or NULL. */
const char	*fo_bearer_token(const char *header);

#endif /* FAKE_OAUTH_H */

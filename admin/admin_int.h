/*
 * admin_int.h — what the files of admin/ share: the server, one request,
 * responses and problems, the route table's roles, the vault pool, the
 * token broker, authentication and metrics.
 */
#ifndef OV_ADMIN_INT_H
#define OV_ADMIN_INT_H

#include <pthread.h>
#include <stdatomic.h>
#include <stdint.h>

#include <jansson.h>
#include <microhttpd.h>

#include "admin/admin.h"

#define ADMIN_BODY_MAX		(64 * 1024)
#define ADMIN_PARAMS_MAX	4

struct broker;
struct auth;

/* Counters for /metrics (metrics.c); all atomic. */
#define METRICS_STATUS_N	16	/* index of http_status_index() */
#define METRICS_ROUTE_N		32
#define METRICS_LATENCY_N	10	/* refresh latency buckets + Inf */
struct metrics {
	atomic_ullong	refresh[OAUTH_OUTCOME_COUNT];	/* by outcome */
	atomic_ullong	refresh_busy;
	atomic_ullong	latency[METRICS_LATENCY_N];
	atomic_ullong	latency_sum_ms, latency_count;
	atomic_ullong	token[METRICS_STATUS_N];
	atomic_ullong	http[METRICS_ROUTE_N][METRICS_STATUS_N];
	atomic_ullong	auth_failures, auth_throttled;
};

struct admin {
	struct admin_config	 cfg;
	atomic_int		 mhd_started;	/* else MHD's errors are kept */
	char			 mhd_error[300];	/* the first, for the
						 * start-up failure message */
	struct vault		*root;		/* a clone; the pool clones it */
	pthread_mutex_t		 pool_lock;
	struct vault		**pool;		/* idle connections */
	size_t			 npool, cappool;
	struct rot_scheduler	*sched;
	struct rot_config	 rot;		/* timeouts for secret tests */
	pthread_cond_t		 jobs_cond;	/* pool_lock; jobs == 0 */
	int			 jobs, stopping;
	struct broker		*broker;
	struct auth		*auth;
	struct metrics		 metrics;
	struct MHD_Daemon	*daemon;
	int			 retiring;	/* pool_lock: daemons retired by
						 * a TLS reload, still answering */
	atomic_int		 retiring_stop;
	char			*tls_cert, *tls_key;	/* PEM; key in secmem */
	char			*tls_cert_old, *tls_key_old;	/* the
						 * retired daemon's */
	int			 port;
};

/* One request, from its first byte to its log line. */
struct req {
	struct admin		*a;
	struct MHD_Connection	*conn;
	const char		*method, *path;
	char			 id[17];	/* X-Request-Id */
	char			 ip[64];	/* the client's (X-Forwarded-
						 * For via a trusted proxy) */
	int			 via_proxy;
	int64_t			 start_ms;
	char			*body;		/* secmem: may hold secrets */
	size_t			 len;
	int			 too_big, bad_type;
	int			 route;		/* metrics index, -1: none */
	int			 status;	/* the answer's, for the log */
	const char		*params[ADMIN_PARAMS_MAX];
	char			 pbuf[ADMIN_PARAMS_MAX][OV_SLUG_MAX + 2];
	int			 authed;
	struct vault_apikey	 key;
	struct vault		*v;		/* from the pool, while handled */
	/* Token broker waits (broker.c). */
	int			 suspended, resumed, timed_out;
	int			 wait_kind, busy, outcome;
	/* Secret tests (h_secret.c), filled by the test's thread. */
	enum ov_rc		 test_rc;
	long			 test_http;
	char			 test_error[OV_OAUTH_ERROR_MAX + 1];
	char			 test_msg[OV_ERRMSG_MAX];
	int64_t			 wait_until_ms;
	struct req		*wait_next;
	void			*wait_entry;
};

/* server.c: the vault pool (one connection per concurrent request). */
struct vault	*admin_vault(struct req *);	/* NULL: 503 sent */
void		 admin_vault_put(struct admin *, struct vault *);
/* A vault connection for a thread of admin's own (NULL: none). */
struct vault	*admin_vault_take(struct admin *);
/* Threads that outlive a handler (secret tests): admin_stop waits for
 * them.  start returns 0 when stopping. */
int		 admin_job_start(struct admin *);
void		 admin_job_done(struct admin *);
/* Asks the scheduler for an attempt on cred_id now, in r's name. */
void		 admin_request_refresh(struct req *, int64_t cred_id);

/* http.c: answers.  Every function queues exactly one response and
 * returns what the access handler returns. */
enum MHD_Result	http_json(struct req *, unsigned status, json_t *);	/* steals */
enum MHD_Result	http_empty(struct req *, unsigned status);
enum MHD_Result	http_text(struct req *, unsigned status, const char *ctype,
		    char *body, size_t len);	/* takes a malloc'd body */
/* A problem+json answer; type is the suffix of the problem type URI. */
enum MHD_Result	http_problem(struct req *, unsigned status, const char *type,
		    const char *field, const char *fmt, ...)
		    __attribute__((format(printf, 5, 6)));
/* The problem for a vault/rotation error code (ov_errmsg() as detail
 * when it is safe to show, a generic one for internal errors). */
enum MHD_Result	http_rc(struct req *, enum ov_rc);
/* Queues a response made by the caller (adds the common headers). */
enum MHD_Result	http_response(struct req *, unsigned status,
		    struct MHD_Response *, const char *ctype);
/* Adds a header to the response about to be queued by the next call. */
void		http_header(struct req *, const char *name, const char *value);
/* Parses the body as one JSON object; answers 400/415 itself (NULL). */
json_t		*http_body(struct req *, enum MHD_Result *answered);
/* Body fields: only those in allowed (NULL-terminated), else 422
 * naming the field; a string field (absent or null: *out NULL).  Both
 * return 0, or -1 having answered. */
int		http_fields(struct req *, json_t *, const char *const *allowed,
		    enum MHD_Result *answered);
int		http_str(struct req *, json_t *, const char *key,
		    const char **out, enum MHD_Result *answered);
/* http_rc(), but validation errors name field (NULL: none known). */
enum MHD_Result	http_invalid(struct req *, enum ov_rc, const char *field);
/* A query-string argument, NULL when absent. */
const char	*http_arg(struct req *, const char *name);
/* Only the query arguments in allowed (NULL-terminated): else 400
 * bad-request naming the first other one.  0, or -1 having answered. */
int		 http_args_only(struct req *, const char *const *allowed,
		    enum MHD_Result *answered);
/* An integer argument in [min, max] into *out (unchanged when absent);
 * else 400 naming it.  0, or -1 having answered. */
int		 http_int_arg(struct req *, const char *name, long min,
		    long max, long *out, enum MHD_Result *answered);
/* Page cursors (opaque to clients): one or two slugs (b NULL: one).
 * read: parts slugs from the "cursor" argument ("" when absent); 400
 * if not one this list made.  0, or -1 having answered. */
void		 http_cursor_make(const char *a, const char *b, char *out,
		    size_t len);
int		 http_cursor_read(struct req *, int parts, char *a, char *b,
		    size_t len, enum MHD_Result *answered);
/* Index of a status code in metrics arrays. */
int		 http_status_index(unsigned status);
unsigned	 http_status_of_index(int);

/* auth.c */
struct auth	*auth_new(void);
void		 auth_free(struct auth *);
/* Checks the Bearer key: 0 and req->key on success; otherwise answers
 * 401 or 429 itself and returns -1 with *answered set. */
int		 auth_check(struct req *, enum MHD_Result *answered);
/* Drops cached keys (after a change through the API). */
void		 auth_forget(struct auth *);

/* broker.c */
struct broker	*broker_new(struct admin *);
/* Answers every waiting request (503) and stops the wait timer. */
void		 broker_stop(struct broker *);
void		 broker_free(struct broker *);
void		 broker_on_result(void *broker, const struct rot_result *);
/* Answers GET …/token (suspending the connection while it waits). */
enum MHD_Result	 broker_token(struct req *, const char *org, const char *name);
/* Answers POST …/refresh: one attempt through the scheduler. */
enum MHD_Result	 broker_refresh(struct req *, const char *org,
		    const char *name);
/* Makes the broker reread org/name (name NULL: every credential of
 * org) from the vault: deleted or changed through the API. */
void		 broker_forget(struct broker *, const char *org,
		    const char *name);

/* metrics.c */
void		 metrics_refresh(struct metrics *, const struct rot_result *);
enum MHD_Result	 metrics_answer(struct req *);

/* routes.c */
enum MHD_Result	 routes_dispatch(struct req *);
const char	*routes_label(int route, char *buf, size_t len);
const char	*routes_method(int route);

/* h_creds.c: a credential's JSON (render_cred) with what only serve
 * knows: paused_until and pause_reason of its 429 pause. */
json_t		*admin_render_cred(struct admin *, const struct vault_cred *);

/* Handlers (h_*.c): params are the path's {org}, {name}, … in order. */
enum MHD_Result	h_health(struct req *);
enum MHD_Result	h_orgs_list(struct req *);
enum MHD_Result	h_org_create(struct req *);
enum MHD_Result	h_org_get(struct req *);
enum MHD_Result	h_org_patch(struct req *);
enum MHD_Result	h_org_delete(struct req *);
enum MHD_Result	h_creds_all(struct req *);
enum MHD_Result	h_creds_of_org(struct req *);
enum MHD_Result	h_cred_put(struct req *);
enum MHD_Result	h_cred_get(struct req *);
enum MHD_Result	h_cred_delete(struct req *);
enum MHD_Result	h_cred_refresh(struct req *);
enum MHD_Result	h_token(struct req *);
enum MHD_Result	h_audit_events(struct req *);
enum MHD_Result	h_audit_drift(struct req *);
enum MHD_Result	h_audit_revocations(struct req *);
enum MHD_Result	h_audit_verify(struct req *);
enum MHD_Result	h_secret_stage(struct req *);
enum MHD_Result	h_secret_discard(struct req *);
enum MHD_Result	h_secret_test(struct req *);
enum MHD_Result	h_secret_promote(struct req *);
enum MHD_Result	h_secret_rollback(struct req *);
enum MHD_Result	h_webhooks_list(struct req *);
enum MHD_Result	h_webhook_add(struct req *);
enum MHD_Result	h_webhook_delete(struct req *);
enum MHD_Result	h_apikeys_list(struct req *);
enum MHD_Result	h_apikey_create(struct req *);
enum MHD_Result	h_apikey_delete(struct req *);

#endif

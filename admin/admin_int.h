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
struct conns;

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
	atomic_ullong	conn_refused;	/* --max-connections-per-ip */
	atomic_ullong	requests_cut;	/* --request-timeout */
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
	struct conns		*conns;		/* conn.c */
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
	/* The body: kept (in secmem: it may hold secrets) only when the
	 * key verified; otherwise read and dropped, only counted. */
	char			*body;
	size_t			 len, cap;	/* kept, room */
	size_t			 seen;		/* read, kept or not */
	size_t			 announced;	/* Content-Length, 0: none */
	int			 keep_body;
	int			 too_big, bad_type;
	int			 route;		/* metrics index, -1: none */
	int			 status;	/* the answer's, for the log */
	const char		*params[ADMIN_PARAMS_MAX];
	char			 pbuf[ADMIN_PARAMS_MAX][OV_SLUG_MAX + 2];
	int			 authed;
	/* The key is checked once, at the head (auth_verify); a failure
	 * is answered when the request is complete (auth_check). */
	int			 auth_done, auth_fail;
	enum ov_rc		 auth_rc;
	char			 auth_key_id[VAULT_APIKEY_ID_LEN + 1];
	char			 auth_error[192];	/* key-expired's */
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
/* Verifies the Bearer key once, answering nothing: 0 and req->key (and
 * req->authed) on success, -1 with the failure kept in req for
 * auth_check.  (-1 with req->status set: it answered 500 itself, no
 * vault connection.) */
int		 auth_verify(struct req *);
/* Checks the Bearer key (auth_verify unless done): 0 and req->key on
 * success; otherwise answers 401 or 429 itself and returns -1 with
 * *answered set. */
int		 auth_check(struct req *, enum MHD_Result *answered);
/* Drops cached keys (after a change through the API). */
void		 auth_forget(struct auth *);

/* broker.c */
struct broker	*broker_new(struct admin *);
/* Answers every waiting request (503) and stops the wait timer. */
void		 broker_stop(struct broker *);
void		 broker_free(struct broker *);
void		 broker_on_result(void *broker, const struct rot_result *);
size_t		 broker_tokens(struct broker *);
void		 broker_preload_start(struct broker *);
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

/* conn.c: connections apart from their requests — counts per client
 * address, and deadlines that bytes do not push back, kept by a reaper
 * thread.  A connection's clock: */
enum conn_phase { CONN_NEW, CONN_RECEIVING, CONN_ANSWERING, CONN_IDLE };
struct conn_clock {
	enum conn_phase	 phase;
	int64_t		 since_ms;	/* monotonic: when its time began */
};
void		 conn_clock_start(struct conn_clock *, int64_t now_ms);
void		 conn_clock_request(struct conn_clock *, int64_t now_ms);
void		 conn_clock_answer(struct conn_clock *);
void		 conn_clock_done(struct conn_clock *, int64_t now_ms);
/* When the connection is to be cut (monotonic ms); INT64_MAX: never. */
int64_t		 conn_clock_deadline(const struct conn_clock *, int request_s,
		    int idle_s);
/* Open connections by address (16 bytes, cidr.h), no lock of its own.
 * take: 1 counted, 0 at limit (0: none), -1 no memory.  warn: 1 when a
 * line of that kind about addr is due (none in the last 10 s), which it
 * records. */
enum { CONN_WARN_REFUSED, CONN_WARN_CUT, CONN_WARN_KINDS };
struct conn_table;
struct conn_table *conn_table_new(void);
void		 conn_table_free(struct conn_table *);	/* NULL ok */
int		 conn_table_take(struct conn_table *, const unsigned char [16],
		    int limit, int64_t now_ms);
void		 conn_table_give(struct conn_table *, const unsigned char [16],
		    int64_t now_ms);
int		 conn_table_open(const struct conn_table *,
		    const unsigned char [16]);
int		 conn_table_warn(struct conn_table *, const unsigned char [16],
		    int kind, int64_t now_ms);
/* The daemon's side: cfg and m outlive the conns. */
struct conns	*conns_new(const struct admin_config *cfg, struct metrics *m);
enum ov_rc	 conns_start(struct conns *);	/* the reaper */
void		 conns_stop(struct conns *);	/* after the daemons; NULL ok */
void		 conns_free(struct conns *);	/* NULL ok */
/* libmicrohttpd's accept policy and connection notification (cls: the
 * conns). */
enum MHD_Result	 conn_admit(void *, const struct sockaddr *, socklen_t);
void		 conn_notify(void *, struct MHD_Connection *, void **,
		    enum MHD_ConnectionNotificationCode);
/* A request line arrived; the request is dispatched (never cut from now
 * on); it was answered (1 when conn.c had cut the connection). */
void		 conn_request_begins(struct conns *, struct MHD_Connection *);
void		 conn_answering(struct conns *, struct MHD_Connection *);
int		 conn_request_done(struct conns *, struct MHD_Connection *);

/* request.c: the access handler's first call (the head is in: framing,
 * Content-Length, Content-Type, the key; answers only 400 and 413) and
 * its calls with body data. */
enum MHD_Result	 req_head(struct req *);
enum MHD_Result	 req_body(struct req *, const char *data, size_t *size);

/* routes.c */
enum MHD_Result	 routes_dispatch(struct req *);
/* 1 when r's method and path name a route that needs an API key. */
int		 routes_need_key(struct req *);
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

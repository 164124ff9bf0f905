/*
 * server.c — the libmicrohttpd daemon of the admin API: a thread pool
 * (one thread per core, epoll), limits on connections, per-connection
 * memory and idle time; the request lifecycle (id, body, dispatch,
 * access log, metrics); the pool of vault connections.
 *
 * Bodies are read into secure memory (a PUT carries client secrets) and
 * capped at 64 KiB: a Content-Length over the cap is refused before
 * the body is read, a chunked body when it crosses the cap.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <pthread.h>
#include <stdarg.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <unistd.h>

#include <sodium.h>

#include "admin/admin_int.h"
#include "util/log.h"
#include "util/secmem.h"
#include "util/timefmt.h"

#define CONN_MEMORY_LIMIT	(32 * 1024)	/* headers + MHD buffers */
#define DEFAULT_MAX_CONNECTIONS	4096
#define DEFAULT_IDLE_TIMEOUT_S	30

void
admin_config_defaults(struct admin_config *c)
{
	memset(c, 0, sizeof(*c));
	snprintf(c->host, sizeof(c->host), "127.0.0.1");
	c->port = ADMIN_DEFAULT_PORT;
	c->max_connections = DEFAULT_MAX_CONNECTIONS;
	c->idle_timeout_s = DEFAULT_IDLE_TIMEOUT_S;
	c->token_cache = 1;
}

enum ov_rc
admin_parse_listen(const char *s, struct admin_config *c)
{
	const char *colon = strrchr(s, ':');
	char host[64], *end;
	unsigned char addr[16];
	long port;
	size_t hl;

	if (colon == NULL)
		return ov_seterr(OV_EUSAGE, "--listen needs HOST:PORT, e.g. "
		    "127.0.0.1:%d", ADMIN_DEFAULT_PORT);
	hl = (size_t)(colon - s);
	if (hl >= 2 && s[0] == '[' && s[hl - 1] == ']') {
		s++;
		hl -= 2;
	}
	if (hl >= sizeof(host))
		return ov_seterr(OV_EUSAGE, "--listen: address too long");
	memcpy(host, s, hl);
	host[hl] = '\0';
	if (hl == 0)
		snprintf(host, sizeof(host), "127.0.0.1");
	if (inet_pton(AF_INET, host, addr) != 1 &&
	    inet_pton(AF_INET6, host, addr) != 1)
		return ov_seterr(OV_EUSAGE, "--listen: '%s' is not a numeric "
		    "IPv4 or IPv6 address", host);
	port = strtol(colon + 1, &end, 10);
	if (end == colon + 1 || *end != '\0' || port < 0 || port > 65535)
		return ov_seterr(OV_EUSAGE, "--listen: port must be 0-65535");
	snprintf(c->host, sizeof(c->host), "%s", host);
	c->port = (int)port;
	return OV_OK;
}

/* ------------------------------------------------------------ vault pool */

struct vault *
admin_vault_take(struct admin *a)
{
	struct vault *v = NULL;

	pthread_mutex_lock(&a->pool_lock);
	if (a->npool)
		v = a->pool[--a->npool];
	else if (vault_clone(a->root, &v) != OV_OK)
		v = NULL;
	pthread_mutex_unlock(&a->pool_lock);
	return v;
}

int
admin_job_start(struct admin *a)
{
	int ok;

	pthread_mutex_lock(&a->pool_lock);
	if ((ok = !a->stopping))
		a->jobs++;
	pthread_mutex_unlock(&a->pool_lock);
	return ok;
}

void
admin_job_done(struct admin *a)
{
	pthread_mutex_lock(&a->pool_lock);
	if (--a->jobs == 0)
		pthread_cond_broadcast(&a->jobs_cond);
	pthread_mutex_unlock(&a->pool_lock);
}

struct vault *
admin_vault(struct req *r)
{
	struct admin *a = r->a;
	struct vault *v;

	if (r->v)
		return r->v;
	if ((v = admin_vault_take(a)) == NULL) {
		http_rc(r, OV_EINTERNAL);
		return NULL;
	}
	vault_set_actor(v, r->authed ? "" : "api");
	if (r->authed) {
		char actor[OV_ACTOR_MAX + 1];

		snprintf(actor, sizeof(actor), "api:%s", r->key.name);
		vault_set_actor(v, actor);
	}
	vault_set_request_id(v, r->id);
	return r->v = v;
}

void
admin_vault_put(struct admin *a, struct vault *v)
{
	if (v == NULL)
		return;
	vault_set_request_id(v, NULL);
	pthread_mutex_lock(&a->pool_lock);
	if (a->npool == a->cappool) {
		size_t cap = a->cappool ? a->cappool * 2 : 8;
		struct vault **p = realloc(a->pool, cap * sizeof(*p));

		if (p == NULL) {
			pthread_mutex_unlock(&a->pool_lock);
			vault_close(v);
			return;
		}
		a->pool = p;
		a->cappool = cap;
	}
	a->pool[a->npool++] = v;
	pthread_mutex_unlock(&a->pool_lock);
}

void
admin_request_refresh(struct req *r, int64_t cred_id)
{
	char actor[OV_ACTOR_MAX + 1];

	snprintf(actor, sizeof(actor), "api:%s", r->key.name);
	rot_scheduler_request(r->a->sched, cred_id, -1, actor, r->id);
}

/* ------------------------------------------------------------- requests */

static void
peer_ip(struct MHD_Connection *c, char *out, size_t len)
{
	const union MHD_ConnectionInfo *ci = MHD_get_connection_info(c,
	    MHD_CONNECTION_INFO_CLIENT_ADDRESS);
	const struct sockaddr *sa = ci ? ci->client_addr : NULL;

	snprintf(out, len, "?");
	if (sa && sa->sa_family == AF_INET)
		inet_ntop(AF_INET, &((const struct sockaddr_in *)
		    (const void *)sa)->sin_addr, out, (socklen_t)len);
	else if (sa && sa->sa_family == AF_INET6)
		inet_ntop(AF_INET6, &((const struct sockaddr_in6 *)
		    (const void *)sa)->sin6_addr, out, (socklen_t)len);
}

/* Request ids: unique, not secret — a random base drawn at start plus
 * a counter (no system call per request). */
static _Atomic uint64_t next_id;

static struct req *
req_new(struct admin *a, struct MHD_Connection *c, const char *method,
    const char *url)
{
	struct req *r = calloc(1, sizeof(*r));

	if (r == NULL)
		return NULL;
	r->a = a;
	r->conn = c;
	r->method = method;
	r->path = url;
	r->route = -1;
	r->start_ms = timefmt_mono_ms();
	snprintf(r->id, sizeof(r->id), "%016llx", (unsigned long long)
	    atomic_fetch_add(&next_id, 1));
	peer_ip(c, r->ip, sizeof(r->ip));
	return r;
}

static int
has_body_method(const char *m)
{
	return strcmp(m, "POST") == 0 || strcmp(m, "PUT") == 0 ||
	    strcmp(m, "PATCH") == 0;
}

/* application/json, with parameters (charset=utf-8) allowed. */
static int
is_json_type(const char *ct)
{
	size_t n = strlen("application/json");

	if (ct == NULL)
		return 0;
	while (*ct == ' ')
		ct++;
	return strncasecmp(ct, "application/json", n) == 0 &&
	    (ct[n] == '\0' || ct[n] == ';' || ct[n] == ' ');
}

/* First call: checks what the headers say about the body. */
static enum MHD_Result
req_begin(struct req *r, int *answered)
{
	const char *cl = MHD_lookup_connection_value(r->conn,
	    MHD_HEADER_KIND, MHD_HTTP_HEADER_CONTENT_LENGTH);
	const char *ct = MHD_lookup_connection_value(r->conn,
	    MHD_HEADER_KIND, MHD_HTTP_HEADER_CONTENT_TYPE);

	*answered = 0;
	if (cl && strtoull(cl, NULL, 10) > ADMIN_BODY_MAX) {
		*answered = 1;
		return http_problem(r, 413, "payload-too-large", NULL,
		    "request bodies are at most %d bytes", ADMIN_BODY_MAX);
	}
	if (has_body_method(r->method) && !is_json_type(ct) && (cl == NULL ||
	    strcmp(cl, "0") != 0))
		r->bad_type = 1;
	return MHD_YES;
}

static enum MHD_Result
req_upload(struct req *r, const char *data, size_t *size)
{
	if (r->too_big || r->bad_type || r->len + *size > ADMIN_BODY_MAX) {
		r->too_big = !r->bad_type;
		*size = 0;	/* read and drop */
		return MHD_YES;
	}
	if (r->body == NULL && (r->body = secmem_alloc(ADMIN_BODY_MAX + 1)) ==
	    NULL)
		return MHD_NO;
	memcpy(r->body + r->len, data, *size);
	r->len += *size;
	*size = 0;
	return MHD_YES;
}

static enum MHD_Result
on_request(void *cls, struct MHD_Connection *c, const char *url,
    const char *method, const char *version, const char *data,
    size_t *size, void **con_cls)
{
	struct admin *a = cls;
	struct req *r = *con_cls;
	int answered;
	enum MHD_Result ret;

	if (r == NULL) {
		if ((r = req_new(a, c, method, url)) == NULL)
			return MHD_NO;
		*con_cls = r;
		/* Answering in this first call would cost keep-alive
		 * (libmicrohttpd closes a connection answered before the
		 * request is complete): the answer comes in the next. */
		ret = req_begin(r, &answered);
		return ret;
	}
	if (r->status)
		return MHD_YES;		/* answered early (413) */
	if (*size)
		return req_upload(r, data, size);
	if (r->too_big)
		return http_problem(r, 413, "payload-too-large", NULL,
		    "request bodies are at most %d bytes", ADMIN_BODY_MAX);
	ret = routes_dispatch(r);
	/* Back to the pool, also when suspended (a wait holds none). */
	admin_vault_put(a, r->v);
	r->v = NULL;
	return ret;
}

static void
on_completed(void *cls, struct MHD_Connection *c, void **con_cls,
    enum MHD_RequestTerminationCode why)
{
	struct admin *a = cls;
	struct req *r = *con_cls;
	int64_t ms;

	if (r == NULL)
		return;
	ms = timefmt_mono_ms() - r->start_ms;
	if (r->route >= 0 || r->status)
		atomic_fetch_add(&a->metrics.http[r->route >= 0 ? r->route :
		    METRICS_ROUTE_N - 1][http_status_index((unsigned)
		    r->status)], 1);
	/* Successful reads are the token broker's hot path: logged with -v
	 * only.  Errors and every write are always logged. */
	(r->status >= 400 || r->status == 0 || strcmp(r->method, "GET") != 0 ?
	    log_info : log_debug)("request id=%s ip=%s method=%s path=%s "
	    "status=%d ms=%lld key=%s%s", r->id, r->ip, r->method, r->path,
	    r->status,
	    (long long)ms, r->authed ? r->key.name : "-",
	    why == MHD_REQUEST_TERMINATED_COMPLETED_OK ? "" :
	    " (connection closed early)");
	admin_vault_put(a, r->v);
	secmem_free(r->body);
	free(r);
	*con_cls = NULL;
}

/* ------------------------------------------------------------ lifecycle */

/* NULL with errno set (0: an empty file). */
static char *
read_pem(const char *path, int secret)
{
	FILE *f = fopen(path, "re");
	char *buf;
	size_t n;

	if (f == NULL)
		return NULL;
	errno = 0;
	buf = secret ? secmem_alloc(65536) : calloc(1, 65536);
	n = buf ? fread(buf, 1, 65535, f) : 0;
	fclose(f);
	if (buf && n == 0) {
		if (secret)
			secmem_free(buf);
		else
			free(buf);
		return NULL;
	}
	return buf;
}

enum ov_rc
admin_new(struct vault *v, const struct admin_config *cfg, struct admin **out)
{
	struct admin *a;
	enum ov_rc rc;

	if ((a = calloc(1, sizeof(*a))) == NULL)
		return ov_seterr(OV_ENOMEM, "out of memory");
	a->cfg = *cfg;
	pthread_mutex_init(&a->pool_lock, NULL);
	pthread_cond_init(&a->jobs_cond, NULL);
	rot_config_defaults(&a->rot);
	{
		uint64_t base;

		randombytes_buf(&base, sizeof(base));
		atomic_store(&next_id, base);
	}
	if ((rc = vault_clone(v, &a->root)) != OV_OK) {
		admin_free(a);
		return rc;
	}
	if ((a->auth = auth_new()) == NULL ||
	    (a->broker = broker_new(a)) == NULL) {
		admin_free(a);
		return ov_seterr(OV_ENOMEM, "out of memory");
	}
	if (cfg->tls_cert && ((a->tls_cert = read_pem(cfg->tls_cert, 0)) ==
	    NULL || (a->tls_key = read_pem(cfg->tls_key, 1)) == NULL)) {
		int cert_ok = a->tls_cert != NULL, err = errno;

		admin_free(a);
		return ov_seterr(OV_EIO, "cannot read the TLS %s %s: %s",
		    cert_ok ? "key" : "certificate", cert_ok ? cfg->tls_key :
		    cfg->tls_cert, err ? strerror(err) : "empty file");
	}
	*out = a;
	return OV_OK;
}

void
admin_listener(struct admin *a, struct rot_config *rc)
{
	rc->listener = broker_on_result;
	rc->listener_arg = a->broker;
	a->rot = *rc;
}

/* 1 000 idle connections need descriptors: raise the soft limit. */
/*
 * libmicrohttpd's own errors (out of descriptors, a failed accept or
 * send) as warnings: printable ASCII, at most 300 bytes, and at most 5
 * lines per 10 s, the rest counted (a descriptor shortage repeats on
 * every accept).  Its messages name no request content.  While the
 * daemon starts, the first one is kept for admin_start()'s error.
 */
static void on_mhd_error(void *, const char *, va_list)
    __attribute__((format(printf, 2, 0)));

static void
on_mhd_error(void *arg, const char *fmt, va_list ap)
{
	static pthread_mutex_t lock = PTHREAD_MUTEX_INITIALIZER;
	static int64_t window_ms;
	static int lines;
	static unsigned long dropped;
	struct admin *a = arg;
	char msg[300];
	int64_t now = timefmt_mono_ms();
	size_t n;

	vsnprintf(msg, sizeof(msg), fmt, ap);
	for (n = 0; msg[n]; n++)
		if (msg[n] < 0x20 || msg[n] >= 0x7f)
			msg[n] = msg[n] == '\n' && msg[n + 1] == '\0' ? '\0' : '?';
	if (!atomic_load(&a->mhd_started)) {
		if (a->mhd_error[0] == '\0')
			snprintf(a->mhd_error, sizeof(a->mhd_error), "%s",
			    msg);
		return;
	}
	pthread_mutex_lock(&lock);
	if (now - window_ms >= 10000) {
		if (dropped)
			log_warnx("http: %lu more libmicrohttpd errors in the "
			    "last 10 s", dropped);
		window_ms = now;
		lines = 0;
		dropped = 0;
	}
	if (lines < 5) {
		lines++;
		log_warnx("http: %s", msg);
	} else
		dropped++;
	pthread_mutex_unlock(&lock);
}

static void
raise_nofile(int want)
{
	struct rlimit rl;

	if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur <
	    (rlim_t)want + 64) {
		rl.rlim_cur = rl.rlim_max < (rlim_t)want + 64 ? rl.rlim_max :
		    (rlim_t)want + 64;
		setrlimit(RLIMIT_NOFILE, &rl);
	}
}

enum ov_rc
admin_start(struct admin *a, struct rot_scheduler *sched)
{
	struct sockaddr_storage ss;
	socklen_t sl;
	unsigned flags = MHD_USE_INTERNAL_POLLING_THREAD |
	    MHD_ALLOW_SUSPEND_RESUME | MHD_USE_TURBO | MHD_USE_ERROR_LOG;
	long ncpu = sysconf(_SC_NPROCESSORS_ONLN);
	unsigned threads = (unsigned)(a->cfg.threads > 0 ? a->cfg.threads :
	    ncpu > 0 ? ncpu : 2);
	const union MHD_DaemonInfo *di;

	a->sched = sched;
	memset(&ss, 0, sizeof(ss));
	if (strchr(a->cfg.host, ':')) {
		struct sockaddr_in6 *s6 = (struct sockaddr_in6 *)(void *)&ss;

		s6->sin6_family = AF_INET6;
		s6->sin6_port = htons((uint16_t)a->cfg.port);
		inet_pton(AF_INET6, a->cfg.host, &s6->sin6_addr);
		sl = sizeof(*s6);
		flags |= MHD_USE_IPv6;
	} else {
		struct sockaddr_in *s4 = (struct sockaddr_in *)(void *)&ss;

		s4->sin_family = AF_INET;
		s4->sin_port = htons((uint16_t)a->cfg.port);
		inet_pton(AF_INET, a->cfg.host, &s4->sin_addr);
		sl = sizeof(*s4);
	}
	if (MHD_is_feature_supported(MHD_FEATURE_EPOLL) == MHD_YES)
		flags |= MHD_USE_EPOLL;
	else
		flags |= MHD_USE_POLL;
	if (a->tls_cert) {
		if (MHD_is_feature_supported(MHD_FEATURE_TLS) != MHD_YES)
			return ov_seterr(OV_EUSAGE, "this libmicrohttpd has no "
			    "TLS support: drop --tls-cert/--tls-key");
		flags |= MHD_USE_TLS;
	}
	raise_nofile(a->cfg.max_connections);
	(void)sl;
	a->mhd_error[0] = '\0';
	a->daemon = MHD_start_daemon(flags, 0, NULL, NULL, on_request, a,
	    MHD_OPTION_EXTERNAL_LOGGER, on_mhd_error, a,	/* first */
	    MHD_OPTION_SOCK_ADDR, (struct sockaddr *)&ss,
	    MHD_OPTION_THREAD_POOL_SIZE, threads,
	    MHD_OPTION_CONNECTION_LIMIT, (unsigned)a->cfg.max_connections,
	    MHD_OPTION_CONNECTION_MEMORY_LIMIT, (size_t)CONN_MEMORY_LIMIT,
	    MHD_OPTION_CONNECTION_TIMEOUT, (unsigned)a->cfg.idle_timeout_s,
	    MHD_OPTION_NOTIFY_COMPLETED, on_completed, a,
	    MHD_OPTION_LISTENING_ADDRESS_REUSE, (unsigned)1,
	    a->tls_cert ? MHD_OPTION_HTTPS_MEM_CERT : MHD_OPTION_END,
	    a->tls_cert, MHD_OPTION_HTTPS_MEM_KEY, a->tls_key,
	    MHD_OPTION_END);
	if (a->daemon == NULL)
		return ov_seterr(OV_EIO, "cannot listen on %s:%d (in use, "
		    "not an address of this machine, or a bad TLS "
		    "certificate/key)%s%s", a->cfg.host, a->cfg.port,
		    a->mhd_error[0] ? ": " : "", a->mhd_error);
	atomic_store(&a->mhd_started, 1);
	di = MHD_get_daemon_info(a->daemon, MHD_DAEMON_INFO_BIND_PORT);
	a->port = di ? di->port : a->cfg.port;
	log_info("listening on %s%s%s:%d (%s, %u threads, at most %d "
	    "connections)", strchr(a->cfg.host, ':') ? "[" : "", a->cfg.host,
	    strchr(a->cfg.host, ':') ? "]" : "", a->port, a->tls_cert ?
	    "https" : "http", threads, a->cfg.max_connections);
	return OV_OK;
}

int
admin_port(const struct admin *a)
{
	return a->port;
}

void
admin_stop(struct admin *a)
{
	if (a == NULL)
		return;
	/* Secret tests in flight resume their connections themselves. */
	pthread_mutex_lock(&a->pool_lock);
	a->stopping = 1;
	while (a->jobs > 0)
		pthread_cond_wait(&a->jobs_cond, &a->pool_lock);
	pthread_mutex_unlock(&a->pool_lock);
	broker_stop(a->broker);		/* resumes every waiting request */
	if (a->daemon)
		MHD_stop_daemon(a->daemon);
	a->daemon = NULL;
}

void
admin_free(struct admin *a)
{
	if (a == NULL)
		return;
	admin_stop(a);
	broker_free(a->broker);
	auth_free(a->auth);
	for (size_t i = 0; i < a->npool; i++)
		vault_close(a->pool[i]);
	free(a->pool);
	vault_close(a->root);
	free(a->tls_cert);
	secmem_free(a->tls_key);
	pthread_cond_destroy(&a->jobs_cond);
	pthread_mutex_destroy(&a->pool_lock);
	free(a);
}

/*
 * server.c — the libmicrohttpd daemon of the admin API: a thread pool
 * (one thread per core, epoll), limits on connections, per-connection
 * memory and idle time; the request lifecycle (id, calls, dispatch,
 * access log, metrics); the pool of vault connections.
 *
 * What a request's head says and where its body goes: request.c;
 * connections apart from their requests (limits per address,
 * deadlines): conn.c.
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
#include "util/cidr.h"
#include "util/log.h"
#include "util/secmem.h"
#include "util/timefmt.h"

/* Headers and libmicrohttpd's buffers, per connection: a head of up to
 * about 14 KiB; the read buffer is half of it, and a client that sends
 * a body nobody keeps still fills that much of it. */
#define CONN_MEMORY_LIMIT	(16 * 1024)
#define DEFAULT_MAX_CONNECTIONS	4096
#define DEFAULT_IDLE_TIMEOUT_S	30
#define DEFAULT_MAX_PER_IP	256
#define DEFAULT_REQUEST_TIMEOUT_S 10

void
admin_config_defaults(struct admin_config *c)
{
	memset(c, 0, sizeof(*c));
	snprintf(c->host, sizeof(c->host), "127.0.0.1");
	c->port = ADMIN_DEFAULT_PORT;
	c->max_connections = DEFAULT_MAX_CONNECTIONS;
	c->max_per_ip = DEFAULT_MAX_PER_IP;
	c->idle_timeout_s = DEFAULT_IDLE_TIMEOUT_S;
	c->request_timeout_s = DEFAULT_REQUEST_TIMEOUT_S;
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

/*
 * The client's address: the peer's, or — for a peer in --trusted-proxy —
 * the rightmost X-Forwarded-For entry that is not itself a trusted
 * proxy (entries left of it are the client's to forge).  A trusted peer
 * that sends no usable entry is the client.
 */
static void
client_ip(struct admin *a, struct MHD_Connection *c, char *out, size_t len,
    int *via_proxy)
{
	const union MHD_ConnectionInfo *ci = MHD_get_connection_info(c,
	    MHD_CONNECTION_INFO_CLIENT_ADDRESS);
	unsigned char peer[16], fwd[16];
	const char *xff, *end, *seg, *start;
	char item[64];
	size_t n;

	*via_proxy = 0;
	snprintf(out, len, "?");
	if (ci == NULL || cidr_addr_of(ci->client_addr, peer) != 0)
		return;
	cidr_addr_str(peer, out, len);
	if (!cidr_list_has(&a->cfg.trusted_proxies, peer) || (xff =
	    MHD_lookup_connection_value(c, MHD_HEADER_KIND,
	    "X-Forwarded-For")) == NULL)
		return;
	for (end = xff + strlen(xff); end > xff; end = seg - 1) {
		seg = end;
		while (seg > xff && seg[-1] != ',')
			seg--;
		for (start = seg; start < end && *start == ' '; start++)
			;
		for (n = (size_t)(end - start); n && start[n - 1] == ' '; n--)
			;
		if (n == 0 || n >= sizeof(item))
			return;		/* not an address: stop there */
		memcpy(item, start, n);
		item[n] = '\0';
		if (cidr_addr_parse(item, fwd) != 0)
			return;
		cidr_addr_str(fwd, out, len);
		*via_proxy = 1;
		if (!cidr_list_has(&a->cfg.trusted_proxies, fwd) || seg == xff)
			return;
	}
}

/* Request ids: unique, not secret — a random base drawn at start plus
 * a counter (no system call per request). */
static _Atomic uint64_t next_id;

/* The first call of the access handler fills r (blank from on_uri;
 * NULL: made here). */
static struct req *
req_open(struct admin *a, struct MHD_Connection *c, struct req *r,
    const char *method, const char *url)
{
	if (r == NULL && (r = calloc(1, sizeof(*r))) == NULL)
		return NULL;
	r->a = a;
	r->conn = c;
	r->method = method;
	r->path = url;
	r->route = -1;
	r->start_ms = timefmt_mono_ms();
	snprintf(r->id, sizeof(r->id), "%016llx", (unsigned long long)
	    atomic_fetch_add(&next_id, 1));
	client_ip(a, c, r->ip, sizeof(r->ip), &r->via_proxy);
	return r;
}

/*
 * A request line is in (libmicrohttpd's URI log callback): the request's
 * time starts.  The blank req returned is the access handler's first
 * *con_cls, filled by its first call (req_open); on_completed frees it
 * also when the request never got that far.
 */
static void *
on_uri(void *cls, const char *uri, struct MHD_Connection *c)
{
	struct admin *a = cls;

	(void)uri;
	conn_request_begins(a->conns, c);
	return calloc(1, sizeof(struct req));
}

static enum MHD_Result
on_request(void *cls, struct MHD_Connection *c, const char *url,
    const char *method, const char *version, const char *data,
    size_t *size, void **con_cls)
{
	struct admin *a = cls;
	struct req *r = *con_cls;
	enum MHD_Result ret;

	if (r == NULL || r->a == NULL) {	/* the first call */
		if ((r = req_open(a, c, r, method, url)) == NULL)
			return MHD_NO;
		*con_cls = r;
		ret = req_head(r);
		admin_vault_put(a, r->v);
		r->v = NULL;
		/* An early answer (400, 413) goes out once libmicrohttpd has
		 * read the announced body: until then the request's deadline
		 * runs, or a client trickling that body would hold the
		 * connection for ever. */
		return ret;
	}
	if (r->status)
		return MHD_YES;		/* answered early (400, 413) */
	if (*size)
		return req_body(r, data, size);
	conn_answering(a->conns, c);	/* complete: never cut from now */
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
	int cut = conn_request_done(a->conns, c);

	if (r == NULL)
		return;
	*con_cls = NULL;
	if (r->a == NULL) {	/* a request line, then nothing we saw */
		free(r);
		return;
	}
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
	    why == MHD_REQUEST_TERMINATED_COMPLETED_OK ? "" : cut ?
	    " (cut: no whole request within --request-timeout)" :
	    " (connection closed early)");
	admin_vault_put(a, r->v);
	secmem_free(r->body);
	free(r);
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
	    (a->broker = broker_new(a)) == NULL ||
	    (a->conns = conns_new(&a->cfg, &a->metrics)) == NULL) {
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

/*
 * GnuTLS priorities: TLS 1.2 and 1.3 only, forward-secret key exchange
 * and AEAD ciphers only (no static RSA, no CBC, no SHA-1 MACs).
 */
#define TLS_PRIORITIES	"NORMAL:-VERS-ALL:+VERS-TLS1.3:+VERS-TLS1.2:" \
	"-CIPHER-ALL:+AES-256-GCM:+AES-128-GCM:+CHACHA20-POLY1305:" \
	"-MAC-ALL:+AEAD:-KX-ALL:+ECDHE-ECDSA:+ECDHE-RSA:%SERVER_PRECEDENCE"

static unsigned
pool_threads(const struct admin *a)
{
	long ncpu = sysconf(_SC_NPROCESSORS_ONLN);

	return (unsigned)(a->cfg.threads > 0 ? a->cfg.threads : ncpu > 0 ?
	    ncpu : 2);
}

static int
listen_addr(const struct admin *a, struct sockaddr_storage *ss)
{
	memset(ss, 0, sizeof(*ss));
	if (strchr(a->cfg.host, ':')) {
		struct sockaddr_in6 *s6 = (struct sockaddr_in6 *)(void *)ss;

		s6->sin6_family = AF_INET6;
		s6->sin6_port = htons((uint16_t)a->cfg.port);
		inet_pton(AF_INET6, a->cfg.host, &s6->sin6_addr);
		return 1;
	}
	{
		struct sockaddr_in *s4 = (struct sockaddr_in *)(void *)ss;

		s4->sin_family = AF_INET;
		s4->sin_port = htons((uint16_t)a->cfg.port);
		inet_pton(AF_INET, a->cfg.host, &s4->sin_addr);
	}
	return 0;
}

/*
 * One libmicrohttpd daemon: binds the configured address (listen_fd -1)
 * or takes over listen_fd (a TLS reload), with cert/key (NULL: plain).
 * No address reuse option: libmicrohttpd then sets SO_REUSEADDR only,
 * which refuses a port with a live listener (a second serve exits 5)
 * and still allows a restart right after a kill -9.
 */
static struct MHD_Daemon *
daemon_start(struct admin *a, int listen_fd, const char *cert,
    const char *key)
{
	struct sockaddr_storage ss;
	unsigned flags = MHD_USE_INTERNAL_POLLING_THREAD |
	    MHD_ALLOW_SUSPEND_RESUME | MHD_USE_TURBO | MHD_USE_ERROR_LOG |
	    MHD_USE_ITC;
	if (listen_addr(a, &ss))
		flags |= MHD_USE_IPv6;
	/* TLS daemons poll: a reload quiesces the old one, and libmicrohttpd
	 * 0.9.75 aborts ("Failed to remove listen FD from epoll set") when
	 * an epoll daemon is quiesced while its thread updates the set. */
	flags |= !cert && MHD_is_feature_supported(MHD_FEATURE_EPOLL) ==
	    MHD_YES ? MHD_USE_EPOLL : MHD_USE_POLL;
	if (cert)
		flags |= MHD_USE_TLS;
	/* Not MHD_OPTION_PER_IP_CONNECTION_LIMIT: it cannot exempt the
	 * trusted proxies (conn.c counts). */
	return MHD_start_daemon(flags, 0, conn_admit, a->conns, on_request, a,
	    MHD_OPTION_EXTERNAL_LOGGER, on_mhd_error, a,	/* first */
	    listen_fd >= 0 ? MHD_OPTION_LISTEN_SOCKET : MHD_OPTION_SOCK_ADDR,
	    listen_fd >= 0 ? (void *)(intptr_t)listen_fd : (void *)&ss,
	    MHD_OPTION_THREAD_POOL_SIZE, pool_threads(a),
	    MHD_OPTION_CONNECTION_LIMIT, (unsigned)a->cfg.max_connections,
	    MHD_OPTION_CONNECTION_MEMORY_LIMIT, (size_t)CONN_MEMORY_LIMIT,
	    MHD_OPTION_CONNECTION_TIMEOUT, (unsigned)a->cfg.idle_timeout_s,
	    MHD_OPTION_NOTIFY_COMPLETED, on_completed, a,
	    MHD_OPTION_NOTIFY_CONNECTION, conn_notify, a->conns,
	    MHD_OPTION_URI_LOG_CALLBACK, on_uri, a,
	    MHD_OPTION_STRICT_FOR_CLIENT, (int)1,
	    cert ? MHD_OPTION_HTTPS_PRIORITIES : MHD_OPTION_END,
	    TLS_PRIORITIES, MHD_OPTION_HTTPS_MEM_CERT, cert,
	    MHD_OPTION_HTTPS_MEM_KEY, key, MHD_OPTION_END);
}

enum ov_rc
admin_start(struct admin *a, struct rot_scheduler *sched)
{
	const union MHD_DaemonInfo *di;
	enum ov_rc rc;

	a->sched = sched;
	if (a->tls_cert && MHD_is_feature_supported(MHD_FEATURE_TLS) !=
	    MHD_YES)
		return ov_seterr(OV_EUSAGE, "this libmicrohttpd has no TLS "
		    "support: drop --tls-cert/--tls-key");
	raise_nofile(a->cfg.max_connections);
	if ((rc = conns_start(a->conns)) != OV_OK)
		return rc;
	a->mhd_error[0] = '\0';
	a->daemon = daemon_start(a, -1, a->tls_cert, a->tls_key);
	if (a->daemon == NULL)
		return ov_seterr(OV_EIO, "cannot listen on %s%s%s:%d (in use, "
		    "not an address of this machine, or a bad TLS "
		    "certificate/key)%s%s", strchr(a->cfg.host, ':') ? "[" :
		    "", a->cfg.host, strchr(a->cfg.host, ':') ? "]" : "",
		    a->cfg.port, a->mhd_error[0] ? ": " : "", a->mhd_error);
	atomic_store(&a->mhd_started, 1);
	broker_preload_start(a->broker);
	di = MHD_get_daemon_info(a->daemon, MHD_DAEMON_INFO_BIND_PORT);
	a->port = di ? di->port : a->cfg.port;
	log_info("listening on %s%s%s:%d (%s, %u threads, at most %d "
	    "connections, %d per address; %d s per request, %d s idle)",
	    strchr(a->cfg.host, ':') ? "[" : "", a->cfg.host,
	    strchr(a->cfg.host, ':') ? "]" : "", a->port, a->tls_cert ?
	    "https" : "http", pool_threads(a), a->cfg.max_connections,
	    a->cfg.max_per_ip, a->cfg.request_timeout_s,
	    a->cfg.idle_timeout_s);
	if (!admin_listen_is_loopback(a->cfg.host) && !a->tls_cert)
		log_warnx("the admin API listens on %s without TLS: API keys "
		    "and tokens cross the network in the clear (give "
		    "--tls-cert and --tls-key)", a->cfg.host);
	return OV_OK;
}

int
admin_listen_is_loopback(const char *host)
{
	unsigned char b[16];
	static const unsigned char v6_loop[16] = { [15] = 1 };

	if (inet_pton(AF_INET, host, b) == 1)
		return b[0] == 127;
	if (inet_pton(AF_INET6, host, b) == 1)
		return memcmp(b, v6_loop, 16) == 0 || (memcmp(b,
		    "\0\0\0\0\0\0\0\0\0\0\xff\xff", 12) == 0 && b[12] == 127);
	return 0;
}

/*
 * A retired daemon (the one before a TLS reload) answers the
 * connections it holds until they close, then is stopped; its listen
 * socket (a duplicate of the live one) is closed after it.
 */
struct retired {
	struct admin		*a;
	struct MHD_Daemon	*d;
	int			 fd;
};

static void *
retire_run(void *arg)
{
	struct retired *r = arg;
	const union MHD_DaemonInfo *di;

	/* No deadline: stopping a daemon that holds a suspended connection
	 * (a token wait) makes libmicrohttpd abort.  Its connections end by
	 * themselves (request and idle timeouts); admin_stop ends the rest
	 * after the broker resumed every wait. */
	for (;;) {
		di = MHD_get_daemon_info(r->d,
		    MHD_DAEMON_INFO_CURRENT_CONNECTIONS);
		if (di == NULL || di->num_connections == 0 ||
		    atomic_load(&r->a->retiring_stop))
			break;
		usleep(100 * 1000);
	}
	MHD_stop_daemon(r->d);
	if (r->fd >= 0)
		close(r->fd);
	pthread_mutex_lock(&r->a->pool_lock);
	if (--r->a->retiring == 0)
		pthread_cond_broadcast(&r->a->jobs_cond);
	pthread_mutex_unlock(&r->a->pool_lock);
	free(r);
	return NULL;
}

enum ov_rc
admin_reload(struct admin *a)
{
	const union MHD_DaemonInfo *di;
	struct MHD_Daemon *fresh;
	struct retired *old;
	pthread_t t;
	char *cert, *key;
	int fd, err;

	if (a->tls_cert == NULL || a->daemon == NULL)
		return OV_OK;
	if ((cert = read_pem(a->cfg.tls_cert, 0)) == NULL ||
	    (key = read_pem(a->cfg.tls_key, 1)) == NULL) {
		err = errno;
		free(cert);
		return ov_seterr(OV_EIO, "cannot read the TLS %s %s: %s; "
		    "keeping the certificate in use", cert ? "key" :
		    "certificate", cert ? a->cfg.tls_key : a->cfg.tls_cert,
		    err ? strerror(err) : "empty file");
	}
	di = MHD_get_daemon_info(a->daemon, MHD_DAEMON_INFO_LISTEN_FD);
	if (di == NULL || (fd = dup(di->listen_fd)) < 0) {
		free(cert);
		secmem_free(key);
		return ov_seterr(OV_EIO, "TLS reload: no listening socket");
	}
	atomic_store(&a->mhd_started, 0);	/* keep the first error */
	a->mhd_error[0] = '\0';
	fresh = daemon_start(a, fd, cert, key);
	atomic_store(&a->mhd_started, 1);
	if (fresh == NULL) {
		/* Not closed here: libmicrohttpd closes a listen socket it was
		 * given when TLS fails to start, and a second close could hit
		 * a descriptor another thread just got (at worst one leaks). */
		free(cert);
		secmem_free(key);
		return ov_seterr(OV_EINVAL, "the new TLS certificate and key "
		    "do not load (%s); keeping the certificate in use",
		    a->mhd_error[0] ? a->mhd_error : "not a matching pair");
	}
	if ((old = calloc(1, sizeof(*old))) == NULL) {
		MHD_stop_daemon(fresh);		/* closes fd */
		free(cert);
		secmem_free(key);
		return ov_seterr(OV_ENOMEM, "out of memory");
	}
	pthread_mutex_lock(&a->pool_lock);
	old->a = a;
	old->d = a->daemon;
	a->daemon = fresh;
	a->retiring++;
	pthread_mutex_unlock(&a->pool_lock);
	old->fd = (int)MHD_quiesce_daemon(old->d);
	/* libmicrohttpd reads the PEM when it starts: the old copies go
	 * with the old daemon's last connection. */
	free(a->tls_cert_old);
	secmem_free(a->tls_key_old);
	a->tls_cert_old = a->tls_cert;
	a->tls_key_old = a->tls_key;
	a->tls_cert = cert;
	a->tls_key = key;
	log_info("SIGHUP: TLS certificate and key reloaded from %s and %s",
	    a->cfg.tls_cert, a->cfg.tls_key);
	if (pthread_create(&t, NULL, retire_run, old) != 0)
		retire_run(old);	/* waits here: still correct */
	else
		pthread_detach(t);
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
	atomic_store(&a->retiring_stop, 1);
	pthread_mutex_lock(&a->pool_lock);
	while (a->retiring > 0)		/* retired daemons stop */
		pthread_cond_wait(&a->jobs_cond, &a->pool_lock);
	pthread_mutex_unlock(&a->pool_lock);
	if (a->daemon)
		MHD_stop_daemon(a->daemon);
	a->daemon = NULL;
	conns_stop(a->conns);	/* every connection is closed */
}

void
admin_free(struct admin *a)
{
	if (a == NULL)
		return;
	admin_stop(a);
	broker_free(a->broker);
	auth_free(a->auth);
	conns_free(a->conns);
	for (size_t i = 0; i < a->npool; i++)
		vault_close(a->pool[i]);
	free(a->pool);
	vault_close(a->root);
	free(a->tls_cert);
	secmem_free(a->tls_key);
	free(a->tls_cert_old);
	secmem_free(a->tls_key_old);
	pthread_cond_destroy(&a->jobs_cond);
	pthread_mutex_destroy(&a->pool_lock);
	free(a);
}

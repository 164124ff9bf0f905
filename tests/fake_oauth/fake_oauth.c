/*
 * fake_oauth.c — a fault-injecting fake OAuth 2.0 token server for the
 * orgvault tests: a real HTTP server (libmicrohttpd, one thread per
 * connection) that listens on 127.0.0.1 and never on anything else.  This
 * file owns the network: options, the daemon, routing, request bodies,
 * sending replies, hangs and resets.  The other files never see MHD.
 *
 * Usage: fake-oauth --port PORT [--port-file FILE] [--log FILE]
 *   --port 0 picks a free port; --port-file receives the bound port, written
 *   atomically (rename) once listening; --log receives one line per request
 *   (never a secret or a body).  SIGTERM or SIGINT: exit 0, promptly, even
 *   with hanging requests.
 *
 * Token endpoints — POST, application/x-www-form-urlencoded only, body at
 * most 64 KiB (413 beyond):
 *   /oauth/token      Genesys style errors   (faults.c has the table)
 *   /oauth_token.do   ServiceNow style errors
 *   /token            RFC 6749 style errors
 * Client authentication: HTTP Basic (base64 of urlencoded id ":" secret)
 * or client_id + client_secret in the body; both → 400 invalid_request.
 * grant_type client_credentials or refresh_token.  Success:
 *   {"access_token":"at-<client>-<n>","token_type":"bearer",
 *    "expires_in":<lifetime>,"scope":<granted>,
 *    "refresh_token":"rt-<client>-<n>"}
 * scope only when non-empty and not omit_scope; refresh_token only on a
 * refresh_token grant with rotate_refresh (or echo_refresh).  Other
 * methods are 405, other paths 404 (both logged).
 *
 * Each well-formed request naming a known client takes one behaviour: the
 * next script step, else behaviour.  Faults answer whatever the secret;
 * only ok and slow check the secret, grant_type and refresh family.
 * Malformed requests (content type, form syntax, repeated or non-UTF-8
 * parameters, credentials twice or missing, no grant_type, no
 * refresh_token) are refused first and consume no script step.  hang
 * lasts until the client closes the connection or the server stops;
 * reset closes it unanswered.
 *
 * Control API (JSON bodies and answers; errors are {"error": message}):
 *   PUT    /_admin/clients/{id}  create (201) or replace (200) a client
 *   PATCH  /_admin/clients/{id}  merge fields into it (404 if unknown)
 *   GET    /_admin/clients/{id}  its fields and counters (404 if unknown)
 *   DELETE /_admin/clients/{id}  forget it (its access tokens die too)
 *   GET    /_admin/clients       every client, as an array
 *   GET    /_admin/requests?client_id=X&since=N   log entries, seq > N
 *   GET    /_admin/stats         {"requests","by_status":{"200":n,...},
 *                                "in_flight","max_concurrency",
 *                                "access_tokens","next_seq"}
 *   POST   /_admin/reset         forget clients, log, tokens and stats
 *                                (seq keeps increasing)
 *   GET    /_admin/health        {"ok":true}
 *
 * Client fields (unknown fields are 400; GET's counters may be PUT back):
 *   client_secret    string, required on PUT
 *   lifetime         expires_in and access-token life, default 3600
 *   scope            granted scope; null (default): the requested one
 *   omit_scope       bool: never send "scope"
 *   rotate_refresh   bool, default true: each refresh issues a new token
 *                    and makes the presented one stale
 *   echo_refresh     bool: without rotation, send the presented token back
 *   refresh_token    install as the current valid refresh token, unless
 *                    already issued in this family (so re-PUT keeps state)
 *   behaviour        default "ok"; see fake_oauth.h enum fo_behaviour:
 *                    ok invalid_grant invalid_client invalid_scope
 *                    unauthorized_client unsupported_grant_type
 *                    invalid_request servicenow_401 429 500 503 slow hang
 *                    reset garbage huge missing_access_token mistyped
 *                    html_500
 *   script           behaviours used one per token request, then behaviour
 *   delay_ms         the wait of "slow"
 *   retry_after      seconds for 429 and 503, default 2
 *   retry_after_date bool: Retry-After as an HTTP-date
 *   api_behaviour    the fault of the /api/v2 endpoints for this client
 *   reset            bool, PUT/PATCH only: forget the client's counters,
 *                    refresh family, access tokens and log entries
 * GET adds: requests, successes, stale_presentations,
 * current_refresh_token, issued_refresh_tokens, family_revoked,
 * access_tokens_issued, secret_regenerations; script shows what is left.
 *
 * Request-log entry: seq, time_ms (CLOCK_REALTIME), path, client_id,
 * auth_method ("basic", "post", "both", "bearer" or null), grant_type,
 * scope, refresh_token (presented), status (HTTP status; 0 while in
 * progress and for hang/reset), behaviour (null when refused before one
 * was picked), token_client (/api/v2 only: the bearer token's owner).
 *
 * Genesys API (api.c): POST /api/v2/oauth/clients/{id}/secret and
 * GET|DELETE /api/v2/tokens/me, with "Authorization: Bearer <token>".
 */
#include <getopt.h>
#include <netinet/in.h>
#include <poll.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <arpa/inet.h>
#include <unistd.h>

#include <microhttpd.h>
#include <sodium.h>

#include "fake_oauth.h"

#define ADMIN_PREFIX	"/_admin/"

/* One per HTTP request; lives from the headers to the completion. */
struct conn_req {
	char	*body;
	size_t	 len;
	bool	 too_big;
	bool	 counted;	/* in the in-flight statistics */
};

static FILE *log_fp;

static void log_line(const char *, ...) __attribute__((format(printf, 1, 2)));

static void
log_line(const char *fmt, ...)
{
	char stamp[32];
	time_t now;
	struct tm tm;
	va_list ap;

	if (log_fp == NULL)
		return;
	now = time(NULL);
	gmtime_r(&now, &tm);
	strftime(stamp, sizeof(stamp), "%Y-%m-%dT%H:%M:%SZ", &tm);
	flockfile(log_fp);
	fprintf(log_fp, "%s ", stamp);
	va_start(ap, fmt);
	vfprintf(log_fp, fmt, ap);
	va_end(ap);
	fputc('\n', log_fp);
	funlockfile(log_fp);
}

static void mhd_logger(void *, const char *, va_list)
    __attribute__((format(printf, 2, 0)));

static void
mhd_logger(void *cls, const char *fmt, va_list ap)
{
	if (log_fp == NULL)
		return;
	flockfile(log_fp);
	fputs("mhd: ", log_fp);
	vfprintf(log_fp, fmt, ap);
	funlockfile(log_fp);
}

static void
fatal(const char *what)
{
	fprintf(stderr, "fake-oauth: %s\n", what);
	exit(1);
}

const char *
fo_req_query(const struct fo_http_req *hr, const char *key)
{
	return MHD_lookup_connection_value(hr->conn, MHD_GET_ARGUMENT_KIND,
	    key);
}

static bool
is_admin(const char *path)
{
	return strncmp(path, ADMIN_PREFIX, strlen(ADMIN_PREFIX)) == 0;
}

static void
route(const struct fo_http_req *hr, struct fo_reply *r)
{
	struct fo_log_fields f = { .path = hr->path };

	if (is_admin(hr->path))
		fo_admin_handle(hr, r);
	else if (strcmp(hr->path, "/oauth/token") == 0)
		fo_token_handle(hr, FO_STYLE_GENESYS, r);
	else if (strcmp(hr->path, "/oauth_token.do") == 0)
		fo_token_handle(hr, FO_STYLE_SERVICENOW, r);
	else if (strcmp(hr->path, "/token") == 0)
		fo_token_handle(hr, FO_STYLE_RFC, r);
	else if (strncmp(hr->path, "/api/v2/", 8) == 0)
		fo_api_handle(hr, r);
	else {
		r->seq = fo_log_append(&f);
		fo_reply_error(r, 404, "not found");
	}
}

/* True once the client has closed (or half-closed) its side. */
static bool
peer_gone(int fd)
{
	struct pollfd p = { .fd = fd, .events = POLLIN | POLLRDHUP };
	char c;

	if (poll(&p, 1, 0) <= 0)
		return false;
	if (p.revents & (POLLHUP | POLLERR | POLLRDHUP | POLLNVAL))
		return true;
	return (p.revents & POLLIN) &&
	    recv(fd, &c, 1, MSG_PEEK | MSG_DONTWAIT) == 0;
}

/* The "hang" behaviour: no answer until the peer or the server quits. */
static void
hang(struct MHD_Connection *conn)
{
	const union MHD_ConnectionInfo *ci = MHD_get_connection_info(conn,
	    MHD_CONNECTION_INFO_CONNECTION_FD);
	int fd = ci != NULL ? (int)ci->connect_fd : -1;

	while (fo_sleep_ms(FO_HANG_POLL_MS))
		if (fd >= 0 && peer_gone(fd))
			break;
}

static enum MHD_Result
send_reply(struct MHD_Connection *conn, const struct fo_http_req *hr,
    struct fo_reply *r)
{
	struct MHD_Response *resp;
	enum MHD_Result ret;

	if (r->action != FO_SEND) {
		if (r->action == FO_HANG)
			hang(conn);
		fo_log_finish(r->seq, 0);
		log_line("seq=%llu %s %s %s %s", (unsigned long long)r->seq,
		    hr->method, hr->path, r->action == FO_HANG ? "hang" :
		    "reset", r->note);
		fo_reply_cleanup(r);
		return MHD_NO;	/* MHD closes the connection, no answer */
	}
	resp = MHD_create_response_from_buffer(r->body_len, r->body,
	    r->body != NULL ? MHD_RESPMEM_MUST_FREE : MHD_RESPMEM_PERSISTENT);
	if (resp == NULL) {
		fo_reply_cleanup(r);
		return MHD_NO;
	}
	r->body = NULL;		/* MHD frees it now */
	MHD_add_response_header(resp, "Content-Type", r->content_type ?
	    r->content_type : "application/json");
	MHD_add_response_header(resp, "Cache-Control", "no-store");
	MHD_add_response_header(resp, "Pragma", "no-cache");
	if (r->retry_after[0] != '\0')
		MHD_add_response_header(resp, "Retry-After", r->retry_after);
	if (r->www_authenticate)
		MHD_add_response_header(resp, "WWW-Authenticate",
		    "Basic realm=\"fake\"");
	ret = MHD_queue_response(conn, (unsigned int)r->status, resp);
	MHD_destroy_response(resp);
	fo_log_finish(r->seq, r->status);
	if (!is_admin(hr->path))
		log_line("seq=%llu %s %s %d %s", (unsigned long long)r->seq,
		    hr->method, hr->path, r->status, r->note);
	return ret;
}

static struct fo_http_req
http_req(struct MHD_Connection *conn, const char *url, const char *method,
    const struct conn_req *cr)
{
	struct fo_http_req hr = {
		.conn = conn, .method = method, .path = url,
		.body = cr->body != NULL ? cr->body : "",
		.body_len = cr->len,
	};

	hr.content_type = MHD_lookup_connection_value(conn, MHD_HEADER_KIND,
	    MHD_HTTP_HEADER_CONTENT_TYPE);
	hr.authorization = MHD_lookup_connection_value(conn, MHD_HEADER_KIND,
	    MHD_HTTP_HEADER_AUTHORIZATION);
	return hr;
}

static void
too_large(const struct fo_http_req *hr, struct fo_reply *r)
{
	struct fo_log_fields f = { .path = hr->path };

	if (!is_admin(hr->path))
		r->seq = fo_log_append(&f);
	fo_reply_error(r, 413, "request body larger than 64 KiB");
}

/* First call: headers only.  Refuses a declared oversized body at once. */
static enum MHD_Result
start_request(struct MHD_Connection *conn, const char *url,
    const char *method, void **con_cls)
{
	struct conn_req *cr = fo_xmalloc(sizeof(*cr));
	const char *cl = MHD_lookup_connection_value(conn, MHD_HEADER_KIND,
	    MHD_HTTP_HEADER_CONTENT_LENGTH);
	struct fo_reply r = { .action = FO_SEND };
	struct fo_http_req hr;

	memset(cr, 0, sizeof(*cr));
	*con_cls = cr;
	if (!is_admin(url)) {
		cr->counted = true;
		fo_inflight_enter();
	}
	if (cl == NULL || strtoull(cl, NULL, 10) <= FO_BODY_MAX)
		return MHD_YES;
	cr->too_big = true;
	hr = http_req(conn, url, method, cr);
	too_large(&hr, &r);
	return send_reply(conn, &hr, &r);
}

static void
absorb(struct conn_req *cr, const char *data, size_t n)
{
	if (cr->too_big || cr->len + n > FO_BODY_MAX) {
		cr->too_big = true;
		return;
	}
	cr->body = fo_xrealloc(cr->body, cr->len + n + 1);
	memcpy(cr->body + cr->len, data, n);
	cr->len += n;
	cr->body[cr->len] = '\0';
}

static enum MHD_Result
on_access(void *cls, struct MHD_Connection *conn, const char *url,
    const char *method, const char *version, const char *upload_data,
    size_t *upload_data_size, void **con_cls)
{
	struct conn_req *cr = *con_cls;
	struct fo_reply r = { .action = FO_SEND };
	struct fo_http_req hr;

	if (cr == NULL)
		return start_request(conn, url, method, con_cls);
	if (*upload_data_size != 0) {
		absorb(cr, upload_data, *upload_data_size);
		*upload_data_size = 0;
		return MHD_YES;
	}
	hr = http_req(conn, url, method, cr);
	if (cr->too_big)
		too_large(&hr, &r);
	else
		route(&hr, &r);
	return send_reply(conn, &hr, &r);
}

static void
on_completed(void *cls, struct MHD_Connection *conn, void **con_cls,
    enum MHD_RequestTerminationCode toe)
{
	struct conn_req *cr = *con_cls;

	if (cr == NULL)
		return;
	if (cr->counted)
		fo_inflight_leave();
	free(cr->body);
	free(cr);
	*con_cls = NULL;
}

static struct MHD_Daemon *
start_daemon(unsigned short port)
{
	struct sockaddr_in sin;

	memset(&sin, 0, sizeof(sin));
	sin.sin_family = AF_INET;
	sin.sin_port = htons(port);
	sin.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	return MHD_start_daemon(MHD_USE_INTERNAL_POLLING_THREAD |
	    MHD_USE_THREAD_PER_CONNECTION | MHD_USE_POLL | MHD_USE_ERROR_LOG,
	    port, NULL, NULL, on_access, NULL,
	    MHD_OPTION_EXTERNAL_LOGGER, mhd_logger, NULL,	/* first */
	    MHD_OPTION_SOCK_ADDR, (struct sockaddr *)&sin,
	    MHD_OPTION_CONNECTION_LIMIT, (unsigned int)FO_CONN_LIMIT,
	    MHD_OPTION_CONNECTION_TIMEOUT, (unsigned int)120,
	    MHD_OPTION_LISTEN_BACKLOG_SIZE, (unsigned int)4096,
	    MHD_OPTION_THREAD_STACK_SIZE, (size_t)(1024 * 1024),
	    MHD_OPTION_NOTIFY_COMPLETED, on_completed, NULL,
	    MHD_OPTION_END);
}

/* Hundreds of concurrent connections need more than 1024 descriptors. */
static void
raise_nofile(void)
{
	struct rlimit rl;

	if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur < rl.rlim_max) {
		rl.rlim_cur = rl.rlim_max;
		setrlimit(RLIMIT_NOFILE, &rl);
	}
}

static void
write_port_file(const char *path, unsigned int port)
{
	char *tmp = fo_xasprintf("%s.tmp.%ld", path, (long)getpid());
	FILE *fp = fopen(tmp, "w");

	if (fp == NULL || fprintf(fp, "%u\n", port) < 0 || fclose(fp) != 0 ||
	    rename(tmp, path) != 0)
		fatal("cannot write the port file");
	free(tmp);
}

static void
usage(void)
{
	fprintf(stderr, "usage: fake-oauth --port PORT [--port-file FILE] "
	    "[--log FILE]\n");
	exit(2);
}

struct options {
	long		 port;
	const char	*port_file;
	const char	*log_file;
};

static void
parse_options(int argc, char **argv, struct options *o)
{
	static const struct option longopts[] = {
		{ "port", required_argument, NULL, 'p' },
		{ "port-file", required_argument, NULL, 'f' },
		{ "log", required_argument, NULL, 'l' },
		{ NULL, 0, NULL, 0 }
	};
	char *end;
	int ch;

	o->port = -1;
	while ((ch = getopt_long(argc, argv, "", longopts, NULL)) != -1) {
		if (ch == 'p') {
			o->port = strtol(optarg, &end, 10);
			if (*optarg == '\0' || *end != '\0' || o->port < 0 ||
			    o->port > 65535)
				usage();
		} else if (ch == 'f')
			o->port_file = optarg;
		else if (ch == 'l')
			o->log_file = optarg;
		else
			usage();
	}
	if (o->port < 0 || optind != argc)
		usage();
}

int
main(int argc, char **argv)
{
	const union MHD_DaemonInfo *info;
	struct options o = { 0 };
	struct MHD_Daemon *d;
	sigset_t stop_signals;
	int sig;

	parse_options(argc, argv, &o);
	if (sodium_init() < 0)
		fatal("sodium_init failed");
	if (o.log_file != NULL) {
		if ((log_fp = fopen(o.log_file, "a")) == NULL)
			fatal("cannot open the log file");
		setvbuf(log_fp, NULL, _IOLBF, 0);
	}
	raise_nofile();
	fo_state_init();
	/* Blocked before any thread exists, so only sigwait() sees them. */
	sigemptyset(&stop_signals);
	sigaddset(&stop_signals, SIGINT);
	sigaddset(&stop_signals, SIGTERM);
	pthread_sigmask(SIG_BLOCK, &stop_signals, NULL);
	signal(SIGPIPE, SIG_IGN);
	if ((d = start_daemon((unsigned short)o.port)) == NULL)
		fatal("cannot listen on 127.0.0.1");
	info = MHD_get_daemon_info(d, MHD_DAEMON_INFO_BIND_PORT);
	if (info == NULL || info->port == 0)
		fatal("cannot learn the bound port");
	log_line("listening on 127.0.0.1:%u", (unsigned int)info->port);
	if (o.port_file != NULL)
		write_port_file(o.port_file, info->port);
	while (sigwait(&stop_signals, &sig) != 0)
		;
	log_line("signal %d: stopping", sig);
	fo_request_stop();	/* wakes hangs and slow requests */
	MHD_stop_daemon(d);
	fo_state_cleanup();
	if (log_fp != NULL)
		fclose(log_fp);
	return 0;
}

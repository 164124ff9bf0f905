/*
 * webhook_rx.c — the loopback webhook receiver of t_webhook.sh: a
 * libmicrohttpd server that logs every request and answers as told.
 *
 * Usage: webhook-rx --port PORT [--port-file FILE] --log FILE
 *   --port 0 picks a free port; --port-file receives it (atomically)
 *   once listening.  --log receives one JSON object per line per
 *   request: {"n", "time_ms", "method", "path", "headers": {lowercase
 *   name: value}, "body": the raw body as a string, "status": what was
 *   answered (0: the request was held, see hang)}.
 *
 * Control (never logged): GET /_control?fail=N&status=S&hang=N&hang_ms=M
 *   fail=N    the next N requests are answered S (default 500)
 *   hang=N    the next N requests get no answer for M ms (default
 *             60000), then 503 — to kill the sender mid-request
 *   each given parameter replaces the current setting; answers 200
 *   with the settings as JSON.  Otherwise every request gets 200.
 *
 * SIGTERM or SIGINT: exit 0.  A test tool: it trusts its input.
 */
#include <arpa/inet.h>
#include <netinet/in.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>
#include <unistd.h>
#include <getopt.h>

#include <jansson.h>
#include <microhttpd.h>

#define BODY_MAX	(1024 * 1024)

struct req {
	char	*body;
	size_t	 len;
	int	 control;
};

static pthread_mutex_t lock = PTHREAD_MUTEX_INITIALIZER;
static FILE *log_fp;
static long nreq, fail_left, fail_status = 500, hang_left, hang_ms = 60000;

static int64_t
now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_REALTIME, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static enum MHD_Result
add_header(void *cls, enum MHD_ValueKind kind, const char *key,
    const char *value)
{
	char name[256];
	size_t i;

	(void)kind;
	for (i = 0; key[i] && i < sizeof(name) - 1; i++)
		name[i] = (char)(key[i] >= 'A' && key[i] <= 'Z' ?
		    key[i] - 'A' + 'a' : key[i]);
	name[i] = '\0';
	json_object_set_new(cls, name, json_string(value ? value : ""));
	return MHD_YES;
}

static enum MHD_Result
reply(struct MHD_Connection *c, unsigned status, const char *text)
{
	struct MHD_Response *r;
	enum MHD_Result ret;

	r = MHD_create_response_from_buffer(strlen(text), (void *)text,
	    MHD_RESPMEM_MUST_COPY);
	MHD_add_response_header(r, "Content-Type", "application/json");
	ret = MHD_queue_response(c, status, r);
	MHD_destroy_response(r);
	return ret;
}

static long
arg_long(struct MHD_Connection *c, const char *name, long current)
{
	const char *v = MHD_lookup_connection_value(c, MHD_GET_ARGUMENT_KIND,
	    name);

	return v ? strtol(v, NULL, 10) : current;
}

static enum MHD_Result
control(struct MHD_Connection *c)
{
	char buf[256];

	pthread_mutex_lock(&lock);
	fail_left = arg_long(c, "fail", fail_left);
	fail_status = arg_long(c, "status", fail_status);
	hang_left = arg_long(c, "hang", hang_left);
	hang_ms = arg_long(c, "hang_ms", hang_ms);
	snprintf(buf, sizeof(buf), "{\"fail\":%ld,\"status\":%ld,\"hang\":%ld,"
	    "\"hang_ms\":%ld,\"requests\":%ld}\n", fail_left, fail_status,
	    hang_left, hang_ms, nreq);
	pthread_mutex_unlock(&lock);
	return reply(c, 200, buf);
}

/* Logs the request and decides the answer; *hang: hold it first. */
static unsigned
record(struct MHD_Connection *c, const char *method, const char *url,
    const struct req *q, long *hang)
{
	json_t *h = json_object(), *line;
	unsigned status = 200;

	MHD_get_connection_values(c, MHD_HEADER_KIND, add_header, h);
	pthread_mutex_lock(&lock);
	*hang = 0;
	if (hang_left > 0) {
		hang_left--;
		*hang = hang_ms;
		status = 0;
	} else if (fail_left > 0) {
		fail_left--;
		status = (unsigned)fail_status;
	}
	line = json_pack("{s:I, s:I, s:s, s:s, s:o, s:s%, s:i}", "n",
	    (json_int_t)++nreq, "time_ms", (json_int_t)now_ms(), "method",
	    method, "path", url, "headers", h, "body", q->body ? q->body : "",
	    q->len, "status", (int)status);
	if (line) {
		json_dumpf(line, log_fp, JSON_COMPACT);
		fputc('\n', log_fp);
		fflush(log_fp);
		json_decref(line);
	}
	pthread_mutex_unlock(&lock);
	return status;
}

static enum MHD_Result
on_access(void *cls, struct MHD_Connection *c, const char *url,
    const char *method, const char *version, const char *upload,
    size_t *upload_size, void **con_cls)
{
	struct req *q = *con_cls;
	unsigned status;
	long hang;
	char *bigger;

	(void)cls;
	(void)version;
	if (q == NULL) {
		if ((q = calloc(1, sizeof(*q))) == NULL)
			return MHD_NO;
		q->control = strncmp(url, "/_control", 9) == 0;
		*con_cls = q;
		return MHD_YES;
	}
	if (*upload_size > 0) {
		if (q->len + *upload_size > BODY_MAX ||
		    (bigger = realloc(q->body, q->len + *upload_size + 1)) ==
		    NULL)
			return MHD_NO;
		q->body = bigger;
		memcpy(q->body + q->len, upload, *upload_size);
		q->len += *upload_size;
		q->body[q->len] = '\0';
		*upload_size = 0;
		return MHD_YES;
	}
	if (q->control)
		return control(c);
	status = record(c, method, url, q, &hang);
	if (hang > 0) {
		struct timespec ts = { hang / 1000, (hang % 1000) * 1000000L };

		while (nanosleep(&ts, &ts) == -1)
			;
		status = 503;
	}
	return reply(c, status, status >= 200 && status <= 299 ?
	    "{\"ok\":true}\n" : "{\"ok\":false}\n");
}

static void
on_completed(void *cls, struct MHD_Connection *c, void **con_cls,
    enum MHD_RequestTerminationCode toe)
{
	struct req *q = *con_cls;

	(void)cls;
	(void)c;
	(void)toe;
	if (q) {
		free(q->body);
		free(q);
	}
	*con_cls = NULL;
}

static void
port_file_write(const char *path, unsigned port)
{
	char tmp[4096];
	FILE *f;

	snprintf(tmp, sizeof(tmp), "%s.tmp", path);
	if ((f = fopen(tmp, "w")) == NULL) {
		perror(tmp);
		exit(1);
	}
	fprintf(f, "%u\n", port);
	fclose(f);
	rename(tmp, path);
}

int
main(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "port", required_argument, NULL, 'p' },
		{ "port-file", required_argument, NULL, 'f' },
		{ "log", required_argument, NULL, 'l' },
		{ NULL, 0, NULL, 0 },
	};
	const char *port_file = NULL, *log_path = NULL;
	struct sockaddr_in sin;
	const union MHD_DaemonInfo *info;
	struct MHD_Daemon *d;
	sigset_t stop;
	int ch, sig, port = -1;

	while ((ch = getopt_long(argc, argv, "", opts, NULL)) != -1) {
		switch (ch) {
		case 'p': port = atoi(optarg); break;
		case 'f': port_file = optarg; break;
		case 'l': log_path = optarg; break;
		default: goto usage;
		}
	}
	if (port < 0 || log_path == NULL)
		goto usage;
	if ((log_fp = fopen(log_path, "a")) == NULL) {
		perror(log_path);
		return 1;
	}
	sigemptyset(&stop);
	sigaddset(&stop, SIGINT);
	sigaddset(&stop, SIGTERM);
	pthread_sigmask(SIG_BLOCK, &stop, NULL);
	signal(SIGPIPE, SIG_IGN);
	memset(&sin, 0, sizeof(sin));
	sin.sin_family = AF_INET;
	sin.sin_port = htons((uint16_t)port);
	sin.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	d = MHD_start_daemon(MHD_USE_INTERNAL_POLLING_THREAD |
	    MHD_USE_THREAD_PER_CONNECTION | MHD_USE_POLL, (uint16_t)port, NULL,
	    NULL, on_access, NULL, MHD_OPTION_SOCK_ADDR, (struct sockaddr *)&sin,
	    MHD_OPTION_CONNECTION_TIMEOUT, (unsigned int)120,
	    MHD_OPTION_NOTIFY_COMPLETED, on_completed, NULL, MHD_OPTION_END);
	if (d == NULL) {
		fprintf(stderr, "webhook-rx: cannot listen on port %d\n", port);
		return 1;
	}
	info = MHD_get_daemon_info(d, MHD_DAEMON_INFO_BIND_PORT);
	if (port_file)
		port_file_write(port_file, info ? info->port : (unsigned)port);
	while (sigwait(&stop, &sig) != 0)
		;
	/* A held request would make MHD_stop_daemon wait for it. */
	pthread_mutex_lock(&lock);
	fflush(log_fp);
	_exit(0);
usage:
	fprintf(stderr, "usage: webhook-rx --port PORT [--port-file FILE] "
	    "--log FILE\n");
	return 2;
}

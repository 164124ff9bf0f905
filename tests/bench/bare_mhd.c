/*
 * bare_mhd.c — the token-broker bench's baseline: a bare libmicrohttpd
 * server that answers every GET with one fixed JSON body of a given size,
 * configured as `orgvault serve --listen` is in admin/server.c (internal
 * polling thread, epoll where supported, turbo, suspend/resume allowed, a
 * thread pool of one thread per online CPU, HTTP/1.1 keep-alive, the same
 * connection limits; keep the two in step).  It does no routing, no
 * authentication and no lookup, so wrk against it measures what the
 * network path alone costs.  It listens on 127.0.0.1 and never on
 * anything else.
 *
 *   bare-mhd PORT BODY_BYTES [PORT_FILE]
 *
 * PORT 0 picks a free port; it is logged ("listening on 127.0.0.1:PORT")
 * and, with PORT_FILE, written there atomically once listening.  The body
 * looks like a token answer, {"access_token":"aaa…","token_type":"bearer"},
 * padded to exactly BODY_BYTES (41 to 1 MiB).  Other methods answer 405.
 * SIGTERM or SIGINT: stops the daemon and exits 0.
 */
#include <arpa/inet.h>
#include <netinet/in.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <unistd.h>

#include <microhttpd.h>

#define BODY_HEAD	"{\"access_token\":\""
#define BODY_TAIL	"\",\"token_type\":\"bearer\"}"
#define BODY_MIN	(sizeof(BODY_HEAD) - 1 + sizeof(BODY_TAIL) - 1)
#define BODY_MAX	(1024 * 1024)

static char	*body;
static size_t	 body_len;
static int	 first_call;	/* its address marks a request's first call */

static void
fatal(const char *msg)
{
	fprintf(stderr, "bare-mhd: %s\n", msg);
	exit(1);
}

static void
usage(void)
{
	fprintf(stderr, "usage: bare-mhd PORT BODY_BYTES [PORT_FILE]\n");
	exit(2);
}

static long
number(const char *s, long min, long max)
{
	char *end;
	long v = strtol(s, &end, 10);

	if (*s == '\0' || *end != '\0' || v < min || v > max)
		usage();
	return v;
}

static void
make_body(size_t len)
{
	size_t pad = len - BODY_MIN;

	if ((body = malloc(len)) == NULL)
		fatal("out of memory");
	memcpy(body, BODY_HEAD, sizeof(BODY_HEAD) - 1);
	memset(body + sizeof(BODY_HEAD) - 1, 'a', pad);
	memcpy(body + sizeof(BODY_HEAD) - 1 + pad, BODY_TAIL,
	    sizeof(BODY_TAIL) - 1);
	body_len = len;
}

/*
 * A response per request, as a real handler builds one (its headers
 * included); the body itself is shared and never copied.
 */
static enum MHD_Result
on_access(void *cls, struct MHD_Connection *conn, const char *url,
    const char *method, const char *version, const char *upload_data,
    size_t *upload_data_size, void **con_cls)
{
	struct MHD_Response *resp;
	enum MHD_Result ret;
	int get = strcmp(method, MHD_HTTP_METHOD_GET) == 0;

	if (*con_cls == NULL) {
		*con_cls = &first_call;
		return MHD_YES;
	}
	if (*upload_data_size != 0) {
		*upload_data_size = 0;	/* ignored */
		return MHD_YES;
	}
	resp = MHD_create_response_from_buffer(get ? body_len : 0,
	    get ? body : NULL, MHD_RESPMEM_PERSISTENT);
	if (resp == NULL)
		return MHD_NO;
	if (get) {
		MHD_add_response_header(resp, MHD_HTTP_HEADER_CONTENT_TYPE,
		    "application/json");
		MHD_add_response_header(resp, MHD_HTTP_HEADER_CACHE_CONTROL,
		    "no-store");
	} else
		MHD_add_response_header(resp, MHD_HTTP_HEADER_ALLOW, "GET");
	ret = MHD_queue_response(conn, get ? MHD_HTTP_OK :
	    MHD_HTTP_METHOD_NOT_ALLOWED, resp);
	MHD_destroy_response(resp);
	return ret;
}

static struct MHD_Daemon *
start_daemon(unsigned short port)
{
	struct sockaddr_in sin;
	unsigned int flags = MHD_USE_INTERNAL_POLLING_THREAD |
	    MHD_ALLOW_SUSPEND_RESUME | MHD_USE_TURBO | MHD_USE_ERROR_LOG;
	long cpus = sysconf(_SC_NPROCESSORS_ONLN);

	flags |= MHD_is_feature_supported(MHD_FEATURE_EPOLL) == MHD_YES ?
	    MHD_USE_EPOLL : MHD_USE_POLL;
	memset(&sin, 0, sizeof(sin));
	sin.sin_family = AF_INET;
	sin.sin_port = htons(port);
	sin.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	return MHD_start_daemon(flags, port, NULL, NULL, on_access, NULL,
	    MHD_OPTION_SOCK_ADDR, (struct sockaddr *)&sin,
	    MHD_OPTION_THREAD_POOL_SIZE, (unsigned int)(cpus > 0 ? cpus : 1),
	    MHD_OPTION_CONNECTION_LIMIT, (unsigned int)4096,
	    MHD_OPTION_CONNECTION_MEMORY_LIMIT, (size_t)(32 * 1024),
	    MHD_OPTION_CONNECTION_TIMEOUT, (unsigned int)30,
	    MHD_OPTION_END);
}

static void
write_port_file(const char *path, unsigned int port)
{
	char tmp[4096];
	FILE *fp;

	if (snprintf(tmp, sizeof(tmp), "%s.tmp.%ld", path,
	    (long)getpid()) >= (int)sizeof(tmp))
		fatal("port file path too long");
	if ((fp = fopen(tmp, "w")) == NULL || fprintf(fp, "%u\n", port) < 0 ||
	    fclose(fp) != 0 || rename(tmp, path) != 0)
		fatal("cannot write the port file");
}

int
main(int argc, char **argv)
{
	const union MHD_DaemonInfo *info;
	struct MHD_Daemon *d;
	struct rlimit rl;
	sigset_t stop_signals;
	int sig;

	if (argc != 3 && argc != 4)
		usage();
	make_body((size_t)number(argv[2], (long)BODY_MIN, BODY_MAX));
	if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur < rl.rlim_max) {
		rl.rlim_cur = rl.rlim_max;
		setrlimit(RLIMIT_NOFILE, &rl);
	}
	/* Blocked before any thread exists, so only sigwait() sees them. */
	sigemptyset(&stop_signals);
	sigaddset(&stop_signals, SIGINT);
	sigaddset(&stop_signals, SIGTERM);
	pthread_sigmask(SIG_BLOCK, &stop_signals, NULL);
	signal(SIGPIPE, SIG_IGN);
	if ((d = start_daemon((unsigned short)number(argv[1], 0,
	    65535))) == NULL)
		fatal("cannot listen on 127.0.0.1");
	info = MHD_get_daemon_info(d, MHD_DAEMON_INFO_BIND_PORT);
	if (info == NULL || info->port == 0)
		fatal("cannot learn the bound port");
	fprintf(stderr, "bare-mhd: listening on 127.0.0.1:%u (%s)\n",
	    (unsigned int)info->port,
	    MHD_is_feature_supported(MHD_FEATURE_EPOLL) == MHD_YES ?
	    "epoll" : "poll");
	if (argc == 4)
		write_port_file(argv[3], info->port);
	while (sigwait(&stop_signals, &sig) != 0)
		;
	MHD_stop_daemon(d);
	free(body);
	return 0;
}

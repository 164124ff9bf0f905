/*
 * cmd_serve.c — `orgvault serve`: the daemon.  The refresh scheduler
 * (rotation/) and the admin REST API with the token broker (admin/).
 */
#include <getopt.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "admin/admin.h"
#include "cmd/cli.h"
#include "rotation/rotation.h"
#include "rotation/webhook.h"
#include "util/log.h"

static const char serve_usage[] =
"usage: orgvault serve [--listen HOST:PORT|none] [--tls-cert PEM --tls-key PEM]\n"
"                      [--threads N] [--max-connections N] [--idle-timeout S]\n"
"                      [--max-connections-per-ip N] [--request-timeout S]\n"
"                      [--token-cache on|off]\n"
"                      [--host-concurrency N] [--host-rate N[/SECONDS]]\n"
"                      [--host-pause-clients N]\n"
"                      [--timeout SECONDS] [--connect-timeout SECONDS]\n"
"                      [--retry-after-cap SECONDS] [--log-format text|json]\n"
"                      [--log-file PATH] [--trusted-proxy CIDR[,CIDR...]]\n"
"\n"
"Runs the refresh scheduler and the admin REST API until SIGTERM or\n"
"SIGINT.  Every credential is refreshed ahead of its deadline (default\n"
"0.75 of the token lifetime, minus up to 5 % jitter, never later than\n"
"60 s before expiry), a new one at once.  Several `serve` processes may\n"
"share one data directory: a lease makes sure only one refreshes a\n"
"credential at a time.\n"
"\n"
"Admin API (README.md \"Admin REST API\"; keys: orgvault apikey create):\n"
"  --listen HOST:PORT     numeric address and port (127.0.0.1:8477); port 0\n"
"                         picks a free one (logged); 'none': no API\n"
"  --tls-cert PEM, --tls-key PEM\n"
"                         serve HTTPS with this certificate and key\n"
"  --threads N            worker threads (the number of cores)\n"
"  --max-connections N    open connections at most (4096)\n"
"  --max-connections-per-ip N\n"
"                         open connections per client address (256); more\n"
"                         are refused at accept (--trusted-proxy: exempt)\n"
"  --idle-timeout S       close a connection this long after its last\n"
"                         answer if no new request line came (30)\n"
"  --request-timeout S    a request's head and body must arrive within S\n"
"                         seconds (a new connection's: of the accept), or\n"
"                         the connection is closed (10); answering (token\n"
"                         waits too) is never cut\n"
"  --token-cache on|off   serve tokens from memory (on); off decrypts\n"
"                         from the vault on every request (benchmarks)\n"
"  --trusted-proxy CIDRS  peers (e.g. 10.0.0.5/32,::1) whose X-Forwarded-For\n"
"                         names the client: its address is the one failed\n"
"                         key checks are counted for and logged\n"
"\n"
"Refreshes:\n"
"  --host-concurrency N   requests in flight per token-endpoint host (8)\n"
"  --host-rate N[/S]      requests per host per S seconds (240/60)\n"
"  --host-pause-clients N a 429 pauses its (host, client id) for its\n"
"                         Retry-After; N clients of one host with a 429\n"
"                         within a minute pause the whole host (3)\n"
"  --timeout S            total time of one token request (15)\n"
"  --connect-timeout S    time to connect (5)\n"
"  --retry-after-cap S    longest Retry-After honoured (600)\n"
"  --log-format F         text (default) or json: one line per event\n"
"  --log-file PATH        log to PATH (appended) instead of stderr\n"
"\n"
"On SIGTERM/SIGINT the API stops answering, refreshes in flight may\n"
"finish for up to 10 s; then serve exits 0.  SIGHUP reopens --log-file\n"
"(after a rotation) and reloads --tls-cert/--tls-key (a pair that does\n"
"not load keeps the one in use, with a warning).  Exit 1: bad options;\n"
"5: the address cannot be bound (in use by any process) or the TLS or\n"
"log files cannot be read.  Logs (an access-log line with the request\n"
"id for every error and write; successful GETs too with -v) never hold\n"
"a secret; control characters and invalid UTF-8 in them are escaped.\n";

static int
positive(const char *s, long max, long *out)
{
	char *end;
	long v = strtol(s, &end, 10);

	if (end == s || v < 1 || v > max)
		return -1;
	*out = v;
	return *end == '\0' || *end == '/' ? 0 : -1;
}

static int
serve_parse(int argc, char **argv, struct rot_config *cfg,
    struct admin_config *ac, int *listen, int *json_logs,
    const char **log_file)
{
	static const struct option opts[] = {
		{ "listen",		required_argument, NULL, 'L' },
		{ "tls-cert",		required_argument, NULL, 'T' },
		{ "tls-key",		required_argument, NULL, 'K' },
		{ "threads",		required_argument, NULL, 'n' },
		{ "max-connections",	required_argument, NULL, 'm' },
		{ "idle-timeout",	required_argument, NULL, 'i' },
		{ "max-connections-per-ip", required_argument, NULL, 'p' },
		{ "request-timeout",	required_argument, NULL, 'q' },
		{ "token-cache",	required_argument, NULL, 'x' },
		{ "host-concurrency",	required_argument, NULL, 'c' },
		{ "host-rate",		required_argument, NULL, 'r' },
		{ "host-pause-clients",	required_argument, NULL, 'H' },
		{ "timeout",		required_argument, NULL, 't' },
		{ "connect-timeout",	required_argument, NULL, 'C' },
		{ "retry-after-cap",	required_argument, NULL, 'R' },
		{ "log-format",		required_argument, NULL, 'l' },
		{ "log-file",		required_argument, NULL, 'F' },
		{ "trusted-proxy",	required_argument, NULL, 'P' },
		{ "help",		no_argument,	   NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	long v, w;
	int ch;

	while ((ch = cli_getopt(argc, argv, "h", opts)) != -1) {
		switch (ch) {
		case 'L':
			if (strcmp(optarg, "none") == 0)
				*listen = 0;
			else if (admin_parse_listen(optarg, ac) != OV_OK)
				return cli_usage_error(serve_usage, "%s",
				    ov_errmsg());
			break;
		case 'T': ac->tls_cert = optarg; break;
		case 'K': ac->tls_key = optarg; break;
		case 'n':
			if (positive(optarg, 256, &v))
				goto bad;
			ac->threads = (int)v;
			break;
		case 'm':
			if (positive(optarg, 1000000, &v))
				goto bad;
			ac->max_connections = (int)v;
			break;
		case 'i':
			if (positive(optarg, 3600, &v))
				goto bad;
			ac->idle_timeout_s = (int)v;
			break;
		case 'p':
			if (positive(optarg, 1000000, &v))
				goto bad;
			ac->max_per_ip = (int)v;
			break;
		case 'q':
			if (positive(optarg, 3600, &v))
				goto bad;
			ac->request_timeout_s = (int)v;
			break;
		case 'x':
			if (strcmp(optarg, "on") != 0 &&
			    strcmp(optarg, "off") != 0)
				goto bad;
			ac->token_cache = strcmp(optarg, "on") == 0;
			break;
		case 'c':
			if (positive(optarg, 10000, &v))
				goto bad;
			cfg->host_concurrency = (int)v;
			break;
		case 'r':
			if (positive(optarg, 1000000, &v))
				goto bad;
			cfg->host_rate = (int)v;
			if (strchr(optarg, '/')) {
				if (positive(strchr(optarg, '/') + 1, 86400,
				    &w))
					goto bad;
				cfg->host_rate_window_s = (int)w;
			}
			break;
		case 'H':
			if (positive(optarg, 100000, &v))
				goto bad;
			cfg->host_pause_clients = (int)v;
			break;
		case 't':
			if (positive(optarg, 3600, &v))
				goto bad;
			cfg->timeout_ms = v * 1000;
			break;
		case 'C':
			if (positive(optarg, 3600, &v))
				goto bad;
			cfg->connect_timeout_ms = v * 1000;
			break;
		case 'R':
			if (positive(optarg, 86400, &v))
				goto bad;
			cfg->retry_after_cap_s = v;
			break;
		case 'l':
			if (strcmp(optarg, "json") != 0 &&
			    strcmp(optarg, "text") != 0)
				goto bad;
			*json_logs = strcmp(optarg, "json") == 0;
			break;
		case 'F': *log_file = optarg; break;
		case 'P':
			if (cidr_list_parse(optarg, "--trusted-proxy",
			    &ac->trusted_proxies) != OV_OK)
				return cli_usage_error(serve_usage, "%s",
				    ov_errmsg());
			break;
		case 'h': fputs(serve_usage, stdout); return -1;
		default: goto bad;
		}
	}
	if (optind != argc)
		return cli_usage_error(serve_usage, "serve takes no arguments");
	if (!ac->tls_cert != !ac->tls_key)
		return cli_usage_error(serve_usage, "--tls-cert and --tls-key "
		    "go together");
	return 0;
bad:
	return cli_usage_error(serve_usage, "%s", cli_opt_error()[0] ?
	    cli_opt_error() : "bad value for an option");
}

/* SIGHUP: the log file again (after a rotation), the TLS pair again. */
static void
serve_reload(struct admin *api, const char *log_file)
{
	if (log_file && log_open_file(log_file) != OV_OK)
		log_warnx("SIGHUP: %s; logging on to the old file",
		    ov_errmsg());
	else
		log_info("SIGHUP: %s", log_file ? "reopened the log file" :
		    "logging to stderr");
	if (api && admin_reload(api) != OV_OK)
		log_warnx("SIGHUP: %s", ov_errmsg());
}

int
cmd_serve(struct cli *cli, int argc, char **argv)
{
	struct rot_config cfg;
	struct admin_config ac;
	struct admin *api = NULL;
	struct rot_scheduler *sched = NULL;
	struct rot_rewrap *rw = NULL;
	struct webhook_sender *hooks = NULL;
	struct vault *v, *sv, *wv, *hv;
	sigset_t stop;
	const char *log_file = NULL;
	int ec, sig, json_logs = 0, listen = 1;
	enum ov_rc rc;

	rot_config_defaults(&cfg);
	admin_config_defaults(&ac);
	if ((ec = serve_parse(argc, argv, &cfg, &ac, &listen,
	    &json_logs, &log_file)) != 0)
		return ec < 0 ? 0 : ec;
	log_init(cli->verbose > 0 ? LOG_LVL_DEBUG : LOG_LVL_INFO, json_logs);
	if (log_file && (rc = log_open_file(log_file)) != OV_OK)
		return cli_fail(rc);
	/* Threads inherit the mask: only sigwait() sees these. */
	sigemptyset(&stop);
	sigaddset(&stop, SIGTERM);
	sigaddset(&stop, SIGINT);
	sigaddset(&stop, SIGHUP);
	pthread_sigmask(SIG_BLOCK, &stop, NULL);
	signal(SIGPIPE, SIG_IGN);
	if ((ec = cli_open(cli, 0, &v)) != 0)
		return ec;
	rot_owner_init(&cfg);
	if ((rc = vault_clone(v, &sv)) != OV_OK) {
		vault_close(v);
		return cli_fail(rc);
	}
	vault_set_actor(sv, "scheduler");
	if (listen && (rc = admin_new(v, &ac, &api)) != OV_OK) {
		vault_close(sv);
		vault_close(v);
		return cli_fail(rc);
	}
	if (api)
		admin_listener(api, &cfg);
	if ((rc = rot_scheduler_start(sv, &cfg, &sched)) != OV_OK) {
		admin_free(api);
		vault_close(sv);
		vault_close(v);
		return cli_fail(rc);
	}
	if (api && (rc = admin_start(api, sched)) != OV_OK) {
		ec = cli_fail(rc);
		rot_scheduler_stop(sched, 0);
		admin_free(api);
		vault_close(v);
		return ec;
	}
	/* Re-encryption after `key rotate`: best effort, never fatal. */
	if ((rc = vault_clone(v, &wv)) == OV_OK) {
		vault_set_actor(wv, "rewrap");
		if ((rc = rot_rewrap_start(wv, &rw)) != OV_OK)
			vault_close(wv);
	}
	if (rc != OV_OK)
		log_warnx("no background rewrap: %s (run orgvault key rewrap)",
		    ov_errmsg());
	/* Webhook alerts stay queued in the vault if they cannot be sent. */
	if ((rc = vault_clone(v, &hv)) == OV_OK &&
	    (rc = webhook_sender_start(hv, &hooks)) != OV_OK)
		vault_close(hv);
	if (rc != OV_OK)
		log_warnx("webhooks are not sent: %s", ov_errmsg());
	log_info("serving %s as %s (per host: %d in flight, %d per %d s)",
	    cli->data_dir, cfg.owner, cfg.host_concurrency, cfg.host_rate,
	    cfg.host_rate_window_s);
	while (sigwait(&stop, &sig) == 0 && sig == SIGHUP)
		serve_reload(api, log_file);
	log_info("%s: stopping", sig == SIGTERM ? "SIGTERM" : "SIGINT");
	admin_stop(api);	/* no more requests, then no more refreshes */
	rot_rewrap_stop(rw);
	rot_scheduler_stop(sched, 10000);
	webhook_sender_stop(hooks);
	admin_free(api);	/* the scheduler told it its last news */
	vault_close(v);
	log_info("stopped");
	return 0;
}

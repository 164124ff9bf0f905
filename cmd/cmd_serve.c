/*
 * cmd_serve.c — `orgvault serve`: the daemon.  Today it runs the
 * refresh scheduler; the admin REST API joins it later.
 */
#include <getopt.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cmd/cli.h"
#include "rotation/rotation.h"
#include "util/log.h"

static const char serve_usage[] =
"usage: orgvault serve [--host-concurrency N] [--host-rate N[/SECONDS]]\n"
"                      [--timeout SECONDS] [--connect-timeout SECONDS]\n"
"                      [--retry-after-cap SECONDS] [--log-format text|json]\n"
"\n"
"Runs the refresh scheduler until SIGTERM or SIGINT.  Every credential\n"
"is refreshed ahead of its deadline (default 0.75 of the token lifetime,\n"
"minus up to 5 % jitter, never later than 60 s before expiry), a new one\n"
"at once.  Several `serve` processes may share one data directory: a\n"
"lease makes sure only one refreshes a credential at a time.\n"
"\n"
"  --host-concurrency N   requests in flight per token-endpoint host (8)\n"
"  --host-rate N[/S]      requests per host per S seconds (240/60)\n"
"  --timeout S            total time of one token request (15)\n"
"  --connect-timeout S    time to connect (5)\n"
"  --retry-after-cap S    longest Retry-After honoured (600)\n"
"  --log-format F         text (default) or json: one line per event\n"
"\n"
"On SIGTERM/SIGINT, requests in flight may finish for up to 10 s; then\n"
"serve exits 0.  Logs go to stderr and never hold a secret.\n";

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
serve_parse(int argc, char **argv, struct rot_config *cfg, int *json_logs)
{
	static const struct option opts[] = {
		{ "host-concurrency",	required_argument, NULL, 'c' },
		{ "host-rate",		required_argument, NULL, 'r' },
		{ "timeout",		required_argument, NULL, 't' },
		{ "connect-timeout",	required_argument, NULL, 'C' },
		{ "retry-after-cap",	required_argument, NULL, 'R' },
		{ "log-format",		required_argument, NULL, 'l' },
		{ "help",		no_argument,	   NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	long v, w;
	int ch;

	while ((ch = cli_getopt(argc, argv, "h", opts)) != -1) {
		switch (ch) {
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
		case 'h': fputs(serve_usage, stdout); return -1;
		default: goto bad;
		}
	}
	if (optind != argc)
		return cli_usage_error(serve_usage, "serve takes no arguments");
	return 0;
bad:
	return cli_usage_error(serve_usage, "%s", cli_opt_error()[0] ?
	    cli_opt_error() : "bad value for an option");
}

int
cmd_serve(struct cli *cli, int argc, char **argv)
{
	struct rot_config cfg;
	struct rot_scheduler *sched = NULL;
	struct vault *v, *sv;
	sigset_t stop;
	int ec, sig, json_logs = 0;
	enum ov_rc rc;

	rot_config_defaults(&cfg);
	if ((ec = serve_parse(argc, argv, &cfg, &json_logs)) != 0)
		return ec < 0 ? 0 : ec;
	log_init(cli->verbose > 0 ? LOG_LVL_DEBUG : LOG_LVL_INFO, json_logs);
	/* Threads inherit the mask: only sigwait() sees these. */
	sigemptyset(&stop);
	sigaddset(&stop, SIGTERM);
	sigaddset(&stop, SIGINT);
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
	if ((rc = rot_scheduler_start(sv, &cfg, &sched)) != OV_OK) {
		vault_close(sv);
		vault_close(v);
		return cli_fail(rc);
	}
	log_info("serving %s as %s (per host: %d in flight, %d per %d s)",
	    cli->data_dir, cfg.owner, cfg.host_concurrency, cfg.host_rate,
	    cfg.host_rate_window_s);
	sigwait(&stop, &sig);
	log_info("%s: stopping", sig == SIGTERM ? "SIGTERM" : "SIGINT");
	rot_scheduler_stop(sched, 10000);
	vault_close(v);
	log_info("stopped");
	return 0;
}

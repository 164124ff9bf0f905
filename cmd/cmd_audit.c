/* cmd_audit.c — `orgvault audit events`. */
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cmd/cli.h"
#include "util/timefmt.h"

static const char audit_usage[] =
"usage: orgvault audit events [--org SLUG] [--credential NAME]\n"
"                             [--kind KIND] [--limit N] [--json]\n"
"       orgvault audit drift [--json]\n"
"       orgvault audit revocations [--json]\n"
"\n"
"Lists audit events, newest first (default limit 100, at most 10000).\n"
"Every change is an event: id, time, actor (cli:<user>, api key name or\n"
"scheduler), org, credential, kind (org.created, credential.updated, ...)\n"
"and a detail object.  Events never hold secret material.  Events are\n"
"hash-chained; `orgvault check` verifies the chain.\n";

static int
event_row(const struct vault_event *e, void *arg)
{
	json_t *list = arg;
	char t[40];

	if (list)
		return json_array_append_new(list, render_event(e));
	printf("%6lld %s %-18s %-20s %-16s %-16s %s\n", (long long)e->id,
	    timefmt_rfc3339_ms(e->time_ms, t, sizeof(t)), e->actor,
	    e->kind, e->org[0] ? e->org : "-",
	    e->credential[0] ? e->credential : "-", e->detail);
	return 0;
}

static int
audit_events(struct cli *cli, int argc, char **argv)
{
	static const struct option opts[] = {
		{ "org",	required_argument, NULL, 'o' },
		{ "credential",	required_argument, NULL, 'c' },
		{ "kind",	required_argument, NULL, 'k' },
		{ "limit",	required_argument, NULL, 'l' },
		{ "json",	no_argument,	   NULL, 'j' },
		{ "help",	no_argument,	   NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	struct vault_event_filter f = { 0 };
	struct vault *v;
	json_t *list = NULL;
	char *end;
	long n;
	int ch, json = 0, ec;
	enum ov_rc rc;

	while ((ch = cli_getopt(argc, argv, "h", opts)) != -1) {
		switch (ch) {
		case 'o': f.org = optarg; break;
		case 'c': f.credential = optarg; break;
		case 'k': f.kind = optarg; break;
		case 'l':
			n = strtol(optarg, &end, 10);
			if (*end || n < 1 || n > OV_LIST_LIMIT_MAX)
				return cli_usage_error(audit_usage, "--limit "
				    "must be 1 to %d", OV_LIST_LIMIT_MAX);
			f.limit = (int)n;
			break;
		case 'j': json = 1; break;
		case 'h': fputs(audit_usage, stdout); return 0;
		default: return cli_usage_error(audit_usage, "%s", cli_opt_error());
		}
	}
	if (optind != argc)
		return cli_usage_error(audit_usage, "unexpected argument");
	if ((ec = cli_open(cli, 0, &v)) != 0)
		return ec;
	if (json)
		list = json_array();
	else
		printf("%6s %-24s %-18s %-20s %-16s %-16s %s\n", "ID", "TIME",
		    "ACTOR", "KIND", "ORG", "CREDENTIAL", "DETAIL");
	rc = vault_event_list(v, &f, event_row, list);
	vault_close(v);
	if (rc != OV_OK) {
		json_decref(list);
		return cli_fail(rc);
	}
	return json ? cli_print_json(list) : 0;
}

int
cmd_audit(struct cli *cli, int argc, char **argv)
{
	static const struct cmd sub[] = {
		{ "events", audit_events, "list audit events" },
		{ "drift", cmd_audit_drift, "scope drift report" },
		{ "revocations", cmd_audit_revocations, "revocation ledger" },
		{ NULL, NULL, NULL },
	};

	return cli_dispatch(cli, sub, argc - 1, argv + 1, audit_usage);
}

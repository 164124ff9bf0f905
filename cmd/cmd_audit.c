/* cmd_audit.c — `orgvault audit events|verify|export`. */
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
"       orgvault audit verify [--export FILE|-] [--json]\n"
"       orgvault audit export [--since TIME] [--until TIME]\n"
"\n"
"Lists audit events, newest first (default limit 100, at most 10000).\n"
"Every change is an event: id, time, actor (cli:<user>, api key name or\n"
"scheduler), org, credential, kind (org.created, credential.updated, ...)\n"
"and a detail object.  Events never hold secret material.\n"
"\n"
"Events are hash-chained: each carries a keyed BLAKE2b-256 over the\n"
"previous event's hash and its own canonical content, and the newest\n"
"hash is recorded apart.  `audit verify` walks the chain and names the\n"
"first broken link (a deleted, edited, inserted or reordered event);\n"
"exit 0 when whole, 4 when broken.  `audit verify --export FILE` checks\n"
"an export instead, without the database's events (it needs the vault's\n"
"key).  `orgvault check` verifies the chain too.\n"
"\n"
"`audit export` writes the events with time in [--since, --until)\n"
"(RFC 3339) as JSON lines for a SIEM, oldest first, each with every\n"
"hashed field, its hash and the previous event's hash.\n";

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

static int
print_line(json_t *o, void *arg)
{
	(void)arg;
	if (json_dumpf(o, stdout, JSON_COMPACT | JSON_PRESERVE_ORDER) != 0 ||
	    fputc('\n', stdout) == EOF)
		return -1;
	return 0;
}

static int
time_opt(const char *s, int64_t *ms)
{
	int64_t secs;

	if (timefmt_parse_rfc3339(s, &secs) != 0)
		return -1;
	*ms = secs * 1000;
	return 0;
}

static int
audit_export(struct cli *cli, int argc, char **argv)
{
	static const struct option opts[] = {
		{ "since",	required_argument, NULL, 's' },
		{ "until",	required_argument, NULL, 'u' },
		{ "help",	no_argument,	   NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	int64_t since = 0, until = 0;
	struct vault *v;
	int ch, ec;
	enum ov_rc rc;

	while ((ch = cli_getopt(argc, argv, "h", opts)) != -1) {
		switch (ch) {
		case 's':
		case 'u':
			if (time_opt(optarg, ch == 's' ? &since : &until))
				return cli_usage_error(audit_usage, "--%s needs "
				    "an RFC 3339 time such as "
				    "2026-11-21T00:00:00Z", ch == 's' ?
				    "since" : "until");
			break;
		case 'h': fputs(audit_usage, stdout); return 0;
		default: return cli_usage_error(audit_usage, "%s", cli_opt_error());
		}
	}
	if (optind != argc)
		return cli_usage_error(audit_usage, "unexpected argument");
	if ((ec = cli_open(cli, 0, &v)) != 0)
		return ec;
	rc = vault_audit_export(v, since, until, print_line, NULL);
	vault_close(v);
	if (rc == OV_OK && fflush(stdout) != 0)
		rc = ov_seterr(OV_EIO, "cannot write the export");
	return rc == OV_OK ? 0 : cli_fail(rc);
}

/* Verifies an export file line by line. */
static enum ov_rc
verify_export(struct vault *v, FILE *in, struct vault_audit_report *r)
{
	char prev[65] = "", hash[65], line[OV_EVENT_DETAIL_MAX * 2 + 4096];
	json_error_t jerr;
	enum ov_rc rc;

	memset(r, 0, sizeof(*r));
	while (fgets(line, sizeof(line), in)) {
		json_t *e = json_loads(line, JSON_REJECT_DUPLICATES, &jerr);

		r->checked++;
		rc = vault_audit_verify_line(v, e, prev, hash);
		if (rc == OV_EINTEGRITY) {
			json_t *id = json_object_get(e, "id");

			r->broken_id = json_is_integer(id) ?
			    json_integer_value(id) : -r->checked;
			snprintf(r->problem, sizeof(r->problem), "line %lld: "
			    "%s", (long long)r->checked, ov_errmsg());
			json_decref(e);
			return OV_OK;
		}
		json_decref(e);
		if (rc != OV_OK)
			return rc;
		memcpy(prev, hash, sizeof(prev));
	}
	return ferror(in) ? ov_seterr(OV_EIO, "cannot read the export") :
	    OV_OK;
}

static int
audit_verify(struct cli *cli, int argc, char **argv)
{
	static const struct option opts[] = {
		{ "export",	required_argument, NULL, 'e' },
		{ "json",	no_argument,	   NULL, 'j' },
		{ "help",	no_argument,	   NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	struct vault_audit_report r;
	const char *export = NULL;
	struct vault *v;
	FILE *in = NULL;
	int ch, ec, json = 0;
	enum ov_rc rc;

	while ((ch = cli_getopt(argc, argv, "h", opts)) != -1) {
		switch (ch) {
		case 'e': export = optarg; break;
		case 'j': json = 1; break;
		case 'h': fputs(audit_usage, stdout); return 0;
		default: return cli_usage_error(audit_usage, "%s", cli_opt_error());
		}
	}
	if (optind != argc)
		return cli_usage_error(audit_usage, "unexpected argument");
	if (export && (in = strcmp(export, "-") == 0 ? stdin :
	    fopen(export, "re")) == NULL)
		return cli_fail(ov_seterr(OV_ENOTFOUND, "cannot open %s",
		    export));
	if ((ec = cli_open(cli, 0, &v)) != 0)
		goto out;
	rc = in ? verify_export(v, in, &r) : vault_audit_verify(v, &r);
	vault_close(v);
	if (rc != OV_OK) {
		ec = cli_fail(rc);
		goto out;
	}
	if (json)
		cli_print_json(json_pack("{s:b, s:I, s:o, s:s}", "whole",
		    r.broken_id == 0, "checked", (json_int_t)r.checked,
		    "first_broken_id", r.broken_id ? json_integer(r.broken_id) :
		    json_null(), "problem", r.problem));
	else if (r.broken_id == 0)
		printf("audit chain whole: %lld event(s) verified\n",
		    (long long)r.checked);
	else
		printf("audit chain BROKEN at event %lld: %s\n",
		    (long long)r.broken_id, r.problem);
	ec = r.broken_id == 0 ? 0 : ov_rc_exit(OV_EINTEGRITY);
out:
	if (in && in != stdin)
		fclose(in);
	return ec;
}

int
cmd_audit(struct cli *cli, int argc, char **argv)
{
	static const struct cmd sub[] = {
		{ "events", audit_events, "list audit events" },
		{ "verify", audit_verify, "verify the hash chain" },
		{ "export", audit_export, "JSON lines for a SIEM" },
		{ "drift", cmd_audit_drift, "scope drift report" },
		{ "revocations", cmd_audit_revocations, "revocation ledger" },
		{ NULL, NULL, NULL },
	};

	return cli_dispatch(cli, sub, argc - 1, argv + 1, audit_usage);
}

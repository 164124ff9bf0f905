/*
 * cmd_regen.c — `orgvault secret regenerate` and `secret rotate-all`:
 * Genesys Cloud client secrets made by the provider and carried through
 * stage -> test -> promote -> refresh, for one credential or many orgs.
 */
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cmd/cli.h"
#include "rotation/rotation.h"

#define BULK_MAX_ORGS	4096

static const char regen_usage[] =
"usage: orgvault secret regenerate ORG NAME --admin-cred ADMIN [--json]\n"
"\n"
"Genesys Cloud only.  Has the provider make a new client secret for\n"
"credential NAME of org ORG, and switches to it, in one command:\n"
"\n"
"  1. an access token of credential ADMIN of the same org (its stored\n"
"     token, or a refresh); its OAuth client needs the permission\n"
"     oauth:client:edit\n"
"  2. the lease of NAME, so that no refresh runs meanwhile\n"
"  3. POST https://api.<domain>/api/v2/oauth/clients/<client id>/secret\n"
"     (the API host follows NAME's token URL: login.<domain> becomes\n"
"     api.<domain>; an overridden token URL keeps its host)\n"
"  4. the new secret stored as pending, with a secret.regenerated event,\n"
"     in one transaction\n"
"  5. a token requested with it, up to 3 tries a second or two apart\n"
"     (client_credentials only: a refresh_token grant goes on to 6)\n"
"  6. promoted to current, and the credential refreshed with it\n"
"\n"
"The old secret stops working at step 3 (a Genesys client has one\n"
"secret at a time).  If a later step fails, the new secret stays\n"
"pending, and a running serve switches to it at the first\n"
"invalid_client; the message says what to do.  If the provider got the\n"
"request but no answer came, nobody knows the new secret: run\n"
"regenerate again.\n"
"\n"
"  --admin-cred ADMIN   the admin credential (required; not NAME itself)\n"
"  --json               the result: step reached, outcome, http_status,\n"
"                       regenerated/staged/tested/promoted, duration_ms\n"
"\n"
"Every step is an audit event (secret.regenerated or\n"
"secret.regenerate_failed, secret.staged, secret.promoted, refresh.*).\n"
"No secret is ever printed.  Exit codes: 0 done; 1 usage or not a\n"
"Genesys credential; 2 unknown org or credential; 3 NAME is being\n"
"refreshed right now; 5 a step failed (see the message).\n";

static const char bulk_usage[] =
"usage: orgvault secret rotate-all --provider genesys --admin-cred ADMIN\n"
"           (--plan | --apply) [--region R] [--org SLUG]... [--credential N]\n"
"           [--concurrency N] [--stop-after N] [--json]\n"
"\n"
"Runs `secret regenerate` over every Genesys credential the filters\n"
"select, in every org that has the admin credential ADMIN (ADMIN itself\n"
"is never rotated; an org without it is reported as skipped).\n"
"\n"
"  --plan            print what would be rotated; changes nothing\n"
"  --apply           rotate\n"
"  --provider P      genesys (the only provider with a secret API)\n"
"  --region R        only credentials of that region (any spelling)\n"
"  --org SLUG        only these orgs (repeat, or SLUG,SLUG)\n"
"  --credential N    only credentials named N\n"
"  --concurrency N   regenerations at once, 1 to 64 (4)\n"
"  --stop-after N    stop starting new ones when the last N failures in\n"
"                    a row failed the same way (same step and error),\n"
"                    e.g. a missing permission or an unreachable\n"
"                    provider (3)\n"
"  --json            the report as a JSON object: results (one per\n"
"                    credential: org, credential, state, step, outcome,\n"
"                    http_status, error, message, duration_ms), counts,\n"
"                    stopped\n"
"\n"
"States: planned, skipped, ok, failed, not_started (after a stop).\n"
"Exit codes: 0 every selected credential rotated (or --plan); 1 usage;\n"
"2 an unknown org; 5 any failed or not started.\n";

static json_t *
regen_json(const char *org, const char *name, const char *state,
    enum ov_rc rc, const char *message, const struct rot_regen *r)
{
	json_t *j = json_pack("{s:s, s:s, s:s}", "org", org, "credential",
	    name, "state", state);

	if (r) {
		json_object_set_new(j, "step", json_string(
		    rot_regen_step_str(r->step)));
		json_object_set_new(j, "outcome", json_string(
		    r->step == REGEN_DONE ? "ok" : rc == OV_OK ||
		    r->error[0] == '\0' ? ov_rc_str(rc) :
		    oauth_outcome_str(r->outcome)));
		json_object_set_new(j, "http_status",
		    json_integer(r->http_status));
		json_object_set_new(j, "error", json_string(r->error));
		json_object_set_new(j, "regenerated",
		    json_boolean(r->regenerated));
		json_object_set_new(j, "staged", json_boolean(r->staged));
		json_object_set_new(j, "tested", json_boolean(r->tested));
		json_object_set_new(j, "promoted", json_boolean(r->promoted));
		json_object_set_new(j, "duration_ms",
		    json_integer(r->duration_ms));
	}
	json_object_set_new(j, "message", json_string(message ? message : ""));
	return j;
}

static void
config(struct rot_config *cfg)
{
	rot_config_defaults(cfg);
	rot_owner_init(cfg);
}

int
cmd_secret_regenerate(struct cli *cli, int argc, char **argv)
{
	static const struct option opts[] = {
		{ "admin-cred",	required_argument, NULL, 'a' },
		{ "json",	no_argument,	   NULL, 'j' },
		{ "help",	no_argument,	   NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	const char *admin = NULL;
	struct rot_config cfg;
	struct rot_regen r;
	struct vault *v;
	enum ov_rc rc;
	int json = 0, ch, ec;

	while ((ch = cli_getopt(argc, argv, "h", opts)) != -1) {
		switch (ch) {
		case 'a': admin = optarg; break;
		case 'j': json = 1; break;
		case 'h': fputs(regen_usage, stdout); return 0;
		default: return cli_usage_error(regen_usage, "%s",
		    cli_opt_error());
		}
	}
	if (argc - optind != 2)
		return cli_usage_error(regen_usage, "secret regenerate needs "
		    "ORG and NAME");
	if (admin == NULL)
		return cli_usage_error(regen_usage, "secret regenerate needs "
		    "--admin-cred ADMIN");
	if ((ec = cli_open(cli, 0, &v)) != 0)
		return ec;
	config(&cfg);
	rc = rot_regenerate(v, &cfg, argv[optind], argv[optind + 1], admin,
	    &r);
	vault_close(v);
	if (json)
		cli_print_json(regen_json(argv[optind], argv[optind + 1],
		    rc == OV_OK ? "ok" : "failed", rc, rc == OV_OK ? NULL :
		    ov_errmsg(), &r));
	if (rc != OV_OK)
		return cli_fail(rc);
	if (!json)
		printf("secret regenerate %s/%s: done — new secret made%s, "
		    "promoted, and refreshed with (%.1f s)\n", argv[optind],
		    argv[optind + 1], r.tested ? ", tested" : "",
		    (double)r.duration_ms / 1000.0);
	return 0;
}

struct bulk_args {
	struct rot_bulk_filter	 f;
	const char		*orgs[BULK_MAX_ORGS + 1];
	char			*orgbuf[BULK_MAX_ORGS];
	size_t			 norgs, nbuf;
	int			 plan, apply, json, concurrency, stop_after;
};

/* --org SLUG or SLUG,SLUG (strtok on a copy kept for the run). */
static int
bulk_add_orgs(struct bulk_args *a, const char *arg)
{
	char *copy, *save = NULL;

	if (a->nbuf == BULK_MAX_ORGS || (copy = strdup(arg)) == NULL)
		return -1;
	a->orgbuf[a->nbuf++] = copy;
	for (char *s = strtok_r(copy, ",", &save); s;
	    s = strtok_r(NULL, ",", &save)) {
		if (a->norgs == BULK_MAX_ORGS)
			return -1;
		a->orgs[a->norgs++] = s;
	}
	a->f.orgs = a->orgs;
	return 0;
}

static int
bulk_number(const char *arg, int lo, int hi, int *out)
{
	char *end;
	long n = strtol(arg, &end, 10);

	if (*arg == '\0' || *end || n < lo || n > hi)
		return -1;
	*out = (int)n;
	return 0;
}

static int
bulk_parse(int argc, char **argv, struct bulk_args *a)
{
	static const struct option opts[] = {
		{ "provider",	 required_argument, NULL, 'p' },
		{ "region",	 required_argument, NULL, 'r' },
		{ "org",	 required_argument, NULL, 'o' },
		{ "credential",	 required_argument, NULL, 'c' },
		{ "admin-cred",	 required_argument, NULL, 'a' },
		{ "concurrency", required_argument, NULL, 'n' },
		{ "stop-after",	 required_argument, NULL, 's' },
		{ "plan",	 no_argument,	    NULL, 'P' },
		{ "apply",	 no_argument,	    NULL, 'A' },
		{ "json",	 no_argument,	    NULL, 'j' },
		{ "help",	 no_argument,	    NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	int ch;

	a->concurrency = 4;
	a->stop_after = 3;
	while ((ch = cli_getopt(argc, argv, "h", opts)) != -1) {
		switch (ch) {
		case 'p': a->f.provider = optarg; break;
		case 'r': a->f.region = optarg; break;
		case 'c': a->f.name = optarg; break;
		case 'a': a->f.admin_name = optarg; break;
		case 'P': a->plan = 1; break;
		case 'A': a->apply = 1; break;
		case 'j': a->json = 1; break;
		case 'o':
			if (bulk_add_orgs(a, optarg) != 0)
				return cli_usage_error(bulk_usage, "at most %d "
				    "orgs", BULK_MAX_ORGS);
			break;
		case 'n':
			if (bulk_number(optarg, 1, 64, &a->concurrency))
				return cli_usage_error(bulk_usage,
				    "--concurrency must be 1 to 64");
			break;
		case 's':
			if (bulk_number(optarg, 1, 1000, &a->stop_after))
				return cli_usage_error(bulk_usage,
				    "--stop-after must be 1 to 1000");
			break;
		case 'h': fputs(bulk_usage, stdout); return -1;
		default: return cli_usage_error(bulk_usage, "%s",
		    cli_opt_error());
		}
	}
	a->orgs[a->norgs] = NULL;
	if (optind != argc)
		return cli_usage_error(bulk_usage, "unexpected argument %s",
		    argv[optind]);
	if (a->f.provider == NULL || a->f.admin_name == NULL)
		return cli_usage_error(bulk_usage, "rotate-all needs --provider "
		    "and --admin-cred");
	if (a->plan == a->apply)
		return cli_usage_error(bulk_usage, "say --plan or --apply");
	return 0;
}

static int
bulk_report(const struct bulk_args *a, const struct rot_bulk_item *it,
    size_t n, const char *stopped)
{
	size_t count[BULK_NOT_STARTED + 1] = { 0 };
	json_t *list = json_array();

	for (size_t i = 0; i < n; i++) {
		const char *state = rot_bulk_state_str(it[i].state);
		int ran = it[i].state == BULK_OK || it[i].state == BULK_FAILED;

		count[it[i].state]++;
		if (a->json)
			json_array_append_new(list, regen_json(it[i].org,
			    it[i].name, state, it[i].rc, it[i].message,
			    ran ? &it[i].res : NULL));
		else
			printf("%-24s %-24s %-11s %s%s%s\n", it[i].org,
			    it[i].name, state, ran ? rot_regen_step_str(
			    it[i].res.step) : "", ran && it[i].message[0] ?
			    ": " : "", it[i].message);
	}
	if (a->json) {
		cli_print_json(json_pack("{s:s, s:o, s:{s:I, s:I, s:I, s:I, "
		    "s:I}, s:s?}", "mode", a->plan ? "plan" : "apply",
		    "results", list, "counts",
		    "planned", (json_int_t)count[BULK_PLANNED],
		    "skipped", (json_int_t)count[BULK_SKIPPED],
		    "ok", (json_int_t)count[BULK_OK],
		    "failed", (json_int_t)count[BULK_FAILED],
		    "not_started", (json_int_t)count[BULK_NOT_STARTED],
		    "stopped", stopped[0] ? stopped : NULL));
	} else {
		json_decref(list);
		if (a->plan)
			printf("rotate-all plan: %zu to rotate, %zu skipped\n",
			    count[BULK_PLANNED], count[BULK_SKIPPED]);
		else
			printf("rotate-all: %zu ok, %zu failed, %zu skipped, "
			    "%zu not started%s%s\n", count[BULK_OK],
			    count[BULK_FAILED], count[BULK_SKIPPED],
			    count[BULK_NOT_STARTED], stopped[0] ?
			    "; stopped: " : "", stopped);
	}
	return count[BULK_FAILED] || count[BULK_NOT_STARTED] ? 5 : 0;
}

int
cmd_secret_rotate_all(struct cli *cli, int argc, char **argv)
{
	struct bulk_args *a = calloc(1, sizeof(*a));
	struct rot_bulk_item *items = NULL;
	struct rot_config cfg;
	char stopped[256] = "";
	struct vault *v = NULL;
	size_t n = 0;
	enum ov_rc rc;
	int ec;

	if (a == NULL)
		return cli_fail(ov_seterr(OV_ENOMEM, "out of memory"));
	if ((ec = bulk_parse(argc, argv, a)) != 0) {
		ec = ec < 0 ? 0 : ec;
		goto out;
	}
	if ((ec = cli_open(cli, 0, &v)) != 0)
		goto out;
	config(&cfg);
	rc = rot_bulk_plan(v, &a->f, &items, &n);
	if (rc == OV_OK && a->apply)
		rc = rot_bulk_run(v, &cfg, a->f.admin_name, a->concurrency,
		    a->stop_after, items, n, stopped, sizeof(stopped));
	ec = rc == OV_OK ? bulk_report(a, items, n, stopped) : cli_fail(rc);
out:
	vault_close(v);
	free(items);
	for (size_t i = 0; i < a->nbuf; i++)
		free(a->orgbuf[i]);
	free(a);
	return ec;
}

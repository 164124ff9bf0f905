/*
 * cmd_secret.c — `orgvault secret stage|test|promote|rollback|discard`:
 * client-secret rotation from the command line.  Secrets come only from
 * a file or stdin; nothing here ever prints one.
 */
#include <getopt.h>
#include <stdio.h>
#include <string.h>

#include "cmd/cli.h"
#include "rotation/rotation.h"

static const char secret_usage[] =
"usage: orgvault secret stage ORG NAME --secret-file PATH|- [--json]\n"
"       orgvault secret test ORG NAME [--json]\n"
"       orgvault secret promote ORG NAME [--json]\n"
"       orgvault secret rollback ORG NAME [--json]\n"
"       orgvault secret discard ORG NAME [--json]\n"
"       orgvault secret regenerate ORG NAME --admin-cred ADMIN [--json]\n"
"       orgvault secret rotate-all --provider genesys --admin-cred ADMIN\n"
"           (--plan | --apply) [options]  (see secret rotate-all --help)\n"
"\n"
"Rotates the OAuth client secret of credential NAME of org ORG so that\n"
"the vault never switches to a secret the provider does not take.  A\n"
"credential keeps up to three versions of its client secret, each with\n"
"a label:\n"
"\n"
"  current    the secret every refresh uses\n"
"  pending    a new secret, staged but not used yet\n"
"  previous   the one before current, kept for a rollback\n"
"\n"
"The protocol: stage -> test -> promote, and rollback if needed.\n"
"\n"
"  stage      create the new secret at the provider (keeping the old one\n"
"             valid if it allows two), then store it as pending.  It is\n"
"             read from a file or stdin ('-'), one line of at most 16384\n"
"             bytes, never from the command line; it replaces an older\n"
"             pending secret.\n"
"  test       ask the provider for a token with the pending secret.\n"
"             Nothing is recorded and the current token is untouched; the\n"
"             token obtained is wiped at once.  Prints the outcome: ok,\n"
"             invalid_client (the provider does not take the secret yet),\n"
"             failing, rate_limited or transient.  Exit 0 only when the\n"
"             pending secret works, 5 otherwise.  For client_credentials\n"
"             credentials only: on a refresh_token grant a test would\n"
"             rotate the refresh token at the provider and lose it, so\n"
"             promote and `orgvault cred refresh` instead.\n"
"  promote    pending becomes current, current becomes previous (the\n"
"             older previous is deleted).  Like a new secret given to\n"
"             `cred put`, it makes the credential active and due at once:\n"
"             `serve`, `cred refresh` or `token` get a token with it.\n"
"  rollback   swaps current and previous back: when the provider still\n"
"             wants the old secret (refreshes fail with invalid_client\n"
"             after a promote).  Rescheduled like promote.\n"
"  discard    drops a pending secret that will not be used.\n"
"  regenerate Genesys Cloud: the provider makes a new secret, which is\n"
"             staged, tested, promoted and refreshed with in one command\n"
"             (see secret regenerate --help).\n"
"  rotate-all regenerate across many orgs, a few at a time, with a plan\n"
"             first (see secret rotate-all --help).\n"
"\n"
"  --secret-file PATH|-   the new secret (stage only)\n"
"  --json                 print the credential after the change (test: the\n"
"                         outcome, http_status, error and description)\n"
"\n"
"Every step but test is one transaction with an audit event\n"
"(secret.staged, secret.promoted, secret.rolled_back, secret.discarded)\n"
"that names secret versions, never a secret.  `cred show` says whether a\n"
"secret is pending (has_pending_secret).\n"
"\n"
"Exit codes: 0 ok; 1 usage, or test of a refresh_token credential;\n"
"2 unknown org or credential, nothing pending (test, promote, discard) or\n"
"no previous secret (rollback); 4 a secret does not decrypt; 5 the\n"
"pending secret does not work (test), or an I/O or database error.\n";

struct secret_args {
	const char	*org, *name, *secret_file;
	int		 json;
};

/* ORG NAME [--secret-file PATH] [--json]; -1 after --help. */
static int
secret_parse(int argc, char **argv, struct secret_args *a)
{
	static const struct option opts[] = {
		{ "secret-file",	required_argument, NULL, 's' },
		{ "json",		no_argument,	   NULL, 'j' },
		{ "help",		no_argument,	   NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	int stage = strcmp(argv[0], "stage") == 0, ch;

	memset(a, 0, sizeof(*a));
	while ((ch = cli_getopt(argc, argv, "h", opts)) != -1) {
		switch (ch) {
		case 's': a->secret_file = optarg; break;
		case 'j': a->json = 1; break;
		case 'h': fputs(secret_usage, stdout); return -1;
		default: return cli_usage_error(secret_usage, "%s",
		    cli_opt_error());
		}
	}
	if (argc - optind != 2)
		return cli_usage_error(secret_usage, "secret %s needs ORG and "
		    "NAME", argv[0]);
	a->org = argv[optind];
	a->name = argv[optind + 1];
	if (stage && a->secret_file == NULL)
		return cli_usage_error(secret_usage, "secret stage needs "
		    "--secret-file PATH|-");
	if (!stage && a->secret_file)
		return cli_usage_error(secret_usage, "--secret-file is only for "
		    "secret stage");
	return 0;
}

/* What each label-moving subcommand does, and what it says when done. */
static const struct move {
	const char	*name;
	enum ov_rc	(*fn)(struct vault *, const char *, const char *);
	const char	*done;
} moves[] = {
	{ "stage", NULL,
	    "pending client secret staged; test it, then promote it" },
	{ "promote", vault_secret_promote,
	    "pending client secret promoted to current; due for a refresh now" },
	{ "rollback", vault_secret_rollback,
	    "rolled back to the previous client secret; due for a refresh now" },
	{ "discard", vault_secret_discard,
	    "pending client secret discarded" },
};

/* stage, promote, rollback or discard (argv[0]) of ORG NAME. */
static int
secret_change(struct cli *cli, int argc, char **argv)
{
	const struct move *m = moves;
	struct secret_args a;
	struct vault_cred c;
	struct secret *s = NULL;
	struct vault *v;
	enum ov_rc rc;
	int ec;

	while (strcmp(m->name, argv[0]) != 0)
		m++;	/* cmd_secret's table runs only these */
	if ((ec = secret_parse(argc, argv, &a)) != 0)
		return ec < 0 ? 0 : ec;
	if ((ec = cli_open(cli, 0, &v)) != 0)
		return ec;
	/* An unknown credential is said before any secret is read. */
	if ((rc = vault_cred_get(v, a.org, a.name, &c)) != OV_OK) {
		ec = cli_fail(rc);
		goto out;
	}
	if (a.secret_file && (ec = cli_read_secret(cli, a.secret_file,
	    OV_SECRET_MAX, "client secret", &s)) != 0)
		goto out;
	rc = m->fn ? m->fn(v, a.org, a.name) :
	    vault_secret_stage(v, a.org, a.name, s);
	if (rc == OV_OK)
		rc = vault_cred_get(v, a.org, a.name, &c);
	if (rc != OV_OK)
		ec = cli_fail(rc);
	else if (a.json)
		ec = cli_print_json(render_cred(&c));
	else
		printf("%s/%s: %s\n", a.org, a.name, m->done);
out:
	secret_free(s);
	vault_close(v);
	return ec;
}

static void
test_print(const struct secret_args *a, const struct oauth_result *r)
{
	printf("secret test %s/%s: %s", a->org, a->name,
	    oauth_outcome_str(r->outcome));
	if (r->outcome == OAUTH_OK) {
		printf(" (the pending secret works: promote it)\n");
		return;
	}
	printf(" —");
	if (r->http_status)
		printf(" http %ld", r->http_status);
	printf("%s%s%s%s\n", r->error[0] ? " " : "", r->error,
	    r->description[0] ? ": " : "", r->description);
}

static int
secret_test(struct cli *cli, int argc, char **argv)
{
	struct secret_args a;
	struct rot_config cfg;
	struct oauth_result res;
	struct vault_cred c;
	struct vault *v;
	enum ov_rc rc;
	int ec;

	if ((ec = secret_parse(argc, argv, &a)) != 0)
		return ec < 0 ? 0 : ec;
	if ((ec = cli_open(cli, 0, &v)) != 0)
		return ec;
	memset(&res, 0, sizeof(res));
	rot_config_defaults(&cfg);
	if ((rc = vault_cred_get(v, a.org, a.name, &c)) == OV_OK)
		rc = rot_secret_test(v, &cfg, &c, &res);
	vault_close(v);
	if (rc != OV_OK)
		return cli_fail(rc);
	if (a.json)
		cli_print_json(json_pack("{s:s, s:s, s:s, s:b, s:i, s:s, s:s, "
		    "s:I}", "org", a.org, "credential", a.name, "outcome",
		    oauth_outcome_str(res.outcome), "works",
		    res.outcome == OAUTH_OK, "http_status",
		    (int)res.http_status, "error", res.error, "description",
		    res.description, "duration_ms",
		    (json_int_t)res.duration_ms));
	else
		test_print(&a, &res);
	ec = res.outcome == OAUTH_OK ? 0 : 5;
	oauth_result_cleanup(&res);
	return ec;
}

int
cmd_secret(struct cli *cli, int argc, char **argv)
{
	static const struct cmd sub[] = {
		{ "stage",	secret_change,	"stage a pending client secret" },
		{ "test",	secret_test,	"test the pending secret" },
		{ "promote",	secret_change,	"make the pending secret current" },
		{ "rollback",	secret_change,	"swap current and previous" },
		{ "discard",	secret_change,	"drop the pending secret" },
		{ "regenerate",	cmd_secret_regenerate,
		    "Genesys: a new secret made by the provider, switched to" },
		{ "rotate-all",	cmd_secret_rotate_all,
		    "regenerate across many orgs" },
		{ NULL, NULL, NULL },
	};

	return cli_dispatch(cli, sub, argc - 1, argv + 1, secret_usage);
}

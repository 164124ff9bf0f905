/*
 * cmd_rotate.c — rotation from the command line: `cred refresh`,
 * `token`, `audit drift`, `audit revocations`.
 */
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "cmd/cli.h"
#include "rotation/rotation.h"
#include "util/timefmt.h"

#define TOKEN_WAIT_MS	2000	/* for another process's refresh */

static const char refresh_usage[] =
"usage: orgvault cred refresh ORG NAME [--json]\n"
"\n"
"Refreshes one credential now, whatever its deadline, respecting the\n"
"lease of a running `serve` (exit 3 if it is refreshing it right now).\n"
"The attempt is the scheduler's: when the current client secret is\n"
"refused and one is staged (secret stage), the pending one is tried at\n"
"once and promoted if it works.  Prints the outcome, and on stderr what\n"
"to do about it:\n"
"  ok\n"
"  revoked                  invalid_grant: re-authorize, put the new refresh\n"
"                           token (cred put --refresh-token-file)\n"
"  invalid_client           the client secret is refused: put the right one\n"
"                           (cred put --secret-file)\n"
"  secret_or_grant_refused  a refresh-token grant refused without saying\n"
"                           why (ServiceNow's 401): either fix may be the\n"
"                           one, a new client secret or a new refresh token\n"
"  failing, rate_limited, transient, outcome_unknown\n"
"A tampered credential (its row or secrets changed outside orgvault) is\n"
"never sent: exit 4.  Exit 0 on ok, 5 otherwise.\n";

static const char token_usage[] =
"usage: orgvault token ORG NAME [--json]\n"
"\n"
"Prints a valid access token of the credential on stdout, refreshing it\n"
"first when it is missing, expired or inside the safety margin.  With\n"
"--json: access_token, token_type, expires_at, expires_in, scope.  The\n"
"token is a secret: do not log it.  Exit 5 when no token can be had.\n";

/* ORG NAME [--json] for both commands. */
static int
two_args(int argc, char **argv, const char *usage, const char **org,
    const char **name, int *json)
{
	int npos = 0;

	*json = 0;
	if (cli_wants_help(argc, argv, usage))
		return -1;
	for (int i = 1; i < argc; i++) {
		if (strcmp(argv[i], "--json") == 0)
			*json = 1;
		else if (argv[i][0] == '-')
			return cli_usage_error(usage, "unknown option %s",
			    argv[i]);
		else if (npos == 0 && ++npos)
			*org = argv[i];
		else if (npos == 1 && ++npos)
			*name = argv[i];
		else
			return cli_usage_error(usage, "too many arguments");
	}
	if (npos != 2)
		return cli_usage_error(usage, "ORG and NAME are needed");
	return 0;
}

static enum ov_rc
refresh(struct vault *v, const struct vault_cred *c, enum oauth_outcome *o,
    struct vault_cred *after)
{
	struct rot_config cfg;

	rot_config_defaults(&cfg);
	rot_owner_init(&cfg);
	return rot_refresh_one(v, &cfg, c, o, after);
}

/* What an operator does about a refusal (NULL: nothing to say). */
static const char *
outcome_fix(enum oauth_outcome o)
{
	switch (o) {
	case OAUTH_REVOKED:
		return "the provider refused the refresh token (invalid_grant): "
		    "re-authorize and put the new one (cred put "
		    "--refresh-token-file)";
	case OAUTH_INVALID_CLIENT:
		return "the provider refused the client secret: put the right "
		    "one (cred put --secret-file)";
	case OAUTH_SECRET_OR_GRANT:
		return "the provider refused the client secret or the refresh "
		    "token and does not say which: put a new client secret "
		    "(cred put --secret-file), or re-authorize for a new "
		    "refresh token (cred put --refresh-token-file)";
	default:
		return NULL;
	}
}

int
cmd_cred_refresh(struct cli *cli, int argc, char **argv)
{
	const char *org = NULL, *name = NULL;
	struct vault_cred c, after;
	enum oauth_outcome outcome;
	struct vault *v;
	enum ov_rc rc;
	int json, ec;

	if ((ec = two_args(argc, argv, refresh_usage, &org, &name, &json)))
		return ec < 0 ? 0 : ec;
	if ((ec = cli_open(cli, 0, &v)) != 0)
		return ec;
	if ((rc = vault_cred_get(v, org, name, &c)) == OV_OK)
		rc = refresh(v, &c, &outcome, &after);
	vault_close(v);
	if (rc != OV_OK)
		return cli_fail(rc);
	if (json) {
		json_t *j = render_cred(&after);

		json_object_set_new(j, "outcome",
		    json_string(oauth_outcome_str(outcome)));
		cli_print_json(j);
	} else
		printf("refresh %s/%s: %s%s%s\n", org, name,
		    oauth_outcome_str(outcome), after.last_error[0] ? " — " :
		    "", after.last_error);
	if (outcome_fix(outcome))
		fprintf(stderr, "orgvault: %s/%s: %s\n", org, name,
		    outcome_fix(outcome));
	return outcome == OAUTH_OK ? 0 : 5;
}

/*
 * Another process holds the lease and is refreshing: wait briefly for
 * its new token, else serve the current one while it is still valid.
 * Never a second refresh (DESIGN.md "Exactly one refresher").
 */
static enum ov_rc
wait_for_refresher(struct vault *v, const struct vault_cred *before,
    struct vault_cred *now_c)
{
	struct timespec nap = { 0, 200 * 1000 * 1000 };
	enum ov_rc rc;

	for (int i = 0; i < TOKEN_WAIT_MS / 200; i++) {
		nanosleep(&nap, NULL);
		if ((rc = vault_cred_get(v, before->org, before->name,
		    now_c)) != OV_OK)
			return rc;
		if (now_c->token_generation != before->token_generation)
			return OV_OK;
	}
	if (now_c->expires_at > timefmt_now())
		return OV_OK;		/* still valid: serve it */
	return ov_seterr(OV_EIO, "%s/%s has no valid token and %s is "
	    "refreshing it; try again in a moment", before->org, before->name,
	    before->lease_owner[0] ? before->lease_owner : "another process");
}

int
cmd_token(struct cli *cli, int argc, char **argv)
{
	const char *org = NULL, *name = NULL;
	struct vault_cred c;
	enum oauth_outcome outcome = OAUTH_OK;
	struct secret *at = NULL;
	struct vault *v;
	int64_t now = timefmt_now();
	enum ov_rc rc;
	int json, ec;

	if ((ec = two_args(argc, argv, token_usage, &org, &name, &json)))
		return ec < 0 ? 0 : ec;
	if ((ec = cli_open(cli, 0, &v)) != 0)
		return ec;
	if ((rc = vault_cred_get(v, org, name, &c)) != OV_OK)
		goto out;
	if (strcmp(c.status, "tampered") == 0) {
		rc = ov_seterr(OV_EINTEGRITY, "%s/%s is tampered (%s): no token "
		    "is served or requested for it until an operator puts its "
		    "secrets again (cred put --secret-file)", org, name,
		    c.last_error);
		goto out;
	}
	if (strcmp(c.status, "revoked") == 0) {
		rc = ov_seterr(OV_EIO, "%s/%s is revoked (%s): put a new "
		    "refresh token with `cred put --refresh-token-file`", org,
		    name, c.last_error);
		goto out;
	}
	if (strcmp(c.status, "unknown") == 0 && c.expires_at <= now) {
		rc = ov_seterr(OV_EIO, "%s/%s is held: a refresh got no answer "
		    "and the provider may have rotated its refresh token; run "
		    "`orgvault cred refresh %s %s` to retry, or put a new "
		    "refresh token", org, name, org, name);
		goto out;
	}
	/* A held credential is never refreshed here: only by an operator. */
	if (strcmp(c.status, "unknown") != 0 && c.expires_at -
	    rot_safety_margin(c.expires_at - c.issued_at) <= now) {
		struct vault_cred before = c;

		rc = refresh(v, &before, &outcome, &c);
		if (rc == OV_ECONFLICT)
			rc = wait_for_refresher(v, &before, &c);
		if (rc != OV_OK)
			goto out;
		if (outcome != OAUTH_OK) {
			rc = ov_seterr(OV_EIO, "no valid token for %s/%s: "
			    "refresh %s (%s)", org, name,
			    oauth_outcome_str(outcome), c.last_error);
			goto out;
		}
	}
	if ((rc = vault_token_open(v, c.id, &at)) != OV_OK)
		goto out;
	if (json) {
		char t[32];

		cli_print_json(json_pack("{s:s%, s:s, s:s, s:I, s:s}",
		    "access_token", (const char *)at->buf, at->len,
		    "token_type", "Bearer", "expires_at",
		    render_time(c.expires_at, t, sizeof(t)), "expires_in",
		    (json_int_t)(c.expires_at - timefmt_now()), "scope",
		    c.granted_scope));
	} else {
		fwrite(at->buf, 1, at->len, stdout);
		fputc('\n', stdout);
	}
out:
	secret_free(at);
	vault_close(v);
	return rc == OV_OK ? 0 : cli_fail(rc);
}

static void
print_words(const char *label, json_t *arr)
{
	size_t i;
	json_t *v;

	if (json_array_size(arr) == 0)
		return;
	printf("  %s:", label);
	json_array_foreach(arr, i, v)
		printf(" %s", json_string_value(v));
	printf("\n");
}

/* A report: a JSON array filled from the vault, printed as JSON or text. */
struct report {
	const char	*usage;
	enum ov_rc	(*fill)(struct vault *, json_t *);
	void		(*print)(json_t *);
};

static int
report_run(struct cli *cli, int argc, char **argv, const struct report *r)
{
	struct vault *v;
	json_t *list;
	int json = 0, ec;
	enum ov_rc rc;

	if (cli_wants_help(argc, argv, r->usage))
		return 0;
	for (int i = 1; i < argc; i++) {
		if (strcmp(argv[i], "--json") != 0)
			return cli_usage_error(r->usage, "unexpected argument "
			    "'%s'", argv[i]);
		json = 1;
	}
	if ((ec = cli_open(cli, 0, &v)) != 0)
		return ec;
	list = json_array();
	rc = r->fill(v, list);
	vault_close(v);
	if (rc != OV_OK) {
		json_decref(list);
		return cli_fail(rc);
	}
	if (json)
		return cli_print_json(list);
	r->print(list);
	json_decref(list);
	return 0;
}

static void
drift_print(json_t *list)
{
	size_t i;
	json_t *d;

	json_array_foreach(list, i, d) {
		printf("%s/%s\n", json_string_value(json_object_get(d, "org")),
		    json_string_value(json_object_get(d, "credential")));
		print_words("missing", json_object_get(d, "missing"));
		print_words("extra", json_object_get(d, "extra"));
		print_words("over-broad", json_object_get(d, "overbroad"));
	}
	if (json_array_size(list) == 0)
		printf("no scope drift\n");
}

int
cmd_audit_drift(struct cli *cli, int argc, char **argv)
{
	static const struct report r = {
		"usage: orgvault audit drift [--json]\n\n"
		"Credentials whose granted scope differs from the expected "
		"one:\nmissing and extra scopes, and over-broad grants (*, "
		"admin, *:*,\n*:admin).  A drift stays until a grant matches "
		"again.\n", rot_drift_report, drift_print,
	};

	return report_run(cli, argc, argv, &r);
}

static void
ledger_print(json_t *list)
{
	size_t i;
	json_t *e;

	json_array_foreach(list, i, e) {
		char *detail = json_dumps(json_object_get(e, "detail"),
		    JSON_COMPACT);

		printf("%s %-26s %s/%s http=%lld %s %s\n",
		    json_string_value(json_object_get(e, "time")),
		    json_string_value(json_object_get(e, "kind")),
		    json_string_value(json_object_get(e, "org")),
		    json_string_value(json_object_get(e, "credential")),
		    (long long)json_integer_value(json_object_get(e,
		    "http_status")),
		    json_string_value(json_object_get(e, "oauth_error")),
		    detail ? detail : "");
		free(detail);
	}
	if (json_array_size(list) == 0)
		printf("no revocations\n");
}

int
cmd_audit_revocations(struct cli *cli, int argc, char **argv)
{
	static const struct report r = {
		"usage: orgvault audit revocations [--json]\n\n"
		"The ledger of invalid_grant (revoked) and invalid_client "
		"events,\nnewest first, with their context: last success, "
		"token and refresh\ntoken age, attempts, and an earlier "
		"unknown outcome if one explains it.\n", rot_revocation_ledger,
		ledger_print,
	};

	return report_run(cli, argc, argv, &r);
}

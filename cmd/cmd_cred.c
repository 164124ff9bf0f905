/* cmd_cred.c — `orgvault cred put|list|show|rm`.  Secrets: files only. */
#include <getopt.h>
#include <stdio.h>
#include <string.h>

#include "cmd/cli.h"
#include "rotation/provider.h"
#include "util/timefmt.h"
#include "util/validate.h"

static const char cred_usage[] =
"usage: orgvault cred put ORG NAME --provider genesys|servicenow|oauth2\n"
"           [--region R | --instance NAME | --token-url URL]\n"
"           --client-id ID --secret-file PATH|-\n"
"           [--grant client_credentials|refresh_token]\n"
"           [--refresh-token-file PATH|-] [--auth basic|post]\n"
"           [--scope \"a b c\"] [--refresh-at 0.75|18h] [--json]\n"
"       orgvault cred list [ORG] [--status S[,S...]] [--health H[,H...]]\n"
"           [--provider P] [--region R] [--client-id ID] [--json]\n"
"       orgvault cred show ORG NAME [--json]\n"
"       orgvault cred rm ORG NAME\n"
"       orgvault cred refresh ORG NAME [--json]\n"
"\n"
"`cred put` creates the credential NAME of org ORG, or updates the fields\n"
"given.  Secrets are read only from a file or stdin ('-'), never from the\n"
"command line: --secret-file holds the OAuth client secret,\n"
"--refresh-token-file the refresh token of a code-authorization client\n"
"(--grant refresh_token).  One line each, at most 16384 bytes.\n"
"\n"
"  --provider     genesys (HTTP Basic auth; --region us_east_1, us-west-2\n"
"                 or usw2.pure.cloud), servicenow (form auth; --instance\n"
"                 acme for https://acme.service-now.com/oauth_token.do),\n"
"                 oauth2 (any RFC 6749 endpoint; --token-url)\n"
"  --token-url    overrides the derived URL; https only, except loopback\n"
"  --scope        the expected scope set, space-separated\n"
"  --refresh-at   refresh at this fraction of the token lifetime (0.75,\n"
"                 the default: 18 h of a 24 h token) or at this age (18h)\n"
"\n"
"A secret is bound to where it is sent: changing --token-url, --region,\n"
"--instance, --client-id, --auth or --grant of a credential needs its\n"
"client secret again (--secret-file; exit 1 without it).  The current\n"
"secret proves the change and the stored refresh token and pending secret\n"
"follow; a new secret replaces them (with --grant refresh_token, give a\n"
"new --refresh-token-file too).  A secret equal to the stored one stores\n"
"nothing.  A refresh token that orgvault rotated away is refused (exit\n"
"3): presenting it again could make the provider revoke the family.\n"
"\n"
"`cred show` and `cred list` never print a secret.  Statuses: active,\n"
"failing, revoked (invalid_grant), invalid_client, secret_or_grant_refused\n"
"(a refresh-token grant refused without saying whether the secret or the\n"
"grant: put either), unknown (a refresh got no answer: held for an\n"
"operator, see `cred refresh`), tampered (its row or secrets were changed\n"
"outside orgvault: nothing is sent until its secrets are put again),\n"
"disabled.  A new secret or refresh token sets the status back to active\n"
"and makes the credential due at once; the same secrets given again do\n"
"that only for a credential that is not active or failing.\n"
"\n"
"Health (column HEALTH, `health` in JSON): ok (a valid token, the last\n"
"attempt succeeded), degraded (a valid token, recent attempts failed),\n"
"needs_action (no valid token, or a status only an operator can end:\n"
"revoked, invalid_client, secret_or_grant_refused, tampered, unknown,\n"
"disabled).  `cred list` filters by --status, --health (both take a\n"
"comma list), --provider, --region (any spelling --region takes, or a\n"
"ServiceNow instance) and --client-id; an unknown value is an error.\n";

struct cred_args {
	struct cred_input	 in;
	const char		*secret_file, *refresh_token_file, *status;
	const char		*health;
	char			 given[32];	/* option letters seen */
	int			 json;
	const char		*pos[2];
	int			 npos;
};

static int
cred_parse(int argc, char **argv, struct cred_args *a)
{
	static const struct option opts[] = {
		{ "provider",		required_argument, NULL, 'P' },
		{ "region",		required_argument, NULL, 'r' },
		{ "instance",		required_argument, NULL, 'i' },
		{ "token-url",		required_argument, NULL, 'u' },
		{ "client-id",		required_argument, NULL, 'c' },
		{ "secret-file",	required_argument, NULL, 's' },
		{ "refresh-token-file",	required_argument, NULL, 't' },
		{ "grant",		required_argument, NULL, 'g' },
		{ "auth",		required_argument, NULL, 'a' },
		{ "scope",		required_argument, NULL, 'S' },
		{ "refresh-at",		required_argument, NULL, 'R' },
		{ "status",		required_argument, NULL, 'x' },
		{ "health",		required_argument, NULL, 'H' },
		{ "json",		no_argument,	   NULL, 'j' },
		{ "help",		no_argument,	   NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	int ch;

	memset(a, 0, sizeof(*a));
	while ((ch = cli_getopt(argc, argv, "h", opts)) != -1) {
		if (ch > 0 && ch < 128 && strlen(a->given) + 1 <
		    sizeof(a->given) && strchr(a->given, ch) == NULL)
			a->given[strlen(a->given)] = (char)ch;
		switch (ch) {
		case 'P': a->in.provider = optarg; break;
		case 'r': a->in.region = optarg; break;
		case 'i': a->in.instance = optarg; break;
		case 'u': a->in.token_url = optarg; break;
		case 'c': a->in.client_id = optarg; break;
		case 's': a->secret_file = optarg; break;
		case 't': a->refresh_token_file = optarg; break;
		case 'g': a->in.grant = optarg; break;
		case 'a': a->in.auth = optarg; break;
		case 'S': a->in.scope = optarg; break;
		case 'R': a->in.refresh_at = optarg; break;
		case 'x': a->status = optarg; break;
		case 'H': a->health = optarg; break;
		case 'j': a->json = 1; break;
		case 'h': fputs(cred_usage, stdout); return -1;
		default: return cli_usage_error(cred_usage, "%s", cli_opt_error());
		}
	}
	for (int i = optind; i < argc; i++) {
		if (a->npos == 2)
			return cli_usage_error(cred_usage, "too many "
			    "arguments");
		a->pos[a->npos++] = argv[i];
	}
	return 0;
}

static int
cred_put(struct cli *cli, int argc, char **argv)
{
	struct cred_args a;
	struct vault_cred c;
	struct secret *cs = NULL, *rt = NULL;
	struct vault *v = NULL;
	struct vault_put_result res;
	int ec;
	enum ov_rc rc;

	if ((ec = cred_parse(argc, argv, &a)) != 0)
		return ec < 0 ? 0 : ec;
	if (a.npos != 2)
		return cli_usage_error(cred_usage, "cred put needs ORG and "
		    "NAME");
	a.in.org = a.pos[0];
	a.in.name = a.pos[1];
	/* Validate what needs no vault before asking for any secret. */
	if ((rc = validate_slug("org slug", a.in.org)) ||
	    (rc = validate_slug("credential name", a.in.name)))
		return cli_fail(rc);
	if ((ec = cli_open(cli, 0, &v)) != 0)
		return ec;
	if ((rc = vault_org_get(v, a.in.org, &(struct vault_org){ 0 })) ==
	    OV_OK)
		rc = provider_resolve_put(v, &a.in, &c);
	if (rc != OV_OK) {
		ec = cli_fail(rc);
		goto out;
	}
	if (a.secret_file && (ec = cli_read_secret(cli, a.secret_file,
	    OV_SECRET_MAX, "client secret", &cs)) != 0)
		goto out;
	if (a.refresh_token_file && (ec = cli_read_secret(cli,
	    a.refresh_token_file, OV_SECRET_MAX, "refresh token", &rt)) != 0)
		goto out;
	if ((rc = vault_cred_put_ex(v, &c, cs, rt, 0, &res)) == OV_OK)
		rc = vault_cred_get(v, c.org, c.name, &c);
	if (rc != OV_OK) {
		ec = cli_fail(rc);
		goto out;
	}
	if (a.json)
		ec = cli_print_json(render_cred(&c));
	else
		printf("%s credential %s/%s (%s, %s)%s\n", res.created ?
		    "created" : "updated", c.org, c.name, c.provider,
		    c.token_url, !res.created && (cs || rt) &&
		    !res.client_secret_changed && !res.refresh_token_changed ?
		    "; secrets unchanged" : "");
out:
	secret_free(cs);
	secret_free(rt);
	vault_close(v);
	return ec;
}

static int
cred_row(const struct vault_cred *c, void *arg)
{
	json_t *list = arg;

	if (list)
		return json_array_append_new(list, render_cred(c));
	printf("%-20s %-20s %-10s %-16s %-14s %-12s %s\n", c->org, c->name,
	    c->provider, c->region[0] ? c->region : "-", c->status,
	    vault_health_str(vault_cred_health(c, timefmt_now())),
	    c->client_id);
	return 0;
}

static int
cred_list(struct cli *cli, int argc, char **argv)
{
	struct cred_args a;
	struct vault_cred_filter f = { 0 };
	struct vault *v;
	json_t *list;
	enum ov_rc rc;
	int ec;

	if ((ec = cred_parse(argc, argv, &a)) != 0)
		return ec < 0 ? 0 : ec;
	if (a.npos > 1)
		return cli_usage_error(cred_usage, "cred list takes at most "
		    "one ORG");
	if (a.given[strspn(a.given, "xHPrcj")] != '\0')
		return cli_usage_error(cred_usage, "cred list filters by "
		    "--status, --health, --provider, --region and --client-id "
		    "only");
	f.org = a.npos ? a.pos[0] : NULL;
	f.status = a.status;
	f.health = a.health;
	f.provider = a.in.provider;
	f.region = provider_region_filter(a.in.region);
	f.client_id = a.in.client_id;
	if (vault_cred_filter_check(&f) != OV_OK)
		return cli_usage_error(cred_usage, "%s", ov_errmsg());
	if ((ec = cli_open(cli, 0, &v)) != 0)
		return ec;
	if (f.org && (rc = vault_org_get(v, f.org,
	    &(struct vault_org){ 0 })) != OV_OK) {
		vault_close(v);
		return cli_fail(rc);
	}
	list = a.json ? json_array() : NULL;
	if (!a.json)
		printf("%-20s %-20s %-10s %-16s %-14s %-12s %s\n", "ORG",
		    "NAME", "PROVIDER", "REGION", "STATUS", "HEALTH",
		    "CLIENT_ID");
	rc = vault_cred_list(v, &f, cred_row, list);
	vault_close(v);
	if (rc != OV_OK) {
		json_decref(list);
		return cli_fail(rc);
	}
	return a.json ? cli_print_json(list) : 0;
}

static int
cred_show(struct cli *cli, int argc, char **argv)
{
	struct cred_args a;
	struct vault_cred c;
	struct vault *v;
	enum ov_rc rc;
	json_t *j;
	const char *key;
	json_t *val;
	int ec;

	if ((ec = cred_parse(argc, argv, &a)) != 0)
		return ec < 0 ? 0 : ec;
	if (a.npos != 2)
		return cli_usage_error(cred_usage, "cred show needs ORG and "
		    "NAME");
	if ((ec = cli_open(cli, 0, &v)) != 0)
		return ec;
	rc = vault_cred_get(v, a.pos[0], a.pos[1], &c);
	vault_close(v);
	if (rc != OV_OK)
		return cli_fail(rc);
	j = render_cred(&c);
	if (a.json)
		return cli_print_json(j);
	json_object_foreach(j, key, val) {
		if (json_is_string(val))
			printf("%-22s %s\n", key, json_string_value(val));
		else if (json_is_integer(val))
			printf("%-22s %lld\n", key,
			    (long long)json_integer_value(val));
		else if (json_is_null(val))
			printf("%-22s -\n", key);
		else
			printf("%-22s %s\n", key, json_is_true(val) ? "yes" :
			    "no");
	}
	json_decref(j);
	return 0;
}

static int
cred_rm(struct cli *cli, int argc, char **argv)
{
	struct cred_args a;
	struct vault *v;
	enum ov_rc rc;
	int ec;

	if ((ec = cred_parse(argc, argv, &a)) != 0)
		return ec < 0 ? 0 : ec;
	if (a.npos != 2)
		return cli_usage_error(cred_usage, "cred rm needs ORG and "
		    "NAME");
	if ((ec = cli_open(cli, 0, &v)) != 0)
		return ec;
	rc = vault_cred_rm(v, a.pos[0], a.pos[1]);
	vault_close(v);
	if (rc != OV_OK)
		return cli_fail(rc);
	printf("removed credential %s/%s\n", a.pos[0], a.pos[1]);
	return 0;
}

int
cmd_cred(struct cli *cli, int argc, char **argv)
{
	static const struct cmd sub[] = {
		{ "put",  cred_put,  "create or update a credential" },
		{ "list", cred_list, "list credentials" },
		{ "show", cred_show, "show a credential" },
		{ "rm",	  cred_rm,   "remove a credential" },
		{ "refresh", cmd_cred_refresh, "refresh a credential now" },
		{ NULL, NULL, NULL },
	};

	return cli_dispatch(cli, sub, argc - 1, argv + 1, cred_usage);
}

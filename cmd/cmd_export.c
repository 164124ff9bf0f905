/*
 * cmd_export.c — `orgvault export`: every org and credential as the JSON
 * lines `import` reads, with import's field names and never a secret, so
 * that an onboarding file can be kept, diffed and re-imported safely
 * (import of an export changes nothing).
 */
#include <stdio.h>
#include <string.h>

#include "cmd/cli.h"

static const char export_usage[] =
"usage: orgvault export [FILE|-]\n"
"\n"
"Writes one JSON object per line to FILE (created 0600; default or '-':\n"
"standard output): first one line per org, then one per credential, in\n"
"the fields `orgvault import` reads:\n"
"\n"
"  {\"org\":\"acme\", \"org_name\":\"Acme\", \"external_id\":\"...\"}\n"
"  {\"org\":\"acme\", \"name\":\"main\", \"provider\":\"genesys\",\n"
"   \"region\":\"us_east_1\", \"token_url\":\"...\", \"client_id\":\"...\",\n"
"   \"grant\":\"client_credentials\", \"auth\":\"client_secret_basic\",\n"
"   \"scope\":\"...\", \"refresh_at\":\"0.75\"}\n"
"\n"
"No secret is written: importing the file back into the same vault\n"
"changes nothing, and onboarding scripts can add secrets to new lines.\n"
"Exit 0, 2 when FILE cannot be created.\n";

struct export {
	FILE	*out;
	long	 orgs, creds;
};

/* One compact line (JSON_COMPACT never breaks a line). */
static int
put_line(struct export *x, json_t *j)
{
	int bad = j == NULL || json_dumpf(j, x->out, JSON_COMPACT |
	    JSON_PRESERVE_ORDER) != 0 || fputc('\n', x->out) == EOF;

	json_decref(j);
	return bad;
}

static int
org_line(const struct vault_org *o, void *arg)
{
	struct export *x = arg;
	json_t *j = json_pack("{s:s, s:s}", "org", o->slug, "org_name",
	    o->name);

	if (o->external_id[0])
		json_object_set_new(j, "external_id",
		    json_string(o->external_id));
	x->orgs++;
	return put_line(x, j);
}

static int
cred_line(const struct vault_cred *c, void *arg)
{
	struct export *x = arg;
	json_t *r = render_cred(c), *j;

	j = json_pack("{s:s, s:s, s:s}", "org", c->org, "name", c->name,
	    "provider", c->provider);
	/* The region field of the vault holds a ServiceNow instance. */
	if (c->region[0])
		json_object_set_new(j, strcmp(c->provider, "servicenow") == 0 ?
		    "instance" : "region", json_string(c->region));
	json_object_set_new(j, "token_url", json_string(c->token_url));
	json_object_set_new(j, "client_id", json_string(c->client_id));
	json_object_set_new(j, "grant", json_string(c->grant));
	json_object_set_new(j, "auth", json_string(c->auth));
	json_object_set_new(j, "scope", json_string(c->expected_scope));
	json_object_set(j, "refresh_at", json_object_get(r, "refresh_at"));
	json_decref(r);
	x->creds++;
	return put_line(x, j);
}

int
cmd_export(struct cli *cli, int argc, char **argv)
{
	struct vault_cred_filter all = { 0 };
	struct export x = { stdout, 0, 0 };
	const char *path = NULL;
	struct vault *v;
	int ec;
	enum ov_rc rc;

	if (cli_wants_help(argc, argv, export_usage))
		return 0;
	if (argc > 2)
		return cli_usage_error(export_usage, "export takes one FILE "
		    "or '-'");
	if (argc == 2 && argv[1][0] == '-' && argv[1][1] != '\0')
		return cli_usage_error(export_usage, "unknown option %s",
		    argv[1]);
	if (argc == 2 && strcmp(argv[1], "-") != 0)
		path = argv[1];
	if ((ec = cli_open(cli, 0, &v)) != 0)
		return ec;
	if (path && (x.out = fopen(path, "we")) == NULL) {
		vault_close(v);
		return cli_fail(ov_seterr(OV_ENOTFOUND, "cannot create %s",
		    path));
	}
	if ((rc = vault_org_list(v, NULL, org_line, &x)) == OV_OK)
		rc = vault_cred_list(v, &all, cred_line, &x);
	vault_close(v);
	if (rc == OV_OK && (ferror(x.out) || fflush(x.out) != 0))
		rc = ov_seterr(OV_EIO, "cannot write the export");
	if (path && fclose(x.out) != 0 && rc == OV_OK)
		rc = ov_seterr(OV_EIO, "cannot write %s", path);
	if (rc != OV_OK)
		return cli_fail(rc);
	if (path)
		fprintf(stderr, "exported %ld org(s) and %ld credential(s) to "
		    "%s\n", x.orgs, x.creds, path);
	return 0;
}

/* cmd_org.c — `orgvault org add|list|show|update|rm`. */
#include <getopt.h>
#include <stdio.h>
#include <string.h>

#include "cmd/cli.h"
#include "util/validate.h"

static const char org_usage[] =
"usage: orgvault org add SLUG [--name TEXT] [--external-id ID] [--json]\n"
"       orgvault org list [--name TEXT] [--json]\n"
"       orgvault org show SLUG [--json]\n"
"       orgvault org update SLUG [--name TEXT] [--external-id ID] [--json]\n"
"       orgvault org rm SLUG [--force]\n"
"\n"
"An org is a tenant: one customer organisation of an integration partner.\n"
"SLUG is 1-63 lowercase letters, digits and '-' (not at either end).\n"
"--name is a display name (default: the slug); --external-id the\n"
"provider's org id, e.g. a Genesys Cloud organization GUID.\n"
"`org update` changes only what it is given; --external-id '' clears\n"
"the external id.  The slug never changes.  `org list --name TEXT`\n"
"lists the orgs whose display name holds TEXT (any case).\n"
"`org rm` refuses while the org holds credentials unless --force, which\n"
"removes them and their secrets too.  Exit 2: no such org; 3: the slug\n"
"exists, or the org holds credentials.\n";

/* Parses [--json] [--force] [--name X] [--external-id X] and positionals. */
struct org_args {
	int		 json, force;
	const char	*name, *external_id;
	const char	*pos[2];
	int		 npos;
};

static int
org_parse(int argc, char **argv, struct org_args *a)
{
	static const struct option opts[] = {
		{ "json",	 no_argument,	    NULL, 'j' },
		{ "force",	 no_argument,	    NULL, 'f' },
		{ "name",	 required_argument, NULL, 'n' },
		{ "external-id", required_argument, NULL, 'e' },
		{ "help",	 no_argument,	    NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	int ch;

	memset(a, 0, sizeof(*a));
	while ((ch = cli_getopt(argc, argv, "h", opts)) != -1) {
		switch (ch) {
		case 'j': a->json = 1; break;
		case 'f': a->force = 1; break;
		case 'n': a->name = optarg; break;
		case 'e': a->external_id = optarg; break;
		case 'h': fputs(org_usage, stdout); return -1;
		default: return cli_usage_error(org_usage, "%s", cli_opt_error());
		}
	}
	for (int i = optind; i < argc; i++) {
		if (a->npos == 2)
			return cli_usage_error(org_usage, "too many arguments");
		a->pos[a->npos++] = argv[i];
	}
	return 0;
}

static int
org_add(struct cli *cli, int argc, char **argv)
{
	struct org_args a;
	struct vault_org o = { 0 };
	struct vault *v;
	enum ov_rc rc;
	int ec;

	if ((ec = org_parse(argc, argv, &a)) != 0)
		return ec < 0 ? 0 : ec;
	if (a.npos != 1)
		return cli_usage_error(org_usage, "org add needs one SLUG");
	if ((rc = validate_slug("org slug", a.pos[0])) ||
	    (a.name && (rc = validate_text("--name", a.name, OV_NAME_MAX))) ||
	    (a.external_id && (rc = validate_text("--external-id",
	    a.external_id, OV_EXTERNAL_ID_MAX))))
		return cli_fail(rc);
	snprintf(o.slug, sizeof(o.slug), "%s", a.pos[0]);
	snprintf(o.name, sizeof(o.name), "%s", a.name ? a.name : "");
	snprintf(o.external_id, sizeof(o.external_id), "%s",
	    a.external_id ? a.external_id : "");
	if ((ec = cli_open(cli, 0, &v)) != 0)
		return ec;
	if ((rc = vault_org_add(v, &o)) == OV_OK)
		rc = vault_org_get(v, o.slug, &o);
	vault_close(v);
	if (rc != OV_OK)
		return cli_fail(rc);
	if (a.json)
		return cli_print_json(render_org(&o));
	printf("added org %s\n", o.slug);
	return 0;
}

static int
org_row(const struct vault_org *o, void *arg)
{
	json_t *list = arg;
	char t[32];

	if (list)
		return json_array_append_new(list, render_org(o));
	printf("%-24s %-28s %-12s %5lld  %s\n", o->slug, o->name,
	    o->external_id[0] ? o->external_id : "-",
	    (long long)o->credentials, render_time(o->created_at, t,
	    sizeof(t)));
	return 0;
}

static int
org_list(struct cli *cli, int argc, char **argv)
{
	struct org_args a;
	struct vault *v;
	json_t *list;
	enum ov_rc rc;
	int ec;

	if ((ec = org_parse(argc, argv, &a)) != 0)
		return ec < 0 ? 0 : ec;
	if (a.npos != 0)
		return cli_usage_error(org_usage, "org list takes no argument");
	if (a.force || a.external_id)
		return cli_usage_error(org_usage, "org list filters by --name "
		    "only");
	if ((ec = cli_open(cli, 0, &v)) != 0)
		return ec;
	list = a.json ? json_array() : NULL;
	if (!a.json)
		printf("%-24s %-28s %-12s %5s  %s\n", "SLUG", "NAME",
		    "EXTERNAL_ID", "CREDS", "CREATED");
	rc = vault_org_list(v, &(struct vault_org_filter){ a.name, NULL },
	    org_row, list);
	vault_close(v);
	if (rc != OV_OK) {
		json_decref(list);
		return cli_fail(rc);
	}
	return a.json ? cli_print_json(list) : 0;
}

static int
org_show(struct cli *cli, int argc, char **argv)
{
	struct org_args a;
	struct vault_org o;
	struct vault *v;
	enum ov_rc rc;
	char c[32], u[32];
	int ec;

	if ((ec = org_parse(argc, argv, &a)) != 0)
		return ec < 0 ? 0 : ec;
	if (a.npos != 1)
		return cli_usage_error(org_usage, "org show needs one SLUG");
	if ((ec = cli_open(cli, 0, &v)) != 0)
		return ec;
	rc = vault_org_get(v, a.pos[0], &o);
	vault_close(v);
	if (rc != OV_OK)
		return cli_fail(rc);
	if (a.json)
		return cli_print_json(render_org(&o));
	printf("slug:         %s\nname:         %s\nexternal_id:  %s\n"
	    "enabled:      %s\ncredentials:  %lld\ncreated_at:   %s\n"
	    "updated_at:   %s\n", o.slug, o.name, o.external_id,
	    o.enabled ? "yes" : "no", (long long)o.credentials,
	    render_time(o.created_at, c, sizeof(c)),
	    render_time(o.updated_at, u, sizeof(u)));
	return 0;
}

static int
org_update(struct cli *cli, int argc, char **argv)
{
	struct org_args a;
	struct vault_org o;
	struct vault *v;
	enum ov_rc rc;
	int ec;

	if ((ec = org_parse(argc, argv, &a)) != 0)
		return ec < 0 ? 0 : ec;
	if (a.npos != 1)
		return cli_usage_error(org_usage, "org update needs one SLUG");
	if (a.name == NULL && a.external_id == NULL)
		return cli_usage_error(org_usage, "org update needs --name or "
		    "--external-id");
	if ((a.name && (rc = validate_text("--name", a.name, OV_NAME_MAX))) ||
	    (a.external_id && *a.external_id && (rc = validate_text(
	    "--external-id", a.external_id, OV_EXTERNAL_ID_MAX))))
		return cli_fail(rc);
	if ((ec = cli_open(cli, 0, &v)) != 0)
		return ec;
	rc = vault_org_update(v, a.pos[0], a.name, a.external_id, &o);
	vault_close(v);
	if (rc != OV_OK)
		return cli_fail(rc);
	if (a.json)
		return cli_print_json(render_org(&o));
	printf("updated org %s\n", o.slug);
	return 0;
}

static int
org_rm(struct cli *cli, int argc, char **argv)
{
	struct org_args a;
	struct vault *v;
	enum ov_rc rc;
	int ec;

	if ((ec = org_parse(argc, argv, &a)) != 0)
		return ec < 0 ? 0 : ec;
	if (a.npos != 1)
		return cli_usage_error(org_usage, "org rm needs one SLUG");
	if ((ec = cli_open(cli, 0, &v)) != 0)
		return ec;
	rc = vault_org_rm(v, a.pos[0], a.force);
	vault_close(v);
	if (rc != OV_OK)
		return cli_fail(rc);
	printf("removed org %s\n", a.pos[0]);
	return 0;
}

int
cmd_org(struct cli *cli, int argc, char **argv)
{
	static const struct cmd sub[] = {
		{ "add",  org_add,  "add an org" },
		{ "list", org_list, "list orgs" },
		{ "show", org_show, "show an org" },
		{ "update", org_update, "change an org's name or external id" },
		{ "rm",	  org_rm,   "remove an org" },
		{ NULL, NULL, NULL },
	};

	return cli_dispatch(cli, sub, argc - 1, argv + 1, org_usage);
}

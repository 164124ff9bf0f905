/*
 * cmd_apikey.c — `orgvault apikey create|list|revoke`: the API keys of
 * the admin REST API.  `create` is the only place a key is ever shown:
 * alone on stdout, never on stderr, in an event or in a list.
 */
#include <getopt.h>
#include <stdio.h>
#include <string.h>

#include "cmd/cli.h"

static const char apikey_usage[] =
"usage: orgvault apikey create NAME --role reader|operator|admin|token\n"
"                              [--orgs SLUG[,SLUG...]|'*'] [--json]\n"
"       orgvault apikey list [--json]\n"
"       orgvault apikey revoke NAME [--json]\n"
"\n"
"API keys authenticate the callers of the admin REST API.  A key reads\n"
"ov_<key_id>_<secret>: key_id is 16 lowercase hex characters that name\n"
"the key in lists and audit events, secret is 43 base64url characters.\n"
"orgvault keeps only a keyed hash of the key, so it is shown once, by\n"
"`create`, and never again: hand it to its user at once; a lost key is\n"
"revoked and replaced, not recovered.\n"
"\n"
"create  makes a key and prints it, alone, on stdout (a reminder goes to\n"
"        stderr).  NAME is 1-63 lowercase letters, digits and '-'; the\n"
"        name of a revoked key may be reused.\n"
"        --role reader    every read: orgs, credentials, audit, metrics\n"
"               operator  reader + put and remove credentials, refresh\n"
"               admin     operator + orgs and (with --orgs '*') API keys\n"
"               token     only fetch access tokens\n"
"        --orgs the orgs the key may see: '*' (all; the default; quote it\n"
"               for the shell) or org slugs separated by ',', at most\n"
"               1024 bytes.  The orgs need not exist yet.\n"
"        --json one object: the fields `list --json` shows (name, role,\n"
"               orgs, key_id, created_at, ...) plus key.\n"
"list    every key, revoked ones too: NAME ROLE ORGS KEY_ID CREATED\n"
"        LAST_USED REVOKED (--json: an array of objects).  Never a key,\n"
"        a secret or a hash.\n"
"revoke  revokes the live key NAME at once (--json: the revoked key).\n"
"\n"
"Every create and revoke is an audit event (apikey.created,\n"
"apikey.revoked) naming the key by name and key_id.\n"
"Exit 1: usage or invalid input; 2: no such (live) key; 3: a live key\n"
"already has that name (revoke it first).\n";

struct apikey_args {
	int		 json;
	const char	*role, *orgs;
	const char	*name;
	int		 npos;
};

static int
apikey_parse(int argc, char **argv, struct apikey_args *a)
{
	static const struct option opts[] = {
		{ "json",	no_argument,	   NULL, 'j' },
		{ "role",	required_argument, NULL, 'r' },
		{ "orgs",	required_argument, NULL, 'o' },
		{ "help",	no_argument,	   NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	int ch;

	memset(a, 0, sizeof(*a));
	while ((ch = cli_getopt(argc, argv, "h", opts)) != -1) {
		switch (ch) {
		case 'j': a->json = 1; break;
		case 'r': a->role = optarg; break;
		case 'o': a->orgs = optarg; break;
		case 'h': fputs(apikey_usage, stdout); return -1;
		default: return cli_usage_error(apikey_usage, "%s",
		    cli_opt_error());
		}
	}
	for (int i = optind; i < argc; i++) {
		if (a->npos == 1)
			return cli_usage_error(apikey_usage,
			    "too many arguments");
		a->name = argv[i];
		a->npos++;
	}
	return 0;
}

/* The key, once: alone on stdout, or inside the --json object. */
static int
apikey_show_once(const struct apikey_args *a, const struct secret *key,
    const struct vault_apikey *k)
{
	json_t *j;

	if (!a->json) {
		fwrite(key->buf, 1, key->len, stdout);
		fputc('\n', stdout);
	} else {
		j = render_apikey(k);
		if (j == NULL || json_object_set_new(j, "key",
		    json_stringn((const char *)key->buf, key->len)) != 0) {
			json_decref(j);
			fputs("orgvault: out of memory\n", stderr);
			return 5;
		}
		cli_print_json(j);	/* jansson wipes what it frees */
	}
	fflush(stdout);
	fprintf(stderr, "orgvault: API key %s (key_id %s) created; it is "
	    "shown this once: store it now\n", k->name, k->key_id);
	return 0;
}

static int
apikey_create(struct cli *cli, int argc, char **argv)
{
	struct apikey_args a;
	struct vault_apikey k;
	struct secret *key = NULL;
	struct vault *v;
	enum ov_rc rc;
	int ec;

	if ((ec = apikey_parse(argc, argv, &a)) != 0)
		return ec < 0 ? 0 : ec;
	if (a.npos != 1)
		return cli_usage_error(apikey_usage, "apikey create needs one "
		    "NAME");
	if (a.role == NULL)
		return cli_usage_error(apikey_usage, "apikey create needs "
		    "--role reader|operator|admin|token");
	if ((ec = cli_open(cli, 0, &v)) != 0)
		return ec;
	rc = vault_apikey_create(v, a.name, a.role, a.orgs ? a.orgs : "*",
	    &key, &k);
	vault_close(v);
	if (rc != OV_OK)
		return cli_fail(rc);
	ec = apikey_show_once(&a, key, &k);
	secret_free(key);
	return ec;
}

static int
apikey_row(const struct vault_apikey *k, void *arg)
{
	json_t *list = arg;
	char c[32], u[32], r[32];

	if (list)
		return json_array_append_new(list, render_apikey(k));
	printf("%-24s %-8s %-20s %-16s %-20s %-20s %s\n", k->name, k->role,
	    k->orgs, k->key_id, render_time(k->created_at, c, sizeof(c)),
	    k->last_used_at ? render_time(k->last_used_at, u, sizeof(u)) :
	    "-", k->revoked_at ? render_time(k->revoked_at, r, sizeof(r)) :
	    "-");
	return 0;
}

static int
apikey_list(struct cli *cli, int argc, char **argv)
{
	struct apikey_args a;
	struct vault *v;
	json_t *list;
	enum ov_rc rc;
	int ec;

	if ((ec = apikey_parse(argc, argv, &a)) != 0)
		return ec < 0 ? 0 : ec;
	if (a.npos != 0 || a.role || a.orgs)
		return cli_usage_error(apikey_usage, "apikey list takes no "
		    "argument but --json");
	if ((ec = cli_open(cli, 0, &v)) != 0)
		return ec;
	list = a.json ? json_array() : NULL;
	if (!a.json)
		printf("%-24s %-8s %-20s %-16s %-20s %-20s %s\n", "NAME",
		    "ROLE", "ORGS", "KEY_ID", "CREATED", "LAST_USED",
		    "REVOKED");
	rc = vault_apikey_list(v, apikey_row, list);
	vault_close(v);
	if (rc != OV_OK) {
		json_decref(list);
		return cli_fail(rc);
	}
	return a.json ? cli_print_json(list) : 0;
}

static int
apikey_revoke(struct cli *cli, int argc, char **argv)
{
	struct apikey_args a;
	struct vault_apikey k;
	struct vault *v;
	enum ov_rc rc;
	int ec;

	if ((ec = apikey_parse(argc, argv, &a)) != 0)
		return ec < 0 ? 0 : ec;
	if (a.npos != 1 || a.role || a.orgs)
		return cli_usage_error(apikey_usage, "apikey revoke needs one "
		    "NAME and no other option but --json");
	if ((ec = cli_open(cli, 0, &v)) != 0)
		return ec;
	if ((rc = vault_apikey_revoke(v, a.name)) == OV_OK)
		rc = vault_apikey_get(v, a.name, &k);
	vault_close(v);
	if (rc != OV_OK)
		return cli_fail(rc);
	if (a.json)
		return cli_print_json(render_apikey(&k));
	printf("revoked API key %s (key_id %s)\n", k.name, k.key_id);
	return 0;
}

int
cmd_apikey(struct cli *cli, int argc, char **argv)
{
	static const struct cmd sub[] = {
		{ "create", apikey_create, "create an API key" },
		{ "list",   apikey_list,   "list API keys" },
		{ "revoke", apikey_revoke, "revoke an API key" },
		{ NULL, NULL, NULL },
	};

	return cli_dispatch(cli, sub, argc - 1, argv + 1, apikey_usage);
}

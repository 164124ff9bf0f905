/*
 * cmd_apikey.c — `orgvault apikey create|list|revoke`: the API keys of
 * the admin REST API.  `create` is the only place a key is ever shown:
 * alone on stdout, never on stderr, in an event or in a list.
 */
#include <getopt.h>
#include <stdio.h>
#include <string.h>

#include "cmd/cli.h"
#include "util/validate.h"

static const char apikey_usage[] =
"usage: orgvault apikey create NAME --role reader|operator|admin|token\n"
"                              [--orgs SLUG[,SLUG...]|'*']\n"
"                              [--credentials NAME[,NAME...]|'*']\n"
"                              [--expires-in DURATION] [--json]\n"
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
"               for the shell) or slugs of existing orgs separated by\n"
"               ',', at most 1024 bytes.  The key holds the orgs' ids:\n"
"               it never covers a later org that takes a removed org's\n"
"               slug, and it is revoked when the last of its orgs is\n"
"               removed.\n"
"        --credentials  limits the key to these credentials (by name) of\n"
"               its orgs: any other answers 403, and lists, audit events\n"
"               and metrics leave the others out.  '*' (the default): all.\n"
"               Not for admin keys.\n"
"        --expires-in  the key stops working after DURATION: a whole\n"
"               number with s, m, h or d (90d, 12h), at most 3650d; an\n"
"               expired key answers 401 with problem type key-expired.\n"
"               Default: never.\n"
"        --json one object: the fields `list --json` shows (name, role,\n"
"               orgs, credentials, key_id, created_at, expires_at, ...)\n"
"               plus key.\n"
"list    every key, revoked ones too: NAME ROLE ORGS CREDENTIALS KEY_ID\n"
"        CREATED EXPIRES LAST_USED REVOKED (--json: an array of objects,\n"
"        with expires_at and expired).  ORGS shows the orgs that exist\n"
"        ('-' when none is left).  Never a key, a secret or a hash.\n"
"revoke  revokes the live key NAME at once (--json: the revoked key).\n"
"\n"
"Every create and revoke is an audit event (apikey.created,\n"
"apikey.revoked) naming the key by name and key_id.\n"
"Exit 1: usage or invalid input; 2: no such (live) key; 3: a live key\n"
"already has that name (revoke it first).\n";

struct apikey_args {
	int		 json;
	const char	*role, *orgs, *credentials, *expires_in;
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
		{ "credentials", required_argument, NULL, 'c' },
		{ "expires-in",	required_argument, NULL, 'e' },
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
		case 'c': a->credentials = optarg; break;
		case 'e': a->expires_in = optarg; break;
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
	struct vault_apikey_spec spec = { 0 };
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
	if (a.expires_in && validate_duration(a.expires_in, OV_APIKEY_TTL_MAX,
	    &spec.expires_in_s) != OV_OK)
		return cli_usage_error(apikey_usage, "--expires-in: %s",
		    ov_errmsg());
	spec.name = a.name;
	spec.role = a.role;
	spec.orgs = a.orgs;
	spec.credentials = a.credentials;
	if ((ec = cli_open(cli, 0, &v)) != 0)
		return ec;
	rc = vault_apikey_create(v, &spec, &key, &k);
	vault_close(v);
	if (rc != OV_OK)
		return cli_fail(rc);
	ec = apikey_show_once(&a, key, &k);
	secret_free(key);
	return ec;
}

#define APIKEY_ROW "%-24s %-8s %-20s %-20s %-16s %-20s %-20s %-20s %s\n"

static int
apikey_row(const struct vault_apikey *k, void *arg)
{
	json_t *list = arg;
	char c[32], e[32], u[32], r[32];

	if (list)
		return json_array_append_new(list, render_apikey(k));
	printf(APIKEY_ROW, k->name, k->role, k->orgs[0] ? k->orgs : "-",
	    k->credentials, k->key_id, render_time(k->created_at, c,
	    sizeof(c)), k->expires_at ? render_time(k->expires_at, e,
	    sizeof(e)) : "-", k->last_used_at ? render_time(k->last_used_at,
	    u, sizeof(u)) : "-", k->revoked_at ? render_time(k->revoked_at, r,
	    sizeof(r)) : "-");
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
	if (a.npos != 0 || a.role || a.orgs || a.credentials || a.expires_in)
		return cli_usage_error(apikey_usage, "apikey list takes no "
		    "argument but --json");
	if ((ec = cli_open(cli, 0, &v)) != 0)
		return ec;
	list = a.json ? json_array() : NULL;
	if (!a.json)
		printf(APIKEY_ROW, "NAME", "ROLE", "ORGS", "CREDENTIALS",
		    "KEY_ID", "CREATED", "EXPIRES", "LAST_USED", "REVOKED");
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
	if (a.npos != 1 || a.role || a.orgs || a.credentials || a.expires_in)
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

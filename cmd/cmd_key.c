/*
 * cmd_key.c — `orgvault key rotate|rewrap|status`: the vault's own data
 * keys.
 */
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cmd/cli.h"

static const char key_usage[] =
"usage: orgvault key rotate [--json]\n"
"       orgvault key rewrap [--batch N] [--json]\n"
"       orgvault key status [--json]\n"
"\n"
"Every secret column is sealed with a versioned data key, itself wrapped\n"
"by the master key.\n"
"\n"
"  rotate   adds data key version N+1; every write from now on uses it\n"
"           (a running serve picks it up at its next write).  Rows sealed\n"
"           with older versions stay readable until they are rewrapped.\n"
"  rewrap   re-encrypts every row sealed with an older version, --batch\n"
"           rows (100) per transaction, then marks versions no row uses\n"
"           as retired.  serve does the same in the background; a\n"
"           kill -9 in the middle leaves every row readable, and running\n"
"           rewrap again resumes.\n"
"  status   data-key versions with their state and the rows sealed with\n"
"           each (secret versions, tokens).\n"
"\n"
"Each step is an audit event (key.rotated, key.retired).  Exit codes: 0\n"
"ok, 1 usage, 4 a row that does not open (see orgvault check), 5 other.\n";

static int
key_opts(int argc, char **argv, int *json, long *batch)
{
	static const struct option opts[] = {
		{ "json",	no_argument,	   NULL, 'j' },
		{ "batch",	required_argument, NULL, 'b' },
		{ "help",	no_argument,	   NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	char *end;
	int ch;

	*json = 0;
	while ((ch = cli_getopt(argc, argv, "h", opts)) != -1) {
		switch (ch) {
		case 'j': *json = 1; break;
		case 'b':
			*batch = strtol(optarg, &end, 10);
			if (*end || *batch < 1 ||
			    *batch > 100000)
				return cli_usage_error(key_usage, "--batch "
				    "must be 1 to 100000");
			break;
		case 'h': fputs(key_usage, stdout); return -1;
		default: return cli_usage_error(key_usage, "%s", cli_opt_error());
		}
	}
	if (optind != argc)
		return cli_usage_error(key_usage, "unexpected argument");
	return 0;
}

static int
key_rotate(struct cli *cli, int argc, char **argv)
{
	struct vault *v;
	uint32_t version;
	long batch = 0;
	int json, ec;
	enum ov_rc rc;

	if ((ec = key_opts(argc, argv, &json, &batch)) != 0)
		return ec < 0 ? 0 : ec;
	if ((ec = cli_open(cli, 0, &v)) != 0)
		return ec;
	rc = vault_key_rotate(v, &version);
	vault_close(v);
	if (rc != OV_OK)
		return cli_fail(rc);
	if (json)
		return cli_print_json(json_pack("{s:i}", "version",
		    (int)version));
	printf("data key version %u is now used for every write; rewrap "
	    "re-encrypts older rows (serve does it in the background, or run: "
	    "orgvault key rewrap)\n", version);
	return 0;
}

static int
key_rewrap(struct cli *cli, int argc, char **argv)
{
	struct vault *v;
	int64_t total = 0, n;
	long batch = 100;
	int json, ec, done = 0;
	enum ov_rc rc = OV_OK;

	if ((ec = key_opts(argc, argv, &json, &batch)) != 0)
		return ec < 0 ? 0 : ec;
	if ((ec = cli_open(cli, 0, &v)) != 0)
		return ec;
	while (!done && (rc = vault_key_rewrap(v, (int)batch, &n, &done)) ==
	    OV_OK)
		total += n;
	vault_close(v);
	if (rc != OV_OK)
		return cli_fail(rc);
	if (json)
		return cli_print_json(json_pack("{s:I}", "rewrapped",
		    (json_int_t)total));
	printf("%lld row(s) re-encrypted with the newest data key\n",
	    (long long)total);
	return 0;
}

static int
status_row(const struct vault_key *k, void *arg)
{
	char c[32], r[32];

	if (arg) {
		json_array_append_new(arg, json_pack("{s:i, s:s, s:s, s:o, "
		    "s:I, s:I}", "version", (int)k->version, "state",
		    k->state, "created_at", render_time(k->created_at, c,
		    sizeof(c)), "retired_at", render_time_or_null(
		    k->retired_at), "secrets", (json_int_t)k->secrets,
		    "tokens", (json_int_t)k->tokens));
		return 0;
	}
	printf("%7u %-8s %-20s %-20s %8lld %8lld\n", k->version, k->state,
	    render_time(k->created_at, c, sizeof(c)), k->retired_at ?
	    render_time(k->retired_at, r, sizeof(r)) : "-",
	    (long long)k->secrets, (long long)k->tokens);
	return 0;
}

static int
key_status(struct cli *cli, int argc, char **argv)
{
	struct vault *v;
	json_t *list = NULL;
	long batch = 0;
	int json, ec;
	enum ov_rc rc;

	if ((ec = key_opts(argc, argv, &json, &batch)) != 0)
		return ec < 0 ? 0 : ec;
	if ((ec = cli_open(cli, 0, &v)) != 0)
		return ec;
	if (json)
		list = json_array();
	else
		printf("%7s %-8s %-20s %-20s %8s %8s\n", "VERSION", "STATE",
		    "CREATED", "RETIRED", "SECRETS", "TOKENS");
	rc = vault_key_status(v, status_row, list);
	vault_close(v);
	if (rc != OV_OK) {
		json_decref(list);
		return cli_fail(rc);
	}
	return json ? cli_print_json(list) : 0;
}

int
cmd_key(struct cli *cli, int argc, char **argv)
{
	static const struct cmd sub[] = {
		{ "rotate", key_rotate, "new data-key version" },
		{ "rewrap", key_rewrap, "re-encrypt older rows" },
		{ "status", key_status, "rows per data-key version" },
		{ NULL, NULL, NULL },
	};

	return cli_dispatch(cli, sub, argc - 1, argv + 1, key_usage);
}

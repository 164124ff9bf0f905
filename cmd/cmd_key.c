/*
 * cmd_key.c — `orgvault key rotate|rewrap|status`: the vault's own data
 * keys; `key change-master`: its master key.
 */
#include <getopt.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cmd/cli.h"

static const char key_usage[] =
"usage: orgvault key rotate [--json]\n"
"       orgvault key rewrap [--batch N] [--json]\n"
"       orgvault key status [--json]\n"
"       orgvault key change-master (--new-key-file PATH | --generate |\n"
"                --new-passphrase-file PATH|- [--kdf-cost C]) [--json]\n"
"\n"
"Every secret column is sealed with a versioned data key, itself wrapped\n"
"by the master key.\n"
"\n"
"  rotate   adds data key version N+1; every write from now on uses it\n"
"           (a running serve picks it up at its next write).  Rows sealed\n"
"           with older versions stay readable until they are rewrapped.\n"
"  rewrap   re-encrypts every row sealed with an older version, --batch\n"
"           rows (100) per transaction, then marks versions no row uses\n"
"           as retired.  It also re-seals secrets still in the binding\n"
"           from before secrets were bound to their destination (vaults\n"
"           made before migration 0004); once none is left, that binding\n"
"           never opens again.  serve does the same in the background; a\n"
"           kill -9 in the middle leaves every row readable, and running\n"
"           rewrap again resumes.\n"
"  status   data-key versions with their state and the rows sealed with\n"
"           each (secret versions, tokens), and how many secrets are still\n"
"           in the binding from before destinations were bound.\n"
"  change-master\n"
"           opens the vault with the current master key (key file or\n"
"           --passphrase-file, as every command), verifies the audit\n"
"           chain with it, then in one transaction wraps every data key\n"
"           with the new master key and re-hashes the audit chain; the\n"
"           old key no longer opens the vault.  The new key is one of:\n"
"             --new-key-file PATH   a 32-byte key file you made (mode\n"
"                                   0600, yours), copied to DIR/master.key\n"
"             --generate            a random key written to DIR/master.key\n"
"             --new-passphrase-file PATH|-\n"
"                                   a passphrase (Argon2id, --kdf-cost\n"
"                                   interactive|moderate|sensitive, default\n"
"                                   moderate); DIR/master.key is deleted\n"
"           serve must be stopped: the change is refused (exit 3) while\n"
"           another process has the vault open.  Back up the new key file\n"
"           (apart from the database) at once.  Secrets are not\n"
"           re-encrypted: after a key was exposed, also key rotate and\n"
"           key rewrap.  Audit exports made before no longer verify.\n"
"\n"
"Each step is an audit event (key.rotated, key.retired,\n"
"key.master_changed).  Exit codes: 0 ok, 1 usage, 2 new key file not\n"
"found, 3 vault in use, 4 a row that does not open (see orgvault check),\n"
"a broken audit chain, a wrong or unsafe key file, 5 other.\n";

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
		    "s:I, s:I, s:I}", "version", (int)k->version, "state",
		    k->state, "created_at", render_time(k->created_at, c,
		    sizeof(c)), "retired_at", render_time_or_null(
		    k->retired_at), "secrets", (json_int_t)k->secrets,
		    "tokens", (json_int_t)k->tokens, "old_binding",
		    (json_int_t)k->old_binding));
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
	if ((rc = vault_key_status(v, status_row, list)) == OV_OK && !json) {
		int64_t old;
		int final;

		if ((rc = vault_binding_status(v, &old, &final)) != OV_OK)
			;
		else if (old)
			printf("secret binding: %lld row(s) still in the old "
			    "binding (serve re-seals them in the background; "
			    "or run: orgvault key rewrap)\n", (long long)old);
		else
			printf("secret binding: every secret is bound to its "
			    "destination%s\n", final ? "" : "; the next "
			    "rewrap closes the old binding");
	}
	vault_close(v);
	if (rc != OV_OK) {
		json_decref(list);
		return cli_fail(rc);
	}
	return json ? cli_print_json(list) : 0;
}

static int
master_opts(int argc, char **argv, struct vault_new_master *m,
    const char **ppfile, int *json)
{
	static const struct option opts[] = {
		{ "new-key-file",	 required_argument, NULL, 'k' },
		{ "generate",		 no_argument,	    NULL, 'g' },
		{ "new-passphrase-file", required_argument, NULL, 'p' },
		{ "kdf-cost",		 required_argument, NULL, 'c' },
		{ "json",		 no_argument,	    NULL, 'j' },
		{ "help",		 no_argument,	    NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	static const char *const costs[] = { "interactive", "moderate",
	    "sensitive" };
	int ch, cost = -1;

	while ((ch = cli_getopt(argc, argv, "h", opts)) != -1) {
		switch (ch) {
		case 'k': m->key_file = optarg; break;
		case 'g': m->generate = 1; break;
		case 'p': *ppfile = optarg; break;
		case 'j': *json = 1; break;
		case 'c':
			for (cost = 2; cost >= 0; cost--)
				if (strcmp(optarg, costs[cost]) == 0)
					break;
			if (cost < 0)
				return cli_usage_error(key_usage, "unknown "
				    "--kdf-cost '%s'", optarg);
			m->cost = (enum vault_kdf_cost)cost;
			break;
		case 'h': fputs(key_usage, stdout); return -1;
		default: return cli_usage_error(key_usage, "%s", cli_opt_error());
		}
	}
	if (optind != argc)
		return cli_usage_error(key_usage, "unexpected argument");
	if ((m->key_file != NULL) + m->generate + (*ppfile != NULL) != 1)
		return cli_usage_error(key_usage, "change-master needs exactly "
		    "one of --new-key-file, --generate, --new-passphrase-file");
	if (cost >= 0 && *ppfile == NULL)
		return cli_usage_error(key_usage, "--kdf-cost goes with "
		    "--new-passphrase-file");
	return 0;
}

static int
key_change_master(struct cli *cli, int argc, char **argv)
{
	struct vault_new_master m = { .cost = VAULT_KDF_MODERATE };
	struct vault_master_report r;
	struct secret *pp = NULL;
	const char *ppfile = NULL;
	struct vault *v;
	char key[PATH_MAX + 16];
	int json = 0, ec;
	enum ov_rc rc;

	if ((ec = master_opts(argc, argv, &m, &ppfile, &json)) != 0)
		return ec < 0 ? 0 : ec;
	if ((ec = cli_open(cli, VAULT_OPEN_EXCLUSIVE, &v)) != 0)
		return ec;
	if (ppfile && (ec = cli_read_secret(cli, ppfile, OV_PASSPHRASE_MAX,
	    "new passphrase", &pp)) != 0) {
		vault_close(v);
		return ec;
	}
	m.passphrase = pp;
	rc = vault_master_change(v, &m, &r);
	vault_close(v);
	secret_free(pp);
	if (rc != OV_OK)
		return cli_fail(rc);
	snprintf(key, sizeof(key), "%s/%s", cli->data_dir, VAULT_KEY_FILE);
	if (json)
		return cli_print_json(json_pack("{s:s, s:I, s:I, s:s?}",
		    "mode", ppfile ? "passphrase" : "key_file", "data_keys",
		    (json_int_t)r.data_keys, "events_rehashed",
		    (json_int_t)r.events, "key_file", ppfile ? NULL : key));
	printf("master key changed: %lld data key(s) rewrapped, %lld audit "
	    "event(s) re-hashed; the vault now opens with %s only%s\n",
	    (long long)r.data_keys, (long long)r.events, ppfile ?
	    "the new passphrase" : key, ppfile ? "" : " (back it up now, "
	    "apart from the database)");
	return 0;
}

int
cmd_key(struct cli *cli, int argc, char **argv)
{
	static const struct cmd sub[] = {
		{ "rotate", key_rotate, "new data-key version" },
		{ "rewrap", key_rewrap, "re-encrypt older rows" },
		{ "status", key_status, "rows per data-key version" },
		{ "change-master", key_change_master, "new master key" },
		{ NULL, NULL, NULL },
	};

	return cli_dispatch(cli, sub, argc - 1, argv + 1, key_usage);
}

/* cmd_vault.c — `init`, `migrate`, `check` and `copy`: the vault as a
 * whole. */
#include <getopt.h>
#include <stdio.h>
#include <string.h>

#include "cmd/cli.h"
#include "util/timefmt.h"

static const char init_usage[] =
"usage: orgvault [--data-dir DIR] init [--passphrase-file PATH|-]\n"
"                [--kdf-cost interactive|moderate|sensitive]\n"
"\n"
"Creates the data directory (mode 0700), a random 32-byte master key in\n"
"DIR/master.key (mode 0600) and DIR/orgvault.db with every migration\n"
"applied.  With --passphrase-file the master key is derived from the\n"
"passphrase with Argon2id instead (salt and cost stored in the database,\n"
"no key file); every later command then needs the same passphrase through\n"
"--passphrase-file or ORGVAULT_PASSPHRASE_FILE.  The default cost is\n"
"moderate (256 MiB, about a second).  Refuses to overwrite a vault.\n"
"\n"
"Back up the key file (or remember the passphrase): without it the vault\n"
"cannot be opened by anyone, including you.\n";

int
cmd_init(struct cli *cli, int argc, char **argv)
{
	static const struct option opts[] = {
		{ "passphrase-file",	required_argument, NULL, 'p' },
		{ "kdf-cost",		required_argument, NULL, 'k' },
		{ "help",		no_argument,	   NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	struct vault_opts o = { .data_dir = cli->data_dir,
	    .database = cli->database,
	    .actor = cli->actor };
	enum vault_kdf_cost cost = VAULT_KDF_MODERATE;
	struct secret *pp = NULL;
	const char *ppfile = cli->passphrase_file;
	enum ov_rc rc;
	int ch, ec;

	while ((ch = cli_getopt(argc, argv, "h", opts)) != -1) {
		switch (ch) {
		case 'p': ppfile = optarg; break;
		case 'k':
			if (strcmp(optarg, "interactive") == 0)
				cost = VAULT_KDF_INTERACTIVE;
			else if (strcmp(optarg, "moderate") == 0)
				cost = VAULT_KDF_MODERATE;
			else if (strcmp(optarg, "sensitive") == 0)
				cost = VAULT_KDF_SENSITIVE;
			else
				return cli_usage_error(init_usage, "unknown "
				    "--kdf-cost '%s'", optarg);
			break;
		case 'h': fputs(init_usage, stdout); return 0;
		default: return cli_usage_error(init_usage, "%s", cli_opt_error());
		}
	}
	if (optind != argc)
		return cli_usage_error(init_usage, "init takes no arguments");
	if (ppfile && (ec = cli_read_secret(cli, ppfile, OV_PASSPHRASE_MAX,
	    "passphrase", &pp)) != 0)
		return ec;
	o.passphrase = pp;
	rc = vault_init(&o, cost);
	secret_free(pp);
	if (rc != OV_OK)
		return cli_fail(rc);
	printf("initialised vault in %s (%s)\n", cli->data_dir,
	    pp ? "passphrase, Argon2id" : "key file " VAULT_KEY_FILE);
	return 0;
}

static const char migrate_usage[] =
"usage: orgvault migrate [--json]\n"
"       orgvault migrate status [--json]\n"
"\n"
"Migrations are numbered SQL files embedded in the binary, applied in\n"
"order, one transaction each, and recorded with their SHA-256.  `migrate`\n"
"applies the pending ones; `migrate status` lists applied and pending.\n"
"`migrate` opens the vault with its key (--passphrase-file for a\n"
"passphrase vault): 0004 makes the key of the row MACs and MACs every\n"
"row in its transaction.  Stop serve first; then run `orgvault key\n"
"rewrap` or start serve, which re-seals the secrets of older vaults.\n"
"A database changed by a newer orgvault, or whose recorded checksum\n"
"differs from the embedded file, is refused (exit 5 and 4).\n";

static int
print_migration(const struct vault_migration *m, void *arg)
{
	json_t *list = arg;
	char t[32];

	if (list) {
		json_array_append_new(list, json_pack("{s:i, s:s, s:s, s:s, "
		    "s:s?}", "version", m->version, "name", m->name,
		    "state", m->applied_at ? "applied" : "pending",
		    "checksum", m->checksum, "applied_at", m->applied_at ?
		    render_time(m->applied_at, t, sizeof(t)) : NULL));
		return 0;
	}
	printf("%-28s %-8s %s  %.16s\n", m->name, m->applied_at ? "applied" :
	    "pending", m->applied_at ? render_time(m->applied_at, t,
	    sizeof(t)) : "-", m->checksum);
	return 0;
}

int
cmd_migrate(struct cli *cli, int argc, char **argv)
{
	struct vault *v;
	int status = 0, json = 0, applied = 0, ec;
	enum ov_rc rc;

	if (cli_wants_help(argc, argv, migrate_usage))
		return 0;
	for (int i = 1; i < argc; i++) {
		if (strcmp(argv[i], "status") == 0 && i == 1)
			status = 1;
		else if (strcmp(argv[i], "--json") == 0)
			json = 1;
		else
			return cli_usage_error(migrate_usage, "unexpected "
			    "argument '%s'", argv[i]);
	}
	/* Applying needs the key (0004 MACs every row with a key it
	 * wraps); the status needs nothing. */
	if ((ec = cli_open(cli, status ? VAULT_OPEN_NO_KEY :
	    VAULT_OPEN_PENDING_OK, &v)) != 0)
		return ec;
	if (status) {
		json_t *list = json ? json_array() : NULL;

		if (!json)
			printf("%-28s %-8s %-20s  %s\n", "MIGRATION", "STATE",
			    "APPLIED", "CHECKSUM");
		rc = vault_migrate_status(v, print_migration, list);
		vault_close(v);
		if (rc != OV_OK) {
			json_decref(list);
			return cli_fail(rc);
		}
		return json ? cli_print_json(list) : 0;
	}
	rc = vault_migrate(v, &applied);
	vault_close(v);
	if (rc != OV_OK)
		return cli_fail(rc);
	if (json)
		return cli_print_json(json_pack("{s:i}", "applied", applied));
	printf("applied %d migration(s)\n", applied);
	return 0;
}

static const char check_usage[] =
"usage: orgvault check [--json]\n"
"\n"
"Verifies the vault: the master key, every data key in the keyring,\n"
"every stored envelope (client secrets, refresh tokens, access tokens)\n"
"in its binding, the MACs of credential, API key, webhook and retired\n"
"refresh-token rows, tampered credentials, API keys the audit chain says\n"
"were revoked, the audit hash chain, and SQLite's integrity and\n"
"foreign-key checks.\n"
"Each failure is printed by table, row and column.  Exit 0 when all is\n"
"whole, 4 when anything fails.\n";

static void
print_failure(const struct vault_check_failure *f, void *arg)
{
	json_t *list = arg;

	if (list)
		json_array_append_new(list, json_pack("{s:s, s:I, s:s, s:s}",
		    "table", f->table, "row", (json_int_t)f->row, "column",
		    f->column, "problem", f->problem));
	else
		printf("FAIL %s row %lld column %s: %s\n", f->table,
		    (long long)f->row, f->column, f->problem);
}

/*
 * vault_check with `check`'s report: each failure printed as it is found,
 * or gathered for --json into *report ({ok, checked, failures}); the
 * one-line summary goes to summary.  *failed: whether anything failed.
 */
static enum ov_rc
check_report(struct vault *v, int json, json_t **report, char *summary,
    size_t len, int *failed)
{
	json_t *list = json ? json_array() : NULL;
	int64_t checked = 0, failures = 0;
	enum ov_rc rc;

	*report = NULL;
	if ((rc = vault_check(v, print_failure, list, &checked, &failures)) !=
	    OV_OK) {
		json_decref(list);
		return rc;
	}
	*failed = failures != 0;
	if (json)
		*report = json_pack("{s:b, s:I, s:o}", "ok", failures == 0,
		    "checked", (json_int_t)checked, "failures", list);
	snprintf(summary, len, "%s: %lld item(s) checked, %lld failure(s)",
	    failures ? "FAILED" : "ok", (long long)checked,
	    (long long)failures);
	return OV_OK;
}

int
cmd_check(struct cli *cli, int argc, char **argv)
{
	struct vault *v;
	json_t *report = NULL;
	char summary[128];
	int64_t old = 0;
	int json = 0, ec, final, failed = 0;
	enum ov_rc rc;

	if (cli_wants_help(argc, argv, check_usage))
		return 0;
	for (int i = 1; i < argc; i++) {
		if (strcmp(argv[i], "--json") != 0)
			return cli_usage_error(check_usage, "unexpected "
			    "argument '%s'", argv[i]);
		json = 1;
	}
	if ((ec = cli_open(cli, 0, &v)) != 0)
		return ec;
	rc = check_report(v, json, &report, summary, sizeof(summary), &failed);
	if (rc == OV_OK && (rc = vault_binding_status(v, &old, &final)) ==
	    OV_OK && old)
		fprintf(stderr, "orgvault: warning: %lld secret row(s) are "
		    "still in the binding from before secrets were bound to "
		    "their destination; serve re-seals them, or run: orgvault "
		    "key rewrap\n", (long long)old);
	vault_close(v);
	if (rc != OV_OK) {
		json_decref(report);
		return cli_fail(rc);
	}
	if (json)
		cli_print_json(report);
	else
		puts(summary);
	return failed ? ov_rc_exit(OV_EINTEGRITY) : 0;
}

static const char copy_usage[] =
"usage: orgvault [--database SOURCE] copy --to DATABASE [--json]\n"
"\n"
"Copies the vault (the one --database or ORGVAULT_DATABASE names, else\n"
"DIR/orgvault.db) into DATABASE, which must be empty: a PostgreSQL URL or\n"
"conninfo (no password in it: use libpq's passfile), or `sqlite` for\n"
"DIR/orgvault.db.  Ciphertext, MACs, the keyring and the audit chain are\n"
"copied as they are, so the master key in DIR (or the passphrase) opens\n"
"the copy.  Stop serve first: the source is opened exclusively (exit 3\n"
"while another process has it open).  A target that exists or holds any\n"
"of the vault's tables is refused (exit 3).  Both audit chains record the\n"
"copy (vault.copied, vault.copied_to); the source is otherwise left as\n"
"it was.  The copy ends with a `check` of the target: exit 4 when it\n"
"fails.  Then point ORGVAULT_DATABASE (or --database) at the target.\n";

struct copied {
	json_t	*tables;	/* --json */
	int64_t	 rows;
};

static void
print_table(void *arg, const char *table, int64_t rows)
{
	struct copied *c = arg;

	c->rows += rows;
	if (c->tables)
		json_object_set_new(c->tables, table, json_integer(rows));
	else
		printf("  %-24s %lld\n", table, (long long)rows);
}

int
cmd_copy(struct cli *cli, int argc, char **argv)
{
	static const struct option opts[] = {
		{ "to",		required_argument, NULL, 't' },
		{ "json",	no_argument,	   NULL, 'j' },
		{ "help",	no_argument,	   NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	struct vault_opts o = { .data_dir = cli->data_dir,
	    .database = cli->database, .actor = cli->actor };
	struct copied c = { 0 };
	struct secret *pp = NULL;
	struct vault *v;
	json_t *report = NULL;
	char from[OV_DB_URL_MAX + 64], to_where[OV_DB_URL_MAX + 64];
	char summary[128];
	const char *to = NULL;
	int json = 0, ch, ec, failed = 0;
	enum ov_rc rc;

	while ((ch = cli_getopt(argc, argv, "h", opts)) != -1) {
		switch (ch) {
		case 't': to = optarg; break;
		case 'j': json = 1; break;
		case 'h': fputs(copy_usage, stdout); return 0;
		default: return cli_usage_error(copy_usage, "%s", cli_opt_error());
		}
	}
	if (optind != argc)
		return cli_usage_error(copy_usage, "unexpected argument '%s'",
		    argv[optind]);
	if (to == NULL)
		return cli_usage_error(copy_usage, "give the target: --to "
		    "DATABASE");
	if ((rc = vault_database_check(to)) != OV_OK)
		return cli_fail(rc);
	/* The passphrase is read once (it may be stdin) for both opens. */
	if (cli->passphrase_file && (ec = cli_read_secret(cli,
	    cli->passphrase_file, OV_PASSPHRASE_MAX, "passphrase", &pp)) != 0)
		return ec;
	o.passphrase = pp;
	if ((rc = vault_open(&o, VAULT_OPEN_EXCLUSIVE, &v)) != OV_OK) {
		secret_free(pp);
		return cli_fail(rc);
	}
	snprintf(from, sizeof(from), "%s", vault_location(v));
	if (json)
		c.tables = json_object();
	else
		printf("copying %s\n", from);
	rc = vault_copy(v, to, print_table, &c);
	vault_close(v);
	/* The check opens the copy as any later command will. */
	o.database = to;
	if (rc == OV_OK)
		rc = vault_open(&o, 0, &v);
	secret_free(pp);
	if (rc != OV_OK) {
		json_decref(c.tables);
		return cli_fail(rc);
	}
	snprintf(to_where, sizeof(to_where), "%s", vault_location(v));
	rc = check_report(v, json, &report, summary, sizeof(summary), &failed);
	vault_close(v);
	if (rc != OV_OK) {
		json_decref(c.tables);
		return cli_fail(rc);
	}
	if (json)
		cli_print_json(json_pack("{s:s, s:s, s:I, s:o, s:o}", "from",
		    from, "to", to_where, "rows", (json_int_t)c.rows, "tables",
		    c.tables, "check", report));
	else
		printf("copied %lld row(s) to %s\ncheck of the copy: %s\n",
		    (long long)c.rows, to_where, summary);
	return failed ? ov_rc_exit(OV_EINTEGRITY) : 0;
}

/*
 * main.c — orgvault's entry point: start-up hardening, global options,
 * subcommand dispatch.  No secret is ever taken from argv or the
 * environment; the environment only names files.
 */
#include <getopt.h>
#include <pwd.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <unistd.h>

#include <curl/curl.h>
#include <sodium.h>

#include "cmd/cli.h"
#include "util/version.h"
#include "rotation/oauth.h"
#include "util/log.h"
#include "util/netpolicy.h"
#include "util/secret.h"


static const char usage[] =
"usage: orgvault [--data-dir DIR] [--database URL]\n"
"                [--passphrase-file PATH|-] [-v]\n"
"                [--endpoint-allow CIDR[,CIDR...]] [--proxy URL]\n"
"                COMMAND [ARGS]\n"
"\n"
"A multi-org OAuth credential vault.  Secrets are encrypted at rest with\n"
"keys that never leave the data directory's key file (or your passphrase).\n"
"\n"
"Commands:\n"
"  init          create a new vault (key file or passphrase)\n"
"  migrate       apply pending schema migrations; `migrate status`\n"
"  org           add, list, show, update and remove orgs\n"
"  cred          put, list, show, refresh and remove OAuth credentials\n"
"  secret        stage, test, promote and roll back a client secret\n"
"  key           rotate the vault's data keys, rewrap, status\n"
"  webhook       push alerts (revoked, failing, ...) to HTTP endpoints\n"
"  token         print a fresh access token of a credential\n"
"  serve         run the refresh scheduler (the daemon)\n"
"  import        add many orgs and credentials from JSON lines\n"
"  export        write every org and credential as import lines, no secret\n"
"  check         open every envelope and verify the vault's integrity\n"
"  audit         audit events, scope drift, revocations\n"
"  apikey        create, list and revoke API keys of the admin API\n"
"  version       print the version\n"
"\n"
"Global options:\n"
"  --data-dir DIR          vault directory (env ORGVAULT_DATA_DIR; default\n"
"                          $XDG_DATA_HOME/orgvault or ~/.local/share/orgvault)\n"
"  --database URL          where the vault's data lives: a PostgreSQL URL\n"
"                          (postgresql://user@host/db?schema=orgvault, or\n"
"                          a key=value conninfo; no password: use libpq's\n"
"                          passfile) or \"sqlite\", the file orgvault.db in\n"
"                          the data directory (the default; env\n"
"                          ORGVAULT_DATABASE).  The key file stays in DIR.\n"
"  --passphrase-file PATH  passphrase of a passphrase vault, '-' for stdin\n"
"                          (env ORGVAULT_PASSPHRASE_FILE)\n"
"  --endpoint-allow CIDRS  ranges the outbound policy lets token, provider\n"
"                          API and webhook URLs reach although they are\n"
"                          loopback or private, e.g. 127.0.0.0/8 for a\n"
"                          local test server (env ORGVAULT_ENDPOINT_ALLOW)\n"
"  --proxy URL             send outbound requests through this proxy (none\n"
"                          by default; http_proxy and the like are ignored)\n"
"  -v, --verbose           log more (repeat for debug)\n"
"  -h, --help              this text; `orgvault COMMAND --help` for each\n"
"\n"
"Exit codes: 0 ok, 1 usage or invalid input, 2 not found, 3 conflict,\n"
"4 integrity or crypto failure, 5 other (I/O, locked database, schema).\n";

/* With a PostgreSQL --database, a second line names it (never with a
 * password: there is none) and the server's version; a server that
 * cannot be reached is a warning, not a failure of `version`. */
static int
cmd_version(struct cli *cli, int argc, char **argv)
{
	struct vault_opts o = { .data_dir = cli->data_dir,
	    .database = cli->database, .actor = cli->actor };
	struct vault *v;

	printf("orgvault %s (sqlite %s, libpq %s, libsodium %s, %s)\n",
	    ORGVAULT_VERSION, vault_sqlite_version(), vault_libpq_version(),
	    sodium_version_string(), curl_version());
	if (!vault_database_is_pg(cli->database) ||
	    vault_database_check(cli->database) != OV_OK)
		return 0;
	if (vault_open(&o, VAULT_OPEN_NO_KEY, &v) != OV_OK) {
		fprintf(stderr, "orgvault: warning: %s\n", ov_errmsg());
		return 0;
	}
	printf("database %s: PostgreSQL %s\n", vault_location(v),
	    vault_db_version(v));
	vault_close(v);
	return 0;
}

static const struct cmd commands[] = {
	{ "init",	cmd_init,	"create a vault" },
	{ "migrate",	cmd_migrate,	"apply migrations" },
	{ "org",	cmd_org,	"manage orgs" },
	{ "cred",	cmd_cred,	"manage credentials" },
	{ "import",	cmd_import,	"bulk import" },
	{ "export",	cmd_export,	"export for import" },
	{ "check",	cmd_check,	"verify integrity" },
	{ "copy",	cmd_copy,	"copy the vault into an empty database" },
	{ "serve",	cmd_serve,	"run the scheduler" },
	{ "token",	cmd_token,	"print an access token" },
	{ "secret",	cmd_secret,	"rotate a client secret" },
	{ "key",	cmd_key,	"vault data keys" },
	{ "webhook",	cmd_webhook,	"push alerts" },
	{ "audit",	cmd_audit,	"audit events" },
	{ "apikey",	cmd_apikey,	"manage API keys" },
	{ "version",	cmd_version,	"print the version" },
	{ NULL, NULL, NULL },
};

/* No core dumps, private files, wiped JSON, ready crypto. */
static void
harden(void)
{
	struct rlimit no_core = { 0, 0 };

	umask(077);
	if (setrlimit(RLIMIT_CORE, &no_core) != 0)
		log_warn("cannot disable core dumps");
	prctl(PR_SET_DUMPABLE, 0, 0, 0, 0);
	if (sodium_init() < 0)
		fatalx("libsodium failed to initialise");
	secret_json_wipe_on_free();
	if (oauth_global_init() != 0)
		fatalx("libcurl failed to initialise");
}

static char default_dir[4096];

static const char *
data_dir_default(void)
{
	const char *env;

	if ((env = getenv("ORGVAULT_DATA_DIR")) != NULL && *env)
		return env;
	if ((env = getenv("XDG_DATA_HOME")) != NULL && *env)
		snprintf(default_dir, sizeof(default_dir), "%s/orgvault", env);
	else if ((env = getenv("HOME")) != NULL && *env)
		snprintf(default_dir, sizeof(default_dir),
		    "%s/.local/share/orgvault", env);
	else
		return NULL;
	return default_dir;
}

static void
actor_init(struct cli *cli)
{
	struct passwd *pw = getpwuid(geteuid());

	if (pw)
		snprintf(cli->actor, sizeof(cli->actor), "cli:%s", pw->pw_name);
	else
		snprintf(cli->actor, sizeof(cli->actor), "cli:uid%u",
		    (unsigned)geteuid());
}

int
main(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "data-dir",		required_argument, NULL, 'd' },
		{ "database",		required_argument, NULL, 'D' },
		{ "passphrase-file",	required_argument, NULL, 'p' },
		{ "endpoint-allow",	required_argument, NULL, 'A' },
		{ "proxy",		required_argument, NULL, 'P' },
		{ "verbose",		no_argument,	   NULL, 'v' },
		{ "help",		no_argument,	   NULL, 'h' },
		{ "version",		no_argument,	   NULL, 'V' },
		{ NULL, 0, NULL, 0 },
	};
	struct cli cli = { 0 };
	const char *allow = NULL, *env;
	int ch, verbose = 0, rc;

	harden();
	actor_init(&cli);
	cli.passphrase_file = getenv("ORGVAULT_PASSPHRASE_FILE");
	cli.database = getenv("ORGVAULT_DATABASE");
	while ((ch = cli_getopt(argc, argv, "+vh", opts)) != -1) {
		switch (ch) {
		case 'd': cli.data_dir = optarg; break;
		case 'D': cli.database = optarg; break;
		case 'p': cli.passphrase_file = optarg; break;
		case 'A': allow = optarg; break;
		case 'P':
			if (netpolicy_set_proxy(optarg) != OV_OK)
				return cli_usage_error(usage, "%s",
				    ov_errmsg());
			break;
		case 'v': verbose++; cli.verbose++; break;
		case 'h': fputs(usage, stdout); return 0;
		case 'V': return cmd_version(&cli, 0, NULL);
		default: return cli_usage_error(usage, "%s", cli_opt_error());
		}
	}
	log_init(verbose > 1 ? LOG_LVL_DEBUG : verbose ? LOG_LVL_INFO :
	    LOG_LVL_WARN, 0);
	if (cli.passphrase_file && *cli.passphrase_file == '\0')
		cli.passphrase_file = NULL;
	/* The flag replaces the environment's list. */
	if (allow ? netpolicy_allow(allow, "--endpoint-allow") != OV_OK :
	    (env = getenv("ORGVAULT_ENDPOINT_ALLOW")) != NULL && *env &&
	    netpolicy_allow(env, "ORGVAULT_ENDPOINT_ALLOW") != OV_OK)
		return cli_usage_error(usage, "%s", ov_errmsg());
	if (vault_database_check(cli.database) != OV_OK)
		return cli_usage_error(usage, "%s", ov_errmsg());
	if (cli.database && !vault_database_is_pg(cli.database))
		cli.database = NULL;	/* "sqlite", or "" */
	if (cli.data_dir == NULL && (cli.data_dir = data_dir_default()) ==
	    NULL)
		return cli_usage_error(usage, "no data directory: give "
		    "--data-dir DIR or set ORGVAULT_DATA_DIR");
	argc -= optind;
	argv += optind;
	rc = cli_dispatch(&cli, commands, argc, argv, usage);
	curl_global_cleanup();
	return rc;
}

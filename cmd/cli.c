/* cli.c — helpers shared by the subcommands: dispatch, errors, output. */
#include <getopt.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "cmd/cli.h"
#include "util/log.h"
#include "util/timefmt.h"

int
cli_dispatch(struct cli *cli, const struct cmd *table, int argc, char **argv,
    const char *usage)
{
	if (argc < 1)
		return cli_usage_error(usage, "a command is needed");
	if (strcmp(argv[0], "--help") == 0 || strcmp(argv[0], "-h") == 0 ||
	    strcmp(argv[0], "help") == 0) {
		fputs(usage, stdout);
		return 0;
	}
	for (const struct cmd *c = table; c->name; c++)
		if (strcmp(c->name, argv[0]) == 0) {
			optind = 0;	/* GNU: reinitialise getopt */
			return c->run(cli, argc, argv);
		}
	return cli_usage_error(usage, "unknown command '%s'", argv[0]);
}

static char opt_error[160];

const char *
cli_opt_error(void)
{
	return opt_error;
}

/* The option named by arg ("--name" or "--name=value"), or NULL. */
static const struct option *
long_find(const char *arg, const struct option *opts, int *inline_value)
{
	size_t n = strcspn(arg + 2, "=");

	*inline_value = arg[2 + n] == '=';
	for (const struct option *o = opts; o->name; o++)
		if (strlen(o->name) == n && strncmp(o->name, arg + 2, n) == 0)
			return o;
	return NULL;
}

/* Before parsing starts: every long option must be exact. */
static int
prescan(int argc, char **argv, const char *shortopts,
    const struct option *opts)
{
	int stop_at_arg = shortopts[0] == '+';

	for (int i = 1; i < argc; i++) {
		const struct option *o;
		int inl;

		if (strcmp(argv[i], "--") == 0)
			break;
		if (argv[i][0] != '-' || argv[i][1] == '\0') {
			if (stop_at_arg)
				break;
			continue;
		}
		if (argv[i][1] != '-')
			continue;	/* short options: getopt judges */
		if ((o = long_find(argv[i], opts, &inl)) == NULL) {
			snprintf(opt_error, sizeof(opt_error), "unknown option "
			    "%.*s", (int)strcspn(argv[i], "="), argv[i]);
			return -1;
		}
		if (o->has_arg == required_argument && !inl)
			i++;	/* its value, whatever it looks like */
	}
	return 0;
}

int
cli_getopt(int argc, char **argv, const char *shortopts,
    const struct option *opts)
{
	int ch;

	opterr = 0;
	if (optind <= 1) {
		opt_error[0] = '\0';
		if (prescan(argc, argv, shortopts, opts) != 0)
			return '?';
	}
	ch = getopt_long(argc, argv, shortopts, opts, NULL);
	if (ch == '?' || ch == ':') {
		const char *arg = optind > 0 && optind <= argc ?
		    argv[optind - 1] : "";

		if (strncmp(arg, "--", 2) != 0 && optopt && optopt < 256)
			snprintf(opt_error, sizeof(opt_error), "unknown option "
			    "or missing value: -%c", optopt);
		else
			snprintf(opt_error, sizeof(opt_error), "unknown option "
			    "or missing value: %.*s", (int)strcspn(arg, "="),
			    arg);
		return '?';
	}
	return ch;
}

int
cli_fail(enum ov_rc rc)
{
	const char *msg = ov_errmsg();

	fprintf(stderr, "orgvault: %s\n", *msg ? msg : ov_rc_str(rc));
	return ov_rc_exit(rc);
}

int
cli_usage_error(const char *usage, const char *fmt, ...)
{
	va_list ap;

	fputs("orgvault: ", stderr);
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputs("\n\n", stderr);
	fputs(usage, stderr);
	return EXIT_USAGE;
}

int
cli_wants_help(int argc, char **argv, const char *usage)
{
	for (int i = 1; i < argc; i++) {
		if (strcmp(argv[i], "--") == 0)
			break;
		if (strcmp(argv[i], "--help") == 0 ||
		    strcmp(argv[i], "-h") == 0) {
			fputs(usage, stdout);
			return 1;
		}
	}
	return 0;
}

int
cli_read_secret(struct cli *cli, const char *path, size_t max,
    const char *what, struct secret **out)
{
	enum ov_rc rc;

	if (strcmp(path, "-") == 0) {
		if (cli->stdin_taken) {
			ov_seterr(OV_EUSAGE, "only one secret can be read "
			    "from stdin ('-') per command; use a file for %s",
			    what);
			return cli_fail(OV_EUSAGE);
		}
		cli->stdin_taken = 1;
	}
	if ((rc = secret_read(path, max, what, out)) != OV_OK)
		return cli_fail(rc);
	return 0;
}

int
cli_open(struct cli *cli, unsigned flags, struct vault **out)
{
	struct vault_opts o = { .data_dir = cli->data_dir,
	    .database = cli->database,
	    .actor = cli->actor };
	struct secret *pp = NULL;
	enum ov_rc rc;
	int ec;

	if (cli->passphrase_file && !(flags & VAULT_OPEN_NO_KEY)) {
		if ((ec = cli_read_secret(cli, cli->passphrase_file,
		    OV_PASSPHRASE_MAX, "passphrase", &pp)) != 0)
			return ec;
		o.passphrase = pp;
	}
	rc = vault_open(&o, flags, out);
	secret_free(pp);
	return rc == OV_OK ? 0 : cli_fail(rc);
}

void
cli_print_json_line(const json_t *j)
{
	json_dumpf(j, stdout, JSON_COMPACT | JSON_PRESERVE_ORDER);
	fputc('\n', stdout);
}

int
cli_print_json(json_t *j)
{
	if (j == NULL) {
		fputs("orgvault: out of memory\n", stderr);
		return 5;
	}
	json_dumpf(j, stdout, JSON_INDENT(2) | JSON_PRESERVE_ORDER);
	fputc('\n', stdout);
	json_decref(j);
	return 0;
}


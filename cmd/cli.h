/*
 * cli.h — what the subcommands of the orgvault CLI share: global
 * options, opening the vault, reporting errors, rendering rows as JSON.
 */
#ifndef OV_CLI_H
#define OV_CLI_H

#include <getopt.h>
#include <stdio.h>

#include <jansson.h>

#include "vault/render.h"
#include "vault/vault.h"

struct cli {
	const char	*data_dir;
	const char	*database;	/* NULL: SQLite in data_dir */
	const char	*passphrase_file;
	char		 actor[OV_ACTOR_MAX + 1];
	int		 stdin_taken;	/* a secret was read from "-" */
	int		 verbose;
};

/* Exit codes (README "Exit codes"); rc → code is ov_rc_exit(). */
#define EXIT_USAGE	1

struct cmd {
	const char	*name;
	int		(*run)(struct cli *, int, char **);
	const char	*summary;
};

/*
 * getopt_long() that takes long options only when spelled out in full
 * (GNU would read --secret as --secret-file and echo its value in an
 * error) and prints nothing itself: on '?' the message, which names the
 * option but never its value, is in cli_opt_error().
 */
int	cli_getopt(int, char **, const char *, const struct option *);
const char *cli_opt_error(void);

/* Runs the subcommand named by argv[1] from table; prints usage if none. */
int	cli_dispatch(struct cli *, const struct cmd *, int, char **,
	    const char *usage);
/* Opens the vault named by the global options; prints and returns the
 * exit code on failure, 0 on success. */
int	cli_open(struct cli *, unsigned flags, struct vault **);
/* Prints "orgvault: <message>" for rc and returns its exit code. */
int	cli_fail(enum ov_rc);
/* Prints msg and usage to stderr, returns EXIT_USAGE. */
int	cli_usage_error(const char *usage, const char *msg, ...)
	    __attribute__((format(printf, 2, 3)));
/* Reads a secret file ("-" is stdin, once per command). */
int	cli_read_secret(struct cli *, const char *path, size_t max,
	    const char *what, struct secret **);
/* Prints a JSON value on stdout, indented, and frees it. */
int	cli_print_json(json_t *);
/* One compact line (JSON lines output); j stays the caller's. */
void	cli_print_json_line(const json_t *j);
/* True for "--help"/"-h" among argv: print usage, exit 0. */
int	cli_wants_help(int, char **, const char *usage);


int	cmd_init(struct cli *, int, char **);
int	cmd_migrate(struct cli *, int, char **);
int	cmd_check(struct cli *, int, char **);
int	cmd_copy(struct cli *, int, char **);
int	cmd_org(struct cli *, int, char **);
int	cmd_apikey(struct cli *, int, char **);
int	cmd_cred(struct cli *, int, char **);
int	cmd_audit(struct cli *, int, char **);
int	cmd_import(struct cli *, int, char **);
int	cmd_export(struct cli *, int, char **);
/* What `import` does with the lines of in, inside the caller's
 * transaction (vault_begin); the fuzz target tests/fuzz/fuzz_import.c
 * calls it with a rollback after each input. */
enum ov_rc cmd_import_lines(struct vault *, FILE *in);
int	cmd_serve(struct cli *, int, char **);
int	cmd_token(struct cli *, int, char **);
int	cmd_cred_refresh(struct cli *, int, char **);
int	cmd_secret(struct cli *, int, char **);
int	cmd_secret_regenerate(struct cli *, int, char **);
int	cmd_secret_rotate_all(struct cli *, int, char **);
int	cmd_key(struct cli *, int, char **);
int	cmd_webhook(struct cli *, int, char **);
int	cmd_audit_drift(struct cli *, int, char **);
int	cmd_audit_revocations(struct cli *, int, char **);

#endif

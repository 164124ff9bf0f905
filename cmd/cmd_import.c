/*
 * cmd_import.c — `orgvault import`: many orgs and credentials at once,
 * from JSON lines, in one transaction.  The input holds secrets: it is
 * read into wiped memory and parsed by jansson with wiping allocators.
 */
#include <getopt.h>
#include <stdio.h>
#include <string.h>

#include <sodium.h>

#include "cmd/cli.h"
#include "rotation/provider.h"
#include "util/validate.h"

static const char import_usage[] =
"usage: orgvault import FILE|- [--dry-run] [--replace-secrets] [--json]\n"
"\n"
"Reads one JSON object per line.  A credential line creates or updates\n"
"one credential, creating its org when it does not exist yet:\n"
"\n"
"  {\"org\":\"acme\", \"org_name\":\"Acme\", \"external_id\":\"...\",\n"
"   \"name\":\"main\", \"provider\":\"genesys\", \"region\":\"us_east_1\",\n"
"   \"client_id\":\"...\", \"client_secret\":\"...\", \"scope\":\"a b\",\n"
"   \"grant\":\"refresh_token\", \"refresh_token\":\"...\", \"auth\":\"basic\",\n"
"   \"instance\":\"...\", \"token_url\":\"...\", \"refresh_at\":\"0.75\"}\n"
"\n"
"A line without \"name\" is an org line ({\"org\", \"org_name\",\n"
"\"external_id\"}): it creates the org or updates its name and external\n"
"id.  Fields mean what the `cred put` options of the same name mean;\n"
"`orgvault export` writes such lines (without secrets).\n"
"\n"
"Importing never destroys a secret: a line whose secrets are the stored\n"
"ones changes no secret (no new version, not refreshed again); a line\n"
"that brings a *different* client secret or refresh token for an\n"
"existing credential is refused unless --replace-secrets is given (it\n"
"could replace a refresh token the provider has rotated since); a\n"
"refresh token that orgvault rotated away is always refused (a replay).\n"
"A change of token URL, region, client id, auth or grant needs the\n"
"client secret on the line (see `cred put --help`).\n"
"\n"
"The whole file is one transaction.  A bad line (named by number) stops\n"
"the import and nothing is changed (exit 1).  Refused lines are all\n"
"listed on stderr and nothing is changed (exit 3).  --dry-run says per\n"
"line what would change (with --json: one JSON object per line) and\n"
"changes nothing.  Lines are at most 65536 bytes.  The file holds\n"
"secrets: delete it (or use '-') once imported.\n";

#define IMPORT_IOBUF	(64 * 1024)

struct import_opts {
	int	dry, json, replace_secrets;
};

struct import_stats {
	long	lines, orgs_created, orgs_updated, created, updated;
	long	unchanged, refused;
};

static const char *
field(json_t *o, const char *key)
{
	json_t *v = json_object_get(o, key);

	return json_is_string(v) ? json_string_value(v) : NULL;
}

static enum ov_rc
org_fields_check(const char *slug, const char *name, const char *ext)
{
	enum ov_rc rc;

	if ((rc = validate_slug("org", slug)) ||
	    (name && (rc = validate_text("org_name", name, OV_NAME_MAX))) ||
	    (ext && (rc = validate_text("external_id", ext,
	    OV_EXTERNAL_ID_MAX))))
		return rc;
	return OV_OK;
}

/* Creates the org of a line when missing; *action says what happened. */
static enum ov_rc
ensure_org(struct vault *v, json_t *o, const char *slug, int update,
    struct import_stats *st, const char **action)
{
	struct vault_org org = { 0 };
	const char *name = field(o, "org_name"), *ext = field(o, "external_id");
	enum ov_rc rc;

	*action = "unchanged";
	if ((rc = org_fields_check(slug, name, ext)) != OV_OK)
		return rc;
	if ((rc = vault_org_get(v, slug, &org)) == OV_OK) {
		/* Only an org line changes an existing org. */
		if (!update || ((!name || strcmp(name, org.name) == 0) &&
		    (!ext || strcmp(ext, org.external_id) == 0)))
			return OV_OK;
		if ((rc = vault_org_update(v, slug, name, ext, &org)) == OV_OK) {
			st->orgs_updated++;
			*action = "updated";
		}
		return rc;
	}
	if (rc != OV_ENOTFOUND)
		return rc;
	snprintf(org.slug, sizeof(org.slug), "%s", slug);
	snprintf(org.name, sizeof(org.name), "%s", name ? name : "");
	snprintf(org.external_id, sizeof(org.external_id), "%s",
	    ext ? ext : "");
	if ((rc = vault_org_add(v, &org)) == OV_OK) {
		st->orgs_created++;
		*action = "created";
	}
	return rc;
}

/* {"org", "org_name", "external_id"}: nothing else. */
static enum ov_rc
org_line(struct vault *v, json_t *o, struct import_stats *st,
    json_t *report)
{
	static const char *const keys[] = { "org", "org_name", "external_id" };
	const char *key, *action;
	json_t *val;
	enum ov_rc rc;

	json_object_foreach(o, key, val) {
		size_t i;

		for (i = 0; i < 3 && strcmp(key, keys[i]) != 0; i++)
			;
		if (i == 3)
			return ov_seterr(OV_EINVAL, "%s: an org line (no "
			    "\"name\") has only org, org_name and external_id",
			    key);
		if (!json_is_string(val) ||
		    strlen(json_string_value(val)) != json_string_length(val))
			return ov_seterr(OV_EINVAL, "%s must be a string "
			    "without NUL characters", key);
	}
	if (field(o, "org") == NULL)
		return ov_seterr(OV_EINVAL, "\"org\" is required");
	if ((rc = ensure_org(v, o, field(o, "org"), 1, st, &action)) != OV_OK)
		return rc;
	json_object_set_new(report, "kind", json_string("org"));
	json_object_set_new(report, "org", json_string(field(o, "org")));
	json_object_set_new(report, "action", json_string(action));
	return OV_OK;
}

static json_t *
secret_names(int cs, int rt)
{
	json_t *a = json_array();

	if (cs)
		json_array_append_new(a, json_string("client_secret"));
	if (rt)
		json_array_append_new(a, json_string("refresh_token"));
	return a;
}

/* What a credential line did, into report and the counts. */
static void
cred_report(const struct vault_put_result *r, struct import_stats *st,
    json_t *report)
{
	json_t *changed = json_array();
	const char *action = r->created ? "created" : "updated";
	char buf[sizeof(r->changed)], *f, *save = NULL;

	snprintf(buf, sizeof(buf), "%s", r->changed);
	for (f = strtok_r(buf, ",", &save); f; f = strtok_r(NULL, ",", &save))
		json_array_append_new(changed, json_string(f));
	if (!r->created && json_array_size(changed) == 0 &&
	    !r->client_secret_changed && !r->refresh_token_changed)
		action = "unchanged";
	if (r->created)
		st->created++;
	else if (strcmp(action, "unchanged") == 0)
		st->unchanged++;
	else
		st->updated++;
	json_object_set_new(report, "action", json_string(action));
	json_object_set_new(report, "changed", changed);
	json_object_set_new(report, "secrets_replaced", secret_names(
	    r->client_secret_changed, r->refresh_token_changed));
	json_object_set_new(report, "moved", json_boolean(r->moved));
}

static enum ov_rc
import_line(struct vault *v, const char *line, size_t len,
    const struct import_opts *opt, struct import_stats *st, json_t *report)
{
	struct cred_input in;
	struct vault_cred c;
	struct vault_put_result res;
	struct secret *cs = NULL, *rt = NULL;
	static const char *const import_extra[] = { "org", "name",
	    "org_name", "external_id", NULL };
	json_error_t jerr;
	const char *bad, *org_action;
	json_t *o;
	enum ov_rc rc;

	o = json_loadb(line, len, JSON_REJECT_DUPLICATES, &jerr);
	if (!json_is_object(o)) {
		json_decref(o);
		return ov_seterr(OV_EINVAL, "not a JSON object (column %d)",
		    jerr.column);
	}
	if (json_object_get(o, "name") == NULL) {
		rc = org_line(v, o, st, report);
		goto out;
	}
	memset(&in, 0, sizeof(in));
	if ((rc = provider_input_json(o, import_extra, &in, &cs, &rt,
	    &bad)) != OV_OK)
		goto out;
	in.org = field(o, "org");
	in.name = field(o, "name");
	if (in.org == NULL || in.name == NULL) {
		rc = ov_seterr(OV_EINVAL, "\"org\" and \"name\" are required");
		goto out;
	}
	json_object_set_new(report, "kind", json_string("credential"));
	json_object_set_new(report, "org", json_string(in.org));
	json_object_set_new(report, "name", json_string(in.name));
	if ((rc = ensure_org(v, o, in.org, 0, st, &org_action)) != OV_OK)
		goto out;
	if ((rc = provider_resolve_put(v, &in, &c)) ||
	    (rc = vault_cred_put_ex(v, &c, cs, rt, opt->replace_secrets ? 0 :
	    VAULT_PUT_KEEP_SECRETS, &res)))
		goto out;
	cred_report(&res, st, report);
out:
	secret_free(cs);
	secret_free(rt);
	json_decref(o);	/* jansson's free wipes (secret_json_wipe_on_free) */
	return rc;
}

/* A refusal (a secret that would be replaced or follow a new
 * destination, a replayed refresh token) is listed and the import goes
 * on to list them all; any other error stops it at once. */
static int
refusal(enum ov_rc rc)
{
	return rc == OV_ECONFLICT || rc == OV_ESECRET;
}

/* The per-line report: stdout in a dry run. */
static void
line_show(const struct import_opts *opt, json_t *r)
{
	json_t *c = json_object_get(r, "changed");
	json_t *s = json_object_get(r, "secrets_replaced");
	const char *name = field(r, "name");

	if (!opt->dry)
		return;
	if (opt->json) {
		cli_print_json_line(r);
		return;
	}
	printf("line %lld: %s%s%s: %s", (long long)json_integer_value(
	    json_object_get(r, "line")), field(r, "org") ? field(r, "org") :
	    "?", name ? "/" : " (org)", name ? name : "", field(r, "action") ?
	    field(r, "action") : "?");
	if (json_array_size(c)) {
		printf("; changes");
		for (size_t i = 0; i < json_array_size(c); i++)
			printf("%s%s", i ? ", " : " ",
			    json_string_value(json_array_get(c, i)));
	}
	if (json_array_size(s)) {
		printf("; replaces");
		for (size_t i = 0; i < json_array_size(s); i++)
			printf("%s%s", i ? ", " : " ",
			    json_string_value(json_array_get(s, i)));
	}
	if (json_is_true(json_object_get(r, "moved")))
		printf("; new destination");
	if (field(r, "error"))
		printf(": %s", field(r, "error"));
	printf("\n");
}

/* Reads lines into wiped memory; a line over the cap is an error. */
static enum ov_rc
import_stream(struct vault *v, FILE *in, const struct import_opts *opt,
    struct import_stats *st)
{
	char *line;
	size_t cap = OV_IMPORT_LINE_MAX + 2, len;
	enum ov_rc rc = OV_OK;

	if ((line = sodium_malloc(cap)) == NULL)
		return ov_seterr(OV_ENOMEM, "out of secure memory");
	while (fgets(line, (int)cap, in) != NULL) {
		json_t *report;

		st->lines++;
		len = strlen(line);
		if (len == cap - 1 && line[len - 1] != '\n') {
			rc = ov_seterr(OV_ELIMIT, "line %ld is longer than %d "
			    "bytes", st->lines, OV_IMPORT_LINE_MAX);
			break;
		}
		while (len && (line[len - 1] == '\n' || line[len - 1] == '\r'))
			len--;
		if (len == 0)
			continue;
		report = json_pack("{s:I}", "line", (json_int_t)st->lines);
		rc = import_line(v, line, len, opt, st, report);
		sodium_memzero(line, cap);
		if (rc != OV_OK && refusal(rc)) {
			st->refused++;
			json_object_set_new(report, "action",
			    json_string("refused"));
			json_object_set_new(report, "error",
			    json_string(ov_errmsg()));
			fprintf(stderr, "orgvault: line %ld refused: %s\n",
			    st->lines, ov_errmsg());
			rc = OV_OK;
		}
		if (rc == OV_OK)
			line_show(opt, report);
		json_decref(report);
		if (rc != OV_OK) {
			char why[OV_ERRMSG_MAX];

			snprintf(why, sizeof(why), "%s", ov_errmsg());
			rc = ov_seterr(rc, "line %ld: %s; nothing was imported",
			    st->lines, why);
			break;
		}
	}
	if (rc == OV_OK && ferror(in))
		rc = ov_seterr(OV_EIO, "cannot read the import file");
	if (rc == OV_OK && st->refused)
		rc = ov_seterr(OV_ECONFLICT, "%ld line(s) refused (listed "
		    "above); nothing was imported", st->refused);
	sodium_free(line);
	return rc;
}

enum ov_rc
cmd_import_lines(struct vault *v, FILE *in)
{
	static const struct import_opts opt = { 0, 0, 0 };
	struct import_stats st = { 0 };

	return import_stream(v, in, &opt, &st);
}

int
cmd_import(struct cli *cli, int argc, char **argv)
{
	static const struct option opts[] = {
		{ "dry-run",		no_argument, NULL, 'n' },
		{ "replace-secrets",	no_argument, NULL, 'r' },
		{ "json",		no_argument, NULL, 'j' },
		{ "help",		no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	struct import_opts opt = { 0 };
	struct import_stats st = { 0 };
	struct vault *v;
	FILE *in;
	char *iobuf = NULL;
	int ch, ec;
	enum ov_rc rc;

	while ((ch = cli_getopt(argc, argv, "h", opts)) != -1) {
		switch (ch) {
		case 'n': opt.dry = 1; break;
		case 'r': opt.replace_secrets = 1; break;
		case 'j': opt.json = 1; break;
		case 'h': fputs(import_usage, stdout); return 0;
		default: return cli_usage_error(import_usage, "%s", cli_opt_error());
		}
	}
	if (optind != argc - 1)
		return cli_usage_error(import_usage, "import needs one FILE "
		    "or '-'");
	if (strcmp(argv[optind], "-") == 0) {
		if (cli->passphrase_file &&
		    strcmp(cli->passphrase_file, "-") == 0)
			return cli_usage_error(import_usage, "stdin cannot "
			    "hold both the passphrase and the import");
		in = stdin;
	} else if ((in = fopen(argv[optind], "re")) == NULL) {
		ov_seterr(OV_ENOTFOUND, "cannot open %s", argv[optind]);
		return cli_fail(OV_ENOTFOUND);
	}
	/* stdio's buffer holds secrets too: give it one we wipe. */
	if ((iobuf = sodium_malloc(IMPORT_IOBUF)) == NULL ||
	    setvbuf(in, iobuf, _IOFBF, IMPORT_IOBUF) != 0) {
		ec = cli_fail(ov_seterr(OV_ENOMEM, "out of secure memory"));
		goto out;
	}
	if ((ec = cli_open(cli, 0, &v)) != 0)
		goto out;
	if ((rc = vault_begin(v)) == OV_OK) {
		rc = import_stream(v, in, &opt, &st);
		if (rc == OV_OK && !opt.dry)
			rc = vault_commit(v);
		else
			vault_rollback(v);
	}
	vault_close(v);
	if (rc != OV_OK) {
		ec = cli_fail(rc);
		goto out;
	}
	if (opt.json && !opt.dry)
		cli_print_json(json_pack("{s:b, s:I, s:I, s:I, s:I, s:I, s:I}",
		    "dry_run", 0, "lines", (json_int_t)st.lines,
		    "orgs_created", (json_int_t)st.orgs_created, "orgs_updated",
		    (json_int_t)st.orgs_updated, "credentials_created",
		    (json_int_t)st.created, "credentials_updated",
		    (json_int_t)st.updated, "credentials_unchanged",
		    (json_int_t)st.unchanged));
	else if (!opt.json)
		printf("%s%ld line(s): %ld org(s) created, %ld updated; %ld "
		    "credential(s) created, %ld updated, %ld unchanged\n",
		    opt.dry ? "dry run, nothing saved: " : "", st.lines,
		    st.orgs_created, st.orgs_updated, st.created, st.updated,
		    st.unchanged);
out:
	if (in != stdin)
		fclose(in);
	else
		setvbuf(in, NULL, _IONBF, 0);
	sodium_free(iobuf);	/* wipes */
	return ec;
}

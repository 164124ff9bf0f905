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
"usage: orgvault import FILE|- [--dry-run] [--json]\n"
"\n"
"Reads one JSON object per line and creates or updates one credential\n"
"per line, creating its org when it does not exist yet:\n"
"\n"
"  {\"org\":\"acme\", \"org_name\":\"Acme\", \"external_id\":\"...\",\n"
"   \"name\":\"main\", \"provider\":\"genesys\", \"region\":\"us_east_1\",\n"
"   \"client_id\":\"...\", \"client_secret\":\"...\", \"scope\":\"a b\",\n"
"   \"grant\":\"refresh_token\", \"refresh_token\":\"...\", \"auth\":\"basic\",\n"
"   \"instance\":\"...\", \"token_url\":\"...\", \"refresh_at\":\"0.75\"}\n"
"\n"
"Fields mean what the `cred put` options of the same name mean.  The\n"
"whole file is one transaction: the first bad line (named by number) stops\n"
"the import and nothing is changed.  Lines are at most 65536 bytes.\n"
"--dry-run validates every line and changes nothing.  The file holds\n"
"secrets: delete it (or use '-') once imported.\n";

#define IMPORT_IOBUF	(64 * 1024)

struct import_stats {
	long	lines, orgs_created, created, updated;
};

static const char *
field(json_t *o, const char *key)
{
	json_t *v = json_object_get(o, key);

	return json_is_string(v) ? json_string_value(v) : NULL;
}

static enum ov_rc
ensure_org(struct vault *v, json_t *o, const char *slug,
    struct import_stats *st)
{
	struct vault_org org = { 0 };
	const char *name = field(o, "org_name"), *ext = field(o, "external_id");
	enum ov_rc rc;

	if ((rc = vault_org_get(v, slug, &org)) != OV_ENOTFOUND)
		return rc;
	if ((rc = validate_slug("org", slug)) ||
	    (name && (rc = validate_text("org_name", name, OV_NAME_MAX))) ||
	    (ext && (rc = validate_text("external_id", ext,
	    OV_EXTERNAL_ID_MAX))))
		return rc;
	snprintf(org.slug, sizeof(org.slug), "%s", slug);
	snprintf(org.name, sizeof(org.name), "%s", name ? name : "");
	snprintf(org.external_id, sizeof(org.external_id), "%s",
	    ext ? ext : "");
	if ((rc = vault_org_add(v, &org)) == OV_OK)
		st->orgs_created++;
	return rc;
}

static enum ov_rc
import_line(struct vault *v, const char *line, size_t len,
    struct import_stats *st)
{
	struct cred_input in;
	struct vault_cred old, c;
	struct secret *cs = NULL, *rt = NULL;
	static const char *const import_extra[] = { "org", "name",
	    "org_name", "external_id", NULL };
	json_error_t jerr;
	const char *bad;
	json_t *o;
	int created;
	enum ov_rc rc;

	o = json_loadb(line, len, JSON_REJECT_DUPLICATES, &jerr);
	if (!json_is_object(o)) {
		json_decref(o);
		return ov_seterr(OV_EINVAL, "not a JSON object (column %d)",
		    jerr.column);
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
	if ((rc = ensure_org(v, o, in.org, st)) != OV_OK)
		goto out;
	rc = vault_cred_get(v, in.org, in.name, &old);
	if (rc != OV_OK && rc != OV_ENOTFOUND)
		goto out;
	if ((rc = provider_resolve(&in, rc == OV_OK ? &old : NULL, &c)) ||
	    (rc = vault_cred_put(v, &c, cs, rt, &created)))
		goto out;
	if (created)
		st->created++;
	else
		st->updated++;
out:
	secret_free(cs);
	secret_free(rt);
	json_decref(o);	/* jansson's free wipes (secret_json_wipe_on_free) */
	return rc;
}

/* Reads lines into wiped memory; a line over the cap is an error. */
static enum ov_rc
import_stream(struct vault *v, FILE *in, struct import_stats *st)
{
	char *line;
	size_t cap = OV_IMPORT_LINE_MAX + 2, len;
	enum ov_rc rc = OV_OK;

	if ((line = sodium_malloc(cap)) == NULL)
		return ov_seterr(OV_ENOMEM, "out of secure memory");
	while (fgets(line, (int)cap, in) != NULL) {
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
		if ((rc = import_line(v, line, len, st)) != OV_OK) {
			char why[OV_ERRMSG_MAX];

			snprintf(why, sizeof(why), "%s", ov_errmsg());
			rc = ov_seterr(rc, "line %ld: %s; nothing was imported",
			    st->lines, why);
			break;
		}
		sodium_memzero(line, cap);
	}
	if (rc == OV_OK && ferror(in))
		rc = ov_seterr(OV_EIO, "cannot read the import file");
	sodium_free(line);
	return rc;
}

enum ov_rc
cmd_import_lines(struct vault *v, FILE *in)
{
	struct import_stats st = { 0 };

	return import_stream(v, in, &st);
}

int
cmd_import(struct cli *cli, int argc, char **argv)
{
	static const struct option opts[] = {
		{ "dry-run",	no_argument, NULL, 'n' },
		{ "json",	no_argument, NULL, 'j' },
		{ "help",	no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	struct import_stats st = { 0 };
	struct vault *v;
	FILE *in;
	char *iobuf = NULL;
	int ch, dry = 0, json = 0, ec;
	enum ov_rc rc;

	while ((ch = cli_getopt(argc, argv, "h", opts)) != -1) {
		switch (ch) {
		case 'n': dry = 1; break;
		case 'j': json = 1; break;
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
		rc = import_stream(v, in, &st);
		if (rc == OV_OK && !dry)
			rc = vault_commit(v);
		else
			vault_rollback(v);
	}
	vault_close(v);
	if (rc != OV_OK) {
		ec = cli_fail(rc);
		goto out;
	}
	if (json)
		cli_print_json(json_pack("{s:b, s:I, s:I, s:I, s:I}", "dry_run",
		    dry, "lines", (json_int_t)st.lines, "orgs_created",
		    (json_int_t)st.orgs_created, "credentials_created",
		    (json_int_t)st.created, "credentials_updated",
		    (json_int_t)st.updated));
	else
		printf("%s%ld line(s): %ld org(s) created, %ld credential(s) "
		    "created, %ld updated\n", dry ? "dry run, nothing saved: " :
		    "", st.lines, st.orgs_created, st.created, st.updated);
out:
	if (in != stdin)
		fclose(in);
	else
		setvbuf(in, NULL, _IONBF, 0);
	sodium_free(iobuf);	/* wipes */
	return ec;
}

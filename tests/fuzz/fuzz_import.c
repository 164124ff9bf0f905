/*
 * fuzz_import.c — `orgvault import`, the one file orgvault reads that is
 * close to a configuration: JSON lines of orgs and credentials with their
 * secrets (cmd/cmd_import.c), through provider_input_json(),
 * provider_resolve() and the vault, as `import --dry-run` runs it.
 *
 * The vault is a real one in a temporary directory holding org acme and
 * credential acme/main; each input is read by cmd_import_lines() inside
 * vault_begin() and rolled back, so every input starts from that state.
 *
 * Input: the file.  Checked: an import either succeeds or fails with a
 * user's error (invalid, over a limit, a conflict), never an integrity,
 * I/O, memory or internal error.
 */
#define FUZZ_OWN_INIT
#include "fuzz.h"
#include "cmd/cli.h"

static struct vault *v;

int
LLVMFuzzerInitialize(int *argc, char ***argv)
{
	struct vault_org org = { .slug = "acme", .name = "Acme" };

	(void)argc;
	(void)argv;
	fuzz_init();
	v = fuzz_vault(fuzz_tmpdir(), "vault");
	if (vault_org_add(v, &org) != OV_OK)
		fuzz_fail("org: %s", ov_errmsg());
	fuzz_cred(v, "acme", "main", "client_credentials");
	return 0;
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	FILE *f;
	enum ov_rc rc;

	if (size == 0)		/* fmemopen refuses an empty buffer */
		return 0;
	if ((f = fmemopen((void *)data, size, "r")) == NULL)
		fuzz_fail("fmemopen failed");
	if (vault_begin(v) != OV_OK)
		fuzz_fail("vault_begin: %s", ov_errmsg());
	rc = cmd_import_lines(v, f);
	vault_rollback(v);
	fclose(f);
	if (rc != OV_OK && rc != OV_EINVAL && rc != OV_ELIMIT &&
	    rc != OV_ECONFLICT && rc != OV_EUSAGE && rc != OV_ESECRET)
		fuzz_fail("import: %s: %s", ov_rc_str(rc), ov_errmsg());
	return 0;
}

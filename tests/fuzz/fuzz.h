/*
 * fuzz.h — what the libFuzzer targets of tests/fuzz/ share: the process
 * setup the real binary does, splitting one input into fields, failing
 * loudly when a parser breaks a promise its header makes, and a vault
 * in a temporary directory for the targets that go through the store.
 *
 * Everything is static inline so each target uses only what it needs;
 * a target that needs more set-up than fuzz_init() defines
 * FUZZ_OWN_INIT and its own LLVMFuzzerInitialize().  An invariant that
 * does not hold calls fuzz_fail(): libFuzzer reports it as a crash and
 * writes the reproducer.
 */
#ifndef OV_FUZZ_H
#define OV_FUZZ_H

#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <sodium.h>

#include "rotation/oauth.h"
#include "rotation/provider.h"
#include "util/err.h"
#include "util/log.h"
#include "util/netpolicy.h"
#include "util/secret.h"
#include "vault/vault.h"

int	LLVMFuzzerInitialize(int *, char ***);
int	LLVMFuzzerTestOneInput(const uint8_t *, size_t);

static inline void __attribute__((format(printf, 1, 2), noreturn))
fuzz_fail(const char *fmt, ...)
{
	va_list ap;

	fputs("fuzz invariant broken: ", stderr);
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputc('\n', stderr);
	abort();
}

/* What main() does first (cmd/main.c harden()): libsodium, jansson's
 * wiping free, libcurl's wiping allocators; and a quiet log. */
static inline void
fuzz_init(void)
{
	umask(077);
	if (sodium_init() < 0)
		fuzz_fail("sodium_init failed");
	secret_json_wipe_on_free();
	if (oauth_global_init() != 0)
		fuzz_fail("libcurl failed to initialise");
	log_init(LOG_LVL_ERROR, 0);
	/* The seeds' loopback URLs stay accepted; no input is resolved. */
	if (netpolicy_allow("127.0.0.0/8", "fuzz") != OV_OK)
		fuzz_fail("netpolicy_allow: %s", ov_errmsg());
	netpolicy_resolve_names(0);
}

#ifndef FUZZ_OWN_INIT
int
LLVMFuzzerInitialize(int *argc, char ***argv)
{
	(void)argc;
	(void)argv;
	fuzz_init();
	return 0;
}
#endif

/* A NUL-terminated copy of n bytes (the parser sees a C string that
 * may be shorter than n when the input holds a NUL). */
static inline char *
fuzz_strndup(const uint8_t *p, size_t n)
{
	char *s = malloc(n + 1);

	if (s == NULL)
		fuzz_fail("out of memory");
	memcpy(s, p, n);
	s[n] = '\0';
	return s;
}

/*
 * The next field of an input: the bytes up to the next '\n' (or the
 * end).  *p and *n advance past it.  Returns a malloc'd C string.
 */
static inline char *
fuzz_field(const uint8_t **p, size_t *n)
{
	const uint8_t *nl = memchr(*p, '\n', *n);
	size_t len = nl ? (size_t)(nl - *p) : *n;
	char *s = fuzz_strndup(*p, len);

	*p += len + (nl != NULL);
	*n -= len + (nl != NULL);
	return s;
}

/* True when s is printable ASCII (what sanitised text must be). */
static inline int
fuzz_printable(const char *s, size_t max)
{
	size_t i;

	for (i = 0; i < max && s[i]; i++)
		if ((unsigned char)s[i] < 0x20 || (unsigned char)s[i] > 0x7e)
			return 0;
	return i < max;		/* NUL-terminated within max */
}

/* A new directory under TMPDIR (or /tmp), mode 0700; static storage. */
static inline const char *
fuzz_tmpdir(void)
{
	static char dir[256];
	const char *t = getenv("TMPDIR");

	snprintf(dir, sizeof(dir), "%s/ov-fuzz-XXXXXX", t && *t ? t : "/tmp");
	if (mkdtemp(dir) == NULL)
		fuzz_fail("mkdtemp %s failed", dir);
	return dir;
}

/* A vault made and opened in DIR/NAME, for the life of the process
 * (run.sh removes DIR afterwards). */
static inline struct vault *
fuzz_vault(const char *dir, const char *name)
{
	static char paths[4][512];
	static int npaths;
	struct vault_opts o = { .actor = "fuzz" };
	struct vault *v;

	if (npaths == 4)
		fuzz_fail("too many vaults");
	snprintf(paths[npaths], sizeof(paths[0]), "%s/%s", dir, name);
	o.data_dir = paths[npaths++];
	if (vault_init(&o, VAULT_KDF_INTERACTIVE) != OV_OK ||
	    vault_open(&o, 0, &v) != OV_OK)
		fuzz_fail("vault in %s: %s", o.data_dir, ov_errmsg());
	return v;
}

/* Credential org/name (the org exists) at a loopback token URL that
 * nothing answers; a refresh token too for that grant. */
static inline void
fuzz_cred(struct vault *v, const char *org, const char *name,
    const char *grant)
{
	struct cred_input in = { .org = org, .name = name,
	    .provider = "oauth2", .token_url = "http://127.0.0.1:9/oauth/token",
	    .client_id = "fuzz-client", .grant = grant, .scope = "a b" };
	struct secret *cs = NULL, *rt = NULL;
	struct vault_cred c;
	int created;

	if (provider_resolve(&in, NULL, &c) != OV_OK ||
	    secret_from("client-secret-1", 15, &cs) != OV_OK ||
	    secret_from("refresh-token-1", 15, &rt) != OV_OK ||
	    vault_cred_put(v, &c, cs, strcmp(grant, "refresh_token") == 0 ?
	    rt : NULL, &created) != OV_OK)
		fuzz_fail("credential %s/%s: %s", org, name, ov_errmsg());
	secret_free(cs);
	secret_free(rt);
}

#endif

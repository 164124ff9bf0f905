/* test_keyring.c — vault/keyring.c: key files, passphrases, data keys. */
#include "unit.h"

#include "vault/envelope.h"
#include "vault/keyring.h"

struct kfix {
	char	*dir;
	char	 path[PATH_MAX];	/* DIR/master.key, not yet made */
};

static int
setup(void **state)
{
	struct kfix *f = calloc(1, sizeof(*f));

	if (f == NULL || (f->dir = unit_tmpdir()) == NULL)
		return -1;
	snprintf(f->path, sizeof(f->path), "%s/master.key", f->dir);
	*state = f;
	return 0;
}

static int
teardown(void **state)
{
	struct kfix *f = *state;

	unit_rmrf(f->dir);
	free(f->dir);
	free(f);
	return 0;
}

static void
test_create_file(void **state)
{
	struct kfix *f = *state;
	struct keyring *kr = NULL, *kr2 = (struct keyring *)1;
	struct stat st;
	mode_t old = umask(0);	/* the file must be 0600 whatever the umask */

	assert_int_equal(keyring_create_file(f->path, &kr), OV_OK);
	umask(old);
	assert_non_null(kr);
	assert_int_equal(lstat(f->path, &st), 0);
	assert_true(S_ISREG(st.st_mode));
	assert_int_equal(st.st_mode & 07777, 0600);
	assert_int_equal(st.st_size, 32);
	assert_int_equal(st.st_uid, geteuid());
	/* No data keys yet. */
	assert_int_equal(keyring_newest(kr), 0);

	/* An existing file is never overwritten. */
	ov_clearerr();
	assert_int_equal(keyring_create_file(f->path, &kr2), OV_ECONFLICT);
	assert_ptr_equal(kr2, (struct keyring *)1);
	assert_non_null(strstr(ov_errmsg(), f->path));
	assert_int_equal(stat(f->path, &st), 0);
	assert_int_equal(st.st_size, 32);
	keyring_free(kr);
}

static void
test_create_refuses_symlink(void **state)
{
	struct kfix *f = *state;
	struct keyring *kr = NULL;
	char target[PATH_MAX + 16];
	struct stat st;

	snprintf(target, sizeof(target), "%s/elsewhere", f->dir);
	assert_int_equal(symlink(target, f->path), 0);
	assert_int_not_equal(keyring_create_file(f->path, &kr), OV_OK);
	assert_null(kr);
	assert_int_equal(lstat(target, &st), -1);	/* not created */
}

static void
test_created_file_loads_same_key(void **state)
{
	struct kfix *f = *state;
	struct keyring *a = NULL, *b = NULL;
	unsigned char ca[32], cb[32];

	assert_int_equal(keyring_create_file(f->path, &a), OV_OK);
	assert_int_equal(keyring_load_file(f->path, &b), OV_OK);
	keyring_check_value(a, ca);
	keyring_check_value(b, cb);
	assert_memory_equal(ca, cb, 32);
	keyring_free(a);
	keyring_free(b);
}

static void
expect_refused(const char *path, const char *needle)
{
	struct keyring *kr = NULL;

	ov_clearerr();
	assert_int_equal(keyring_load_file(path, &kr), OV_ECRYPTO);
	assert_null(kr);
	if (strstr(ov_errmsg(), needle) == NULL)
		fail_msg("message \"%s\" lacks \"%s\"", ov_errmsg(), needle);
}

static void
test_load_bad_mode(void **state)
{
	static const mode_t modes[] = { 0640, 0604, 0660, 0644, 0606, 0700,
	    0610, 0601 };
	struct kfix *f = *state;
	unsigned char key[32];
	struct keyring *kr = NULL;

	randombytes_buf(key, sizeof(key));
	for (size_t i = 0; i < sizeof(modes) / sizeof(modes[0]); i++) {
		unlink(f->path);
		assert_int_equal(unit_write_file(f->path, key, 32, modes[i]),
		    0);
		if (modes[i] & 077) {
			char want[PATH_MAX + 16];

			expect_refused(f->path, "chmod 600");
			snprintf(want, sizeof(want), "chmod 600 %s", f->path);
			expect_refused(f->path, want);
		} else {
			/* 0700 is still private: accepted. */
			assert_int_equal(keyring_load_file(f->path, &kr),
			    OV_OK);
			keyring_free(kr);
			kr = NULL;
		}
	}
	/* Back to 0600: accepted. */
	assert_int_equal(chmod(f->path, 0600), 0);
	assert_int_equal(keyring_load_file(f->path, &kr), OV_OK);
	keyring_free(kr);
}

static void
test_load_bad_size(void **state)
{
	static const size_t sizes[] = { 0, 1, 31, 33, 64 };
	struct kfix *f = *state;
	unsigned char buf[64] = { 0 };

	for (size_t i = 0; i < sizeof(sizes) / sizeof(sizes[0]); i++) {
		char want[32];

		unlink(f->path);
		assert_int_equal(unit_write_file(f->path, buf, sizes[i], 0600),
		    0);
		expect_refused(f->path, "restore it from your backup");
		snprintf(want, sizeof(want), "holds %zu bytes", sizes[i]);
		expect_refused(f->path, want);
	}
}

static void
test_load_symlink(void **state)
{
	struct kfix *f = *state;
	char target[PATH_MAX + 16];
	unsigned char key[32] = { 1 };

	snprintf(target, sizeof(target), "%s/real.key", f->dir);
	assert_int_equal(unit_write_file(target, key, 32, 0600), 0);
	assert_int_equal(symlink(target, f->path), 0);
	/* The target itself is fine; the link to it is refused. */
	{
		struct keyring *kr = NULL;

		assert_int_equal(keyring_load_file(target, &kr), OV_OK);
		keyring_free(kr);
	}
	expect_refused(f->path, f->path);
	expect_refused(f->path, "symbolic link");
}

static void
test_load_directory(void **state)
{
	struct kfix *f = *state;

	assert_int_equal(mkdir(f->path, 0700), 0);
	expect_refused(f->path, "not a regular file");
}

static void
test_load_fifo(void **state)
{
	struct kfix *f = *state;
	struct keyring *kr = NULL;
	int fd;

	/* A FIFO with a writer so open() does not block: not regular. */
	assert_int_equal(mkfifo(f->path, 0600), 0);
	fd = open(f->path, O_RDWR | O_NONBLOCK);
	assert_true(fd >= 0);
	ov_clearerr();
	assert_int_equal(keyring_load_file(f->path, &kr), OV_ECRYPTO);
	assert_non_null(strstr(ov_errmsg(), "not a regular file"));
	close(fd);
}

static void
test_load_missing(void **state)
{
	struct kfix *f = *state;
	struct keyring *kr = NULL;

	ov_clearerr();
	assert_int_equal(keyring_load_file(f->path, &kr), OV_ENOTFOUND);
	assert_null(kr);
	assert_non_null(strstr(ov_errmsg(), "--passphrase-file"));
}

static void
test_load_wrong_owner(void **state)
{
	struct kfix *f = *state;
	unsigned char key[32];
	char want[64];

	if (geteuid() != 0)
		skip();
	randombytes_buf(key, sizeof(key));
	assert_int_equal(unit_write_file(f->path, key, 32, 0600), 0);
	assert_int_equal(chown(f->path, 65534, 65534), 0);
	expect_refused(f->path, "chown");
	expect_refused(f->path, "uid 65534");
	snprintf(want, sizeof(want), "chown %u ", (unsigned)geteuid());
	expect_refused(f->path, want);
	/* The owner is judged before the mode: one fix at a time. */
	assert_int_equal(chmod(f->path, 0644), 0);
	expect_refused(f->path, "chown");
}

static void
test_data_key_round_trip(void **state)
{
	struct kfix *f = *state;
	struct keyring *a = NULL, *b = NULL;
	unsigned char *w1 = NULL, *w2 = NULL, *env = NULL;
	size_t w1len, w2len, envlen;
	struct secret *out = NULL;
	const char msg[] = "the client secret";
	uint32_t kv;

	assert_int_equal(keyring_create_file(f->path, &a), OV_OK);
	assert_int_equal(keyring_new_data_key(a, 1, &w1, &w1len), OV_OK);
	assert_int_equal(w1len, 32 + ENVELOPE_OVERHEAD);
	assert_int_equal(keyring_newest(a), 1);
	assert_int_equal(keyring_new_data_key(a, 2, &w2, &w2len), OV_OK);
	assert_int_equal(keyring_newest(a), 2);
	assert_int_equal(envelope_key_version(w2, w2len, &kv), OV_OK);
	assert_int_equal(kv, 2);

	assert_int_equal(keyring_load_file(f->path, &b), OV_OK);
	assert_int_equal(keyring_newest(b), 0);
	/* Wrapped keys are bound to their version. */
	assert_int_not_equal(keyring_add_data_key(b, 2, w1, w1len), OV_OK);
	assert_int_not_equal(keyring_add_data_key(b, 1, w2, w2len), OV_OK);
	assert_int_equal(keyring_newest(b), 0);
	assert_int_equal(keyring_add_data_key(b, 1, w1, w1len), OV_OK);
	assert_int_equal(keyring_add_data_key(b, 2, w2, w2len), OV_OK);
	assert_int_equal(keyring_newest(b), 2);

	/* Sealed by a with the newest key (2), opened by b. */
	assert_int_equal(keyring_seal(a, "t|c|1|1|1",
	    (const unsigned char *)msg, sizeof(msg) - 1, &env, &envlen), OV_OK);
	assert_int_equal(envelope_key_version(env, envlen, &kv), OV_OK);
	assert_int_equal(kv, 2);
	assert_int_equal(keyring_open(b, "t|c|1|1|1", env, envlen, &out),
	    OV_OK);
	assert_int_equal(out->len, sizeof(msg) - 1);
	assert_memory_equal(out->buf, msg, sizeof(msg) - 1);
	secret_free(out);
	out = NULL;
	/* Binding still matters through the keyring. */
	assert_int_equal(keyring_open(b, "t|c|1|1|2", env, envlen, &out),
	    OV_EINTEGRITY);
	assert_null(out);
	free(env);

	/* And the other way round. */
	assert_int_equal(keyring_seal(b, "x", (const unsigned char *)"y", 1,
	    &env, &envlen), OV_OK);
	assert_int_equal(keyring_open(a, "x", env, envlen, &out), OV_OK);
	assert_int_equal(out->len, 1);
	assert_int_equal(out->buf[0], 'y');
	secret_free(out);
	free(env);
	free(w1);
	free(w2);
	keyring_free(a);
	keyring_free(b);
}

static void
test_seal_without_data_key(void **state)
{
	struct kfix *f = *state;
	struct keyring *kr = NULL;
	unsigned char *env = NULL;
	size_t envlen;

	assert_int_equal(keyring_create_file(f->path, &kr), OV_OK);
	assert_int_equal(keyring_seal(kr, "b", (const unsigned char *)"x", 1,
	    &env, &envlen), OV_EINTEGRITY);
	assert_null(env);
	keyring_free(kr);
}

static void
test_open_unknown_version(void **state)
{
	struct kfix *f = *state;
	struct keyring *kr = NULL;
	unsigned char *w = NULL, dk[32], *env = NULL;
	struct secret *out = NULL;
	size_t wlen, envlen;

	assert_int_equal(keyring_create_file(f->path, &kr), OV_OK);
	assert_int_equal(keyring_new_data_key(kr, 1, &w, &wlen), OV_OK);
	randombytes_buf(dk, sizeof(dk));
	assert_int_equal(envelope_seal(dk, 5, "b", (const unsigned char *)"x",
	    1, &env, &envlen), OV_OK);
	ov_clearerr();
	assert_int_equal(keyring_open(kr, "b", env, envlen, &out),
	    OV_EINTEGRITY);
	assert_null(out);
	assert_non_null(strstr(ov_errmsg(), "version 5"));
	free(env);
	free(w);
	keyring_free(kr);
}

static void
test_other_master_key(void **state)
{
	struct kfix *f = *state;
	struct keyring *a = NULL, *b = NULL;
	unsigned char *w = NULL, ca[32], cb[32];
	char other[PATH_MAX + 16];
	size_t wlen;

	snprintf(other, sizeof(other), "%s/other.key", f->dir);
	assert_int_equal(keyring_create_file(f->path, &a), OV_OK);
	assert_int_equal(keyring_create_file(other, &b), OV_OK);
	assert_int_equal(keyring_new_data_key(a, 1, &w, &wlen), OV_OK);
	ov_clearerr();
	assert_int_equal(keyring_add_data_key(b, 1, w, wlen), OV_EINTEGRITY);
	assert_non_null(strstr(ov_errmsg(), "version 1"));
	assert_int_equal(keyring_newest(b), 0);
	keyring_check_value(a, ca);
	keyring_check_value(b, cb);
	assert_memory_not_equal(ca, cb, 32);
	free(w);
	keyring_free(a);
	keyring_free(b);
}

static void
test_tampered_wrapped_key(void **state)
{
	struct kfix *f = *state;
	struct keyring *a = NULL, *b = NULL;
	unsigned char *w = NULL;
	size_t wlen;

	assert_int_equal(keyring_create_file(f->path, &a), OV_OK);
	assert_int_equal(keyring_new_data_key(a, 1, &w, &wlen), OV_OK);
	assert_int_equal(keyring_load_file(f->path, &b), OV_OK);
	for (size_t i = 0; i < wlen; i++) {
		w[i] ^= 0x20;
		assert_int_not_equal(keyring_add_data_key(b, 1, w, wlen),
		    OV_OK);
		w[i] ^= 0x20;
	}
	assert_int_equal(keyring_newest(b), 0);
	assert_int_equal(keyring_add_data_key(b, 1, w, wlen), OV_OK);
	free(w);
	keyring_free(a);
	keyring_free(b);
}

static enum ov_rc
pp_keyring(const char *pp, const unsigned char salt[16], struct keyring **kr)
{
	struct keyring_kdf kdf = {
		.opslimit = crypto_pwhash_OPSLIMIT_MIN,
		.memlimit = crypto_pwhash_MEMLIMIT_MIN,
	};
	struct secret *s = unit_secret(pp);
	enum ov_rc rc;

	memcpy(kdf.salt, salt, 16);
	rc = keyring_from_passphrase(s, &kdf, kr);
	secret_free(s);
	return rc;
}

static void
test_passphrase(void **state)
{
	struct keyring *a = NULL, *b = NULL, *c = NULL, *d = NULL;
	unsigned char salt[16], salt2[16], va[32], vb[32], vc[32], vd[32];
	unsigned char *w = NULL;
	size_t wlen;

	(void)state;
	randombytes_buf(salt, sizeof(salt));
	memcpy(salt2, salt, sizeof(salt));
	salt2[15] ^= 1;
	assert_int_equal(pp_keyring("correct horse battery", salt, &a), OV_OK);
	assert_int_equal(pp_keyring("correct horse battery", salt, &b), OV_OK);
	assert_int_equal(pp_keyring("correct horse batterz", salt, &c), OV_OK);
	assert_int_equal(pp_keyring("correct horse battery", salt2, &d), OV_OK);
	keyring_check_value(a, va);
	keyring_check_value(b, vb);
	keyring_check_value(c, vc);
	keyring_check_value(d, vd);
	assert_memory_equal(va, vb, 32);
	assert_memory_not_equal(va, vc, 32);
	assert_memory_not_equal(va, vd, 32);

	/* Same passphrase and salt unwrap each other's data keys. */
	assert_int_equal(keyring_new_data_key(a, 1, &w, &wlen), OV_OK);
	assert_int_equal(keyring_add_data_key(b, 1, w, wlen), OV_OK);
	assert_int_not_equal(keyring_add_data_key(c, 1, w, wlen), OV_OK);
	assert_int_not_equal(keyring_add_data_key(d, 1, w, wlen), OV_OK);
	free(w);
	keyring_free(a);
	keyring_free(b);
	keyring_free(c);
	keyring_free(d);
}

static void
test_audit_mac(void **state)
{
	struct kfix *f = *state;
	struct keyring *a = NULL, *a2 = NULL, *b = NULL;
	unsigned char m1[32], m2[32], m3[32], m4[32], zero[32] = { 0 };
	const unsigned char data[] = "event canonical bytes";
	char other[PATH_MAX + 16];

	snprintf(other, sizeof(other), "%s/other.key", f->dir);
	assert_int_equal(keyring_create_file(f->path, &a), OV_OK);
	assert_int_equal(keyring_load_file(f->path, &a2), OV_OK);
	assert_int_equal(keyring_create_file(other, &b), OV_OK);

	keyring_audit_mac(a, data, sizeof(data) - 1, m1);
	keyring_audit_mac(a, data, sizeof(data) - 1, m2);
	assert_memory_equal(m1, m2, 32);
	keyring_audit_mac(a2, data, sizeof(data) - 1, m2);
	assert_memory_equal(m1, m2, 32);
	assert_memory_not_equal(m1, zero, 32);
	/* Another key, other data, or one byte less: another MAC. */
	keyring_audit_mac(b, data, sizeof(data) - 1, m3);
	assert_memory_not_equal(m1, m3, 32);
	keyring_audit_mac(a, data, sizeof(data) - 2, m4);
	assert_memory_not_equal(m1, m4, 32);
	/* Keyed: not the plain BLAKE2b of the data. */
	crypto_generichash(m4, 32, data, sizeof(data) - 1, NULL, 0);
	assert_memory_not_equal(m1, m4, 32);
	/* The audit subkey is not the check subkey. */
	keyring_check_value(a, m4);
	keyring_audit_mac(a, (const unsigned char *)
	    "orgvault master key check v1", 28, m3);
	assert_memory_not_equal(m3, m4, 32);
	keyring_free(a);
	keyring_free(a2);
	keyring_free(b);
}

/* key change-master: a copied key file, data keys moved and rewrapped. */
static void
test_copy_and_rewrap(void **state)
{
	struct kfix *f = *state;
	struct keyring *old = NULL, *nk = NULL, *again = NULL;
	unsigned char *w = NULL, *w2 = NULL, *env = NULL, ca[32], cb[32];
	char src[PATH_MAX + 16], dst[PATH_MAX + 16];
	unsigned char key[32];
	struct secret *out = NULL;
	size_t wlen, w2len, envlen;
	struct stat st;

	snprintf(src, sizeof(src), "%s/mine.key", f->dir);
	snprintf(dst, sizeof(dst), "%s/master.key.new", f->dir);
	randombytes_buf(key, sizeof(key));
	assert_int_equal(unit_write_file(src, key, sizeof(key), 0640), 0);
	assert_int_equal(keyring_copy_file(src, dst, &nk), OV_ECRYPTO);
	assert_null(nk);
	assert_int_equal(access(dst, F_OK), -1);	/* nothing made */
	assert_int_equal(chmod(src, 0600), 0);
	assert_int_equal(keyring_copy_file(src, dst, &nk), OV_OK);
	assert_int_equal(lstat(dst, &st), 0);
	assert_int_equal(st.st_mode & 07777, 0600);
	assert_int_equal(keyring_load_file(dst, &again), OV_OK);
	keyring_check_value(nk, ca);
	keyring_check_value(again, cb);
	assert_memory_equal(ca, cb, 32);

	assert_int_equal(keyring_create_file(f->path, &old), OV_OK);
	assert_int_equal(keyring_new_data_key(old, 1, &w, &wlen), OV_OK);
	assert_int_equal(keyring_seal(old, "b", (const unsigned char *)"x", 1,
	    &env, &envlen), OV_OK);
	assert_int_equal(keyring_wrap_data_key(nk, 1, &w2, &w2len),
	    OV_EINTEGRITY);			/* not held yet */
	assert_int_equal(keyring_copy_data_keys(nk, old), OV_OK);
	assert_int_equal(keyring_wrap_data_key(nk, 1, &w2, &w2len), OV_OK);
	/* The new wrapping opens with the new key only. */
	assert_int_equal(keyring_add_data_key(again, 1, w2, w2len), OV_OK);
	assert_int_equal(keyring_open(again, "b", env, envlen, &out), OV_OK);
	assert_memory_equal(out->buf, "x", 1);
	secret_free(out);
	keyring_free(old);
	old = NULL;
	assert_int_equal(keyring_load_file(f->path, &old), OV_OK);
	assert_int_not_equal(keyring_add_data_key(old, 1, w2, w2len), OV_OK);
	sodium_memzero(key, sizeof(key));
	free(w);
	free(w2);
	free(env);
	keyring_free(old);
	keyring_free(nk);
	keyring_free(again);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_create_file, setup,
		    teardown),
		cmocka_unit_test_setup_teardown(test_create_refuses_symlink,
		    setup, teardown),
		cmocka_unit_test_setup_teardown(
		    test_created_file_loads_same_key, setup, teardown),
		cmocka_unit_test_setup_teardown(test_load_bad_mode, setup,
		    teardown),
		cmocka_unit_test_setup_teardown(test_load_bad_size, setup,
		    teardown),
		cmocka_unit_test_setup_teardown(test_load_symlink, setup,
		    teardown),
		cmocka_unit_test_setup_teardown(test_load_directory, setup,
		    teardown),
		cmocka_unit_test_setup_teardown(test_load_fifo, setup,
		    teardown),
		cmocka_unit_test_setup_teardown(test_load_missing, setup,
		    teardown),
		cmocka_unit_test_setup_teardown(test_load_wrong_owner, setup,
		    teardown),
		cmocka_unit_test_setup_teardown(test_data_key_round_trip, setup,
		    teardown),
		cmocka_unit_test_setup_teardown(test_seal_without_data_key,
		    setup, teardown),
		cmocka_unit_test_setup_teardown(test_open_unknown_version,
		    setup, teardown),
		cmocka_unit_test_setup_teardown(test_other_master_key, setup,
		    teardown),
		cmocka_unit_test_setup_teardown(test_tampered_wrapped_key,
		    setup, teardown),
		cmocka_unit_test(test_passphrase),
		cmocka_unit_test_setup_teardown(test_audit_mac, setup,
		    teardown),
		cmocka_unit_test_setup_teardown(test_copy_and_rewrap, setup,
		    teardown),
	};

	unit_init();
	return cmocka_run_group_tests(tests, NULL, NULL);
}

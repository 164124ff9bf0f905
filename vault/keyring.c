/*
 * keyring.c — the only file that sees the master key.
 *
 * master key (32 bytes, key file or Argon2id)
 *   ├─ subkey 1 "wrap":  wraps data keys (envelope, binding
 *   │                    "keyring|data_key|<version>")
 *   ├─ subkey 2 "audit": keyed BLAKE2b of the audit hash chain
 *   └─ subkey 3 "check": MAC of a constant, stored at init, so a wrong
 *                        key is told apart from a tampered keyring
 * The master key is wiped as soon as the subkeys exist.  Changing the
 * master key (master.c) makes a second keyring, copies the data keys
 * into it and wraps them again with its wrap subkey.
 *
 * The MAC key (random, 32 bytes) is wrapped by the wrap subkey like a
 * data key (binding "keyring|mac_key"), kept in vault_meta, and so
 * survives a master-key change by a rewrap.  Two keys derive from it:
 *   1 "row":    keyed BLAKE2b of the rows that grant access or pick a
 *               secret (vault/bind.c)
 *   2 "digest": keyed BLAKE2b of secret values (equality in constant
 *               time, retired refresh tokens) — never the value itself
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <sodium.h>

#include "util/limits.h"
#include "vault/envelope.h"
#include "vault/keyring.h"

#define KEYRING_MAX_VERSIONS	64
#define SUBKEY_CTX		"orgvault"

struct data_key {
	uint32_t	 version;
	unsigned char	*key;	/* sodium_malloc, 32 bytes */
};

struct keyring {
	unsigned char	*subkeys;	/* sodium_malloc: wrap|audit|check */
	unsigned char	*mac;		/* sodium_malloc: root|row|digest */
	struct data_key	 data[KEYRING_MAX_VERSIONS];
	size_t		 ndata;
};

#define MAC_ROOT(kr)	((kr)->mac)
#define MAC_ROW(kr)	((kr)->mac + 32)
#define MAC_DIGEST(kr)	((kr)->mac + 64)
#define MAC_CTX		"ovrowmac"
#define MAC_BINDING	"keyring|mac_key"


#define WRAP_KEY(kr)	((kr)->subkeys)
#define AUDIT_KEY(kr)	((kr)->subkeys + 32)
#define CHECK_KEY(kr)	((kr)->subkeys + 64)

static enum ov_rc hold_data_key(struct keyring *, uint32_t,
    const unsigned char *);
static const struct data_key *data_key_find(const struct keyring *,
    uint32_t);

/* Derives the subkeys from master; the caller wipes master. */
static enum ov_rc
keyring_from_master(const unsigned char *master, struct keyring **out)
{
	struct keyring *kr;

	if ((kr = calloc(1, sizeof(*kr))) == NULL)
		return ov_seterr(OV_ENOMEM, "out of memory");
	if ((kr->subkeys = sodium_malloc(96)) == NULL) {
		free(kr);
		return ov_seterr(OV_ENOMEM, "out of secure memory");
	}
	for (int i = 0; i < 3; i++)
		crypto_kdf_derive_from_key(kr->subkeys + 32 * i, 32,
		    (uint64_t)i + 1, SUBKEY_CTX, master);
	*out = kr;
	return OV_OK;
}

void
keyring_free(struct keyring *kr)
{
	if (kr == NULL)
		return;
	for (size_t i = 0; i < kr->ndata; i++)
		sodium_free(kr->data[i].key);
	sodium_free(kr->subkeys);
	sodium_free(kr->mac);
	free(kr);
}

/* Holds root as the MAC key and derives its two keys. */
static enum ov_rc
mac_hold(struct keyring *kr, const unsigned char *root)
{
	if (kr->mac == NULL && (kr->mac = sodium_malloc(96)) == NULL)
		return ov_seterr(OV_ENOMEM, "out of secure memory");
	memcpy(MAC_ROOT(kr), root, 32);
	crypto_kdf_derive_from_key(MAC_ROW(kr), 32, 1, MAC_CTX, root);
	crypto_kdf_derive_from_key(MAC_DIGEST(kr), 32, 2, MAC_CTX, root);
	return OV_OK;
}

int
keyring_has_mac(const struct keyring *kr)
{
	return kr->mac != NULL;
}

enum ov_rc
keyring_mac_key_new(struct keyring *kr, unsigned char **wrapped, size_t *len)
{
	unsigned char *root;
	enum ov_rc rc;

	if ((root = sodium_malloc(32)) == NULL)
		return ov_seterr(OV_ENOMEM, "out of secure memory");
	randombytes_buf(root, 32);
	if ((rc = mac_hold(kr, root)) == OV_OK)
		rc = keyring_mac_key_wrap(kr, wrapped, len);
	sodium_free(root);
	return rc;
}

enum ov_rc
keyring_mac_key_wrap(const struct keyring *kr, unsigned char **wrapped,
    size_t *len)
{
	if (kr->mac == NULL)
		return ov_seterr(OV_EINTERNAL, "the keyring holds no MAC key");
	return envelope_seal(WRAP_KEY(kr), 0, MAC_BINDING, MAC_ROOT(kr), 32,
	    wrapped, len);
}

enum ov_rc
keyring_mac_key_add(struct keyring *kr, const unsigned char *wrapped,
    size_t len)
{
	struct secret *root;
	enum ov_rc rc;

	if ((rc = envelope_open(WRAP_KEY(kr), MAC_BINDING, wrapped, len,
	    &root)) != OV_OK)
		return ov_seterr(rc, "the row MAC key does not unwrap with the "
		    "master key: vault_meta was tampered with");
	if (root->len != 32)
		rc = ov_seterr(OV_EINTEGRITY, "the row MAC key has the wrong "
		    "length");
	else
		rc = mac_hold(kr, root->buf);
	secret_free(root);
	return rc;
}

void
keyring_row_mac(const struct keyring *kr, const unsigned char *data,
    size_t len, unsigned char out[32])
{
	crypto_generichash(out, 32, data, len, MAC_ROW(kr), 32);
}

void
keyring_secret_digest(const struct keyring *kr, const unsigned char *data,
    size_t len, unsigned char out[32])
{
	crypto_generichash(out, 32, data, len, MAC_DIGEST(kr), 32);
}

enum ov_rc
keyring_copy_data_keys(struct keyring *to, const struct keyring *from)
{
	for (size_t i = 0; i < from->ndata; i++)
		if (hold_data_key(to, from->data[i].version,
		    from->data[i].key) != OV_OK)
			return OV_ENOMEM;
	if (from->mac && mac_hold(to, MAC_ROOT(from)) != OV_OK)
		return OV_ENOMEM;
	return OV_OK;
}

enum ov_rc
keyring_dup(const struct keyring *kr, struct keyring **out)
{
	struct keyring *d;

	if ((d = calloc(1, sizeof(*d))) == NULL)
		return ov_seterr(OV_ENOMEM, "out of memory");
	if ((d->subkeys = sodium_malloc(96)) == NULL) {
		free(d);
		return ov_seterr(OV_ENOMEM, "out of secure memory");
	}
	memcpy(d->subkeys, kr->subkeys, 96);
	if (keyring_copy_data_keys(d, kr) != OV_OK) {
		keyring_free(d);
		return OV_ENOMEM;
	}
	*out = d;
	return OV_OK;
}

/* Writes master to a new PATH (O_EXCL, 0600, fsync'd); nothing is left
 * behind on failure. */
static enum ov_rc
key_file_write(const char *path, const unsigned char *master)
{
	enum ov_rc rc;
	int fd;

	fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC,
	    0600);
	if (fd == -1)
		return ov_seterr(errno == EEXIST ? OV_ECONFLICT : OV_EIO,
		    "cannot create key file %s: %s", path, strerror(errno));
	if (write(fd, master, OV_MASTER_KEY_LEN) != OV_MASTER_KEY_LEN ||
	    fsync(fd) != 0) {
		rc = ov_seterr(OV_EIO, "cannot write key file %s: %s", path,
		    strerror(errno));
		close(fd);
		unlink(path);
		return rc;
	}
	close(fd);
	return OV_OK;
}

enum ov_rc
keyring_create_file(const char *path, struct keyring **out)
{
	unsigned char *master;
	enum ov_rc rc;

	if ((master = sodium_malloc(OV_MASTER_KEY_LEN)) == NULL)
		return ov_seterr(OV_ENOMEM, "out of secure memory");
	randombytes_buf(master, OV_MASTER_KEY_LEN);
	if ((rc = key_file_write(path, master)) == OV_OK)
		rc = keyring_from_master(master, out);
	sodium_free(master);
	return rc;
}

/* Refusals say what is wrong and how to fix it. */
static enum ov_rc
key_file_check(const char *path, const struct stat *st)
{
	if (!S_ISREG(st->st_mode))
		return ov_seterr(OV_ECRYPTO, "key file %s is not a regular "
		    "file; put the 32-byte key file there (mode 0600)", path);
	if (st->st_uid != geteuid())
		return ov_seterr(OV_ECRYPTO, "key file %s is owned by uid %u, "
		    "not by uid %u that runs orgvault; fix with: chown %u %s",
		    path, (unsigned)st->st_uid, (unsigned)geteuid(),
		    (unsigned)geteuid(), path);
	if (st->st_mode & 077)
		return ov_seterr(OV_ECRYPTO, "key file %s is accessible by "
		    "group or others (mode %04o); fix with: chmod 600 %s",
		    path, (unsigned)(st->st_mode & 07777), path);
	if (st->st_size != OV_MASTER_KEY_LEN)
		return ov_seterr(OV_ECRYPTO, "key file %s holds %lld bytes, "
		    "not %d: it is not an orgvault master key (restore it from "
		    "your backup)", path, (long long)st->st_size,
		    OV_MASTER_KEY_LEN);
	return OV_OK;
}

/* Reads the key file PATH into master (OV_MASTER_KEY_LEN bytes). */
static enum ov_rc
key_file_read(const char *path, unsigned char *master)
{
	struct stat st;
	enum ov_rc rc;
	ssize_t n;
	int fd;

	fd = open(path, O_RDONLY | O_NOFOLLOW | O_CLOEXEC | O_NOCTTY);
	if (fd == -1)
		return ov_seterr(errno == ENOENT ? OV_ENOTFOUND : OV_ECRYPTO,
		    "cannot open key file %s: %s%s", path, strerror(errno),
		    errno == ENOENT ? " (restore it from your backup; a "
		    "passphrase vault needs --passphrase-file)" :
		    errno == ELOOP ? " (it is a symbolic link; put the key "
		    "file itself there, mode 0600)" : "");
	/* Judge the descriptor we read, not the path (no TOCTOU). */
	if (fstat(fd, &st) != 0)
		rc = ov_seterr(OV_EIO, "cannot stat key file %s", path);
	else if ((rc = key_file_check(path, &st)) == OV_OK) {
		n = read(fd, master, OV_MASTER_KEY_LEN);
		if (n != OV_MASTER_KEY_LEN)
			rc = ov_seterr(OV_EIO, "cannot read key file %s",
			    path);
	}
	close(fd);
	return rc;
}

enum ov_rc
keyring_load_file(const char *path, struct keyring **out)
{
	unsigned char *master;
	enum ov_rc rc;

	if ((master = sodium_malloc(OV_MASTER_KEY_LEN)) == NULL)
		return ov_seterr(OV_ENOMEM, "out of secure memory");
	if ((rc = key_file_read(path, master)) == OV_OK)
		rc = keyring_from_master(master, out);
	sodium_free(master);
	return rc;
}

enum ov_rc
keyring_copy_file(const char *src, const char *path, struct keyring **out)
{
	unsigned char *master;
	enum ov_rc rc;

	if ((master = sodium_malloc(OV_MASTER_KEY_LEN)) == NULL)
		return ov_seterr(OV_ENOMEM, "out of secure memory");
	if ((rc = key_file_read(src, master)) == OV_OK &&
	    (rc = key_file_write(path, master)) == OV_OK &&
	    (rc = keyring_from_master(master, out)) != OV_OK)
		unlink(path);
	sodium_free(master);
	return rc;
}

enum ov_rc
keyring_from_passphrase(const struct secret *pp, const struct keyring_kdf *kdf,
    struct keyring **out)
{
	unsigned char *master;
	enum ov_rc rc;

	if ((master = sodium_malloc(OV_MASTER_KEY_LEN)) == NULL)
		return ov_seterr(OV_ENOMEM, "out of secure memory");
	if (crypto_pwhash(master, OV_MASTER_KEY_LEN, (const char *)pp->buf,
	    pp->len, kdf->salt, kdf->opslimit, kdf->memlimit,
	    crypto_pwhash_ALG_ARGON2ID13) != 0)
		rc = ov_seterr(OV_ENOMEM, "Argon2id needs %zu MiB of memory "
		    "that could not be had", kdf->memlimit >> 20);
	else
		rc = keyring_from_master(master, out);
	sodium_free(master);
	return rc;
}

void
keyring_check_value(const struct keyring *kr, unsigned char out[32])
{
	static const char msg[] = "orgvault master key check v1";

	crypto_generichash(out, 32, (const unsigned char *)msg,
	    sizeof(msg) - 1, CHECK_KEY(kr), 32);
}

static void
wrap_binding(uint32_t version, char *buf, size_t len)
{
	snprintf(buf, len, "keyring|data_key|%u", version);
}

static enum ov_rc
hold_data_key(struct keyring *kr, uint32_t version, const unsigned char *key)
{
	struct data_key *dk;

	if (kr->ndata == KEYRING_MAX_VERSIONS)
		return ov_seterr(OV_ELIMIT, "more than %d data-key versions",
		    KEYRING_MAX_VERSIONS);
	dk = &kr->data[kr->ndata];
	if ((dk->key = sodium_malloc(32)) == NULL)
		return ov_seterr(OV_ENOMEM, "out of secure memory");
	memcpy(dk->key, key, 32);
	sodium_mprotect_readonly(dk->key);
	dk->version = version;
	kr->ndata++;
	return OV_OK;
}

enum ov_rc
keyring_new_data_key(struct keyring *kr, uint32_t version,
    unsigned char **wrapped, size_t *len)
{
	unsigned char *key;
	char binding[64];
	enum ov_rc rc;

	if ((key = sodium_malloc(32)) == NULL)
		return ov_seterr(OV_ENOMEM, "out of secure memory");
	crypto_aead_xchacha20poly1305_ietf_keygen(key);
	wrap_binding(version, binding, sizeof(binding));
	rc = envelope_seal(WRAP_KEY(kr), version, binding, key, 32, wrapped,
	    len);
	if (rc == OV_OK && (rc = hold_data_key(kr, version, key)) != OV_OK) {
		free(*wrapped);
		*wrapped = NULL;
	}
	sodium_free(key);
	return rc;
}

enum ov_rc
keyring_wrap_data_key(const struct keyring *kr, uint32_t version,
    unsigned char **wrapped, size_t *len)
{
	const struct data_key *dk = data_key_find(kr, version);
	char binding[64];

	if (dk == NULL)
		return ov_seterr(OV_EINTEGRITY, "the keyring does not hold "
		    "data key version %u", version);
	wrap_binding(version, binding, sizeof(binding));
	return envelope_seal(WRAP_KEY(kr), version, binding, dk->key, 32,
	    wrapped, len);
}

enum ov_rc
keyring_add_data_key(struct keyring *kr, uint32_t version,
    const unsigned char *wrapped, size_t len)
{
	struct secret *key;
	char binding[64];
	enum ov_rc rc;

	wrap_binding(version, binding, sizeof(binding));
	if ((rc = envelope_open(WRAP_KEY(kr), binding, wrapped, len, &key)))
		return ov_seterr(rc, "data key version %u does not open: the "
		    "keyring row was tampered with", version);
	if (key->len != 32)
		rc = ov_seterr(OV_EINTEGRITY, "data key version %u has the "
		    "wrong length", version);
	else
		rc = hold_data_key(kr, version, key->buf);
	secret_free(key);
	return rc;
}

uint32_t
keyring_newest(const struct keyring *kr)
{
	uint32_t v = 0;

	for (size_t i = 0; i < kr->ndata; i++)
		if (kr->data[i].version > v)
			v = kr->data[i].version;
	return v;
}

static const struct data_key *
data_key_find(const struct keyring *kr, uint32_t version)
{
	for (size_t i = 0; i < kr->ndata; i++)
		if (kr->data[i].version == version)
			return &kr->data[i];
	return NULL;
}

enum ov_rc
keyring_seal(const struct keyring *kr, const char *binding,
    const unsigned char *pt, size_t len, unsigned char **env, size_t *envlen)
{
	const struct data_key *dk = data_key_find(kr, keyring_newest(kr));

	if (dk == NULL)
		return ov_seterr(OV_EINTEGRITY, "the keyring holds no usable "
		    "data key; run: orgvault check");
	return envelope_seal(dk->key, dk->version, binding, pt, len, env,
	    envlen);
}

enum ov_rc
keyring_open(const struct keyring *kr, const char *binding,
    const unsigned char *env, size_t len, struct secret **out)
{
	const struct data_key *dk;
	uint32_t version;
	enum ov_rc rc;

	if ((rc = envelope_key_version(env, len, &version)) != OV_OK)
		return rc;
	if ((dk = data_key_find(kr, version)) == NULL)
		return ov_seterr(OV_EINTEGRITY, "envelope names data key "
		    "version %u, which the keyring does not hold", version);
	return envelope_open(dk->key, binding, env, len, out);
}

void
keyring_audit_mac(const struct keyring *kr, const unsigned char *data,
    size_t len, unsigned char out[32])
{
	crypto_generichash(out, 32, data, len, AUDIT_KEY(kr), 32);
}

/*
 * keyring.h — master key and data keys.  Internal to vault/.
 *
 * The master key is read (key file) or derived (Argon2id passphrase),
 * turned into purpose subkeys, and wiped at once; only keyring.c ever
 * holds it.  Data keys are random, wrapped by the wrap subkey, versioned;
 * new seals use the newest.  All keys live in sodium_malloc memory.
 */
#ifndef OV_KEYRING_H
#define OV_KEYRING_H

#include <stddef.h>
#include <stdint.h>

#include "util/err.h"
#include "util/secret.h"

struct keyring;

struct keyring_kdf {
	unsigned char		salt[16];
	unsigned long long	opslimit;
	size_t			memlimit;
};

/* Creates PATH (O_EXCL, 0600) with 32 random bytes and loads it. */
enum ov_rc	keyring_create_file(const char *path, struct keyring **out);
/* Loads PATH, refusing bad mode, owner, type or size. */
enum ov_rc	keyring_load_file(const char *path, struct keyring **out);
/* Loads SRC like keyring_load_file and writes its key to a new PATH
 * like keyring_create_file (key change-master). */
enum ov_rc	keyring_copy_file(const char *src, const char *path,
		    struct keyring **out);
enum ov_rc	keyring_from_passphrase(const struct secret *,
		    const struct keyring_kdf *, struct keyring **out);
void		keyring_free(struct keyring *);
enum ov_rc	keyring_dup(const struct keyring *, struct keyring **out);
/* Gives `to` (another master key) every data key `from` holds. */
enum ov_rc	keyring_copy_data_keys(struct keyring *to,
		    const struct keyring *from);

/* A MAC that proves which master key this is (stored at init). */
void		keyring_check_value(const struct keyring *,
		    unsigned char out[32]);
/* Makes data key `version`, returns it wrapped (malloc'd). */
enum ov_rc	keyring_new_data_key(struct keyring *, uint32_t version,
		    unsigned char **wrapped, size_t *len);
/* Wraps held data key `version` with this keyring's wrap subkey. */
enum ov_rc	keyring_wrap_data_key(const struct keyring *, uint32_t version,
		    unsigned char **wrapped, size_t *len);
/* Unwraps and holds a stored data key. */
enum ov_rc	keyring_add_data_key(struct keyring *, uint32_t version,
		    const unsigned char *wrapped, size_t len);
uint32_t	keyring_newest(const struct keyring *);	/* 0: none */

enum ov_rc	keyring_seal(const struct keyring *, const char *binding,
		    const unsigned char *pt, size_t len,
		    unsigned char **env, size_t *envlen);
enum ov_rc	keyring_open(const struct keyring *, const char *binding,
		    const unsigned char *env, size_t len, struct secret **out);
/*
 * The row MAC key (keyring.c explains it): make a new one, or unwrap a
 * stored one; wrap the held one (again, after a master-key change, with
 * this keyring's wrap subkey).  Both return it wrapped (malloc'd).
 */
enum ov_rc	keyring_mac_key_new(struct keyring *, unsigned char **wrapped,
		    size_t *len);
enum ov_rc	keyring_mac_key_add(struct keyring *,
		    const unsigned char *wrapped, size_t len);
enum ov_rc	keyring_mac_key_wrap(const struct keyring *,
		    unsigned char **wrapped, size_t *len);
int		keyring_has_mac(const struct keyring *);
/* Keyed BLAKE2b-256 of a canonical row; of a secret value.  Only with
 * the MAC key held. */
void		keyring_row_mac(const struct keyring *, const unsigned char *,
		    size_t, unsigned char out[32]);
void		keyring_secret_digest(const struct keyring *,
		    const unsigned char *, size_t, unsigned char out[32]);
/* Keyed BLAKE2b-256 for the audit chain. */
void		keyring_audit_mac(const struct keyring *, const unsigned char *,
		    size_t, unsigned char out[32]);

#endif

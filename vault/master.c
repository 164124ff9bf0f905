/*
 * master.c — changing the master key (`orgvault key change-master`).
 *
 * Only three subkeys come from the master key (keyring.c): wrap (the
 * keyring rows and the row MAC key), audit (the event hash chain) and
 * check (key_check).
 * Every secret column, the API-key hash key and the webhook secrets are
 * sealed with data keys, which do not change.  So a change is one
 * transaction: verify the audit chain with the old key, wrap every data
 * key again, write key_check and the key settings, re-hash the chain,
 * and append key.master_changed (hashed with the new key).
 *
 * A new key file never replaces the old one before the commit:
 *   1. the key goes to DIR/master.key.new (0600, fsync, directory fsync);
 *   2. the transaction commits: key_check now names the new key;
 *   3. master.key.new is renamed over master.key (directory fsync).
 * Dying before 2 leaves a master.key.new nothing uses (the next change
 * replaces it).  Dying between 2 and 3 leaves a master.key that no
 * longer verifies: the opener (open.c) then takes master.key.new, and
 * when that verifies, does step 3 itself.  A change to a passphrase
 * deletes master.key after the commit (dying before that leaves a key
 * file that opens nothing; delete it).
 *
 * The vault must be opened VAULT_OPEN_EXCLUSIVE: a running serve keeps
 * the old subkeys in memory and would hash events and wrap data keys
 * with them after the change.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <sodium.h>

#include "util/log.h"
#include "vault/vault_int.h"

static enum ov_rc
dir_sync(const char *dir)
{
	int fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	int ok = fd != -1 && fsync(fd) == 0;

	if (fd != -1)
		close(fd);
	return ok ? OV_OK : ov_seterr(OV_EIO, "cannot sync directory %s: %s",
	    dir, strerror(errno));
}

static void
key_paths(const char *dir, char *key, char *next, size_t len)
{
	snprintf(key, len, "%s/%s", dir, VAULT_KEY_FILE);
	snprintf(next, len, "%s/%s", dir, VAULT_KEY_FILE_NEW);
}

enum ov_rc
master_key_promote(const char *dir)
{
	char key[PATH_MAX + 16], next[PATH_MAX + 16];

	key_paths(dir, key, next, sizeof(key));
	if (rename(next, key) != 0)
		return ov_seterr(OV_EIO, "the master key was changed, but %s "
		    "could not be renamed to %s: %s; the next command does "
		    "it", next, key, strerror(errno));
	return dir_sync(dir);
}

/* The new keyring; for a key file, also DIR/master.key.new (*made). */
static enum ov_rc
new_keyring(struct vault *v, const struct vault_new_master *m,
    struct keyring_kdf *kdf, struct keyring **out, int *made)
{
	char key[PATH_MAX + 16], next[PATH_MAX + 16];
	enum ov_rc rc;

	if (m->passphrase && m->passphrase->len < OV_PASSPHRASE_MIN)
		return ov_seterr(OV_EINVAL, "the new passphrase must be at "
		    "least %d bytes", OV_PASSPHRASE_MIN);
	key_paths(v->dir, key, next, sizeof(key));
	/* The vault opened, so a master.key.new is a change never made. */
	if (unlink(next) != 0 && errno != ENOENT)
		return ov_seterr(OV_EIO, "cannot remove the stale %s: %s",
		    next, strerror(errno));
	if (m->passphrase) {
		kdf_new(m->cost, kdf);
		return keyring_from_passphrase(m->passphrase, kdf, out);
	}
	rc = m->generate ? keyring_create_file(next, out) :
	    keyring_copy_file(m->key_file, next, out);
	if (rc == OV_ENOTFOUND && m->key_file)
		return ov_seterr(rc, "no new key file %s: make one with "
		    "(umask 077; head -c 32 /dev/urandom > %s), or use "
		    "--generate", m->key_file, m->key_file);
	if (rc != OV_OK)
		return rc;
	*made = 1;
	return dir_sync(v->dir);
}

static int
same_key(const struct keyring *a, const struct keyring *b)
{
	unsigned char ca[32], cb[32];

	keyring_check_value(a, ca);
	keyring_check_value(b, cb);
	return sodium_memcmp(ca, cb, sizeof(ca)) == 0;
}

static enum ov_rc
chain_whole(struct vault *v)
{
	struct vault_audit_report r;
	enum ov_rc rc;

	if ((rc = vault_audit_verify(v, &r)) != OV_OK)
		return rc;
	if (r.broken_id == 0)
		return OV_OK;
	return ov_seterr(OV_EINTEGRITY, "%s (event %lld); nothing was "
	    "changed: run orgvault audit verify", r.problem,
	    (long long)r.broken_id);
}

/* Every keyring row, wrapped again by nk. */
static enum ov_rc
rewrap_keyring(struct vault *v, const struct keyring *nk, int64_t *n)
{
	struct db_stmt *st, *up;
	enum ov_rc rc;
	int src;

	if ((rc = db_prepare(v, "SELECT version FROM keyring ORDER BY "
	    "version", &st)) != OV_OK)
		return rc;
	while ((src = db_step(st)) == DB_ROW) {
		uint32_t ver = (uint32_t)db_col_int64(st, 0);
		unsigned char *wrapped;
		size_t wlen;

		if ((rc = keyring_wrap_data_key(nk, ver, &wrapped, &wlen)))
			break;
		if ((rc = db_prepare(v, "UPDATE keyring SET wrapped_key = ? "
		    "WHERE version = ?", &up)) == OV_OK) {
			db_bind_blob(up, 1, wrapped, (int)wlen);
			db_bind_int64(up, 2, ver);
			if ((src = db_step(up)) != DB_DONE)
				rc = db_err(v, src, "rewrapping a data key");
			db_finish(v, up);
		}
		free(wrapped);
		if (rc != OV_OK)
			break;
		(*n)++;
	}
	if (rc == OV_OK && src != DB_DONE)
		rc = db_err(v, src, "reading the keyring");
	db_finish(v, st);
	return rc;
}

/* Inside the transaction; v->kr is nk from the re-hash on. */
static enum ov_rc
change(struct vault *v, const struct vault_new_master *m, struct keyring *nk,
    const struct keyring_kdf *kdf, struct vault_master_report *r)
{
	char before[16];
	json_t *d;
	enum ov_rc rc;

	if ((rc = chain_whole(v)) != OV_OK ||
	    (rc = meta_get(v, "key_source", before, sizeof(before))) ||
	    (rc = rewrap_keyring(v, nk, &r->data_keys)) != OV_OK ||
	    (rc = mac_key_store(v, nk)) != OV_OK ||
	    (rc = key_meta_write(v, nk, m->passphrase ? kdf : NULL)))
		return rc;
	v->kr = nk;
	if ((rc = event_rehash_chain(v, &r->events)) != OV_OK)
		return rc;
	d = json_pack("{s:s, s:s, s:b, s:I, s:I}", "mode", m->passphrase ?
	    "passphrase" : "key_file", "previous_mode", strcmp(before,
	    "passphrase") == 0 ? "passphrase" : "key_file", "generated",
	    m->generate != 0, "data_keys", (json_int_t)r->data_keys,
	    "events_rehashed", (json_int_t)r->events);
	rc = event_append(v, &(struct event_rec){ .kind = "key.master_changed",
	    .detail = d });
	json_decref(d);
	return rc;
}

/* After the commit: the key files follow the database. */
static void
files_follow(struct vault *v, int passphrase)
{
	char key[PATH_MAX + 16], next[PATH_MAX + 16];
	enum ov_rc rc;

	key_paths(v->dir, key, next, sizeof(key));
	if (!passphrase)
		rc = master_key_promote(v->dir);
	else if (unlink(key) != 0 && errno != ENOENT)
		rc = ov_seterr(OV_EIO, "the master key was changed, but the "
		    "old key file %s could not be deleted (%s): delete it",
		    key, strerror(errno));
	else
		rc = dir_sync(v->dir);
	if (rc != OV_OK)
		log_warnx("%s", ov_errmsg());
}

enum ov_rc
vault_master_change(struct vault *v, const struct vault_new_master *m,
    struct vault_master_report *out)
{
	struct vault_master_report r = { 0 };
	struct keyring *old = v->kr, *nk = NULL;
	struct keyring_kdf kdf;
	char key[PATH_MAX + 16], next[PATH_MAX + 16];
	int made = 0, tried_commit = 0;
	enum ov_rc rc;

	if ((rc = vault_need_key(v)) != OV_OK)
		return rc;
	if (v->nbad_keys > 0)
		return ov_seterr(OV_EINTEGRITY, "data key version %u does not "
		    "open with the current master key; nothing was changed: "
		    "run orgvault check", v->bad_keys[0]);
	if ((rc = new_keyring(v, m, &kdf, &nk, &made)) != OV_OK ||
	    (rc = keyring_copy_data_keys(nk, old)) != OV_OK)
		goto out;
	if (same_key(nk, old)) {
		rc = ov_seterr(OV_EINVAL, "the new master key is the current "
		    "one; give another key");
		goto out;
	}
	if ((rc = tx_begin(v)) != OV_OK)
		goto out;
	rc = change(v, m, nk, &kdf, &r);
	tried_commit = rc == OV_OK;
	if ((rc = tx_end(v, rc)) != OV_OK) {
		v->kr = old;
		goto out;
	}
	keyring_free(old);
	nk = NULL;
	files_follow(v, m->passphrase != NULL);
	*out = r;
	return OV_OK;
out:
	/* A commit that failed may still have reached the disk: then the
	 * opener needs master.key.new, so only a change never committed
	 * takes it away. */
	if (made && !tried_commit) {
		key_paths(v->dir, key, next, sizeof(key));
		unlink(next);
	}
	keyring_free(nk);
	return rc;
}

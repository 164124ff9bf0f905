/*
 * open.c — opening, cloning, creating and closing a vault: the files,
 * the master key (a key file, a passphrase, or the new key of an
 * interrupted `key change-master`), the keyring rows, the schema and the
 * row MAC key.  It sits above the rest of vault/: nothing below calls
 * into it (store.c is the bottom layer, over the storage seam).
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <sodium.h>

#include "util/log.h"
#include "util/timefmt.h"
#include "vault/vault_int.h"

static void
db_open_opts(const struct vault *v, int how, struct db_open *o)
{
	*o = (struct db_open){
		.path = v->db_path,
		.url = v->url[0] ? v->url : NULL,
		.create = (how & VAULT_DB_CREATE) != 0,
		.exclusive = (how & VAULT_DB_EXCLUSIVE) != 0,
		.busy_timeout_ms = v->busy_timeout_ms,
	};
}

enum ov_rc
vault_db_connect(struct vault *v, int how)
{
	struct db_open o;
	int src;

	db_open_opts(v, how, &o);
	src = db_open(&o, &v->db);
	if (v->url[0] && v->db != NULL)
		snprintf(v->db_path, sizeof(v->db_path), "%s",
		    db_describe(v->db));
	return src == DB_OK ? OV_OK : db_err(v, src, "opening the database");
}

enum ov_rc
vault_database_check(const char *database)
{
	char why[OV_ERRMSG_MAX];

	if (database == NULL || *database == '\0' ||
	    strcmp(database, "sqlite") == 0)
		return OV_OK;
	if (!db_is_pg(database))
		return ov_seterr(OV_EUSAGE, "--database takes a PostgreSQL URL "
		    "(postgresql://… or a key=value conninfo) or \"sqlite\" "
		    "(the file in the data directory, the default)");
	if (strlen(database) >= OV_DB_URL_MAX)
		return ov_seterr(OV_EUSAGE, "--database is longer than %d "
		    "bytes", OV_DB_URL_MAX - 1);
	if (db_url_check(database, why, sizeof(why)) != 0)
		return ov_seterr(OV_EUSAGE, "%s", why);
	return OV_OK;
}

int
vault_database_is_pg(const char *database)
{
	return db_is_pg(database);
}

/* A vault_watch is the driver's db_watch. */
#define WATCH(w)	((struct db_watch *)(void *)(w))

enum ov_rc
vault_watch_open(struct vault *v, struct vault_watch **out)
{
	struct db_watch *w;
	struct db_open o;

	db_open_opts(v, 0, &o);
	if (db_watch_open(&o, &w) != DB_OK)
		return ov_seterr(OV_EIO, "cannot watch %s for changes",
		    v->db_path);
	*out = (struct vault_watch *)(void *)w;
	return OV_OK;
}

int
vault_watch_fd(struct vault_watch *w)
{
	return db_watch_fd(WATCH(w));
}

int
vault_watch_drain(struct vault_watch *w)
{
	return db_watch_drain(WATCH(w));
}

void
vault_watch_close(struct vault_watch *w)
{
	db_watch_close(WATCH(w));
}

enum ov_rc
vault_alloc(const struct vault_opts *o, struct vault **out)
{
	struct vault *v;
	const char *env;

	if ((v = calloc(1, sizeof(*v))) == NULL)
		return ov_seterr(OV_ENOMEM, "out of memory");
	if ((size_t)snprintf(v->dir, sizeof(v->dir), "%s", o->data_dir) >=
	    sizeof(v->dir) ||
	    (size_t)snprintf(v->db_path, sizeof(v->db_path), "%s/%s",
	    o->data_dir, VAULT_DB_FILE) >= sizeof(v->db_path)) {
		free(v);
		return ov_seterr(OV_EINVAL, "data directory path is too long");
	}
	snprintf(v->actor, sizeof(v->actor), "%s", o->actor ? o->actor :
	    "unknown");
	if (vault_database_check(o->database) != OV_OK) {
		free(v);
		return OV_EUSAGE;
	}
	if (db_is_pg(o->database))
		snprintf(v->url, sizeof(v->url), "%s", o->database);
	v->busy_timeout_ms = o->busy_timeout_ms;
	if (v->busy_timeout_ms <= 0 &&
	    (env = getenv("ORGVAULT_BUSY_TIMEOUT_MS")) != NULL) {
		long ms = strtol(env, NULL, 10);

		/* Out of range or garbage: the default below. */
		v->busy_timeout_ms = ms > 0 && ms <= 600000 ? (int)ms : 0;
	}
	if (v->busy_timeout_ms <= 0)
		v->busy_timeout_ms = OV_BUSY_TIMEOUT_MS;
	*out = v;
	return OV_OK;
}

enum ov_rc
vault_clone(struct vault *v, struct vault **out)
{
	struct vault *c;
	enum ov_rc rc;

	if ((c = calloc(1, sizeof(*c))) == NULL)
		return ov_seterr(OV_ENOMEM, "out of memory");
	memcpy(c->dir, v->dir, sizeof(c->dir));
	memcpy(c->db_path, v->db_path, sizeof(c->db_path));
	memcpy(c->url, v->url, sizeof(c->url));
	memcpy(c->actor, v->actor, sizeof(c->actor));
	c->busy_timeout_ms = v->busy_timeout_ms;
	c->binding_final = v->binding_final;
	if ((rc = vault_db_connect(c, 0)) != OV_OK ||
	    (v->kr && (rc = keyring_dup(v->kr, &c->kr)) != OV_OK)) {
		vault_close(c);
		return rc;
	}
	*out = c;
	return OV_OK;
}

void
vault_close(struct vault *v)
{
	if (v == NULL)
		return;
	db_close(v->db);
	keyring_free(v->kr);
	free(v);
}

/* Whether kr is the master key the vault's key_check was made with. */
static enum ov_rc
key_matches(struct vault *v, const struct keyring *kr, int *match)
{
	unsigned char want[32], have[32];
	char buf[128];
	size_t n;
	enum ov_rc rc;

	if ((rc = meta_get(v, "key_check", buf, sizeof(buf))) != OV_OK)
		return rc;
	keyring_check_value(kr, have);
	*match = sodium_hex2bin(want, sizeof(want), buf, strlen(buf), NULL,
	    &n, NULL) == 0 && n == sizeof(want) && sodium_memcmp(want, have,
	    sizeof(want)) == 0;
	return OV_OK;
}

/*
 * DIR/master.key; or, when that is missing or no longer the vault's key
 * and DIR/master.key.new is, the new key of a `key change-master` that
 * stopped between its commit and the rename (master.c): it is used, and
 * the rename finished.
 */
static enum ov_rc
key_file_load(struct vault *v, struct keyring **out)
{
	char path[PATH_MAX + 16], next[PATH_MAX + 16], why[OV_ERRMSG_MAX];
	struct keyring *kr = NULL, *nk = NULL;
	enum ov_rc rc;
	int match = 0;

	snprintf(path, sizeof(path), "%s/%s", v->dir, VAULT_KEY_FILE);
	snprintf(next, sizeof(next), "%s/%s", v->dir, VAULT_KEY_FILE_NEW);
	if ((rc = keyring_load_file(path, &kr)) == OV_OK &&
	    (rc = key_matches(v, kr, &match)) == OV_OK && match) {
		*out = kr;
		return OV_OK;
	}
	keyring_free(kr);
	if (rc == OV_OK)
		rc = ov_seterr(OV_ECRYPTO, "wrong master key file for the "
		    "vault in %s", v->dir);
	if ((rc != OV_ECRYPTO && rc != OV_ENOTFOUND) ||
	    access(next, F_OK) != 0)
		return rc;
	snprintf(why, sizeof(why), "%s", ov_errmsg());
	if (keyring_load_file(next, &nk) == OV_OK &&
	    key_matches(v, nk, &match) == OV_OK && match) {
		if (master_key_promote(v->dir) != OV_OK)
			log_warnx("%s", ov_errmsg());
		*out = nk;
		return OV_OK;
	}
	keyring_free(nk);
	return ov_seterr(rc, "%s", why);
}

/* Loads the master key the vault was made with, and proves it right. */
static enum ov_rc
key_load(struct vault *v, const struct vault_opts *o)
{
	char source[16], buf[128];
	struct keyring_kdf kdf;
	size_t n;
	enum ov_rc rc;
	int match;

	if ((rc = meta_get(v, "key_source", source, sizeof(source))) != OV_OK)
		return rc;
	if (strcmp(source, "passphrase") != 0) {
		if (o->passphrase != NULL)
			return ov_seterr(OV_EUSAGE, "this vault uses the key "
			    "file %s/%s, not a passphrase; drop the passphrase "
			    "option", v->dir, VAULT_KEY_FILE);
		return key_file_load(v, &v->kr);
	}
	if (o->passphrase == NULL)
		return ov_seterr(OV_EUSAGE, "this vault is protected by a "
		    "passphrase: give --passphrase-file PATH|- or set "
		    "ORGVAULT_PASSPHRASE_FILE");
	if ((rc = meta_get(v, "kdf_salt", buf, sizeof(buf))) ||
	    sodium_hex2bin(kdf.salt, sizeof(kdf.salt), buf, strlen(buf), NULL,
	    &n, NULL) != 0 || n != sizeof(kdf.salt))
		return rc ? rc : ov_seterr(OV_EINTEGRITY, "kdf_salt in vault "
		    "settings is malformed");
	if ((rc = meta_get(v, "kdf_opslimit", buf, sizeof(buf))))
		return rc;
	kdf.opslimit = strtoull(buf, NULL, 10);
	if ((rc = meta_get(v, "kdf_memlimit", buf, sizeof(buf))))
		return rc;
	kdf.memlimit = (size_t)strtoull(buf, NULL, 10);
	if ((rc = keyring_from_passphrase(o->passphrase, &kdf, &v->kr)) ||
	    (rc = key_matches(v, v->kr, &match)))
		return rc;
	if (!match)
		return ov_seterr(OV_ECRYPTO, "wrong passphrase for the vault "
		    "in %s", v->dir);
	return OV_OK;
}

/* Unwraps every data key; versions that fail are kept for `check`. */
static enum ov_rc
keyring_rows_load(struct vault *v)
{
	struct db_stmt *st;
	enum ov_rc rc;
	int src;

	if ((rc = db_prepare(v, "SELECT version, wrapped_key FROM keyring "
	    "ORDER BY version", &st)) != OV_OK)
		return rc;
	while ((src = db_step(st)) == DB_ROW) {
		uint32_t ver = (uint32_t)db_col_int64(st, 0);

		if (keyring_add_data_key(v->kr, ver, db_col_blob(st, 1),
		    (size_t)db_col_bytes(st, 1)) != OV_OK) {
			log_warnx("%s", ov_errmsg());
			if (v->nbad_keys < VAULT_BAD_KEYS_MAX)
				v->bad_keys[v->nbad_keys++] = ver;
		}
	}
	if (src != DB_DONE)
		rc = db_err(v, src, "reading the keyring");
	db_finish(v, st);
	return rc;
}

/* Whether the database holds a vault (its schema_migrations). */
static enum ov_rc
has_vault(struct vault *v, int *has)
{
	int src = db_has_table(v->db, "schema_migrations", has);

	return src == DB_OK ? OV_OK : db_err(v, src, "reading the schema");
}

enum ov_rc
vault_open(const struct vault_opts *o, unsigned flags, struct vault **out)
{
	struct vault *v;
	struct stat st;
	enum ov_rc rc;
	int pending;

	if (stat(o->data_dir, &st) != 0)
		return ov_seterr(OV_ENOTFOUND, "no vault in %s: the directory "
		    "does not exist; create one with: orgvault --data-dir %s "
		    "init", o->data_dir, o->data_dir);
	if (!S_ISDIR(st.st_mode))
		return ov_seterr(OV_EINVAL, "data directory %s is not a "
		    "directory; give --data-dir the vault's directory",
		    o->data_dir);
	if ((rc = vault_alloc(o, &v)) != OV_OK)
		return rc;
	if (!v->url[0] && access(v->db_path, F_OK) != 0) {
		rc = ov_seterr(OV_ENOTFOUND, "no vault in %s: %s is missing; "
		    "create one with: orgvault --data-dir %s init",
		    o->data_dir, VAULT_DB_FILE, o->data_dir);
		goto fail;
	}
	if ((rc = vault_db_connect(v, flags & VAULT_OPEN_EXCLUSIVE ?
	    VAULT_DB_EXCLUSIVE : 0)) != OV_OK) {
		if (rc == OV_EBUSY && (flags & VAULT_OPEN_EXCLUSIVE))
			rc = ov_seterr(OV_ECONFLICT, "the vault in %s is open "
			    "in another process (orgvault serve, or another "
			    "command); stop it and retry", v->db_path);
		goto fail;
	}
	if (v->url[0] && (rc = has_vault(v, &pending)) == OV_OK && !pending)
		rc = ov_seterr(OV_ENOTFOUND, "no vault in %s; create one "
		    "with: orgvault --database URL init", v->db_path);
	if (rc != OV_OK)
		goto fail;
	/* The key first (its tables are 0001's): a migration may need it
	 * (0004 makes the row MAC key in its own transaction). */
	if ((rc = schema_check(v, (flags & (VAULT_OPEN_NO_KEY |
	    VAULT_OPEN_MIGRATE | VAULT_OPEN_PENDING_OK)) ? SCHEMA_TOLERATE :
	    SCHEMA_REFUSE_PENDING, &pending)) != OV_OK)
		goto fail;
	if (!(flags & VAULT_OPEN_NO_KEY) && ((rc = key_load(v, o)) != OV_OK ||
	    (rc = keyring_rows_load(v)) != OV_OK))
		goto fail;
	if ((flags & VAULT_OPEN_MIGRATE) && (rc = schema_check(v, SCHEMA_APPLY,
	    &pending)) != OV_OK)
		goto fail;
	if (!(flags & VAULT_OPEN_NO_KEY) && pending == 0 &&
	    (rc = mac_key_load(v)) != OV_OK)
		goto fail;
	*out = v;
	return OV_OK;
fail:
	vault_close(v);
	return rc;
}

/* Writes the key settings, the first data key and the first event. */
static enum ov_rc
init_contents(struct vault *v, const struct vault_opts *o,
    const struct keyring_kdf *kdf)
{
	unsigned char *wrapped = NULL;
	size_t wlen;
	struct db_stmt *st = NULL;
	struct event_rec ev = { .kind = "vault.initialized" };
	enum ov_rc rc;
	int src;

	if ((rc = tx_begin(v)) != OV_OK)
		return rc;
	if ((rc = key_meta_write(v, v->kr, kdf)) != OV_OK)
		goto out;
	if ((rc = keyring_new_data_key(v->kr, 1, &wrapped, &wlen)) != OV_OK)
		goto out;
	if ((rc = db_prepare(v, "INSERT INTO keyring (version, wrapped_key, "
	    "created_at) VALUES (1, ?, ?)", &st)) != OV_OK)
		goto out;
	db_bind_blob(st, 1, wrapped, (int)wlen);
	db_bind_int64(st, 2, timefmt_now());
	if ((src = db_step(st)) != DB_DONE) {
		rc = db_err(v, src, "writing the keyring");
		goto out;
	}
	if ((rc = event_append(v, &ev)) == OV_OK)
		rc = mac_key_init(v);
out:
	db_finish(v, st);
	free(wrapped);
	return tx_end(v, rc);
}

static enum ov_rc
init_db(struct vault *v, const struct vault_opts *o,
    const struct keyring_kdf *kdf)
{
	enum ov_rc rc;

	if ((rc = schema_apply_all(v)) == OV_OK)
		rc = init_contents(v, o, kdf);
	return rc;
}

/*
 * On PostgreSQL the vault is made in one transaction (its DDL is
 * transactional; no migration needs foreign keys off): a failed init
 * leaves no table (a schema the connection created for it stays, empty,
 * and init can simply be re-run), and a schema that already holds a
 * vault is refused.
 */
static enum ov_rc
init_pg(struct vault *v, const struct vault_opts *o,
    const struct keyring_kdf *kdf)
{
	enum ov_rc rc;
	int has;

	if ((rc = has_vault(v, &has)) != OV_OK)
		return rc;
	if (has)
		return ov_seterr(OV_ECONFLICT, "%s already holds a vault; "
		    "refusing to overwrite it", v->db_path);
	if ((rc = tx_begin(v)) != OV_OK)
		return rc;
	return tx_end(v, init_db(v, o, kdf));	/* the rest are savepoints */
}

const char *
vault_location(const struct vault *v)
{
	return v->db_path;
}

void
vault_db_unlink(const struct vault *v)
{
	char p[PATH_MAX + 8];

	unlink(v->db_path);
	snprintf(p, sizeof(p), "%s-wal", v->db_path);
	unlink(p);
	snprintf(p, sizeof(p), "%s-shm", v->db_path);
	unlink(p);
}

enum ov_rc
vault_init(const struct vault_opts *o, enum vault_kdf_cost cost)
{
	struct vault *v = NULL;
	struct keyring_kdf kdf;
	struct stat st;
	char key_path[PATH_MAX + 16];
	int made_dir = 0, made_key = 0, made_db = 0;
	enum ov_rc rc;

	if ((rc = vault_alloc(o, &v)) != OV_OK)
		return rc;
	snprintf(key_path, sizeof(key_path), "%s/%s", v->dir, VAULT_KEY_FILE);
	if (mkdir(v->dir, 0700) == 0)
		made_dir = 1;
	else if (errno == EEXIST && (stat(v->dir, &st) != 0 ||
	    !S_ISDIR(st.st_mode))) {
		rc = ov_seterr(OV_EINVAL, "%s exists and is not a directory",
		    v->dir);
		goto out;
	} else if (errno != EEXIST) {
		rc = ov_seterr(OV_EIO, "cannot create data directory %s: %s",
		    v->dir, strerror(errno));
		goto out;
	}
	if (access(v->db_path, F_OK) == 0 || access(key_path, F_OK) == 0) {
		rc = ov_seterr(OV_ECONFLICT, "%s already holds a vault (%s or "
		    "%s exists); refusing to overwrite it", v->dir,
		    VAULT_DB_FILE, VAULT_KEY_FILE);
		goto out;
	}
	if (o->passphrase) {
		if (o->passphrase->len < OV_PASSPHRASE_MIN) {
			rc = ov_seterr(OV_EINVAL, "passphrase must be at least "
			    "%d bytes", OV_PASSPHRASE_MIN);
			goto out;
		}
		kdf_new(cost, &kdf);
		rc = keyring_from_passphrase(o->passphrase, &kdf, &v->kr);
	} else if ((rc = keyring_create_file(key_path, &v->kr)) == OV_OK)
		made_key = 1;
	if (rc != OV_OK)
		goto out;
	made_db = !v->url[0];
	if ((rc = vault_db_connect(v, VAULT_DB_CREATE)) != OV_OK)
		goto out;
	rc = v->url[0] ? init_pg(v, o, o->passphrase ? &kdf : NULL) :
	    init_db(v, o, o->passphrase ? &kdf : NULL);
out:
	if (rc != OV_OK) {
		/* Leave nothing half made, so init can simply be re-run. */
		db_close(v->db);
		v->db = NULL;
		if (made_db)
			vault_db_unlink(v);
		if (made_key)
			unlink(key_path);
		if (made_dir)
			rmdir(v->dir);
	}
	vault_close(v);
	return rc;
}

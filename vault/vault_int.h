/*
 * vault_int.h — what the files of vault/ share: the handle, statement
 * and transaction helpers, envelope bindings, the event writer.
 */
#ifndef OV_VAULT_INT_H
#define OV_VAULT_INT_H

#include <limits.h>
#include <stddef.h>
#include <stdint.h>

#include <jansson.h>
#include <sqlite3.h>

#include "vault/keyring.h"
#include "vault/vault.h"

#define VAULT_BAD_KEYS_MAX 16
#define VAULT_STMT_CACHE 48

/* A prepared statement kept for reuse (db_prepare/db_finish). */
struct cached_stmt {
	sqlite3_stmt	*st;
	const char	*sql;		/* sqlite3_sql(st) */
	uint32_t	 hash;
	int		 in_use;
};

struct vault {
	sqlite3		*db;
	struct keyring	*kr;		/* NULL when opened with NO_KEY */
	char		 dir[PATH_MAX];
	char		 db_path[PATH_MAX];
	char		 actor[OV_ACTOR_MAX + 1];
	char		 request_id[33];	/* added to event details */
	int		 busy_timeout_ms;
	int		 batch;		/* inside vault_begin() */
	uint32_t	 bad_keys[VAULT_BAD_KEYS_MAX]; /* versions not opened */
	size_t		 nbad_keys;
	struct cached_stmt cache[VAULT_STMT_CACHE];
	size_t		 ncache;
};

/* store.c */
/* OV_EINTERNAL unless the vault was opened with its key. */
enum ov_rc	vault_need_key(struct vault *);
enum ov_rc	db_err(struct vault *, int sqlite_rc, const char *doing);
/* Prepared statements are cached per connection: always pair
 * db_prepare() with db_finish(), never sqlite3_finalize(). */
enum ov_rc	db_prepare(struct vault *, const char *sql, sqlite3_stmt **);
void		db_finish(struct vault *, sqlite3_stmt *);
enum ov_rc	db_exec(struct vault *, const char *sql);
/* Copies a text column; OV_EINTEGRITY if it does not fit. */
enum ov_rc	db_text(sqlite3_stmt *, int col, char *buf, size_t len);
/* One write transaction (or a savepoint inside a batch). */
enum ov_rc	tx_begin(struct vault *);
enum ov_rc	tx_end(struct vault *, enum ov_rc);	/* commits on OV_OK */
enum ov_rc	meta_get(struct vault *, const char *key, char *buf,
		    size_t len);
enum ov_rc	meta_set(struct vault *, const char *key, const char *value);
/* A new random salt and the limits of cost. */
void		kdf_new(enum vault_kdf_cost, struct keyring_kdf *);
/* key_source, the kdf settings (kdf NULL: a key file, none) and the
 * key_check of kr. */
enum ov_rc	key_meta_write(struct vault *, const struct keyring *,
		    const struct keyring_kdf *kdf);

/* Envelope bindings (envelope.c explains why they exist). */
void		binding_secret(char *buf, size_t len, int64_t org_id,
		    int64_t cred_id, const char *kind, int64_t version);
void		binding_token(char *buf, size_t len, int64_t org_id,
		    int64_t cred_id, int64_t generation);
void		binding_webhook(char *buf, size_t len, int64_t id,
		    const char *url);

/* master.c: renames DIR/master.key.new over DIR/master.key, durably. */
enum ov_rc	master_key_promote(const char *dir);

/* cred.c: a credential given a new current secret becomes active and
 * due at once (status, failures, next_refresh_at reset). */
enum ov_rc	cred_reschedule(struct vault *, int64_t cred_id);

/* keys.c: seal with the newest data key the database holds; open with
 * whatever version the envelope names (both load data keys added by
 * others since this connection opened).  *key_version: the seal's. */
enum ov_rc	vault_env_seal(struct vault *, const char *binding,
		    const unsigned char *pt, size_t len, unsigned char **env,
		    size_t *envlen, uint32_t *key_version);
enum ov_rc	vault_env_open(struct vault *, const char *binding,
		    const unsigned char *env, size_t len, struct secret **out);

/* secret.c */
/* Seals s as the new `current` version (current → previous). */
enum ov_rc	vault_secret_store(struct vault *, int64_t org_id,
		    int64_t cred_id, enum vault_secret_kind,
		    const struct secret *);

/* schema.c */
enum schema_mode { SCHEMA_REFUSE_PENDING, SCHEMA_APPLY, SCHEMA_TOLERATE,
	SCHEMA_CREATE /* init: a new, empty database */ };
enum ov_rc	schema_check(struct vault *, enum schema_mode, int *pending);
enum ov_rc	schema_apply_all(struct vault *);

/* apikey.c: opens the API key hash key, if API keys exist (check). */
enum ov_rc	apikey_check(struct vault *, vault_check_cb, void *,
		    int64_t *checked, int64_t *failures);

/* event.c: appends to the audit chain inside the caller's transaction. */
struct event_rec {
	int64_t		 org_id, cred_id;
	const char	*org, *credential, *kind;
	json_t		*detail;	/* borrowed; NULL for {} */
	long		 http_status;	/* 0: none */
	const char	*oauth_error, *outcome;	/* NULL: "" */
};
enum ov_rc	event_append(struct vault *, const struct event_rec *);
/* Verifies the hash chain; reports failures through check's callback. */
enum ov_rc	event_verify_chain(struct vault *, vault_check_cb, void *,
		    int64_t *checked, int64_t *failures);
/* Hashes every event again with the vault's audit subkey (after a
 * master-key change) and rewrites the head; the content is unchanged. */
enum ov_rc	event_rehash_chain(struct vault *, int64_t *rehashed);

/* outbox.c: called by event_append() once event `id` is written, inside
 * its transaction: queues a delivery per subscribed webhook when the
 * event is an alert.  detail is the event's stored JSON text. */
enum ov_rc	outbox_enqueue(struct vault *, const struct event_rec *,
		    int64_t id, int64_t time_ms, const char *detail);
/* webhook.c: opens every webhook's signing secret (check). */
enum ov_rc	webhook_check(struct vault *, vault_check_cb, void *,
		    int64_t *checked, int64_t *failures);

#endif

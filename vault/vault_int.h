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

#include "vault/db.h"

#include "vault/keyring.h"
#include "vault/vault.h"

#define VAULT_BAD_KEYS_MAX 16

struct vault {
	struct db	*db;
	struct keyring	*kr;		/* NULL when opened with NO_KEY */
	char		 dir[PATH_MAX];
	char		 db_path[PATH_MAX];	/* or the URL, for messages */
	char		 url[OV_DB_URL_MAX];	/* "": SQLite */
	char		 actor[OV_ACTOR_MAX + 1];
	char		 request_id[33];	/* added to event details */
	int		 busy_timeout_ms;
	int		 batch;		/* inside vault_begin() */
	int		 tx_depth;	/* open tx_begin()s */
	/* Run by tx_end() just before the outermost commit (event.c: the
	 * audit head, written once per transaction), then cleared. */
	enum ov_rc	(*before_commit)(struct vault *);
	int		 binding_final;	/* no secret row in bind 1 left */
	uint32_t	 bad_keys[VAULT_BAD_KEYS_MAX]; /* versions not opened */
	size_t		 nbad_keys;
};

/* open.c: a handle for o, not yet connected; its connection (the
 * drivers say what VAULT_DB_EXCLUSIVE does on each engine); removing
 * its SQLite file with the -wal and -shm (what a failed init or copy
 * made). */
#define VAULT_DB_CREATE		0x1	/* a new database (or schema) */
#define VAULT_DB_EXCLUSIVE	0x2	/* no other connection */
enum ov_rc	vault_alloc(const struct vault_opts *, struct vault **);
enum ov_rc	vault_db_connect(struct vault *, int how);
void		vault_db_unlink(const struct vault *);

/* store.c (open.c opens and creates) */
/* OV_EINTERNAL unless the vault was opened with its key. */
enum ov_rc	vault_need_key(struct vault *);
enum ov_rc	db_err(struct vault *, int db_rc, const char *doing);
/* Prepared statements are cached per connection: always pair
 * db_prepare() with db_finish(). */
enum ov_rc	db_prepare(struct vault *, const char *sql, struct db_stmt **);
void		db_finish(struct vault *, struct db_stmt *);
enum ov_rc	db_exec(struct vault *, const char *sql);
/* Copies a text column; OV_EINTEGRITY if it does not fit. */
enum ov_rc	db_text(struct db_stmt *, int col, char *buf, size_t len);
/* A read transaction, ended with db_commit(v->db). */
enum ov_rc	db_read_begin(struct vault *);
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

/* Envelope bindings (envelope.c explains why they exist; bind.c the
 * destination binding of secrets). */
void		binding_token(char *buf, size_t len, int64_t org_id,
		    int64_t cred_id, int64_t generation);
void		binding_webhook(char *buf, size_t len, int64_t id,
		    const char *url);

/*
 * bind.c: the destination binding of secrets and the row MACs (the
 * comment at its top has both formats).  A credential's MAC covers its
 * destination, expected scope and secret labels: every write of those
 * ends with cred_mac_update() in the same transaction.
 */
#define BIND_OLD	1
#define BIND_DEST	2
#define BINDING_MAX	(OV_SLUG_MAX + 224)
/* The columns dest_row() reads, from `c` = credentials. */
#define DEST_COLS "c.org_id, c.id, c.name, c.provider, c.region, " \
	"c.token_url, c.auth_method, c.grant_type, c.client_id"
void		dest_row(struct db_stmt *, int col, struct vault_cred *out);
/* Whether a and b send secrets to different places (or differently). */
int		dest_differs(const struct vault_cred *a,
		    const struct vault_cred *b);
void		binding_secret(char *buf, size_t len, const struct vault_cred *,
		    const char *kind, int64_t version, int bind);
enum ov_rc	secret_digest(struct vault *, const char *kind,
		    const struct secret *, unsigned char out[32]);
enum ov_rc	cred_mac_update(struct vault *, int64_t cred_id);
enum ov_rc	cred_mac_verify(struct vault *, int64_t cred_id);
enum ov_rc	apikey_mac(struct vault *, const struct vault_apikey *,
		    const void *secret_hash, size_t hash_len,
		    unsigned char out[32]);
enum ov_rc	webhook_mac(struct vault *, int64_t id, const char *url,
		    const char *events, int64_t created_at,
		    unsigned char out[32]);
enum ov_rc	retired_mac(struct vault *, int64_t cred_id,
		    const unsigned char digest[32], int64_t retired_at,
		    int64_t expires_at, unsigned char out[32]);
int		row_mac_ok(const unsigned char want[32], const void *have,
		    int havelen);
/* Stores mac with update ("UPDATE t SET row_mac = ? WHERE id = ?");
 * what names the write in an error. */
enum ov_rc	row_mac_put(struct vault *, const char *update, int64_t id,
		    const unsigned char mac[32], const char *what);
#define APIKEY_MAC_UPDATE "UPDATE api_keys SET row_mac = ? WHERE id = ?"
/* The MAC key: loaded (or made, once, after migration 0004) at open;
 * made at init; stored wrapped by kr (again after a master change). */
enum ov_rc	mac_key_load(struct vault *);
enum ov_rc	mac_key_bootstrap(struct vault *);	/* 0004's hook */
enum ov_rc	mac_key_init(struct vault *);
enum ov_rc	mac_key_store(struct vault *, const struct keyring *kr);
/* Every secret row is in bind 2 now: bind 1 never opens again (a MAC'd
 * flag and a key.binding_closed event).  check: the flag against the
 * chain. */
enum ov_rc	binding_final_set(struct vault *);
void		binding_final_reload(struct vault *);	/* another may have */
enum ov_rc	binding_check(struct vault *, vault_check_cb, void *,
		    int64_t *checked, int64_t *failures);
/* apikey.c, webhook.c: (re)write the MAC of one row. */
enum ov_rc	apikey_mac_write(struct vault *, int64_t id);
/* The api_keys MAC of schema 0004 (k->orgs: the slugs the row held), and
 * its writer: migration 0004's hook only (apikey_migrate.c). */
enum ov_rc	apikey_mac_v4(struct vault *, const struct vault_apikey *,
		    const void *secret_hash, size_t hash_len,
		    unsigned char out[32]);
enum ov_rc	apikey_v4_mac_write(struct vault *, int64_t id);
/* Migration 0005's hook: org slugs become ids, rows MAC'd anew. */
enum ov_rc	apikey_scope_migrate(struct vault *);
/* apikey.c: slugs → "3,7" (see there); revoke one row; revoke the live
 * keys none of whose orgs exists (after an org was removed). */
enum ov_rc	apikey_org_ids(struct vault *, const char *slugs,
		    int skip_unknown, char *out, size_t outlen);
enum ov_rc	apikey_revoke_row(struct vault *, int64_t id,
		    const char *reason);
enum ov_rc	apikey_orgs_removed(struct vault *, const char *reason);
enum ov_rc	webhook_mac_write(struct vault *, int64_t id);

/*
 * seal.c: secret versions sealed and opened in their binding; digests,
 * retired refresh tokens, re-sealing.  kind: "client_secret" or
 * "refresh_token"; c: the credential with its (new) destination.
 */
enum ov_rc	secret_seal_version(struct vault *, const struct vault_cred *c,
		    const char *kind, int64_t version, const char *stage,
		    const struct secret *);
/* *equal: s is the current version's value (compared in constant time
 * by keyed digest); 0 when there is no current version. */
enum ov_rc	secret_equals_current(struct vault *, const struct vault_cred *c,
		    const char *kind, const struct secret *s, int *equal);
/* *at: when rt was rotated away or replaced (0: never). */
enum ov_rc	rt_retired_at(struct vault *, const struct secret *rt,
		    int64_t *at);
/* Keeps the digest of c's current refresh token as retired. */
enum ov_rc	rt_retire_current(struct vault *, const struct vault_cred *c);
/* Re-seals every version of kind from `from`'s binding to `to`'s. */
enum ov_rc	secret_move(struct vault *, const struct vault_cred *from,
		    const struct vault_cred *to, const char *kind);
/* Deletes every version of kind (a current refresh token is retired). */
enum ov_rc	secret_drop_kind(struct vault *, const struct vault_cred *c,
		    const char *kind);
/* Deletes every version of every kind, retiring nothing (a tampered
 * credential's rows prove nothing). */
enum ov_rc	secret_drop_all(struct vault *, int64_t cred_id);
/* Re-seals up to batch rows in an older key version, the old binding or
 * without a digest; *n counts them, *seen the rows looked at (those of a
 * credential that does not verify are skipped, and it is marked
 * tampered); sets the flag when none are left. */
enum ov_rc	secret_rebind_batch(struct vault *, uint32_t newest, int batch,
		    int64_t *n, int *seen);
/* check: secret envelopes in their binding, credential and retired
 * refresh-token MACs, tampered credentials. */
enum ov_rc	secret_check(struct vault *, vault_check_cb, void *,
		    int64_t *checked, int64_t *failures);
/* Rows still in the old binding. */
enum ov_rc	secret_old_binding(struct vault *, int64_t *rows);

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
/* Seals s as the new `current` version (current → previous), unless it
 * is the current one already (*changed 0; changed may be NULL).  A
 * replaced current refresh token is retired. */
enum ov_rc	vault_secret_store(struct vault *, const struct vault_cred *c,
		    enum vault_secret_kind, const struct secret *,
		    int *changed);
/* The same, leaving the row MAC alone: a rotated refresh token is kept
 * (sealed for c, where it came from) for a row that no longer verifies,
 * which stays tampered. */
enum ov_rc	secret_store_unblessed(struct vault *,
		    const struct vault_cred *c, enum vault_secret_kind,
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

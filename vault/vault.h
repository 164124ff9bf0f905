/*
 * vault.h — the encrypted store of orgs, credentials, secrets and events.
 *
 * The only module that sees SQL or key material.  Callers (cmd/, admin/,
 * rotation/) ask for operations; plaintext secrets cross this boundary
 * only as struct secret, which the caller frees (and so wipes).
 *
 * Every function returns enum ov_rc and sets ov_errmsg() on failure;
 * out-parameters are written only on success.  List functions call a
 * callback per row; a non-zero return from the callback stops the walk.
 */
#ifndef OV_VAULT_H
#define OV_VAULT_H

#include <stdint.h>

#include <jansson.h>

#include "util/err.h"
#include "util/limits.h"
#include "util/secret.h"

struct vault;

enum vault_kdf_cost { VAULT_KDF_INTERACTIVE, VAULT_KDF_MODERATE,
	VAULT_KDF_SENSITIVE };

struct vault_opts {
	const char		*data_dir;	/* master.key, orgvault.db */
	/* NULL: the SQLite file DIR/orgvault.db; else a PostgreSQL URL or
	 * conninfo (db_is_pg), without a password (vault_database_check) */
	const char		*database;
	const struct secret	*passphrase;	/* NULL: DIR/master.key */
	const char		*actor;		/* who acts, for events */
	int			 busy_timeout_ms; /* 0: OV_BUSY_TIMEOUT_MS */
};

#define VAULT_DB_FILE	"orgvault.db"
#define VAULT_KEY_FILE	"master.key"
#define VAULT_KEY_FILE_NEW "master.key.new"	/* key change-master */

#define VAULT_OPEN_NO_KEY	0x1	/* schema work only: no key, pending ok */
#define VAULT_OPEN_MIGRATE	0x2	/* apply pending migrations */
/* Only connection: OV_ECONFLICT while another process has the vault
 * open, and other processes wait until this one closes it. */
#define VAULT_OPEN_EXCLUSIVE	0x4
/* With the key, but pending migrations are no refusal: for
 * vault_migrate(), which applies them with the key (0004 needs it). */
#define VAULT_OPEN_PENDING_OK	0x8

/* Creates DIR (0700), the key file or passphrase parameters, the db. */
enum ov_rc	vault_init(const struct vault_opts *, enum vault_kdf_cost);
enum ov_rc	vault_open(const struct vault_opts *, unsigned flags,
		    struct vault **out);
void		vault_close(struct vault *);	/* NULL ok */
/*
 * Commits of other processes (a CLI's `cred put`), to wake the
 * scheduler: inotify on SQLite's directory, LISTEN on PostgreSQL.  fd
 * -1: nothing to wait on now (a lost connection); drain answers whether
 * anything changed, and reconnects.
 */
struct vault_watch;
enum ov_rc	vault_watch_open(struct vault *, struct vault_watch **out);
int		vault_watch_fd(struct vault_watch *);
int		vault_watch_drain(struct vault_watch *);
void		vault_watch_close(struct vault_watch *);	/* NULL ok */

/* Refuses a --database value: OV_OK, or OV_EUSAGE with why. */
enum ov_rc	vault_database_check(const char *database);
int		vault_database_is_pg(const char *database);
const char	*vault_sqlite_version(void);
const char	*vault_libpq_version(void);
/* The database server's version (PostgreSQL), or SQLite's. */
const char	*vault_db_version(const struct vault *);
int64_t		vault_sqlite_memory(void);	/* bytes SQLite holds now */

/* Migrations: the embedded list, with what the database has applied. */
struct vault_migration {
	int		 version;
	const char	*name;
	char		 checksum[65];
	int64_t		 applied_at;	/* 0 when pending */
};
typedef int (*vault_migration_cb)(const struct vault_migration *, void *);
enum ov_rc	vault_migrate(struct vault *, int *applied);
enum ov_rc	vault_migrate_status(struct vault *, vault_migration_cb, void *);

/* Orgs. */
struct vault_org {
	int64_t	id;
	char	slug[OV_SLUG_MAX + 1];
	char	name[OV_NAME_MAX + 1];
	char	external_id[OV_EXTERNAL_ID_MAX + 1];
	int	enabled;
	int64_t	credentials;
	int64_t	created_at, updated_at;
};
typedef int (*vault_org_cb)(const struct vault_org *, void *);
enum ov_rc	vault_org_add(struct vault *, const struct vault_org *);
enum ov_rc	vault_org_get(struct vault *, const char *slug,
		    struct vault_org *out);
/* Orgs in slug order; f NULL: all.  name: a case-insensitive substring
 * of the display name; after_slug: a keyset page, orgs after it. */
struct vault_org_filter {
	const char	*name;
	const char	*after_slug;
};
enum ov_rc	vault_org_list(struct vault *, const struct vault_org_filter *,
		    vault_org_cb, void *);
/* Refuses (OV_ECONFLICT) while credentials exist, unless force. */
enum ov_rc	vault_org_rm(struct vault *, const char *slug, int force);
/* Changes name and/or external_id (NULL: keep; "" clears external_id);
 * event org.updated with the changed fields (none if nothing changed). */
enum ov_rc	vault_org_update(struct vault *, const char *slug,
		    const char *name, const char *external_id,
		    struct vault_org *out);

/* Credentials.  Text fields hold canonical values (rotation/provider.h). */
struct vault_cred {
	int64_t	id, org_id;
	char	org[OV_SLUG_MAX + 1];
	char	name[OV_SLUG_MAX + 1];
	char	provider[16];		/* genesys | servicenow | oauth2 */
	char	region[OV_REGION_MAX + 1]; /* region key or instance */
	char	token_url[OV_URL_MAX + 1];
	char	auth[24];		/* client_secret_basic | _post */
	char	grant[24];		/* client_credentials | refresh_token */
	char	client_id[OV_CLIENT_ID_MAX + 1];
	char	expected_scope[OV_SCOPE_MAX + 1];
	double	refresh_fraction;	/* or 0 when refresh_age_s is set */
	int64_t	refresh_age_s;
	char	status[32];		/* active failing revoked ... */
	int	has_refresh_token;
	int	has_pending_secret;
	int64_t	created_at, updated_at;
	/* Rotation state (0 / "" when unknown). */
	int64_t	next_refresh_at, expires_at, issued_at, last_success_at;
	int64_t	last_attempt_at, unknown_outcome_at, token_generation;
	int64_t	lease_until;
	char	lease_owner[96];
	int	consecutive_failures;
	char	last_error[OV_OAUTH_DESC_MAX + OV_OAUTH_ERROR_MAX + 8];
	char	granted_scope[OV_SCOPE_MAX + 1];
	int64_t	refresh_token_set_at;	/* when the current one was stored */
	int64_t	refresh_token_expires_at;	/* 0: unknown */
	int	refresh_token_kept;	/* last answer kept the refresh token */
};
/* A filter of vault_cred_list: NULL fields match everything; status and
 * health are one value or a comma list ("failing,revoked"). */
struct vault_cred_filter {
	const char	*org;		/* NULL: all orgs */
	const char	*status;
	const char	*provider;
	const char	*region;	/* canonical (provider.h) */
	const char	*client_id;
	const char	*health;	/* ok degraded needs_action */
	/* Keyset page: only rows after (after_org, after_name). */
	const char	*after_org, *after_name;
};
/* OV_EINVAL naming the field for an unknown status, health, provider. */
enum ov_rc	vault_cred_filter_check(const struct vault_cred_filter *);
/* Whether c passes the status and health parts at now. */
int		vault_cred_filter_match(const struct vault_cred_filter *,
		    const struct vault_cred *, int64_t now);
/* health.c (README "Statuses and health"). */
enum vault_health {
	VAULT_HEALTH_OK, VAULT_HEALTH_DEGRADED, VAULT_HEALTH_NEEDS_ACTION
};
enum vault_health vault_cred_health(const struct vault_cred *, int64_t now);
const char	*vault_health_str(enum vault_health);
typedef int (*vault_cred_cb)(const struct vault_cred *, void *);
/*
 * Creates or updates org/name.  On create client_secret is required (and
 * refresh_token for the refresh_token grant); on update a NULL secret
 * keeps the current one, a new one becomes `current` and the old one
 * `previous`.  *created tells which happened.
 */
enum ov_rc	vault_cred_put(struct vault *, const struct vault_cred *,
		    const struct secret *client_secret,
		    const struct secret *refresh_token, int *created);
/*
 * The same with flags and a report.  The binding rule (README "What a
 * secret is bound to"): a change of destination (token URL, region,
 * client id, auth method, grant) needs the client secret again —
 * OV_ESECRET otherwise, naming what to give; the current one proves the
 * change and the stored secrets follow, a new one replaces them.  A
 * secret equal to the stored one changes nothing.  A refresh token that
 * was rotated away is refused (OV_ECONFLICT).  VAULT_PUT_KEEP_SECRETS: a
 * secret different from the stored one is refused (OV_ECONFLICT).
 */
#define VAULT_PUT_KEEP_SECRETS	0x1
struct vault_put_result {
	int	created;
	int	client_secret_changed, refresh_token_changed;
	int	moved;			/* the destination changed */
	char	changed[128];		/* metadata fields, comma-separated */
};
enum ov_rc	vault_cred_put_ex(struct vault *, const struct vault_cred *,
		    const struct secret *client_secret,
		    const struct secret *refresh_token, unsigned flags,
		    struct vault_put_result *out);
/* Marks a credential whose row or secrets do not verify: status
 * `tampered`, a credential.tampered event and alert (once).  Nothing is
 * sent for it until an operator puts its secrets again. */
enum ov_rc	vault_cred_tampered(struct vault *, int64_t cred_id,
		    const char *why);
/* Verifies a credential's row MAC (destination, expected scope, secret
 * labels); a failure (OV_EINTEGRITY) marks it tampered. */
enum ov_rc	vault_cred_verify(struct vault *, int64_t cred_id);
enum ov_rc	vault_cred_get(struct vault *, const char *org,
		    const char *name, struct vault_cred *out);
enum ov_rc	vault_cred_by_id(struct vault *, int64_t, struct vault_cred *);
enum ov_rc	vault_cred_list(struct vault *, const struct vault_cred_filter *,
		    vault_cred_cb, void *);
enum ov_rc	vault_cred_rm(struct vault *, const char *org, const char *name);

enum vault_secret_kind { VAULT_CLIENT_SECRET, VAULT_REFRESH_TOKEN };
/* Opens the `current` (or "pending", "previous") secret of a credential. */
enum ov_rc	vault_secret_open(struct vault *, int64_t cred_id,
		    enum vault_secret_kind, const char *stage,
		    struct secret **out);
/* The same for a request about to be sent to c (as read earlier): a
 * row whose destination or scope is no longer c's does not open. */
enum ov_rc	vault_secret_open_for(struct vault *, const struct vault_cred *c,
		    enum vault_secret_kind, const char *stage,
		    struct secret **out);

/*
 * Rotation (rotation/ decides; the vault stores atomically).
 * Schedulable: status active, failing or invalid_client, with a due or
 * NULL next_refresh_at.  vault_due_list walks them in deadline order,
 * leased ones included (the caller judges the lease) except those that
 * `self` holds.
 */
struct vault_due {
	int64_t	id, next_refresh_at, lease_until;
	char	lease_owner[96];
	char	token_url[OV_URL_MAX + 1];
	char	client_id[OV_CLIENT_ID_MAX + 1];	/* its 429 pause */
};
typedef int (*vault_due_cb)(const struct vault_due *, void *);
enum ov_rc	vault_due_list(struct vault *, int64_t now, const char *self,
		    int limit, vault_due_cb, void *);
/* Earliest next_refresh_at later than `after` of a schedulable
 * credential; 0 if none. */
enum ov_rc	vault_next_deadline(struct vault *, int64_t after, int64_t *at);
/* A second connection to the same vault, sharing no state but the keys
 * (one per thread). */
enum ov_rc	vault_clone(struct vault *, struct vault **out);
const char	*vault_dir(const struct vault *);
/* Who acts from now on ("scheduler", an API key's name), for events. */
void		vault_set_actor(struct vault *, const char *);
const char	*vault_actor(const struct vault *);
/* The admin API's request id, added to the detail of the events it
 * writes ("" or NULL: none). */
void		vault_set_request_id(struct vault *, const char *);
/* vault_lease_claim's force: how much an attempt may skip. */
#define VAULT_CLAIM_DUE		0	/* due, and a status that refreshes
					 * (active, failing, invalid_client) */
#define VAULT_CLAIM_ASKED	1	/* due or not (someone needs a token
					 * now), but never a held (unknown),
					 * revoked or disabled credential */
#define VAULT_CLAIM_OPERATOR	2	/* whatever the status: an operator's
					 * deliberate attempt (cred refresh) */
/*
 * Takes the lease of cred_id for owner until `until`, if the lease is
 * free, expired, or held by expected_owner (a dead owner being taken
 * over), and the credential may be attempted as `force` says (above).
 * if_gen >= 0 adds that its access token is still of generation if_gen
 * (a forced attempt asked for by someone who saw that token must not
 * follow a refresh that already replaced it); -1: any generation.
 * OV_ECONFLICT when someone else holds it or it is no longer due.
 */
enum ov_rc	vault_lease_claim(struct vault *, int64_t cred_id,
		    const char *owner, const char *expected_owner, int64_t now,
		    int64_t until, int force, int64_t if_gen,
		    struct vault_cred *out);
enum ov_rc	vault_lease_release(struct vault *, int64_t cred_id,
		    const char *owner);
/* Records that an attempt's outcome is unknown (its refresher died
 * holding the lease): an event and unknown_outcome_at; and, for a
 * refresh-token credential whose provider is not known to keep its
 * refresh token, status `unknown` (held for an operator: no replay).
 * The dead owner's lease ends, unless someone else holds it by now. */
enum ov_rc	vault_note_unknown(struct vault *, int64_t cred_id,
		    const char *dead_owner);

/* One refresh attempt's result, committed in one durable transaction
 * together with its events and the lease release. */
struct vault_refresh {
	const char		*owner;		/* lease holder */
	/* The credential as the attempt read it when it took the lease (its
	 * secrets were sent there): a rotated refresh token of a row that
	 * no longer verifies is sealed for it.  NULL: as stored now. */
	const struct vault_cred	*cred;
	const char		*outcome;	/* oauth_outcome_str() */
	const char		*status;	/* new credential status */
	const char		*event_kind;	/* refresh.ok, credential.revoked */
	long			 http_status;
	const char		*oauth_error, *description;
	int64_t			 duration_ms;
	int64_t			 next_refresh_at; /* 0: not scheduled */
	int			 consecutive_failures;
	int			 unknown_outcome; /* set unknown_outcome_at */
	json_t			*detail;	 /* extra event detail */
	/* OAUTH_OK only: */
	const struct secret	*access_token;
	const struct secret	*refresh_token;	/* NULL: keep the old one */
	const char		*token_type, *granted_scope;
	int64_t			 issued_at, expires_at;
	int64_t			 refresh_token_expires_at; /* 0: unknown */
	json_t			*drift;		/* scope_drift event detail */
};
enum ov_rc	vault_refresh_record(struct vault *, int64_t cred_id,
		    const struct vault_refresh *);
/* Opens the current access token; OV_ENOTFOUND when there is none. */
enum ov_rc	vault_token_open(struct vault *, int64_t cred_id,
		    struct secret **out);
/* The same, with the token row's generation (to match it with a
 * vault_cred read in another statement). */
enum ov_rc	vault_token_open_gen(struct vault *, int64_t cred_id,
		    struct secret **out, int64_t *generation);

/*
 * Wall-clock jumps (clock.c): offset_ms is wall time less boot time
 * (CLOCK_BOOTTIME) now, boot_id the kernel's boot id.  When the offset
 * moved by more than threshold_ms since the reference stored in the
 * vault (same boot), every stored deadline, expiry and lease moves by
 * the jump (whole seconds, *shifted_s), with a clock.jumped event; once,
 * whichever process sees it first.  Another boot only resets the
 * reference.
 */
enum ov_rc	vault_clock_sync(struct vault *, const char *boot_id,
		    int64_t offset_ms, int64_t threshold_ms, int64_t *shifted_s);

/* Batching: wrap many puts in one transaction (import). */
enum ov_rc	vault_begin(struct vault *);
enum ov_rc	vault_commit(struct vault *);
void		vault_rollback(struct vault *);

/* Audit events (no secret material, ever). */
struct vault_event {
	int64_t	id, time_ms;
	int64_t	org_id;				/* 0: none */
	char	actor[OV_ACTOR_MAX + 1];
	char	org[OV_SLUG_MAX + 1];
	char	credential[OV_SLUG_MAX + 1];
	char	kind[OV_EVENT_KIND_MAX + 1];
	char	detail[OV_EVENT_DETAIL_MAX + 1];	/* a JSON object */
	long	http_status;
	char	oauth_error[OV_OAUTH_ERROR_MAX + 1];
	char	outcome[32];
};
struct vault_event_filter {
	const char	*org, *credential, *kind;
	int		 limit;		/* 0: 100 */
	const char	*org_ids_json;	/* a JSON array of org ids: only those */
	const char	*creds_json;	/* names: only those, and events of an
					 * org about no credential */
	int64_t		 since_ms, until_ms;	/* 0: unbounded */
	int64_t		 before_id;	/* cursor: ids below it; 0: newest */
};
typedef int (*vault_event_cb)(const struct vault_event *, void *);
enum ov_rc	vault_event_list(struct vault *,
		    const struct vault_event_filter *, vault_event_cb, void *);
/* Appends one event (kind, optional org slug, detail borrowed). */
enum ov_rc	vault_event_add(struct vault *, const char *kind,
		    const char *org, json_t *detail);
/* Appends one event about credential c, with the HTTP status, OAuth
 * error code and outcome of a provider call (0 / NULL: none). */
enum ov_rc	vault_cred_event_add(struct vault *, const struct vault_cred *c,
		    const char *kind, long http_status, const char *oauth_error,
		    const char *outcome, json_t *detail);
/* Events of several kinds (the revocation ledger). */
enum ov_rc	vault_event_list_kinds(struct vault *, const char *const *kinds,
		    int limit, vault_event_cb, void *);

/*
 * The audit chain.  verify walks it from the first event: *report says
 * how many events were checked and, when the chain is broken, the first
 * broken link (0 when whole) and what is wrong there.  export walks the
 * events with time in [since_ms, until_ms) (0: unbounded) in id order
 * as JSON objects holding every hashed field, the event's hash and the
 * previous one's (hex), so an export can be verified without the
 * database (vault_audit_verify_line, with the vault's key).
 */
struct vault_audit_report {
	int64_t	checked;
	int64_t	broken_id;		/* 0: the chain is whole */
	char	problem[160];
};
enum ov_rc	vault_audit_verify(struct vault *, struct vault_audit_report *);
typedef int (*vault_json_cb)(json_t *, void *);
enum ov_rc	vault_audit_export(struct vault *, int64_t since_ms,
		    int64_t until_ms, vault_json_cb, void *);
/* Checks one exported event against the previous one's hash (hex; ""
 * for the first line of an export): OV_OK, or OV_EINTEGRITY saying why.
 * *hash_hex receives this event's hash for the next line. */
enum ov_rc	vault_audit_verify_line(struct vault *, json_t *event,
		    const char *prev_hex, char hash_hex[65]);

/*
 * Integrity check: keyring, every envelope, the audit hash chain and
 * SQLite's own checks.  Calls cb once per failure; *failures counts them.
 */
struct vault_check_failure {
	const char	*table, *column;
	int64_t		 row;
	const char	*problem;
};
typedef void (*vault_check_cb)(const struct vault_check_failure *, void *);
enum ov_rc	vault_check(struct vault *, vault_check_cb, void *,
		    int64_t *checked, int64_t *failures);
/*
 * Copies v (opened VAULT_OPEN_EXCLUSIVE, with its key) into the empty
 * database `to` (a --database value; "sqlite" is DIR/orgvault.db),
 * ciphertext, MACs, keyring and audit chain as they are: the same
 * master key opens the copy.  A target that exists or holds any vault
 * table is refused (OV_ECONFLICT), and so is SQLite to SQLite
 * (OV_EINVAL).  cb hears each table's row count.  Both audit chains
 * record the copy (vault.copied, vault.copied_to).  The caller checks
 * the target (vault_check).
 */
/* Where v's data is, for messages: the SQLite file, or the database
 * as postgresql://USER@HOST:PORT/DB (schema S), never a password. */
const char	*vault_location(const struct vault *);
typedef void (*vault_copy_cb)(void *, const char *table, int64_t rows);
enum ov_rc	vault_copy(struct vault *, const char *to, vault_copy_cb,
		    void *);

/*
 * API keys: "ov_<key_id>_<secret>"; only a keyed hash of it is stored.
 * A key names its orgs by id (org_ids): it does not cover a new org that
 * takes a removed org's slug, and a key whose every org was removed is
 * revoked with the last of them.  orgs is what those ids name now.
 */
#define VAULT_APIKEY_ID_LEN	16	/* lowercase hex */
#define VAULT_APIKEY_LEN	(3 + VAULT_APIKEY_ID_LEN + 1 + 43)
struct vault_apikey {
	int64_t	id;
	char	key_id[VAULT_APIKEY_ID_LEN + 1];
	char	name[OV_SLUG_MAX + 1];
	char	role[16];			/* reader operator admin token */
	char	orgs[OV_APIKEY_ORGS_MAX + 1];	/* "*", or slugs "a,b" ("": none left) */
	char	org_ids[OV_APIKEY_ORGS_MAX + 1];	/* "*" or "3,7" */
	char	credentials[OV_APIKEY_ORGS_MAX + 1];	/* "*" or "name,name" */
	int64_t	created_at, last_used_at, revoked_at;	/* 0: never */
	int64_t	expires_at;			/* 0: never */
};
/* What a new key may do.  orgs: "*" (NULL) or slugs of existing orgs;
 * credentials: "*" (NULL) or credential names (not admin keys);
 * expires_in_s: 0 for never. */
struct vault_apikey_spec {
	const char	*name, *role, *orgs, *credentials;
	int64_t		 expires_in_s;
};
typedef int (*vault_apikey_cb)(const struct vault_apikey *, void *);
/* Creates a key; *key holds the whole "ov_…" string (shown once; the
 * caller frees it). */
enum ov_rc	vault_apikey_create(struct vault *,
		    const struct vault_apikey_spec *, struct secret **key,
		    struct vault_apikey *out);
enum ov_rc	vault_apikey_list(struct vault *, vault_apikey_cb, void *);
enum ov_rc	vault_apikey_get(struct vault *, const char *name,
		    struct vault_apikey *out);
enum ov_rc	vault_apikey_revoke(struct vault *, const char *name);
/* Why a presented key did not verify. */
enum vault_apikey_why {
	VAULT_APIKEY_NO_ID = 1,	/* malformed, or no row (whose MAC holds)
				 * has its key id */
	VAULT_APIKEY_WRONG,	/* its id names a row: wrong secret, or
				 * revoked */
	VAULT_APIKEY_EXPIRED,	/* the right key, past expires_at (*out set) */
};
/* Checks a presented key in constant time: OV_OK and *out for a live
 * key; OV_ENOTFOUND otherwise, "invalid API key" whatever the reason but
 * expiry (told only to the holder of the right key).  A good key's
 * last_used_at is updated (at most once a minute, best effort).  *why
 * (NULL: not wanted) says why it failed, so failures can be counted per
 * key id (admin/throttle) and an expired key told so. */
enum ov_rc	vault_apikey_verify(struct vault *, const char *key, size_t len,
		    struct vault_apikey *out, enum vault_apikey_why *why);
/* Whether a key is past its expiry at now (unix seconds). */
int		vault_apikey_expired(const struct vault_apikey *, int64_t now);
/* Whether an API key's orgs ("*" or a list) include slug. */
int		vault_apikey_allows(const struct vault_apikey *, const char *slug);
/* Whether its orgs include the org of that id (events of a removed org
 * whose slug a new org took are not the new org's). */
int		vault_apikey_allows_org_id(const struct vault_apikey *,
		    int64_t org_id);
/* ... and its credentials include credential cred of org slug. */
int		vault_apikey_allows_cred(const struct vault_apikey *,
		    const char *slug, const char *cred);

/*
 * Client-secret rotation (stages of the client_secret kind): stage a
 * pending secret, test it (rot_secret_test), promote it, roll back if
 * the provider still wants the old one.  Each is one transaction with
 * an audit event (secret.staged, .promoted, .rolled_back, .discarded)
 * naming the versions involved.  OV_ENOTFOUND for an unknown org or
 * credential too.
 */
/* Seals s as the `pending` client secret (replacing an older pending). */
enum ov_rc	vault_secret_stage(struct vault *, const char *org,
		    const char *name, const struct secret *s);
/* pending → current, current → previous (the old previous is deleted);
 * the credential is rescheduled at once (status active, next_refresh_at
 * NULL) like a new secret.  OV_ENOTFOUND when nothing is pending. */
enum ov_rc	vault_secret_promote(struct vault *, const char *org,
		    const char *name);
/* previous → current, current → previous (a swap), rescheduled like
 * promote; OV_ENOTFOUND when there is no previous. */
enum ov_rc	vault_secret_rollback(struct vault *, const char *org,
		    const char *name);
/* Drops the pending secret (OV_ENOTFOUND if none). */
enum ov_rc	vault_secret_discard(struct vault *, const char *org,
		    const char *name);

/*
 * Data-key rotation (keys.c).  rotate adds data key version N+1; new
 * writes use it at once.  rewrap re-encrypts up to `batch` rows sealed
 * with older versions (one transaction) and, when none are left, marks
 * unused older versions retired; *done tells.  status: rows per version.
 */
struct vault_key {
	uint32_t	version;
	char		state[16];		/* active | retired */
	int64_t		created_at, retired_at;
	int64_t		secrets, tokens;	/* rows sealed with it */
	int64_t		old_binding;	/* of its secrets, still in the
					 * binding before destinations */
};
typedef int (*vault_key_cb)(const struct vault_key *, void *);
enum ov_rc	vault_key_rotate(struct vault *, uint32_t *version);
enum ov_rc	vault_key_rewrap(struct vault *, int batch, int64_t *rewrapped,
		    int *done);
enum ov_rc	vault_key_status(struct vault *, vault_key_cb, void *);
/* Secret rows not yet re-sealed to their destination (rewrap does it);
 * *final: none left, and the old binding no longer opens. */
enum ov_rc	vault_binding_status(struct vault *, int64_t *old_rows,
		    int *final);

/*
 * Master-key change (master.c), on a vault opened VAULT_OPEN_EXCLUSIVE.
 * After the audit chain verified with the old key (OV_EINTEGRITY if
 * not), one transaction rewraps every data key, re-hashes the audit
 * chain and records key.master_changed.  Exactly one of key_file (a
 * 32-byte key file, copied to DIR/master.key), generate (a random one)
 * or passphrase (Argon2id at cost; no key file from then on).
 */
struct vault_new_master {
	const char		*key_file;
	int			 generate;
	const struct secret	*passphrase;
	enum vault_kdf_cost	 cost;
};
struct vault_master_report {
	int64_t	data_keys;		/* rewrapped */
	int64_t	events;			/* re-hashed, before the new one */
};
enum ov_rc	vault_master_change(struct vault *,
		    const struct vault_new_master *,
		    struct vault_master_report *out);


/*
 * Webhooks (webhook.c, outbox.c): push alerts.  An audit event that is
 * an alert (VAULT_WEBHOOK_EVENTS; README.md "Webhooks") is put in an
 * outbox in the event's own transaction, one delivery per subscribed
 * webhook, and sent at least once by rotation/webhook.h's sender.  The
 * signing secret is sealed; only vault_webhook_secret_open() returns
 * it: no list, event, delivery or payload holds it.
 */
#define VAULT_WEBHOOK_EVENTS \
	"revoked,invalid_client,secret_or_grant_refused,scope_drift,failing," \
	"recovered,tampered"
struct vault_webhook {
	int64_t	id;
	char	url[OV_URL_MAX + 1];
	char	events[OV_WEBHOOK_EVENTS_MAX + 1];	/* comma list */
	int64_t	created_at;
	int64_t	pending, delivered;		/* deliveries */
	int64_t	last_delivered_at;		/* 0: never */
};
typedef int (*vault_webhook_cb)(const struct vault_webhook *, void *);
/* url: https, or http to a loopback host.  events: names from
 * VAULT_WEBHOOK_EVENTS separated by ',', or NULL / "all" for every one.
 * The secret signs the deliveries (OV_WEBHOOK_SECRET_MIN..MAX bytes).
 * Event webhook.added.  OV_ECONFLICT when the URL has a webhook. */
enum ov_rc	vault_webhook_add(struct vault *, const char *url,
		    const char *events, const struct secret *signing_secret,
		    struct vault_webhook *out);
enum ov_rc	vault_webhook_list(struct vault *, vault_webhook_cb, void *);
/* ref: the webhook's id or URL.  Its undelivered deliveries are dropped
 * with it (*out counts them in pending); event webhook.removed. */
enum ov_rc	vault_webhook_rm(struct vault *, const char *ref,
		    struct vault_webhook *out);
/* The signing secret of a webhook (the caller frees it). */
enum ov_rc	vault_webhook_secret_open(struct vault *, int64_t webhook_id,
		    struct secret **out);

/* One delivery: an alert for one webhook, until it is answered 2xx. */
struct vault_delivery {
	int64_t	id, webhook_id, event_id;
	char	url[OV_URL_MAX + 1];
	char	event[32];			/* revoked ... tampered */
	int	attempts;
	long	last_status;			/* 0: no HTTP answer */
	char	last_error[OV_WEBHOOK_ERROR_MAX + 1];
	int64_t	created_at, next_attempt_at;
	int64_t	delivered_at;			/* 0: not yet */
	char	*body;		/* claim only: the JSON to POST (malloc) */
	size_t	body_len;
};
typedef int (*vault_delivery_cb)(const struct vault_delivery *, void *);
/* Newest first, at most limit (0: 100); pending_only: undelivered. */
enum ov_rc	vault_delivery_list(struct vault *, int pending_only, int limit,
		    vault_delivery_cb, void *);
/*
 * Claims the most overdue delivery: it is not due again for lease_s
 * seconds, so no other sender takes it meanwhile, and a sender that
 * dies leaves it due after that.  OV_ENOTFOUND (no message) when none
 * is due; *next_due is then the earliest due time (0: none pending).
 * Free out->body with vault_delivery_cleanup().
 */
enum ov_rc	vault_delivery_claim(struct vault *, int64_t now, int lease_s,
		    struct vault_delivery *out, int64_t *next_due);
void		vault_delivery_cleanup(struct vault_delivery *);
/* Records one attempt: delivered when retry_at is 0, else due again at
 * retry_at.  error: "" or a short reason (never a response body). */
enum ov_rc	vault_delivery_done(struct vault *, int64_t id,
		    long http_status, const char *error, int64_t retry_at);
/* Deletes deliveries delivered before `before`; *n counts them. */
enum ov_rc	vault_delivery_prune(struct vault *, int64_t before,
		    int64_t *n);

#endif

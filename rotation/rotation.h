/*
 * rotation.h — keeping every credential's token fresh.
 *
 * rot_refresh_one() runs one attempt now (CLI `cred refresh`, `token`);
 * the scheduler (rot_scheduler_*) runs them all, each ahead of its
 * deadline, within per-host budgets, under leases so that one process
 * refreshes a credential at a time.  The policy functions are pure.
 */
#ifndef OV_ROTATION_H
#define OV_ROTATION_H

#include <stdint.h>

#include <jansson.h>

#include "rotation/oauth.h"
#include "vault/vault.h"

/*
 * What a listener hears after every attempt the scheduler makes (from
 * the scheduler thread; the pointers are valid only during the call).
 * busy: the attempt could not start (the lease is held elsewhere, or
 * the host is paused after a 429); rec is NULL then.
 */
struct rot_result {
	const struct vault_cred		*cred;	/* as it was before */
	enum oauth_outcome		 outcome;
	int				 busy;
	int				 superseded;	/* a conditional
					 * request whose token was replaced:
					 * no attempt (busy is set too) */
	int				 recorded;	/* committed */
	int				 parked;	/* not committed, the
					 * new tokens kept in memory until
					 * the database takes them */
	int				 again;		/* told parked before:
					 * this is the same attempt, recorded */
	const struct vault_refresh	*rec;
	int64_t				 duration_ms;
};
typedef void (*rot_listener)(void *arg, const struct rot_result *);

struct rot_config {
	long	connect_timeout_ms, timeout_ms;
	int	host_concurrency;	/* in-flight requests per host */
	int	host_rate;		/* requests per host per rate window */
	int	host_rate_window_s;	/* 60: host_rate is per minute */
	long	retry_after_cap_s;
	long	backoff_base_s, backoff_cap_s;
	double	jitter;			/* fraction of the lifetime, 0.05 */
	int	failing_after;		/* consecutive failures, 3 */
	int	host_pause_clients;	/* clients with a 429 within a minute
					 * that pause their whole host, 3 */
	char	owner[96];		/* lease owner: host:pid:nonce */
	rot_listener	 listener;	/* NULL: none */
	void		*listener_arg;
};
void	rot_config_defaults(struct rot_config *);
/* Sets cfg->owner to "host:pid:nonce". */
void	rot_owner_init(struct rot_config *);
/* True when owner names a process on this host that no longer runs. */
int	rot_owner_dead(const char *owner);

/* Policy (policy.c). rand01 is uniform in [0, 1). */
int64_t	rot_next_refresh(const struct vault_cred *, int64_t issued_at,
	    long lifetime, double rand01, double jitter);
long	rot_safety_margin(long lifetime);
long	rot_backoff(int failures, long base, long cap, double rand01);
/* Missing/extra/over-broad scopes as a JSON object, NULL when none. */
json_t	*rot_scope_drift(const char *expected, const char *granted);
int	rot_scope_overbroad(const char *scope);
/* Fills a vault_refresh from an attempt's result (outcome → status,
 * event, next deadline).  `detail` is owned by out afterwards. */
void	rot_classify(const struct rot_config *, const struct vault_cred *,
	    const struct oauth_result *, int64_t now, double rand01,
	    struct vault_refresh *out);

/* One attempt now (lease respected); *outcome and *res describe it.
 * OV_OK when the attempt ran (whatever its outcome). */
enum ov_rc rot_refresh_one(struct vault *, const struct rot_config *,
	    const struct vault_cred *, enum oauth_outcome *outcome,
	    struct vault_cred *after);

/*
 * Client-secret rotation (secret_test.c): requests a token with the
 * credential's pending client secret, recording nothing and touching
 * neither the current token nor the credential's state; the token it
 * gets is wiped at once.  OV_OK when the request ran: res->outcome says
 * how it went (OAUTH_OK: the secret works), with its http_status and
 * OAuth error; the caller calls oauth_result_cleanup(res).  OV_EUSAGE
 * for a refresh_token grant (the test would rotate the refresh token at
 * the provider and lose it: promote and refresh instead); OV_ENOTFOUND
 * when nothing is pending.
 */
enum ov_rc rot_secret_test(struct vault *, const struct rot_config *,
	    const struct vault_cred *, struct oauth_result *res);

/*
 * Genesys secret regeneration (genesys.c): POST {api_base}/api/v2/oauth/
 * clients/{client_id}/secret with an admin credential's access token.
 * OV_OK when the request ran: res says how (OAUTH_OK with *secret set;
 * OAUTH_UNKNOWN when it was sent and no answer came: the provider may
 * have replaced the secret).
 */
enum ov_rc rot_genesys_new_secret(const char *api_base, const char *client_id,
	    const struct secret *admin_token, const struct rot_config *,
	    struct oauth_result *res, struct secret **secret);

/* The steps of rot_regenerate(), in order. */
enum rot_regen_step {
	REGEN_ADMIN_TOKEN,	/* an access token of the admin credential */
	REGEN_LEASE,		/* the credential's lease: no refresh meanwhile */
	REGEN_CALL,		/* the provider makes a new secret */
	REGEN_STAGE,		/* stored as pending */
	REGEN_TEST,		/* a token with it (client_credentials only) */
	REGEN_PROMOTE,		/* pending -> current */
	REGEN_REFRESH,		/* a token with the new current secret */
	REGEN_DONE
};
const char *rot_regen_step_str(enum rot_regen_step);
struct rot_regen {
	enum rot_regen_step	 step;	/* the one that failed, or DONE */
	enum oauth_outcome	 outcome;	/* of that step's request */
	long			 http_status;	/* 0: none */
	char			 error[OV_OAUTH_ERROR_MAX + 1];
	char			 description[OV_OAUTH_DESC_MAX + 1];
	int			 regenerated, staged, tested, promoted;
	int64_t			 duration_ms;
};
/*
 * `secret regenerate`: a new client secret for Genesys credential
 * org/name, made by the provider at the request of admin credential
 * admin_name of the same org (permission oauth:client:edit), stored as
 * pending, tested, promoted and refreshed; each step an event.  OV_OK
 * only when every step worked; otherwise out->step names the failed one
 * and the message says what state the credential is left in.  Errors
 * before the provider is called (unknown credential, not Genesys, the
 * lease held) change nothing.
 */
enum ov_rc rot_regenerate(struct vault *, const struct rot_config *,
	    const char *org, const char *name, const char *admin_name,
	    struct rot_regen *out);

/* `secret rotate-all` (rotate_all.c): rot_regenerate over many orgs. */
struct rot_bulk_filter {
	const char		*provider;	/* genesys */
	const char		*region;	/* NULL: any; any spelling */
	const char *const	*orgs;		/* NULL-terminated; NULL: all */
	const char		*name;		/* NULL: every credential */
	const char		*admin_name;	/* per org; never rotated */
};
enum rot_bulk_state { BULK_PLANNED, BULK_SKIPPED, BULK_OK, BULK_FAILED,
	BULK_NOT_STARTED };
const char *rot_bulk_state_str(enum rot_bulk_state);
struct rot_bulk_item {
	char			 org[OV_SLUG_MAX + 1], name[OV_SLUG_MAX + 1];
	enum rot_bulk_state	 state;
	enum ov_rc		 rc;
	char			 message[512];	/* why skipped or failed */
	struct rot_regen	 res;
};
/* The credentials filter selects, in org/name order, each planned or
 * skipped (no admin credential in its org).  *items is the caller's to
 * free(). */
enum ov_rc rot_bulk_plan(struct vault *, const struct rot_bulk_filter *,
	    struct rot_bulk_item **items, size_t *n);
/*
 * Regenerates every planned item, `concurrency` at a time, each on its
 * own vault connection.  When the last `stop_after` failures in a row
 * failed the same way (step and error), starts no more: those left are
 * BULK_NOT_STARTED and *stopped says why.  OV_OK when it ran.
 */
enum ov_rc rot_bulk_run(struct vault *, const struct rot_config *,
	    const char *admin_name, int concurrency, int stop_after,
	    struct rot_bulk_item *, size_t n, char *stopped, size_t len);

/* Reports (report.c): credentials in scope drift (missing, extra,
 * over-broad scopes), and the ledger of revoked / invalid_client events
 * with their context, newest first.  Appended to list. */
enum ov_rc rot_drift_report(struct vault *, json_t *list);
enum ov_rc rot_revocation_ledger(struct vault *, json_t *list);

/* serve's background re-encryption after a data-key rotation
 * (rewrap.c); it owns v (a vault_clone()) from now. */
struct rot_rewrap;
enum ov_rc rot_rewrap_start(struct vault *, struct rot_rewrap **);
void	rot_rewrap_stop(struct rot_rewrap *);	/* NULL ok */

struct rot_scheduler;
/* Starts the scheduler thread; it owns v (a vault_clone()) from now. */
enum ov_rc rot_scheduler_start(struct vault *, const struct rot_config *,
	    struct rot_scheduler **);
/* Asks for an attempt on cred_id soon, due or not (at most one at a
 * time per credential); the listener hears how it went.  if_gen >= 0
 * makes it conditional: only while the stored access token is still of
 * that generation (the token broker asks for the token it saw, which a
 * refresh may have replaced meanwhile; the listener then hears
 * `superseded`); -1: unconditional.  actor and request_id (NULL: the
 * scheduler's own) go into its events.  Thread-safe. */
void	rot_scheduler_request(struct rot_scheduler *, int64_t cred_id,
	    int64_t if_gen, const char *actor, const char *request_id);
/* Whether the scheduler thread is running. */
int	rot_scheduler_alive(struct rot_scheduler *);
/* Until when (wall ms; 0: not) a credential of token_url and client_id
 * is paused by a 429, and why ("rate_limited": its client's;
 * "host_rate_limited": its host's).  Thread-safe; s NULL: 0. */
int64_t	rot_scheduler_paused(struct rot_scheduler *, const char *token_url,
	    const char *client_id, const char **reason);
/* Every host that had a pause, for /metrics, and the client pauses
 * started so far. */
void	rot_scheduler_each_pause(struct rot_scheduler *,
	    void (*cb)(void *, const char *host, int host_paused,
	    int clients_paused), void *arg, uint64_t *client_pauses);
/* Lets in-flight transfers finish for up to grace_ms, then stops. */
void	rot_scheduler_stop(struct rot_scheduler *, int grace_ms);

#endif

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
/* Lets in-flight transfers finish for up to grace_ms, then stops. */
void	rot_scheduler_stop(struct rot_scheduler *, int grace_ms);

#endif

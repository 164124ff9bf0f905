/* refresh_int.h — attempt helpers shared by refresh.c and scheduler.c. */
#ifndef OV_REFRESH_INT_H
#define OV_REFRESH_INT_H

#include "rotation/rotation.h"

double		rot_rand01(void);
/* Opens the secrets of a leased credential and starts its request. */
enum ov_rc	rot_attempt_start(struct vault *, const struct rot_config *,
		    struct oauth_pool *, const struct vault_cred *,
		    const char *stage, oauth_done_cb, void *);
/* Whether a refused attempt is tried once more, under the same lease,
 * with the pending client secret: the provider may have switched already
 * (README "Automatic switch").  One rule for the scheduler and the CLI;
 * a refusal is decided before any refresh token is used. */
int		rot_try_pending(const struct vault_cred *,
		    const struct oauth_result *, int tried);
/* Sends c's request on a pool of its own and waits for the answer,
 * with the client secret of stage (NULL: current) and, for the
 * refresh_token grant, the current refresh token.  Records nothing and
 * takes no lease; *res is the caller's to oauth_result_cleanup(). */
enum ov_rc	rot_request_run(struct vault *, const struct rot_config *,
		    const struct vault_cred *, const char *stage,
		    struct oauth_result *res);
/* A finished attempt on its way to the database.  rec points into res:
 * a rot_done that moves (realloc, a copy) is prepared again before use. */
struct rot_done {
	struct vault_cred	cred;
	char			actor[OV_ACTOR_MAX + 1];	/* "": v's */
	char			request_id[33];
	int			promote;	/* the pending secret worked */
	int			pending_tried;	/* sent with the pending one */
	int			may_park;	/* the caller keeps what fails */
	int			parked;		/* kept: not recorded yet */
	int			told_parked;	/* the listener heard so */
	int64_t			at;		/* when the answer came (s) */
	struct oauth_result	res;	/* owns the new tokens until wiped */
	struct vault_refresh	rec;
	enum ov_rc		rc;
};
/* Classifies d->res into d->rec as of d->at (now, when 0); again after
 * a move.  d starts zeroed. */
void		rot_done_prepare(const struct rot_config *, struct rot_done *);
/*
 * Records n prepared attempts: one transaction for the batch (group
 * commit), each one alone when the batch cannot commit, a busy database
 * retried; then logs and wipes them.  Returns the first failure.
 */
enum ov_rc	rot_done_commit(struct vault *, const struct rot_config *,
		    struct rot_done *, size_t n);
/* The two halves of rot_done_commit, for a caller that commits more in
 * the same transaction: record inside it, then settle after COMMIT
 * (committed = whether it did).  Settling tells cfg's listener.  A
 * successful attempt (new tokens, maybe a rotated refresh token) that
 * cannot be recorded is `parked` when may_park: left unwiped, for the
 * caller to record later with rot_done_commit() (the scheduler retries
 * until the database takes it: disk full, read-only file). */
void		rot_done_record(struct vault *, struct rot_done *, size_t n);
enum ov_rc	rot_done_settle(struct vault *, const struct rot_config *,
		    struct rot_done *, size_t n, int committed);

#endif

/* refresh_int.h — attempt helpers shared by refresh.c and scheduler.c. */
#ifndef OV_REFRESH_INT_H
#define OV_REFRESH_INT_H

#include "rotation/rotation.h"

double		rot_rand01(void);
/* Opens the secrets of a leased credential and starts its request. */
enum ov_rc	rot_attempt_start(struct vault *, const struct rot_config *,
		    struct oauth_pool *, const struct vault_cred *,
		    oauth_done_cb, void *);
/* Classifies, records (retrying a busy database), logs, wipes res. */
enum ov_rc	rot_attempt_finish(struct vault *, const struct rot_config *,
		    const struct vault_cred *, struct oauth_result *);

#endif

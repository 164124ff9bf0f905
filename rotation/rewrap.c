/*
 * rewrap.c — `serve`'s background re-encryption after a data-key
 * rotation: small batches (one transaction each) while rows sealed with
 * an older key remain, with a pause between batches so refreshes and
 * API writes get the database in between; idle checks once in a while
 * otherwise (a rotation by the CLI is picked up within REWRAP_IDLE_S).
 */
#include <errno.h>
#include <pthread.h>
#include <stdlib.h>
#include <time.h>

#include "rotation/rotation.h"
#include "util/log.h"
#include "util/timefmt.h"

#define REWRAP_BATCH	100
#define REWRAP_PAUSE_MS	20
#define REWRAP_IDLE_S	10

struct rot_rewrap {
	struct vault	*v;
	pthread_t	 thread;
	pthread_mutex_t	 lock;
	pthread_cond_t	 cond;
	int		 stop;
};

static void
nap(struct rot_rewrap *w, long ms)
{
	struct timespec ts;

	timefmt_deadline(&ts, CLOCK_REALTIME, ms);
	pthread_mutex_lock(&w->lock);
	while (!w->stop && pthread_cond_timedwait(&w->cond, &w->lock, &ts) !=
	    ETIMEDOUT)
		;
	pthread_mutex_unlock(&w->lock);
}

static void *
rewrap_main(void *arg)
{
	struct rot_rewrap *w = arg;
	int64_t total = 0;

	for (;;) {
		int64_t n = 0;
		int done = 0, stop;

		pthread_mutex_lock(&w->lock);
		stop = w->stop;
		pthread_mutex_unlock(&w->lock);
		if (stop)
			break;
		if (vault_key_rewrap(w->v, REWRAP_BATCH, &n, &done) != OV_OK) {
			log_warnx("rewrap: %s; retrying in %d s", ov_errmsg(),
			    REWRAP_IDLE_S);
			nap(w, REWRAP_IDLE_S * 1000L);
			continue;
		}
		total += n;
		if (done && total) {
			log_info("rewrap: %lld row(s) re-encrypted with the "
			    "newest data key", (long long)total);
			total = 0;
		}
		nap(w, done ? REWRAP_IDLE_S * 1000L : REWRAP_PAUSE_MS);
	}
	return NULL;
}

enum ov_rc
rot_rewrap_start(struct vault *v, struct rot_rewrap **out)
{
	struct rot_rewrap *w = calloc(1, sizeof(*w));

	if (w == NULL)
		return ov_seterr(OV_ENOMEM, "out of memory");
	w->v = v;
	pthread_mutex_init(&w->lock, NULL);
	pthread_cond_init(&w->cond, NULL);
	if (pthread_create(&w->thread, NULL, rewrap_main, w) != 0) {
		free(w);
		return ov_seterr(OV_EINTERNAL, "cannot start the rewrap thread");
	}
	*out = w;
	return OV_OK;
}

void
rot_rewrap_stop(struct rot_rewrap *w)
{
	if (w == NULL)
		return;
	pthread_mutex_lock(&w->lock);
	w->stop = 1;
	pthread_cond_signal(&w->cond);
	pthread_mutex_unlock(&w->lock);
	pthread_join(w->thread, NULL);
	pthread_cond_destroy(&w->cond);
	pthread_mutex_destroy(&w->lock);
	vault_close(w->v);
	free(w);
}

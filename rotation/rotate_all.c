/*
 * rotate_all.c — `secret rotate-all`: rot_regenerate() across many orgs
 * with a cap on how many run at once, stopping when the same failure
 * keeps coming back (a missing permission or an unreachable provider
 * would fail every org the same way; there is no point in trying them
 * all).
 */
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "rotation/provider.h"
#include "rotation/rotation.h"

const char *
rot_bulk_state_str(enum rot_bulk_state s)
{
	static const char *const names[] = { "planned", "skipped", "ok",
	    "failed", "not_started" };

	return (unsigned)s <= BULK_NOT_STARTED ? names[s] : "?";
}

struct plan {
	const struct rot_bulk_filter	*f;
	const char			*region;	/* canonical */
	struct rot_bulk_item		*items;
	size_t				 n, cap;
	enum ov_rc			 rc;
};

static int
org_wanted(const struct rot_bulk_filter *f, const char *org)
{
	if (f->orgs == NULL)
		return 1;
	for (size_t i = 0; f->orgs[i]; i++)
		if (strcmp(f->orgs[i], org) == 0)
			return 1;
	return 0;
}

static int
plan_one(const struct vault_cred *c, void *arg)
{
	struct plan *p = arg;
	struct rot_bulk_item *it;

	if (!org_wanted(p->f, c->org) || strcmp(c->name, p->f->admin_name) ==
	    0 || (p->f->name && strcmp(c->name, p->f->name) != 0) ||
	    (p->region && strcmp(c->region, p->region) != 0))
		return 0;
	if (p->n == p->cap) {
		size_t cap = p->cap ? p->cap * 2 : 64;
		struct rot_bulk_item *more = realloc(p->items,
		    cap * sizeof(*more));

		if (more == NULL) {
			p->rc = ov_seterr(OV_ENOMEM, "out of memory");
			return 1;
		}
		p->items = more;
		p->cap = cap;
	}
	it = &p->items[p->n++];
	memset(it, 0, sizeof(*it));
	snprintf(it->org, sizeof(it->org), "%s", c->org);
	snprintf(it->name, sizeof(it->name), "%s", c->name);
	return 0;
}

enum ov_rc
rot_bulk_plan(struct vault *v, const struct rot_bulk_filter *f,
    struct rot_bulk_item **items, size_t *n)
{
	struct vault_cred_filter cf = { .provider = f->provider };
	struct plan p = { .f = f };
	const char *domain;
	struct vault_cred admin;
	struct vault_org o;
	enum ov_rc rc;

	if (strcmp(f->provider, "genesys") != 0)
		return ov_seterr(OV_EUSAGE, "rotate-all regenerates secrets "
		    "through the Genesys Cloud API; --provider %s has no such "
		    "API (stage secrets made at the provider instead)",
		    f->provider);
	if (f->region && (rc = provider_genesys_region(f->region, &p.region,
	    &domain)) != OV_OK)
		return rc;
	for (size_t i = 0; f->orgs && f->orgs[i]; i++)
		if ((rc = vault_org_get(v, f->orgs[i], &o)) != OV_OK)
			return rc;
	if ((rc = vault_cred_list(v, &cf, plan_one, &p)) == OV_OK)
		rc = p.rc;
	for (size_t i = 0; rc == OV_OK && i < p.n; i++) {
		struct rot_bulk_item *it = &p.items[i];

		rc = vault_cred_get(v, it->org, f->admin_name, &admin);
		if (rc == OV_ENOTFOUND || (rc == OV_OK &&
		    strcmp(admin.provider, "genesys") != 0)) {
			it->state = BULK_SKIPPED;
			snprintf(it->message, sizeof(it->message), "org %s has "
			    "no Genesys admin credential %s", it->org,
			    f->admin_name);
			rc = OV_OK;
		}
	}
	if (rc != OV_OK) {
		free(p.items);
		return rc;
	}
	*items = p.items;
	*n = p.n;
	return OV_OK;
}

struct run {
	pthread_mutex_t		 lock;
	struct vault		*v;
	const struct rot_config	*cfg;
	const char		*admin_name;
	struct rot_bulk_item	*items;
	size_t			 n, next;
	int			 stop_after, streak;
	char			 last[96];	/* step:error of the last failure */
	char			*stopped;
	size_t			 stoplen;
};

/* Lock held: counts a finished item toward the stop rule. */
static void
tally(struct run *r, const struct rot_bulk_item *it)
{
	char key[sizeof(r->last)];

	if (it->state == BULK_OK) {
		r->streak = 0;
		r->last[0] = '\0';
		return;
	}
	snprintf(key, sizeof(key), "%s:%s", rot_regen_step_str(it->res.step),
	    it->res.error[0] ? it->res.error : ov_rc_str(it->rc));
	r->streak = strcmp(key, r->last) == 0 ? r->streak + 1 : 1;
	snprintf(r->last, sizeof(r->last), "%s", key);
	if (r->streak >= r->stop_after && r->stopped[0] == '\0')
		snprintf(r->stopped, r->stoplen, "the same failure (%s) came "
		    "%d times in a row", key, r->streak);
}

static void *
worker(void *arg)
{
	struct run *r = arg;
	struct vault *v = NULL;
	enum ov_rc open_rc = vault_clone(r->v, &v);

	pthread_mutex_lock(&r->lock);
	while (r->stopped[0] == '\0') {
		struct rot_bulk_item *it = NULL;

		while (r->next < r->n && it == NULL)
			if (r->items[r->next++].state == BULK_PLANNED)
				it = &r->items[r->next - 1];
		if (it == NULL)
			break;
		pthread_mutex_unlock(&r->lock);
		it->rc = open_rc != OV_OK ? open_rc : rot_regenerate(v, r->cfg,
		    it->org, it->name, r->admin_name, &it->res);
		if (it->rc != OV_OK)
			snprintf(it->message, sizeof(it->message), "%s",
			    ov_errmsg());
		pthread_mutex_lock(&r->lock);
		it->state = it->rc == OV_OK ? BULK_OK : BULK_FAILED;
		tally(r, it);
	}
	pthread_mutex_unlock(&r->lock);
	vault_close(v);
	return NULL;
}

enum ov_rc
rot_bulk_run(struct vault *v, const struct rot_config *cfg,
    const char *admin_name, int concurrency, int stop_after,
    struct rot_bulk_item *items, size_t n, char *stopped, size_t len)
{
	struct run r = { .v = v, .cfg = cfg, .admin_name = admin_name,
	    .items = items, .n = n, .stop_after = stop_after,
	    .stopped = stopped, .stoplen = len };
	pthread_t tids[64];
	int started = 0;

	stopped[0] = '\0';
	if (concurrency < 1 || concurrency > 64)
		return ov_seterr(OV_EUSAGE, "concurrency must be 1 to 64");
	pthread_mutex_init(&r.lock, NULL);
	for (int i = 0; i < concurrency && (size_t)i < n; i++)
		if (pthread_create(&tids[started], NULL, worker, &r) == 0)
			started++;
	if (started == 0 && n > 0)
		worker(&r);	/* no threads: one at a time, here */
	for (int i = 0; i < started; i++)
		pthread_join(tids[i], NULL);
	pthread_mutex_destroy(&r.lock);
	for (size_t i = 0; i < n; i++)
		if (items[i].state == BULK_PLANNED) {
			items[i].state = BULK_NOT_STARTED;
			snprintf(items[i].message, sizeof(items[i].message),
			    "not started: %s", stopped);
		}
	return OV_OK;
}

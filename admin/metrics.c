/*
 * metrics.c — GET /metrics in the Prometheus text format (0.0.4).
 *
 * Counters (refreshes by outcome, refresh latency, token answers, HTTP
 * answers by route and status, authentication failures, connections
 * refused and cut at the front door) are atomics bumped where things
 * happen.  Gauges (credentials by status, seconds to the earliest
 * expiry, credentials in scope drift) are read from the
 * vault at scrape time: one pass over the credentials a scrape.  The
 * process gauges (resident memory, open descriptors, SQLite's memory)
 * come from /proc/self and SQLite at scrape time too.
 */
#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <unistd.h>

#include "admin/admin_int.h"
#include "util/timefmt.h"

static const double latency_le[METRICS_LATENCY_N - 1] = {
	0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 15
};

static const char *const statuses[] = {
	"active", "failing", "revoked", "invalid_client",
	"secret_or_grant_refused", "tampered", "unknown", "disabled", NULL
};

void
metrics_refresh(struct metrics *m, const struct rot_result *res)
{
	double s;
	int i;

	if (res->superseded || res->again)
		return;		/* no attempt, or one counted when parked */
	if (res->busy) {
		atomic_fetch_add(&m->refresh_busy, 1);
		return;
	}
	atomic_fetch_add(&m->refresh[(unsigned)res->outcome %
	    OAUTH_OUTCOME_COUNT], 1);
	s = (double)res->duration_ms / 1000.0;
	for (i = 0; i < METRICS_LATENCY_N - 1 && s > latency_le[i]; i++)
		;
	atomic_fetch_add(&m->latency[i], 1);
	atomic_fetch_add(&m->latency_sum_ms, (unsigned long long)
	    (res->duration_ms > 0 ? res->duration_ms : 0));
	atomic_fetch_add(&m->latency_count, 1);
}

struct gauges {
	const struct vault_apikey	*key;
	struct rot_scheduler		*sched;
	int64_t				 now;
	long long			 by_status[9];	/* statuses[], other */
	long long			 by_health[3];	/* enum vault_health */
	long long			 drift;
	int64_t				 earliest;	/* 0: none */
};

static int
gauge_cred(const struct vault_cred *c, void *arg)
{
	struct gauges *g = arg;
	enum vault_health h;
	json_t *d;
	int i;

	if (!vault_apikey_allows_cred(g->key, c->org, c->name))
		return 0;
	for (i = 0; statuses[i] && strcmp(statuses[i], c->status) != 0; i++)
		;
	g->by_status[i]++;
	h = vault_cred_health(c, g->now);
	/* As the API shows it: a pause makes an ok credential degraded. */
	if (h == VAULT_HEALTH_OK && rot_scheduler_paused(g->sched,
	    c->token_url, c->client_id, NULL))
		h = VAULT_HEALTH_DEGRADED;
	g->by_health[h]++;
	if (c->expires_at && statuses[i] && i != 2 && i < 5 &&
	    (g->earliest == 0 || c->expires_at < g->earliest))
		g->earliest = c->expires_at;
	if (c->granted_scope[0] && (d = rot_scope_drift(c->expected_scope,
	    c->granted_scope)) != NULL) {
		g->drift++;
		json_decref(d);
	}
	return 0;
}

#define HEAD(f, name, type, help) \
	fprintf(f, "# HELP " name " " help "\n# TYPE " name " " type "\n")

static void
counters(FILE *f, struct metrics *m)
{
	unsigned long long cum = 0;

	HEAD(f, "orgvault_refreshes_total", "counter",
	    "Refresh attempts by outcome.");
	for (int o = OAUTH_OK; o < OAUTH_OUTCOME_COUNT; o++)
		fprintf(f, "orgvault_refreshes_total{outcome=\"%s\"} %llu\n",
		    oauth_outcome_str((enum oauth_outcome)o),
		    atomic_load(&m->refresh[o]));
	HEAD(f, "orgvault_refresh_busy_total", "counter", "Requested "
	    "refreshes that could not start (lease held elsewhere, host "
	    "paused).");
	fprintf(f, "orgvault_refresh_busy_total %llu\n",
	    atomic_load(&m->refresh_busy));
	HEAD(f, "orgvault_refresh_duration_seconds", "histogram",
	    "Duration of refresh requests to token endpoints.");
	for (int i = 0; i < METRICS_LATENCY_N; i++) {
		cum += atomic_load(&m->latency[i]);
		if (i < METRICS_LATENCY_N - 1)
			fprintf(f, "orgvault_refresh_duration_seconds_bucket"
			    "{le=\"%g\"} %llu\n", latency_le[i], cum);
		else
			fprintf(f, "orgvault_refresh_duration_seconds_bucket"
			    "{le=\"+Inf\"} %llu\n", cum);
	}
	fprintf(f, "orgvault_refresh_duration_seconds_sum %.3f\n",
	    (double)atomic_load(&m->latency_sum_ms) / 1000.0);
	fprintf(f, "orgvault_refresh_duration_seconds_count %llu\n",
	    atomic_load(&m->latency_count));
	HEAD(f, "orgvault_token_requests_total", "counter",
	    "Token broker answers by HTTP status.");
	for (int i = 0; i < METRICS_STATUS_N; i++)
		if (atomic_load(&m->token[i]) || i == 0)
			fprintf(f, "orgvault_token_requests_total{status=\"%u\"}"
			    " %llu\n", http_status_of_index(i),
			    atomic_load(&m->token[i]));
	HEAD(f, "orgvault_http_requests_total", "counter",
	    "Admin API answers by route and status.");
	for (int r = 0; r < METRICS_ROUTE_N; r++)
		for (int i = 0; i < METRICS_STATUS_N; i++) {
			unsigned long long n = atomic_load(&m->http[r][i]);
			char label[96];

			if (n)
				fprintf(f, "orgvault_http_requests_total{"
				    "method=\"%s\",route=\"%s\",status=\"%u\"} "
				    "%llu\n", routes_method(r),
				    routes_label(r, label, sizeof(label)),
				    http_status_of_index(i),
				    n);
		}
	HEAD(f, "orgvault_auth_failures_total", "counter",
	    "Requests with an invalid API key.");
	fprintf(f, "orgvault_auth_failures_total %llu\n",
	    atomic_load(&m->auth_failures));
	HEAD(f, "orgvault_auth_throttled_total", "counter",
	    "Requests refused (429) after repeated authentication failures.");
	fprintf(f, "orgvault_auth_throttled_total %llu\n",
	    atomic_load(&m->auth_throttled));
	HEAD(f, "orgvault_http_connections_refused_total", "counter",
	    "Connections refused at accept: their address held "
	    "--max-connections-per-ip.");
	fprintf(f, "orgvault_http_connections_refused_total %llu\n",
	    atomic_load(&m->conn_refused));
	HEAD(f, "orgvault_http_requests_cut_total", "counter",
	    "Connections closed because no whole request arrived within "
	    "--request-timeout.");
	fprintf(f, "orgvault_http_requests_cut_total %llu\n",
	    atomic_load(&m->requests_cut));
}

/* 429 pauses: one sample per token host that had one. */
static void
pause_host(void *arg, const char *host, int host_paused, int clients)
{
	FILE *f = arg;
	char label[256];
	size_t o = 0;

	/* Host names are URL hosts (printable ASCII); escape anyway. */
	for (const char *p = host; *p && o + 3 < sizeof(label); p++) {
		if (*p == '"' || *p == '\\')
			label[o++] = '\\';
		label[o++] = *p;
	}
	label[o] = '\0';
	fprintf(f, "orgvault_endpoint_paused{host=\"%s\"} %d\n", label,
	    host_paused);
	fprintf(f, "orgvault_endpoint_clients_paused{host=\"%s\"} %d\n",
	    label, clients);
}

static void
pauses(FILE *f, struct rot_scheduler *sched)
{
	uint64_t total;

	HEAD(f, "orgvault_endpoint_paused", "gauge", "1 while a token host "
	    "is paused as a whole (several of its clients got 429).");
	HEAD(f, "orgvault_endpoint_clients_paused", "gauge", "Clients of a "
	    "token host paused by their own 429 now.");
	rot_scheduler_each_pause(sched, pause_host, f, &total);
	HEAD(f, "orgvault_client_paused_total", "counter",
	    "429 pauses of a (token host, client id) since start.");
	fprintf(f, "orgvault_client_paused_total %llu\n",
	    (unsigned long long)total);
}

/* Prometheus's usual process_* names, and SQLite's share of the memory:
 * what a soak watches for leaks. */
static void
process_gauges(FILE *f)
{
	long long pages = -1, fds = 0;
	struct dirent *e;
	struct rlimit rl;
	FILE *statm;
	DIR *d;

	if ((statm = fopen("/proc/self/statm", "r")) != NULL) {
		if (fscanf(statm, "%*s %lld", &pages) != 1)
			pages = -1;
		fclose(statm);
	}
	if (pages >= 0) {
		HEAD(f, "process_resident_memory_bytes", "gauge",
		    "Resident memory size in bytes.");
		fprintf(f, "process_resident_memory_bytes %lld\n",
		    pages * sysconf(_SC_PAGESIZE));
	}
	if ((d = opendir("/proc/self/fd")) != NULL) {
		while ((e = readdir(d)) != NULL)
			fds += e->d_name[0] != '.';
		closedir(d);
		HEAD(f, "process_open_fds", "gauge",
		    "Number of open file descriptors.");
		fprintf(f, "process_open_fds %lld\n", fds - 1); /* not d's */
	}
	if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur != RLIM_INFINITY) {
		HEAD(f, "process_max_fds", "gauge",
		    "Maximum number of open file descriptors.");
		fprintf(f, "process_max_fds %llu\n",
		    (unsigned long long)rl.rlim_cur);
	}
	HEAD(f, "orgvault_sqlite_memory_bytes", "gauge",
	    "Memory SQLite holds (page caches, statements), in bytes.");
	fprintf(f, "orgvault_sqlite_memory_bytes %lld\n",
	    (long long)vault_sqlite_memory());
}

enum MHD_Result
metrics_answer(struct req *r)
{
	struct gauges g = { .key = &r->key, .sched = r->a->sched,
	    .now = timefmt_now() };
	struct vault *v;
	char *buf = NULL;
	size_t len = 0;
	FILE *f;
	enum ov_rc rc;

	if ((v = admin_vault(r)) == NULL)
		return MHD_YES;
	if ((rc = vault_cred_list(v, &(struct vault_cred_filter){ 0 },
	    gauge_cred, &g)) != OV_OK)
		return http_rc(r, rc);
	if ((f = open_memstream(&buf, &len)) == NULL)
		return http_problem(r, 500, "internal", NULL, "out of memory");
	counters(f, &r->a->metrics);
	HEAD(f, "orgvault_credentials", "gauge", "Credentials by status, and "
	    "by health (ok, degraded, needs_action).");
	for (int i = 0; i < 9; i++)
		fprintf(f, "orgvault_credentials{status=\"%s\"} %lld\n",
		    statuses[i] ? statuses[i] : "other", g.by_status[i]);
	for (int i = 0; i < 3; i++)
		fprintf(f, "orgvault_credentials{health=\"%s\"} %lld\n",
		    vault_health_str((enum vault_health)i), g.by_health[i]);
	HEAD(f, "orgvault_credentials_in_drift", "gauge",
	    "Credentials whose granted scope differs from the expected one.");
	fprintf(f, "orgvault_credentials_in_drift %lld\n", g.drift);
	HEAD(f, "orgvault_earliest_expiry_seconds", "gauge", "Seconds until "
	    "the earliest access-token expiry (negative: already expired).");
	if (g.earliest)
		fprintf(f, "orgvault_earliest_expiry_seconds %lld\n",
		    (long long)(g.earliest - timefmt_now()));
	HEAD(f, "orgvault_broker_tokens", "gauge", "Access tokens the token "
	    "broker holds in memory (every valid one after the load at "
	    "start).");
	fprintf(f, "orgvault_broker_tokens %zu\n", broker_tokens(r->a->broker));
	HEAD(f, "orgvault_scheduler_up", "gauge",
	    "1 while the refresh scheduler runs.");
	fprintf(f, "orgvault_scheduler_up %d\n",
	    rot_scheduler_alive(r->a->sched));
	pauses(f, r->a->sched);
	process_gauges(f);
	if (fclose(f) != 0 || buf == NULL) {
		free(buf);
		return http_problem(r, 500, "internal", NULL, "out of memory");
	}
	return http_text(r, 200, "text/plain; version=0.0.4; charset=utf-8",
	    buf, len);
}

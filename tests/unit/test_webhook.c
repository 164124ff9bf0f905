/*
 * test_webhook.c — webhooks (vault/webhook.c, vault/outbox.c) through
 * vault.h, and the sender's pure parts (rotation/webhook.h): which
 * events become alerts and when, the outbox claim/record cycle, the
 * sealed secret, and the signature against a vector made with openssl.
 */
#include <jansson.h>

#include "rotation/webhook.h"
#include "unit.h"
#include "util/timefmt.h"

#define HOOK_SECRET	"0123456789abcdef-key"

static int64_t
hook_add(struct vault *v, const char *url, const char *events)
{
	struct secret *s = unit_secret(HOOK_SECRET);
	struct vault_webhook w;

	if (vault_webhook_add(v, url, events, s, &w) != OV_OK)
		fail_msg("webhook add %s: %s", url, ov_errmsg());
	secret_free(s);
	return w.id;
}

static int64_t
cred_make(struct vault *v, const char *name)
{
	struct vault_cred c;
	struct vault_org o;
	struct secret *s = unit_secret("client-secret-canary");
	int created;

	memset(&o, 0, sizeof(o));
	snprintf(o.slug, sizeof(o.slug), "acme");
	snprintf(o.name, sizeof(o.name), "Acme");
	(void)vault_org_add(v, &o);	/* exists after the first */
	memset(&c, 0, sizeof(c));
	snprintf(c.org, sizeof(c.org), "acme");
	snprintf(c.name, sizeof(c.name), "%s", name);
	snprintf(c.provider, sizeof(c.provider), "oauth2");
	snprintf(c.token_url, sizeof(c.token_url), "https://a.example/token");
	snprintf(c.auth, sizeof(c.auth), "client_secret_basic");
	snprintf(c.grant, sizeof(c.grant), "client_credentials");
	snprintf(c.client_id, sizeof(c.client_id), "cid");
	c.refresh_fraction = 0.75;
	assert_int_equal(vault_cred_put(v, &c, s, NULL, &created), OV_OK);
	secret_free(s);
	assert_int_equal(vault_cred_get(v, "acme", name, &c), OV_OK);
	return c.id;
}

/* Records one attempt on cred_id as rotation/ would. */
static void
attempt(struct vault *v, int64_t id, const char *status, const char *kind,
    json_t *drift)
{
	struct vault_refresh r = { .owner = "unit", .outcome = "x",
	    .status = status, .event_kind = kind, .drift = drift };
	struct secret *tok = unit_secret("access-token-canary");
	struct vault_cred c;
	int64_t now = timefmt_now();

	/* Whatever the status (revoked ones too), as an operator may. */
	assert_int_equal(vault_lease_claim(v, id, "unit", NULL, now, now + 60,
	    VAULT_CLAIM_OPERATOR, -1, &c), OV_OK);
	if (strcmp(kind, "refresh.ok") == 0) {
		r.access_token = tok;
		r.token_type = "Bearer";
		r.granted_scope = "";
		r.issued_at = now;
		r.expires_at = now + 3600;
		r.next_refresh_at = now + 2700;
	}
	if (vault_refresh_record(v, id, &r) != OV_OK)
		fail_msg("record %s: %s", kind, ov_errmsg());
	secret_free(tok);
	json_decref(drift);
}

struct collect {
	json_t	*events;	/* "event" strings, oldest first */
	int64_t	 webhook_id;	/* 0: every webhook */
};

static int
collect_cb(const struct vault_delivery *d, void *arg)
{
	struct collect *c = arg;

	if (c->webhook_id == 0 || d->webhook_id == c->webhook_id)
		json_array_insert_new(c->events, 0, json_string(d->event));
	return 0;
}

/* The alerts queued so far, oldest first, as "a,b,c". */
static char *
queued(struct vault *v, int64_t webhook_id)
{
	struct collect c = { json_array(), webhook_id };
	char buf[512] = "";
	size_t i;
	json_t *e;

	assert_int_equal(vault_delivery_list(v, 0, 1000, collect_cb, &c),
	    OV_OK);
	json_array_foreach(c.events, i, e)
		snprintf(buf + strlen(buf), sizeof(buf) - strlen(buf), "%s%s",
		    i ? "," : "", json_string_value(e));
	json_decref(c.events);
	return strdup(buf);
}

static void
assert_queued(struct vault *v, int64_t webhook_id, const char *want)
{
	char *got = queued(v, webhook_id);

	assert_string_equal(got, want);
	free(got);
}

static void
test_alerts(void **state)
{
	struct unit_vault *u = *state;
	int64_t all = hook_add(u->v, "https://hooks.example/all", NULL);
	int64_t rec = hook_add(u->v, "https://hooks.example/rec",
	    "recovered");
	int64_t a = cred_make(u->v, "a"), b = cred_make(u->v, "b");

	attempt(u->v, a, "active", "refresh.ok", NULL);
	assert_queued(u->v, 0, "");		/* fine: nothing */
	attempt(u->v, a, "revoked", "credential.revoked", NULL);
	attempt(u->v, a, "revoked", "credential.revoked", NULL);
	assert_queued(u->v, all, "revoked");	/* a state: once */
	attempt(u->v, a, "active", "refresh.ok", NULL);
	attempt(u->v, a, "active", "refresh.ok", NULL);
	assert_queued(u->v, all, "revoked,recovered");
	assert_queued(u->v, rec, "recovered");
	/* One failure is not failing; the status decides. */
	attempt(u->v, b, "active", "refresh.failed", NULL);
	assert_queued(u->v, all, "revoked,recovered");
	attempt(u->v, b, "failing", "refresh.failed", NULL);
	attempt(u->v, b, "failing", "refresh.rate_limited", NULL);
	assert_queued(u->v, all, "revoked,recovered,failing");
	attempt(u->v, b, "invalid_client", "credential.invalid_client", NULL);
	attempt(u->v, b, "active", "refresh.ok", json_pack("{s:[s]}", "extra",
	    "admin"));
	assert_queued(u->v, all, "revoked,recovered,failing,invalid_client,"
	    "recovered,scope_drift");
	assert_queued(u->v, rec, "recovered,recovered");
}

struct body_check {
	int	seen;
};

static int
no_secret_cb(const struct vault_delivery *d, void *arg)
{
	struct body_check *c = arg;

	c->seen++;
	assert_null(strstr(d->url, HOOK_SECRET));
	assert_null(strstr(d->last_error, HOOK_SECRET));
	return 0;
}

static void
test_claim_cycle(void **state)
{
	struct unit_vault *u = *state;
	struct vault_delivery d, d2;
	struct body_check bc = { 0 };
	int64_t hook = hook_add(u->v, "http://127.0.0.1:9/x", "revoked");
	int64_t a = cred_make(u->v, "a"), now = timefmt_now(), due, n;
	json_t *body;

	attempt(u->v, a, "revoked", "credential.revoked", NULL);
	assert_int_equal(vault_delivery_claim(u->v, now, 15, &d, &due), OV_OK);
	assert_int_equal(d.webhook_id, hook);
	assert_string_equal(d.event, "revoked");
	assert_int_equal(d.attempts, 0);
	body = json_loads(d.body, 0, NULL);
	assert_non_null(body);
	assert_int_equal(json_integer_value(json_object_get(body, "id")), d.id);
	assert_string_equal(json_string_value(json_object_get(body, "event")),
	    "revoked");
	assert_string_equal(json_string_value(json_object_get(body,
	    "credential")), "a");
	assert_null(strstr(d.body, "canary"));
	json_decref(body);
	/* Leased: nobody else gets it until the lease runs out. */
	assert_int_equal(vault_delivery_claim(u->v, now, 15, &d2, &due),
	    OV_ENOTFOUND);
	assert_int_equal(due, now + 15);
	assert_int_equal(vault_delivery_claim(u->v, now + 15, 15, &d2, &due),
	    OV_OK);
	assert_int_equal(d2.id, d.id);
	vault_delivery_cleanup(&d2);
	/* A failure: due again at retry_at. */
	assert_int_equal(vault_delivery_done(u->v, d.id, 500, "HTTP 500",
	    now + 100), OV_OK);
	assert_int_equal(vault_delivery_claim(u->v, now + 99, 15, &d2, &due),
	    OV_ENOTFOUND);
	assert_int_equal(due, now + 100);
	assert_int_equal(vault_delivery_claim(u->v, now + 100, 15, &d2, &due),
	    OV_OK);
	assert_int_equal(d2.attempts, 1);
	assert_int_equal(d2.last_status, 500);
	assert_string_equal(d2.last_error, "HTTP 500");
	assert_string_equal(d2.body, d.body);	/* byte for byte, retried */
	assert_int_equal(vault_delivery_done(u->v, d.id, 204, "", 0), OV_OK);
	assert_int_equal(vault_delivery_claim(u->v, now + 10000, 15, &d2,
	    &due), OV_ENOTFOUND);
	assert_int_equal(due, 0);
	assert_int_equal(vault_delivery_list(u->v, 0, 0, no_secret_cb, &bc),
	    OV_OK);
	assert_int_equal(bc.seen, 1);
	bc.seen = 0;
	assert_int_equal(vault_delivery_list(u->v, 1, 0, no_secret_cb, &bc),
	    OV_OK);
	assert_int_equal(bc.seen, 0);
	assert_int_equal(vault_delivery_prune(u->v, timefmt_now() + 1, &n),
	    OV_OK);
	assert_int_equal(n, 1);
	vault_delivery_cleanup(&d);
	vault_delivery_cleanup(&d2);
}

static int
count_cb(const struct vault_webhook *w, void *arg)
{
	(*(int *)arg)++;
	return 0;
}

static void
check_cb(const struct vault_check_failure *f, void *arg)
{
	assert_string_equal(f->table, "webhooks");
	(*(int *)arg)++;
}

static void
test_add_rm_secret(void **state)
{
	struct unit_vault *u = *state;
	struct secret *s = unit_secret("short"), *got = NULL;
	struct vault_webhook w;
	int64_t id, checked = 0, failures = 0;
	int n = 0, bad = 0;

	assert_int_equal(vault_webhook_add(u->v, "https://h.example/", NULL,
	    s, &w), OV_EINVAL);
	secret_free(s);
	s = unit_secret(HOOK_SECRET);
	assert_int_equal(vault_webhook_add(u->v, "http://h.example/", NULL, s,
	    &w), OV_EINVAL);
	assert_int_equal(vault_webhook_add(u->v, "https://h.example/",
	    "failing,nope", s, &w), OV_EINVAL);
	assert_int_equal(vault_webhook_add(u->v, "https://h.example/",
	    "recovered,revoked,recovered", s, &w), OV_OK);
	assert_string_equal(w.events, "revoked,recovered");
	assert_int_equal(vault_webhook_add(u->v, "https://h.example/", NULL, s,
	    &w), OV_ECONFLICT);
	secret_free(s);
	id = hook_add(u->v, "https://h.example/two", "all");
	assert_int_equal(vault_webhook_secret_open(u->v, id, &got), OV_OK);
	assert_int_equal(got->len, strlen(HOOK_SECRET));
	assert_memory_equal(got->buf, HOOK_SECRET, got->len);
	secret_free(got);
	assert_int_equal(unit_db_int(u->db, "SELECT count(*) FROM webhooks "
	    "WHERE instr(secret_ct, '" HOOK_SECRET "') > 0"), 0);
	assert_int_equal(vault_webhook_list(u->v, count_cb, &n), OV_OK);
	assert_int_equal(n, 2);
	/* A URL changed behind orgvault's back: the secret no longer opens. */
	vault_close(u->v);
	u->v = NULL;
	assert_int_equal(unit_db_exec(u->db, "UPDATE webhooks SET url = "
	    "'https://evil.example/' WHERE url = 'https://h.example/two'"),
	    SQLITE_OK);
	assert_int_equal(vault_open(&u->opts, 0, &u->v), OV_OK);
	assert_int_not_equal(vault_webhook_secret_open(u->v, id, &got), OV_OK);
	assert_int_equal(vault_check(u->v, check_cb, &bad, &checked,
	    &failures), OV_OK);
	assert_int_equal(failures, 1);
	assert_int_equal(bad, 1);
	assert_int_equal(vault_webhook_rm(u->v, "https://evil.example/", &w),
	    OV_OK);
	assert_int_equal(w.id, id);
	assert_int_equal(vault_webhook_rm(u->v, "1", &w), OV_OK);
	assert_int_equal(vault_webhook_rm(u->v, "1", &w), OV_ENOTFOUND);
}

static void
test_sign_backoff(void **state)
{
	struct secret *k = unit_secret(HOOK_SECRET);
	const char *body = "{\"id\":1,\"event\":\"revoked\"}";
	char sig[WEBHOOK_SIGNATURE_LEN + 1];

	(void)state;
	/* printf '%s' '1700000000.<body>' | openssl dgst -sha256 -hmac KEY */
	webhook_sign(k, "1700000000", body, strlen(body), sig);
	assert_string_equal(sig, "sha256=34d30ea920c8ac9dad453151696d0b28"
	    "3c258f49172c15bd16ca30879db1c948");
	secret_free(k);
	assert_int_equal(webhook_backoff(1, 0.0), 1);
	assert_int_equal(webhook_backoff(1, 0.99), 1);
	assert_true(webhook_backoff(3, 0.0) >= 2);
	assert_true(webhook_backoff(3, 0.99) <= 4);
	for (int i = 1; i < 40; i++) {
		assert_true(webhook_backoff(i, 0.99) <=
		    OV_WEBHOOK_BACKOFF_CAP_S);
		assert_true(webhook_backoff(i + 1, 0.0) >=
		    webhook_backoff(i, 0.0));
	}
	assert_true(webhook_backoff(30, 0.0) >= OV_WEBHOOK_BACKOFF_CAP_S / 2);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_alerts,
		    unit_vault_setup, unit_vault_teardown),
		cmocka_unit_test_setup_teardown(test_claim_cycle,
		    unit_vault_setup, unit_vault_teardown),
		cmocka_unit_test_setup_teardown(test_add_rm_secret,
		    unit_vault_setup, unit_vault_teardown),
		cmocka_unit_test(test_sign_backoff),
	};

	unit_init();
	return cmocka_run_group_tests(tests, NULL, NULL);
}

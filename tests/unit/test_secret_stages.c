/*
 * test_secret_stages.c — client-secret rotation in vault/ (secret.c):
 * stage, promote, rollback and discard move the labels current, pending
 * and previous between the right versions, each in one transaction with
 * its audit event, and promote/rollback reschedule the credential.
 */
#include <jansson.h>

#include "unit.h"

#define S1	"s1-original-secret"
#define S2	"s2-rotated-secret"
#define S3	"s3-third-secret"

/* ---- helpers ---------------------------------------------------------- */

/* acme/api, an oauth2 client_credentials credential with secret S1. */
static int64_t
cred_setup(struct vault *v)
{
	struct vault_org o;
	struct vault_cred c;
	struct secret *s = unit_secret(S1);
	int created;

	memset(&o, 0, sizeof(o));
	snprintf(o.slug, sizeof(o.slug), "acme");
	snprintf(o.name, sizeof(o.name), "Acme");
	assert_int_equal(vault_org_add(v, &o), OV_OK);
	memset(&c, 0, sizeof(c));
	snprintf(c.org, sizeof(c.org), "acme");
	snprintf(c.name, sizeof(c.name), "api");
	snprintf(c.provider, sizeof(c.provider), "oauth2");
	snprintf(c.token_url, sizeof(c.token_url),
	    "https://auth.example.com/oauth2/token");
	snprintf(c.auth, sizeof(c.auth), "client_secret_basic");
	snprintf(c.grant, sizeof(c.grant), "client_credentials");
	snprintf(c.client_id, sizeof(c.client_id), "cid-api");
	c.refresh_fraction = 0.75;
	assert_int_equal(vault_cred_put(v, &c, s, NULL, &created), OV_OK);
	secret_free(s);
	assert_int_equal(vault_cred_get(v, "acme", "api", &c), OV_OK);
	return c.id;
}

static void
stage(struct vault *v, const char *plain)
{
	struct secret *s = unit_secret(plain);

	if (vault_secret_stage(v, "acme", "api", s) != OV_OK)
		fail_msg("stage: %s", ov_errmsg());
	secret_free(s);
}

/* The client secret labelled stage opens to want (NULL: no such label). */
static void
secret_is(struct vault *v, int64_t id, const char *stage_name,
    const char *want)
{
	struct secret *s = NULL;
	enum ov_rc rc;

	rc = vault_secret_open(v, id, VAULT_CLIENT_SECRET, stage_name, &s);
	if (want == NULL) {
		assert_int_equal(rc, OV_ENOTFOUND);
		assert_null(s);
		return;
	}
	if (rc != OV_OK)
		fail_msg("open %s: %s", stage_name, ov_errmsg());
	assert_int_equal(s->len, strlen(want));
	assert_memory_equal(s->buf, want, s->len);
	secret_free(s);
}

static void
labels_are(struct vault *v, int64_t id, const char *current,
    const char *pending, const char *previous)
{
	secret_is(v, id, "current", current);
	secret_is(v, id, "pending", pending);
	secret_is(v, id, "previous", previous);
}

/* The version holding a label (-1: none), read from the file. */
static int64_t
version_of(struct unit_vault *u, const char *stage_name)
{
	char sql[200];

	snprintf(sql, sizeof(sql), "SELECT version FROM secret_versions "
	    "WHERE kind = 'client_secret' AND stage = '%s'", stage_name);
	return unit_db_int(u->db, sql);
}

static int
has_pending(struct vault *v)
{
	struct vault_cred c;

	assert_int_equal(vault_cred_get(v, "acme", "api", &c), OV_OK);
	return c.has_pending_secret;
}

/* A credential failing with its old secret, scheduled far ahead. */
static void
make_failing(struct unit_vault *u)
{
	assert_int_equal(unit_db_exec(u->db, "UPDATE credentials SET status "
	    "= 'invalid_client', consecutive_failures = 3, next_refresh_at = "
	    "4000000000"), SQLITE_OK);
}

/* What a new current secret does: active, no failures, due at once. */
static void
assert_rescheduled(struct vault *v)
{
	struct vault_cred c;

	assert_int_equal(vault_cred_get(v, "acme", "api", &c), OV_OK);
	assert_string_equal(c.status, "active");
	assert_int_equal(c.consecutive_failures, 0);
	assert_int_equal(c.next_refresh_at, 0);
}

/* The newest event of kind, parsed (the caller json_decref()s it);
 * NULL when there is none.  *count: how many of that kind. */
struct last_event {
	json_t	*detail;
	char	 credential[OV_SLUG_MAX + 1];
	int	 count;
};

static int
last_event_cb(const struct vault_event *e, void *arg)
{
	struct last_event *le = arg;

	if (le->count++ == 0) {
		le->detail = json_loads(e->detail, 0, NULL);
		snprintf(le->credential, sizeof(le->credential), "%s",
		    e->credential);
	}
	return 0;
}

static struct last_event
last_event(struct vault *v, const char *kind)
{
	struct vault_event_filter f = { .kind = kind };
	struct last_event le = { 0 };

	assert_int_equal(vault_event_list(v, &f, last_event_cb, &le), OV_OK);
	return le;
}

/* How many events of kind. */
static int
event_count(struct vault *v, const char *kind)
{
	struct last_event le = last_event(v, kind);

	json_decref(le.detail);
	return le.count;
}

static int64_t
detail_int(const struct last_event *le, const char *key)
{
	json_t *j = json_object_get(le->detail, key);

	assert_non_null(j);
	return json_is_null(j) ? 0 : json_integer_value(j);
}

/* ---- tests ------------------------------------------------------------ */

static void
test_stage(void **state)
{
	struct unit_vault *u = *state;
	int64_t id = cred_setup(u->v);
	struct last_event le;

	assert_int_equal(has_pending(u->v), 0);
	stage(u->v, S2);
	labels_are(u->v, id, S1, S2, NULL);
	assert_int_equal(has_pending(u->v), 1);
	assert_int_equal(version_of(u, "current"), 1);
	assert_int_equal(version_of(u, "pending"), 2);
	le = last_event(u->v, "secret.staged");
	assert_int_equal(le.count, 1);
	assert_string_equal(le.credential, "api");
	assert_int_equal(detail_int(&le, "version"), 2);
	assert_int_equal(detail_int(&le, "replaced_pending"), 0);
	json_decref(le.detail);

	/* A second stage replaces the pending one. */
	stage(u->v, S3);
	labels_are(u->v, id, S1, S3, NULL);
	assert_int_equal(unit_db_int(u->db, "SELECT count(*) FROM "
	    "secret_versions"), 2);
	le = last_event(u->v, "secret.staged");
	assert_int_equal(le.count, 2);
	assert_int_equal(detail_int(&le, "replaced_pending"), 2);
	json_decref(le.detail);
	/* Only envelopes in the database, no plaintext in the events. */
	assert_int_equal(unit_db_int(u->db, "SELECT count(*) FROM "
	    "secret_versions WHERE instr(ciphertext, 'secret') > 0"), 0);
	assert_int_equal(unit_db_int(u->db, "SELECT count(*) FROM events "
	    "WHERE instr(detail, 'secret-') > 0 OR instr(detail, 's1-') > 0 "
	    "OR instr(detail, 's3-') > 0"), 0);
}

static void
test_promote(void **state)
{
	struct unit_vault *u = *state;
	int64_t id = cred_setup(u->v);
	struct last_event le;

	assert_int_equal(vault_secret_promote(u->v, "acme", "api"),
	    OV_ENOTFOUND);
	assert_int_equal(event_count(u->v, "secret.promoted"), 0);
	stage(u->v, S2);
	make_failing(u);
	assert_int_equal(vault_secret_promote(u->v, "acme", "api"), OV_OK);
	labels_are(u->v, id, S2, NULL, S1);
	assert_int_equal(has_pending(u->v), 0);
	assert_int_equal(version_of(u, "current"), 2);
	assert_int_equal(version_of(u, "previous"), 1);
	assert_rescheduled(u->v);
	le = last_event(u->v, "secret.promoted");
	assert_int_equal(le.count, 1);
	assert_int_equal(detail_int(&le, "current"), 2);
	assert_int_equal(detail_int(&le, "previous"), 1);
	assert_int_equal(detail_int(&le, "deleted"), 0);
	assert_string_equal(json_string_value(json_object_get(le.detail,
	    "status_before")), "invalid_client");
	json_decref(le.detail);

	/* Again: the old previous (S1) is deleted. */
	stage(u->v, S3);
	assert_int_equal(vault_secret_promote(u->v, "acme", "api"), OV_OK);
	labels_are(u->v, id, S3, NULL, S2);
	assert_int_equal(unit_db_int(u->db, "SELECT count(*) FROM "
	    "secret_versions WHERE kind = 'client_secret'"), 2);
	le = last_event(u->v, "secret.promoted");
	assert_int_equal(detail_int(&le, "current"), 3);
	assert_int_equal(detail_int(&le, "deleted"), 1);
	json_decref(le.detail);
	assert_int_equal(vault_secret_promote(u->v, "acme", "api"),
	    OV_ENOTFOUND);
	assert_int_equal(event_count(u->v, "secret.promoted"), 2);
}

static void
test_rollback(void **state)
{
	struct unit_vault *u = *state;
	int64_t id = cred_setup(u->v);
	struct last_event le;

	assert_int_equal(vault_secret_rollback(u->v, "acme", "api"),
	    OV_ENOTFOUND);
	stage(u->v, S2);
	assert_int_equal(vault_secret_promote(u->v, "acme", "api"), OV_OK);
	make_failing(u);
	assert_int_equal(vault_secret_rollback(u->v, "acme", "api"), OV_OK);
	labels_are(u->v, id, S1, NULL, S2);
	assert_int_equal(version_of(u, "current"), 1);
	assert_int_equal(version_of(u, "previous"), 2);
	assert_rescheduled(u->v);
	le = last_event(u->v, "secret.rolled_back");
	assert_int_equal(le.count, 1);
	assert_int_equal(detail_int(&le, "current"), 1);
	assert_int_equal(detail_int(&le, "previous"), 2);
	assert_int_equal(detail_int(&le, "deleted"), 0);
	json_decref(le.detail);
	/* A swap: rolling back again returns to S2; pending is untouched. */
	stage(u->v, S3);
	assert_int_equal(vault_secret_rollback(u->v, "acme", "api"), OV_OK);
	labels_are(u->v, id, S2, S3, S1);
	/* Every version still opens after a reopen (no re-encryption). */
	vault_close(u->v);
	assert_int_equal(vault_open(&u->opts, 0, &u->v), OV_OK);
	labels_are(u->v, id, S2, S3, S1);
}

static void
test_discard(void **state)
{
	struct unit_vault *u = *state;
	int64_t id = cred_setup(u->v);
	struct last_event le;

	assert_int_equal(vault_secret_discard(u->v, "acme", "api"),
	    OV_ENOTFOUND);
	stage(u->v, S2);
	assert_int_equal(vault_secret_discard(u->v, "acme", "api"), OV_OK);
	labels_are(u->v, id, S1, NULL, NULL);
	assert_int_equal(has_pending(u->v), 0);
	assert_int_equal(unit_db_int(u->db, "SELECT count(*) FROM "
	    "secret_versions"), 1);
	le = last_event(u->v, "secret.discarded");
	assert_int_equal(le.count, 1);
	assert_int_equal(detail_int(&le, "version"), 2);
	json_decref(le.detail);
	assert_int_equal(vault_secret_discard(u->v, "acme", "api"),
	    OV_ENOTFOUND);
	assert_int_equal(vault_secret_promote(u->v, "acme", "api"),
	    OV_ENOTFOUND);
}

/* Unknown orgs and credentials; a failed step changes nothing. */
static void
test_not_found(void **state)
{
	struct unit_vault *u = *state;
	struct secret *s = unit_secret(S2);
	int64_t events;

	cred_setup(u->v);
	events = unit_db_int(u->db, "SELECT count(*) FROM events");
	assert_int_equal(vault_secret_stage(u->v, "acme", "nope", s),
	    OV_ENOTFOUND);
	assert_int_equal(vault_secret_stage(u->v, "nope", "api", s),
	    OV_ENOTFOUND);
	assert_int_equal(vault_secret_promote(u->v, "nope", "api"),
	    OV_ENOTFOUND);
	assert_int_equal(vault_secret_rollback(u->v, "acme", "nope"),
	    OV_ENOTFOUND);
	assert_int_equal(vault_secret_discard(u->v, "acme", "nope"),
	    OV_ENOTFOUND);
	assert_int_equal(vault_secret_promote(u->v, "acme", "api"),
	    OV_ENOTFOUND);
	assert_non_null(strstr(ov_errmsg(), "no pending client secret"));
	assert_int_equal(unit_db_int(u->db, "SELECT count(*) FROM events"),
	    events);
	assert_int_equal(unit_db_int(u->db, "SELECT count(*) FROM "
	    "secret_versions"), 1);
	secret_free(s);
}

/* A new secret through cred put keeps the pending one staged, and the
 * audit chain stays whole through every step. */
static void
test_put_and_chain(void **state)
{
	struct unit_vault *u = *state;
	struct vault_audit_report r;
	struct vault_cred c;
	struct secret *s = unit_secret(S3);
	int64_t id = cred_setup(u->v);
	int created;

	stage(u->v, S2);
	assert_int_equal(vault_cred_get(u->v, "acme", "api", &c), OV_OK);
	assert_int_equal(vault_cred_put(u->v, &c, s, NULL, &created), OV_OK);
	secret_free(s);
	labels_are(u->v, id, S3, S2, S1);
	assert_int_equal(vault_secret_promote(u->v, "acme", "api"), OV_OK);
	labels_are(u->v, id, S2, NULL, S3);
	assert_int_equal(vault_secret_rollback(u->v, "acme", "api"), OV_OK);
	labels_are(u->v, id, S3, NULL, S2);
	assert_int_equal(vault_audit_verify(u->v, &r), OV_OK);
	assert_int_equal(r.broken_id, 0);
	assert_true(r.checked >= 5);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_stage,
		    unit_vault_setup, unit_vault_teardown),
		cmocka_unit_test_setup_teardown(test_promote,
		    unit_vault_setup, unit_vault_teardown),
		cmocka_unit_test_setup_teardown(test_rollback,
		    unit_vault_setup, unit_vault_teardown),
		cmocka_unit_test_setup_teardown(test_discard,
		    unit_vault_setup, unit_vault_teardown),
		cmocka_unit_test_setup_teardown(test_not_found,
		    unit_vault_setup, unit_vault_teardown),
		cmocka_unit_test_setup_teardown(test_put_and_chain,
		    unit_vault_setup, unit_vault_teardown),
	};

	unit_init();
	return cmocka_run_group_tests(tests, NULL, NULL);
}

/*
 * test_migrate.c — vault/schema.c: embedded migrations, their checksums,
 * and refusals of databases that do not match the binary.
 */
#include <ctype.h>

#include "unit.h"

#include "vault/migrate.h"

struct status {
	int	n;
	struct {
		int	version;
		char	name[64];
		char	checksum[65];
		int64_t	applied_at;
	} m[64];
};

static int
status_cb(const struct vault_migration *m, void *arg)
{
	struct status *s = arg;

	if (s->n < 64) {
		s->m[s->n].version = m->version;
		snprintf(s->m[s->n].name, sizeof(s->m[0].name), "%s", m->name);
		memcpy(s->m[s->n].checksum, m->checksum, 65);
		s->m[s->n].applied_at = m->applied_at;
	}
	s->n++;
	return 0;
}

static struct status
status(struct vault *v)
{
	struct status s = { 0 };

	assert_int_equal(vault_migrate_status(v, status_cb, &s), OV_OK);
	return s;
}

static void
sha256_hex(const struct migration *m, char out[65])
{
	unsigned char h[32];

	crypto_hash_sha256(h, (const unsigned char *)m->sql, m->len);
	sodium_bin2hex(out, 65, h, sizeof(h));
}

static void
test_embedded_list(void **state)
{
	(void)state;
	assert_true(migrations_count >= 1);
	assert_int_equal(migrations[0].version, 1);
	assert_string_equal(migrations[0].name, "0001_init");
	for (size_t i = 0; i < migrations_count; i++) {
		char prefix[8];

		/* Increasing versions; the name starts with the version. */
		if (i > 0)
			assert_true(migrations[i].version >
			    migrations[i - 1].version);
		snprintf(prefix, sizeof(prefix), "%04d_",
		    migrations[i].version);
		assert_memory_equal(migrations[i].name, prefix, 5);
		assert_true(migrations[i].len > 0);
		assert_int_equal(strlen(migrations[i].sql), migrations[i].len);
	}
}

static void
test_fresh_init_all_applied(void **state)
{
	struct unit_vault *u = *state;
	struct status s = status(u->v);

	assert_int_equal(s.n, (int)migrations_count);
	for (int i = 0; i < s.n; i++) {
		char want[65];

		assert_int_equal(s.m[i].version, migrations[i].version);
		assert_string_equal(s.m[i].name, migrations[i].name);
		assert_true(s.m[i].applied_at > 1700000000);
		assert_int_equal(strlen(s.m[i].checksum), 64);
		for (int j = 0; j < 64; j++)
			assert_true(isxdigit((unsigned char)s.m[i].checksum[j])
			    && !isupper((unsigned char)s.m[i].checksum[j]));
		sha256_hex(&migrations[i], want);
		assert_string_equal(s.m[i].checksum, want);
	}
	/* The database records the same checksums. */
	for (size_t i = 0; i < migrations_count; i++) {
		char sql[256], want[65];

		sha256_hex(&migrations[i], want);
		snprintf(sql, sizeof(sql), "SELECT count(*) FROM "
		    "schema_migrations WHERE version = %d AND name = '%s' AND "
		    "checksum = '%s'", migrations[i].version,
		    migrations[i].name, want);
		assert_int_equal(unit_db_int(u->db, sql), 1);
	}
	assert_int_equal(unit_db_int(u->db, "SELECT count(*) FROM "
	    "schema_migrations"), (int64_t)migrations_count);
}

static void
test_migrate_up_to_date(void **state)
{
	struct unit_vault *u = *state;
	int applied = -1;

	assert_int_equal(vault_migrate(u->v, &applied), OV_OK);
	assert_int_equal(applied, 0);
	applied = -1;
	assert_int_equal(vault_migrate(u->v, &applied), OV_OK);
	assert_int_equal(applied, 0);
	assert_int_equal(unit_db_int(u->db, "SELECT count(*) FROM "
	    "schema_migrations"), (int64_t)migrations_count);
	/* Opening with MIGRATE is a no-op too. */
	vault_close(u->v);
	u->v = NULL;
	assert_int_equal(vault_open(&u->opts, VAULT_OPEN_MIGRATE, &u->v),
	    OV_OK);
	assert_int_equal(unit_db_int(u->db, "SELECT count(*) FROM "
	    "schema_migrations"), (int64_t)migrations_count);
}

static void
close_vault(struct unit_vault *u)
{
	vault_close(u->v);
	u->v = NULL;
}

static void
expect_open_refused(struct unit_vault *u, unsigned flags, enum ov_rc want,
    const char *needle)
{
	struct vault *v = NULL;
	enum ov_rc rc;

	ov_clearerr();
	rc = vault_open(&u->opts, flags, &v);
	if (rc != want)
		fail_msg("open (flags %u): rc %s, want %s (%s)", flags,
		    ov_rc_str(rc), ov_rc_str(want), ov_errmsg());
	assert_null(v);
	if (strstr(ov_errmsg(), needle) == NULL)
		fail_msg("message \"%s\" lacks \"%s\"", ov_errmsg(), needle);
}

static void
test_tampered_checksum(void **state)
{
	struct unit_vault *u = *state;
	char zero[65];

	close_vault(u);
	memset(zero, '0', 64);
	zero[64] = '\0';
	{
		char sql[256];

		snprintf(sql, sizeof(sql), "UPDATE schema_migrations SET "
		    "checksum = '%s' WHERE version = 1", zero);
		assert_int_equal(unit_db_exec(u->db, sql), SQLITE_OK);
	}
	expect_open_refused(u, 0, OV_EINTEGRITY, "0001_init");
	expect_open_refused(u, 0, OV_EINTEGRITY, "000000000000");
	/* No mode of opening gets past it, migrate included. */
	expect_open_refused(u, VAULT_OPEN_NO_KEY, OV_EINTEGRITY, "0001_init");
	expect_open_refused(u, VAULT_OPEN_MIGRATE, OV_EINTEGRITY, "0001_init");
	/* An upper-case spelling of the right checksum is not the same. */
	{
		char want[65], sql[256];

		sha256_hex(&migrations[0], want);
		for (int i = 0; i < 64; i++)
			want[i] = (char)toupper((unsigned char)want[i]);
		snprintf(sql, sizeof(sql), "UPDATE schema_migrations SET "
		    "checksum = '%s' WHERE version = 1", want);
		assert_int_equal(unit_db_exec(u->db, sql), SQLITE_OK);
		expect_open_refused(u, 0, OV_EINTEGRITY, "0001_init");
	}
	/* Put it back: opens again. */
	{
		char want[65], sql[256];

		sha256_hex(&migrations[0], want);
		snprintf(sql, sizeof(sql), "UPDATE schema_migrations SET "
		    "checksum = '%s' WHERE version = 1", want);
		assert_int_equal(unit_db_exec(u->db, sql), SQLITE_OK);
	}
	assert_int_equal(vault_open(&u->opts, 0, &u->v), OV_OK);
}

static void
test_future_migration(void **state)
{
	struct unit_vault *u = *state;

	close_vault(u);
	assert_int_equal(unit_db_exec(u->db, "INSERT INTO schema_migrations "
	    "(version, name, checksum, applied_at) VALUES (9999, "
	    "'9999_future', 'abc', 1)"), SQLITE_OK);
	expect_open_refused(u, 0, OV_ESCHEMA, "9999_future");
	expect_open_refused(u, 0, OV_ESCHEMA, "upgrade orgvault");
	expect_open_refused(u, VAULT_OPEN_NO_KEY, OV_ESCHEMA, "9999_future");
	expect_open_refused(u, VAULT_OPEN_MIGRATE, OV_ESCHEMA, "9999_future");
	/* Nothing was changed by the refusals. */
	assert_int_equal(unit_db_int(u->db, "SELECT count(*) FROM "
	    "schema_migrations"), (int64_t)migrations_count + 1);
	assert_int_equal(unit_db_exec(u->db, "DELETE FROM schema_migrations "
	    "WHERE version = 9999"), SQLITE_OK);
	assert_int_equal(vault_open(&u->opts, 0, &u->v), OV_OK);
}

static void
count_cb(const struct vault_check_failure *f, void *arg)
{
	fprintf(stderr, "check: %s.%s row %lld: %s\n", f->table, f->column,
	    (long long)f->row, f->problem);
	(*(int *)arg)++;
}

static void
restore_record(struct unit_vault *u, const struct migration *m)
{
	char want[65], sql[256];

	sha256_hex(m, want);
	snprintf(sql, sizeof(sql), "INSERT INTO schema_migrations VALUES "
	    "(%d, '%s', '%s', 1)", m->version, m->name, want);
	assert_int_equal(unit_db_exec(u->db, sql), SQLITE_OK);
}

/*
 * A database whose record of the newest migration is gone looks like one
 * that still needs it.  A normal open refuses it as not migrated and
 * names the migration; a no-key open tolerates it and reports it
 * pending; migrating fails without damage (its tables or columns already
 * exist) and records nothing.
 */
static void
test_deleted_newest_record(void **state)
{
	struct unit_vault *u = *state;
	const struct migration *last = &migrations[migrations_count - 1];
	int64_t tables;
	char sql[128];

	close_vault(u);
	tables = unit_db_int(u->db, "SELECT count(*) FROM sqlite_schema");
	snprintf(sql, sizeof(sql), "DELETE FROM schema_migrations WHERE "
	    "version = %d", last->version);
	assert_int_equal(unit_db_exec(u->db, sql), SQLITE_OK);
	expect_open_refused(u, 0, OV_ESCHEMA, last->name);
	expect_open_refused(u, 0, OV_ESCHEMA, "orgvault migrate");

	/* NO_KEY: opens, and status shows it pending. */
	assert_int_equal(vault_open(&u->opts, VAULT_OPEN_NO_KEY, &u->v), OV_OK);
	{
		struct status s = status(u->v);

		assert_int_equal(s.n, (int)migrations_count);
		assert_string_equal(s.m[s.n - 1].name, last->name);
		assert_int_equal(s.m[s.n - 1].applied_at, 0);
		for (int i = 0; i < s.n - 1; i++)
			assert_true(s.m[i].applied_at > 0);
	}
	/* Migrating fails on what already exists, and rolls back. */
	{
		int applied = -1;

		ov_clearerr();
		assert_int_equal(vault_migrate(u->v, &applied), OV_ESCHEMA);
		assert_int_equal(applied, -1);
		assert_non_null(strstr(ov_errmsg(), last->name));
	}
	close_vault(u);
	snprintf(sql, sizeof(sql), "SELECT count(*) FROM schema_migrations "
	    "WHERE version = %d", last->version);
	assert_int_equal(unit_db_int(u->db, sql), 0);
	assert_int_equal(unit_db_int(u->db, "SELECT count(*) FROM "
	    "sqlite_schema"), tables);
	expect_open_refused(u, VAULT_OPEN_MIGRATE, OV_ESCHEMA, last->name);

	/* The data is all still there: restoring the record restores it. */
	restore_record(u, last);
	assert_int_equal(vault_open(&u->opts, 0, &u->v), OV_OK);
	{
		int64_t checked = -1, failures = -1;
		int calls = 0;

		assert_int_equal(vault_check(u->v, count_cb, &calls, &checked,
		    &failures), OV_OK);
		assert_int_equal(failures, 0);
		assert_int_equal(calls, 0);
		assert_true(checked >= 1);
	}
}

/*
 * With several migrations, deleting the record of an older one (0001)
 * leaves a gap below the newest.  The runner only compares versions with
 * the highest one applied, so 0001 silently drops out of the checksum
 * verification and the vault opens as if nothing were wrong.  A record
 * missing below an applied migration is a damaged history and should be
 * refused by name, like an unknown or changed one.
 */
static void
test_deleted_older_record(void **state)
{
	struct unit_vault *u = *state;

	if (migrations_count < 2)
		skip();
	close_vault(u);
	assert_int_equal(unit_db_exec(u->db, "DELETE FROM schema_migrations "
	    "WHERE version = 1"), SQLITE_OK);
	{
		struct vault *v = NULL;
		enum ov_rc rc = vault_open(&u->opts, 0, &v);

		vault_close(v);
		if (rc == OV_OK)
			fail_msg("vault opened with the record of 0001_init "
			    "missing below %s",
			    migrations[migrations_count - 1].name);
		assert_non_null(strstr(ov_errmsg(), "0001_init"));
	}
	restore_record(u, &migrations[0]);
	assert_int_equal(vault_open(&u->opts, 0, &u->v), OV_OK);
}

static void
test_no_key_open(void **state)
{
	struct unit_vault *u = *state;
	struct vault *v = NULL;
	char key[PATH_MAX + 16], moved[PATH_MAX + 16];

	/* Schema work needs no key at all. */
	close_vault(u);
	snprintf(key, sizeof(key), "%s/%s", u->dir, VAULT_KEY_FILE);
	snprintf(moved, sizeof(moved), "%s/moved.key", u->base);
	assert_int_equal(rename(key, moved), 0);
	assert_int_equal(vault_open(&u->opts, 0, &v), OV_ENOTFOUND);
	assert_int_equal(vault_open(&u->opts, VAULT_OPEN_NO_KEY, &v), OV_OK);
	{
		struct status s = status(v);
		int applied = -1;

		assert_int_equal(s.n, (int)migrations_count);
		assert_true(s.m[0].applied_at > 0);
		assert_int_equal(vault_migrate(v, &applied), OV_OK);
		assert_int_equal(applied, 0);
	}
	vault_close(v);
	assert_int_equal(rename(moved, key), 0);
	assert_int_equal(vault_open(&u->opts, 0, &u->v), OV_OK);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_embedded_list),
		cmocka_unit_test_setup_teardown(test_fresh_init_all_applied,
		    unit_vault_setup, unit_vault_teardown),
		cmocka_unit_test_setup_teardown(test_migrate_up_to_date,
		    unit_vault_setup, unit_vault_teardown),
		cmocka_unit_test_setup_teardown(test_tampered_checksum,
		    unit_vault_setup, unit_vault_teardown),
		cmocka_unit_test_setup_teardown(test_future_migration,
		    unit_vault_setup, unit_vault_teardown),
		cmocka_unit_test_setup_teardown(test_deleted_newest_record,
		    unit_vault_setup, unit_vault_teardown),
		cmocka_unit_test_setup_teardown(test_deleted_older_record,
		    unit_vault_setup, unit_vault_teardown),
		cmocka_unit_test_setup_teardown(test_no_key_open,
		    unit_vault_setup, unit_vault_teardown),
	};

	unit_init();
	return cmocka_run_group_tests(tests, NULL, NULL);
}

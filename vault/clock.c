/*
 * clock.c — keeping deadlines true across a wall-clock jump.
 *
 * Deadlines and expiries are stored in wall-clock seconds, computed when
 * a token arrived.  A token's real remaining life is its expires_in less
 * the real time elapsed, which CLOCK_BOOTTIME measures whatever the wall
 * clock does.  So vault_meta "clock_ref" keeps "<boot id> <wall_ms -
 * boot_ms>" from the last check; when that offset moved (the wall clock
 * jumped by delta), every stored time ahead of us moves by delta in one
 * transaction: a jump forward does not make every token look expired
 * (a refresh storm), a jump back does not let a token look valid past
 * its real expiry.  The compare-and-set on the stored reference makes
 * the shift happen once, whichever process sees it first.  Another boot
 * id (a reboot) only resets the reference: boot time restarted.
 */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "vault/vault_int.h"

#define CLOCK_META	"clock_ref"

static const char *const shift_sql[] = {
	"UPDATE credentials SET next_refresh_at = next_refresh_at + ?1 "
	    "WHERE next_refresh_at IS NOT NULL",
	"UPDATE credentials SET lease_until = lease_until + ?1 "
	    "WHERE lease_until IS NOT NULL",
	"UPDATE tokens SET issued_at = issued_at + ?1, expires_at = "
	    "expires_at + ?1, refresh_token_expires_at = "
	    "refresh_token_expires_at + ?1",
	"UPDATE webhook_outbox SET next_attempt_at = next_attempt_at + ?1 "
	    "WHERE delivered_at IS NULL",
};

static enum ov_rc
shift_all(struct vault *v, int64_t delta_s)
{
	struct db_stmt *st;
	enum ov_rc rc;
	int src;

	for (size_t i = 0; i < sizeof(shift_sql) / sizeof(shift_sql[0]); i++) {
		if ((rc = db_prepare(v, shift_sql[i], &st)) != OV_OK)
			return rc;
		db_bind_int64(st, 1, delta_s);
		src = db_step(st);
		db_finish(v, st);
		if (src != DB_DONE)
			return db_err(v, src, "moving deadlines after a clock "
			    "jump");
	}
	return OV_OK;
}

enum ov_rc
vault_clock_sync(struct vault *v, const char *boot_id, int64_t offset_ms,
    int64_t threshold_ms, int64_t *shifted_s)
{
	char ref[128], id[64] = "", value[128];
	long long stored = 0;
	int64_t delta_ms = 0;
	enum ov_rc rc;

	*shifted_s = 0;
	if ((rc = tx_begin(v)) != OV_OK)
		return rc;
	if (meta_get(v, CLOCK_META, ref, sizeof(ref)) == OV_OK &&
	    sscanf(ref, "%63s %lld", id, &stored) == 2 &&
	    strcmp(id, boot_id) == 0)
		delta_ms = offset_ms - (int64_t)stored;
	else
		stored = offset_ms - threshold_ms - 1;	/* (re)set, no shift */
	if (llabs(offset_ms - (int64_t)stored) <= threshold_ms)
		return tx_end(v, OV_OK);	/* no jump, or done already */
	if (delta_ms != 0) {
		/* Whole seconds: what the columns hold. */
		*shifted_s = delta_ms / 1000;
		if ((rc = shift_all(v, *shifted_s)) == OV_OK) {
			json_t *d = json_pack("{s:I, s:s}", "delta_s",
			    (json_int_t)*shifted_s, "note", *shifted_s > 0 ?
			    "the wall clock jumped forward; stored deadlines "
			    "moved with it" : "the wall clock jumped back; "
			    "stored deadlines moved with it");
			struct event_rec e = { .kind = "clock.jumped",
			    .detail = d };

			rc = event_append(v, &e);
			json_decref(d);
		}
	}
	snprintf(value, sizeof(value), "%s %" PRId64, boot_id, offset_ms);
	if (rc == OV_OK)
		rc = meta_set(v, CLOCK_META, value);
	return tx_end(v, rc);
}

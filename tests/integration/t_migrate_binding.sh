#!/usr/bin/env bash
# t_migrate_binding.sh — a vault made before secrets were bound to their
# destination (tests/fixtures/v3-vault, schema 0003, made by
# tests/fixtures/make_v3_vault.sh with the orgvault of commit d11f813)
# migrated to 0004: the rebuilt credentials table keeps every row, the
# first keyed open MACs every row, `serve` re-seals the old rows in the
# background while the broker answers, `key status` counts them down, and
# once none are left the old binding never opens again.  The fixture's
# secrets still open: moving a credential with its current secret (the
# proof) carries its refresh token and pending secret to the fake.
. "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
sqlite_only "it upgrades SQLite vaults made by older releases (tests/fixtures); no PostgreSQL vault predates migration 0005"
. "$(dirname "${BASH_SOURCE[0]}")/fake.sh"
. "$(dirname "${BASH_SOURCE[0]}")/api.sh"

FIX=$(cd "$(dirname "${BASH_SOURCE[0]}")/../fixtures/v3-vault" && pwd)
mkdir -p "$DIR"
cp "$FIX/orgvault.db" "$FIX/master.key" "$DIR/"
chmod 700 "$DIR"
chmod 600 "$DIR"/*
ADMIN=$(cat "$FIX/apikey.txt")
secret_file "$TMP/cs" fixture-client-secret
secret_file "$TMP/ps" fixture-pending-secret

expect_fail 5 "before: the old schema is refused until migrated" 'migrate' -- ov cred list
expect_ok "migrate: 0004 applies" -- ov migrate --json
expect_json "migrate: two migrations applied (0004, 0005)" '.applied == 2'
expect_eq "migrate: both credentials kept their ids" "1 2" \
    "$(sqlite3 "$DB" 'SELECT group_concat(id, " ") FROM (SELECT id FROM credentials ORDER BY id)')"
expect_eq "migrate: no row points at a missing parent" "" "$(sqlite3 "$DB" 'PRAGMA foreign_key_check')"
run ov check --json
expect_eq "check after migrate: exit 0" 0 "$RC"
expect_json "check: nothing fails" '.ok == true and .failures == []'
expect_true "check: warns that rows are still in the old binding" -- \
    grep -q "still in the binding from before" "$ERR"
run events_json --kind key.mac_created
expect_json "migrate made the MAC key in 0004's transaction, MACing every row" \
    'length == 1 and .[0].detail.rows == 4'
run ov key status --json
expect_json "key status: 4 secrets in the old binding" 'map(.old_binding) | add == 4'
expect_ok "the fixture's pending secret is still staged" -- ov cred show acme cc --json
expect_json "... has_pending_secret" '.has_pending_secret == true'

# --- serve re-seals in the background while the broker answers ----------------------------
fake_start
fake_put fixture-main '{"client_secret":"fixture-client-secret","refresh_token":"fixture-refresh-token","rotate_refresh":true}'
fake_put fixture-cc '{"client_secret":"fixture-pending-secret"}'
serve_start main || exit 1
api GET /v1/orgs "$ADMIN"
expect_status "api: the fixture's admin key still works (its row was MAC'd)" 200
wait_until 20 sh -c "'$ORGVAULT' --data-dir '$DIR' key status --json | jq -e 'map(.old_binding) | add == 0' >/dev/null"
run ov key status
expect_stdout_contains "key status: none left in the old binding" \
    "every secret is bound to its destination"
expect_ok "check: clean" -- ov check
expect_false "check: no warning any more" -- grep -q "old binding\|binding from before" "$ERR"
expect_eq "the old binding is closed (a MAC'd flag)" 1 \
    "$(sqlite3 "$DB" "SELECT count(*) FROM vault_meta WHERE key = 'secret_binding' AND value LIKE '2:%'")"
run events_json --kind key.binding_closed
expect_json "... and an event in the audit chain" 'length == 1'

# --- the secrets open: a move with the current secret carries them -----------------------
expect_ok "move: acme/main to the fake with its current secret" -- \
    ov cred put acme main --token-url "$FAKE_URL/token" --secret-file "$TMP/cs"
expect_ok "move: acme/main refreshes" -- ov cred refresh acme main
expect_eq "move: it presented the fixture's refresh token" fixture-refresh-token \
    "$(fake_requests fixture-main | jq -r '.[0].refresh_token')"
expect_ok "move: acme/cc with its current secret" -- \
    ov cred put acme cc --token-url "$FAKE_URL/token" --secret-file "$TMP/cs"
# The fake takes only the pending secret: serve's automatic switch (or a
# cred refresh) promotes it, which works only if it followed the move.
pending_done() {
	ov cred show acme cc --json | jq -e '.has_pending_secret == false and .status == "active"' >/dev/null ||
	    ov cred refresh acme cc >/dev/null 2>&1
	ov cred show acme cc --json | jq -e '.has_pending_secret == false and .status == "active"' >/dev/null
}
wait_until 15 pending_done
run events_json --credential cc --kind secret.promoted
expect_json "move: the pending secret followed and was promoted" 'length == 1'
expect_eq "move: the fake took the pending secret" 200 \
    "$(fake_requests fixture-cc | jq -r 'last | .status')"
serve_stop "$SERVE_PID"
expect_eq "serve stops cleanly" 0 "$SERVE_RC"

# --- after the flag, a row put back in the old form does not open --------------------------
# (even with the flag deleted: the chain remembers the closing)
sqlite3 "$DB" "DELETE FROM vault_meta WHERE key = 'secret_binding'"
run ov check --json
expect_json "closed: check names the deleted flag" \
    '[.failures[] | select(.table == "vault_meta")] | length == 1'
sqlite3 "$DB" "UPDATE secret_versions SET bind = 1 WHERE credential_id = 2 AND stage = 'current'"
expect_fail 4 "closed: a row set back to bind 1 does not open" 'old binding' -- \
    ov cred refresh acme cc
expect_eq "closed: ... and the credential is tampered" tampered \
    "$(ov cred show acme cc --json | jq -r .status)"

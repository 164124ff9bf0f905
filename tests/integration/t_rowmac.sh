#!/usr/bin/env bash
# t_rowmac.sh — rows that grant access or pick a secret carry a keyed MAC
# (issue 10, findings 3 and 4).  Edited in the SQLite file with the
# sqlite3 CLI:
#   - API keys: a reader made an all-org token key, a revoked key made
#     live again, and a revoked row put back whole from an older copy
#     (its old, valid MAC): every one answers 401, and `check` exits 4
#     naming the row;
#   - secret labels: current and previous client secrets swapped, and the
#     refresh-token rows and credential MAC put back from a copy taken
#     before a rotation: the credential is tampered, nothing stale is
#     sent, `check` exits 4;
#   - a webhook row's events widened: it signs nothing, `check` exits 4;
#   - the row MAC key reset to 'pending' (to have every row MAC'd anew):
#     the vault refuses to open.
. "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
. "$(dirname "${BASH_SOURCE[0]}")/fake.sh"
. "$(dirname "${BASH_SOURCE[0]}")/api.sh"

SECRET=cs-rowmac-$RANDOM$RANDOM
S=$TMP/secret
secret_file "$S" "$SECRET"
fake_start
setup_vault
expect_ok "setup: org acme" -- ov org add acme
expect_ok "setup: org beta" -- ov org add beta

fake_put acme-c "$(jq -cn --arg s "$SECRET" '{client_secret: $s}')"
expect_ok "setup: acme/c" -- ov cred put acme c --provider oauth2 \
    --token-url "$FAKE_URL/token" --client-id acme-c --secret-file "$S"
expect_ok "setup: acme/c refreshed" -- ov cred refresh acme c
fake_put beta-c "$(jq -cn --arg s "$SECRET" '{client_secret: $s}')"
expect_ok "setup: beta/c" -- ov cred put beta c --provider oauth2 \
    --token-url "$FAKE_URL/token" --client-id beta-c --secret-file "$S"
expect_ok "setup: beta/c refreshed" -- ov cred refresh beta c

READER=$(api_key reader reader acme)
GONE=$(api_key gone token acme)
OLD=$(api_key old token acme)
expect_ok "setup: revoke 'gone'" -- ov apikey revoke gone
serve_start main || exit 1

api GET /v1/orgs/beta/credentials/c/token "$READER"
expect_status "before: a reader of acme cannot see beta's token (404)" 404

# --- 3. API key rows ----------------------------------------------------------------
dbq "UPDATE api_keys SET role = 'token', org_ids = '*' WHERE name = 'reader'"
nap 1.2		# verified keys are remembered for a second
api GET /v1/orgs/beta/credentials/c/token "$READER"
expect_problem "api key: a reader edited into an all-org token key: 401" 401 unauthorized
dbq "UPDATE api_keys SET revoked_at = NULL WHERE name = 'gone'"
api GET /v1/orgs/acme/credentials/c/token "$GONE"
expect_problem "api key: a revoked key made live in the database: 401" 401 unauthorized
# A consistent older copy: the row of 'old' before its revocation.
dbq "CREATE TABLE old_copy AS SELECT * FROM api_keys WHERE name = 'old'"
api GET /v1/orgs/acme/credentials/c/token "$OLD"
expect_status "api key: 'old' works before its revocation" 200
expect_ok "api key: revoke 'old'" -- ov apikey revoke old
dbq "UPDATE api_keys SET revoked_at = NULL, row_mac = (SELECT row_mac FROM old_copy) WHERE name = 'old'; DROP TABLE old_copy"
nap 1.2
api GET /v1/orgs/acme/credentials/c/token "$OLD"
expect_problem "api key: a revoked row restored with its old valid MAC: 401 (the audit chain says revoked)" \
    401 unauthorized
run ov check --json
expect_eq "check: exit 4" 4 "$RC"
expect_json "check: the edited reader row is named (row_mac)" \
    '[.failures[] | select(.table == "api_keys" and .column == "row_mac")] | length == 2'
expect_json "check: both revived keys are named against the audit chain (revoked_at)" \
    '[.failures[] | select(.table == "api_keys" and .column == "revoked_at")] | length == 2'
expect_ok "audit verify: the chain itself is whole" -- ov audit verify

# --- 4. secret labels ------------------------------------------------------------------
secret_file "$TMP/s2" "$SECRET-2"
fake_patch acme-c "$(jq -cn --arg s "$SECRET-2" '{client_secret: $s}')"
expect_ok "labels: acme/c gets a second secret" -- ov cred put acme c --secret-file "$TMP/s2"
expect_ok "labels: ... which works" -- ov cred refresh acme c
n=$(fake_requests acme-c | jq length)
cid=$(dbq "SELECT c.id FROM credentials c JOIN orgs o ON o.id = c.org_id WHERE o.slug = 'acme' AND c.name = 'c'")
dbq "UPDATE secret_versions SET stage = NULL WHERE credential_id = $cid AND stage = 'current';
    UPDATE secret_versions SET stage = 'current' WHERE credential_id = $cid AND stage = 'previous';
    UPDATE secret_versions SET stage = 'previous' WHERE credential_id = $cid AND stage IS NULL;
    UPDATE credentials SET next_refresh_at = NULL WHERE id = $cid"
wait_until 15 test "$(ov cred show acme c --json | jq -r .status)" = tampered
expect_eq "labels: swapped current/previous: tampered" tampered \
    "$(ov cred show acme c --json | jq -r .status)"
expect_eq "labels: the old secret was not sent" "$n" "$(fake_requests acme-c | jq length)"
run ov check
expect_eq "labels: check exits 4" 4 "$RC"
expect_stdout_contains "labels: check names the credential's row MAC" "credentials row $cid column row_mac"

# A refresh-token credential; a copy of its rows and MAC before a rotation.
fake_put beta-rt "$(jq -cn --arg s "$SECRET" '{client_secret: $s, refresh_token: "rt-seed-beta", rotate_refresh: true}')"
secret_file "$TMP/rt" rt-seed-beta
expect_ok "restore: beta/rt" -- ov cred put beta rt --provider oauth2 \
    --token-url "$FAKE_URL/token" --client-id beta-rt --secret-file "$S" \
    --grant refresh_token --refresh-token-file "$TMP/rt"
expect_ok "restore: first refresh" -- ov cred refresh beta rt
rid=$(dbq "SELECT c.id FROM credentials c JOIN orgs o ON o.id = c.org_id WHERE o.slug = 'beta' AND c.name = 'rt'")
dbq "CREATE TABLE sv_copy AS SELECT * FROM secret_versions WHERE credential_id = $rid;
    CREATE TABLE mac_copy AS SELECT row_mac FROM credentials WHERE id = $rid"
expect_ok "restore: a second refresh rotates the refresh token" -- ov cred refresh beta rt
n=$(fake_requests beta-rt | jq length)
dbq "DELETE FROM secret_versions WHERE credential_id = $rid;
    INSERT INTO secret_versions SELECT * FROM sv_copy;
    UPDATE credentials SET row_mac = (SELECT row_mac FROM mac_copy), next_refresh_at = NULL WHERE id = $rid;
    DROP TABLE sv_copy; DROP TABLE mac_copy"
wait_until 15 test "$(ov cred show beta rt --json | jq -r .status)" = tampered
expect_eq "restore: rows put back from an older copy (valid MAC): tampered" tampered \
    "$(ov cred show beta rt --json | jq -r .status)"
expect_eq "restore: the stale refresh token was never presented" "$n" \
    "$(fake_requests beta-rt | jq length)"
expect_eq "restore: the provider saw no stale presentation" 0 \
    "$(fake_field beta-rt .stale_presentations)"
run events_json --credential rt --kind credential.tampered
expect_json "restore: the event says the refresh token was rotated away" \
    'length == 1 and (.[0].detail.description | test("rotated away"))'
serve_stop "$SERVE_PID"

# An edit made while a rotating refresh is in flight is not blessed by the
# MAC the record writes: the rotated token is kept, the row is tampered.
fake_put beta-fly "$(jq -cn --arg s "$SECRET" '{client_secret: $s, refresh_token: "rt-seed-fly", rotate_refresh: true, behaviour: "slow", delay_ms: 2000}')"
secret_file "$TMP/rtf" rt-seed-fly
expect_ok "in flight: beta/fly" -- ov cred put beta fly --provider oauth2 \
    --token-url "$FAKE_URL/token" --client-id beta-fly --secret-file "$S" \
    --grant refresh_token --refresh-token-file "$TMP/rtf"
fid=$(dbq "SELECT c.id FROM credentials c JOIN orgs o ON o.id = c.org_id WHERE o.slug = 'beta' AND c.name = 'fly'")
ov cred refresh beta fly >"$TMP/fly.out" 2>&1 &
fly=$!
bg_track "$fly"
wait_until 5 sh -c "[ \"\$(curl -s '$FAKE_URL/_admin/stats' | jq .in_flight)\" -ge 1 ]"
dbq "UPDATE credentials SET expected_scope = 'admin' WHERE id = $fid"
wait "$fly"
expect_eq "in flight: the answer is recorded (the rotated token kept)" rt-beta-fly-1 \
    "$(fake_field beta-fly .current_refresh_token)"
expect_eq "in flight: the credential is tampered, not blessed" tampered \
    "$(ov cred show beta fly --json | jq -r .status)"
run ov check
expect_stdout_contains "in flight: check names its row MAC" "credentials row $fid column row_mac"
# --- webhook rows ----------------------------------------------------------------------
secret_file "$TMP/hook" "hook-secret-$RANDOM$RANDOM"
expect_ok "webhook: add one for revoked only" -- \
    ov webhook add http://127.0.0.1:9/hook --secret-file "$TMP/hook" --events revoked,tampered
dbq "UPDATE webhooks SET events = 'revoked,invalid_client,failing'"
run ov check --json
expect_json "webhook: check names the edited row" \
    '[.failures[] | select(.table == "webhooks" and .column == "row_mac")] | length == 1'

# --- the MAC key itself -----------------------------------------------------------------
dbq "UPDATE vault_meta SET value = 'pending' WHERE key = 'row_mac_key'"
expect_fail 4 "mac key: reset to 'pending' (to MAC every row anew): refused" \
    'tampered' -- ov cred list

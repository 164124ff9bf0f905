#!/usr/bin/env bash
# t_rot_held_reauth.sh — credentials whose refresher died holding the
# lease (both found by tests/chaos/chaos.sh):
# (a) held as `unknown` and re-authorized by the operator (`cred put
#     --refresh-token-file`, README "Held credentials") while the dead
#     lease has not expired yet: serve refreshes it with the new token at
#     once; it does not take the dead lease over a second time and hold it
#     again (every re-authorization within timeout + 60 s of a kill was
#     undone by a second "refresher died").
# (b) the token broker asks for a refresh of a credential whose dead
#     refresher's request did rotate the refresh token: the takeover holds
#     it, and the broker's forced ask must not override that hold (it
#     replayed the stale token and the provider revoked the family).
. "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
. "$(dirname "${BASH_SOURCE[0]}")/fake.sh"
. "$(dirname "${BASH_SOURCE[0]}")/api.sh"

fake_start
setup_vault
expect_ok "setup: org acme" -- ov org add acme
SECRET=held-secret-1
secret_file "$TMP/s" "$SECRET"
secret_file "$TMP/rt" rt-seed-h1
fake_put h1 "{\"client_secret\":\"$SECRET\",\"lifetime\":3600,\"refresh_token\":\"rt-seed-h1\",\"rotate_refresh\":true}" || exit 1
expect_ok "setup: cred put h1 (refresh_token grant)" -- ov cred put acme h1 \
    --provider oauth2 --token-url "$FAKE_URL/token" --client-id h1 \
    --secret-file "$TMP/s" --grant refresh_token --refresh-token-file "$TMP/rt"

# A refresher that died holding the lease (a pid that no longer exists).
sleep 0.1 &
dead=$!
wait "$dead"
OWNER="$(cat /proc/sys/kernel/hostname):$dead:0000dead"
db_sql "UPDATE credentials SET lease_owner = '$OWNER',
    lease_until = $(date +%s) + 120 WHERE name = 'h1'"

unknown_events() {
	events_json --credential h1 --kind refresh.outcome_unknown | jq length
}
status_is() {
	[ "$(ov cred show acme h1 --json | jq -r .status)" = "$1" ]
}

serve_start a || exit 1
expect_true "serve takes the dead lease over and holds h1 (unknown)" -- wait_until 15 status_is unknown
expect_eq "one refresh.outcome_unknown event (refresher_died)" 1 "$(unknown_events)"
expect_eq "nothing was sent to the provider" 0 "$(fake_requests h1 | jq length)"

# The operator re-authorizes: a new refresh token from the provider.
fake_patch h1 '{"refresh_token":"rt-reauth-h1"}' || exit 1
secret_file "$TMP/rt2" rt-reauth-h1
expect_ok "operator: cred put --refresh-token-file (re-authorization)" -- \
    ov cred put acme h1 --refresh-token-file "$TMP/rt2"
expect_true "serve refreshes h1 with the new refresh token at once (active)" -- \
    wait_until 10 status_is active
nap 1
expect_eq "no second takeover of the dead lease (still one outcome_unknown event)" 1 "$(unknown_events)"
run fake_requests h1
expect_json "the fake got one request, with the new refresh token, answered 200" \
    'length == 1 and .[0].refresh_token == "rt-reauth-h1" and .[0].status == 200'
run ov cred show acme h1 --json
expect_json "h1: active, with a token, nobody's lease" \
    '.status == "active" and .last_success_at != null and .next_refresh_at != null'
expect_eq "the dead refresher's lease is gone" "" \
    "$(db_sql "SELECT coalesce(lease_owner, '') FROM credentials WHERE name = 'h1'" | grep -F "$OWNER")"
expect_eq "(a) no stale refresh token was presented" 0 "$(fake_field h1 .stale_presentations)"

# --- (b) the broker's ask after a dead refresher rotated the token ----------
secret_file "$TMP/rt3" rt-seed-h2
fake_put h2 "{\"client_secret\":\"$SECRET\",\"lifetime\":3600,\"refresh_token\":\"rt-seed-h2\",\"rotate_refresh\":true}" || exit 1
expect_ok "(b) setup: cred put h2" -- ov cred put acme h2 \
    --provider oauth2 --token-url "$FAKE_URL/token" --client-id h2 \
    --secret-file "$TMP/s" --grant refresh_token --refresh-token-file "$TMP/rt3"
h2_active() {
	[ "$(ov cred show acme h2 --json | jq -r '.status + " " + (.last_success_at != null | tostring)')" = "active true" ]
}
expect_true "(b) setup: serve gives h2 its first token" -- wait_until 10 h2_active
serve_stop "$SERVE_PID" 20
expect_eq "(a) serve stops with exit 0" 0 "$SERVE_RC"
# What a refresher that then died had sent: the provider rotated
# rt-h2-1 (stored) to rt-h2-2, and the answer was never recorded.
code=$(curl -sS -o /dev/null -w '%{http_code}' -u "h2:$SECRET" "$FAKE_URL/token" \
    -d grant_type=refresh_token -d refresh_token=rt-h2-1)
expect_eq "(b) setup: the dead refresher's request rotated the token" 200 "$code"
# Its lease is left; the access token has expired; the credential is not
# due for the scheduler (a backoff), so only the broker asks for it.
db_sql "UPDATE credentials SET lease_owner = '$OWNER',
    lease_until = $(date +%s) + 120,
    next_refresh_at = $(date +%s) + 3600 WHERE name = 'h2';
    UPDATE tokens SET expires_at = $(date +%s) - 10
    WHERE credential_id = (SELECT id FROM credentials WHERE name = 'h2')"
TOK=$(api_key tok token)
serve_start b || exit 1
api GET /v1/orgs/acme/credentials/h2/token "$TOK"
code1=$API_CODE
nap 1
api GET /v1/orgs/acme/credentials/h2/token "$TOK"
expect_true "(b) the broker answers 409 or 503, not a token (got $code1, then $API_CODE)" -- \
    test "$code1" != 200 -a "$API_CODE" = 409
expect_eq "(b) h2 is held (unknown)" unknown "$(ov cred show acme h2 --json | jq -r .status)"
expect_eq "(b) the possibly rotated refresh token was not replayed (stale_presentations)" 0 \
    "$(fake_field h2 .stale_presentations)"
expect_eq "(b) the family was not revoked" false "$(fake_field h2 .family_revoked)"
expect_eq "(b) serve sent nothing for h2 (only the dead refresher's request)" 2 \
    "$(fake_requests h2 | jq length)"
serve_stop "$SERVE_PID" 20
expect_eq "(b) serve stops with exit 0" 0 "$SERVE_RC"
expect_ok "check" -- ov check

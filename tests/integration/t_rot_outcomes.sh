#!/usr/bin/env bash
# t_rot_outcomes.sh — one refresh attempt (`cred refresh`, `token`)
# against every behaviour of the fake OAuth server: what each answer
# does to the credential (status, failures, next deadline, events, the
# revocation ledger), client authentication (Basic, post, special
# characters), refresh-token rotation, and scope drift.
. "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
. "$(dirname "${BASH_SOURCE[0]}")/fake.sh"

fake_start
setup_vault
expect_ok "setup: org acme" -- ov org add acme

SECRET=s3cret-value-1
S=$TMP/secret
secret_file "$S" "$SECRET"

# mk NAME FAKE-FIELDS [cred put options]: a fake client NAME (secret
# $SECRET, lifetime 3600, plus FAKE-FIELDS) and a genesys-style
# credential acme/NAME of client NAME, expected scope "a b".
mk() {
	local name=$1 extra=$2
	shift 2
	fake_put "$name" "$(jq -cn --arg s "$SECRET" --argjson e "{$extra}" \
	    '{client_secret: $s, lifetime: 3600} + $e')" || return 1
	run ov cred put acme "$name" --provider genesys \
	    --token-url "$FAKE_URL/oauth/token" --client-id "$name" \
	    --secret-file "$S" --scope "a b" "$@"
	if [ "$RC" -ne 0 ]; then
		fail "setup: cred put acme/$name"
		context
		return 1
	fi
}

# A refresh-token credential: mkrt NAME FAKE-FIELDS [cred put options].
mkrt() {
	local name=$1 extra=$2
	shift 2
	secret_file "$TMP/rt-$name" "rt-seed-$name"
	mk "$name" "\"refresh_token\":\"rt-seed-$name\"${extra:+,$extra}" \
	    --grant refresh_token --refresh-token-file "$TMP/rt-$name" "$@"
}

show() {
	run ov cred show acme "$1" --json
}

nreq() {
	fake_requests "$1" | jq length
}

# --- ok ---------------------------------------------------------------------
mk ok1 ''
t0=$(date +%s)
expect_ok "ok: cred refresh exits 0" -- ov cred refresh acme ok1 --json
expect_json "ok: --json outcome ok, status active" '.outcome == "ok" and .status == "active"'
show ok1
expect_json "ok: expires_at = now + lifetime (3600 s)" \
    '(.expires_at | fromdateiso8601) as $e | $e >= $t0 + 3600 and $e <= $t0 + 3660' --argjson t0 "$t0"
expect_json "ok: next_refresh_at at 0.75 of the lifetime minus <= 5 % jitter" \
    '(.next_refresh_at | fromdateiso8601) as $n | $n >= $t0 + 2700 - 180 and $n <= $t0 + 2700 + 60' \
    --argjson t0 "$t0"
expect_json "ok: next_refresh_at before expires_at - 60 s" \
    '(.next_refresh_at | fromdateiso8601) <= (.expires_at | fromdateiso8601) - 60'
expect_json "ok: granted_scope is the requested 'a b'" '.granted_scope == "a b"'
expect_json "ok: last_success_at set (now)" \
    '.last_success_at != null and (.last_success_at | fromdateiso8601) >= $t0' --argjson t0 "$t0"
expect_json "ok: consecutive_failures 0, no last_error" '.consecutive_failures == 0 and .last_error == ""'
expect_true "ok: fake granted one access token" -- \
    test "$(fake_field ok1 '.access_tokens_issued')" = 1
expect_true "ok: the request asked for scope 'a b'" -- \
    jq -e '.[0].scope == "a b" and .[0].grant_type == "client_credentials"' <<<"$(fake_requests ok1)"
expect_true "ok: genesys sends HTTP Basic by default (auth_method basic)" -- \
    jq -e '.[0].auth_method == "basic" and .[0].path == "/oauth/token"' <<<"$(fake_requests ok1)"
expect_ok "ok: token prints the access token" -- ov token acme ok1
expect_eq "ok: token stdout is the fake's access token" "at-ok1-1" "$(cat "$OUT")"
expect_ok "ok: token --json" -- ov token acme ok1 --json
expect_json "ok: token --json fields" \
    '.access_token == "at-ok1-1" and .token_type == "Bearer" and (.expires_at | fromdateiso8601) > now
     and (.expires_in | type) == "number" and .expires_in > 3500 and .expires_in <= 3600 and .scope == "a b"'
expect_eq "ok: a valid token is served without a new request" 1 "$(nreq ok1)"
run events_json --credential ok1 --kind refresh.ok
expect_json "ok: one refresh.ok event (expires_in, refresh_token_rotated false)" \
    'length == 1 and .[0].detail.expires_in == 3600 and .[0].detail.refresh_token_rotated == false'
expect_ok "ok: second cred refresh" -- ov cred refresh acme ok1
expect_stdout_contains "ok: plain output names the outcome" "refresh acme/ok1: ok"
expect_ok "ok: token after it" -- ov token acme ok1
expect_eq "ok: token now prints the second access token" "at-ok1-2" "$(cat "$OUT")"
expect_fail 2 "cred refresh of an unknown credential: exit 2" "" -- ov cred refresh acme nope
expect_fail 2 "token of an unknown credential: exit 2" "" -- ov token acme nope

# token refreshes a credential that has no token yet, or whose token is
# inside the safety margin.
mk tok1 ''
expect_ok "token: a credential without a token is refreshed first" -- ov token acme tok1
expect_eq "token: it prints the fresh token" "at-tok1-1" "$(cat "$OUT")"
mk tok2 '"lifetime":2'
expect_ok "token: setup refresh of a 2 s token" -- ov cred refresh acme tok2
nap 1.2
expect_ok "token: a token inside its safety margin is refreshed" -- ov token acme tok2
expect_eq "token: it prints the new token" "at-tok2-2" "$(cat "$OUT")"
mk tok3 '"behaviour":"500"'
expect_exit 5 "token: no token to be had (500): exit 5" -- ov token acme tok3
expect_stderr_contains "token: says there is no valid token" "orgvault: no valid token for acme/tok3"
expect_eq "token: nothing on stdout when it fails" "" "$(cat "$OUT")"

# --- client authentication -----------------------------------------------------
fake_put sn1 "{\"client_secret\":\"$SECRET\"}"
expect_ok "servicenow: cred put --instance x with a loopback token URL" -- ov cred put acme sn1 \
    --provider servicenow --instance x --token-url "$FAKE_URL/oauth_token.do" \
    --client-id sn1 --secret-file "$S"
expect_ok "servicenow: refresh ok" -- ov cred refresh acme sn1
expect_true "servicenow: sends the secret in the form body (auth_method post)" -- \
    jq -e '.[0].auth_method == "post" and .[0].path == "/oauth_token.do" and .[0].status == 200' \
    <<<"$(fake_requests sn1)"
mk post1 '' --auth post
expect_ok "--auth post: refresh ok" -- ov cred refresh acme post1
expect_true "--auth post overrides genesys' Basic" -- \
    jq -e '.[0].auth_method == "post" and .[0].status == 200' <<<"$(fake_requests post1)"
fake_put snb "{\"client_secret\":\"$SECRET\"}"
expect_ok "servicenow --auth basic: cred put" -- ov cred put acme snb --provider servicenow \
    --instance x --token-url "$FAKE_URL/oauth_token.do" --client-id snb --secret-file "$S" --auth basic
expect_ok "servicenow --auth basic: refresh ok" -- ov cred refresh acme snb
expect_true "--auth basic overrides servicenow's post" -- \
    jq -e '.[0].auth_method == "basic"' <<<"$(fake_requests snb)"
fake_put o2 "{\"client_secret\":\"$SECRET\"}"
expect_ok "oauth2 on /token: cred put" -- ov cred put acme o2 --provider oauth2 \
    --token-url "$FAKE_URL/token" --client-id o2 --secret-file "$S"
expect_ok "oauth2 on /token: refresh ok" -- ov cred refresh acme o2
expect_true "oauth2 sends Basic, no scope when none is expected" -- \
    jq -e '.[0].auth_method == "basic" and .[0].scope == null and .[0].path == "/token"' \
    <<<"$(fake_requests o2)"

# Special characters: Basic carries form-urlencoded id and secret.
SPID='svc:1&x=y%z+w'
SPSEC='a:b&c=d%e +f/g?h#i'
SPS=$TMP/special-secret
secret_file "$SPS" "$SPSEC"
fake_put "$SPID" "$(jq -cn --arg s "$SPSEC" '{client_secret: $s, lifetime: 3600}')"
expect_ok "special characters: cred put (Basic)" -- ov cred put acme special --provider genesys \
    --token-url "$FAKE_URL/oauth/token" --client-id "$SPID" --secret-file "$SPS"
expect_ok "special characters: Basic authenticates (exit 0)" -- ov cred refresh acme special --json
expect_json "special characters: Basic outcome ok" '.outcome == "ok"'
expect_ok "special characters: cred put (post)" -- ov cred put acme special-post --provider genesys \
    --token-url "$FAKE_URL/oauth/token" --client-id "$SPID" --secret-file "$SPS" --auth post
expect_ok "special characters: post authenticates (exit 0)" -- ov cred refresh acme special-post
expect_true "special characters: the fake saw the exact client id, both methods, both 200" -- \
    jq -e --arg id "$SPID" 'length == 2 and all(.client_id == $id and .status == 200)
        and (map(.auth_method) | sort) == ["basic", "post"]' <<<"$(fake_requests "$SPID")"

# --- invalid_grant --------------------------------------------------------------
mkrt rg1 '"behaviour":"invalid_grant"'
expect_exit 5 "invalid_grant: exit 5" -- ov cred refresh acme rg1 --json
expect_json "invalid_grant: outcome revoked, status revoked" '.outcome == "revoked" and .status == "revoked"'
expect_json "invalid_grant: no next refresh (never retried)" '.next_refresh_at == null'
expect_json "invalid_grant: last_error names invalid_grant" '.last_error | startswith("invalid_grant")'
run events_json --credential rg1 --kind credential.revoked
expect_json "invalid_grant: credential.revoked event with the provider's description" \
    'length == 1 and .[0].detail.description == "the authorization grant is invalid or expired"'
expect_json "invalid_grant: the event's detail has attempts" '.[0].detail.attempts == 1'
expect_ok "invalid_grant: audit revocations --json" -- ov audit revocations --json
expect_json "invalid_grant: listed in the revocation ledger (400, invalid_grant)" \
    'map(select(.credential == "rg1")) | length == 1 and .[0].kind == "credential.revoked"
     and .[0].oauth_error == "invalid_grant" and .[0].http_status == 400'
expect_ok "invalid_grant: audit revocations (text)" -- ov audit revocations
expect_stdout_contains "invalid_grant: text ledger names the credential" "acme/rg1"
expect_fail 5 "invalid_grant: token of a revoked credential: exit 5" "revoked" -- ov token acme rg1
expect_eq "invalid_grant: token made no request" 1 "$(nreq rg1)"
fake_patch rg1 '{"behaviour":"ok"}'
expect_ok "invalid_grant: a new refresh token (cred put) re-activates" -- \
    ov cred put acme rg1 --refresh-token-file "$TMP/rt-rg1" --json
expect_json "invalid_grant: status back to active" '.status == "active" and .consecutive_failures == 0'
expect_ok "invalid_grant: refresh after re-authorization: ok" -- ov cred refresh acme rg1

# --- invalid_client and friends ---------------------------------------------------
t0=$(date +%s)
mk ic1 '"behaviour":"invalid_client"'
expect_exit 5 "invalid_client: exit 5" -- ov cred refresh acme ic1 --json
expect_json "invalid_client: outcome and status invalid_client" \
    '.outcome == "invalid_client" and .status == "invalid_client"'
expect_json "invalid_client: retried only at the backoff cap (300 s)" \
    '(.next_refresh_at | fromdateiso8601) as $n | $n >= $t0 + 295 and $n <= $t0 + 330' --argjson t0 "$t0"
run ov audit revocations --json
expect_json "invalid_client: in the revocation ledger (401)" \
    'map(select(.credential == "ic1")) | length == 1 and .[0].kind == "credential.invalid_client" and .[0].http_status == 401'

fake_put ic2 '{"client_secret":"the-real-secret"}'
expect_ok "wrong secret: cred put" -- ov cred put acme ic2 --provider genesys \
    --token-url "$FAKE_URL/oauth/token" --client-id ic2 --secret-file "$S"
expect_exit 5 "wrong secret: exit 5" -- ov cred refresh acme ic2 --json
expect_json "wrong secret: invalid_client" '.outcome == "invalid_client" and .status == "invalid_client"'
secret_file "$TMP/real" the-real-secret
expect_ok "wrong secret: put the right one" -- ov cred put acme ic2 --secret-file "$TMP/real" --json
expect_json "wrong secret: a new secret sets the status back to active" '.status == "active"'
expect_ok "wrong secret: refresh with the right secret: ok" -- ov cred refresh acme ic2

fake_put sn401 "{\"client_secret\":\"$SECRET\",\"behaviour\":\"servicenow_401\"}"
expect_ok "servicenow_401: cred put" -- ov cred put acme sn401 --provider servicenow \
    --instance x --token-url "$FAKE_URL/oauth_token.do" --client-id sn401 --secret-file "$S"
expect_exit 5 "servicenow_401: exit 5" -- ov cred refresh acme sn401 --json
expect_json "servicenow_401: invalid_client (not transient)" \
    '.outcome == "invalid_client" and .status == "invalid_client" and .last_error == "server_error: access_denied"'
# ServiceNow also answers a dead refresh token with 401 access_denied.
secret_file "$TMP/rt-snrt" rt-seed-snrt
fake_put snrt "{\"client_secret\":\"$SECRET\",\"refresh_token\":\"rt-seed-snrt\",\"behaviour\":\"invalid_grant\"}"
expect_ok "servicenow dead refresh token: cred put" -- ov cred put acme snrt --provider servicenow \
    --instance x --token-url "$FAKE_URL/oauth_token.do" --client-id snrt --secret-file "$S" \
    --grant refresh_token --refresh-token-file "$TMP/rt-snrt"
expect_exit 5 "servicenow dead refresh token: exit 5" -- ov cred refresh acme snrt --json
expect_json "servicenow 401 on a refresh-token grant: secret_or_grant_refused (not invalid_client)" \
    '.outcome == "secret_or_grant_refused" and .status == "secret_or_grant_refused"'
run events_json --credential snrt --kind credential.secret_or_grant_refused
expect_json "servicenow 401 on a refresh-token grant: the event names both fixes" \
    'length == 1 and (.[0].detail.fix | test("secret-file") and test("refresh-token-file"))'
run ov audit revocations --json
expect_json "servicenow 401 on a refresh-token grant: in the revocation ledger" \
    'map(select(.credential == "snrt")) | length == 1'
expect_exit 5 "servicenow 401 on a refresh-token grant: cred refresh exits 5" -- \
    ov cred refresh acme snrt
expect_stderr_contains "servicenow 401 on a refresh-token grant: names a new secret" "cred put --secret-file"
expect_stderr_contains "servicenow 401 on a refresh-token grant: names re-authorizing" "cred put --refresh-token-file"

for b in invalid_scope unauthorized_client unsupported_grant_type invalid_request; do
	t0=$(date +%s)
	n=f-${b//_/-}
	mk "$n" "\"behaviour\":\"$b\""
	expect_exit 5 "$b: exit 5" -- ov cred refresh acme "$n" --json
	expect_json "$b: outcome failing, status failing at once" \
	    '.outcome == "failing" and .status == "failing" and (.last_error | startswith($b))' --arg b "$b"
	expect_json "$b: next attempt at the backoff cap (300 s)" \
	    '(.next_refresh_at | fromdateiso8601) as $n | $n >= $t0 + 295 and $n <= $t0 + 330' \
	    --argjson t0 "$t0"
done

# --- 429 ----------------------------------------------------------------------------
t0=$(date +%s)
mk rl1 '"behaviour":"429","retry_after":2'
expect_exit 5 "429: exit 5" -- ov cred refresh acme rl1 --json
expect_json "429: outcome rate_limited, still active after one" \
    '.outcome == "rate_limited" and .status == "active" and .consecutive_failures == 1'
expect_json "429: next attempt after Retry-After (2 s)" \
    '(.next_refresh_at | fromdateiso8601) as $n | $n >= $t0 + 2 and $n <= $t0 + 30' --argjson t0 "$t0"
run events_json --credential rl1 --kind refresh.rate_limited
expect_json "429: refresh.rate_limited event with retry_after_s 2" 'length == 1 and .[0].detail.retry_after_s == 2'
run ov cred refresh acme rl1
run ov cred refresh acme rl1 --json
expect_json "429: failing after 3 in a row" '.status == "failing" and .consecutive_failures == 3'
mk rl2 '"behaviour":"429","retry_after":30,"retry_after_date":true'
expect_exit 5 "429 with an HTTP-date Retry-After: exit 5" -- ov cred refresh acme rl2
run events_json --credential rl2 --kind refresh.rate_limited
expect_json "429 with an HTTP-date: retry_after_s about 30" \
    'length == 1 and .[0].detail.retry_after_s >= 25 and .[0].detail.retry_after_s <= 30'
mk rl3 '"behaviour":"429","retry_after":100000'
expect_exit 5 "429 with Retry-After 100000: exit 5" -- ov cred refresh acme rl3
run events_json --credential rl3 --kind refresh.rate_limited
expect_json "429: Retry-After capped (600 s by default)" 'length == 1 and .[0].detail.retry_after_s == 600'

# --- transient failures ------------------------------------------------------------------
for b in 500 503 html_500 garbage huge missing_access_token mistyped reset; do
	n=t-${b//_/-}
	mk "$n" "\"behaviour\":\"$b\""
	expect_exit 5 "$b: exit 5" -- ov cred refresh acme "$n" --json
	expect_json "$b: outcome transient; status still active after one failure" \
	    '.outcome == "transient" and .status == "active" and .consecutive_failures == 1'
	run ov cred refresh acme "$n"
	expect_exit 5 "$b: third failure: exit 5" -- ov cred refresh acme "$n" --json
	expect_json "$b: failing after 3 consecutive failures" \
	    '.status == "failing" and .consecutive_failures == 3 and .last_error != ""'
	expect_eq "$b: three requests reached the fake" 3 "$(nreq "$n")"
done
show t-huge
expect_json "huge: last_error says the body was too large" '.last_error | test("larger than")'
show t-garbage
expect_json "garbage: a protocol error" '.last_error | startswith("protocol")'
show t-mistyped
expect_json "mistyped: a protocol error" '.last_error | startswith("protocol")'
show t-reset
expect_json "reset (client credentials): network error" '.last_error | startswith("network")'
fake_patch t-500 '{"behaviour":"ok"}'
expect_ok "failing → ok: refresh succeeds" -- ov cred refresh acme t-500 --json
expect_json "failing → ok: active again, failures reset" \
    '.status == "active" and .consecutive_failures == 0 and .last_error == ""'

# A refresh grant whose request was sent in full and then dropped may have
# rotated the token at the provider: outcome unknown.
mkrt rst '"behaviour":"reset"'
expect_exit 5 "reset (refresh grant): exit 5" -- ov cred refresh acme rst --json
expect_json "reset (refresh grant): outcome_unknown" '.outcome == "outcome_unknown"'
run events_json --credential rst --kind refresh.outcome_unknown
expect_json "reset (refresh grant): refresh.outcome_unknown event" 'length == 1'

# --- refresh-token grant ----------------------------------------------------------------------
mkrt rt1 ''
expect_ok "refresh grant: refresh ok" -- ov cred refresh acme rt1
expect_eq "refresh grant: presented the stored refresh token" "rt-seed-rt1" \
    "$(fake_requests rt1 | jq -r '.[0].refresh_token')"
expect_eq "refresh grant: grant_type refresh_token" "refresh_token" \
    "$(fake_requests rt1 | jq -r '.[0].grant_type')"
expect_eq "refresh grant: the fake rotated it" "rt-rt1-1" "$(fake_field rt1 .current_refresh_token)"
run events_json --credential rt1 --kind refresh.ok
expect_json "refresh grant: event says refresh_token_rotated" '.[0].detail.refresh_token_rotated == true'
expect_ok "refresh grant: second refresh ok" -- ov cred refresh acme rt1
expect_eq "refresh grant: the second refresh presented the NEW token" "rt-rt1-1" \
    "$(fake_requests rt1 | jq -r '.[1].refresh_token')"
expect_eq "refresh grant: stale_presentations 0" 0 "$(fake_field rt1 .stale_presentations)"
expect_eq "refresh grant: family not revoked" false "$(fake_field rt1 .family_revoked)"
show rt1
expect_json "refresh grant: has_refresh_token" '.has_refresh_token == true and .grant == "refresh_token"'

mkrt rt2 '"rotate_refresh":false'
expect_ok "no rotation: refresh ok" -- ov cred refresh acme rt2
expect_ok "no rotation: second refresh ok" -- ov cred refresh acme rt2
expect_true "no rotation: both presented the original refresh token" -- \
    jq -e 'map(.refresh_token) == ["rt-seed-rt2", "rt-seed-rt2"] and all(.status == 200)' \
    <<<"$(fake_requests rt2)"
run events_json --credential rt2 --kind refresh.ok
expect_json "no rotation: refresh_token_rotated false" 'length == 2 and all(.detail.refresh_token_rotated == false)'
expect_eq "no rotation: stale_presentations 0" 0 "$(fake_field rt2 .stale_presentations)"

mkrt rt3 '"rotate_refresh":false,"echo_refresh":true'
expect_ok "echoed refresh token: refresh ok" -- ov cred refresh acme rt3
expect_ok "echoed refresh token: second refresh ok" -- ov cred refresh acme rt3
expect_true "echoed refresh token: presented the same token twice" -- \
    jq -e 'map(.refresh_token) == ["rt-seed-rt3", "rt-seed-rt3"]' <<<"$(fake_requests rt3)"

# --- leases -------------------------------------------------------------------------------------
mk ls1 ''
HOST=$(cat /proc/sys/kernel/hostname)
sleep 30 &
LIVE=$!
_FK_PIDS+=("$LIVE")
lease() {
	db_sql "UPDATE credentials SET lease_owner = '$1', lease_until = $(date +%s) + 600
	    WHERE name = 'ls1'" 2>&1
}
lease "$HOST:$LIVE:0000beef"
expect_fail 3 "lease of a live process: cred refresh exits 3" "being refreshed" -- ov cred refresh acme ls1
lease "elsewhere.example:$LIVE:0000beef"
expect_fail 3 "lease of another host: cred refresh exits 3" "being refreshed" -- ov cred refresh acme ls1
expect_eq "leased: no request was sent" 0 "$(nreq ls1)"
lease "$HOST:4190000:0000beef"
expect_ok "lease of a dead process on this host: taken over (exit 0)" -- ov cred refresh acme ls1
expect_eq "after the takeover: one request" 1 "$(nreq ls1)"
# DESIGN.md: callers that need a token while a refresh is in flight get
# the still-valid token (or wait briefly); never an error, never a
# second refresh.  A token inside its safety margin, a live lease:
# (lifetime 600 s: margin 60 s; the token has 30 s left.)
mk ls2 '"lifetime":600'
expect_ok "lease + margin: setup refresh" -- ov cred refresh acme ls2
db_sql "UPDATE tokens SET issued_at = $(date +%s) - 570,
    expires_at = $(date +%s) + 30
    WHERE credential_id = (SELECT id FROM credentials WHERE name = 'ls2')"
db_sql "UPDATE credentials SET lease_owner = '$HOST:$LIVE:0000beef',
    lease_until = $(date +%s) + 600 WHERE name = 'ls2'"
expect_ok "token while another process refreshes: the still-valid token, exit 0" -- ov token acme ls2
expect_eq "token while another process refreshes: prints the current token" "at-ls2-1" "$(cat "$OUT")"
expect_eq "token while another process refreshes: no second request" 1 "$(nreq ls2)"
kill "$LIVE" 2>/dev/null
wait "$LIVE" 2>/dev/null
_fk_forget "$LIVE"
expect_ok "lease + margin, refresher gone: token takes over and refreshes" -- ov token acme ls2
expect_eq "lease + margin, refresher gone: prints the new token" "at-ls2-2" "$(cat "$OUT")"

# --- scope drift --------------------------------------------------------------------------------
mk dr1 '"scope":"a b admin"'
for i in 1 2 3; do
	expect_ok "drift: refresh $i granting 'a b admin'" -- ov cred refresh acme dr1
done
expect_ok "drift: audit drift --json" -- ov audit drift --json
expect_json "drift: lists extra [admin], overbroad [admin], missing []" \
    'map(select(.credential == "dr1")) | length == 1 and .[0].extra == ["admin"]
     and .[0].overbroad == ["admin"] and .[0].missing == [] and .[0].org == "acme"'
run events_json --credential dr1 --kind scope_drift
expect_json "drift: one scope_drift event after three refreshes with the same drift" \
    'length == 1 and .[0].detail.extra == ["admin"]'
expect_ok "drift: audit drift (text)" -- ov audit drift
expect_stdout_contains "drift: text report names the over-broad scope" "over-broad: admin"
fake_patch dr1 '{"scope":null}'
expect_ok "drift: refresh granting 'a b' again" -- ov cred refresh acme dr1
run ov audit drift --json
expect_json "drift: resolved, no longer in the report" 'map(select(.credential == "dr1")) | length == 0'
run events_json --credential dr1 --kind scope_drift.resolved
expect_json "drift: one scope_drift.resolved event" 'length == 1'
run events_json --credential dr1 --kind scope_drift
expect_json "drift: still one scope_drift event" 'length == 1'

mk dr2 '"scope":"a"'
expect_ok "drift: refresh granting only 'a'" -- ov cred refresh acme dr2
run ov audit drift --json
expect_json "drift: missing [b], nothing extra" \
    'map(select(.credential == "dr2")) | length == 1 and .[0].missing == ["b"] and .[0].extra == [] and .[0].overbroad == []'
fake_patch dr2 '{"scope":"a b c:*"}'
expect_ok "drift: refresh granting 'a b c:*'" -- ov cred refresh acme dr2
run ov audit drift --json
expect_json "drift: changed drift: extra [c:*], over-broad" \
    'map(select(.credential == "dr2")) | .[0].extra == ["c:*"] and .[0].overbroad == ["c:*"] and .[0].missing == []'
run events_json --credential dr2 --kind scope_drift
expect_json "drift: a different drift is a new event (2)" 'length == 2'

mk dr3 '"omit_scope":true'
expect_ok "drift: refresh whose answer has no scope" -- ov cred refresh acme dr3 --json
expect_json "drift: absent scope means the requested one (RFC 6749 3.3)" '.granted_scope == "a b"'
run ov audit drift --json
expect_json "drift: none for dr3, none for ok1" \
    'map(select(.credential == "dr3" or .credential == "ok1")) | length == 0'

# --- integrity ---------------------------------------------------------------------------------------
expect_ok "check: the vault is whole after all of it" -- ov check

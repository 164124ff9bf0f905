#!/usr/bin/env bash
# t_rot_pause.sh — a 429 pauses the (token host, client id) that got it,
# not the whole host: one noisy customer of a Genesys region must not
# stall the other orgs of that region.
#   - one client answers 429 with Retry-After 30; ten other orgs' new
#     credentials on the same host get their first tokens at once;
#   - the pause is visible: paused_until / pause_reason in the API's
#     credential JSON, orgvault_client_paused_total and
#     orgvault_endpoint_paused{host} in /metrics;
#   - POST …/refresh of an unrelated credential refreshes at once (200);
#     of the paused one: 503 with Retry-After, no request sent;
#   - three distinct clients with a 429 within a minute pause the host
#     (--host-pause-clients, default 3): then a new credential waits,
#     with pause_reason host_rate_limited and orgvault_endpoint_paused 1.
. "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
. "$(dirname "${BASH_SOURCE[0]}")/fake.sh"
. "$(dirname "${BASH_SOURCE[0]}")/api.sh"

fake_start
setup_vault
S=$TMP/secret
secret_file "$S" pause-secret-1
RDR=$(api_key rdr reader)
OPK=$(api_key op operator)
HOSTLABEL=127.0.0.1:$FAKE_PORT

put_cred() {	# ORG NAME CLIENT
	ov org show "$1" >/dev/null 2>&1 || ov org add "$1" >/dev/null 2>&1
	ov cred put "$1" "$2" --provider genesys --token-url "$FAKE_URL/oauth/token" \
	    --client-id "$3" --secret-file "$S" >/dev/null 2>>"$TMP/put.err"
}
got_token() {	# CLIENT: the fake issued it a token
	[ "$(fake_field "$1" '.access_tokens_issued')" -ge 1 ] 2>/dev/null
}

fake_put noisy '{"client_secret":"pause-secret-1","behaviour":"429","retry_after":30}'
put_cred noisy main noisy
serve_start main || exit 1
if wait_until 15 bash -c "[ \"\$(curl -s '$FAKE_URL/_admin/requests?client_id=noisy' | jq length)\" -ge 1 ]"; then
	pass "setup: the noisy client got its 429"
else
	fail "setup: the noisy client got its 429"
fi

# --- other clients of the same host are not paused ----------------------------
t0=$(now_ms)
for i in $(seq 1 10); do
	fake_put "q$i" '{"client_secret":"pause-secret-1","lifetime":3600}'
	put_cred "org$i" main "q$i"
done
late=
for i in $(seq 1 10); do
	wait_until 10 got_token "q$i" || late="$late q$i"
done
ms=$(($(now_ms) - t0))
expect_eq "client scope: all 10 other orgs got their first token" "" "$late"
expect_true "client scope: ... within 10 s of being put (${ms} ms), not after the 30 s pause" -- \
    test "$ms" -lt 10000
expect_eq "client scope: the noisy client was asked once (paused 30 s)" 1 \
    "$(fake_requests noisy | jq length)"

# --- visible ------------------------------------------------------------------
api GET /v1/orgs/noisy/credentials/main "$RDR"
expect_body "api: the paused credential has paused_until ~30 s ahead, reason rate_limited" \
    "(.paused_until | type) == \"string\" and .pause_reason == \"rate_limited\" and
     ((.paused_until | fromdateiso8601) - now) > 10 and ((.paused_until | fromdateiso8601) - now) <= 31"
api GET /v1/orgs/org1/credentials/main "$RDR"
expect_body "api: another org's credential is not paused" \
    '.paused_until == null and .pause_reason == null'
api GET /v1/credentials "$RDR"
expect_body "api: the list carries the fields too" \
    '.credentials | ([.[] | select(.pause_reason == "rate_limited")] | length == 1)'
api GET /metrics "$RDR"
expect_true "metrics: orgvault_client_paused_total 1" -- \
    grep -q '^orgvault_client_paused_total 1$' "$API_BODY"
expect_true "metrics: orgvault_endpoint_paused{host=\"$HOSTLABEL\"} 0 (one client)" -- \
    grep -qF "orgvault_endpoint_paused{host=\"$HOSTLABEL\"} 0" "$API_BODY"
expect_true "metrics: orgvault_endpoint_clients_paused 1" -- \
    grep -qF "orgvault_endpoint_clients_paused{host=\"$HOSTLABEL\"} 1" "$API_BODY"

# --- refreshes on demand --------------------------------------------------------
n=$(fake_requests q3 | jq length)
api POST /v1/orgs/org3/credentials/main/refresh "$OPK"
expect_status "refresh: an unrelated org's POST refresh: 200" 200
expect_body "refresh: ... outcome ok" '.outcome == "ok"'
expect_eq "refresh: ... and it reached the provider" $((n + 1)) "$(fake_requests q3 | jq length)"
api POST /v1/orgs/noisy/credentials/main/refresh "$OPK"
expect_problem "refresh: the paused credential's POST refresh: 503" 503 unavailable
expect_true "refresh: ... with Retry-After of the pause left (1-30)" -- \
    bash -c "v=\$(grep -i '^Retry-After:' '$API_HDRS' | tr -dc 0-9); [ \"\$v\" -ge 1 ] && [ \"\$v\" -le 30 ]"
expect_eq "refresh: ... and nothing was sent for it" 1 "$(fake_requests noisy | jq length)"

# --- the host, when several clients got 429 -------------------------------------
fake_patch q1 '{"behaviour":"429","retry_after":20}'
fake_patch q2 '{"behaviour":"429","retry_after":20}'
api POST /v1/orgs/org1/credentials/main/refresh "$OPK"
api POST /v1/orgs/org2/credentials/main/refresh "$OPK"
api GET /metrics "$RDR"
expect_true "host scope: three clients with a 429: orgvault_endpoint_paused 1" -- \
    grep -qF "orgvault_endpoint_paused{host=\"$HOSTLABEL\"} 1" "$API_BODY"
fake_put late '{"client_secret":"pause-secret-1","lifetime":3600}'
put_cred orglate main late
sleep 3
expect_eq "host scope: a new credential of that host waits (no request)" 0 \
    "$(fake_requests late | jq length)"
api GET /v1/orgs/orglate/credentials/main "$RDR"
expect_body "host scope: ... pause_reason host_rate_limited" \
    '.pause_reason == "host_rate_limited" and (.paused_until | type) == "string"'
expect_true "log: the host pause is logged" -- \
    grep -aq "answered 429 to 3 clients within a minute: pausing the host" "$(serve_log main)"
serve_stop "$SERVE_PID"
expect_eq "serve exits 0" 0 "$SERVE_RC"
expect_clean_log "serve log: no crash or sanitizer report" "$(serve_log main)"

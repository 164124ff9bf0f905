#!/usr/bin/env bash
# t_broker_preload.sh — `serve` loads every valid access token into the
# token broker when it starts, before any caller asks: the
# orgvault_broker_tokens gauge counts them, the log says so once, and a
# credential without a valid token (one that never got one) is not
# loaded.  On PostgreSQL the server is then stopped before the first
# GET of any of them: every token is still served, from memory, and is
# the one the vault holds.  With --token-cache off nothing is loaded.
. "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
. "$(dirname "${BASH_SOURCE[0]}")/fake.sh"
. "$(dirname "${BASH_SOURCE[0]}")/api.sh"

NAMES="p1 p2 p3"
fake_start
setup_vault
expect_ok "setup: org acme" -- ov org add acme
TOK=$(api_key tok token)
READER=$(api_key mon reader)
expect_true "setup: API keys" -- test -n "$TOK" -a -n "$READER"
for n in $NAMES; do
	fake_put "$n" "{\"client_secret\":\"s-$n\",\"lifetime\":3600}" || exit 1
	secret_file "$TMP/s-$n" "s-$n"
	expect_ok "setup: cred put acme/$n" -- ov cred put acme "$n" --provider genesys \
	    --token-url "$FAKE_URL/oauth/token" --client-id "$n" --secret-file "$TMP/s-$n"
done
# A credential the provider refuses: it never has a token to load.
fake_put nope '{"client_secret":"other","lifetime":3600}' || exit 1
secret_file "$TMP/s-nope" "s-nope"
expect_ok "setup: cred put acme/nope" -- ov cred put acme nope --provider genesys \
    --token-url "$FAKE_URL/oauth/token" --client-id nope --secret-file "$TMP/s-nope"

has_token() { [ "$(fake_field "$1" .access_tokens_issued)" -ge 1 ]; }
all_have() {
	local n
	for n in $NAMES; do
		has_token "$n" || return 1
	done
}

# gauge: the orgvault_broker_tokens value ("" when missing).
gauge() {
	api GET /metrics "$READER"
	[ "$API_CODE" = 200 ] || return 0
	awk '$1 == "orgvault_broker_tokens" { print $2 }' "$API_BODY"
}

# --- first serve: every credential gets its token ---------------------------------------------
serve_start first || exit 1
expect_true "first serve: every credential has a token" -- wait_until 20 all_have
nap 1
declare -A WANT
for n in $NAMES; do
	api GET "/v1/orgs/acme/credentials/$n/token" "$TOK"
	WANT[$n]=$(jq -r '.access_token // empty' "$API_BODY")
done
expect_true "first serve: the broker answered with a token for each" -- \
    test -n "${WANT[p1]}" -a -n "${WANT[p2]}" -a -n "${WANT[p3]}"
serve_stop "$SERVE_PID" 20
expect_eq "first serve: exit 0" 0 "$SERVE_RC"

# --- second serve: loaded before anyone asks --------------------------------------------------
before=$(fake_stats | jq .requests)
serve_start second || exit 1
loaded() { grep -aq 'token broker: 3 tokens loaded at start' "$(serve_log second)"; }
expect_true "second serve: the log says 3 tokens were loaded at start" -- wait_until 10 loaded
expect_eq "second serve: orgvault_broker_tokens is 3 before any token GET" 3 "$(gauge)"
expect_eq "second serve: loading asked the provider nothing" "$before" "$(fake_stats | jq .requests)"

if on_pg; then
	# The key is verified once while the server is up (the broker
	# takes a key verified in the last 15 minutes during an outage;
	# keys are not loaded at start), on a route that reads no token.
	api GET /v1/orgs/acme/credentials/nope/token "$TOK"
	expect_status "server up: the key is verified (acme/nope has no token: 409)" 409
	pg_as "$PG_BIN/pg_ctl" -D "$PG_DIR/data" -m fast -w stop >/dev/null
	for n in $NAMES; do
		api GET "/v1/orgs/acme/credentials/$n/token" "$TOK"
		expect_status "server stopped: acme/$n is served from memory" 200
		expect_eq "server stopped: acme/$n is the vault's token" "${WANT[$n]}" \
		    "$(jq -r '.access_token // empty' "$API_BODY")"
	done
	api GET /v1/orgs/acme/credentials/nope/token "$TOK"
	expect_true "server stopped: acme/nope (never had a token) is not 200 ($API_CODE)" -- \
	    test "$API_CODE" != 200
	pg_as "$PG_BIN/pg_ctl" -D "$PG_DIR/data" -l "$PG_LOG" -w -t 30 -o "-p $PG_PORT" \
	    start >/dev/null
else
	for n in $NAMES; do
		api GET "/v1/orgs/acme/credentials/$n/token" "$TOK"
		expect_eq "second serve: acme/$n is the vault's token" "${WANT[$n]}" \
		    "$(jq -r '.access_token // empty' "$API_BODY")"
	done
fi
serve_stop "$SERVE_PID" 20
expect_eq "second serve: exit 0" 0 "$SERVE_RC"
expect_clean_log "second serve: no crash or sanitizer report" "$(serve_log second)"

# --- --token-cache off: nothing held ------------------------------------------------------------
serve_start nocache --token-cache off || exit 1
nap 1
expect_eq "--token-cache off: orgvault_broker_tokens is 0" 0 "$(gauge)"
expect_false "--token-cache off: nothing was loaded" -- grep -aq 'tokens loaded at start' \
    "$(serve_log nocache)"
expect_true "--token-cache off: the log was written" -- test -s "$(serve_log nocache)"
serve_stop "$SERVE_PID" 20
expect_eq "--token-cache off: exit 0" 0 "$SERVE_RC"

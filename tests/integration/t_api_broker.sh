#!/usr/bin/env bash
# t_api_broker.sh — the token broker of `orgvault serve` (GET
# /v1/orgs/{org}/credentials/{name}/token) against the fake OAuth server:
# answers from memory (no token-endpoint request per GET, Cache-Control:
# no-store), the refresh window (current token + X-Token-Refreshing, one
# refresh under concurrent GETs), waits for the first token (one request
# for many waiting GETs), 503 + Retry-After after about 5 s when the
# provider hangs or fails, 409 credential-revoked after invalid_grant,
# CLI changes seen within about a second, --token-cache off, and SIGTERM
# while GETs wait.  (b1) runs first, on its own serve whose host budget
# is spent, so that only the broker can ask for the refresh.
#
# Counts of token-endpoint requests come from the fake's request log.
. "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
. "$(dirname "${BASH_SOURCE[0]}")/fake.sh"
. "$(dirname "${BASH_SOURCE[0]}")/api.sh"

fake_start
setup_vault
expect_ok "setup: org acme" -- ov org add acme
TOK=$(api_key tok token)
expect_true "setup: token API key" -- test -n "$TOK"

SECRET=broker-secret-1
S=$TMP/secret
secret_file "$S" "$SECRET"

# mk NAME FAKE-FIELDS [cred put options]: a fake client NAME (secret
# $SECRET, lifetime 3600 unless FAKE-FIELDS say otherwise) and the
# credential acme/NAME on the fake's /oauth/token, put with the CLI.
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

tpath() {
	echo "/v1/orgs/acme/credentials/$1/token"
}

# Token-endpoint requests the fake saw for a client.
nreq() {
	fake_requests "$1" | jq length
}

# get NAME: one token GET with the token key (sets API_*).
get() {
	api GET "$(tpath "$1")" "$TOK"
}

# True when the token GET of NAME answers 200 with access token WANT.
token_is() {
	get "$1"
	[ "$API_CODE" = 200 ] && [ "$(jq -r .access_token "$API_BODY")" = "$2" ]
}

# True when the token GET of NAME answers 200 with one of its tokens.
token_of() {
	get "$1"
	[ "$API_CODE" = 200 ] && jq -e --arg p "at-$1-" '.access_token | startswith($p)' \
	    "$API_BODY" >/dev/null
}

# True when the token GET of NAME answers status CODE.
status_is() {
	get "$1"
	[ "$API_CODE" = "$2" ]
}

# fan_json DIR N: the N answers of an api_fanout as one JSON array of
# {code, time, refreshing, cache, retry, body} (header values, "" when
# absent; body null when not JSON).
fan_json() {
	local dir=$1 n=$2 i code t
	for ((i = 1; i <= n; i++)); do
		read -r code t <"$dir/$i.out" 2>/dev/null || { code=0 t=0; }
		code=$((10#${code:-0}))
		jq -cn --argjson code "${code:-0}" --argjson t "${t:-0}" \
		    --arg refreshing "$(grep -i '^X-Token-Refreshing:' "$dir/$i.hdrs" 2>/dev/null |
			tr -d '\r' | sed 's/^[^:]*: *//')" \
		    --arg cache "$(grep -i '^Cache-Control:' "$dir/$i.hdrs" 2>/dev/null |
			tr -d '\r' | sed 's/^[^:]*: *//')" \
		    --arg retry "$(grep -i '^Retry-After:' "$dir/$i.hdrs" 2>/dev/null |
			tr -d '\r' | sed 's/^[^:]*: *//')" \
		    --slurpfile body <(cat "$dir/$i.body" 2>/dev/null || echo null) \
		    '{code: $code, time: $t, refreshing: $refreshing, cache: $cache,
		      retry: $retry, body: ($body[0] // null)}' 2>/dev/null ||
		    jq -cn --argjson code "${code:-0}" '{code: $code, body: null}'
	done | jq -s .
}

# fan_check NAME DIR N FILTER: FILTER (jq, on fan_json's array) is true.
fan_check() {
	local name=$1 dir=$2 n=$3 filter=$4 all
	all=$(fan_json "$dir" "$n")
	if jq -e "length == $n and ($filter)" <<<"$all" >/dev/null 2>&1; then
		pass "$name"
	else
		fail "$name" "jq '$filter' is not true of the $n answers:" \
		    "$(jq -c 'map({code, time, refreshing, retry,
			t: (.body.access_token // .body.type // null)})' <<<"$all" |
			head -c 1500)"
	fi
}

# probe TAG NAME: a short-lived credential acme/NAME (10 s tokens refreshed
# every 0.5-1 s: at 0.1 of their life minus jitter) hammered by 3 clients
# (keep-alive, 200 GETs per curl) for PROBE_SECONDS.  Checks that every
# access token is always answered with the same expiry (its own), and
# that no refresh is made twice: the scheduler's refresh at the deadline
# and a GET's request for it must end up as one token-endpoint request.
# A request that reaches the fake before the deadline (next=, whole
# seconds) that the previous refresh set is such a second refresh.
PROBE_SECONDS=${PROBE_SECONDS:-12}
probe() {
	local tag=$1 name=$2 urls=() i pids=() end split early
	mk "$name" '"lifetime":10' --refresh-at 0.1
	# Refreshed every second: under ASan the first token may be gone
	# before the first GET sees it; any of its tokens will do.
	if ! wait_until 10 token_of "$name"; then
		fail "$tag: setup: the first token of $name"
		return 1
	fi
	for ((i = 0; i < 200; i++)); do
		urls+=("$SERVE_URL$(tpath "$name")")
	done
	end=$(($(now_ms) + PROBE_SECONDS * 1000))
	for i in 1 2 3; do
		(
			while [ "$(now_ms)" -lt "$end" ]; do
				curl -s --max-time 20 -w '\n' -H "Authorization: Bearer $TOK" \
				    "${urls[@]}"
			done
		) >"$TMP/misc/probe-$name-$i.out" &
		pids+=($!)
	done
	wait "${pids[@]}"
	run ov cred rm acme "$name"
	nap 0.5
	# Token -> its expiries; those with more than one.
	split=$(cat "$TMP/misc/probe-$name-"*.out | awk -F'"' '
	    $2 == "access_token" && $10 == "expires_at" { n++; if (!seen[$4 " " $12]++) k[$4]++ }
	    END { for (t in k) if (k[t] > 1) printf "%s ", t; printf "(%d answers)", n }')
	expect_true "$tag: each access token is answered with one expiry, its own: $split" -- \
	    grep -q '^(' <<<"$split"
	# The fake's request times (ms) beside the deadlines serve logged.
	grep -a "refresh org=acme credential=$name outcome=" "$SERVE_LOG" |
	    sed 's/.* next=//' | while read -r t; do iso_to_s "$t"; done \
	    >"$TMP/misc/probe-$name.next"
	fake_requests "$name" | jq -r '.[].time_ms' >"$TMP/misc/probe-$name.times"
	early=$(paste "$TMP/misc/probe-$name.times" "$TMP/misc/probe-$name.next" |
	    awk 'NR > 1 && pn > 0 && $1 < pn * 1000 {
		printf "request %d came %d ms after the previous one, %d ms before its deadline; ",
		    NR, $1 - pt, pn * 1000 - $1 }
	    { pt = $1; pn = $2 }')
	expect_eq "$tag: no refresh made twice in $PROBE_SECONDS s ($(wc -l <"$TMP/misc/probe-$name.times") token requests)" \
	    "" "$early"
}

# --- (b1) the broker alone starts the refresh -----------------------------------
# The host budget (1 request per 600 s) is spent on the first token, so
# the scheduler does not refresh at the deadline by itself: only the
# broker's request (which bypasses the budget) can.  The first 20 GETs
# inside the window come together; one refresh must follow.
serve_start budget --host-rate 1/600 --timeout 8 || exit 1
mk r1 '"lifetime":40,"script":["ok"],"behaviour":"slow","delay_ms":3000' --refresh-at 0.1
expect_true "broker asks: the first token arrives" -- wait_until 15 token_is r1 at-r1-1
nra=$(iso_to_s "$(ov cred show acme r1 --json | jq -r .next_refresh_at)")
wait_s=$((nra - $(date +%s) + 2))
expect_true "broker asks: the refresh window opens within 10 s (in ${wait_s} s)" -- \
    test "$wait_s" -le 10
[ "$wait_s" -gt 0 ] && nap "$wait_s"
expect_eq "broker asks: the scheduler did not refresh by itself (budget spent)" 1 "$(nreq r1)"
api_fanout "$CAP/fan-b1" 20 GET "$(tpath r1)" "$TOK"
fan_check "broker asks: 20 concurrent GETs in the window: 200, current token, X-Token-Refreshing" \
    "$CAP/fan-b1" 20 \
    'all(.code == 200 and .body.access_token == "at-r1-1" and .refreshing == "true" and .time < 2)'
expect_true "broker asks: the refreshed token follows" -- wait_until 10 token_is r1 at-r1-2
nap 1
expect_eq "broker asks: exactly one refresh for the 20 GETs (2 requests in all)" 2 "$(nreq r1)"
run ov cred rm acme r1
serve_stop "$SERVE_PID" 20
expect_eq "broker asks: serve stops with exit 0" 0 "$SERVE_RC"

serve_start main --timeout 8 || exit 1

# --- (a) a valid token is served from memory ------------------------------------
mk c1 ''
expect_true "cache: the first token arrives (serve refreshes a new credential)" -- \
    wait_until 15 token_is c1 at-c1-1
get c1
expect_status "cache: GET token 200" 200
expect_body "cache: the answer's fields" \
    '.access_token == "at-c1-1" and (.token_type | ascii_downcase) == "bearer"
     and (.expires_at | sub("\\.[0-9]+Z$"; "Z") | fromdateiso8601) > now + 3500
     and (.expires_in | type) == "number" and .expires_in > 3500 and .expires_in <= 3600
     and .scope == "a b"'
expect_eq "cache: Cache-Control: no-store" no-store "$(api_header Cache-Control)"
expect_eq "cache: no X-Token-Refreshing before the refresh window" "" \
    "$(api_header X-Token-Refreshing)"
expect_true "cache: X-Request-Id on the answer" -- \
    grep -Eqi '^X-Request-Id: [0-9a-f]{16}' "$API_HDRS"
n0=$(nreq c1)
stats0=$(fake_stats | jq .requests)
# 100 sequential GETs on one connection, 20 concurrent ones, and more
# GETs after the 1 s recheck of the vault.
urls=()
for ((i = 0; i < 100; i++)); do
	urls+=(-o /dev/null "$SERVE_URL$(tpath c1)")
done
codes=$(curl -sS --max-time 60 -H "Authorization: Bearer $TOK" \
    -w '%{http_code}\n' "${urls[@]}" 2>&1 | sort | uniq -c |
    awk '{ printf "%s:%s ", $2, $1 }')
expect_eq "cache: 100 GETs on one connection all 200" "200:100 " "$codes"
api_fanout "$CAP/fan-a" 20 GET "$(tpath c1)" "$TOK"
fan_check "cache: 20 concurrent GETs: 200, the same token, no-store" "$CAP/fan-a" 20 \
    'all(.code == 200 and .body.access_token == "at-c1-1" and .cache == "no-store")'
nap 1.3
expect_true "cache: a GET after the vault recheck still serves at-c1-1" -- token_is c1 at-c1-1
expect_eq "cache: no token-endpoint request for 122 GETs (request log of c1)" \
    "$n0" "$(nreq c1)"
expect_eq "cache: no token-endpoint request at all (fake stats)" \
    "$stats0" "$(fake_stats | jq .requests)"

# --- (b2) inside the refresh window ------------------------------------------------
# A 40 s token to be refreshed at a fifth of its life (8 s, minus up to
# 2 s of jitter); every refresh after the first is slow (4 s), so the
# window stays open while the one refresh is in flight.  Here the
# scheduler starts the refresh at the deadline; GETs must not add one.
mk c2 '"lifetime":40,"script":["ok"],"behaviour":"slow","delay_ms":4000' --refresh-at 0.2
expect_true "window: the first token arrives" -- wait_until 15 token_is c2 at-c2-1
t0=$(now_ms)
seen=0
while [ $(($(now_ms) - t0)) -lt 25000 ]; do
	get c2
	if [ "$(api_header X-Token-Refreshing)" = true ]; then
		seen=1
		break
	fi
	sleep 0.2
done
waited=$(($(now_ms) - t0))
if [ "$seen" = 1 ]; then
	pass "window: X-Token-Refreshing: true appears (after ${waited} ms of polling)"
else
	fail "window: X-Token-Refreshing: true never appeared in 25 s" \
	    "$(ov cred show acme c2 --json 2>&1 | head -c 800)"
fi
expect_status "window: the answer inside the window is 200" 200
expect_body "window: ... with the current token" '.access_token == "at-c2-1" and .expires_in > 20'
expect_eq "window: ... and Cache-Control: no-store" no-store "$(api_header Cache-Control)"
api_fanout "$CAP/fan-b" 20 GET "$(tpath c2)" "$TOK"
fan_check "window: 20 concurrent GETs: 200, current token, X-Token-Refreshing: true, prompt" \
    "$CAP/fan-b" 20 \
    'all(.code == 200 and .body.access_token == "at-c2-1" and .refreshing == "true" and .time < 2)'
# (wait_until outside expect_true: API_* must be this shell's.)
if wait_until 15 token_is c2 at-c2-2; then
	pass "window: the refreshed token is served once the refresh is done"
else
	fail "window: the refreshed token is served once the refresh is done"
	_api_context
fi
# The first answer with the new token: its own expiry, out of the window.
if [ -z "$(api_header X-Token-Refreshing)" ] &&
    jq -e '.expires_in > 35' "$API_BODY" >/dev/null; then
	pass "window: the new token comes with its own expiry, without X-Token-Refreshing"
else
	fail "window: the new token comes with its own expiry, without X-Token-Refreshing" \
	    "X-Token-Refreshing: '$(api_header X-Token-Refreshing)'" \
	    "body: $(jq -c '.access_token = "..." + .access_token[-6:]' "$API_BODY")" \
	    "credential: $(ov cred show acme c2 --json | jq -c '{expires_at, next_refresh_at, last_success_at}')"
fi
nap 1.2
get c2
expect_eq "window: no X-Token-Refreshing a second later" "" "$(api_header X-Token-Refreshing)"
expect_body "window: ... at-c2-2 with its new expiry" '.access_token == "at-c2-2" and .expires_in > 35'
nap 1
expect_eq "window: exactly one refresh was requested (2 requests in all)" 2 "$(nreq c2)"
run ov cred rm acme c2

SERVE_LOG=$(serve_log main)
probe "deadline race" p1

# --- (c) no valid token yet: the GETs wait for the one refresh ------------------------
fake_put c3 "$(jq -cn --arg s "$SECRET" '{client_secret: $s, lifetime: 3600,
    behaviour: "slow", delay_ms: 2000}')"
run ov cred put acme c3 --provider genesys --token-url "$FAKE_URL/oauth/token" \
    --client-id c3 --secret-file "$S" --scope "a b"
expect_eq "wait: cred put c3" 0 "$RC"
api_fanout "$CAP/fan-c" 20 GET "$(tpath c3)" "$TOK"
fan_check "wait: 20 concurrent GETs without a token wait and get 200 with the new token" \
    "$CAP/fan-c" 20 'all(.code == 200 and .body.access_token == "at-c3-1" and .cache == "no-store")'
fan_check "wait: they waited for the slow (2 s) refresh, each under 5 s" "$CAP/fan-c" 20 \
    'all(.time < 5) and (map(.time) | max) >= 1'
nap 1
expect_eq "wait: one token-endpoint request for 20 waiting GETs" 1 "$(nreq c3)"

# --- (d) the provider hangs or keeps failing: 503 + Retry-After after ~5 s -------------------
mk c4 '"behaviour":"hang"'
api_fanout "$CAP/fan-d" 5 GET "$(tpath c4)" "$TOK"
fan_check "hang: GETs answer 503 with Retry-After" "$CAP/fan-d" 5 \
    'all(.code == 503 and .body.type == "https://orgvault.dev/problems/unavailable"
         and (.retry | test("^[0-9]+$")) and (.retry | tonumber) >= 1)'
fan_check "hang: ... after about 5 s (4-7.5 s)" "$CAP/fan-d" 5 'all(.time >= 4 and .time <= 7.5)'
get c4
expect_problem "hang: a later GET: 503 problem unavailable" 503 unavailable
expect_true "hang: ... with Retry-After" -- test -n "$(api_header Retry-After)"
expect_true "hang: one request in flight at a time (at most 2 started in ~11 s, timeout 8 s)" -- \
    test "$(nreq c4)" -le 2
# A credential removed while GETs wait for it.
api_fanout "$CAP/fan-d2" 3 GET "$(tpath c4)" "$TOK" &
fan_pid=$!
nap 1
expect_ok "hang: cred rm while GETs wait" -- ov cred rm acme c4
wait "$fan_pid"
fan_check "hang: GETs waiting on a removed credential answer 404 (or 503), within ~5 s" \
    "$CAP/fan-d2" 3 'all((.code == 404 or .code == 503) and .time <= 7.5)'
fake_patch c4 '{"behaviour":"ok"}'

mk c5 '"behaviour":"500"'
t0=$(now_ms)
get c5
ms=$(($(now_ms) - t0))
expect_problem "failing (500): GET answers 503 problem unavailable" 503 unavailable
expect_true "failing (500): ... with Retry-After" -- test -n "$(api_header Retry-After)"
expect_true "failing (500): ... within about 5 s (took ${ms} ms)" -- test "$ms" -le 6500
expect_true "failing (500): the detail does not copy the provider's body" -- \
    sh -c "! grep -qi 'internal server error\|<html' '$API_BODY'"
nap 2
get c5
expect_problem "failing (500): still 503 while the provider fails" 503 unavailable
fake_patch c5 '{"behaviour":"ok"}'
expect_true "failing (500): once the provider recovers a token is served" -- \
    wait_until 20 token_is c5 at-c5-1

# --- (e) invalid_grant: 409 credential-revoked --------------------------------------------------
secret_file "$TMP/rt-c6" rt-seed-c6
mk c6 '"refresh_token":"rt-seed-c6","behaviour":"invalid_grant"' \
    --grant refresh_token --refresh-token-file "$TMP/rt-c6"
get c6
expect_problem "revoked: GET token of an invalid_grant credential: 409 credential-revoked" \
    409 credential-revoked
expect_true "revoked: the detail names the revocation (revoked, invalid_grant)" -- \
    jq -e '(.detail | test("revoked")) and (.detail | test("invalid_grant"))' "$API_BODY"
expect_eq "revoked: no Cache-Control caching of the problem either (or no-store)" ok \
    "$(c=$(api_header Cache-Control); [ -z "$c" ] || [ "$c" = no-store ] && echo ok || echo "$c")"
n=$(nreq c6)
get c6
expect_problem "revoked: a second GET: 409 again" 409 credential-revoked
nap 1
expect_eq "revoked: no new token-endpoint request for a revoked credential" "$n" "$(nreq c6)"
expect_true "revoked: the CLI agrees (status revoked)" -- \
    test "$(ov cred show acme c6 --json | jq -r .status)" = revoked
fake_patch c6 '{"behaviour":"ok"}'
expect_ok "revoked: a new refresh token through the CLI" -- \
    ov cred put acme c6 --refresh-token-file "$TMP/rt-c6"
t0=$(now_ms)
wait_until 8 token_is c6 at-c6-1
ms=$(($(now_ms) - t0))
expect_status "revoked: after re-authorization the token GET answers 200" 200
expect_true "revoked: ... within ~2 s of the CLI change (took ${ms} ms)" -- test "$ms" -le 3000

# --- (f) CLI changes are seen within about a second ---------------------------------------------
expect_true "cli: c1 serves at-c1-1" -- token_is c1 at-c1-1
expect_ok "cli: cred refresh acme c1 (CLI, another process)" -- ov cred refresh acme c1
t0=$(now_ms)
wait_until 5 token_is c1 at-c1-2
ms=$(($(now_ms) - t0))
expect_true "cli: the broker serves the CLI's new token within ~1 s (took ${ms} ms)" -- \
    test "$ms" -le 2000
expect_true "cli: ... and the answer really is at-c1-2" -- token_is c1 at-c1-2

# A new client secret through the CLI: the credential is due at once.
secret_file "$TMP/secret2" broker-secret-2
fake_patch c1 '{"client_secret":"broker-secret-2"}'
n=$(nreq c1)
expect_ok "cli: cred put --secret-file (new secret)" -- \
    ov cred put acme c1 --secret-file "$TMP/secret2"
t0=$(now_ms)
wait_until 8 token_is c1 at-c1-3
ms=$(($(now_ms) - t0))
expect_true "cli: after a new secret the broker serves the token it brought (${ms} ms)" -- \
    test "$ms" -le 3000
expect_true "cli: ... at-c1-3, fetched with the new secret" -- \
    jq -e 'map(select(.status == 200)) | length == 3' <<<"$(fake_requests c1)"

expect_ok "cli: cred rm acme c1" -- ov cred rm acme c1
t0=$(now_ms)
wait_until 5 status_is c1 404
ms=$(($(now_ms) - t0))
expect_problem "cli: after cred rm the token GET answers 404 not-found" 404 not-found
expect_true "cli: ... within ~1 s (took ${ms} ms)" -- test "$ms" -le 2000

# Re-created under the same name: the broker does not serve the old token.
fake_put c1 "$(jq -cn --arg s "$SECRET" '{client_secret: $s, lifetime: 3600, reset: true}')"
run ov cred put acme c1 --provider genesys --token-url "$FAKE_URL/oauth/token" \
    --client-id c1 --secret-file "$S" --scope "a b"
expect_true "cli: a re-created c1 serves its own new token (at-c1-1 of the reset client)" -- \
    wait_until 10 token_is c1 at-c1-1

expect_clean_log "serve log: no crash or sanitizer report" "$(serve_log main)"
serve_stop "$SERVE_PID" 20
expect_eq "serve stops with exit 0 on SIGTERM" 0 "$SERVE_RC"

# --- (g) --token-cache off ---------------------------------------------------------------------
serve_start nocache --token-cache off --timeout 8 || exit 1
expect_true "no cache: c1 is served" -- wait_until 10 token_is c1 at-c1-1
get c1
expect_status "no cache: GET token 200" 200
expect_body "no cache: the answer's fields" \
    '.access_token == "at-c1-1" and .expires_in > 3000 and .scope == "a b"'
expect_eq "no cache: Cache-Control: no-store" no-store "$(api_header Cache-Control)"
n=$(nreq c1)
api_fanout "$CAP/fan-g" 20 GET "$(tpath c1)" "$TOK"
fan_check "no cache: 20 concurrent GETs: 200 and the same token" "$CAP/fan-g" 20 \
    'all(.code == 200 and .body.access_token == "at-c1-1")'
expect_eq "no cache: no token-endpoint request for them" "$n" "$(nreq c1)"
expect_ok "no cache: cred refresh (CLI)" -- ov cred refresh acme c1
expect_true "no cache: the next GET serves the CLI's token at once" -- token_is c1 at-c1-2
mk c7 '"behaviour":"slow","delay_ms":1500'
api_fanout "$CAP/fan-g2" 10 GET "$(tpath c7)" "$TOK"
fan_check "no cache: GETs without a token wait and get 200" "$CAP/fan-g2" 10 \
    'all(.code == 200 and .body.access_token == "at-c7-1" and .time < 5)'
nap 1
expect_eq "no cache: one token-endpoint request for the 10 waiting GETs" 1 "$(nreq c7)"
secret_file "$TMP/rt-c9" rt-seed-c9
mk c9 '"refresh_token":"rt-seed-c9","behaviour":"invalid_grant"' \
    --grant refresh_token --refresh-token-file "$TMP/rt-c9"
get c9
expect_problem "no cache: revoked credential: 409 credential-revoked" 409 credential-revoked
expect_ok "no cache: cred rm c7" -- ov cred rm acme c7
get c7
expect_problem "no cache: removed credential: 404 at once" 404 not-found

SERVE_LOG=$(serve_log nocache)
probe "no cache: deadline race" p2

# SIGTERM while GETs wait (suspended connections) and the provider hangs.
mk c8 '"behaviour":"hang"'
api_fanout "$CAP/fan-stop" 5 GET "$(tpath c8)" "$TOK" &
fan_pid=$!
nap 1
serve_stop "$SERVE_PID" 20
expect_eq "stop: serve exits 0 on SIGTERM while GETs wait" 0 "$SERVE_RC"
expect_true "stop: ... within 12 s (took ${SERVE_STOP_S} s)" -- \
    awk -v s="$SERVE_STOP_S" 'BEGIN { exit !(s <= 12) }'
wait "$fan_pid"
fan_check "stop: the waiting GETs get an answer (503) or a closed connection, not 200" \
    "$CAP/fan-stop" 5 'all(.code == 503 or .code == 0)'
expect_clean_log "serve (no cache) log: no crash or sanitizer report" "$(serve_log nocache)"

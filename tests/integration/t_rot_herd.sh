#!/usr/bin/env bash
# t_rot_herd.sh — a thundering herd: 200 credentials on one token host,
# all due at once, under `serve --host-concurrency 8 --host-rate 50/2`.
# Every one is refreshed exactly once, never more than 8 requests in
# flight, never more than 50 in any 2-second window, in deadline order
# (new credentials are due in id order: the import order).
#
# OV_HERD_N, OV_HERD_RATE (N/S), OV_HERD_CONC, OV_HERD_DELAY_MS and
# OV_HERD_TIMEOUT override the sizes (long/t_herd_full.sh uses them).
. "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
. "$(dirname "${BASH_SOURCE[0]}")/fake.sh"

N=${OV_HERD_N:-200}
RATE=${OV_HERD_RATE:-50/2}
CONC=${OV_HERD_CONC:-8}
DELAY=${OV_HERD_DELAY_MS:-200}
RATE_N=${RATE%/*}
RATE_S=${RATE#*/}
# Expected duration: N / RATE_N windows of RATE_S seconds.
LIMIT=${OV_HERD_TIMEOUT:-$(((N + RATE_N - 1) / RATE_N * RATE_S + 60))}
# Request times are taken at the fake when a request arrives, a little
# after serve counted it; a window is checked RATE_S s minus this slack.
SLACK_MS=100

fake_start
setup_vault
SECRET=herd-secret-1
: >"$TMP/import.jsonl"
fake_ok=1
for i in $(seq -f '%04g' 1 "$N"); do
	fake_put "h$i" "{\"client_secret\":\"$SECRET\",\"lifetime\":86400,\"behaviour\":\"slow\",\"delay_ms\":$DELAY}" ||
	    fake_ok=0
	jq -cn --arg i "$i" --arg s "$SECRET" --arg u "$FAKE_URL/oauth/token" \
	    '{org: "herd", name: ("h" + $i), provider: "genesys", token_url: $u,
	      client_id: ("h" + $i), client_secret: $s, scope: "a b"}' >>"$TMP/import.jsonl"
done
[ "$fake_ok" -eq 1 ] || exit 1
expect_ok "setup: import $N credentials (JSON lines)" -- ov import "$TMP/import.jsonl"
rm -f "$TMP/import.jsonl"
run ov cred list herd --json
expect_json "setup: $N credentials, none with a deadline yet (all due)" \
    'length == $n and all(.next_refresh_at == null)' --argjson n "$N"

t0=$(date +%s)
serve_start herd --host-concurrency "$CONC" --host-rate "$RATE" || exit 1
SPID=$SERVE_PID
all_done() {
	[ "$(fake_stats | jq '.by_status["200"] // 0')" -ge "$N" ]
}
if wait_until "$LIMIT" all_done; then
	pass "all $N credentials refreshed ($(($(date +%s) - t0)) s)"
else
	fail "all $N credentials refreshed within $LIMIT s" "stats: $(fake_stats)"
fi
nap 1
serve_stop "$SPID" 30
expect_eq "serve: SIGTERM exits 0" 0 "$SERVE_RC"
expect_clean_log "serve: no sanitizer report" "$(serve_log herd)"

stats=$(fake_stats)
expect_eq "exactly $N token requests (each credential once)" "$N" "$(jq .requests <<<"$stats")"
expect_eq "every request answered 200" "$N" "$(jq '.by_status["200"] // 0' <<<"$stats")"
mc=$(jq .max_concurrency <<<"$stats")
if [ "$mc" -le "$CONC" ]; then
	pass "at most $CONC requests in flight at the fake (max_concurrency $mc)"
else
	fail "at most $CONC requests in flight at the fake" "max_concurrency $mc"
fi
if [ "$mc" -ge 2 ]; then
	pass "requests did run in parallel (max_concurrency $mc >= 2)"
else
	fail "requests did run in parallel" "max_concurrency $mc"
fi

fake_requests >"$TMP/reqs.json"
expect_true "every client exactly once in the request log" -- \
    jq -e --argjson n "$N" 'map(.client_id) | (length == $n) and (unique | length == $n)' "$TMP/reqs.json"

# Sliding window: no RATE_N + 1 requests within RATE_S seconds.
read -r w wi < <(jq -r --argjson k "$RATE_N" '
    map(.time_ms) | sort as $t
    | [range(0; ($t | length) - $k) | [$t[. + $k] - $t[.], .]] | min // [999999999, 0]
    | "\(.[0]) \(.[1])"' "$TMP/reqs.json")
if [ "$w" -ge $((RATE_S * 1000 - SLACK_MS)) ]; then
	pass "no $RATE_S s window holds more than $RATE_N requests (tightest $((RATE_N + 1)) span: ${w} ms)"
else
	fail "no $RATE_S s window holds more than $RATE_N requests" \
	    "$((RATE_N + 1)) requests within ${w} ms (allowed slack ${SLACK_MS} ms)" \
	    "requests #$((wi + 1)) to #$((wi + RATE_N + 1)) in arrival order; first ones (ms from the first):" \
	    "$(jq -c 'map(.time_ms) | sort | (.[0]) as $a | map(. - $a) | .[:12]' "$TMP/reqs.json")"
fi
first=$(jq -r --argjson k "$RATE_N" 'sort_by(.seq) | .[:$k] | map(.client_id[1:] | tonumber) | max' \
    "$TMP/reqs.json")
if [ "$first" -le $((RATE_N + CONC)) ]; then
	pass "deadline order: the first $RATE_N requests are among the first $((RATE_N + CONC)) imported (max $first)"
else
	fail "deadline order: the first $RATE_N requests are among the first $((RATE_N + CONC)) imported" \
	    "highest import index among them: $first"
fi
late=$(jq -r --argjson c "$CONC" 'sort_by(.seq) | to_entries
    | map(select((.value.client_id[1:] | tonumber) > .key + 1 + $c)) | length' "$TMP/reqs.json")
expect_eq "deadline order: no request more than $CONC places ahead of its turn" 0 "$late"

run ov cred list herd --json
now=$(date +%s)
expect_json "all $N credentials active with a token that expires in the future" \
    'length == $n and all(.status == "active" and (.expires_at | fromdateiso8601) > $now)' \
    --argjson n "$N" --argjson now "$now"
expect_ok "check: the vault is whole" -- ov check

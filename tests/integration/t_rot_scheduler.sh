#!/usr/bin/env bash
# t_rot_scheduler.sh — `orgvault serve` keeps credentials fresh: JSON
# logs, event-driven pick-up of CLI changes (inotify), steady refreshes
# of short-lived tokens without a storm, Retry-After as a pause of the
# client that got it (its host's other clients go on: t_rot_pause.sh),
# full-jitter backoff, timeouts, revoked credentials left alone,
# and a clean SIGTERM.
#
# Times come from the fake server's request log (time_ms).  Only lower
# bounds on intervals are asserted, and upper bounds on counts; the few
# upper bounds on latency are generous (inotify vs a 1-minute idle wake).
. "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
. "$(dirname "${BASH_SOURCE[0]}")/fake.sh"

fake_start main
fake_start f2
F1=$FAKE_URL_main
F2=$FAKE_URL_f2
FAKE_URL=$F1
setup_vault
expect_ok "setup: org acme" -- ov org add acme
SECRET=sched-secret-1
S=$TMP/secret
secret_file "$S" "$SECRET"

# mk NAME LIFETIME [FAKE-FIELDS]: fake client NAME and credential
# acme/NAME on $FAKE_URL's /oauth/token.
mk() {
	local name=$1 life=$2 extra=${3:-}
	fake_put "$name" "$(jq -cn --arg s "$SECRET" --argjson l "$life" --argjson e "{$extra}" \
	    '{client_secret: $s, lifetime: $l} + $e')" || return 1
	run ov cred put acme "$name" --provider genesys --token-url "$FAKE_URL/oauth/token" \
	    --client-id "$name" --secret-file "$S"
	if [ "$RC" -ne 0 ]; then
		fail "setup: cred put acme/$name"
		context
		return 1
	fi
}

# Successful request times (ms) of one client, one per line.
ok_times() {
	fake_requests "$1" | jq -r '.[] | select(.status == 200) | .time_ms'
}
req_times() {
	fake_requests "$1" | jq -r '.[] | .time_ms'
}
has_requests() {	# has_requests CLIENT N [STATUS]
	local f='length'
	[ -n "${3:-}" ] && f="map(select(.status == $3)) | length"
	[ "$(fake_requests "$1" | jq "$f")" -ge "$2" ]
}
status_is() {
	[ "$(ov cred show acme "$1" --json | jq -r .status)" = "$2" ]
}
event_count() {		# event_count CRED KIND
	events_json --credential "$1" --kind "$2" | jq length
}
has_event() {
	[ "$(event_count "$1" "$2")" -ge 1 ]
}
# min_gap: the smallest difference between consecutive numbers on stdin.
min_gap() {
	awk 'NR > 1 { d = $1 - p; if (m == "" || d < m) m = d } { p = $1 } END { print (m == "" ? 999999 : m) }'
}

# A revoked credential before serve starts: it must never be tried.
mk rv 3600 '"behaviour":"invalid_grant"'
run ov cred refresh acme rv
expect_true "setup: rv is revoked" -- status_is rv revoked

# --- serve with a long-lived credential ----------------------------------------
mk long 3600
serve_start main --log-format json --timeout 2 --retry-after-cap 4 || exit 1
SPID=$SERVE_PID
LOG=$(serve_log main)
expect_true "serve refreshes a new credential at once" -- wait_until 20 has_requests long 1 200

# An idle serve sleeps: no busy loop (a spinning thread would burn
# about 5 s of CPU in 5 s).
cpu() {	# utime + stime of a pid, in clock ticks
	awk '{ print $14 + $15 }' "/proc/$1/stat"
}
c0=$(cpu "$SPID")
nap 5
c1=$(cpu "$SPID")
tck=$(getconf CLK_TCK)
if [ $((c1 - c0)) -lt "$tck" ]; then
	pass "idle serve does not spin (CPU $((c1 - c0)) ticks in 5 s)"
else
	fail "idle serve does not spin" "$((c1 - c0)) ticks of CPU in 5 s (CLK_TCK $tck)"
fi

# New credential while serve idles (its next wake is ~45 min away, the
# idle safety net 1 min): it must be picked up through inotify.
nap 1.5
mk new1 3600
t_put=$(now_ms)
wait_until 20 has_requests new1 1
first=$(fake_requests new1 | jq '.[0].time_ms // 0')
lat=$((first - t_put))
if [ "$first" -gt 0 ] && [ "$lat" -le 3000 ]; then
	pass "a credential added by cred put is refreshed within 3 s (${lat} ms)"
else
	fail "a credential added by cred put is refreshed within 3 s" "first request: $first, put done: $t_put"
fi

# A wrong secret put while serve runs: invalid_client.  Then the right
# one: the CLI change takes effect at once, not after the 300 s backoff.
fake_put bad1 '{"client_secret":"the-right-one","lifetime":3600}'
expect_ok "setup: cred put bad1 with a wrong secret" -- ov cred put acme bad1 --provider genesys \
    --token-url "$F1/oauth/token" --client-id bad1 --secret-file "$S"
expect_true "a wrong secret: serve sets invalid_client" -- wait_until 20 status_is bad1 invalid_client
secret_file "$TMP/right" the-right-one
expect_ok "put the right secret while serve runs" -- ov cred put acme bad1 --secret-file "$TMP/right"
t_put=$(now_ms)
if wait_until 10 has_requests bad1 1 200; then
	pass "the corrected secret is used within 10 s (not after the 300 s invalid_client backoff)"
else
	fail "the corrected secret is used within 10 s (not after the 300 s invalid_client backoff)" \
	    "requests: $(fake_requests bad1 | jq -c 'map([.time_ms, .status])')" \
	    "cred: $(ov cred show acme bad1 --json | jq -c '{status, next_refresh_at, last_error}')"
fi

# --- five 4-second credentials for ~15 s ------------------------------------------
for i in 1 2 3 4 5; do
	mk "c$i" 4
done
t_start=$(now_ms)
nap 8
# c5 gets a wrong secret half-way.
secret_file "$TMP/wrong" wrong-secret
expect_ok "change c5's secret to a wrong one while serve runs" -- \
    ov cred put acme c5 --secret-file "$TMP/wrong"
nap 7
now_s=$(date +%s)
run ov cred list acme --json
for i in 1 2 3 4; do
	expect_json "c$i: expires_at is in the future" \
	    'map(select(.name == $n))[0] | (.expires_at | fromdateiso8601) >= $now' \
	    --arg n "c$i" --argjson now "$now_s"
done
expect_true "c5 with the wrong secret becomes invalid_client" -- wait_until 15 status_is c5 invalid_client
for i in 1 2 3 4 5; do
	n=$(ok_times "c$i" | wc -l)
	if [ "$i" -lt 5 ]; then
		if [ "$n" -ge 3 ]; then
			pass "c$i: refreshed several times in ~15 s ($n)"
		else
			fail "c$i: refreshed several times in ~15 s" "successful requests: $n"
		fi
	fi
	if [ "$n" -le 9 ]; then
		pass "c$i: no refresh storm (at most 9 in ~15 s: $n)"
	else
		fail "c$i: no refresh storm (at most 9 in ~15 s)" "successful requests: $n"
	fi
	gap=$(ok_times "c$i" | min_gap)
	if [ "$gap" -ge 2000 ]; then
		pass "c$i: successive refreshes >= 2 s apart (min ${gap} ms)"
	else
		fail "c$i: successive refreshes >= 2 s apart" "min gap ${gap} ms" \
		    "$(fake_requests "c$i" | jq -c 'map([.time_ms, .status])')"
	fi
done

# --- Retry-After: a client's pause (second fake = another host) -----------------
FAKE_URL=$F2
mk ra 3600 '"script":["429","ok"],"retry_after":3'
expect_true "429: the first request came" -- wait_until 20 has_requests ra 1 429
t429=$(fake_requests ra | jq '.[0].time_ms')
mk other 3600
expect_true "429: the rate-limited credential is retried" -- wait_until 20 has_requests ra 2
expect_true "429: the other credential on that host is refreshed" -- wait_until 20 has_requests other 1
t2=$(fake_requests ra | jq '.[1].time_ms')
to=$(fake_requests other | jq '.[0].time_ms')
d=$((t2 - t429))
if [ "$d" -ge 2800 ]; then
	pass "429 with Retry-After: 3: the retry came >= 2.8 s later (${d} ms)"
else
	fail "429 with Retry-After: 3: the retry came >= 2.8 s later" "it came after ${d} ms"
fi
d=$((to - t429))
if [ "$d" -lt 2500 ]; then
	pass "429 pauses its client only: another client of that host did not wait (${d} ms)"
else
	fail "429 pauses its client only: another client of that host did not wait" "it came after ${d} ms"
fi
expect_true "429 then ok: ra is active" -- wait_until 10 status_is ra active
# --retry-after-cap 4: a Retry-After of 100 s is honoured for 4 s only.
mk rcap 3600 '"script":["429","ok"],"retry_after":100'
expect_true "429 with Retry-After 100 (cap 4): the first request came" -- wait_until 20 has_requests rcap 1 429
expect_true "429 with Retry-After 100 (cap 4): retried and ok within 30 s, not 100" -- \
    wait_until 30 has_requests rcap 1 200
run events_json --credential rcap --kind refresh.rate_limited
expect_json "--retry-after-cap 4: the event says retry_after_s 4" '.[0].detail.retry_after_s == 4'
d=$(fake_requests rcap | jq '.[1].time_ms - .[0].time_ms')
if [ "$d" -ge 3800 ]; then
	pass "--retry-after-cap 4: the retry waited >= 3.8 s (${d} ms)"
else
	fail "--retry-after-cap 4: the retry waited >= 3.8 s" "${d} ms"
fi
FAKE_URL=$F1
expect_true "the 429 on one host did not stop the other host (c1 still refreshed)" -- \
    wait_until 10 has_requests c1 "$(($(ok_times c1 | wc -l) + 1))" 200

# --- backoff after 500s -------------------------------------------------------------
mk b500 3600 '"behaviour":"500"'
expect_true "500: three attempts" -- wait_until 30 has_requests b500 3
expect_true "500: failing after 3 consecutive failures" -- wait_until 10 status_is b500 failing
mapfile -t bt < <(req_times b500)
d=$((bt[2] - bt[0]))
if [ "$d" -ge 1000 ]; then
	pass "500: the 3rd attempt is >= 1 s after the 1st (${d} ms)"
else
	fail "500: the 3rd attempt is >= 1 s after the 1st" "${d} ms: ${bt[*]}"
fi
nap 4
n=$(req_times b500 | wc -l)
span=$(($(now_ms) - bt[0]))
# Deadlines are whole seconds: any two successive gaps add up to > 1 s.
if [ "$n" -le $((2 * span / 1000 + 2)) ]; then
	pass "500: backoff, not a retry storm ($n attempts in ${span} ms)"
else
	fail "500: backoff, not a retry storm" "$n attempts in ${span} ms: $(req_times b500 | tr '\n' ' ')"
fi

# --- a hanging token endpoint with --timeout 2 ----------------------------------------
mk hang 3600 '"behaviour":"hang"'
expect_true "hang: a refresh.failed event" -- wait_until 30 has_event hang refresh.failed
run events_json --credential hang --kind refresh.failed
expect_json "hang: the event says the request timed out" \
    '.[-1].detail.description | test("[Tt]imeout|timed out")'
expect_json "hang: after at least the 2 s timeout" '.[-1].detail.duration_ms >= 1900'
expect_true "hang: last_error starts with timeout" -- \
    jq -e '.last_error | startswith("timeout")' <<<"$(ov cred show acme hang --json)"
expect_true "hang: serve's log has error=timeout" -- grep -q 'credential=hang .*error=timeout' "$LOG"

# --- the revoked credential, and the log ---------------------------------------------
expect_eq "revoked credential: never tried by serve (still 1 request)" 1 \
    "$(fake_requests rv | jq length)"
expect_true "revoked credential: still revoked" -- status_is rv revoked

# --- SIGTERM ----------------------------------------------------------------------------
serve_stop "$SPID" 30
expect_eq "SIGTERM: serve exits 0" 0 "$SERVE_RC"
if [ "$SERVE_RC" != timeout ] && awk -v s="$SERVE_STOP_S" 'BEGIN { exit !(s <= 12) }'; then
	pass "SIGTERM: serve exits within 12 s (${SERVE_STOP_S} s; grace 10 s)"
else
	fail "SIGTERM: serve exits within 12 s" "took ${SERVE_STOP_S} s"
fi
expect_clean_log "serve log: no sanitizer report" "$LOG"
bad=$(grep -vc '^{' "$LOG")
expect_eq "--log-format json: every log line is a JSON object" 0 "$bad"
expect_true "--log-format json: lines parse, with time, level and msg" -- \
    jq -se 'length > 5 and all(type == "object" and (.time | type) == "string"
        and (.level | IN("error", "warn", "info", "debug")) and (.msg | type) == "string")' "$LOG"
expect_true "--log-format json: refresh lines are logged" -- \
    jq -se 'map(select(.msg | startswith("refresh org=acme credential=c1 outcome=ok"))) | length >= 3' "$LOG"
expect_true "--log-format json: the stop is logged" -- \
    jq -se 'map(.msg) | index("stopped") != null' "$LOG"
expect_ok "check: the vault is whole" -- ov check

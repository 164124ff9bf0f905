#!/usr/bin/env bash
# t_clock.sh — serve's wall clock jumps an hour forward, back, and an hour
# behind real time (libfaketime, changed while serve runs; boot time and
# the fake provider keep real time).  Each jump is seen, stored deadlines
# and expiries move with it once (a clock.jumped event), nothing is
# refreshed because of it (no storm), and the token broker keeps serving
# tokens with their real remaining life.
. "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
. "$(dirname "${BASH_SOURCE[0]}")/fake.sh"
. "$(dirname "${BASH_SOURCE[0]}")/api.sh"

FT_LIB=$(ls /usr/lib/*/faketime/libfaketime.so.1 2>/dev/null | head -n 1)
if [ -z "$FT_LIB" ]; then
	fail "setup: libfaketime (Debian package faketime) is needed; make deps-test installs it"
	exit 1
fi
# libfaketime and ASan's runtime do not mix: preloaded after libasan,
# serve hung (make asan timed out after 900 s); preloaded alone, ASan
# refuses to start.  So under make asan this test says so and stops; it
# runs in make test.
if ldd "$ORGVAULT" 2>/dev/null | grep -q libasan; then
	pass "skipped under ASan: libfaketime cannot be preloaded into an ASan binary (runs in make test)"
	exit 0
fi
N=20
FT=$TMP/faketime
echo "+0" >"$FT"

fake_start
fake_put cj '{"client_secret":"clock-secret","lifetime":3600}' || exit 1
setup_vault
secret_file "$TMP/s" clock-secret
awk -v n="$N" -v url="$FAKE_URL/token" 'BEGIN {
	for (i = 1; i <= n; i++)
		printf "{\"org\":\"acme\",\"name\":\"c%d\",\"provider\":\"oauth2\",\"token_url\":\"%s\",\"client_id\":\"cj\",\"client_secret\":\"clock-secret\"}\n", i, url
}' >"$TMP/misc/import.jsonl"
expect_ok "setup: import $N credentials (1 h tokens)" -- ov import "$TMP/misc/import.jsonl"
TOK=$(api_key tok token)
# serve_faked NAME: serve_start NAME with its wall clock read from $FT.
serve_faked() {
	local rc
	export LD_PRELOAD=$FT_LIB FAKETIME_TIMESTAMP_FILE=$FT FAKETIME_NO_CACHE=1 \
	    FAKETIME_DONT_FAKE_MONOTONIC=1
	serve_start "$1"
	rc=$?
	unset LD_PRELOAD FAKETIME_TIMESTAMP_FILE FAKETIME_NO_CACHE FAKETIME_DONT_FAKE_MONOTONIC
	return $rc
}
serve_faked main || exit 1
nreq() { fake_requests cj | jq length; }
# set_clock OFFSET: atomically (a reader must never see the file empty).
set_clock() {
	echo "$1" >"$FT.new" && mv "$FT.new" "$FT"
}
have_all() { [ "$(nreq)" -ge "$N" ]; }
expect_true "setup: every credential has its token" -- wait_until 30 have_all
nap 2
base=$(nreq)
njumps() { events_json --kind clock.jumped | jq length; }

# jump WHEN OFFSET WANT-DELTA: sets serve's clock to real time + OFFSET
# and checks what follows.
jump() {
	local tag=$1 off=$2 want=$3 before k
	before=$(njumps)
	set_clock "$off"
	# A CLI write wakes serve's scheduler (inotify); it checks the clock.
	ov org add "wake-$RANDOM" >/dev/null 2>&1
	k() { [ "$(njumps)" -gt "$before" ]; }
	expect_true "$tag: serve saw the jump (a clock.jumped event)" -- wait_until 70 k
	run events_json --kind clock.jumped
	expect_json "$tag: ... of about $want s, once" \
	    ".[0].detail.delta_s >= $want - 2 and .[0].detail.delta_s <= $want + 2 and
	     length == $((before + 1))"
	expect_true "$tag: serve logged it" -- grep -aq 'wall clock jumped' "$(serve_log main)"
	nap 3
	expect_eq "$tag: nothing was refreshed because of it" "$base" "$(nreq)"
	api GET /v1/orgs/acme/credentials/c1/token "$TOK"
	expect_status "$tag: the broker serves the token" 200
	expect_body "$tag: ... with its real remaining life (expires_in 3000-3600)" \
	    '.expires_in > 3000 and .expires_in <= 3600'
}
jump "forward 1 h" +3600 3600
jump "back to real time" +0 -3600
jump "1 h behind real time" -3600 -3600

expect_eq "no refresh at all in the jumps ($base requests)" "$base" "$(nreq)"
run ov cred show acme c1 --json
expect_json "the stored deadline is 45 min ahead in serve's time (an hour behind)" \
    "(.next_refresh_at | fromdateiso8601) - (now - 3600) > 2400 and
     (.next_refresh_at | fromdateiso8601) - (now - 3600) < 2800"
serve_stop "$SERVE_PID" 20
expect_eq "serve stops with exit 0" 0 "$SERVE_RC"
expect_clean_log "no crash or sanitizer report" "$(serve_log main)"
expect_ok "check" -- ov check
expect_ok "audit verify" -- ov audit verify
# A restart after a jump made while no serve ran: seen at start.
set_clock +600
before=$(njumps)
serve_faked restart || exit 1
k2() { [ "$(njumps)" -gt "$before" ]; }
expect_true "restart: a jump made while serve was stopped is seen at start" -- wait_until 10 k2
serve_stop "$SERVE_PID" 20
expect_eq "restart: serve stops with exit 0" 0 "$SERVE_RC"

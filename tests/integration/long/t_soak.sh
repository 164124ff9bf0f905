#!/usr/bin/env bash
# long/t_soak.sh — soak: SOAK_CREDS (1 000) credentials with 10-second
# tokens refreshed at 75 % of their life (~130 refreshes/s), the token
# broker under wrk at about half of the rate it reaches flat out
# (measured here first, 5 s), admin reads (credential lists, health,
# metrics, audit events) every half second, for SOAK_SECONDS (120 in
# make test-long; 1800 for the full 30-minute soak).  Serve's resident
# memory and open descriptors are sampled at start, middle and end and
# must stay flat; there must be no error: every token GET 200, every
# admin read 200, every refresh ok.
#
#   SOAK_SECONDS=1800 ORGVAULT=... FAKE_OAUTH=... \
#       bash tests/integration/run.sh tests/integration/long/t_soak.sh
. "$(dirname "${BASH_SOURCE[0]}")/../lib.sh"
. "$(dirname "${BASH_SOURCE[0]}")/../fake.sh"
. "$(dirname "${BASH_SOURCE[0]}")/../api.sh"

SECS=${SOAK_SECONDS:-120}
N=${SOAK_CREDS:-1000}
if ! command -v wrk >/dev/null 2>&1; then
	sh "$(dirname "${BASH_SOURCE[0]}")/../../../tools/deps.sh" wrk >/dev/null 2>&1
fi
if ! command -v wrk >/dev/null 2>&1; then
	fail "setup: wrk is needed (apt-get install -y wrk)"
	exit 1
fi

fake_start
fake_put soak '{"client_secret":"soak-secret","lifetime":10}' || exit 1
setup_vault
awk -v n="$N" -v url="$FAKE_URL/token" 'BEGIN {
	for (i = 1; i <= n; i++)
		printf "{\"org\":\"o%d\",\"name\":\"c%d\",\"provider\":\"oauth2\",\"token_url\":\"%s\",\"client_id\":\"soak\",\"client_secret\":\"soak-secret\"}\n", i % 100, i, url
}' >"$TMP/misc/import.jsonl"
expect_ok "setup: import $N credentials (10 s tokens)" -- ov import "$TMP/misc/import.jsonl"
TOK=$(api_key tok token)
RTOK=$(api_key dash reader)
serve_start soak --host-concurrency 64 --host-rate 1000000/1 || exit 1
have_all() { [ "$(fake_stats | jq .requests)" -ge "$N" ]; }
expect_true "setup: all $N credentials have a token" -- wait_until 60 have_all

# wrk: one token URL per connection round-robin over 100 credentials.
cat >"$TMP/misc/soak.lua" <<LUA
local n = 0
local key = io.open("$TMP/misc/key"):read("*l")
wrk.headers["Authorization"] = "Bearer " .. key
request = function()
	n = n + 1
	local i = (n % 100) + 1
	return wrk.format("GET", "/v1/orgs/o" .. (i % 100) .. "/credentials/c" .. i .. "/token")
end
local pause = tonumber(os.getenv("SOAK_DELAY_MS") or "0")
if pause > 0 then
	delay = function() return pause end
end
LUA
(umask 077; printf '%s\n' "$TOK" >"$TMP/misc/key")
# wrk_run SECONDS CONNS DELAY OUT
wrk_run() {
	SOAK_DELAY_MS=$3 wrk -t2 -c"$2" -d"$1s" -s "$TMP/misc/soak.lua" "$SERVE_URL" >"$4" 2>&1
}
wrk_run 5 32 0 "$TMP/misc/wrk-max.out"
max=$(awk '/^Requests\/sec:/ { print int($2) }' "$TMP/misc/wrk-max.out")
expect_true "setup: the broker's flat-out rate measured (${max:-0} requests/s)" -- test "${max:-0}" -gt 0
# Half of it: 32 connections, each pausing so that 32 * 1000 / pause ~ max / 2.
delay=$(awk -v m="$max" 'BEGIN { d = 32 * 1000 / (m / 2); printf "%d", d < 1 ? 1 : d + 0.5 }')

sample() {	# sample TAG: "TAG rss_kib fds"
	echo "$1 $(awk '/^VmRSS:/ { print $2 }' /proc/"$SERVE_PID"/status) $(ls /proc/"$SERVE_PID"/fd | wc -l)"
}
# Admin reads all along; each status to a file.
: >"$TMP/misc/admin.codes"
(
	while [ ! -e "$TMP/misc/stop" ]; do
		for p in "/v1/credentials?org=o7" /v1/health /metrics "/v1/audit/events?limit=50" \
		    /v1/orgs/o3/credentials/c3; do
			curl -s -o /dev/null -w '%{http_code}\n' --max-time 10 \
			    -H "Authorization: Bearer $RTOK" "$SERVE_URL$p"
		done
		sleep 0.5
	done >>"$TMP/misc/admin.codes"
) &
bg_track $!
req0=$(fake_stats | jq .requests)
t0=$(date +%s)
wrk_run "$SECS" 32 "$delay" "$TMP/misc/wrk-soak.out" &
wrk_pid=$!
bg_track "$wrk_pid"
nap 10
sample start >"$TMP/misc/samples"
nap $((SECS / 2 - 10))
sample middle >>"$TMP/misc/samples"
wait "$wrk_pid"
sample end >>"$TMP/misc/samples"
touch "$TMP/misc/stop"
elapsed=$(($(date +%s) - t0))
refreshes=$(($(fake_stats | jq .requests) - req0))
rps=$(awk '/^Requests\/sec:/ { print int($2) }' "$TMP/misc/wrk-soak.out")
total=$(awk '/requests in/ { print $1 }' "$TMP/misc/wrk-soak.out")
echo "# soak: ${SECS} s, $N credentials, $refreshes refreshes ($((refreshes / elapsed))/s);" \
    "broker ${rps:-0} requests/s of a measured maximum of $max (pause ${delay} ms per request," \
    "32 connections), ${total:-0} token requests; $(wc -l <"$TMP/misc/admin.codes") admin reads"
while read -r tag rss fds; do
	echo "# soak: $tag: resident ${rss} KiB, ${fds} descriptors"
done <"$TMP/misc/samples"
expect_eq "no token GET failed (non-2xx and socket errors)" "" \
    "$(grep -E 'Non-2xx|Socket errors' "$TMP/misc/wrk-soak.out")"
expect_true "the broker ran at about half its maximum ($rps of $max requests/s)" -- \
    awk -v r="${rps:-0}" -v m="$max" 'BEGIN { exit !(r >= m * 0.2 && r <= m * 0.8) }'
expect_eq "every admin read answered 200" "" "$(grep -v '^200$' "$TMP/misc/admin.codes" | sort | uniq -c)"
expect_true "about 100 refreshes per second or more ($((refreshes / elapsed))/s)" -- \
    test $((refreshes / elapsed)) -ge 80
bad=$(grep -a 'refresh org=' "$(serve_log soak)" | grep -vc 'outcome=ok')
expect_eq "every refresh ok" 0 "$bad"
read -r _ rss0 fd0 < <(sed -n 1p "$TMP/misc/samples")
read -r _ rss2 fd2 < <(sed -n 3p "$TMP/misc/samples")
expect_true "resident memory flat: end ${rss2} KiB <= start ${rss0} KiB + 10 % + 8 MiB" -- \
    test "$rss2" -le $((rss0 + rss0 / 10 + 8192))
expect_true "descriptors flat: end $fd2, start $fd0 (+/- 8)" -- \
    test "$fd2" -le $((fd0 + 8))
serve_stop "$SERVE_PID" 30
expect_eq "serve stops with exit 0" 0 "$SERVE_RC"
expect_clean_log "no crash or sanitizer report" "$(serve_log soak)"
expect_ok "check" -- ov check

#!/bin/bash
# make bench: refresh throughput and the idle scheduler, measured against
# baselines run in the same script.  Prints figures; asserts nothing.
#
#   1. N credentials due at once, budget unlimited: orgvault serve's
#      refreshes/s, and the ratio to curl_baseline (a bare libcurl-multi
#      loop POSTing the same requests to the same fake server).
#   2. M credentials, none due: serve's CPU time per minute idle and its
#      resident memory.
set -u
# The fake listens on loopback, which the outbound policy refuses unless
# allowed.
export ORGVAULT_ENDPOINT_ALLOW=127.0.0.0/8
OV=${ORGVAULT:?}; FAKE=${FAKE_OAUTH:?}; BASE=${CURL_BASELINE:?}
N=${BENCH_N:-10000}; M=${BENCH_IDLE_N:-100000}; IDLE_S=${BENCH_IDLE_S:-60}
CONC=${BENCH_CONCURRENCY:-64}
tmp=$(mktemp -d); pids=()
cleanup() { for p in "${pids[@]}"; do kill "$p" 2>/dev/null; wait "$p" 2>/dev/null; done; rm -rf "$tmp"; }
trap cleanup EXIT

"$FAKE" --port 0 --port-file "$tmp/port" & pids+=($!)
for _ in $(seq 50); do [ -s "$tmp/port" ] && break; sleep 0.1; done
port=$(cat "$tmp/port"); url="http://127.0.0.1:$port"
curl -sf -X PUT "$url/_admin/clients/bench" -d '{"client_secret":"bench-secret","lifetime":86400}' >/dev/null

now() { date +%s.%N; }
gen() {	# $1 count, $2 org prefix
	awk -v n="$1" -v p="$2" -v u="$url/oauth/token" 'BEGIN { for (i = 0; i < n; i++)
	    printf "{\"org\":\"%s%d\",\"name\":\"c\",\"provider\":\"genesys\",\"token_url\":\"%s\",\"client_id\":\"bench\",\"client_secret\":\"bench-secret\"}\n", p, i, u }'
}

echo "== refresh throughput: $N credentials due at once, $CONC in flight"
d="$tmp/v1"; "$OV" --data-dir "$d" init >/dev/null
gen "$N" o | "$OV" --data-dir "$d" import - >/dev/null
# The baseline mostly measures the fake server and varies a lot from run
# to run: take the median of three, and show the range.
bases=()
for _ in 1 2 3; do
	bases+=("$("$BASE" "$url/oauth/token" bench bench-secret "$N" "$CONC")")
done
sorted=$(printf '%s\n' "${bases[@]}" | sort -n)
base=$(echo "$sorted" | sed -n 2p)
seq0=$(curl -sf "$url/_admin/stats" | jq .next_seq)
before=$(curl -sf "$url/_admin/stats" | jq .requests)
t0=$(now)
"$OV" --data-dir "$d" serve --listen none --host-concurrency "$CONC" --host-rate 1000000/1 2>"$tmp/serve.log" & sp=$!; pids+=($sp)
while :; do
	kill -0 "$sp" 2>/dev/null || { echo "serve died:"; cat "$tmp/serve.log"; exit 1; }
	n=$(sqlite3 "$d/orgvault.db" "select count(*) from tokens" 2>/dev/null || echo 0)
	[ "$n" -ge "$N" ] && break
	sleep 0.2
done
t1=$(now)
kill "$sp"; wait "$sp"
after=$(curl -sf "$url/_admin/stats" | jq .requests)
rate=$(echo "$N / ($t1 - $t0)" | bc -l)
# From the first to the last request the server saw: no start-up, no
# polling slack.
span=$(curl -sf "$url/_admin/requests?since=$seq0" | jq '(map(.time_ms) | max) - (map(.time_ms) | min)')
wire=$(echo "$N / ($span / 1000)" | bc -l)
printf 'curl-multi baseline:  %8.1f requests/s (median of 3: %s)\n' "$base" "$(echo $sorted | tr '\n' ' ')"
printf 'orgvault serve:       %8.1f refreshes/s first-to-last request (%d requests in %d ms)\n' "$wire" $((after - before)) "$span"
printf '                      %8.1f refreshes/s wall clock incl. start-up (%.1f s)\n' "$rate" "$(echo "$t1 - $t0" | bc -l)"
printf 'ratio orgvault/base:  %8.2f (first-to-last / median baseline)\n' "$(echo "$wire / $base" | bc -l)"

echo "== idle scheduler: $M credentials, none due, ${IDLE_S} s"
d="$tmp/v2"; "$OV" --data-dir "$d" init >/dev/null
gen "$M" i | "$OV" --data-dir "$d" import - >/dev/null
sqlite3 "$d/orgvault.db" "update credentials set next_refresh_at = strftime('%s','now') + 86400"
"$OV" --data-dir "$d" serve --listen none 2>"$tmp/idle.log" & sp=$!; pids+=($sp)
sleep 2
tick=$(getconf CLK_TCK)
cpu() { awk '{ print $14 + $15 }' "/proc/$sp/stat"; }
c0=$(cpu); sleep "$IDLE_S"; c1=$(cpu)
rss=$(awk '/VmRSS/ { print $2 }' "/proc/$sp/status")
kill "$sp"; wait "$sp"
printf 'idle CPU:             %8.3f s per minute\n' "$(echo "($c1 - $c0) / $tick * 60 / $IDLE_S" | bc -l)"
printf 'resident memory:      %8d KiB\n' "$rss"

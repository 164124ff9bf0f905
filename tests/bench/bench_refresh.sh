#!/bin/bash
# make bench: refresh throughput and the idle scheduler, measured against
# baselines run in the same script.  Prints figures; asserts nothing.
#
#   1. N credentials due at once, budget unlimited: orgvault serve's
#      refreshes/s, and the ratio to curl_baseline (a bare libcurl-multi
#      loop POSTing the same requests to the same fake server).
#   2. M credentials, none due: serve's CPU time per minute idle and its
#      resident memory.
# BENCH_DB=pg runs both on PostgreSQL (a throwaway cluster over a Unix
# socket: engine.sh).
set -u
# The fake listens on loopback, which the outbound policy refuses unless
# allowed.
export ORGVAULT_ENDPOINT_ALLOW=127.0.0.0/8
OV=${ORGVAULT:?}; FAKE=${FAKE_OAUTH:?}; BASE=${CURL_BASELINE:?}
N=${BENCH_N:-10000}; M=${BENCH_IDLE_N:-100000}; IDLE_S=${BENCH_IDLE_S:-60}
CONC=${BENCH_CONCURRENCY:-64}
tmp=$(mktemp -d); pids=()
. "$(dirname "$0")/engine.sh"
cleanup() { for p in "${pids[@]}"; do kill "$p" 2>/dev/null; wait "$p" 2>/dev/null; done; engine_stop; rm -rf "$tmp"; }
trap cleanup EXIT
engine_start

"$FAKE" --port 0 --port-file "$tmp/port" & pids+=($!)
for _ in $(seq 50); do [ -s "$tmp/port" ] && break; sleep 0.1; done
port=$(cat "$tmp/port"); url="http://127.0.0.1:$port"
curl -sf -X PUT "$url/_admin/clients/bench" -d '{"client_secret":"bench-secret","lifetime":86400}' >/dev/null

now() { date +%s.%N; }
gen() {	# $1 count, $2 org prefix
	awk -v n="$1" -v p="$2" -v u="$url/oauth/token" 'BEGIN { for (i = 0; i < n; i++)
	    printf "{\"org\":\"%s%d\",\"name\":\"c\",\"provider\":\"genesys\",\"token_url\":\"%s\",\"client_id\":\"bench\",\"client_secret\":\"bench-secret\"}\n", p, i, u }'
}

echo "== refresh throughput ($ENGINE): $N credentials due at once, $CONC in flight"
d="$tmp/v1"; gen "$N" o | engine_load "$d" || { echo "cannot make the vault"; exit 1; }
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
db_args "$d"; "$OV" --data-dir "$d" "${DB_ARGS[@]}" serve --listen none --host-concurrency "$CONC" --host-rate 1000000/1 2>"$tmp/serve.log" & sp=$!; pids+=($sp)
while :; do
	kill -0 "$sp" 2>/dev/null || { echo "serve died:"; cat "$tmp/serve.log"; exit 1; }
	n=$(engine_sql "$d" "select count(*) from tokens" 2>/dev/null || echo 0)
	n=${n:-0}
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
record "refresh: curl-multi baseline, req/s" "$(printf '%.0f' "$base")"
record "refresh: serve, refreshes/s (first to last request)" "$(printf '%.0f' "$wire")"
record "refresh: serve / baseline" "$(printf '%.2f' "$(echo "$wire / $base" | bc -l)")"

echo "== idle scheduler ($ENGINE): $M credentials, none due, ${IDLE_S} s"
d="$tmp/v2"; gen "$M" i | engine_load "$d" || { echo "cannot make the vault"; exit 1; }
engine_sql "$d" "update credentials set next_refresh_at = $(date +%s) + 86400" >/dev/null
db_args "$d"; "$OV" --data-dir "$d" "${DB_ARGS[@]}" serve --listen none 2>"$tmp/idle.log" & sp=$!; pids+=($sp)
sleep 2
tick=$(getconf CLK_TCK)
cpu() { awk '{ print $14 + $15 }' "/proc/$sp/stat"; }
c0=$(cpu); s0=$(engine_server_ticks); sleep "$IDLE_S"; c1=$(cpu); s1=$(engine_server_ticks)
rss=$(awk '/VmRSS/ { print $2 }' "/proc/$sp/status")
kill "$sp"; wait "$sp"
idle=$(printf '%.3f' "$(echo "($c1 - $c0) / $tick * 60 / $IDLE_S" | bc -l)")
printf 'idle CPU:             %8s s per minute\n' "$idle"
printf 'resident memory:      %8d KiB\n' "$rss"
record "idle $M: CPU s per minute" "$idle"
if [ "$ENGINE" = pg ]; then
	sidle=$(printf '%.3f' "$(echo "($s1 - $s0) / $tick * 60 / $IDLE_S" | bc -l)")
	printf 'PostgreSQL server CPU: %7s s per minute (its processes, beside serve'"'"'s)\n' "$sidle"
	record "idle $M: PostgreSQL server CPU s per minute" "$sidle"
fi
record "idle $M: resident KiB" "$rss"

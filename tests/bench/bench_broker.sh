#!/bin/bash
# make bench, part 2: the token broker, measured against baselines run in
# the same script.  Prints figures; asserts nothing.
#
#   GET /v1/orgs/ORG/credentials/NAME/token with keep-alive, `wrk -t2 -c64
#   -d${BENCH_SECONDS}s --latency`, one API key (role token), against
#     (a) bare-mhd (tests/bench/bare_mhd.c): libmicrohttpd configured as
#         serve --listen is, answering a fixed JSON body of the size of
#         the broker's answer, without routing, auth or lookup; run once
#         before and once after the others, the ratios use the mean;
#     (b) orgvault serve --listen: the token from the in-memory cache;
#     (c) orgvault serve --listen --token-cache off: the token decrypted
#         from SQLite on every request.
#   Ratios (b)/(a) (aim >= 0.8) and (b)/(c): what the in-memory path earns.
#
# The API key and the access token are never printed, and are in no
# process's argv or environment: they live in files of a 0700 temp dir
# (wrk's Lua script, curl's -H @file) removed on exit.  Everything listens
# on 127.0.0.1 only.  Every process started here is stopped on exit.
#
# BENCH_SECONDS (default 10) sets wrk's duration; 3 is enough to smoke-test.
# BENCH_DB=pg keeps the vault on PostgreSQL (engine.sh).
set -u
# The fake listens on loopback, which the outbound policy refuses unless
# allowed.
export ORGVAULT_ENDPOINT_ALLOW=127.0.0.0/8
OV=${ORGVAULT:?}; FAKE=${FAKE_OAUTH:?}; BARE=${BARE_MHD:?}
SECS=${BENCH_SECONDS:-10}; THREADS=2; CONNS=64
here=$(cd "$(dirname "$0")" && pwd)

if ! command -v wrk >/dev/null 2>&1; then
	if [ "$(id -u)" = 0 ]; then
		sh "$here/../../tools/deps.sh" wrk || exit 2
	else
		echo "bench_broker: wrk is missing; install it with: sudo apt-get install -y wrk" >&2
		exit 2
	fi
fi

tmp=$(umask 077 && mktemp -d); pids=()
forget() {	# $1 pid, reaped: never signalled again
	local p keep=()
	for p in "${pids[@]}"; do [ "$p" = "$1" ] || keep+=("$p"); done
	pids=("${keep[@]}")
}
stop() { kill "$1" 2>/dev/null; wait "$1" 2>/dev/null; forget "$1"; }
. "$here/engine.sh"
cleanup() { for p in "${pids[@]}"; do kill "$p" 2>/dev/null; wait "$p" 2>/dev/null; done; engine_stop; rm -rf "$tmp"; }
trap cleanup EXIT
trap 'exit 130' INT TERM
engine_start

# wait_file FILE PID: until FILE is non-empty; 1 if PID died or 10 s passed.
wait_file() {
	for _ in $(seq 100); do
		[ -s "$1" ] && return 0
		kill -0 "$2" 2>/dev/null || return 1
		sleep 0.1
	done
	return 1
}

# bench_run LABEL URL [NOTE]: one wrk run; prints one line of figures and
# sets RPS (0 if wrk reported none).
bench_run() {
	local out=$tmp/wrk.out p50 p99 non2xx errs wp rc
	RPS=0
	# In the background: `wait` lets a signal's trap run at once.
	wrk -t"$THREADS" -c"$CONNS" -d"${SECS}s" --latency \
	    -s "$tmp/auth.lua" "$2" >"$out" 2>&1 & wp=$!; pids+=("$wp")
	wait "$wp"; rc=$?; forget "$wp"
	if [ "$rc" != 0 ]; then
		printf '%-22s wrk failed: %s\n' "$1:" "$(head -c 300 "$out")"
		return
	fi
	# wrk prints latencies with a unit: 512.00us, 1.20ms, 2.00s, 1.00m.
	read -r RPS p50 p99 non2xx errs < <(awk '
	    function ms(v) {
		if (v ~ /us$/) return (v + 0) "/1000"
		if (v ~ /ms$/) return v + 0
		if (v ~ /s$/) return (v + 0) "*1000"
		if (v ~ /m$/) return (v + 0) "*60000"
		return -1
	    }
	    /^Requests\/sec:/ { rps = $2 }
	    /^ +50%/ { p50 = ms($2) }
	    /^ +99%/ { p99 = ms($2) }
	    /Non-2xx or 3xx responses:/ { non2xx = $NF }
	    /Socket errors:/ { gsub(/[^0-9 ]/, ""); errs = $1 + $2 + $3 + $4 }
	    END { printf "%s %s %s %d %d\n", rps == "" ? 0 : rps, p50 == "" ? -1 : p50,
		p99 == "" ? -1 : p99, non2xx, errs }' "$out")
	printf '%-22s%9.1f requests/s  p50 %7.3f ms  p99 %7.3f ms  non-2xx %d%s%s\n' \
	    "$1:" "$RPS" "$(echo "$p50" | bc -l)" "$(echo "$p99" | bc -l)" \
	    "$non2xx" "$([ "$errs" -gt 0 ] && echo "  socket errors $errs")" \
	    "${3:+  ($3)}"
}

# ratio A B: A / B with two decimals, or "n/a" when B is 0.
ratio() {
	if [ "$(echo "$2 > 0" | bc -l)" = 1 ]; then
		printf '%.2f' "$(echo "$1 / $2" | bc -l)"
	else
		printf 'n/a'
	fi
}

# serve_start NAME [SERVE-OPTIONS]: orgvault serve --listen on a free
# port; sets SERVE_PID and SERVE_URL once /v1/health answers 200.
serve_start() {
	local log=$tmp/serve-$1.log port= code
	shift
	db_args "$d"
	"$OV" --data-dir "$d" "${DB_ARGS[@]}" serve --listen 127.0.0.1:0 "$@" 2>"$log" &
	SERVE_PID=$!; pids+=("$SERVE_PID")
	for _ in $(seq 100); do
		port=$(sed -n 's/.*listening on 127\.0\.0\.1:\([0-9][0-9]*\).*/\1/p' "$log" | head -1)
		[ -n "$port" ] && break
		kill -0 "$SERVE_PID" 2>/dev/null || break
		sleep 0.1
	done
	[ -n "$port" ] || { echo "serve $* did not start:"; head -c 2000 "$log"; exit 1; }
	SERVE_URL=http://127.0.0.1:$port
	for _ in $(seq 100); do
		code=$(curl -s -o /dev/null -w '%{http_code}' --max-time 2 "$SERVE_URL/v1/health")
		[ "$code" = 200 ] && return 0
		sleep 0.1
	done
	echo "serve $*: /v1/health answered ${code:-nothing}:"; head -c 2000 "$log"; exit 1
}

# fetch_token: one GET of the token with curl (warms the cache); the body
# goes to $tmp/token.json, never to the terminal.  Retries while 503.
fetch_token() {
	local code
	for _ in $(seq 30); do
		code=$(curl -s -o "$tmp/token.json" -w '%{http_code}' --max-time 10 \
		    -H @"$tmp/auth.hdr" "$SERVE_URL$path")
		[ "$code" = 200 ] && return 0
		sleep 0.5
	done
	echo "GET token answered ${code:-nothing}"; exit 1
}

# A fake provider issuing day-long tokens: no refresh during the bench.
"$FAKE" --port 0 --port-file "$tmp/fake.port" 2>"$tmp/fake.log" & pids+=($!)
wait_file "$tmp/fake.port" "$!" || { echo "fake-oauth did not start"; cat "$tmp/fake.log"; exit 1; }
fake=http://127.0.0.1:$(cat "$tmp/fake.port")
curl -sf -X PUT "$fake/_admin/clients/bench" \
    -d '{"client_secret":"bench-secret","lifetime":86400}' >/dev/null ||
	{ echo "fake-oauth: cannot create the client"; exit 1; }

d=$tmp/vault; org=bench; cred=main
path=/v1/orgs/$org/credentials/$cred/token
{ ov "$d" init &&
  ov "$d" org add "$org" &&
  echo bench-secret | ov "$d" cred put "$org" "$cred" \
      --provider oauth2 --token-url "$fake/token" --client-id bench --secret-file - &&
  ov "$d" token "$org" "$cred" >/dev/null
} >"$tmp/setup.log" 2>&1 || { echo "vault setup failed:"; cat "$tmp/setup.log"; exit 1; }
key=$(ov "$d" apikey create bench --role token 2>"$tmp/apikey.err") &&
    [[ $key == ov_* ]] || { echo "apikey create failed:"; cat "$tmp/apikey.err"; exit 1; }
printf 'Authorization: Bearer %s\n' "$key" >"$tmp/auth.hdr"
printf 'wrk.headers["Authorization"] = "Bearer %s"\n' "$key" >"$tmp/auth.lua"
unset key

serve_start cached
fetch_token
size=$(wc -c <"$tmp/token.json")
"$BARE" 0 "$size" "$tmp/bare.port" 2>"$tmp/bare.log" & bare_pid=$!; pids+=($bare_pid)
wait_file "$tmp/bare.port" "$bare_pid" || { echo "bare-mhd did not start"; cat "$tmp/bare.log"; exit 1; }
bare=http://127.0.0.1:$(cat "$tmp/bare.port")/

echo "== token broker ($ENGINE): GET .../token, wrk -t$THREADS -c$CONNS -d${SECS}s, keep-alive, $size-byte body, $(nproc) CPUs"
bench_run "bare libmicrohttpd" "$bare" before; bare1=$RPS
bench_run "orgvault broker" "$SERVE_URL$path" "in-memory token"; cached=$RPS
stop "$SERVE_PID"
serve_start nocache --token-cache off
fetch_token
bench_run "orgvault no cache" "$SERVE_URL$path" "--token-cache off"; nocache=$RPS
stop "$SERVE_PID"
bench_run "bare libmicrohttpd" "$bare" after; bare2=$RPS
bare_mean=$(echo "($bare1 + $bare2) / 2" | bc -l)
printf 'ratio broker/bare:     %8s (aim >= 0.8; bare = mean of before and after)\n' "$(ratio "$cached" "$bare_mean")"
printf 'ratio broker/no cache: %8s (what the in-memory token earns)\n' "$(ratio "$cached" "$nocache")"
record "broker: bare libmicrohttpd, req/s (mean)" "$(printf '%.0f' "$bare_mean")"
record "broker: cached, req/s" "$(printf '%.0f' "$cached")"
record "broker: --token-cache off, req/s" "$(printf '%.0f' "$nocache")"
record "broker: cached / bare" "$(ratio "$cached" "$bare_mean")"

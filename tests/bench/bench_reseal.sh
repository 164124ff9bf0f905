#!/bin/bash
# make bench: the re-seal after migration 0004 (secrets bound to their
# destination) on N credentials while the token broker answers.
#
# A vault of N credentials is made and refreshed by OLD_ORGVAULT (built
# from the last commit before 0004), migrated by ORGVAULT, then `serve`
# re-seals the old rows in the background (100 per transaction) while
# wrk asks the broker for the tokens of 1 000 of them in 2-second rounds.
# Prints the migration's time, the re-seal's time and every broker answer
# that was not 200 (the aim: none).  Asserts nothing.
set -u
# The fake listens on loopback, which the outbound policy refuses unless
# allowed.
export ORGVAULT_ENDPOINT_ALLOW=127.0.0.0/8
OV=${ORGVAULT:?}; OLD=${OLD_ORGVAULT:?}; FAKE=${FAKE_OAUTH:?}
N=${BENCH_RESEAL_N:-10000}
tmp=$(mktemp -d); pids=()
cleanup() { for p in "${pids[@]}"; do kill "$p" 2>/dev/null; wait "$p" 2>/dev/null; done; rm -rf "$tmp"; }
trap cleanup EXIT
now() { date +%s.%N; }

"$FAKE" --port 0 --port-file "$tmp/port" & pids+=($!)
for _ in $(seq 50); do [ -s "$tmp/port" ] && break; sleep 0.1; done
url="http://127.0.0.1:$(cat "$tmp/port")"
curl -sf -X PUT "$url/_admin/clients/bench" -d '{"client_secret":"bench-secret","lifetime":86400}' >/dev/null

echo "== re-seal after migration 0004: $N credentials, broker under wrk"
d="$tmp/v"; "$OLD" --data-dir "$d" init >/dev/null
awk -v n="$N" -v u="$url/oauth/token" 'BEGIN { for (i = 0; i < n; i++)
    printf "{\"org\":\"o%d\",\"name\":\"c\",\"provider\":\"genesys\",\"token_url\":\"%s\",\"client_id\":\"bench\",\"client_secret\":\"bench-secret\"}\n", i, u }' |
    "$OLD" --data-dir "$d" import - >/dev/null
"$OLD" --data-dir "$d" serve --listen none --host-concurrency 64 --host-rate 1000000/1 2>"$tmp/old.log" & sp=$!
while [ "$(sqlite3 "$d/orgvault.db" 'select count(*) from tokens' 2>/dev/null || echo 0)" -lt "$N" ]; do
	kill -0 "$sp" 2>/dev/null || { echo "old serve died"; cat "$tmp/old.log"; exit 1; }
	sleep 0.2
done
kill "$sp"; wait "$sp"
t0=$(now)
"$OV" --data-dir "$d" migrate >/dev/null || { echo "migrate failed"; exit 1; }
t1=$(now)
printf 'migrate (credentials rebuilt, %d rows MACd): %6.2f s\n' "$N" "$(echo "$t1 - $t0" | bc -l)"
old=$(sqlite3 "$d/orgvault.db" 'select count(*) from secret_versions where bind < 2 or digest is null')
key=$("$OV" --data-dir "$d" apikey create bench --role token 2>/dev/null)
cat >"$tmp/paths.lua" <<LUA
local i = 0
request = function()
	i = (i + 7) % 1000
	return wrk.format("GET", "/v1/orgs/o" .. i .. "/credentials/c/token",
	    { ["Authorization"] = "Bearer $key" })
end
LUA
"$OV" --data-dir "$d" serve --listen 127.0.0.1:0 2>"$tmp/serve.log" & sp=$!; pids+=($sp)
for _ in $(seq 100); do grep -q 'serving ' "$tmp/serve.log" && break; sleep 0.1; done
port=$(grep -ao 'listening on [^ ]*' "$tmp/serve.log" | sed 's/.*://')
t2=$(now); total=0; bad=0; rounds=0
while :; do
	left=$(sqlite3 "$d/orgvault.db" 'select count(*) from secret_versions where bind < 2 or digest is null' 2>/dev/null || echo "$old")
	[ "$left" -eq 0 ] && break
	wrk -t2 -c16 -d2s -s "$tmp/paths.lua" "http://127.0.0.1:$port" >"$tmp/wrk.out" 2>&1
	r=$(awk '/requests in/ { print $1 }' "$tmp/wrk.out")
	nb=$(awk '/Non-2xx/ { print $NF }' "$tmp/wrk.out")
	se=$(awk '/Socket errors/ { s = 0; for (i = 4; i <= NF; i += 2) s += $i; print s }' "$tmp/wrk.out")
	total=$((total + ${r:-0})); bad=$((bad + ${nb:-0} + ${se:-0})); rounds=$((rounds + 1))
	kill -0 "$sp" 2>/dev/null || { echo "serve died"; cat "$tmp/serve.log"; exit 1; }
done
t3=$(now)
printf 're-seal by serve (%d rows):              %6.2f s (includes the last 2 s wrk round)\n' "$old" "$(echo "$t3 - $t2" | bc -l)"
printf 'broker during it:                        %d requests in %d rounds, %d not 200\n' "$total" "$rounds" "$bad"
printf 'check after it:                          '
"$OV" --data-dir "$d" check 2>&1 | tail -n 1

#!/usr/bin/env bash
# t_api_load.sh — the admin API and token broker under load:
#   (a) 1 000 idle TCP connections and a few slow clients (a request a
#       byte at a time) are open, and token GETs are still answered at
#       once; when they close, serve's descriptors go back down;
#   (b) LOAD_SECONDS (default 30) of mixed load against the fake OAuth
#       server — token GETs (keep-alive and one connection each), admin
#       writes (PUT credentials, PATCH orgs), POST refreshes, reads,
#       credentials deleted and re-created — with no 5xx and no failed
#       connection at all, and serve's open descriptors back to within a
#       small margin of where they were (no leak).
#
# The connections are held by helper processes (bash /dev/tcp), never by
# this shell, so that no curl started here inherits them; killing a
# helper closes them all.
# run.sh: alone
. "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
. "$(dirname "${BASH_SOURCE[0]}")/fake.sh"
. "$(dirname "${BASH_SOURCE[0]}")/api.sh"

LOAD_SECONDS=${LOAD_SECONDS:-30}
IDLE_CONNS=${IDLE_CONNS:-1000}
FD_MARGIN=16

fake_start
setup_vault
for o in acme beta; do
	expect_ok "setup: org $o" -- ov org add "$o"
done
TOK=$(api_key tok token)
OPK=$(api_key op operator)
ADM=$(api_key adm admin)
RDR=$(api_key rdr reader)

SECRET=load-secret-1
S=$TMP/secret
secret_file "$S" "$SECRET"

# mk ORG NAME LIFETIME [cred put options]: fake client NAME and the
# credential ORG/NAME on the fake's /oauth/token.
mk() {
	local org=$1 name=$2 life=$3
	shift 3
	fake_put "$name" "$(jq -cn --arg s "$SECRET" --argjson l "$life" \
	    '{client_secret: $s, lifetime: $l}')" || return 1
	run ov cred put "$org" "$name" --provider genesys \
	    --token-url "$FAKE_URL/oauth/token" --client-id "$name" \
	    --secret-file "$S" --scope "a b" "$@"
	if [ "$RC" -ne 0 ]; then
		fail "setup: cred put $org/$name"
		context
		return 1
	fi
}

CREDS=()
for i in 1 2 3 4 5 6; do
	mk acme "t$i" 3600 && CREDS+=("acme/t$i")
done
mk beta b1 3600 && CREDS+=("beta/b1")
# Short tokens: refreshed by the scheduler (and asked for by the broker)
# all through the load.
mk acme s1 20 && CREDS+=("acme/s1")
mk beta s2 30 --refresh-at 0.5 && CREDS+=("beta/s2")
# Credentials the writers re-put and the refreshers refresh.
for i in 1 2 3; do
	mk acme "w$i" 3600 && CREDS+=("acme/w$i")
done
fake_put churn "$(jq -cn --arg s "$SECRET" '{client_secret: $s, lifetime: 3600}')"

# 1 000 idle connections come from one address: above the default
# --max-connections-per-ip (256), which t_slowclients tries.
serve_start main --host-rate 100000/60 --timeout 8 --max-connections-per-ip 2000 || exit 1
SPID=$SERVE_PID
PORT=$SERVE_PORT

tpath() {	# tpath ORG/NAME
	echo "/v1/orgs/${1%%/*}/credentials/${1#*/}/token"
}

all_tokens() {
	local c
	for c in "${CREDS[@]}"; do
		[ "$(curl -s -o /dev/null -w '%{http_code}' -H "Authorization: Bearer $TOK" \
		    "$SERVE_URL$(tpath "$c")")" = 200 ] || return 1
	done
}
expect_true "setup: every credential has a token" -- wait_until 20 all_tokens

# ======================================================================
# (a) 1 000 idle connections and slow clients
# ======================================================================

hard=$(ulimit -Hn)
if [ "$hard" != unlimited ] && [ "$hard" -lt $((IDLE_CONNS + 64)) ]; then
	IDLE_CONNS=$((hard - 64))
	echo "# hard descriptor limit $hard: holding $IDLE_CONNS connections"
fi

# The fewest descriptors serve has over a second (short-lived ones —
# a refresh's connection, a closing client — come and go).
settled_fds() {
	local i n min=
	for ((i = 0; i < 6; i++)); do
		n=$(proc_fds "$SPID")
		[ -z "$min" ] || [ "$n" -lt "$min" ] && min=$n
		sleep 0.2
	done
	echo "$min"
}

# Established connections serve has accepted on the API port: its socket
# descriptors whose inode is a TCP socket with local port $PORT.
api_conns() {
	local hex
	hex=$(printf '%04X' "$PORT")
	awk -v p=":$hex\$" '$2 ~ p && $4 == "01" { print $10 }' \
	    /proc/net/tcp /proc/net/tcp6 2>/dev/null | sort -u >"$TMP/misc/api.inodes"
	ls -l "/proc/$SPID/fd" 2>/dev/null | grep -o 'socket:\[[0-9]*\]' |
	    tr -dc '0-9\n' | sort -u | comm -12 - "$TMP/misc/api.inodes" | wc -l
}

fd_before_a=$(settled_fds)
conns_before_a=$(api_conns)

# The holder: raises its own soft limit, opens N connections, reports how
# many, then becomes `sleep` (which keeps them) until killed.
HOLD_READY=$TMP/misc/hold.ready
bash -c '
	port=$1 n=$2 ready=$3
	ulimit -n $((n + 64)) 2>/dev/null || ulimit -n "$(ulimit -Hn)"
	opened=0
	for ((i = 0; i < n; i++)); do
		{ exec {fd}<>"/dev/tcp/127.0.0.1/$port"; } 2>/dev/null || break
		opened=$((opened + 1))
	done
	echo "$opened $(ulimit -n)" >"$ready.tmp" && mv "$ready.tmp" "$ready"
	exec sleep 600
' holder "$PORT" "$IDLE_CONNS" "$HOLD_READY" </dev/null >/dev/null 2>"$TMP/misc/hold.err" &
HOLD_PID=$!
_FK_PIDS+=("$HOLD_PID")

# slow_client ID REQUEST DELAY: sends REQUEST a byte at a time, DELAY
# seconds apart, then reads the answer's status line into slow-ID.status.
slow_client() {
	bash -c '
		port=$1 req=$2 delay=$3 out=$4
		exec 3<>"/dev/tcp/127.0.0.1/$port" || { echo "connect failed" >"$out"; exit 1; }
		for ((i = 0; i < ${#req}; i++)); do
			printf "%s" "${req:i:1}" >&3 || { echo "write failed at $i" >"$out"; exit 1; }
			sleep "$delay"
		done
		if IFS= read -r -t 15 line <&3; then
			printf "%s\n" "${line%$'"'"'\r'"'"'}" >"$out"
		else
			echo "no answer" >"$out"
		fi
	' slow "$PORT" "$2" "$3" "$TMP/misc/slow-$1.status" </dev/null >/dev/null 2>&1 &
	SLOW_PIDS+=($!)
	_FK_PIDS+=($!)
}

t0=$(now_ms)
wait_for_file "$HOLD_READY" 30
read -r opened holder_limit <"$HOLD_READY" 2>/dev/null || opened=0
expect_eq "idle: the holder opened $IDLE_CONNS connections (its ulimit -n: ${holder_limit:-?})" \
    "$IDLE_CONNS" "$opened"
echo "# opening $opened connections took $(($(now_ms) - t0)) ms"
held_by_serve() {
	[ "$(api_conns)" -ge $((conns_before_a + opened)) ]
}
wait_until 15 held_by_serve
expect_true "idle: serve accepted them all (API connections $conns_before_a -> $(api_conns), fds $fd_before_a -> $(proc_fds "$SPID"))" -- \
    held_by_serve

SLOW_PIDS=()
CRLF=$'\r\n'
for i in 1 2 3; do
	slow_client "h$i" "GET /v1/health HTTP/1.1${CRLF}Host: 127.0.0.1${CRLF}Connection: close${CRLF}${CRLF}" 0.08
done
slow_client tok "GET $(tpath acme/t1) HTTP/1.1${CRLF}Host: 127.0.0.1${CRLF}Authorization: Bearer $TOK${CRLF}Connection: close${CRLF}${CRLF}" 0.02
# A client that sends half a request and stops.
slow_client half "GET /v1/health HTTP/1.1${CRLF}Host: 1" 0.05
nap 1

# While all that is open: token GETs, one connection each, timed.
times=()
bad=()
for ((i = 0; i < 30; i++)); do
	c=${CREDS[i % ${#CREDS[@]}]}
	r=$(curl -s --max-time 20 -o /dev/null -w '%{http_code} %{time_total}' \
	    -H "Authorization: Bearer $TOK" "$SERVE_URL$(tpath "$c")")
	times+=("${r#* }")
	[ "${r%% *}" = 200 ] || bad+=("$c: $r")
done
max=$(printf '%s\n' "${times[@]}" | sort -g | tail -n 1)
expect_eq "idle: 30 token GETs while $opened connections are idle: all 200" "" "${bad[*]}"
expect_true "idle: ... each within 2 s (slowest ${max} s)" -- \
    awk -v m="$max" 'BEGIN { exit !(m < 2) }'
api_fanout "$CAP/fan-idle" 20 GET "$(tpath acme/t2)" "$TOK"
expect_true "idle: 20 concurrent token GETs: all 200 within 2 s" -- \
    awk '$1 != 200 || $2 >= 2 { bad = 1 } END { exit bad || NR != 20 }' "$CAP"/fan-idle/*.out
api GET /v1/health
expect_status "idle: GET /v1/health answers" 200
api GET /v1/orgs "$RDR"
expect_status "idle: GET /v1/orgs answers" 200
expect_true "idle: serve still holds the idle connections meanwhile" -- held_by_serve

# The slow clients finish (the longest sends ~70 bytes 0.08 s apart).
for p in "${SLOW_PIDS[@]:0:4}"; do
	wait "$p" 2>/dev/null
	_fk_forget "$p"
done
for i in h1 h2 h3 tok; do
	expect_eq "slow: client $i, a byte at a time, is answered 200" "HTTP/1.1 200 OK" \
	    "$(cat "$TMP/misc/slow-$i.status" 2>/dev/null)"
done

# Close everything: the holder and the half-request client.
kill "$HOLD_PID" "${SLOW_PIDS[4]}" 2>/dev/null
wait "$HOLD_PID" "${SLOW_PIDS[4]}" 2>/dev/null
_fk_forget "$HOLD_PID"
_fk_forget "${SLOW_PIDS[4]}"
expect_false "idle: the holder is gone (its connections closed)" -- test -d "/proc/$HOLD_PID/fd"
fds_back() {
	[ "$(proc_fds "$SPID")" -le $((fd_before_a + FD_MARGIN)) ] &&
	    [ "$(api_conns)" -le "$conns_before_a" ]
}
wait_until 15 fds_back
expect_true "idle: serve closed its side: API connections $(api_conns), fds $(proc_fds "$SPID") (before: $conns_before_a, $fd_before_a)" -- fds_back
api GET "$(tpath acme/t3)" "$TOK"
expect_status "idle: a token GET after they closed: 200" 200

# ======================================================================
# (b) LOAD_SECONDS of mixed load
# ======================================================================

L=$TMP/load
mkdir -p "$L"
END_MS=$(($(now_ms) + LOAD_SECONDS * 1000))
# Statuses, one per line, per loop: $L/NAME.codes ("000": no answer).

running() {
	[ "$(now_ms)" -lt "$END_MS" ]
}

# Token GETs, 25 per curl on one keep-alive connection.
loop_tokens_keepalive() {
	local out=$L/tok-ka-$1.codes args i
	while running; do
		args=()
		for ((i = 0; i < 25; i++)); do
			args+=(-o /dev/null "$SERVE_URL$(tpath "${CREDS[RANDOM % ${#CREDS[@]}]}")")
		done
		curl -s --max-time 20 -H "Authorization: Bearer $TOK" \
		    -w '%{http_code}\n' "${args[@]}" >>"$out"
	done
}

# Token GETs, a new connection each.
loop_tokens_fresh() {
	local out=$L/tok-new.codes
	while running; do
		curl -s --max-time 20 -o /dev/null -w '%{http_code}\n' \
		    -H "Authorization: Bearer $TOK" \
		    "$SERVE_URL$(tpath "${CREDS[RANDOM % ${#CREDS[@]}]}")" >>"$out"
	done
}

# Admin writes: PUT of the w* credentials (the same secret, another
# scope: a new secret makes them due at once), PATCH of the orgs.
loop_writes() {
	local out=$L/writes.codes n=0 name body
	while running; do
		n=$((n + 1))
		name=w$((n % 3 + 1))
		body=$(jq -cn --arg u "$FAKE_URL/oauth/token" --arg id "$name" \
		    --arg s "$SECRET" --arg sc "a b c$((n % 5))" --argjson new $((n % 4 == 0)) \
		    '{provider: "genesys", token_url: $u, client_id: $id, scope: $sc}
		     + (if $new == 1 then {client_secret: $s} else {} end)')
		curl -s --max-time 20 -o /dev/null -w '%{http_code}\n' -X PUT \
		    -H "Authorization: Bearer $OPK" -H 'Content-Type: application/json' \
		    --data-binary "$body" "$SERVE_URL/v1/orgs/acme/credentials/$name" >>"$out"
		curl -s --max-time 20 -o /dev/null -w '%{http_code}\n' -X PATCH \
		    -H "Authorization: Bearer $ADM" -H 'Content-Type: application/json' \
		    --data-binary "{\"name\":\"Org $n\"}" \
		    "$SERVE_URL/v1/orgs/$([ $((n % 2)) = 0 ] && echo acme || echo beta)" >>"$out"
		sleep 0.05
	done
}

# POST refresh of a random credential.
loop_refresh() {
	local out=$L/refresh.codes c
	while running; do
		c=${CREDS[RANDOM % ${#CREDS[@]}]}
		curl -s --max-time 40 -o /dev/null -w '%{http_code}\n' -X POST \
		    -H "Authorization: Bearer $OPK" \
		    "$SERVE_URL/v1/orgs/${c%%/*}/credentials/${c#*/}/refresh" >>"$out"
		sleep 0.2
	done
}

# Reads: lists, one credential, audit, metrics, health.
loop_reads() {
	local out=$L/reads.codes
	while running; do
		curl -s --max-time 20 -H "Authorization: Bearer $RDR" \
		    -w '%{http_code}\n' \
		    -o /dev/null "$SERVE_URL/v1/orgs" \
		    -o /dev/null "$SERVE_URL/v1/credentials" \
		    -o /dev/null "$SERVE_URL/v1/orgs/acme/credentials" \
		    -o /dev/null "$SERVE_URL/v1/orgs/acme/credentials/t1" \
		    -o /dev/null "$SERVE_URL/v1/audit/events?limit=20" \
		    -o /dev/null "$SERVE_URL/metrics" \
		    -o /dev/null "$SERVE_URL/v1/health" >>"$out"
		sleep 0.05
	done
}

# A credential created, asked for its token, deleted, over and over.
loop_churn() {
	local out=$L/churn.codes body
	body=$(jq -cn --arg u "$FAKE_URL/oauth/token" --arg s "$SECRET" \
	    '{provider: "genesys", token_url: $u, client_id: "churn", client_secret: $s}')
	while running; do
		curl -s --max-time 20 -o /dev/null -w '%{http_code}\n' -X PUT \
		    -H "Authorization: Bearer $OPK" -H 'Content-Type: application/json' \
		    --data-binary "$body" "$SERVE_URL/v1/orgs/acme/credentials/churn" >>"$out"
		curl -s --max-time 20 -o /dev/null -w '%{http_code}\n' \
		    -H "Authorization: Bearer $TOK" "$SERVE_URL$(tpath acme/churn)" \
		    >>"$L/churn-token.codes"
		curl -s --max-time 20 -o /dev/null -w '%{http_code}\n' -X DELETE \
		    -H "Authorization: Bearer $OPK" "$SERVE_URL/v1/orgs/acme/credentials/churn" >>"$out"
	done
}

# Warm up briefly (pools, caches), then take the baseline.
END_MS=$(($(now_ms) + 2000))
LOOPS=()
loop_tokens_keepalive 0 & LOOPS+=($!)
loop_tokens_fresh & LOOPS+=($!)
loop_reads & LOOPS+=($!)
loop_writes & LOOPS+=($!)
wait "${LOOPS[@]}"
rm -f "$L"/*.codes
nap 1
fd_before=$(settled_fds)
fake_before=$(fake_stats | jq .requests)

echo "# mixed load for $LOAD_SECONDS s (serve pid $SPID, $fd_before fds)"
t_load=$(now_ms)
END_MS=$(($(now_ms) + LOAD_SECONDS * 1000))
LOOPS=()
for k in 1 2 3; do
	loop_tokens_keepalive "$k" & LOOPS+=($!)
done
loop_tokens_fresh & LOOPS+=($!)
loop_writes & LOOPS+=($!)
loop_refresh & LOOPS+=($!)
loop_reads & LOOPS+=($!)
loop_churn & LOOPS+=($!)
_FK_PIDS+=("${LOOPS[@]}")
# Sample serve's descriptors during the load.
fd_max=$fd_before
while running; do
	n=$(proc_fds "$SPID")
	[ "$n" -gt "$fd_max" ] && fd_max=$n
	nap 2
done
wait "${LOOPS[@]}"
for p in "${LOOPS[@]}"; do
	_fk_forget "$p"
done
echo "# load ran $(($(now_ms) - t_load)) ms"

# --- statuses ---------------------------------------------------------------
summary() {	# summary FILES...: "code:count ..." over the files
	cat "$@" 2>/dev/null | sort | uniq -c | awk '{ printf "%s:%s ", $2, $1 }'
}
total=$(cat "$L"/*.codes | wc -l)
echo "# $total requests; by status: $(summary "$L"/*.codes)"
for f in "$L"/*.codes; do
	echo "#   $(basename "$f" .codes): $(summary "$f")"
done
n5=$(cat "$L"/*.codes | grep -c '^5')
n0=$(cat "$L"/*.codes | grep -c '^000')
expect_eq "load: no 5xx answer in $total requests" 0 "$n5"
expect_eq "load: no failed connection or timeout (curl 000)" 0 "$n0"
expect_true "load: the load really ran (at least $((LOAD_SECONDS * 20)) requests, got $total)" -- \
    test "$total" -ge $((LOAD_SECONDS * 20))
expect_eq "load: every token GET of a stable credential answered 200" "" \
    "$(cat "$L"/tok-*.codes | grep -v '^200$' | sort | uniq -c | tr '\n' ' ')"
expect_eq "load: admin writes answered 200/201" "" \
    "$(grep -vE '^20[01]$' "$L/writes.codes" | sort | uniq -c | tr '\n' ' ')"
expect_eq "load: reads answered 200" "" \
    "$(grep -v '^200$' "$L/reads.codes" | sort | uniq -c | tr '\n' ' ')"
expect_eq "load: POST refresh answered 200 (or 409 while busy)" "" \
    "$(grep -vE '^(200|409)$' "$L/refresh.codes" | sort | uniq -c | tr '\n' ' ')"
expect_true "load: at least one POST refresh succeeded" -- grep -q '^200$' "$L/refresh.codes"
expect_eq "load: churn PUT/DELETE answered 201/204" "" \
    "$(grep -vE '^(201|204)$' "$L/churn.codes" | sort | uniq -c | tr '\n' ' ')"
expect_eq "load: churn token GETs answered 200 (a fresh credential: wait for its first token)" "" \
    "$(grep -v '^200$' "$L/churn-token.codes" | sort | uniq -c | tr '\n' ' ')"
echo "# token-endpoint requests during the load: $(($(fake_stats | jq .requests) - fake_before))"

# --- serve afterwards -------------------------------------------------------
expect_true "load: serve is still running" -- _fk_alive "$SPID"
api GET /v1/health
expect_status "load: GET /v1/health afterwards: 200" 200
fds_settled() {
	[ "$(proc_fds "$SPID")" -le $((fd_before + FD_MARGIN)) ]
}
wait_until 20 fds_settled
fd_after=$(proc_fds "$SPID")
expect_true "load: serve's fds back within $FD_MARGIN of before ($fd_before before, $fd_max at most during, $fd_after after)" -- \
    test "$fd_after" -le $((fd_before + FD_MARGIN))
if [ "$fd_after" -gt $((fd_before + FD_MARGIN)) ]; then
	echo "# fds of serve after the load:"
	ls -l "/proc/$SPID/fd" 2>/dev/null | awk '{ print $NF }' | sed 's/:\[[0-9]*\]//' |
	    sort | uniq -c | sort -rn | head -n 10 | sed 's/^/#   /'
fi
expect_clean_log "serve log: no crash or sanitizer report" "$(serve_log main)"
expect_eq "serve log: every answered request has an access-log line, none with status 5xx" 0 \
    "$(grep -a 'request id=' "$(serve_log main)" | grep -c ' status=5')"
serve_stop "$SPID" 20
expect_eq "serve stops with exit 0 on SIGTERM after the load" 0 "$SERVE_RC"

#!/usr/bin/env bash
# t_slowclients.sh — slow and idle clients must not hold the admin API's
# front door (raw sockets: tests/integration/slowclient.py):
#   (a) --max-connections-per-ip: of 40 idle connections from 127.0.0.2
#       only 20 stay open, a 21st is closed at once, 127.0.0.1 is answered
#       meanwhile; a --trusted-proxy address is exempt; one warning line
#       per address per 10 s; /metrics counts the refusals;
#   (b) --request-timeout: 50 sockets trickling a header byte a second
#       are all closed about S s after their accept (not when the bytes
#       stop), one warning line for them; others are answered meanwhile;
#   (c) a body trickled slower than the deadline is cut, nothing done;
#   (d) --idle-timeout between requests, in all: a keep-alive connection
#       that sends nothing, or trickles its next request line, is closed
#       after it; a client a second apart for 8 s is not cut;
#   (e) a token-broker wait longer than --request-timeout is not cut;
#   (t) the same deadline on a TLS port, before and after the handshake;
#   (f) 1 000 connections that sent a POST head (Content-Length: 60000)
#       and half the body, without a key or with an invalid one: serve's
#       resident memory grows far less than 64 KiB each, and no locked
#       (secure) memory is taken; a valid key does take it.
# Timings are measured, printed as # lines, and asserted with margins.
# run.sh: alone
. "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
. "$(dirname "${BASH_SOURCE[0]}")/fake.sh"
. "$(dirname "${BASH_SOURCE[0]}")/api.sh"

SC=$(dirname "${BASH_SOURCE[0]}")/slowclient.py
HEALTH='GET /v1/health HTTP/1.1\r\nHost: x\r\n'

setup_vault
expect_ok "setup: org acme" -- ov org add acme
ADM=$(api_key adm admin)
RDR=$(api_key rdr reader)
TOK=$(api_key tok token)

# sc OUT ARGS...: slowclient.py ARGS against $SERVE_PORT in the
# background, output to $TMP/misc/OUT; sets SC_PID.
sc() {
	local out=$TMP/misc/$1 mode=$2
	shift 2
	python3 "$SC" "$mode" 127.0.0.1 "$SERVE_PORT" "$@" >"$out" \
	    2>"$out.err" &
	SC_PID=$!
	bg_track "$SC_PID"
}

# sc_json OUT: the JSON line a slowclient printed last.
sc_json() {
	tail -n 1 "$TMP/misc/$1"
}

# sc_check NAME OUT FILTER: jq FILTER is true of slowclient OUT's result.
sc_check() {
	local got
	got=$(sc_json "$2")
	if jq -e "$3" <<<"$got" >/dev/null 2>&1; then
		pass "$1"
	else
		fail "$1" "jq '$3' is not true of: ${got:-(nothing)}" \
		    "$(head -c 400 "$TMP/misc/$2.err")"
	fi
}

# timed_get PATH [KEY]: one GET; prints "STATUS SECONDS".
timed_get() {
	local args=()
	[ -n "${2:-}" ] && args=(-H "Authorization: Bearer $2")
	curl -s -o /dev/null --max-time 20 -w '%{http_code} %{time_total}' \
	    "${args[@]}" "$SERVE_URL$1"
}

# prompt NAME "STATUS SECONDS": 200 within a second.
prompt() {
	local code t
	read -r code t <<<"$2"
	if [ "$code" = 200 ] && awk -v t="$t" 'BEGIN { exit !(t < 1.0) }'; then
		pass "$1 ($t s)"
	else
		fail "$1" "answer: ${2:-nothing} (want 200 within 1 s)"
	fi
}

# metric NAME: its value in GET /metrics (reader key).
metric() {
	curl -s --max-time 10 -H "Authorization: Bearer $RDR" \
	    "$SERVE_URL/metrics" | awk -v m="$1" '$1 == m { print $2 }'
}

# --- (a) connections per address ------------------------------------------------
serve_start a --max-connections-per-ip 20 --trusted-proxy 127.0.0.3/32 ||
    exit 1
LOG_A=$(serve_log a)
sc hold-2 hold 40 --src 127.0.0.2 --wait 1 --keep 1.5
P2=$SC_PID
sc hold-3 hold 40 --src 127.0.0.3 --wait 1 --keep 1.5
P3=$SC_PID
wait_until 15 grep -q held "$TMP/misc/hold-2"
prompt "per-ip: 127.0.0.1 is answered while 127.0.0.2 holds its 20" \
    "$(timed_get /v1/health)"
wait "$P2" "$P3"
sc_check "per-ip: of 40 idle connections from 127.0.0.2, 20 stay open" hold-2 \
    '.open == 20'
sc_check "per-ip: ... a 21st from 127.0.0.2 is closed at once" hold-2 \
    '.extra_closed == true'
sc_check "per-ip: a --trusted-proxy address keeps all 40 (and a 41st)" hold-3 \
    '.open == 40 and .extra_closed == false'
expect_eq "per-ip: one warning line for 127.0.0.2 in 10 s (21 refused)" 1 \
    "$(grep -ac 'refusing connections from 127.0.0.2: it holds 20' "$LOG_A")"
expect_false "per-ip: none for the trusted proxy" -- \
    grep -aq 'refusing connections from 127.0.0.3' "$LOG_A"
n=$(metric orgvault_http_connections_refused_total)
expect_true "per-ip: /metrics counts the refusals ($n)" -- \
    test "${n:-0}" -ge 21
serve_stop "$SERVE_PID"
expect_clean_log "per-ip: serve's log is clean" "$LOG_A"

# --- (b, c) the request deadline, not pushed back by bytes ------------------------
serve_start b --request-timeout 3 --idle-timeout 30 || exit 1
LOG_B=$(serve_log b)
sc trickle trickle 50 --prefix "$HEALTH" --trickle 'X-Pad: abc\r\n' --max 12
PT=$SC_PID
sc body trickle 1 --prefix "POST /v1/orgs HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer $ADM\r\nContent-Type: application/json\r\nContent-Length: 40\r\n\r\n" \
    --trickle '{"slug":"trickled","name":"abcdefghijk"}' --max 12
PB=$SC_PID
# Answered at the head (413: a Content-Length over the cap), then the
# announced body trickled: the answer waits for the body, the deadline
# must not.
sc early trickle 1 --prefix "GET /v1/health HTTP/1.1\r\nHost: x\r\nContent-Length: 999999999\r\n\r\n" \
    --trickle 'xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx' --max 12
PE=$SC_PID
nap 1.5
prompt "deadline: a request during the trickle is answered promptly" \
    "$(timed_get /v1/health)"
wait "$PT" "$PB" "$PE"
echo "# trickling header sockets: $(sc_json trickle)"
echo "# trickling body: $(sc_json body)"
sc_check "deadline: all 50 header tricklers closed, none before 2.5 s, all by 5 s" \
    trickle '.closed == 50 and .min >= 2.5 and .max <= 5'
sc_check "deadline: a body trickled a byte a second is cut at ~3 s" body \
    '.closed == 1 and .min >= 2.5 and .max <= 5'
sc_check "deadline: a head answered early (413) whose body trickles is cut too" early \
    '.closed == 1 and .max <= 5'
run ov org list --json
expect_json "deadline: ... and no org was made of it" 'map(.slug) == ["acme"]'
expect_eq "deadline: one warning line for the 52 cuts of 127.0.0.1" 1 \
    "$(grep -ac 'closed a connection from 127.0.0.1 that sent no whole request in 3 s' "$LOG_B")"
expect_true "deadline: the body's access-log line says it was cut" -- \
    grep -aq 'path=/v1/orgs status=0 .*cut: no whole request within --request-timeout' "$LOG_B"
n=$(metric orgvault_http_requests_cut_total)
expect_true "deadline: /metrics counts the cuts ($n)" -- test "${n:-0}" -ge 51
serve_stop "$SERVE_PID"
expect_clean_log "deadline: serve's log is clean" "$LOG_B"

# --- (d, e) between requests; answering is never cut --------------------------------
fake_start
serve_start d --request-timeout 3 --idle-timeout 4 || exit 1
LOG_D=$(serve_log d)
KA="${HEALTH}\r\n"
sc ka-idle keepalive --prefix "$KA" --then idle --max 12
PI=$SC_PID
sc ka-trickle keepalive --prefix "$KA" --then trickle --max 12
PK=$SC_PID
sc ka-steady keepalive --prefix "$KA" --then requests --count 8 --every 1
PS=$SC_PID
# (e) the first refresh takes 4 s: the GET waits for it, past the 3 s.
fake_put slow '{"client_secret":"slow-secret-1","lifetime":3600,"behaviour":"slow","delay_ms":4000}'
secret_file "$TMP/secret" slow-secret-1
expect_ok "broker: cred put acme/slow" -- ov cred put acme slow \
    --provider genesys --token-url "$FAKE_URL/oauth/token" \
    --client-id slow --secret-file "$TMP/secret"
got=$(timed_get /v1/orgs/acme/credentials/slow/token "$TOK")
echo "# token GET during the slow first refresh: $got"
expect_true "broker: a token wait past --request-timeout is answered 200 ($got)" -- \
    awk -v c="${got% *}" -v t="${got#* }" 'BEGIN { exit !(c == 200 && t >= 3.2) }'
wait "$PI" "$PK" "$PS"
echo "# keep-alive idle: $(sc_json ka-idle); trickling: $(sc_json ka-trickle); steady: $(sc_json ka-steady)"
sc_check "idle: a keep-alive connection silent after its answer is closed after ~4 s" \
    ka-idle '.answered == [200] and .closed_after >= 3.5 and .closed_after <= 6'
sc_check "idle: one trickling its next request line is closed after ~4 s too" \
    ka-trickle '.answered == [200] and .closed_after != null and .closed_after >= 3.5 and .closed_after <= 6.5'
sc_check "idle: a client a second apart for 8 s (> --request-timeout) is never cut" \
    ka-steady '(.answered | length) == 9 and all(.answered[]; . == 200) and .closed_after == null'
serve_stop "$SERVE_PID"
expect_clean_log "idle: serve's log is clean" "$LOG_D"

# --- (t) TLS -------------------------------------------------------------------------
if command -v openssl >/dev/null 2>&1; then
	C=$TMP/tls/cert.pem
	K=$TMP/tls/key.pem
	mkdir -p "$TMP/tls"
	openssl req -x509 -newkey rsa:2048 -nodes -days 2 -subj /CN=127.0.0.1 \
	    -keyout "$K" -out "$C" >"$TMP/tls/openssl.out" 2>&1
	chmod 600 "$K"
	serve_start t --tls-cert "$C" --tls-key "$K" --request-timeout 2 ||
	    exit 1
	sc tls-silent trickle 1 --max 8
	PQ=$SC_PID
	sc tls-trickle trickle 1 --tls --prefix "$HEALTH" \
	    --trickle 'X-Pad: abc\r\n' --max 8
	PR=$SC_PID
	nap 1
	got=$(curl -sk -o /dev/null --max-time 10 -w '%{http_code} %{time_total}' \
	    "https://127.0.0.1:$SERVE_PORT/v1/health")
	prompt "tls: HTTPS is answered while others trickle" "$got"
	wait "$PQ" "$PR"
	echo "# tls: no handshake: $(sc_json tls-silent); trickling after it: $(sc_json tls-trickle)"
	sc_check "tls: a connection that never starts its handshake is closed at ~2 s" \
	    tls-silent '.closed == 1 and .min >= 1.5 and .max <= 4'
	sc_check "tls: one trickling its head after the handshake is closed at ~2 s" \
	    tls-trickle '.closed == 1 and .min >= 1.5 and .max <= 4'
	serve_stop "$SERVE_PID"
	expect_clean_log "tls: serve's log is clean" "$(serve_log t)"
else
	pass "tls # SKIP openssl is missing"
fi

# --- (f) no locked body buffer before the key verified ---------------------------------
# kB of a /proc/PID/status field.
status_kb() {
	awk -v f="$2:" '$1 == f { print $2 }' "/proc/$1/status"
}

# flood NAME N AUTH-HEADER: N connections, each a POST head announcing
# 60000 bytes and 30000 of them, held while serve's VmRSS and VmLck are
# read; sets RSS_KB and LCK_KB (growth) and prints the figures.
flood() {
	local name=$1 n=$2 auth=$3 r0 l0 r1 l1
	# A few requests first: the pool threads, vault connections, TLS-less
	# buffers of a running serve are there before the baseline.
	for i in 1 2 3 4; do timed_get /v1/orgs "$RDR" >/dev/null; done
	r0=$(status_kb "$SERVE_PID" VmRSS)
	l0=$(status_kb "$SERVE_PID" VmLck)
	mkfifo "$TMP/misc/$name.in"
	python3 "$SC" flood 127.0.0.1 "$SERVE_PORT" "$n" --keep 30 \
	    --prefix "POST /v1/orgs HTTP/1.1\r\nHost: x\r\n${auth}Content-Type: application/json\r\nContent-Length: 60000\r\n\r\n" \
	    --body-bytes 30000 <"$TMP/misc/$name.in" >"$TMP/misc/$name" \
	    2>"$TMP/misc/$name.err" &
	SC_PID=$!
	bg_track "$SC_PID"
	exec 5>"$TMP/misc/$name.in"
	wait_until 30 grep -q ready "$TMP/misc/$name"
	nap 1
	r1=$(status_kb "$SERVE_PID" VmRSS)
	l1=$(status_kb "$SERVE_PID" VmLck)
	exec 5>&-		# the helper lets go
	wait "$SC_PID"
	RSS_KB=$((r1 - r0))
	LCK_KB=$((l1 - l0))
	echo "# $name: $n connections ($(sc_json "$name")): VmRSS $r0 -> $r1 kB" \
	    "(+$RSS_KB kB, $((RSS_KB * 1024 / n)) B each; 64 KiB each would be" \
	    "+$((n * 64)) kB), VmLck $l0 -> $l1 kB (+$LCK_KB kB)"
}

# Under ASan (make asan) every touched page costs an eighth more in shadow
# and allocations carry redzones: a wider bound, still under 64 KiB each;
# and sodium's mlock shows no VmLck there.
RSS_MAX_KB=20480
if ldd "$ORGVAULT" 2>/dev/null | grep -q libasan; then
	RSS_MAX_KB=40960
	echo "# ASan build: resident memory bound $RSS_MAX_KB kB"
fi
serve_start f --max-connections-per-ip 2000 --request-timeout 30 || exit 1
flood nokey 1000 ""
sc_check "memory: 1000 connections without a key all held open" nokey '.open == 1000'
expect_true "memory: ... serve grows by < $((RSS_MAX_KB / 1024)) MB (+$RSS_KB kB)" -- \
    test "$RSS_KB" -lt "$RSS_MAX_KB"
expect_true "memory: ... and takes no locked memory (+$LCK_KB kB)" -- \
    test "$LCK_KB" -lt 1024
serve_stop "$SERVE_PID"
expect_clean_log "memory: serve's log is clean" "$(serve_log f)"
serve_start f2 --max-connections-per-ip 2000 --request-timeout 30 || exit 1
flood badkey 1000 'Authorization: Bearer ov_0123456789abcdef_notakeynotakeynotakeynotakeynotakeynotakeyx\r\n'
sc_check "memory: 1000 connections with an invalid key all held open" badkey '.open == 1000'
expect_true "memory: ... serve grows by < $((RSS_MAX_KB / 1024)) MB (+$RSS_KB kB)" -- \
    test "$RSS_KB" -lt "$RSS_MAX_KB"
expect_true "memory: ... and takes no locked memory (+$LCK_KB kB)" -- \
    test "$LCK_KB" -lt 1024
serve_stop "$SERVE_PID"
expect_clean_log "memory: serve's log is clean" "$(serve_log f2)"
# The measure sees a buffer when one is taken: a valid key keeps its body
# (100 x 60000 bytes, guarded blocks of their own: fresh pages).  A serve
# of its own: memory freed by the floods before would blur the figure.
serve_start f3 --request-timeout 30 || exit 1
flood goodkey 100 "Authorization: Bearer $ADM\r\n"
expect_true "memory: 100 with a valid key take their 60000-byte buffers (+$RSS_KB kB)" -- \
    test "$RSS_KB" -ge 4800
expect_true "memory: ... none is cut or refused (body arriving within the deadline)" -- \
    jq -e '.open == 100' <<<"$(sc_json goodkey)"
serve_stop "$SERVE_PID"
expect_clean_log "memory: serve's log is clean" "$(serve_log f3)"

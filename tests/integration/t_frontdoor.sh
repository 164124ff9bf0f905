#!/usr/bin/env bash
# t_frontdoor.sh — the admin API's front door, tried from outside:
#   - bind or fail: a second serve (of this vault or another) on a port in
#     use exits 5 naming the address, and the first keeps every connection
#     (no SO_REUSEPORT split);
#   - signals: SIGHUP does not kill serve; it reopens --log-file after a
#     rotation; SIGTERM still drains and exits 0;
#   - strict HTTP over raw sockets: duplicate Content-Length, Content-Length
#     with chunked, a control character in a header value, two
#     Authorization headers: 400, nothing done;
#   - the access log: a %0a in the path never starts a log line of its
#     own, and in JSON format a path with invalid UTF-8 still gets its line.
# (TLS versions, suites and the reload on SIGHUP: t_api_tls.sh.)
. "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
. "$(dirname "${BASH_SOURCE[0]}")/fake.sh"
. "$(dirname "${BASH_SOURCE[0]}")/api.sh"

RAW=$(dirname "${BASH_SOURCE[0]}")/rawhttp.py

setup_vault
expect_ok "setup: org acme" -- ov org add acme
RDR=$(api_key rdr reader)
OPK=$(api_key op operator)
ADM=$(api_key adm admin)

# raw FORMAT [ARGS...]: printf's bytes to the server as they are; sets
# RAW_CODE (the status, "none") and RAW_HEAD (a file: the answer's head).
raw() {
	NCAP=$((NCAP + 1))
	# shellcheck disable=SC2059
	printf "$@" >"$TMP/misc/raw$NCAP.req"
	python3 "$RAW" 127.0.0.1 "$SERVE_PORT" <"$TMP/misc/raw$NCAP.req" \
	    >"$CAP/raw$NCAP" 2>&1
	RAW_CODE=$(head -n 1 "$CAP/raw$NCAP")
	RAW_HEAD=$CAP/raw$NCAP
}

expect_raw() {
	if [ "$RAW_CODE" = "$2" ]; then
		pass "$1"
	else
		fail "$1" "expected HTTP $2, got '${RAW_CODE:-nothing}'" \
		    "$(head -c 400 "$RAW_HEAD")"
	fi
}

# --- bind or fail -----------------------------------------------------------
serve_start a || exit 1
PORT_A=$SERVE_PORT
PID_A=$SERVE_PID
run timeout 10 "$ORGVAULT" --data-dir "$DIR" serve --listen 127.0.0.1:$PORT_A
expect_eq "bind: a second serve of this vault on the port in use exits 5" 5 "$RC"
expect_true "bind: ... its error names the address" -- \
    grep -aq "cannot listen on 127.0.0.1:$PORT_A" "$ERR"
OTHER=$TMP/other
run "$ORGVAULT" --data-dir "$OTHER" init
run timeout 10 "$ORGVAULT" --data-dir "$OTHER" serve --listen 127.0.0.1:$PORT_A
expect_eq "bind: a serve of another vault on the port in use exits 5" 5 "$RC"
# The other vault's serve started anyway on the old code: then a share
# of the connections went to it.  Here every answer is the first's.
timeout 10 "$ORGVAULT" --data-dir "$OTHER" serve --listen 127.0.0.1:$PORT_A \
    >/dev/null 2>&1 &
OTHER_PID=$!
bg_track "$OTHER_PID"
sleep 1
SERVE_URL=http://127.0.0.1:$PORT_A
n_ok=0
for i in $(seq 1 30); do
	api GET /v1/orgs "$RDR"
	[ "$API_CODE" = 200 ] && jq -e '.orgs | map(.slug) == ["acme"]' "$API_BODY" \
	    >/dev/null 2>&1 && n_ok=$((n_ok + 1))
done
expect_eq "bind: 30 of 30 connections answered by the first serve" 30 "$n_ok"
kill "$OTHER_PID" 2>/dev/null
wait "$OTHER_PID" 2>/dev/null

# --- strict HTTP -------------------------------------------------------------
SERVE_PORT=$PORT_A
raw 'POST /v1/orgs HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer %s\r\nContent-Type: application/json\r\nContent-Length: 15\r\nContent-Length: 40\r\n\r\n{"slug":"dup1"}' "$ADM"
expect_raw "http: two Content-Length headers: 400" 400
raw 'POST /v1/orgs HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer %s\r\nContent-Type: application/json\r\nContent-Length: 15\r\nTransfer-Encoding: chunked\r\n\r\nf\r\n{"slug":"dup2"}\r\n0\r\n\r\n' "$ADM"
expect_raw "http: Content-Length with chunked: 400" 400
# A NUL inside a header value: libmicrohttpd 0.9.75 ends the value at the
# NUL and its API shows nothing after it (SECURITY.md: not refused).
raw 'GET /v1/orgs HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer %s\r\nX-Note: a\001b\r\n\r\n' "$RDR"
expect_raw "http: a control character inside a header value: 400" 400
raw 'GET /v1/orgs HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer %s\r\nAuthorization: Bearer %s\r\n\r\n' "$RDR" "$OPK"
expect_raw "http: two Authorization headers: 400" 400
raw 'GET /v1/orgs HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer %s\r\nConnection: close\r\n\r\n' "$RDR"
expect_raw "http: the same request, well formed: 200" 200
run ov org list --json
expect_json "http: no org was made by the refused POSTs" 'map(.slug) == ["acme"]'

# --- the access log ----------------------------------------------------------
SERVE_URL=http://127.0.0.1:$PORT_A
api GET "/v1/orgs/x%0aorgvault:%20request%20id=forged%20status=200" "$RDR"
sleep 0.3
LOG_A=$(serve_log a)
expect_false "log: a %0a in the path starts no forged log line" -- \
    grep -aq '^orgvault: request id=forged' "$LOG_A"
expect_true "log: ... the request's own line has it escaped" -- \
    grep -aqF 'path=/v1/orgs/x\x0aorgvault: request id=forged' "$LOG_A"
expect_false "log: every line of the log is one of serve's" -- \
    grep -avq '^orgvault: ' "$LOG_A"

# --- signals: SIGHUP is not fatal; TERM drains ---------------------------------
kill -HUP "$PID_A"
sleep 0.5
expect_true "sighup: serve is still running after SIGHUP" -- kill -0 "$PID_A"
api GET /v1/orgs "$RDR"
expect_status "sighup: ... and answers" 200
serve_stop "$PID_A"
expect_eq "sighup: SIGTERM afterwards still exits 0" 0 "$SERVE_RC"

# --- --log-file and its reopening -------------------------------------------
LF=$TMP/logs/serve.log
mkdir -p "$TMP/logs"
"$ORGVAULT" --data-dir "$DIR" serve --listen 127.0.0.1:0 --log-format json \
    --log-file "$LF" >"$TMP/lf.out" 2>"$TMP/lf.err" &
LF_PID=$!
bg_track "$LF_PID"
wait_until 20 grep -aq '"msg":"serving ' "$LF"
expect_true "log-file: serve logs to --log-file (JSON lines)" -- \
    grep -aq '"msg":"serving ' "$LF"
expect_false "log-file: ... and nothing to stderr" -- test -s "$TMP/lf.err"
SERVE_PORT=$(grep -ao 'listening on [^ ]*' "$LF" | tail -n 1 | sed 's/.*://')
SERVE_URL=http://127.0.0.1:$SERVE_PORT
api GET "/v1/orgs/bad%ffutf8" "$RDR"
RID=$(api_header X-Request-Id)
sleep 0.3
expect_true "log-file: a path with invalid UTF-8 still gets its JSON line" -- \
    grep -aq "request id=$RID" "$LF"
expect_true "log-file: every line is a JSON object" -- \
    jq -e -s 'length > 0 and all(type == "object")' "$LF"
mv "$LF" "$LF.1"
kill -HUP "$LF_PID"
wait_until 10 test -s "$LF"
api POST /v1/orgs "$ADM" '{"slug":"after-hup"}'
expect_status "log-file: a write after the rotation" 201
RID=$(api_header X-Request-Id)
sleep 0.3
expect_true "log-file: SIGHUP reopened the file: the new line is there" -- \
    grep -aq "request id=$RID" "$LF"
expect_false "log-file: ... not in the rotated one" -- \
    grep -aq "request id=$RID" "$LF.1"
serve_stop "$LF_PID"
expect_eq "log-file: SIGTERM: exit 0" 0 "$SERVE_RC"
run "$ORGVAULT" --data-dir "$DIR" serve --listen 127.0.0.1:0 \
    --log-file "$TMP/no/such/dir/serve.log"
expect_eq "log-file: a log file that cannot be opened: exit 5" 5 "$RC"
expect_true "log-file: ... saying which" -- grep -aq "no/such/dir/serve.log" "$ERR"

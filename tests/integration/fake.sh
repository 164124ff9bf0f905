# fake.sh — helpers of the rotation tests (t_rot_*.sh): the fake OAuth
# server (tests/fake_oauth, $FAKE_OAUTH) and `orgvault serve` in the
# background.  Source it after lib.sh:
#
#   . "$(dirname "$0")/lib.sh"
#   . "$(dirname "$0")/fake.sh"
#
# Fake server (control API: the comment at the top of
# tests/fake_oauth/fake_oauth.c):
#   fake_start [NAME]      starts one on a free port (--port 0 --port-file);
#                          sets FAKE_URL (http://127.0.0.1:PORT), FAKE_PORT,
#                          FAKE_PID, and FAKE_URL_<NAME>; default NAME "main".
#                          Every helper below talks to $FAKE_URL, so
#                          `FAKE_URL=$FAKE_URL_f2 fake_put ...` targets another.
#   fake_stop [PID]        SIGTERM, waits; returns its exit status
#   fake_put ID JSON       PUT /_admin/clients/ID; fake_patch ID JSON: PATCH.
#                          Both report a failed assertion and return 1 unless
#                          the server answered 2xx.
#   fake_client ID         prints GET /_admin/clients/ID (JSON)
#   fake_field ID FILTER   prints `jq -r FILTER` of that client
#   fake_requests [ID [SINCE]]  prints the request log (a JSON array)
#   fake_stats             prints /_admin/stats
#   fake_reset             POST /_admin/reset
# Token URLs: "$FAKE_URL/oauth/token" (genesys style), "/oauth_token.do"
# (servicenow), "/token" (RFC 6749).
#
# orgvault serve:
#   serve_start NAME [-v ...] [SERVE-OPTIONS...]
#                          (adds --listen 127.0.0.1:0 unless given; sets
#                          SERVE_PID, SERVE_PORT and SERVE_URL)
#                          starts `orgvault [-v...] --data-dir $DIR serve
#                          OPTIONS` in the background, stderr appended to
#                          $TMP/serve-NAME.log (serve_log NAME prints the
#                          path); waits until it logs "serving"; sets
#                          SERVE_PID.  Returns 1 (and reports) if it dies.
#   serve_stop PID [LIMIT] SIGTERM, waits up to LIMIT s (default 30; then
#                          SIGKILL); sets SERVE_RC (exit status, or
#                          "timeout") and SERVE_STOP_S (seconds it took)
#   serve_kill9 PID        SIGKILL and reap
#   expect_clean_log NAME FILE   assertion: no sanitizer report, no crash
#
# Misc: now_ms, nap SECONDS (an interruptible sleep: use it for long
# sleeps so that the EXIT trap runs at once on SIGTERM), wait_until
# TIMEOUT CMD..., iso_to_s RFC3339,
# events_json [audit-events-options] (all events, newest first).
#
# Every process started here is killed on exit (SIGTERM, then SIGKILL
# after 8 s) by this file's EXIT trap, which then runs lib.sh's cleanup.
# Reaped processes are forgotten, so no pid is ever signalled after it
# could have been reused.

if [ -z "${FAKE_OAUTH:-}" ] || [ ! -x "${FAKE_OAUTH:-}" ]; then
	fail "FAKE_OAUTH='${FAKE_OAUTH:-}' is not an executable (build/fake-oauth)"
	exit 1
fi
case $FAKE_OAUTH in
/*) ;;
*) FAKE_OAUTH=$(cd "$(dirname "$FAKE_OAUTH")" && pwd)/$(basename "$FAKE_OAUTH") ;;
esac
for _fk_tool in curl jq; do
	if ! command -v "$_fk_tool" >/dev/null 2>&1; then
		fail "the '$_fk_tool' command is needed by the rotation tests"
		exit 1
	fi
done

FAKE_URL=
FAKE_PORT=
FAKE_PID=
SERVE_PID=
SERVE_RC=
SERVE_STOP_S=
_FK_PIDS=()
_FK_BODY=$TMP/misc/fake.body
FAKE_CODE=

# ------------------------------------------------------------- processes

# True while PID runs (a zombie does not count).
_fk_alive() {
	local st rest
	[ -r "/proc/$1/stat" ] || return 1
	read -r _ _ st rest <"/proc/$1/stat" 2>/dev/null || return 1
	[ "$st" != Z ] && [ "$st" != X ]
}

_fk_forget() {
	local p keep=()
	for p in "${_FK_PIDS[@]}"; do
		[ "$p" = "$1" ] || keep+=("$p")
	done
	_FK_PIDS=("${keep[@]}")
}

_fk_exit() {
	local p i left
	trap - EXIT
	for p in "${_FK_PIDS[@]}"; do
		kill -TERM "$p" 2>/dev/null
	done
	# At most 8 s in all (run.sh's timeout kills us 10 s after its TERM).
	for ((i = 0; i < 80; i++)); do
		left=0
		for p in "${_FK_PIDS[@]}"; do
			_fk_alive "$p" && left=1
		done
		[ "$left" -eq 0 ] && break
		sleep 0.1
	done
	for p in "${_FK_PIDS[@]}"; do
		if _fk_alive "$p"; then
			echo "# $TEST_NAME: pid $p ignored SIGTERM for 8 s: SIGKILL"
			kill -KILL "$p" 2>/dev/null
		fi
		wait "$p" 2>/dev/null
	done
	_FK_PIDS=()
	_cleanup
}
trap _fk_exit EXIT

now_ms() {
	date +%s%3N
}

# nap SECONDS: sleep that a signal interrupts at once (bash runs traps
# only between foreground commands; `wait` is interruptible).
nap() {
	local p
	sleep "$1" &
	p=$!
	_FK_PIDS+=("$p")
	wait "$p"
	_fk_forget "$p"
}

# wait_until TIMEOUT CMD...: polls CMD every 0.2 s; 1 on timeout.
wait_until() {
	local t=$1 end
	shift
	end=$(($(now_ms) + t * 1000))
	while ! "$@" >/dev/null 2>&1; do
		[ "$(now_ms)" -ge "$end" ] && return 1
		sleep 0.2
	done
	return 0
}

# Seconds since the epoch of an RFC 3339 UTC time ("...Z"); 0 for null.
iso_to_s() {
	if [ -z "$1" ] || [ "$1" = null ]; then
		echo 0
		return
	fi
	jq -rn --arg t "$1" '$t | sub("\\.[0-9]+Z$"; "Z") | fromdateiso8601'
}

# ----------------------------------------------------------- fake server

fake_start() {
	local name=${1:-main} pf i
	pf=$TMP/misc/fake-$name.port
	rm -f "$pf"
	"$FAKE_OAUTH" --port 0 --port-file "$pf" --log "$TMP/misc/fake-$name.log" \
	    >"$TMP/misc/fake-$name.out" 2>"$TMP/misc/fake-$name.err" &
	FAKE_PID=$!
	_FK_PIDS+=("$FAKE_PID")
	for ((i = 0; i < 200; i++)); do
		[ -s "$pf" ] && break
		_fk_alive "$FAKE_PID" || break
		sleep 0.05
	done
	if [ ! -s "$pf" ]; then
		fail "setup: fake-oauth '$name' did not start" \
		    "$(head -c 500 "$TMP/misc/fake-$name.err")"
		exit 1
	fi
	FAKE_PORT=$(cat "$pf")
	FAKE_URL=http://127.0.0.1:$FAKE_PORT
	printf -v "FAKE_URL_$name" '%s' "$FAKE_URL"
	printf -v "FAKE_PID_$name" '%s' "$FAKE_PID"
	if ! curl -sS --max-time 10 "$FAKE_URL/_admin/health" | jq -e .ok >/dev/null; then
		fail "setup: fake-oauth '$name' does not answer /_admin/health"
		exit 1
	fi
}

fake_stop() {
	local p=${1:-$FAKE_PID} rc=0
	kill -TERM "$p" 2>/dev/null
	wait "$p" || rc=$?
	_fk_forget "$p"
	return "$rc"
}

# _fk_http METHOD PATH [JSON]: body → $_FK_BODY, status → FAKE_CODE.
_fk_http() {
	local m=$1 p=$2
	if [ $# -ge 3 ]; then
		FAKE_CODE=$(curl -sS --max-time 30 -o "$_FK_BODY" -w '%{http_code}' \
		    -X "$m" -H 'Content-Type: application/json' \
		    --data-binary "$3" "$FAKE_URL$p" 2>"$_FK_BODY.err")
	else
		FAKE_CODE=$(curl -sS --max-time 30 -o "$_FK_BODY" -w '%{http_code}' \
		    -X "$m" "$FAKE_URL$p" 2>"$_FK_BODY.err")
	fi
}

_fk_uri() {
	jq -rn --arg v "$1" '$v | @uri'
}

_fk_write() {
	local m=$1 id=$2 json=$3
	_fk_http "$m" "/_admin/clients/$(_fk_uri "$id")" "$json"
	case $FAKE_CODE in
	2??) return 0 ;;
	esac
	fail "fake: $m client $id answered ${FAKE_CODE:-nothing}" \
	    "body: $(head -c 300 "$_FK_BODY" 2>/dev/null) $(head -c 300 "$_FK_BODY.err")"
	return 1
}

fake_put() {
	_fk_write PUT "$1" "$2"
}

fake_patch() {
	_fk_write PATCH "$1" "$2"
}

fake_client() {
	_fk_http GET "/_admin/clients/$(_fk_uri "$1")"
	cat "$_FK_BODY"
}

fake_field() {
	fake_client "$1" | jq -r "$2"
}

fake_requests() {
	local q=
	[ -n "${1:-}" ] && q="client_id=$(_fk_uri "$1")"
	[ -n "${2:-}" ] && q="${q:+$q&}since=$2"
	_fk_http GET "/_admin/requests${q:+?$q}"
	cat "$_FK_BODY"
}

fake_stats() {
	_fk_http GET /_admin/stats
	cat "$_FK_BODY"
}

fake_reset() {
	_fk_http POST /_admin/reset '{}'
}

# --------------------------------------------------------- orgvault serve

serve_log() {
	echo "$TMP/serve-$1.log"
}

serve_start() {
	local name=$1 log pre=() i
	shift
	while [ $# -gt 0 ] && [ "$1" = -v ]; do
		pre+=(-v)
		shift
	done
	log=$(serve_log "$name")
	# The API on a free port unless the test says where.
	case " $* " in
	*" --listen "*) ;;
	*) set -- --listen 127.0.0.1:0 "$@" ;;
	esac
	"$ORGVAULT" "${pre[@]}" --data-dir "$DIR" serve "$@" \
	    >>"$TMP/serve-$name.out" 2>>"$log" &
	SERVE_PID=$!
	_FK_PIDS+=("$SERVE_PID")
	for ((i = 0; i < 400; i++)); do
		if grep -aq 'serving ' "$log" 2>/dev/null; then
			SERVE_PORT=$(grep -ao 'listening on [^ ]*' "$log" |
			    tail -n 1 | sed 's/.*://')
			SERVE_URL=http://127.0.0.1:$SERVE_PORT
			return 0
		fi
		_fk_alive "$SERVE_PID" || break
		sleep 0.05
	done
	fail "setup: serve '$name' did not start" "$(head -c 600 "$log")"
	return 1
}

serve_stop() {
	local p=$1 limit=${2:-30} t0 rc=0
	t0=$(now_ms)
	kill -TERM "$p" 2>/dev/null
	while _fk_alive "$p"; do
		if [ $(($(now_ms) - t0)) -ge $((limit * 1000)) ]; then
			kill -KILL "$p" 2>/dev/null
			wait "$p" 2>/dev/null
			_fk_forget "$p"
			SERVE_RC=timeout
			SERVE_STOP_S=$limit
			return 1
		fi
		sleep 0.05
	done
	wait "$p" || rc=$?
	_fk_forget "$p"
	SERVE_RC=$rc
	SERVE_STOP_S=$(awk -v ms=$(($(now_ms) - t0)) 'BEGIN { printf "%.2f", ms / 1000 }')
	return 0
}

serve_kill9() {
	kill -KILL "$1" 2>/dev/null
	wait "$1" 2>/dev/null
	_fk_forget "$1"
}

# expect_clean_log NAME FILE: no sanitizer report or crash in FILE.
expect_clean_log() {
	local hit
	hit=$(grep -aE -m3 'ERROR: (Address|Leak|Memory|Thread)Sanitizer|runtime error:|SUMMARY: [A-Za-z]*Sanitizer|AddressSanitizer|double free|stack smashing|Segmentation fault|Fatal error in GNU libmicrohttpd' "$2" 2>/dev/null)
	if [ -n "$hit" ]; then
		fail "$1" "$(printf '%s' "$hit" | head -c 600)"
	else
		pass "$1"
	fi
}

# events_json [OPTIONS]: every matching audit event, newest first.
events_json() {
	"$ORGVAULT" --data-dir "$DIR" audit events --limit 10000 --json "$@"
}

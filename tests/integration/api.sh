# api.sh — helpers for tests of the admin REST API.  Source after lib.sh
# and fake.sh; start the server with serve_start (it sets SERVE_URL).
#
#   api_key NAME ROLE [ORGS]   creates an API key with the CLI, prints it
#   api METHOD PATH [KEY [BODY [CURL-ARGS...]]]
#                          one request to $SERVE_URL; KEY "" sends no
#                          Authorization; BODY "" sends none (else as
#                          application/json unless CURL-ARGS set another
#                          Content-Type).  Sets API_CODE, API_BODY (a
#                          file), API_HDRS (a file); both files are kept
#                          under $CAP for secret-leak greps.
#   expect_status NAME CODE         the last answer's status
#   expect_problem NAME CODE TYPE   the last answer is problem+json with
#                          that status and type suffix, and its
#                          request_id is the X-Request-Id header
#   expect_body NAME JQ-FILTER      the filter gives true on the body
#   api_header NAME                 the last answer's header value

api_key() {
	local name=$1 role=$2 orgs=${3:-}
	if [ -n "$orgs" ]; then
		"$ORGVAULT" --data-dir "$DIR" apikey create "$name" --role "$role" \
		    --orgs "$orgs" 2>>"$CAP/apikey.err"
	else
		"$ORGVAULT" --data-dir "$DIR" apikey create "$name" --role "$role" \
		    2>>"$CAP/apikey.err"
	fi
}

api() {
	local m=$1 p=$2 key=${3:-} body=${4:-} args=()
	shift $(($# < 4 ? $# : 4))
	NCAP=$((NCAP + 1))
	API_BODY=$CAP/api$NCAP.body
	API_HDRS=$CAP/api$NCAP.hdrs
	[ -n "$key" ] && args+=(-H "Authorization: Bearer $key")
	if [ -n "$body" ]; then
		case " $* " in
		*Content-Type*) ;;
		*) args+=(-H 'Content-Type: application/json') ;;
		esac
		args+=(--data-binary "$body")
	fi
	API_CODE=$(curl -sS --max-time 30 -o "$API_BODY" -D "$API_HDRS" \
	    -w '%{http_code}' -X "$m" "${args[@]}" "$@" "$SERVE_URL$p" \
	    2>"$API_BODY.err")
	OUT=$API_BODY
	ERR=$API_BODY.err
}

api_header() {
	grep -i "^$1:" "$API_HDRS" | tail -n 1 | sed 's/^[^:]*: *//' | tr -d '\r'
}

_api_context() {
	echo "#   answer: $API_CODE"
	head -c 600 "$API_BODY" | sed 's/^/#   body| /'
	echo
}

expect_status() {
	if [ "$API_CODE" = "$2" ]; then
		pass "$1"
	else
		fail "$1" "expected HTTP $2, got ${API_CODE:-nothing}"
		_api_context
	fi
}

expect_problem() {
	local name=$1 code=$2 type=$3 rid
	rid=$(api_header X-Request-Id)
	if [ "$API_CODE" != "$code" ]; then
		fail "$name" "expected HTTP $code, got ${API_CODE:-nothing}"
		_api_context
		return 1
	fi
	if [ "$(api_header Content-Type)" != application/problem+json ]; then
		fail "$name" "Content-Type is '$(api_header Content-Type)'"
		_api_context
		return 1
	fi
	if ! jq -e --arg t "https://orgvault.dev/problems/$type" --argjson s "$code" \
	    --arg r "$rid" '.type == $t and .status == $s and .request_id == $r and
	    (.title | type) == "string" and (.detail | type) == "string"' \
	    "$API_BODY" >/dev/null 2>&1; then
		fail "$name" "not a '$type' problem with request id $rid"
		_api_context
		return 1
	fi
	pass "$name"
}

expect_body() {
	if jq -e "$2" "$API_BODY" >/dev/null 2>&1; then
		pass "$1"
	else
		fail "$1" "jq '$2' is not true"
		_api_context
	fi
}

# api_fanout DIR N METHOD PATH [KEY]: N concurrent requests to $SERVE_URL
# (one curl each, started together); answer I goes to DIR/I.body,
# DIR/I.hdrs and DIR/I.out ("STATUS SECONDS"); returns when all are done.
# Keep DIR under $CAP so that the secret-leak greps see the bodies.
api_fanout() {
	local dir=$1 n=$2 m=$3 p=$4 key=${5:-} i pids=() args=()
	mkdir -p "$dir"
	[ -n "$key" ] && args+=(-H "Authorization: Bearer $key")
	for ((i = 1; i <= n; i++)); do
		curl -sS --max-time 60 -o "$dir/$i.body" -D "$dir/$i.hdrs" \
		    -w '%{http_code} %{time_total}\n' -X "$m" "${args[@]}" \
		    "$SERVE_URL$p" >"$dir/$i.out" 2>"$dir/$i.err" &
		pids+=($!)
	done
	wait "${pids[@]}"
}

# proc_fds PID: how many descriptors a process has open.
proc_fds() {
	ls "/proc/$1/fd" 2>/dev/null | wc -l
}

# expect_header NAME HEADER ERE: the last answer has HEADER, and its value
# matches the extended regex ERE ('' : any value).
expect_header() {
	local v
	if ! grep -qi "^$2:" "$API_HDRS"; then
		fail "$1" "no '$2' header"
		_api_context
		return 1
	fi
	v=$(api_header "$2")
	if [ -n "$3" ] && ! printf '%s\n' "$v" | grep -Eq -- "$3"; then
		fail "$1" "header $2: '$v' does not match /$3/"
		_api_context
		return 1
	fi
	pass "$1"
}

# api_jq FILTER: jq -r FILTER on the last answer's body (prints it).
api_jq() {
	jq -r "$1" "$API_BODY" 2>/dev/null
}

# expect_body_with NAME JQ-FILTER [JQ-OPTION...]: expect_body with jq
# options (--arg, --argjson) for the filter.
expect_body_with() {
	local name=$1 filter=$2
	shift 2
	if jq -e "$@" "$filter" "$API_BODY" >/dev/null 2>&1; then
		pass "$name"
	else
		fail "$name" "jq '$filter' is not true"
		_api_context
	fi
}

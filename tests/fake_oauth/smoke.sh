#!/usr/bin/env bash
# smoke.sh — checks the fake OAuth server itself, with curl and jq.
#
#   tests/fake_oauth/smoke.sh build/fake-oauth
#
# Starts the server on a free port (--port 0 --port-file) in a temporary
# directory, runs each check, prints "ok - ..." or "not ok - ...", then
# "N passed, N failed".  Exits non-zero when a check failed.  The server is
# stopped by SIGTERM at the end (it must exit 0 promptly, with a hanging
# request open); the trap kills it if the script dies first.
set -u

FAKE=${1:?usage: smoke.sh /path/to/fake-oauth}
T=$(mktemp -d "${TMPDIR:-/tmp}/fake-oauth-smoke.XXXXXX")
srv=
trap '[ -n "$srv" ] && kill "$srv" 2>/dev/null; rm -rf "$T"' EXIT

pass=0
fail=0
ok() { echo "ok - $1"; pass=$((pass + 1)); }
notok() { echo "not ok - $1"; fail=$((fail + 1)); }
check() { local d=$1; shift; if "$@"; then ok "$d"; else notok "$d"; fi; }

# http METHOD PATH [curl args...]: sets $code and $cx (curl's exit code);
# the body is in $T/body, the headers in $T/hdr.
http() {
	local m=$1 p=$2
	shift 2
	cx=0
	code=$(curl -sS -o "$T/body" -D "$T/hdr" -w '%{http_code}' -X "$m" \
	    "$@" "$B$p" 2>"$T/err") || cx=$?
}
admin() { http "$1" "$2" -H 'Content-Type: application/json' --data-binary "$3"; }
token() { local p=$1; shift; http POST "$p" "$@"; }
cc() { token /oauth/token "$@" -d grant_type=client_credentials; }
body_is() { jq -e "$1" "$T/body" >/dev/null 2>&1; }
has_header() { tr -d '\r' <"$T/hdr" | grep -qiE "^$1"; }
is() { [ "$1" = "$2" ] || { echo "#   expected '$2', got '$1'" >&2; false; }; }

"$FAKE" --port 0 --port-file "$T/port" --log "$T/log" &
srv=$!
for _ in $(seq 100); do
	[ -s "$T/port" ] && break
	kill -0 "$srv" 2>/dev/null || break
	sleep 0.1
done
[ -s "$T/port" ] || { echo "not ok - server did not start"; exit 1; }
B="http://127.0.0.1:$(cat "$T/port")"
ok "server listening on $B"

# ---- client credentials, both authentication methods
admin PUT /_admin/clients/c1 '{"client_secret":"s1","lifetime":900}'
check "PUT creates a client (201)" is "$code" 201
cc -u c1:s1
check "client_credentials with Basic: 200" is "$code" 200
check "access token at-c1-1, bearer, expires_in 900" body_is \
    '.access_token == "at-c1-1" and .token_type == "bearer" and .expires_in == 900'
check "success has Cache-Control: no-store" has_header 'Cache-Control: no-store'
check "no scope requested, none configured: scope omitted" body_is 'has("scope") | not'
cc -d client_id=c1 -d client_secret=s1 -d scope='read write'
check "client_credentials with post auth: 200" is "$code" 200
check "requested scope granted back" body_is '.scope == "read write"'
cc -u c1:s1 -d client_id=c1 -d client_secret=s1
check "Basic and body credentials at once: 400 invalid_request" \
    eval '[ "$code" = 400 ] && body_is ".error == \"invalid_request\""'
http POST /oauth/token -u c1:s1 -H 'Content-Type: application/json' \
    --data-binary '{"grant_type":"client_credentials"}'
check "JSON body: 400 invalid_request" \
    eval '[ "$code" = 400 ] && body_is ".error == \"invalid_request\""'
cc -u c1:wrong
check "wrong secret with Basic: 401 invalid_client" \
    eval '[ "$code" = 401 ] && body_is ".error == \"invalid_client\""'
check "  ... with WWW-Authenticate: Basic realm=\"fake\"" \
    has_header 'WWW-Authenticate: Basic realm="fake"'
check "  ... Genesys body has description and error_description" \
    body_is '.description == "authentication failed" and .error_description == "authentication failed"'
cc -d client_id=c1 -d client_secret=wrong
check "wrong secret in the body: 401 without WWW-Authenticate" \
    eval '[ "$code" = 401 ] && ! has_header WWW-Authenticate'
cc -u nobody:x
check "unknown client: 401 invalid_client" \
    eval '[ "$code" = 401 ] && body_is ".error == \"invalid_client\""'
token /token -u c1:s1 -d grant_type=password
check "grant_type=password: 400 unsupported_grant_type, RFC body" \
    eval '[ "$code" = 400 ] && body_is ".error == \"unsupported_grant_type\" and (has(\"description\") | not)"'
token /oauth_token.do -d client_id=c1 -d client_secret=wrong -d grant_type=client_credentials
check "ServiceNow style bad secret: 401 server_error/access_denied" \
    eval '[ "$code" = 401 ] && body_is ".error == \"server_error\" and .error_description == \"access_denied\""'

# RFC 6749 §2.3.1: Basic carries form-urlencoded id and secret.
admin PUT '/_admin/clients/svc:1' '{"client_secret":"s p&c%"}'
auth=$(printf '%s' 'svc%3A1:s+p%26c%25' | base64 -w0)
cc -H "Authorization: Basic $auth"
check "Basic with urlencoded ':' '&' '%' ' ' decodes: 200" is "$code" 200

http GET '/_admin/requests?client_id=c1'
check "request log records auth_method basic and post" body_is \
    '(map(.auth_method) | index("basic") != null and index("post") != null) and .[0].seq >= 1 and .[0].time_ms > 1600000000000'
http GET '/_admin/requests?client_id=c1&since=3'
check "request log since=3 returns only later entries" body_is 'length > 0 and all(.seq > 3)'

# ---- refresh-token rotation and RFC 9700 reuse detection
admin PUT /_admin/clients/r1 '{"client_secret":"rs","refresh_token":"rt-seed","scope":"x"}'
token /token -u r1:rs -d grant_type=refresh_token -d refresh_token=rt-seed
check "refresh rt-seed → 200 with a new refresh token" \
    eval '[ "$code" = 200 ] && body_is ".refresh_token == \"rt-r1-1\" and .scope == \"x\""'
token /token -u r1:rs -d grant_type=refresh_token -d refresh_token=rt-seed
check "presenting the old rt-seed: 400 invalid_grant, reuse detected" \
    eval '[ "$code" = 400 ] && body_is ".error == \"invalid_grant\" and (.error_description | test(\"reuse\"))"'
token /token -u r1:rs -d grant_type=refresh_token -d refresh_token=rt-r1-1
check "family revoked: the current rt-r1-1 now fails too" \
    eval '[ "$code" = 400 ] && body_is ".error == \"invalid_grant\""'
token /token -u r1:rs -d grant_type=refresh_token -d refresh_token=never-issued
check "unknown refresh token: invalid_grant" body_is '.error == "invalid_grant"'
http GET /_admin/clients/r1
check "stale_presentations=1, family_revoked, 2 issued" body_is \
    '.stale_presentations == 1 and .family_revoked == true and .issued_refresh_tokens == 2 and .current_refresh_token == "rt-r1-1"'
http GET '/_admin/requests?client_id=r1'
check "request log records the presented refresh tokens" body_is \
    '[.[].refresh_token] == ["rt-seed","rt-seed","rt-r1-1","never-issued"] and all(.grant_type == "refresh_token")'
admin PUT /_admin/clients/r1 '{"client_secret":"rs","refresh_token":"rt-new","reset":true,"rotate_refresh":false}'
token /token -u r1:rs -d grant_type=refresh_token -d refresh_token=rt-new
check "reset + rotate_refresh=false: refresh works, no new refresh token" \
    eval '[ "$code" = 200 ] && body_is "has(\"refresh_token\") | not"'
token /token -u r1:rs -d grant_type=refresh_token -d refresh_token=rt-new
check "  ... and the same token keeps working" is "$code" 200

# ---- scripted faults
admin PUT /_admin/clients/s1 '{"client_secret":"x","script":["500","429","ok"],"retry_after":7}'
cc -u s1:x
check "script step 1: 500 server_error" \
    eval '[ "$code" = 500 ] && body_is ".error == \"server_error\""'
cc -u s1:x
check "script step 2: 429 with Retry-After: 7" \
    eval '[ "$code" = 429 ] && has_header "Retry-After: 7$"'
check "  ... and the Genesys rate-limit body" body_is \
    '.code == "too.many.requests.retry.after" and .status == 429 and (.message | test("\\[7\\] seconds"))'
cc -u s1:x
check "script step 3: 200" is "$code" 200
cc -u s1:x
check "script used up: back to behaviour ok" is "$code" 200
admin PATCH /_admin/clients/s1 '{"behaviour":"429","retry_after_date":true}'
cc -u s1:x
check "PATCH behaviour 429 + retry_after_date: HTTP-date Retry-After" \
    eval '[ "$code" = 429 ] && has_header "Retry-After: [A-Z][a-z]{2}, [0-9]{2} [A-Z][a-z]{2} [0-9]{4} [0-9:]{8} GMT"'
admin PATCH /_admin/clients/s1 '{"behaviour":"503"}'
cc -u s1:x
check "503 temporarily_unavailable with Retry-After" \
    eval '[ "$code" = 503 ] && has_header "Retry-After:"'
admin PATCH /_admin/clients/s1 '{"behaviour":"no_such_behaviour"}'
check "PATCH with an unknown behaviour: 400" is "$code" 400
admin PUT /_admin/clients/s2 '{"client_secret":"x","bogus":1}'
check "PUT with an unknown field: 400" is "$code" 400
admin PATCH /_admin/clients/ghost '{"behaviour":"ok"}'
check "PATCH of an unknown client: 404" is "$code" 404

# ---- broken success bodies
admin PUT /_admin/clients/b1 '{"client_secret":"x","script":["garbage","huge","missing_access_token","mistyped","html_500","servicenow_401","invalid_scope"]}'
cc -u b1:x
check "garbage: 200 with a body that is not JSON" \
    eval '[ "$code" = 200 ] && ! jq . "$T/body" >/dev/null 2>&1'
cc -u b1:x
check "huge: 200 with a body of about 5 MB" \
    eval '[ "$code" = 200 ] && [ "$(wc -c <"$T/body")" -ge 5000000 ]'
cc -u b1:x
check "missing_access_token: 200 JSON without access_token" \
    eval '[ "$code" = 200 ] && body_is "has(\"access_token\") | not"'
cc -u b1:x
check "mistyped: access_token number, expires_in string" body_is \
    '(.access_token | type) == "number" and .expires_in == "3600"'
cc -u b1:x
check "html_500: 500 text/html" \
    eval '[ "$code" = 500 ] && has_header "Content-Type: text/html"'
cc -u b1:x
check "servicenow_401: 401 server_error/access_denied" \
    eval '[ "$code" = 401 ] && body_is ".error == \"server_error\" and .error_description == \"access_denied\""'
cc -u b1:x
check "invalid_scope behaviour: 400 invalid_scope" \
    eval '[ "$code" = 400 ] && body_is ".error == \"invalid_scope\""'
admin PATCH /_admin/clients/b1 '{"behaviour":"invalid_client"}'
cc -u b1:x
check "invalid_client behaviour with Basic: 401 + WWW-Authenticate" \
    eval '[ "$code" = 401 ] && has_header "WWW-Authenticate: Basic"'
token /oauth_token.do -u b1:x -d grant_type=client_credentials
check "  ... on /oauth_token.do: 401 server_error/access_denied" \
    body_is '.error == "server_error" and .error_description == "access_denied"'
http GET /oauth/token -u b1:x
check "GET on a token endpoint: 405" is "$code" 405
head -c 70000 /dev/zero | tr '\0' a >"$T/big"
http POST /oauth/token -u b1:x --data-binary "@$T/big"
check "body over 64 KiB: 413" is "$code" 413

# ---- reset and hang
admin PUT /_admin/clients/rst '{"client_secret":"x","behaviour":"reset"}'
cc -u rst:x
check "reset: curl sees an empty reply (exit 52)" is "$cx" 52
http GET '/_admin/requests?client_id=rst'
check "  ... logged with status 0, behaviour reset" \
    body_is '.[0].status == 0 and .[0].behaviour == "reset"'
admin PUT /_admin/clients/hang '{"client_secret":"x","behaviour":"hang"}'
(
	rc=0
	curl -s -o /dev/null --max-time 1 -u hang:x "$B/oauth/token" \
	    -d grant_type=client_credentials || rc=$?
	echo "$rc" >"$T/hang_rc"
) &
hang_pid=$!
sleep 0.3
cc -u c1:s1
check "a normal request succeeds while another hangs" \
    eval '[ "$code" = 200 ] && [ ! -e "$T/hang_rc" ]'
http GET '/_admin/requests?client_id=hang'
check "the hanging request is logged with status 0" \
    body_is 'length == 1 and .[0].status == 0 and .[0].behaviour == "hang"'
wait "$hang_pid"
check "hang: curl --max-time 1 times out (exit 28)" is "$(cat "$T/hang_rc")" 28
http GET /_admin/stats
check "stats: max_concurrency >= 2, by_status counts 200s" \
    body_is '.max_concurrency >= 2 and .by_status["200"] >= 5'

# ---- concurrency: 300 slow requests at once
admin PUT /_admin/clients/slow '{"client_secret":"x","behaviour":"slow","delay_ms":1500}'
(
	for _ in $(seq 300); do
		curl -s -o /dev/null -w '%{http_code}\n' --max-time 20 \
		    -u slow:x "$B/oauth/token" -d grant_type=client_credentials &
	done
	wait
) >"$T/codes"
check "300 concurrent slow requests all answered 200" \
    is "$(grep -c '^200$' "$T/codes")" 300
http GET /_admin/stats
check "stats: max_concurrency >= 100 under that load" body_is '.max_concurrency >= 100'

# ---- the Genesys secret API
admin PUT /_admin/clients/g1 '{"client_secret":"old-secret","scope":"oauth:client:edit"}'
cc -u g1:old-secret
at=$(jq -r .access_token "$T/body")
http GET /api/v2/tokens/me -H "Authorization: Bearer $at"
check "tokens/me with the issued token: 200 fake-org and scope" body_is \
    '.organization.id == "fake-org" and .authorizedScope == ["oauth:client:edit"]'
http GET /api/v2/tokens/me -H "Authorization: Bearer at-forged"
check "tokens/me with a forged token: 401" is "$code" 401
http POST /api/v2/oauth/clients/g1/secret
check "regenerate without a bearer: 401" is "$code" 401
http POST /api/v2/oauth/clients/nope/secret -H "Authorization: Bearer $at"
check "regenerate an unknown client: 404" is "$code" 404
admin PUT /_admin/clients/g0 '{"client_secret":"s0","scope":"oauth:client:view"}'
cc -u g0:s0
at0=$(jq -r .access_token "$T/body")
http POST /api/v2/oauth/clients/g1/secret -H "Authorization: Bearer $at0"
check "regenerate with a token lacking oauth:client:edit: 403" \
    eval '[ "$code" = 403 ] && jq -e ".code == \"missing.permissions\"" "$T/body" >/dev/null'
admin PATCH /_admin/clients/g1 '{"api_behaviour":"500"}'
http POST /api/v2/oauth/clients/g1/secret -H "Authorization: Bearer $at"
check "api_behaviour 500: regenerate fails with 500" is "$code" 500
cc -u g1:old-secret
check "  ... and the old secret still works" is "$code" 200
admin PATCH /_admin/clients/g1 '{"api_behaviour":"ok"}'
http POST /api/v2/oauth/clients/g1/secret -H "Authorization: Bearer $at"
new=$(jq -r .secret "$T/body")
check "regenerate: 200 with a new secret" \
    eval '[ "$code" = 200 ] && [ -n "$new" ] && [ "$new" != old-secret ]'
cc -u g1:old-secret
check "  ... the old secret stops working" is "$code" 401
cc -u "g1:$new"
check "  ... the new secret works" is "$code" 200
http GET /_admin/clients/g1
check "  ... GET shows it, secret_regenerations=1" body_is \
    ".client_secret == \"$new\" and .secret_regenerations == 1"
admin PUT /_admin/clients/lt '{"client_secret":"x","lifetime":0}'
cc -u lt:x
http GET /api/v2/tokens/me -H "Authorization: Bearer $(jq -r .access_token "$T/body")"
check "an expired access token is refused: 401" is "$code" 401

# ---- reset and shutdown
http POST /_admin/reset
http GET /_admin/clients/c1
check "POST /_admin/reset forgets clients" is "$code" 404
check "the --log file has lines and holds no client secret" eval \
    '[ "$(wc -l <"$T/log")" -gt 100 ] && ! grep -qF -e old-secret -e "s p&c" -e "$new" "$T/log"'
admin PUT /_admin/clients/hang '{"client_secret":"x","behaviour":"hang"}'
curl -s -o /dev/null --max-time 20 -u hang:x "$B/oauth/token" \
    -d grant_type=client_credentials &
hang_pid=$!
sleep 0.3
t0=$(date +%s%N)
kill -TERM "$srv"
rc=0
wait "$srv" || rc=$?
t1=$(date +%s%N)
srv=
check "SIGTERM with a request hanging: exit 0" is "$rc" 0
check "  ... within 2 s" [ $(( (t1 - t0) / 1000000 )) -lt 2000 ]
wait "$hang_pid" 2>/dev/null

echo "$pass passed, $fail failed"
[ "$fail" -eq 0 ]

#!/usr/bin/env bash
# t_api_problems.sh — every problem+json answer of the admin REST API
# with its status and type (README "Admin REST API", errors table):
# 400 (bodies and query parameters), 401, 403, 404, 405, 409, 413, 415,
# 422, 429 (throttling by address, with its audit event), 503 (no valid
# token yet); and that no problem detail repeats a secret of the body.
. "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
. "$(dirname "${BASH_SOURCE[0]}")/fake.sh"
. "$(dirname "${BASH_SOURCE[0]}")/api.sh"

SECRET=cs-problems-$RANDOM$RANDOM
BODYSECRET=PROBLEM-SECRET-$RANDOM$RANDOM	# only ever in request bodies
S=$TMP/secret
secret_file "$S" "$SECRET"

fake_start
setup_vault
expect_ok "setup: org a" -- ov org add a
expect_ok "setup: org b" -- ov org add b
# mk ORG NAME FAKE-FIELDS [cred put options]
mk() {
	local org=$1 name=$2 extra=$3
	shift 3
	fake_put "$org-$name" "$(jq -cn --arg s "$SECRET" --argjson e "{$extra}" \
	    '{client_secret: $s} + $e')" || return 1
	run ov cred put "$org" "$name" --provider oauth2 --token-url "$FAKE_URL/token" \
	    --client-id "$org-$name" --secret-file "$S" "$@"
	[ "$RC" -eq 0 ] || { fail "setup: cred put $org/$name"; context; }
}
mk a c ''
mk b c ''
secret_file "$TMP/rt" rt-seed-rev
mk a rev '"refresh_token":"rt-seed-rev","behaviour":"invalid_grant"' \
    --grant refresh_token --refresh-token-file "$TMP/rt"
expect_exit 5 "setup: a/rev is revoked by its first refresh" -- ov cred refresh a rev
mk a down '"behaviour":"500"'
ADMIN=$(api_key admin admin)
READER=$(api_key reader reader)
TOKEN=$(api_key tok token)
READER_A=$(api_key reader-a reader a)
GONE=$(api_key gone reader)
expect_ok "setup: revoke the key 'gone'" -- ov apikey revoke gone
serve_start main || exit 1

# --- 400 malformed-json -----------------------------------------------------------
api POST /v1/orgs "$ADMIN" "{\"slug\":\"x1\",\"name\":\"$BODYSECRET"
expect_problem "400: malformed JSON (unterminated)" 400 malformed-json
api POST /v1/orgs "$ADMIN" "{\"slug\":\"x1\" \"name\":\"$BODYSECRET\"}"
expect_problem "400: malformed JSON (missing comma)" 400 malformed-json
api POST /v1/orgs "$ADMIN" "[{\"slug\":\"x1\",\"name\":\"$BODYSECRET\"}]"
expect_problem "400: a JSON array is not an object" 400 malformed-json
expect_body_with "400 array: the detail says an object is needed" '.detail | test("object")'
api POST /v1/orgs "$ADMIN" "\"$BODYSECRET\""
expect_problem "400: a JSON string is not an object" 400 malformed-json
api POST /v1/orgs "$ADMIN" 'null'
expect_problem "400: null is not an object" 400 malformed-json
api POST /v1/orgs "$ADMIN" "{\"slug\":\"x1\",\"name\":\"$BODYSECRET\",\"name\":\"other\"}"
expect_problem "400: duplicate keys" 400 malformed-json
api PUT /v1/orgs/a/credentials/c "$ADMIN" "{\"client_secret\":\"$BODYSECRET\",\"client_secret\":\"x\"}"
expect_problem "400: duplicate secret keys in a credential PUT" 400 malformed-json
api POST /v1/orgs "$ADMIN" $'{"slug":"x1","name":"bad \xff\xfe utf-8 '"$BODYSECRET"'"}'
expect_problem "400: invalid UTF-8 in a string" 400 malformed-json
api POST /v1/orgs "$ADMIN" $'{"slug":"x1","name":"overlong \xc0\xaf"}'
expect_problem "400: overlong UTF-8 encoding" 400 malformed-json
api POST /v1/orgs "$ADMIN" "{\"slug\":\"x1\"} {\"name\":\"$BODYSECRET\"}"
expect_problem "400: trailing data after the object" 400 malformed-json
api POST /v1/orgs "$ADMIN" "" -H 'Content-Type: application/json' -d ''
expect_problem "400: an empty body" 400 malformed-json
deep=$(printf '{"slug":"x1","name":%s1%s}' "$(printf '[%.0s' $(seq 3000))" "$(printf ']%.0s' $(seq 3000))")
api POST /v1/orgs "$ADMIN" "$deep"
expect_problem "400: nesting 3000 deep" 400 malformed-json
api GET /v1/health ""
expect_status "the server is fine after the bad bodies" 200
run ov org list --json
expect_json "no org was made by a bad body" 'map(.slug) == ["a", "b"]'

# --- 400 bad-request (query parameters) ------------------------------------------------
for q in limit=abc limit=0 limit=1001 limit=5x cursor=-1 cursor=abc since=yesterday \
    until=2026-13-45T00:00:00Z 'since=2026-01-01T00:00:00'; do
	api GET "/v1/audit/events?$q" "$READER"
	expect_problem "400: audit events ?$q" 400 bad-request
done
api GET '/v1/audit/events?limit=abc' "$READER"
expect_body_with "400 limit=abc: the detail names the parameter" '.detail | test("limit")'
api DELETE '/v1/orgs/b?force=maybe' "$ADMIN"
expect_problem "400: DELETE org ?force=maybe" 400 bad-request
api GET /v1/orgs/b "$READER"
expect_status "org b is still there" 200

# --- 401 unauthorized -------------------------------------------------------------------
# (four counted failures from 127.0.0.1 here: ten would block it.)
api GET /v1/orgs ""
expect_problem "401: no Authorization header" 401 unauthorized
expect_header "401 without a key: WWW-Authenticate: Bearer" WWW-Authenticate '^Bearer'
api GET /v1/orgs "ov_0000000000000000_AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA"
expect_problem "401: an unknown key" 401 unauthorized
expect_header "401 unknown key: WWW-Authenticate: Bearer" WWW-Authenticate '^Bearer'
api GET /v1/orgs "${ADMIN%?}x"
expect_problem "401: a key with a wrong secret (last character changed)" 401 unauthorized
api GET /v1/orgs x
expect_problem "401: a malformed key ('Bearer x')" 401 unauthorized
api GET /v1/orgs "$GONE"
expect_problem "401: a revoked key" 401 unauthorized
expect_header "401 revoked key: WWW-Authenticate: Bearer" WWW-Authenticate '^Bearer'
api GET /v1/orgs "" "" -H "Authorization: Basic $(printf 'admin:%s' "$ADMIN" | base64 -w0)"
expect_problem "401: Basic instead of Bearer" 401 unauthorized
api GET /v1/orgs "$ADMIN"
expect_status "the admin key still works after them" 200

# --- 403 forbidden --------------------------------------------------------------------------
api POST /v1/orgs "$READER" '{"slug":"x2"}'
expect_problem "403: a reader creating an org" 403 forbidden
api GET /v1/orgs/a/credentials/c/token "$ADMIN"
expect_problem "403: an admin asking for a token" 403 forbidden
api GET /v1/orgs "$TOKEN"
expect_problem "403: a token key listing orgs" 403 forbidden
api GET /v1/apikeys "$READER"
expect_problem "403: a reader listing API keys" 403 forbidden

# --- 404 not-found -----------------------------------------------------------------------------
for p in /v1/nope / /v1 /v1/orgs/ /v2/orgs /v1/orgs/a/credentials/c/nope /metrics/x \
    /v1/audit /v1/audit/nope '/v1/orgs/a/credentials/c/token/x'; do
	api GET "$p" "$READER"
	expect_problem "404: unknown route GET $p" 404 not-found
done
api GET '/v1/%ff%fe' "$READER"
expect_problem "404: a route that is not UTF-8 (/v1/%ff%fe) still gets a problem+json answer" 404 not-found
api GET '/%c0%af' ""
expect_problem "404: an overlong-UTF-8 route without a key" 404 not-found
api GET '/v1/orgs/%C3%A9t%C3%A9' "$READER"
expect_problem "404: an org name that is not ASCII" 404 not-found
api GET /v1/orgs/nosuch "$READER"
expect_problem "404: unknown org" 404 not-found
api GET /v1/orgs/nosuch/credentials "$READER"
expect_problem "404: credentials of an unknown org" 404 not-found
api GET /v1/orgs/a/credentials/nosuch "$READER"
expect_problem "404: unknown credential" 404 not-found
api PUT /v1/orgs/nosuch/credentials/c "$ADMIN" '{"scope":"a"}'
expect_problem "404: PUT a credential into an unknown org" 404 not-found
api DELETE /v1/orgs/a/credentials/nosuch "$ADMIN"
expect_problem "404: DELETE an unknown credential" 404 not-found
api POST /v1/orgs/a/credentials/nosuch/refresh "$ADMIN"
expect_problem "404: refresh an unknown credential" 404 not-found
api GET /v1/orgs/a/credentials/nosuch/token "$TOKEN"
expect_problem "404: token of an unknown credential" 404 not-found
api PATCH /v1/orgs/nosuch "$ADMIN" '{"name":"x"}'
expect_problem "404: PATCH an unknown org" 404 not-found
api DELETE /v1/orgs/nosuch "$ADMIN"
expect_problem "404: DELETE an unknown org" 404 not-found
api DELETE /v1/apikeys/nosuch "$ADMIN"
expect_problem "404: DELETE an unknown API key" 404 not-found
api GET /v1/orgs/NotASlug "$READER"
expect_problem "404: a path segment that is not a slug" 404 not-found
api GET "/v1/orgs/$(printf 'a%.0s' $(seq 80))" "$READER"
expect_problem "404: a path segment over 63 characters" 404 not-found
api GET /v1/orgs/b/credentials/c "$READER_A"
expect_problem "404: another org's credential for a key limited to org a" 404 not-found
expect_body_with "404 for the limited key: the same answer as for no org" '.detail | test("no org .b.")'
api GET /v1/orgs/zz/credentials/c "$READER_A"
expect_problem "404: an unknown org for the limited key" 404 not-found

# --- 405 method-not-allowed -----------------------------------------------------------------------
api PUT /v1/orgs "$ADMIN" '{"slug":"x3"}'
expect_problem "405: PUT /v1/orgs" 405 method-not-allowed
expect_header "405 PUT /v1/orgs: Allow: GET, POST" Allow '^GET, POST$'
api DELETE /v1/credentials "$ADMIN"
expect_problem "405: DELETE /v1/credentials" 405 method-not-allowed
expect_header "405 DELETE /v1/credentials: Allow: GET" Allow '^GET$'
api POST /v1/orgs/a/credentials/c "$ADMIN" '{}'
expect_problem "405: POST a credential" 405 method-not-allowed
expect_header "405 POST a credential: Allow lists PUT, GET, DELETE" Allow '^(PUT|GET|DELETE)(, (PUT|GET|DELETE)){2}$'
api GET /v1/orgs/a/credentials/c/refresh "$ADMIN"
expect_problem "405: GET …/refresh" 405 method-not-allowed
expect_header "405 GET …/refresh: Allow: POST" Allow '^POST$'
api DELETE /v1/health ""
expect_problem "405: DELETE /v1/health (no key needed to learn that)" 405 method-not-allowed
api OPTIONS /v1/orgs/a "$ADMIN"
expect_problem "405: OPTIONS /v1/orgs/a" 405 method-not-allowed
expect_header "405 OPTIONS /v1/orgs/a: Allow: GET, PATCH, DELETE" Allow '^GET, PATCH, DELETE$'

# --- 409 conflict, credential-revoked ---------------------------------------------------------------
api POST /v1/orgs "$ADMIN" '{"slug":"a"}'
expect_problem "409: an org that exists" 409 conflict
api DELETE /v1/orgs/a "$ADMIN"
expect_problem "409: an org that holds credentials" 409 conflict
api POST /v1/apikeys "$ADMIN" '{"name":"reader","role":"reader"}'
expect_problem "409: an API key name that is live" 409 conflict
api GET /v1/orgs/a/credentials/rev/token "$TOKEN"
expect_problem "409: token of a revoked credential" 409 credential-revoked
expect_body_with "409 revoked: the detail says revoked" '.detail | test("revoked")'

# --- 413 payload-too-large ----------------------------------------------------------------------------
head -c $((65 * 1024 + 1)) /dev/zero | tr '\0' 'a' >"$TMP/big"
api POST /v1/orgs "$ADMIN" "" -H 'Content-Type: application/json' --data-binary @"$TMP/big"
expect_problem "413: a 65 KiB + 1 body (Content-Length)" 413 payload-too-large
api POST /v1/orgs "$ADMIN" "" -H 'Content-Type: application/json' \
    -H 'Transfer-Encoding: chunked' --data-binary @"$TMP/big"
expect_problem "413: a 65 KiB + 1 body, chunked" 413 payload-too-large
head -c $((64 * 1024 + 1)) /dev/zero | tr '\0' 'a' >"$TMP/big2"
api PUT /v1/orgs/a/credentials/c "$ADMIN" "" -H 'Content-Type: application/json' \
    -H 'Transfer-Encoding: chunked' --data-binary @"$TMP/big2"
expect_problem "413: 64 KiB + 1, chunked" 413 payload-too-large
# Exactly 64 KiB is read (and then judged on its content).
jq -cn --arg n "$(head -c $((65536 - 24)) /dev/zero | tr '\0' 'n')" '{slug: "big", name: $n}' |
    tr -d '\n' >"$TMP/64k"
expect_eq "control: the body is 65536 bytes" 65536 "$(size_of "$TMP/64k")"
api POST /v1/orgs "$ADMIN" "" -H 'Content-Type: application/json' --data-binary @"$TMP/64k"
expect_problem "exactly 64 KiB: not 413 but 422 (the name is too long)" 422 validation
expect_body_with "64 KiB: field name" '.field == "name"'
api GET /v1/health ""
expect_status "the server is fine after the big bodies" 200

# --- 415 unsupported-media-type ----------------------------------------------------------------------
api POST /v1/orgs "$ADMIN" '{"slug":"x4"}' -H 'Content-Type: text/plain'
expect_problem "415: text/plain" 415 unsupported-media-type
api PUT /v1/orgs/a/credentials/c "$ADMIN" '{"scope":"a"}' -H 'Content-Type: application/x-www-form-urlencoded'
expect_problem "415: form-urlencoded" 415 unsupported-media-type
api PATCH /v1/orgs/a "$ADMIN" '{"name":"x"}' -H 'Content-Type: application/jsonx'
expect_problem "415: application/jsonx" 415 unsupported-media-type
api POST /v1/orgs "$ADMIN" '{"slug":"x5"}' -H 'Content-Type: application/json; charset=utf-8'
expect_status "application/json; charset=utf-8 is accepted (201)" 201

# --- 422 validation --------------------------------------------------------------------------------------
api POST /v1/orgs "$ADMIN" '{"slug":"x6","colour":"red"}'
expect_problem "422: an unknown field" 422 validation
expect_body_with "422 unknown field: field names it" '.field == "colour"'
api PUT /v1/orgs/a/credentials/c "$ADMIN" "{\"scope\":\"a\",\"client_secert\":\"$BODYSECRET\"}"
expect_problem "422: an unknown (misspelt) field in a credential PUT" 422 validation
expect_body_with "422 misspelt secret field: field names it" '.field == "client_secert"'
api POST /v1/orgs "$ADMIN" '{"slug":"Bad_Slug"}'
expect_problem "422: a bad slug" 422 validation
expect_body_with "422 bad slug: field slug" '.field == "slug"'
api POST /v1/orgs "$ADMIN" '{"name":"no slug"}'
expect_problem "422: a missing slug" 422 validation
expect_body_with "422 missing slug: field slug" '.field == "slug"'
api POST /v1/orgs "$ADMIN" '{"slug":"x7","name":42}'
expect_problem "422: a name that is not a string" 422 validation
expect_body_with "422 name not a string: field name" '.field == "name"'
api PATCH /v1/orgs/a "$ADMIN" "{\"name\":\"$(printf 'n%.0s' $(seq 201))\"}"
expect_problem "422: PATCH a name over 200 bytes" 422 validation
expect_body_with "422 long name: field name" '.field == "name"'
api PUT /v1/orgs/a/credentials/new "$ADMIN" "{\"provider\":\"nope\",\"token_url\":\"$FAKE_URL/token\",\"client_id\":\"x\",\"client_secret\":\"$BODYSECRET\"}"
expect_problem "422: a bad provider" 422 validation
expect_body_with "422 bad provider: the detail names the field" '.detail | test("provider")'
expect_body_with "422 bad provider: field provider (README: field names it)" '.field == "provider"'
api PUT /v1/orgs/a/credentials/new "$ADMIN" "{\"provider\":\"genesys\",\"region\":\"$BODYSECRET\",\"client_id\":\"x\",\"client_secret\":\"y\"}"
expect_problem "422: a bad region" 422 validation
expect_body_with "422 bad region: the detail names the region" '.detail | test("region")'
expect_body_with "422 bad region: field region (README: field names it)" '.field == "region"'
api PUT /v1/orgs/a/credentials/new "$ADMIN" "{\"provider\":\"oauth2\",\"token_url\":\"http://example.com/token\",\"client_id\":\"x\",\"client_secret\":\"y\"}"
expect_problem "422: a plain-http token URL off loopback" 422 validation
expect_body_with "422 token URL: the detail names it" '.detail | test("token URL|token_url")'
api PUT /v1/orgs/a/credentials/new "$ADMIN" "{\"provider\":\"oauth2\",\"token_url\":\"$FAKE_URL/token\",\"client_id\":\"x\",\"client_secret\":123}"
expect_problem "422: a client_secret that is not a string" 422 validation
expect_body_with "422 secret not a string: field client_secret" '.field == "client_secret"'
api PUT /v1/orgs/a/credentials/new "$ADMIN" "{\"provider\":\"oauth2\",\"token_url\":\"$FAKE_URL/token\",\"client_id\":\"x\",\"client_secret\":\"\"}"
expect_problem "422: an empty client_secret" 422 validation
api PUT /v1/orgs/a/credentials/new "$ADMIN" "{\"provider\":\"oauth2\",\"token_url\":\"$FAKE_URL/token\",\"client_id\":\"x\",\"client_secret\":\"$(head -c 16385 /dev/zero | tr '\0' s)\"}"
expect_problem "422: a client_secret over 16 384 bytes" 422 validation
expect_body_with "422 long secret: field client_secret" '.field == "client_secret"'
api PUT /v1/orgs/a/credentials/nl "$ADMIN" "{\"provider\":\"oauth2\",\"token_url\":\"$FAKE_URL/token\",\"client_id\":\"x\",\"client_secret\":\"$BODYSECRET\\nline two\"}"
expect_problem "422: a client_secret of two lines (README: secrets are one line)" 422 validation
api PUT /v1/orgs/a/credentials/new "$ADMIN" "{\"provider\":\"oauth2\",\"token_url\":\"$FAKE_URL/token\",\"client_id\":\"x\",\"client_secret\":\"y\",\"grant\":\"refresh_token\"}"
expect_problem "422: the refresh_token grant without a refresh token" 422 validation
api PUT /v1/orgs/a/credentials/new "$ADMIN" "{\"provider\":\"oauth2\",\"token_url\":\"$FAKE_URL/token\",\"client_id\":\"x\"}"
expect_problem "422: a new credential without a client_secret" 422 validation
api POST /v1/apikeys "$ADMIN" '{"name":"k1","role":"root"}'
expect_problem "422: an API key with an unknown role" 422 validation
expect_body_with "422 bad role: field role" '.field == "role"'
api POST /v1/apikeys "$ADMIN" '{"name":"k1"}'
expect_problem "422: an API key without a role" 422 validation
expect_body_with "422 no role: field role" '.field == "role"'
run ov cred list --json
expect_json "no credential was made by the 422s (a/nl aside: see the two-line secret)" \
    '(map(.org + "/" + .name) | map(select(. != "a/nl")) | sort) == ["a/c", "a/down", "a/rev", "b/c"]'

# --- 503 unavailable: no valid token yet -------------------------------------------------------------
t0=$(now_ms)
api GET /v1/orgs/a/credentials/down/token "$TOKEN"
ms=$(($(now_ms) - t0))
expect_problem "503: token of a credential whose refreshes fail (500)" 503 unavailable
expect_header "503: Retry-After in seconds" Retry-After '^[1-9][0-9]*$'
expect_true "503: answered within 6 s (waits at most 5 s; took $ms ms)" -- test "$ms" -le 6000
expect_false "503: no Cache-Control-less token leaked" -- grep -aq access_token "$API_BODY"

# A hanging token endpoint: the wait ends after 5 s.
mk a hang '"behaviour":"hang"'
t0=$(now_ms)
api GET /v1/orgs/a/credentials/hang/token "$TOKEN"
ms=$(($(now_ms) - t0))
expect_problem "503: token while the refresh hangs" 503 unavailable
expect_header "503 (hang): Retry-After" Retry-After '^[1-9][0-9]*$'
expect_true "503 (hang): after the 5 s wait, not before 4 s nor after 7 s (took $ms ms)" -- \
    test "$ms" -ge 4000 -a "$ms" -le 7000

# --- one keep-alive connection: no header of an answer leaks into the next ----------------------------
NCAP=$((NCAP + 1))
curl -sS --max-time 30 -o /dev/null -D - -X PUT "$SERVE_URL/v1/orgs" \
    --next -sS -o /dev/null -D - "$SERVE_URL/v1/health" \
    --next -sS -o /dev/null -D - "$SERVE_URL/v1/orgs" \
    --next -sS -o /dev/null -D - "$SERVE_URL/v1/health" \
    --next -sS -o /dev/null -D - -H "Authorization: Bearer $TOKEN" \
    "$SERVE_URL/v1/orgs/a/credentials/down/token" \
    --next -sS -o /dev/null -D - "$SERVE_URL/v1/health" >"$CAP/ka$NCAP.hdrs" 2>"$CAP/ka$NCAP.err"
KA=$CAP/ka$NCAP.hdrs
expect_eq "keep-alive: six answers, 405 200 401 200 503 200" "405 200 401 200 503 200" \
    "$(awk '/^HTTP\// { printf "%s%s", sep, $2; sep = " " }' "$KA")"
expect_eq "keep-alive: no answer closes the connection" 0 \
    "$(grep -c '^Connection: close' "$KA" | tr -d ' ')"
expect_true "keep-alive: the health answers carry no Allow, WWW-Authenticate or Retry-After" -- \
    bash -c "! awk '/^HTTP\// { s = \$2 } s == 200' '$KA' | grep -Eiq '^(Allow|WWW-Authenticate|Retry-After):'"

# --- problem details never repeat a secret of the body ----------------------------------------------
expect_true "control: the body secret was sent in requests (the scan could see it)" -- \
    test "$NCAP" -gt 50
leaks=$(grep -alF -- "$BODYSECRET" "$CAP"/*.body "$CAP"/*.hdrs 2>/dev/null)
expect_eq "no answer body or header holds the body's secret" "" "$leaks"
leaks=$(grep -alF -- "$SECRET" "$CAP"/* 2>/dev/null)
expect_eq "no answer holds a client secret" "" "$leaks"
expect_false "the serve log does not hold the body's secret" -- grep -aqF -- "$BODYSECRET" "$(serve_log main)"

# --- 429 too-many-requests (from 127.0.0.2, so 127.0.0.1 stays usable) ------------------------------
BAD=ov_1111111111111111_BBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBB
codes=
for i in $(seq 10); do
	api GET /v1/orgs "$BAD" "" --interface 127.0.0.2
	codes="$codes $API_CODE"
done
expect_eq "429: ten bad keys from 127.0.0.2 are ten 401s" "$(printf ' 401%.0s' $(seq 10))" "$codes"
api GET /v1/orgs "$BAD" "" --interface 127.0.0.2
expect_problem "429: the eleventh attempt" 429 too-many-requests
expect_header "429: Retry-After (1-60 s)" Retry-After '^([1-9]|[1-5][0-9]|60)$'
api GET /v1/orgs "$ADMIN" "" --interface 127.0.0.2
expect_status "429: a good key from the blocked address is still taken" 200
api GET /v1/orgs "$ADMIN"
expect_status "127.0.0.1 is not blocked (per address)" 200
run events_json --kind auth.throttled
expect_json "429: one auth.throttled event naming 127.0.0.2" \
    'length == 1 and .[0].detail.address == "127.0.0.2" and .[0].detail.failures == 10'
api GET /metrics "$READER"
expect_true "metrics: orgvault_auth_throttled_total >= 1" -- \
    grep -Eq '^orgvault_auth_throttled_total [1-9]' "$API_BODY"
expect_true "metrics: orgvault_auth_failures_total >= 14" -- \
    awk '/^orgvault_auth_failures_total / { exit !($2 >= 14) }' "$API_BODY"

fake_stop "$FAKE_PID"	# ends the hanging token request at once
serve_stop "$SERVE_PID" 20
expect_eq "serve exits 0" 0 "$SERVE_RC"
expect_clean_log "serve log: no crash or sanitizer report" "$(serve_log main)"

#!/usr/bin/env bash
# t_api_canary.sh — canary secrets through the admin REST API: client
# secrets, refresh tokens (the seeds and the ones the fake rotates in)
# and API keys are sent through every endpoint, in good requests and in
# bad ones (malformed bodies, 4xx with the secret in a bad field, wrong
# keys); afterwards none may be found in any answer (body or header),
# the serve log (-v), any CLI output, or the SQLite files.  The access
# tokens the broker hands out are allowed in its answers (and `token`'s
# stdout) only; a new API key in the one POST /v1/apikeys answer only.
. "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
. "$(dirname "${BASH_SOURCE[0]}")/fake.sh"
. "$(dirname "${BASH_SOURCE[0]}")/api.sh"
db_log_statements

SEC=$TMP/sec		# the canaries live here, outside CAP
mkdir -m 700 "$SEC"
R=$RANDOM$RANDOM
CS_MAIN=CANARY-CS-main-$R	# a/main's client secret (API PUT)
CS_NEW=CANARY-CS-new-$R		# a/main's next client secret (API PUT update)
CS_CLI=CANARY-CS-cli-$R		# b/cli's client secret (CLI cred put)
CS_RT=CANARY-CS-rt-$R		# a/rt's client secret
CS_BAD=CANARY-CS-bad-$R		# only ever in refused requests
CS_WRONG=CANARY-CS-wrong-$R	# a/ic's secret, refused by the fake
RT_SEED=CANARY-RT-seed-$R	# a/rt's first refresh token (API PUT)
RT_NEW=CANARY-RT-new-$R		# a/rt's re-authorization (API PUT update)
RT_REV=CANARY-RT-rev-$R		# a/rev's refresh token, refused (invalid_grant)
RT_BAD=CANARY-RT-bad-$R		# only ever in refused requests
WK=CANARY-WK-$R-aaaaaaaaaaaaaaaaaaaaaaaaa	# a wrong API key's "secret"
HDR=CANARY-HDR-$R		# sent as headers the server must not echo
RTC=rtc$R			# the refresh-grant client: the fake rotates in rt-$RTC-N
MAINC=cmain$R			# a/main's client: access tokens at-$MAINC-N

fake_start
setup_vault
fake_put "$MAINC" "$(jq -cn --arg s "$CS_MAIN" '{client_secret: $s, scope: "a b admin"}')"
fake_put "$RTC" "$(jq -cn --arg s "$CS_RT" --arg r "$RT_SEED" '{client_secret: $s, refresh_token: $r}')"
fake_put crev "$(jq -cn --arg s "$CS_RT" --arg r "$RT_REV" '{client_secret: $s, refresh_token: $r, behaviour: "invalid_grant"}')"
fake_put cic '{"client_secret":"the-real-one"}'
fake_put ccli "$(jq -cn --arg s "$CS_CLI" '{client_secret: $s}')"

ADMIN=$(api_key admin admin)
OPER=$(api_key oper operator)
READER=$(api_key reader reader)
TOKEN=$(api_key tok token)
printf '%s\n' "$ADMIN" "$OPER" "$READER" "$TOKEN" >"$SEC/keys"
serve_start main -v || exit 1

ACCESS_OK=()	# answers that may hold an access token
KEY_OK=()	# answers that may hold a new API key

credj() {	# credj CLIENT-ID SECRET [JQ-OBJECT]: a PUT body against the fake
	jq -cn --arg u "$FAKE_URL/token" --arg id "$1" --arg s "$2" --argjson e "${3:-{\}}" \
	    '{provider: "oauth2", token_url: $u, client_id: $id, client_secret: $s, scope: "a b"} + $e'
}

# --- good requests through every endpoint ----------------------------------------------
api GET /v1/health ""
expect_status "health" 200
api POST /v1/orgs "$ADMIN" '{"slug":"a","name":"A"}'
expect_status "POST org a" 201
READER_A=$(api_key reader-a reader a)	# a key names orgs that exist
printf '%s\n' "$READER_A" >>"$SEC/keys"
api POST /v1/orgs "$ADMIN" '{"slug":"b"}'
expect_status "POST org b" 201
api PATCH /v1/orgs/b "$ADMIN" '{"name":"Bee","external_id":"x-1"}'
expect_status "PATCH org b" 200
api PUT /v1/orgs/a/credentials/main "$OPER" "$(credj "$MAINC" "$CS_MAIN")"
expect_status "PUT a/main with a canary client secret" 201
api PUT /v1/orgs/a/credentials/rt "$OPER" \
    "$(credj "$RTC" "$CS_RT" "$(jq -cn --arg r "$RT_SEED" '{grant: "refresh_token", refresh_token: $r}')")"
expect_status "PUT a/rt with a canary refresh token" 201
api PUT /v1/orgs/a/credentials/rev "$OPER" \
    "$(credj crev "$CS_RT" "$(jq -cn --arg r "$RT_REV" '{grant: "refresh_token", refresh_token: $r}')")"
expect_status "PUT a/rev (its refresh token will be refused)" 201
api PUT /v1/orgs/a/credentials/ic "$OPER" "$(credj cic "$CS_WRONG")"
expect_status "PUT a/ic (its secret will be refused)" 201
secret_file "$SEC/cs-cli" "$CS_CLI"
run ov -v cred put b cli --provider oauth2 --token-url "$FAKE_URL/token" --client-id ccli \
    --secret-file - <"$SEC/cs-cli"
expect_eq "CLI cred put b/cli with a canary secret on stdin" 0 "$RC"

for c in main rt rt rev ic; do
	api POST "/v1/orgs/a/credentials/$c/refresh" "$OPER"
	expect_status "POST refresh a/$c" 200
done
api POST /v1/orgs/b/credentials/cli/refresh "$ADMIN"
expect_status "POST refresh b/cli" 200
expect_true "control: the fake rotated a/rt's refresh token in (rt-$RTC-N)" -- \
    bash -c "[[ '$(fake_field "$RTC" .current_refresh_token)' =~ ^rt-$RTC-[1-9]$ ]]"
for i in 1 2; do
	api GET /v1/orgs/a/credentials/main/token "$TOKEN"
	expect_status "GET token a/main ($i)" 200
	ACCESS_OK+=("$API_BODY")
done
api GET /v1/orgs/a/credentials/rt/token "$TOKEN"
expect_status "GET token a/rt" 200
ACCESS_OK+=("$API_BODY")
api GET /v1/orgs/b/credentials/cli/token "$TOKEN"
expect_status "GET token b/cli" 200
ACCESS_OK+=("$API_BODY")
api GET /v1/orgs/a/credentials/rev/token "$TOKEN"
expect_problem "GET token of the revoked a/rev: 409" 409 credential-revoked
api GET /v1/orgs/a/credentials/ic/token "$TOKEN"
expect_problem "GET token of a/ic (secret refused): 409 naming the fix" 409 credential-invalid-client

# Updates: a new client secret, a new refresh token.
api PUT /v1/orgs/a/credentials/main "$OPER" "$(jq -cn --arg s "$CS_NEW" '{client_secret: $s}')"
expect_status "PUT a/main with a new canary secret: 200" 200
fake_patch "$MAINC" "$(jq -cn --arg s "$CS_NEW" '{client_secret: $s}')"
api POST /v1/orgs/a/credentials/main/refresh "$OPER"
expect_body_with "refresh with the new secret: ok" '.outcome == "ok"'
fake_patch "$RTC" "$(jq -cn --arg r "$RT_NEW" '{refresh_token: $r}')"
api PUT /v1/orgs/a/credentials/rt "$OPER" "$(jq -cn --arg r "$RT_NEW" '{refresh_token: $r}')"
expect_status "PUT a/rt with a new canary refresh token: 200" 200
api POST /v1/orgs/a/credentials/rt/refresh "$OPER"
expect_body_with "refresh with the new refresh token: ok" '.outcome == "ok"'

for p in /v1/orgs /v1/orgs/a /v1/orgs/b /v1/credentials '/v1/credentials?org=a&status=active' \
    /v1/orgs/a/credentials /v1/orgs/a/credentials/main /v1/orgs/a/credentials/rt \
    /v1/orgs/a/credentials/rev /v1/orgs/a/credentials/ic /v1/orgs/b/credentials/cli \
    '/v1/audit/events?limit=1000' '/v1/audit/events?kind=credential.updated' \
    /v1/audit/drift /v1/audit/revocations /metrics; do
	api GET "$p" "$READER"
	expect_status "GET $p" 200
done
api GET /v1/audit/drift "$READER"
expect_body_with "drift: a/main (granted admin)" 'map(.credential) | index("main") != null'
api GET /v1/audit/revocations "$READER"
expect_body_with "revocations: a/rev and a/ic" '(map(.credential) | unique) as $u | ($u | index("ic")) != null and ($u | index("rev")) != null'
api GET '/v1/audit/events?limit=1000' "$READER_A"
expect_status "audit events for a key limited to a" 200
api DELETE /v1/orgs/a/credentials/ic "$OPER"
expect_status "DELETE a/ic" 204
api POST /v1/orgs "$ADMIN" '{"slug":"c"}'
expect_status "POST org c" 201
api DELETE /v1/orgs/c "$ADMIN"
expect_status "DELETE org c" 204
api DELETE /v1/orgs/b "$ADMIN"
expect_problem "DELETE org b (holds b/cli): 409" 409 conflict
api DELETE '/v1/orgs/b?force=true' "$ADMIN"
expect_status "DELETE org b ?force=true (with b/cli and its secrets)" 204
api GET /v1/apikeys "$ADMIN"
expect_status "GET /v1/apikeys" 200
api POST /v1/apikeys "$ADMIN" '{"name":"made","role":"reader"}'
expect_status "POST /v1/apikeys" 201
KEY_OK+=("$API_BODY")
MADE=$(api_jq .key)
printf '%s\n' "$MADE" >>"$SEC/keys"
api GET /v1/orgs "$MADE"
expect_status "the API-made key works" 200
api DELETE /v1/apikeys/made "$ADMIN"
expect_status "DELETE /v1/apikeys/made" 204
api GET /v1/orgs "$MADE"
expect_problem "the revoked API-made key: 401" 401 unauthorized

# --- refused requests that carry the canaries ---------------------------------------------
P=/v1/orgs/a/credentials/main
api PUT "$P" "$OPER" "{\"client_secret\":\"$CS_BAD"
expect_problem "malformed: unterminated secret" 400 malformed-json
api PUT "$P" "$OPER" "{\"client_secret\":\"$CS_BAD\",\"refresh_token\":\"$RT_BAD\" oops}"
expect_problem "malformed: garbage after the secrets" 400 malformed-json
api PUT "$P" "$OPER" "{\"client_secret\":\"$CS_BAD\",\"client_secret\":\"$RT_BAD\"}"
expect_problem "malformed: duplicate secret keys" 400 malformed-json
api PUT "$P" "$OPER" $'{"client_secret":"'"$CS_BAD"$'\xff","refresh_token":"'"$RT_BAD"'"}'
expect_problem "malformed: invalid UTF-8 inside the secret" 400 malformed-json
api PUT "$P" "$OPER" "[\"$CS_BAD\",\"$RT_BAD\"]"
expect_problem "malformed: an array of secrets" 400 malformed-json
api PUT "$P" "$OPER" "{\"client_secret\":\"$CS_BAD\"}" -H 'Content-Type: text/plain'
expect_problem "415 with a secret in the body" 415 unsupported-media-type
{ printf '{"client_secret":"%s","refresh_token":"%s","scope":"' "$CS_BAD" "$RT_BAD"
  head -c 70000 /dev/zero | tr '\0' s; printf '"}'; } >"$SEC/big"
api PUT "$P" "$OPER" "" -H 'Content-Type: application/json' --data-binary @"$SEC/big"
expect_problem "413 with secrets in the body" 413 payload-too-large
api PUT "$P" "$OPER" "" -H 'Content-Type: application/json' -H 'Transfer-Encoding: chunked' \
    --data-binary @"$SEC/big"
expect_problem "413 (chunked) with secrets in the body" 413 payload-too-large
for f in region token_url client_id scope grant auth refresh_at provider bogus; do
	api PUT /v1/orgs/a/credentials/new "$OPER" \
	    "$(jq -cn --arg u "$FAKE_URL/token" --arg s "$CS_BAD" --arg f "$f" \
	    '{provider: "oauth2", token_url: $u, client_id: "x", client_secret: $s} + {($f): ($s + " \u0001")}')"
	expect_problem "422 with the secret in '$f'" 422 validation
done
api PUT /v1/orgs/a/credentials/new "$OPER" "$(jq -cn --arg s "$CS_BAD" '{client_secret: $s, provider: 7}')"
expect_problem "422: provider not a string, secret in the body" 422 validation
api PUT /v1/orgs/a/credentials/new "$OPER" "$(jq -cn --arg s "$CS_BAD" --arg r "$RT_BAD" \
    '{client_secret: $s, refresh_token: $r, grant: "refresh_token", provider: "oauth2", token_url: "http://example.com/t"}')"
expect_problem "422: off-loopback http token URL, secrets in the body" 422 validation
api PUT /v1/orgs/nosuch/credentials/x "$OPER" "$(credj x "$CS_BAD")"
expect_problem "404 with a secret in the body" 404 not-found
api PUT "$P" "$READER" "$(jq -cn --arg s "$CS_BAD" '{client_secret: $s}')"
expect_problem "403 with a secret in the body" 403 forbidden
api PUT /v1/orgs/b/credentials/cli "$READER_A" "$(jq -cn --arg s "$CS_BAD" '{client_secret: $s}')"
expect_problem "404 (limited reader, another org) with a secret in the body" 404 not-found
api POST /v1/orgs "$ADMIN" "$(jq -cn --arg s "$CS_BAD" '{slug: "a", name: $s}')"
expect_problem "409 with a secret as the org's name" 409 conflict
api POST /v1/orgs "$ADMIN" "$(jq -cn --arg s "$CS_BAD" '{slug: ("Z" + $s)}')"
expect_problem "422: a secret as the slug" 422 validation
api POST /v1/apikeys "$ADMIN" "$(jq -cn --arg s "$CS_BAD" '{name: "k", role: $s}')"
expect_problem "422: a secret as an API key's role" 422 validation
api POST /v1/apikeys "$ADMIN" "$(jq -cn --arg s "$CS_BAD" '{name: "k", role: "reader", orgs: $s}')"
expect_problem "422: a secret as an API key's orgs" 422 validation
api PUT "$P" "ov_0123456789abcdef_$WK" "$(jq -cn --arg s "$CS_BAD" '{client_secret: $s}')"
expect_problem "401: a wrong key (a canary), a secret in the body" 401 unauthorized
api GET /v1/orgs "" "" -H "Authorization: Basic $(printf 'u:%s' "$WK" | base64 -w0)"
expect_problem "401: a canary in a Basic header" 401 unauthorized
api GET /v1/orgs "$WK"
expect_problem "401: a canary as the whole key" 401 unauthorized
api GET "/v1/orgs?api_key=$WK&client_secret=$CS_BAD" "$READER" "" -H "X-Request-Id: $HDR" \
    -H "X-Forwarded-For: $HDR" -H "User-Agent: $HDR"
expect_problem "secrets in the query string: 400 naming the unknown parameter" 400 bad-request
expect_body_with "... by its name, never its value" '.detail | test("api_key")'
expect_false "the answer does not echo a client's X-Request-Id" -- grep -aqF -- "$HDR" "$API_HDRS"

# --- the CLI, reading what the API wrote ---------------------------------------------------------
for cmd in "cred list --json" "cred list" "cred show a main --json" "cred show a rt" \
    "cred show a rev --json" "audit events --json --limit 1000" "audit events --limit 1000" \
    "audit drift --json" "audit revocations --json" "audit revocations" "apikey list --json" \
    "org list --json" "check --json"; do
	# shellcheck disable=SC2086
	run ov -v $cmd
	expect_eq "CLI: $cmd" 0 "$RC"
done
run ov -v cred refresh a main --json
expect_eq "CLI: cred refresh a/main (while serve runs)" 0 "$RC"
run ov -v token a main
expect_eq "CLI: token a/main" 0 "$RC"
ACCESS_OK+=("$OUT")
run ov -v cred refresh a rt --json
expect_eq "CLI: cred refresh a/rt (rotates its refresh token again)" 0 "$RC"
run ov -v audit events --json --limit 1000
AUDIT=$OUT

# --- the scan ------------------------------------------------------------------------------------------

NRT=$(fake_field "$RTC" .issued_refresh_tokens)
expect_true "control: the fake rotated a/rt's refresh token at least 3 times ($NRT)" -- test "$NRT" -ge 3
{
	printf '%s\n' "$CS_MAIN" "$CS_NEW" "$CS_CLI" "$CS_RT" "$CS_BAD" "$CS_WRONG" \
	    "$RT_SEED" "$RT_NEW" "$RT_REV" "$RT_BAD" "$WK" "$HDR"
	for ((i = 1; i <= NRT; i++)); do
		printf 'rt-%s-%d\n' "$RTC" "$i"
	done
} >"$SEC/canaries"
cut -c21- "$SEC/keys" >"$SEC/keysecrets"
printf 'at-%s-\nat-%s-\nat-ccli-\n' "$MAINC" "$RTC" >"$SEC/access"

# found LIST FILE...: "COUNT FILE:CANARY" for each canary of LIST found.
found() {
	local list=$1 f files=()
	shift
	for f in "$@"; do
		[ -e "$f" ] && files+=("$f")
	done
	[ ${#files[@]} -eq 0 ] && return 0
	grep -a -o -H -F -f "$list" -- "${files[@]}" 2>/dev/null | sort | uniq -c
}
scan() {	# scan LABEL LIST FILE...
	local label=$1 list=$2 hits
	shift 2
	hits=$(found "$list" "$@")
	if [ -z "$hits" ]; then
		pass "$label"
	else
		fail "$label" "$(printf '%s\n' "$hits" | head -n 12)"
	fi
}
except() {	# except FILE... -- ALL...: the ALL that are not in the first list
	local skip=() f s in
	while [ "$1" != -- ]; do skip+=("$1"); shift; done
	shift
	for f in "$@"; do
		in=0
		for s in "${skip[@]}"; do [ "$f" = "$s" ] && in=1; done
		[ "$in" -eq 0 ] && printf '%s\n' "$f"
	done
}

# The database while serve still holds it open (the WAL is there).
mapfile -t DBF < <(db_files)
if on_pg; then
	expect_true "the server log holds the statements (log_statement = all)" -- \
	    grep -q "statement: " "$PG_LOG"
else
	expect_true "the database and its WAL exist while serve runs" -- test -s "$DB" -a -s "$DB-wal"
fi
scan "database files (live): no plaintext secret canary" "$SEC/canaries" "${DBF[@]}"
scan "database files (live): no API key secret" "$SEC/keysecrets" "${DBF[@]}"
scan "database files (live): no plaintext access token" "$SEC/access" "${DBF[@]}"
serve_stop "$SERVE_PID" 20
expect_eq "serve exits 0" 0 "$SERVE_RC"
LOG=$(serve_log main)
expect_clean_log "serve log: no crash or sanitizer report" "$LOG"

# Controls: the scans find what they look for where it is.
printf 'x %s x\n' "$RT_REV" >"$TMP/misc/control"
expect_true "control: the scan finds a planted canary" -- test -n "$(found "$SEC/canaries" "$TMP/misc/control")"
expect_true "control: the fake saw the canary secrets (they were used)" -- \
    test "$(fake_requests "$RTC" | jq '[.[] | select(.refresh_token == $r)] | length' --arg r "$RT_SEED")" -ge 1
expect_true "control: the token answers hold access tokens" -- \
    test -n "$(found "$SEC/access" "${ACCESS_OK[@]}")"
expect_true "control: the POST /v1/apikeys answer holds its key's secret" -- \
    test -n "$(found "$SEC/keysecrets" "${KEY_OK[@]}")"
expect_true "control: many answers and outputs were captured" -- test "$(ls "$CAP" | wc -l)" -ge 150

scan "no client secret, refresh token or sent canary in any answer, header or CLI output" \
    "$SEC/canaries" "$CAP"/*
mapfile -t others < <(except "${KEY_OK[@]}" -- "$CAP"/*)
scan "no API key secret in any answer or output but its own POST /v1/apikeys answer" \
    "$SEC/keysecrets" "${others[@]}"
mapfile -t others < <(except "${ACCESS_OK[@]}" -- "$CAP"/*)
scan "no access token in any answer or output but the token answers" "$SEC/access" "${others[@]}"
expect_true "the serve log has lines to scan (-v: every request)" -- \
    test "$(grep -c 'request id=' "$LOG")" -ge 60
scan "serve log: no secret canary" "$SEC/canaries" "$LOG"
scan "serve log: no API key secret" "$SEC/keysecrets" "$LOG"
scan "serve log: no access token" "$SEC/access" "$LOG"
scan "serve stdout: nothing secret" "$SEC/canaries" "$TMP/serve-main.out"
mapfile -t DBF < <(db_files)
scan "database files after serve stopped: no secret canary" "$SEC/canaries" "${DBF[@]}"
scan "database files after serve stopped: no API key secret" "$SEC/keysecrets" "${DBF[@]}"
scan "database files after serve stopped: no access token" "$SEC/access" "${DBF[@]}"
run db_dump
expect_true "the dump has rows to scan" -- grep -qi "insert into\|^copy " "$OUT"
scan "database dump: no secret, key or access token" "$SEC/canaries" "$OUT"
scan "database dump: no API key secret" "$SEC/keysecrets" "$OUT"
scan "database dump: no access token" "$SEC/access" "$OUT"
expect_true "the audit trail names the API's work (credential.updated by api:oper)" -- \
    jq -e 'map(select(.kind == "credential.updated" and .actor == "api:oper")) | length >= 2' "$AUDIT"

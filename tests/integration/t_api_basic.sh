#!/usr/bin/env bash
# t_api_basic.sh — the admin REST API's happy paths and answer shapes,
# endpoint by endpoint, against `orgvault serve` and the fake OAuth
# server: health, metrics, orgs, credentials (lists and filters, PUT
# create/update with write-only secrets, GET, DELETE, refresh, token),
# the audit trail (cursor pages, filters, drift, revocations), API keys;
# and that every mutation is an event naming the key and the request id.
. "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
. "$(dirname "${BASH_SOURCE[0]}")/fake.sh"
. "$(dirname "${BASH_SOURCE[0]}")/api.sh"

RFC3339='^[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9]{2}:[0-9]{2}:[0-9]{2}Z$'
KEY_RE='^ov_[0-9a-f]{16}_[A-Za-z0-9_-]{43}$'
CS1=cs-basic-$RANDOM$RANDOM	# client secrets of the fake's clients
CS2=cs-basic-other-$RANDOM$RANDOM

fake_start
setup_vault
ADMIN=$(api_key admin admin)
READER=$(api_key reader reader)
TOKEN=$(api_key broker token)
expect_true "setup: three API keys" -- \
    bash -c "[[ '$ADMIN' =~ $KEY_RE && '$READER' =~ $KEY_RE && '$TOKEN' =~ $KEY_RE ]]"
serve_start main || exit 1

# Mutations made through the API: "request-id kind org credential";
# forced refreshes (POST …/refresh): "request-id org credential".
MUTS=()
REFRESHES=()
track() {	# track KIND [ORG [CRED]]: the last answer wrote this event
	MUTS+=("$(api_header X-Request-Id) $1 ${2:--} ${3:--}")
}

# cred_body CLIENT-ID SECRET [JQ-OBJECT]: a PUT body against the fake.
cred_body() {
	jq -cn --arg u "$FAKE_URL/oauth/token" --arg id "$1" --arg s "$2" \
	    --argjson e "${3:-{\}}" \
	    '{provider: "genesys", region: "us_east_1", token_url: $u,
	      client_id: $id, client_secret: $s, scope: "a b"} + $e'
}

# --- health ------------------------------------------------------------------
api GET /v1/health ""
expect_status "health: 200 without a key" 200
expect_header "health: JSON" Content-Type '^application/json'
expect_header "health: X-Request-Id is 16 hex" X-Request-Id '^[0-9a-f]{16}$'
expect_body_with "health: status ok, version, schema_version, database ok, scheduler alive" \
    '.status == "ok" and (.version | type) == "string" and (.version | length) > 0
     and (.schema_version | type) == "number" and .schema_version >= 1
     and .database == "ok" and .scheduler == "alive"'
expect_body_with "health: exactly those five fields" \
    '(keys | sort) == ["database", "scheduler", "schema_version", "status", "version"]'
RID1=$(api_header X-Request-Id)
api GET /v1/health ""
expect_false "every answer has its own request id" -- test "$RID1" = "$(api_header X-Request-Id)"

# --- orgs -------------------------------------------------------------------------
api POST /v1/orgs "$ADMIN" '{"slug":"acme","name":"Acme Corp","external_id":"ext-1"}'
expect_status "POST /v1/orgs: 201" 201
track org.created acme
RID=$(api_header X-Request-Id)
expect_true "the access log has the write with its request id and key name" -- \
    wait_until 3 grep -aEq "request id=$RID .*method=POST path=/v1/orgs status=201 .*key=admin" "$(serve_log main)"
expect_header "POST /v1/orgs: Location of the new org" Location '^/v1/orgs/acme$'
expect_body_with "POST /v1/orgs: the org" \
    '.slug == "acme" and .name == "Acme Corp" and .external_id == "ext-1" and .credentials == 0
     and (.created_at | test($re)) and (.updated_at | test($re))' --arg re "$RFC3339"
api POST /v1/orgs "$ADMIN" '{"slug":"beta"}'
expect_status "POST /v1/orgs with only a slug: 201" 201
track org.created beta
expect_body_with "the name defaults to the slug" '.slug == "beta" and .name == "beta" and .external_id == ""'
api POST /v1/orgs "$ADMIN" '{"slug":"empty","name":"Nothing here"}'
expect_status "POST /v1/orgs empty: 201" 201
track org.created empty
api GET /v1/orgs "$READER"
expect_status "GET /v1/orgs: 200" 200
expect_body_with "GET /v1/orgs: an array of the three orgs" \
    '.orgs | (type == "array" and (map(.slug) | sort) == ["acme", "beta", "empty"])'
api GET /v1/orgs/acme "$READER"
expect_status "GET /v1/orgs/acme: 200" 200
expect_body_with "GET /v1/orgs/acme: the org" '.slug == "acme" and .name == "Acme Corp" and .external_id == "ext-1"'
api PATCH /v1/orgs/acme "$ADMIN" '{"name":"Acme Corporation"}'
expect_status "PATCH /v1/orgs/acme: 200" 200
track org.updated acme
expect_body_with "PATCH: name changed, external_id kept" '.name == "Acme Corporation" and .external_id == "ext-1"'
api PATCH /v1/orgs/acme "$ADMIN" '{"external_id":"ext-2"}'
expect_status "PATCH external_id: 200" 200
track org.updated acme
api GET /v1/orgs/acme "$READER"
expect_body_with "GET after PATCH shows both changes" '.name == "Acme Corporation" and .external_id == "ext-2"'
run ov org show acme --json
expect_json "the CLI sees the API's change" '.name == "Acme Corporation" and .external_id == "ext-2"'

# --- credentials: PUT (create, update) -----------------------------------------------
fake_put c1 "$(jq -cn --arg s "$CS1" '{client_secret: $s, lifetime: 3600}')"
fake_put w1 "$(jq -cn --arg s "$CS1" '{client_secret: $s, lifetime: 3600}')"
fake_put sn1 "$(jq -cn --arg s "$CS2" '{client_secret: $s, lifetime: 3600}')"
api PUT /v1/orgs/acme/credentials/main "$ADMIN" "$(cred_body c1 "$CS1")"
expect_status "PUT a new credential: 201" 201
track credential.created acme main
expect_body_with "PUT: the credential" \
    '.org == "acme" and .name == "main" and .provider == "genesys" and .region == "us_east_1"
     and .client_id == "c1" and .expected_scope == "a b" and .status == "active"
     and .grant == "client_credentials" and (.created_at | test($re))' --arg re "$RFC3339"
expect_body_with "PUT: the answer has no client_secret or refresh_token key" \
    '[.. | objects | keys[]] | map(select(. == "client_secret" or . == "refresh_token")) | length == 0'
expect_false "PUT: the answer does not hold the secret" -- grep -aqF -- "$CS1" "$API_BODY"
api PUT /v1/orgs/acme/credentials/main "$ADMIN" '{"scope":"a b c"}'
expect_status "PUT an existing credential: 200" 200
track credential.updated acme main
expect_body_with "PUT update: only the given field changed" \
    '.expected_scope == "a b c" and .client_id == "c1" and .provider == "genesys"'
api PUT /v1/orgs/acme/credentials/main "$ADMIN" "$(jq -cn --arg s "$CS1" '{client_secret: $s, scope: "a b"}')"
expect_status "PUT update with a client_secret in the body: 200" 200
track credential.updated acme main
expect_false "PUT update: the answer does not hold the secret" -- grep -aqF -- "$CS1" "$API_BODY"
expect_body_with "PUT update: no secret keys" 'has("client_secret") == false and has("refresh_token") == false'
api PUT /v1/orgs/acme/credentials/west "$ADMIN" \
    "$(cred_body w1 "$CS1" '{"region":"us_west_2","refresh_at":"0.5"}')"
expect_status "PUT acme/west (us_west_2): 201" 201
track credential.created acme west
api PUT /v1/orgs/beta/credentials/sn "$ADMIN" "$(jq -cn --arg u "$FAKE_URL/oauth_token.do" --arg s "$CS2" \
    '{provider: "servicenow", instance: "x", token_url: $u, client_id: "sn1", client_secret: $s}')"
expect_status "PUT beta/sn (servicenow): 201" 201
track credential.created beta sn
expect_body_with "servicenow credential: provider servicenow, auth post" \
    '.provider == "servicenow" and .auth == "client_secret_post"'

# --- credentials: GET, lists, filters -------------------------------------------------------
api GET /v1/orgs/acme/credentials/main "$READER"
expect_status "GET a credential: 200" 200
expect_body_with "GET: the credential, with its times as RFC 3339 or null" \
    '.org == "acme" and .name == "main" and .expected_scope == "a b"
     and all(.created_at, .updated_at; test($re))
     and all(.expires_at, .next_refresh_at, .last_success_at, .last_attempt_at;
         . == null or test($re))' --arg re "$RFC3339"
expect_body_with "GET: no client_secret or refresh_token key" \
    '[.. | objects | keys[]] | map(select(. == "client_secret" or . == "refresh_token")) | length == 0'
expect_false "GET: the body does not hold the secret" -- grep -aqF -- "$CS1" "$API_BODY"
api GET /v1/orgs/acme/credentials "$READER"
expect_status "GET /v1/orgs/acme/credentials: 200" 200
expect_body_with "per org: acme's two credentials" 'type == "array" and (map(.name) | sort) == ["main", "west"]'
api GET /v1/credentials "$READER"
expect_status "GET /v1/credentials: 200" 200
expect_body_with "across orgs: all three" '.credentials | ((map(.org + "/" + .name) | sort) == ["acme/main", "acme/west", "beta/sn"])'
expect_false "the lists hold no secret" -- grep -aqF -e "$CS1" -e "$CS2" "$API_BODY"
api GET '/v1/credentials?org=beta' "$READER"
expect_body_with "?org=beta" '.credentials | (map(.org + "/" + .name) == ["beta/sn"])'
api GET '/v1/credentials?provider=servicenow' "$READER"
expect_body_with "?provider=servicenow" '.credentials | (map(.org + "/" + .name) == ["beta/sn"])'
api GET '/v1/credentials?provider=genesys&region=us_west_2' "$READER"
expect_body_with "?provider=genesys&region=us_west_2" '.credentials | (map(.org + "/" + .name) == ["acme/west"])'
api GET '/v1/credentials?region=us_east_1' "$READER"
expect_body_with "?region=us_east_1" '.credentials | (map(.org + "/" + .name) == ["acme/main"])'
api GET '/v1/credentials?status=active' "$READER"
expect_body_with "?status=active: all three" '.credentials | (length == 3)'
api GET '/v1/credentials?status=failing' "$READER"
expect_body_with "?status=failing: none" '.credentials | (. == [])'
api GET '/v1/credentials?org=acme&provider=servicenow' "$READER"
expect_body_with "filters combine (acme + servicenow: none)" '.credentials | (. == [])'
api GET /v1/orgs/acme "$READER"
expect_body_with "the org counts its credentials" '.credentials == 2'

# --- refresh and token -----------------------------------------------------------------------
t0=$(date +%s)
api POST /v1/orgs/acme/credentials/main/refresh "$ADMIN"
expect_status "POST refresh: 200" 200
REFRESHES+=("$(api_header X-Request-Id) acme main")
expect_body_with "POST refresh: {outcome: ok, credential}" \
    '.outcome == "ok" and .credential.org == "acme" and .credential.name == "main"
     and .credential.status == "active" and .credential.consecutive_failures == 0'
expect_body_with "POST refresh: the credential has a fresh expiry" \
    '(.credential.expires_at | fromdateiso8601) >= $t0 + 3590' --argjson t0 "$t0"
expect_body_with "POST refresh: the answer holds no secret" \
    'has("access_token") == false and (.credential | has("client_secret") == false)'
expect_true "POST refresh: the fake saw a request of c1 with its secret (status 200)" -- \
    jq -e 'length >= 1 and .[-1].status == 200 and .[-1].grant_type == "client_credentials"' \
    <<<"$(fake_requests c1)"
api GET /v1/orgs/acme/credentials/main/token "$TOKEN"
expect_status "GET token: 200" 200
expect_header "GET token: Cache-Control: no-store" Cache-Control 'no-store'
expect_header "GET token: JSON" Content-Type '^application/json'
N=$(fake_field c1 .access_tokens_issued)
expect_body_with "GET token: the access token the fake issued last" '.access_token == $t' --arg t "at-c1-$N"
expect_body_with "GET token: token_type, expires_at, expires_in, scope" \
    '.token_type == "Bearer" and (.expires_at | test($re)) and (.expires_in | type) == "number"
     and .expires_in > 3500 and .expires_in <= 3600 and .scope == "a b"
     and ((.expires_at | fromdateiso8601) - now - .expires_in | fabs) < 10' \
    --arg re "$RFC3339"
expect_body_with "GET token: exactly the five fields" \
    '(keys | sort) == ["access_token", "expires_at", "expires_in", "scope", "token_type"]'
nreq=$(fake_requests c1 | jq length)
api GET /v1/orgs/acme/credentials/main/token "$TOKEN"
expect_status "GET token again: 200" 200
expect_eq "a valid token is served from memory (no new request to the fake)" "$nreq" \
    "$(fake_requests c1 | jq length)"
run ov token acme main
expect_eq "the CLI's token is the broker's" "at-c1-$N" "$(cat "$OUT")"

# --- drift and revocations --------------------------------------------------------------------
fake_put dr1 "$(jq -cn --arg s "$CS1" '{client_secret: $s, scope: "a b admin"}')"
api PUT /v1/orgs/acme/credentials/drift "$ADMIN" "$(cred_body dr1 "$CS1")"
expect_status "PUT acme/drift: 201" 201
track credential.created acme drift
api POST /v1/orgs/acme/credentials/drift/refresh "$ADMIN"
REFRESHES+=("$(api_header X-Request-Id) acme drift")
expect_body_with "drift: refresh ok, granted 'a b admin'" \
    '.outcome == "ok" and .credential.granted_scope == "a b admin"'
api GET /v1/audit/drift "$READER"
expect_status "GET /v1/audit/drift: 200" 200
expect_body_with "drift: acme/drift with extra [admin], over-broad [admin], missing []" \
    'type == "array" and (map(select(.org == "acme" and .credential == "drift")) | length == 1
     and .[0].extra == ["admin"] and .[0].overbroad == ["admin"] and .[0].missing == [])'
expect_body_with "drift: nothing else drifts" 'length == 1'

fake_put rg1 "$(jq -cn --arg s "$CS1" '{client_secret: $s, refresh_token: "rt-seed-rg1", behaviour: "invalid_grant"}')"
api PUT /v1/orgs/beta/credentials/rg "$ADMIN" "$(jq -cn --arg u "$FAKE_URL/token" --arg s "$CS1" \
    '{provider: "oauth2", token_url: $u, client_id: "rg1", client_secret: $s,
      grant: "refresh_token", refresh_token: "rt-seed-rg1"}')"
expect_status "PUT beta/rg (refresh_token grant): 201" 201
track credential.created beta rg
expect_body_with "refresh grant: has_refresh_token, no refresh_token key" \
    '.grant == "refresh_token" and .has_refresh_token == true and has("refresh_token") == false'
expect_false "refresh grant: the answer does not hold the refresh token" -- grep -aqF rt-seed-rg1 "$API_BODY"
api POST /v1/orgs/beta/credentials/rg/refresh "$ADMIN"
REFRESHES+=("$(api_header X-Request-Id) beta rg")
expect_status "invalid_grant: POST refresh answers 200" 200
expect_body_with "invalid_grant: the credential is revoked" '.credential.status == "revoked"'
expect_body_with "invalid_grant: outcome revoked" '.outcome == "revoked"'
api GET /v1/audit/revocations "$READER"
expect_status "GET /v1/audit/revocations: 200" 200
expect_body_with "revocations: beta/rg, credential.revoked, invalid_grant, HTTP 400" \
    'type == "array" and (map(select(.org == "beta" and .credential == "rg")) | length >= 1
     and .[0].kind == "credential.revoked" and .[0].oauth_error == "invalid_grant"
     and .[0].http_status == 400)'
api GET '/v1/credentials?status=revoked' "$READER"
expect_body_with "?status=revoked: beta/rg" '.credentials | (map(.org + "/" + .name) == ["beta/rg"])'

# --- metrics ------------------------------------------------------------------------------------
api GET /metrics "$READER"
expect_status "GET /metrics: 200" 200
expect_header "metrics: Prometheus text" Content-Type '^text/plain'
M=$API_BODY
for series in 'orgvault_refreshes_total{outcome="ok"} [1-9]' \
    'orgvault_refresh_duration_seconds_bucket{le="\+Inf"} [1-9]' \
    'orgvault_credentials{status="active"} [0-9]' \
    'orgvault_credentials{status="revoked"} 1$' \
    'orgvault_earliest_expiry_seconds -?[0-9]+$' \
    'orgvault_credentials_in_drift [1-9]' \
    'orgvault_token_requests_total{status="200"} [1-9]' \
    'orgvault_http_requests_total{method="GET",route="/v1/orgs",status="200"} [1-9]' \
    'orgvault_http_requests_total{method="PUT",route="/v1/orgs/\{org\}/credentials/\{name\}",status="201"} [1-9]' \
    'process_resident_memory_bytes [1-9][0-9]{6,}$' 'process_max_fds [1-9]' \
    "$(on_pg && echo 'orgvault_sqlite_memory_bytes [0-9]+$' || echo 'orgvault_sqlite_memory_bytes [1-9][0-9]{4,}$')"; do
	expect_true "metrics: /^$series/" -- grep -Eq "^$series" "$M"
done
fds=$(awk '/^process_open_fds / { print $2 }' "$M")
now_fds=$(ls /proc/"$SERVE_PID"/fd | wc -l)
expect_true "metrics: process_open_fds ${fds:-none} is serve's count ($now_fds, +/- 3)" -- \
    test "${fds:-0}" -gt 0 -a "${fds:-0}" -ge $((now_fds - 3)) -a "${fds:-0}" -le $((now_fds + 3))
expect_true "metrics: every sample line is 'name{labels} number'" -- \
    bash -c "! grep -v '^#' '$M' | grep -Evq '^[a-z_]+(\{([a-z_]+=\"[^\"]*\",?)+\})? -?[0-9.e+]+$'"
expect_true "metrics: HELP and TYPE for each family" -- \
    test "$(grep -c '^# TYPE ' "$M")" -ge 10

# --- re-authorizing a revoked credential ----------------------------------------------------------
api GET /v1/orgs/beta/credentials/rg/token "$TOKEN"
expect_problem "token of the revoked beta/rg: 409 credential-revoked" 409 credential-revoked
fake_patch rg1 '{"behaviour":"ok","refresh_token":"rt-reauth-rg1"}'
api PUT /v1/orgs/beta/credentials/rg "$ADMIN" '{"refresh_token":"rt-reauth-rg1"}'
expect_status "re-authorize beta/rg (PUT a new refresh token): 200" 200
track credential.updated beta rg
expect_body_with "re-authorized: status active again" '.status == "active"'
api GET /v1/orgs/beta/credentials/rg/token "$TOKEN"
expect_status "token of the re-authorized beta/rg: 200 (the broker forgot the revocation)" 200
N=$(fake_field rg1 .access_tokens_issued)
expect_body_with "it is the token the fake just issued" '.access_token == $t' --arg t "at-rg1-$N"

# --- audit events ---------------------------------------------------------------------------------
api GET /v1/audit/events "$READER"
expect_status "GET /v1/audit/events: 200" 200
expect_body_with "events: {events: [...], next_cursor}" \
    '(.events | type) == "array" and has("next_cursor") and (.events | length) >= 10'
expect_body_with "events: newest first (ids strictly decreasing)" \
    '[.events[].id] as $i | $i == ($i | sort | reverse) and ($i | unique | length) == ($i | length)'
expect_body_with "events: each has id, time (RFC 3339), actor, org, credential, kind, detail" \
    'all(.events[]; (.id | type) == "number" and (.time | test("^[0-9-]{10}T[0-9:]{8}(\\.[0-9]+)?Z$"))
     and (.actor | type) == "string" and has("org") and has("credential")
     and (.kind | type) == "string" and (.detail | type) == "object")'
expect_body_with "events: fewer than the default limit, so next_cursor is null" '.next_cursor == null'
TOTAL=$(api_jq '.events | length')
NEWEST=$(api_jq '.events[0].id')
api GET '/v1/audit/events?limit=2' "$READER"
expect_body_with "?limit=2: two events and a next_cursor" \
    '(.events | length) == 2 and .next_cursor != null and .events[0].id == ($n | tonumber)' --arg n "$NEWEST"
CUR=$(api_jq .next_cursor)
LAST=$(api_jq '.events[1].id')
api GET "/v1/audit/events?limit=2&cursor=$CUR" "$READER"
expect_status "?cursor=: 200" 200
expect_body_with "?cursor= continues with older ids" \
    '(.events | length) == 2 and all(.events[]; .id < ($l | tonumber)) and .events[0].id == ($l | tonumber) - 1' \
    --arg l "$LAST"
# Walk every page of 3: the same events, each once, in order.
: >"$TMP/misc/walk"
cur=
for ((i = 0; i < 100; i++)); do
	api GET "/v1/audit/events?limit=3${cur:+&cursor=$cur}" "$READER"
	api_jq '.events[].id' >>"$TMP/misc/walk"
	cur=$(api_jq .next_cursor)
	[ "$cur" = null ] && break
done
expect_eq "paging by 3 walks every event once" "$TOTAL" "$(sort -u "$TMP/misc/walk" | wc -l | tr -d ' ')"
expect_true "paging by 3: in decreasing order" -- bash -c "sort -nr -c '$TMP/misc/walk'"
api GET '/v1/audit/events?kind=org.created' "$READER"
expect_body_with "?kind=org.created: the three orgs, newest first" \
    'all(.events[]; .kind == "org.created") and (.events | map(.org)) == ["empty", "beta", "acme"]'
api GET '/v1/audit/events?org=beta&credential=rg' "$READER"
expect_body_with "?org=beta&credential=rg: only its events" \
    '(.events | length) >= 2 and all(.events[]; .org == "beta" and .credential == "rg")'

# since / until: events before and after a second boundary.
api POST /v1/orgs "$ADMIN" '{"slug":"before"}'
track org.created before
s0=$(date +%s)
while [ "$(date +%s)" = "$s0" ]; do sleep 0.05; done
T=$(date -u -d "@$((s0 + 1))" +%Y-%m-%dT%H:%M:%SZ)
api POST /v1/orgs "$ADMIN" '{"slug":"after"}'
track org.created after
api GET "/v1/audit/events?kind=org.created&since=$T" "$READER"
expect_status "?since=RFC 3339: 200" 200
expect_body_with "?since: only the org created after it" '(.events | map(.org)) == ["after"]'
api GET "/v1/audit/events?kind=org.created&until=$T" "$READER"
expect_body_with "?until: the orgs created before it" '(.events | map(.org)) == ["before", "empty", "beta", "acme"]'
api GET "/v1/audit/events?kind=org.created&since=$(date -u -d "@$((s0 - 3600))" +%Y-%m-%dT%H:%M:%S)%2B00:00&until=$T" "$READER"
expect_body_with "?since with a +00:00 offset and ?until together" \
    '(.events | map(.org)) == ["before", "empty", "beta", "acme"]'

# --- deletes ---------------------------------------------------------------------------------------
api GET /v1/orgs/beta/credentials/sn/token "$TOKEN"
expect_status "token of beta/sn before its org is deleted: 200" 200
api GET /v1/orgs/acme/credentials/main/token "$TOKEN"
expect_status "token of acme/main before it is deleted: 200" 200
OLD_AT=$(api_jq .access_token)
api DELETE /v1/orgs/acme/credentials/main "$ADMIN"
expect_status "DELETE acme/main: 204" 204
track credential.deleted acme main
api GET /v1/orgs/acme/credentials/main/token "$TOKEN"
expect_problem "the broker does not serve the token of a deleted credential: 404" 404 not-found
api PUT /v1/orgs/acme/credentials/main "$ADMIN" "$(cred_body c1 "$CS1")"
expect_status "PUT acme/main again (same name, new credential): 201" 201
track credential.created acme main
api GET /v1/orgs/acme/credentials/main/token "$TOKEN"
expect_status "token of the re-created acme/main: 200" 200
expect_body_with "it is a new token, not the deleted credential's" \
    '.access_token != $old and (.access_token | startswith("at-c1-"))' --arg old "$OLD_AT"
api DELETE /v1/orgs/acme/credentials/west "$ADMIN"
expect_status "DELETE a credential: 204" 204
track credential.deleted acme west
expect_eq "DELETE: empty body" 0 "$(size_of "$API_BODY")"
api GET /v1/orgs/acme/credentials/west "$READER"
expect_problem "GET after DELETE: 404" 404 not-found
api DELETE /v1/orgs/empty "$ADMIN"
expect_status "DELETE an org without credentials: 204" 204
track org.deleted empty
api GET /v1/orgs/empty "$READER"
expect_problem "GET a deleted org: 404" 404 not-found
api DELETE /v1/orgs/beta "$ADMIN"
expect_problem "DELETE an org with credentials: 409" 409 conflict
api GET /v1/orgs/beta "$READER"
expect_status "the org is still there" 200
api DELETE '/v1/orgs/beta?force=true' "$ADMIN"
expect_status "DELETE ?force=true: 204" 204
track org.deleted beta
api GET /v1/orgs/beta/credentials/sn "$READER"
expect_problem "its credentials are gone: 404" 404 not-found
api GET '/v1/credentials?org=beta' "$READER"
expect_body_with "no credential of beta listed" '.credentials | (. == [])'
api GET /v1/orgs/beta/credentials/sn/token "$TOKEN"
expect_problem "the broker does not serve a token of a deleted org: 404" 404 not-found

# --- API keys ------------------------------------------------------------------------------------
api GET /v1/apikeys "$ADMIN"
expect_status "GET /v1/apikeys: 200" 200
expect_body_with "apikeys: the three keys, never a secret" \
    '(map(.name) | sort) == ["admin", "broker", "reader"]
     and all(.[]; has("key") == false and has("secret_hash") == false and (.key_id | test("^[0-9a-f]{16}$")))'
for k in "$ADMIN" "$READER" "$TOKEN"; do
	expect_false "apikeys list does not hold key ${k:3:16}'s secret" -- grep -aqF -- "${k:20}" "$API_BODY"
done
api POST /v1/apikeys "$ADMIN" '{"name":"ci","role":"reader","orgs":"acme"}'
expect_status "POST /v1/apikeys: 201" 201
track apikey.created
expect_header "POST /v1/apikeys: Cache-Control: no-store" Cache-Control 'no-store'
expect_body_with "POST /v1/apikeys: name, role, orgs, key" \
    '.name == "ci" and .role == "reader" and .orgs == "acme" and (.key | test($re)) and .key[3:19] == .key_id' \
    --arg re "$KEY_RE"
CI=$(api_jq .key)
api GET /v1/orgs "$CI"
expect_status "the new key works at once" 200
expect_body_with "the new key sees its org only" '.orgs | (map(.slug) == ["acme"])'
api GET /v1/apikeys "$ADMIN"
expect_body_with "apikeys: ci listed, without its key" \
    'map(select(.name == "ci")) | length == 1 and (.[0] | has("key") | not)'
expect_false "apikeys list does not hold ci's secret" -- grep -aqF -- "${CI:20}" "$API_BODY"
run ov apikey list --json
expect_json "the CLI lists the key made by the API" 'map(select(.name == "ci")) | .[0].role == "reader"'
api DELETE /v1/apikeys/ci "$ADMIN"
expect_status "DELETE /v1/apikeys/ci: 204" 204
track apikey.revoked
api GET /v1/orgs "$CI"
expect_problem "the revoked key is refused at once: 401" 401 unauthorized
run ov apikey revoke reader
expect_eq "CLI: revoke the reader key while serve runs" 0 "$RC"
gone() {
	api GET /v1/orgs "$READER"
	[ "$API_CODE" = 401 ]
}
expect_true "a key revoked by the CLI is refused within 2 s" -- wait_until 2 gone
READER=$(api_key reader reader)
api GET /v1/orgs "$READER"
expect_status "the name of a revoked key can be reused; the new key works" 200
api GET /v1/apikeys "$ADMIN"
expect_body_with "the revoked key stays listed as revoked" \
    'map(select(.name == "ci")) | .[0].revoked == true and (.[0].revoked_at | test($re))' --arg re "$RFC3339"

# --- the scheduler hears of API changes ----------------------------------------------------------
# README (Rotation): a new credential is refreshed at once.  Nothing but
# the scheduler may refresh these (no token request, no POST refresh):
# each round creates one and waits up to 3 s for its first refresh.
api POST /v1/orgs "$ADMIN" '{"slug":"wake"}'
track org.created wake
missed=
for i in 1 2 3 4 5 6; do
	fake_put "wk$i" "$(jq -cn --arg s "$CS1" '{client_secret: $s}')"
	api PUT "/v1/orgs/wake/credentials/w$i" "$ADMIN" "$(cred_body "wk$i" "$CS1")"
	track credential.created wake "w$i"
	t0=$(now_ms)
	if ! wait_until 3 bash -c "[ \"\$(curl -s '$FAKE_URL/_admin/clients/wk$i' | jq .access_tokens_issued)\" -ge 1 ]"; then
		missed="w$i (created $(($(now_ms) - t0)) ms ago, $(fake_requests "wk$i" | jq length) request(s) at the fake)"
		break
	fi
done
if [ -z "$missed" ]; then
	pass "six credentials created through the API were each refreshed at once by the scheduler"
else
	fail "six credentials created through the API were each refreshed at once by the scheduler" \
	    "not refreshed within 3 s: wake/$missed"
fi

# --- every mutation is an event naming the key and the request --------------------------------------
run events_json
EVENTS=$OUT
for m in "${MUTS[@]}"; do
	read -r rid kind org cred <<<"$m"
	[ "$org" = - ] && org=
	[ "$cred" = - ] && cred=
	expect_true "event of request $rid: one $kind, actor api:admin, ${org:-no org}${cred:+/$cred}" -- \
	    jq -e --arg r "$rid" --arg k "$kind" --arg o "$org" --arg c "$cred" \
	    '[.[] | select(.detail.request_id == $r and .kind == $k)] | length == 1
	     and .[0].actor == "api:admin" and ($o == "" or .[0].org == $o)
	     and ($c == "" or .[0].credential == $c)' "$EVENTS"
done
rids=()
for m in "${MUTS[@]}" "${REFRESHES[@]}"; do
	rids+=("${m%% *}")
done
expect_true "no event names a request id other than a mutation's or a refresh's" -- \
    jq -e --argjson ok "$(printf '%s\n' "${rids[@]}" | jq -R . | jq -s .)" \
    '[.[] | select(.detail.request_id != null and (.detail.request_id as $r | $ok | index($r) | not))] == []' \
    "$EVENTS"
# A forced refresh (an operator's POST) is a mutation too: its outcome
# event should name the caller like any other (README: every mutation).
missing=
for m in "${REFRESHES[@]}"; do
	read -r rid org cred <<<"$m"
	jq -e --arg r "$rid" --arg o "$org" --arg c "$cred" \
	    'map(select(.org == $o and .credential == $c and .detail.request_id == $r
	        and .actor == "api:admin" and (.kind == "refresh.ok" or .kind == "credential.revoked")))
	     | length == 1' "$EVENTS" >/dev/null ||
	    missing="$missing $org/$cred(request $rid: $(jq -c --arg o "$org" --arg c "$cred" \
	    '[.[] | select(.org == $o and .credential == $c and (.kind == "refresh.ok" or .kind == "credential.revoked"))] | "actors \(map(.actor) | unique), request ids \(map(.detail.request_id) | unique)"' "$EVENTS"))"
done
expect_eq "each POST refresh (${#REFRESHES[@]}): its outcome event has actor api:admin and the request_id" "" "$missing"

# --- stop ---------------------------------------------------------------------------------------------
serve_stop "$SERVE_PID" 20
expect_eq "serve exits 0 on SIGTERM" 0 "$SERVE_RC"
expect_clean_log "serve log: no crash or sanitizer report" "$(serve_log main)"
expect_ok "check: the vault is whole after the API run" -- ov check

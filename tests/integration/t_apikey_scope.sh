#!/usr/bin/env bash
# t_apikey_scope.sh — narrower API keys against a real `orgvault serve`
# and the fake OAuth server: a token (or operator, reader) key limited
# with --credentials gets 403 for the other credentials of its org (an
# admin-scoped credential included) and sees only its own in lists,
# events and metrics; --expires-in makes a key answer 401 key-expired
# once the time is past (the API and the CLI show expires_at, expired);
# keys name orgs by id: a key does not cover a new org that takes a
# removed org's slug, and one whose last org is removed is revoked.
# The same through POST /v1/apikeys.  (Issue 11, finding 10: on the
# previous main a token key of an org fetched every credential of it.)
. "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
. "$(dirname "${BASH_SOURCE[0]}")/fake.sh"
. "$(dirname "${BASH_SOURCE[0]}")/api.sh"

fake_start
setup_vault
SECRET=scope-secret-1
S=$TMP/secret
secret_file "$S" "$SECRET"
expect_ok "setup: org acme" -- ov org add acme
expect_ok "setup: org beta" -- ov org add beta

# mk ORG NAME SCOPE: the credential ORG/NAME on the fake, client ORG-NAME.
mk() {
	fake_put "$1-$2" "$(jq -cn --arg s "$SECRET" --arg sc "$3" \
	    '{client_secret: $s, lifetime: 3600, scope: $sc}')" || return 1
	expect_ok "setup: cred put $1/$2" -- ov cred put "$1" "$2" --provider genesys \
	    --token-url "$FAKE_URL/oauth/token" --client-id "$1-$2" \
	    --secret-file "$S" --scope "$3"
}
mk acme flows "conversations"
mk acme admin "oauth:client:edit"
mk beta flows "conversations"

ALL=$(api_key all token acme)		# the org, every credential
expect_ok "create a token key limited to acme/flows, 90 days" -- \
    ov apikey create flows --role token --orgs acme --credentials flows --expires-in 90d --json
FLOWS=$(jq -r .key "$OUT")
expect_json "create --json: credentials and expires_at" \
    '.credentials == "flows" and .orgs == "acme" and .expired == false and
     ((.expires_at | fromdateiso8601) - (.created_at | fromdateiso8601)) == 7776000'
expect_ok "create an operator key limited to flows" -- \
    ov apikey create ops --role operator --orgs acme,beta --credentials flows
OPS=$(cat "$OUT")
expect_ok "create a reader key limited to flows" -- \
    ov apikey create rdr --role reader --credentials flows
RDR=$(cat "$OUT")
READER=$(api_key reader reader)
expect_true "setup: keys made" -- test -n "$ALL" -a -n "$FLOWS" -a -n "$OPS" -a -n "$RDR" -a -n "$READER"
serve_start main || exit 1
wait_until 20 sh -c "'$ORGVAULT' --data-dir '$DIR' cred list --json | jq -e 'map(select(.health == \"ok\")) | length == 3' >/dev/null"

T=/v1/orgs/acme/credentials
# --- the finding: an org's token key fetched its admin credential -------------------------
api GET "$T/admin/token" "$ALL"
expect_status "control: a key for all of acme fetches acme/admin's token" 200
api GET "$T/flows/token" "$FLOWS"
expect_status "the flows key fetches acme/flows" 200
expect_body "... a token of the fake" '.access_token | startswith("at-acme-flows-")'
api GET "$T/admin/token" "$FLOWS"
expect_problem "the flows key: acme/admin's token is 403" 403 forbidden
expect_body "... naming what the key is limited to" '.detail | contains("limited to the credentials flows")'
api GET "$T/nosuch/token" "$FLOWS"
expect_problem "the flows key: a credential that does not exist is 403 too" 403 forbidden
api GET /v1/orgs/beta/credentials/flows/token "$FLOWS"
expect_problem "the flows key: beta/flows (another org) stays 404" 404 not-found

# --- an operator key limited to flows --------------------------------------------------
api POST "$T/flows/refresh" "$OPS"
expect_true "operator key: refresh of acme/flows is taken ($API_CODE)" -- test "$API_CODE" = 200 -o "$API_CODE" = 202
api POST "$T/admin/refresh" "$OPS"
expect_problem "operator key: refresh of acme/admin is 403" 403 forbidden
api DELETE "$T/admin" "$OPS"
expect_problem "operator key: delete of acme/admin is 403" 403 forbidden
api PUT "$T/newcred" "$OPS" "$(jq -cn --arg u "$FAKE_URL/oauth/token" \
    '{provider: "genesys", token_url: $u, client_id: "x", client_secret: "y"}')"
expect_problem "operator key: put of a credential it does not name is 403" 403 forbidden
api GET "$T/admin" "$OPS"
expect_problem "operator key: show acme/admin is 403" 403 forbidden
api GET "$T/flows" "$OPS"
expect_status "operator key: show acme/flows" 200

# --- lists, events, metrics ------------------------------------------------------------
api GET /v1/credentials "$RDR"
expect_status "reader key: /v1/credentials" 200
expect_body "... lists only the flows credentials (of both orgs)" \
    '[.credentials[] | "\(.org)/\(.name)"] == ["acme/flows", "beta/flows"]'
api GET /v1/credentials "$READER"
expect_body "control: an unlimited reader sees three" '.credentials | length == 3'
api GET "$T" "$RDR"
expect_body "reader key: acme's list has flows only" '[.[] | .name] == ["flows"]'
api GET /v1/audit/events "$RDR"
expect_status "reader key: audit events" 200
expect_body "... none about acme/admin, some about flows" \
    '([.events[] | select(.credential == "admin")] | length) == 0 and
     ([.events[] | select(.credential == "flows")] | length) > 0'
expect_body "... and no event of no org (API keys' own events name other keys' credentials)" \
    '[.events[] | select(.org == "")] | length == 0'
api GET "/v1/audit/events?credential=admin" "$RDR"
expect_body "reader key: ?credential=admin finds nothing" '.events == []'
api GET /v1/audit/events "$READER"
expect_body "control: an unlimited reader sees acme/admin's events" \
    '[.events[] | select(.credential == "admin")] | length > 0'
expect_body "control: ... and the API keys' events" \
    '[.events[] | select(.kind == "apikey.created")] | length > 0'
api GET /metrics "$RDR"
expect_true "reader key: /metrics counts 2 credentials" -- \
    test "$(awk '/^orgvault_credentials\{health=/ { n += $2 } END { print n + 0 }' "$API_BODY")" = 2
api GET /metrics "$READER"
expect_true "control: an unlimited reader's /metrics counts 3" -- \
    test "$(awk '/^orgvault_credentials\{health=/ { n += $2 } END { print n + 0 }' "$API_BODY")" = 3

# --- expiry ------------------------------------------------------------------------------
expect_ok "a key that expires in 3 s" -- ov apikey create brief --role token --orgs acme --expires-in 3s --json
BRIEF=$(jq -r .key "$OUT")
BRIEF_AT=$(jq -r '.expires_at | fromdateiso8601' "$OUT")
api GET "$T/flows/token" "$BRIEF"
expect_status "before its expiry it works" 200
# Asked every 0.1 s across its expiry: a key verified less than a second
# before it (and so remembered) must not be served after it.
late=0 first=
while :; do
	t0=$(date +%s.%N)
	api GET "$T/flows/token" "$BRIEF"
	if [ "$API_CODE" = 200 ]; then
		awk -v t="$t0" -v e="$BRIEF_AT" 'BEGIN { exit !(t >= e) }' && late=$((late + 1))
	else
		first=$API_CODE
		break
	fi
	awk -v t="$t0" -v e="$BRIEF_AT" 'BEGIN { exit !(t < e + 3) }' || break
	sleep 0.1
done
expect_eq "no 200 for a request sent after its expiry (the verified-key cache is not trusted)" 0 "$late"
expect_problem "at its expiry: 401 key-expired" 401 key-expired
expect_body "... the detail says when it expired" '.detail | contains("expired at")'
expect_true "... no Retry-After on a 401" -- test -z "$(api_header Retry-After)"
last=${BRIEF: -1}
api GET "$T/flows/token" "${BRIEF%?}$([ "$last" = x ] && echo y || echo x)"
expect_problem "a wrong secret with that key id stays plain 401" 401 unauthorized
expect_ok "apikey list --json" -- ov apikey list --json
expect_json "list: brief is expired, flows is not" \
    '(.[] | select(.name == "brief") | .expired == true and .revoked == false) and
     (.[] | select(.name == "flows") | .expired == false and (.expires_at | type) == "string")'
expect_ok "apikey list (text)" -- ov apikey list
expect_true "text list: CREDENTIALS and EXPIRES columns" -- \
    grep -Eq '^flows +token +acme +flows +[0-9a-f]{16} +[0-9T:Z-]+ +[0-9T:Z-]+ ' "$OUT"

# --- the same through the API --------------------------------------------------------------
ADMIN=$(api_key adm admin)
api POST /v1/apikeys "$ADMIN" '{"name":"api-flows","role":"token","orgs":"acme","credentials":"flows","expires_in":"90d"}'
expect_status "POST /v1/apikeys with credentials and expires_in" 201
expect_body "... answers them" '.credentials == "flows" and (.expires_at | type) == "string" and .expired == false'
APIK=$(jq -r .key "$API_BODY")
api GET "$T/admin/token" "$APIK"
expect_problem "... and the key is limited" 403 forbidden
api POST /v1/apikeys "$ADMIN" '{"name":"x1","role":"token","expires_in":"soon"}'
expect_problem "a bad expires_in is 422" 422 validation
expect_body "... naming the field" '.field == "expires_in"'
api POST /v1/apikeys "$ADMIN" '{"name":"x2","role":"admin","credentials":"flows"}'
expect_problem "credentials on an admin key is 422" 422 validation
api POST /v1/apikeys "$ADMIN" '{"name":"x3","role":"reader","orgs":"ghost"}'
expect_problem "an org that does not exist is 422" 422 validation
expect_body "... naming it" '.detail | contains("ghost")'
api GET /v1/apikeys "$ADMIN"
expect_body "GET /v1/apikeys shows credentials and expires_at" \
    'all(.[]; has("credentials") and has("expires_at") and has("expired")) and
     [.[] | select(.name == "x1" or .name == "x2" or .name == "x3")] == []'

# --- orgs by id --------------------------------------------------------------------------------
# beta/bad: a secret the fake refuses, so the ledger has a beta event.
fake_put beta-bad '{"client_secret":"not-the-one-orgvault-has"}'
expect_ok "setup: cred put beta/bad" -- ov cred put beta bad --provider genesys \
    --token-url "$FAKE_URL/oauth/token" --client-id beta-bad --secret-file "$S"
run ov cred refresh beta bad
api GET /v1/audit/revocations "$ADMIN"
expect_body "setup: the ledger holds beta/bad's invalid_client" \
    '[.[] | select(.org == "beta" and .credential == "bad")] | length > 0'
expect_ok "a reader key for beta only" -- ov apikey create beta-only --role reader --orgs beta
BONLY=$(cat "$OUT")
expect_ok "a reader key for acme and beta" -- ov apikey create both --role reader --orgs acme,beta
BOTH=$(cat "$OUT")
api GET /v1/orgs/beta "$BONLY"
expect_status "beta-only sees beta" 200
api DELETE "/v1/orgs/beta?force=true" "$ADMIN"
expect_status "remove org beta (with its credential)" 204
api GET /v1/orgs "$BONLY"
expect_problem "beta-only was revoked with its last org: 401" 401 unauthorized
expect_ok "audit: its revocation" -- ov audit events --kind apikey.revoked --json
expect_json "... says why" '[.[] | select(.detail.name == "beta-only") | .detail.reason] == ["its orgs were removed"]'
api POST /v1/orgs "$ADMIN" '{"slug":"beta","name":"Another Beta"}'
expect_status "a new org takes the slug beta" 201
api GET /v1/orgs/beta "$BOTH"
expect_problem "the acme,beta key does not cover the new beta: 404" 404 not-found
api GET /v1/orgs/acme "$BOTH"
expect_status "... and still sees acme" 200
expect_ok "a reader key for the new beta" -- ov apikey create new-beta --role reader --orgs beta
NEWB=$(cat "$OUT")
api GET /v1/audit/revocations "$NEWB"
expect_status "the new beta's key reads the revocation ledger" 200
expect_body "... without the removed beta's events" '[.[] | select(.org == "beta")] == []'
api GET /v1/audit/events "$NEWB"
expect_body "... nor in the audit events" '[.events[] | select(.credential == "bad")] == []'
api GET /v1/audit/revocations "$ADMIN"
expect_body "control: an admin key still sees them" '[.[] | select(.org == "beta" and .credential == "bad")] | length > 0'
api GET /v1/orgs/beta "$BONLY"
expect_problem "the revoked beta-only key stays refused" 401 unauthorized
expect_ok "apikey list --json" -- ov apikey list --json
expect_json "list: both shows acme only now; beta-only revoked" \
    '(.[] | select(.name == "both") | .orgs == "acme") and
     (.[] | select(.name == "beta-only") | .revoked == true)'
expect_ok "check passes" -- ov check

serve_stop "$SERVE_PID"
expect_clean_log "serve log: no crash or sanitizer report" "$(serve_log main)"

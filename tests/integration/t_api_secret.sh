#!/usr/bin/env bash
# t_api_secret.sh — client-secret rotation through the admin API
# (stage, test, promote, roll back, discard) and the scheduler's switch
# to a staged secret when the current one is refused (invalid_client):
# the pending secret is tried once and promoted in the same transaction
# as the new token.
. "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
. "$(dirname "${BASH_SOURCE[0]}")/fake.sh"
. "$(dirname "${BASH_SOURCE[0]}")/api.sh"

rnd() { head -c 8 /dev/urandom | od -An -tx1 | tr -d ' \n'; }
S1=CANARY-api-s1-$(rnd)
S2=CANARY-api-s2-$(rnd)
S3=CANARY-api-s3-$(rnd)
P=/v1/orgs/acme/credentials/cc

# expect_within NAME SECONDS -- CMD...: CMD succeeds within SECONDS.
expect_within() {
	local name=$1 t=$2
	shift 2
	[ "${1:-}" = -- ] && shift
	if wait_until "$t" "$@"; then
		pass "$name"
	else
		fail "$name" "not within $t s: $*"
	fi
}

fake_start
setup_vault
expect_ok "setup: org acme" -- ov org add acme
fake_put cc "{\"client_secret\":\"$S1\",\"lifetime\":3600}" || exit 1
OPER=$(api_key oper operator)
READER=$(api_key reader reader)
TOKEN=$(api_key tok token)
serve_start main || exit 1

api PUT "$P" "$OPER" "{\"provider\":\"oauth2\",\"token_url\":\"$FAKE_URL/token\",\"client_id\":\"cc\",\"client_secret\":\"$S1\"}"
expect_status "setup: PUT acme/cc with S1" 201
expect_within "setup: the first token" 10 -- sh -c "[ \"\$(curl -s -H 'Authorization: Bearer $TOKEN' $SERVE_URL$P/token | jq -r .access_token)\" = at-cc-1 ]"

# --- stage, test --------------------------------------------------------------------
api PUT "$P/secret/pending" "$READER" "{\"client_secret\":\"$S2\"}"
expect_problem "a reader cannot stage" 403 forbidden
api PUT "$P/secret/pending" "$OPER" '{"client_secret":""}'
expect_problem "an empty secret: 422 naming it" 422 validation
expect_body "the 422 names client_secret" '.field == "client_secret"'
api PUT "$P/secret/pending" "$OPER" '{"secret":"x"}'
expect_problem "an unknown field: 422" 422 validation
api POST "$P/secret/test" "$OPER"
expect_problem "test with nothing staged: 409" 409 conflict
api PUT "$P/secret/pending" "$OPER" "{\"client_secret\":\"$S2\"}"
expect_status "stage S2: 200" 200
expect_body "stage S2: has_pending_secret" '.has_pending_secret == true and (has("client_secret") | not)'
api POST "$P/secret/test" "$OPER"
expect_problem "test while the provider still wants S1: 422" 422 secret-test-failed
expect_body "the failed test names invalid_client" '.detail | test("invalid_client")'
fake_patch cc "{\"client_secret\":\"$S2\"}" || exit 1
api POST "$P/secret/test" "$OPER"
expect_status "test after the provider switched: 200" 200
expect_body "the test works" '.works == true'
api GET "$P/token" "$TOKEN"
expect_body "the tests left the current token alone" '.access_token == "at-cc-1"'
api GET "$P" "$OPER"
expect_body "the tests recorded nothing: still pending" '.has_pending_secret == true'

# --- promote, rollback, discard ---------------------------------------------------------
api POST "$P/secret/promote" "$OPER"
expect_status "promote: 200" 200
expect_body "promote: nothing pending now" '.has_pending_secret == false'
expect_within "after promote, a refresh with S2 succeeds" 10 -- \
    sh -c "[ \"\$(curl -s -H 'Authorization: Bearer $OPER' $SERVE_URL$P | jq -r '.status + \" \" + (.last_success_at // \"\")')\" != 'active ' ] && curl -s -H 'Authorization: Bearer $TOKEN' $SERVE_URL$P/token | jq -e '.access_token != \"at-cc-1\"' >/dev/null"
api POST "$P/secret/promote" "$OPER"
expect_problem "promote with nothing pending: 404" 404 not-found
api POST "$P/secret/rollback" "$OPER"
expect_status "rollback: 200" 200
expect_within "after rollback, S1 is refused: invalid_client" 10 -- \
    sh -c "curl -s -H 'Authorization: Bearer $OPER' $SERVE_URL$P | jq -e '.status == \"invalid_client\"' >/dev/null"
api PUT "$P/secret/pending" "$OPER" "{\"client_secret\":\"$S3\"}"
expect_status "stage S3" 200
api DELETE "$P/secret/pending" "$OPER"
expect_status "discard: 200" 200
expect_body "discard: nothing pending" '.has_pending_secret == false'
api DELETE "$P/secret/pending" "$OPER"
expect_problem "discard again: 404" 404 not-found

# --- the scheduler switches to a staged secret on invalid_client --------------------------
fake_patch cc "{\"client_secret\":\"$S3\"}" || exit 1
api PUT "$P/secret/pending" "$OPER" "{\"client_secret\":\"$S3\"}"
expect_status "stage S3 while S1 is current and refused" 200
api POST "$P/refresh" "$OPER"
expect_status "refresh: 200" 200
expect_body "refresh: the pending secret worked" '.outcome == "ok" and .credential.status == "active" and .credential.has_pending_secret == false'
run events_json --credential cc
expect_json "a secret.promoted event in the operator's name" \
    'map(select(.kind == "secret.promoted")) | length >= 2 and (.[0].actor == "api:oper")'
expect_json "the refresh event says the pending secret was tried" \
    'map(select(.kind == "refresh.ok"))[0].detail.pending_secret_tried == true'
LAST2=$(fake_requests cc | jq -c '.[-2:] | map(.status)')
expect_eq "the fake saw S1 refused, then S3 accepted" "[401,200]" "$LAST2"
api GET "$P/token" "$TOKEN"
expect_status "the token broker serves the new token" 200

# --- no secret anywhere ---------------------------------------------------------------
serve_stop "$SERVE_PID"
expect_eq "serve exits 0" 0 "$SERVE_RC"
for s in "$S1" "$S2" "$S3"; do
	expect_false "no answer, header or log holds ${s:0:14}..." -- \
	    grep -rqaF -- "$s" "$CAP" "$(serve_log main)"
	expect_false "the database files hold no ${s:0:14}..." -- \
	    sh -c "cat '$DIR'/orgvault.db* | grep -qaF -- '$s'"
done

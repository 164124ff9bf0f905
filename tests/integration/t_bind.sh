#!/usr/bin/env bash
# t_bind.sh — a secret goes only where it was given for (issue 10,
# findings 1 and 2; README "What a secret is bound to").
#
# A second fake OAuth server plays the attacker's endpoint: it must never
# receive a request.  Through the API (an operator key limited to the
# org, and an admin key) and the CLI, a change of token URL, client id,
# auth method or grant without the secrets is refused (422
# secret-required / exit 1), and nothing is sent.  With the current
# client secret the credential moves and its refresh token follows
# (presented once, never stale).  An edit of the same columns in the
# SQLite file (serve running) makes the credential `tampered`: nothing is
# sent, the broker answers 409, `check` exits 4 naming it, and only new
# secrets put by an operator bring it back.
. "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
. "$(dirname "${BASH_SOURCE[0]}")/fake.sh"
. "$(dirname "${BASH_SOURCE[0]}")/api.sh"

SECRET=cs-bind-$RANDOM$RANDOM
S=$TMP/secret
secret_file "$S" "$SECRET"
secret_file "$TMP/wrong" "another-secret-$RANDOM"

fake_start evil
EVIL=$FAKE_URL
fake_start main
MAIN=$FAKE_URL
setup_vault
expect_ok "setup: org acme" -- ov org add acme
expect_ok "setup: org other" -- ov org add other

# mk ORG NAME FAKE-FIELDS [cred put options]
mk() {
	local org=$1 name=$2 extra=$3
	shift 3
	fake_put "$org-$name" "$(jq -cn --arg s "$SECRET" --argjson e "{$extra}" \
	    '{client_secret: $s, lifetime: 3600} + $e')" || return 1
	run ov cred put "$org" "$name" --provider oauth2 --token-url "$MAIN/token" \
	    --client-id "$org-$name" --secret-file "$S" "$@"
	[ "$RC" -eq 0 ] || { fail "setup: cred put $org/$name"; context; return 1; }
	expect_ok "setup: $org/$name has a token" -- ov cred refresh "$org" "$name"
}
secret_file "$TMP/rt-seed" rt-seed-acme-rt
mk acme rt '"refresh_token":"rt-seed-acme-rt","rotate_refresh":true' \
    --grant refresh_token --refresh-token-file "$TMP/rt-seed"
mk acme cc ''
mk acme post '' --auth post
mk other x ''

evil_requests() {
	FAKE_URL=$EVIL fake_stats | jq -r '.requests'
}
status_of() {
	ov cred show "$1" "$2" --json | jq -r .status
}

OPER=$(api_key oper operator acme)
ADMIN=$(api_key adm admin)
TOK=$(api_key tok token acme,other)
serve_start main || exit 1

# --- 1. the API: no destination change without the secrets ------------------------
for key in OPER ADMIN; do
	api PUT /v1/orgs/acme/credentials/rt "${!key}" \
	    "{\"token_url\":\"$EVIL/token\"}"
	expect_problem "api ($key): a new token_url without secrets: 422 secret-required" \
	    422 secret-required
	expect_body "api ($key): the problem names client_secret" \
	    '.field == "client_secret" and (.detail | test("token_url"))'
done
api PUT /v1/orgs/acme/credentials/cc "$OPER" '{"client_id":"someone-else"}'
expect_problem "api: a new client_id without secrets: 422" 422 secret-required
api PUT /v1/orgs/acme/credentials/cc "$OPER" '{"auth":"post"}'
expect_problem "api: a new auth method without secrets: 422" 422 secret-required
api PUT /v1/orgs/acme/credentials/cc "$OPER" '{"grant":"refresh_token","refresh_token":"rt-x"}'
expect_problem "api: a new grant with only a refresh token: 422" 422 secret-required
api PUT /v1/orgs/acme/credentials/rt "$OPER" \
    "$(jq -cn --arg u "$EVIL/token" '{token_url: $u, client_secret: "not-the-stored-one"}')"
expect_problem "api: a new token_url with a new secret but no refresh token: 422" \
    422 secret-required
expect_body "api: ... naming refresh_token" '.field == "refresh_token"'
api PUT /v1/orgs/acme/credentials/cc "$OPER" '{"scope":"read write"}'
expect_status "api: a scope change needs no secret (200)" 200
run ov cred show acme rt --json
expect_json "api: acme/rt still goes to the real endpoint" ".token_url == \"$MAIN/token\""

# --- 2. the CLI -----------------------------------------------------------------------
expect_fail 1 "cli: cred put --token-url without the secret: exit 1 naming --secret-file" \
    'secret-file' -- ov cred put acme cc --token-url "$EVIL/token"
expect_fail 1 "cli: cred put --client-id without the secret: exit 1" \
    'secret-file' -- ov cred put acme post --client-id other-client
expect_fail 1 "cli: a new secret for a refresh-token credential's move needs the refresh token" \
    'refresh-token-file' -- ov cred put acme rt --token-url "$EVIL/token" --secret-file "$TMP/wrong"
api POST /v1/orgs/acme/credentials/rt/refresh "$OPER"
expect_status "a forced refresh after the refusals works (200)" 200
expect_eq "nothing reached the attacker's endpoint" 0 "$(evil_requests)"

# --- 3. moving with the current secret: the refresh token follows ---------------------
before=$(fake_field acme-rt .current_refresh_token)
api PUT /v1/orgs/acme/credentials/rt "$OPER" \
    "$(jq -cn --arg u "$MAIN/oauth/token" --arg s "$SECRET" '{token_url: $u, client_secret: $s}')"
expect_status "move: token_url with the current client secret: 200" 200
expect_ok "move: cred refresh at the new URL" -- ov cred refresh acme rt
run fake_requests acme-rt
expect_json "move: the first request at /oauth/token presented the newest refresh token" \
    'map(select(.path == "/oauth/token")) | length >= 1 and .[0].refresh_token == $rt and all(.status == 200)' \
    --arg rt "$before"
expect_eq "move: no stale refresh token presented" 0 "$(fake_field acme-rt .stale_presentations)"
run events_json --credential rt --kind credential.updated
expect_json "move: the event says moved, with the client secret unchanged" \
    'first | .detail.moved == true and .detail.secrets_unchanged == ["client_secret"]'

# --- 4. the database file edited under a running serve --------------------------------
id_cc=$(dbq "SELECT c.id FROM credentials c JOIN orgs o ON o.id = c.org_id WHERE o.slug = 'acme' AND c.name = 'cc'")
id_post=$(dbq "SELECT c.id FROM credentials c JOIN orgs o ON o.id = c.org_id WHERE o.slug = 'acme' AND c.name = 'post'")
id_x=$(dbq "SELECT c.id FROM credentials c JOIN orgs o ON o.id = c.org_id WHERE o.slug = 'other' AND c.name = 'x'")
dbq "UPDATE credentials SET token_url = '$EVIL/token', next_refresh_at = NULL WHERE id = $id_cc"
dbq "UPDATE credentials SET client_id = 'other-x', auth_method = 'client_secret_post', next_refresh_at = NULL WHERE id = $id_post"
dbq "UPDATE credentials SET token_url = '$EVIL/token', expected_scope = 'admin', next_refresh_at = NULL WHERE id = $id_x"
wait_until 15 test "$(status_of acme cc)" = tampered
expect_eq "db edit: acme/cc (token_url) is tampered" tampered "$(status_of acme cc)"
wait_until 10 test "$(status_of acme post)" = tampered
expect_eq "db edit: acme/post (client_id, auth) is tampered" tampered "$(status_of acme post)"
wait_until 10 test "$(status_of other x)" = tampered
expect_eq "db edit: other/x (token_url, scope) is tampered" tampered "$(status_of other x)"
nap 2
expect_eq "db edit: nothing reached the attacker's endpoint" 0 "$(evil_requests)"
run events_json --kind credential.tampered
expect_json "db edit: one credential.tampered event each" \
    'length == 3 and (map(.credential) | sort) == ["cc", "post", "x"]'
api GET /v1/orgs/acme/credentials/cc/token "$TOK"
expect_problem "db edit: the broker refuses the tampered credential: 409" 409 credential-tampered
api GET /metrics "$ADMIN"
expect_true "db edit: metrics count 3 tampered credentials" -- \
    grep -q '^orgvault_credentials{status="tampered"} 3$' "$API_BODY"
run ov check
expect_eq "check: exit 4" 4 "$RC"
expect_stdout_contains "check: names credentials row $id_cc" "credentials row $id_cc column row_mac"
expect_stdout_contains "check: names the secret that no longer opens" "secret_versions row"
expect_fail 4 "cli: cred refresh of the tampered credential: exit 4, nothing sent" \
    'tampered' -- ov cred refresh acme cc
expect_fail 4 "cli: token of the tampered credential: exit 4, no token printed" \
    'tampered' -- ov token acme cc
api PUT /v1/orgs/acme/credentials/post/secret/pending "$OPER" '{"client_secret":"staged-x"}'
expect_problem "api: staging a secret on a row that does not verify: 409 tampered (not 500)" \
    409 tampered
expect_exit "1|4" "cli: secret stage on the tampered credential is refused" -- \
    ov secret stage acme cc --secret-file "$S"
expect_eq "cli: nothing reached the attacker's endpoint" 0 "$(evil_requests)"

# Putting the column back does not make it usable: it stays tampered
# until an operator puts its secrets again.
dbq "UPDATE credentials SET token_url = '$MAIN/token' WHERE id = $id_cc"
n=$(fake_requests acme-cc | jq length)
api POST /v1/orgs/acme/credentials/cc/refresh "$OPER"
nap 1
expect_eq "db edit: the column put back: still tampered" tampered "$(status_of acme cc)"
expect_eq "db edit: ... and a forced refresh sent nothing" "$n" "$(fake_requests acme-cc | jq length)"
expect_fail 1 "cli: a metadata-only put of a tampered credential is refused" \
    'secret' -- ov cred put acme cc --scope "read"
# The fix the messages give must not carry the attacker's columns: a put
# of other/x (token_url and scope edited) that names only its secret is
# refused; a whole one replaces everything.
expect_fail 1 "recover: a put of a tampered credential with only its secret is refused" \
    'in full' -- ov cred put other x --secret-file "$S"
expect_ok "recover: a whole put of other/x" -- ov cred put other x --provider oauth2 \
    --token-url "$MAIN/token" --client-id other-x --secret-file "$S"
run ov cred show other x --json
expect_json "recover: other/x has the operator's URL and scope, not the attacker's" \
    '.token_url == $u and .expected_scope == "" and .status == "active"' --arg u "$MAIN/token"
expect_ok "recover: other/x refreshes at the real endpoint" -- ov cred refresh other x
expect_ok "recover: the operator puts acme/cc again, in full" -- \
    ov cred put acme cc --provider oauth2 --token-url "$MAIN/token" --client-id acme-cc \
    --secret-file "$S"
expect_eq "recover: status active" active "$(status_of acme cc)"
expect_ok "recover: cred refresh works" -- ov cred refresh acme cc
wait_until 5 sh -c "curl -s -o /dev/null -w '%{http_code}' -H 'Authorization: Bearer $TOK' \
    $SERVE_URL/v1/orgs/acme/credentials/cc/token | grep -q 200"
api GET /v1/orgs/acme/credentials/cc/token "$TOK"
expect_status "recover: the broker serves it again" 200
expect_eq "the attacker's endpoint never got a request" 0 "$(evil_requests)"

serve_stop "$SERVE_PID"
expect_eq "serve stops cleanly" 0 "$SERVE_RC"
expect_clean_log "serve log: no crash" "$(serve_log main)"
expect_true "no secret in any output or log" -- \
    sh -c "! grep -rqaF -- '$SECRET' '$CAP' '$(serve_log main)'"

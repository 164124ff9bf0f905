#!/usr/bin/env bash
# t_api_webhooks.sh — /v1/webhooks for admins (all orgs): add (the signing
# secret write-only), list, remove; roles; validation; the secret never
# in an answer.
. "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
. "$(dirname "${BASH_SOURCE[0]}")/fake.sh"
. "$(dirname "${BASH_SOURCE[0]}")/api.sh"

SEC=CANARY-whsec-$(head -c 8 /dev/urandom | od -An -tx1 | tr -d ' \n')
setup_vault
expect_ok "setup: org a" -- ov org add a
ADMIN=$(api_key adm admin)
ADMIN_A=$(api_key adm-a admin a)
READER=$(api_key rd reader)
serve_start main || exit 1

BODY="{\"url\":\"http://127.0.0.1:9/hook\",\"events\":\"revoked,recovered\",\"secret\":\"$SEC\"}"
api POST /v1/webhooks "$READER" "$BODY"
expect_problem "a reader cannot add a webhook" 403 forbidden
api POST /v1/webhooks "$ADMIN_A" "$BODY"
expect_problem "an admin limited to some orgs cannot either" 403 forbidden
api POST /v1/webhooks "$ADMIN" "$BODY"
expect_status "POST /v1/webhooks: 201" 201
expect_body "the answer names url and events, never the secret" \
    '.url == "http://127.0.0.1:9/hook" and (.events | index("revoked") != null) and (has("secret") | not)'
ID=$(jq -r .id "$API_BODY")
expect_eq "Location names the webhook" "/v1/webhooks/$ID" "$(api_header Location)"
api POST /v1/webhooks "$ADMIN" "$BODY"
expect_problem "the same URL twice: 409" 409 conflict
api POST /v1/webhooks "$ADMIN" "{\"url\":\"http://example.com/hook\",\"secret\":\"$SEC\"}"
expect_problem "plain http to a non-loopback host: 422" 422 validation
api POST /v1/webhooks "$ADMIN" "{\"url\":\"https://example.com/hook\",\"events\":\"nope\",\"secret\":\"$SEC\"}"
expect_problem "an unknown event: 422 naming events" 422 validation
expect_body "the 422 names events" '.field == "events"'
api POST /v1/webhooks "$ADMIN" '{"url":"https://example.com/hook"}'
expect_problem "no secret: 422" 422 validation
api GET /v1/webhooks "$ADMIN"
expect_status "GET /v1/webhooks: 200" 200
expect_body "the list holds the webhook, no secret" "length == 1 and .[0].id == $ID and (.[0] | has(\"secret\") | not)"
run ov webhook list --json
expect_json "the CLI sees it too" "length == 1 and .[0].id == $ID"
api DELETE "/v1/webhooks/$ID" "$ADMIN"
expect_status "DELETE /v1/webhooks/ID: 204" 204
api DELETE "/v1/webhooks/$ID" "$ADMIN"
expect_problem "DELETE again: 404" 404 not-found
run events_json --kind webhook.added
expect_json "webhook.added names the API key" '.[0].actor == "api:adm"'
serve_stop "$SERVE_PID"
expect_eq "serve exits 0" 0 "$SERVE_RC"
expect_false "the signing secret is in no answer or log" -- grep -rqaF -- "$SEC" "$CAP" "$(serve_log main)"
expect_false "the signing secret is not in the database files" -- sh -c "cat '$DIR'/orgvault.db* | grep -qaF -- '$SEC'"

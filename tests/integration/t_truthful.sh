#!/usr/bin/env bash
# t_truthful.sh — answers that tell the truth:
#   - health: ok / degraded / needs_action in `cred show`, `cred list`
#     (column and --health), the API (field and ?health=) and /metrics; a
#     credential that never had a token is never ok, one whose last
#     attempt failed while its token is valid is degraded;
#   - the broker: 409 with a problem type naming the fix (no Retry-After)
#     for invalid_client without a token; 503 at once with Retry-After =
#     the time to the next attempt for one in backoff (no 5 s wait);
#   - filters: every documented one works (--region in any spelling,
#     --client-id, --provider, --status a,b, --health, org list --name);
#     an unknown filter, value or limit is exit 1 / 400 naming it;
#   - pagination: GET /v1/credentials and /v1/orgs take limit and cursor
#     and answer {credentials|orgs, next_cursor}; the CLI's --json stays
#     a bare array.
. "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
. "$(dirname "${BASH_SOURCE[0]}")/fake.sh"
. "$(dirname "${BASH_SOURCE[0]}")/api.sh"

fake_start
setup_vault
S=$TMP/secret
secret_file "$S" truth-secret-1
RDR=$(api_key rdr reader)
TOK=$(api_key tok token)
OPK=$(api_key op operator)
expect_ok "setup: orgs" -- ov org add acme --name "Acme Corp"
expect_ok "setup: org beta" -- ov org add beta --name "Beta Industries"
put() {	# ORG NAME CLIENT [REGION]
	ov cred put "$1" "$2" --provider genesys --region "${4:-us_east_1}" \
	    --token-url "$FAKE_URL/oauth/token" --client-id "$3" --secret-file "$S" \
	    >/dev/null 2>>"$TMP/put.err"
}
health_of() { ov cred show "$1" "$2" --json | jq -r .health; }

fake_put good '{"client_secret":"truth-secret-1","lifetime":3600}'
fake_put never '{"client_secret":"truth-secret-1","behaviour":"500"}'
fake_put flaky '{"client_secret":"truth-secret-1","lifetime":3600}'
fake_put badsecret '{"client_secret":"another-secret","lifetime":3600}'
put acme good good
put acme never never us-west-2
put beta flaky flaky usw2.pure.cloud
put beta badsecret badsecret
serve_start main || exit 1
wait_until 15 bash -c "[ \"\$('$ORGVAULT' --data-dir '$DIR' cred show acme good --json | jq -r .health)\" = ok ]"
wait_until 15 bash -c "'$ORGVAULT' --data-dir '$DIR' cred show beta flaky --json | jq -e '.expires_at != null' >/dev/null"
wait_until 15 bash -c "'$ORGVAULT' --data-dir '$DIR' cred show acme never --json | jq -e '.consecutive_failures >= 1' >/dev/null"
wait_until 15 bash -c "'$ORGVAULT' --data-dir '$DIR' cred show beta badsecret --json | jq -e '.status == \"invalid_client\"' >/dev/null"

# --- health -----------------------------------------------------------------------
run ov cred show acme good --json
expect_json "health: a fresh token, last attempt ok: ok" '.health == "ok"'
run ov cred show acme never --json
expect_json "health: never had a token (500s): needs_action, though status is active" \
    '.health == "needs_action" and .status == "active" and .expires_at == null'
run ov cred show beta badsecret --json
expect_json "health: invalid_client: needs_action" '.health == "needs_action"'
fake_patch flaky '{"behaviour":"500"}'
api POST /v1/orgs/beta/credentials/flaky/refresh "$OPK"
run ov cred show beta flaky --json
expect_json "health: a valid token but the last attempt failed: degraded" \
    '.health == "degraded" and .consecutive_failures >= 1 and .expires_at != null'
run ov cred list
expect_stdout_contains "cred list: a HEALTH column" "HEALTH"
expect_true "cred list: acme/never shows needs_action" -- \
    grep -Eq '^acme +never .* needs_action ' "$OUT"
run ov cred list --health needs_action --json
expect_json "cred list --health needs_action: never and badsecret" \
    '(map(.org + "/" + .name) | sort) == ["acme/never", "beta/badsecret"]'
run ov cred list --health ok,degraded --json
expect_json "cred list --health ok,degraded: good and flaky" \
    '(map(.name) | sort) == ["flaky", "good"]'
api GET '/v1/credentials?health=needs_action' "$RDR"
expect_body "api: ?health=needs_action" \
    '(.credentials | map(.name) | sort) == ["badsecret", "never"]'
api GET /metrics "$RDR"
expect_true "metrics: orgvault_credentials{health=\"needs_action\"} 2" -- \
    grep -q '^orgvault_credentials{health="needs_action"} 2$' "$API_BODY"
expect_true "metrics: ... ok 1, degraded 1" -- bash -c \
    "grep -q '^orgvault_credentials{health=\"ok\"} 1$' '$API_BODY' &&
     grep -q '^orgvault_credentials{health=\"degraded\"} 1$' '$API_BODY'"

# --- the broker -------------------------------------------------------------------
api GET /v1/orgs/beta/credentials/badsecret/token "$TOK"
expect_problem "broker: invalid_client without a token: 409 credential-invalid-client" \
    409 credential-invalid-client
expect_eq "broker: ... no Retry-After (only an operator can fix it)" "" "$(api_header Retry-After)"
expect_body "broker: ... the detail names the fix" '.detail | test("cred put")'
# Backoff is full jitter: wait (up to 20 s) for a next attempt at least
# 3 s away, so that the GET meets the backoff and not an attempt.
for ((i = 0; i < 20; i++)); do
	next=$(ov cred show acme never --json | jq -r '.next_refresh_at | fromdateiso8601')
	[ $((next - $(date +%s))) -ge 3 ] && break
	sleep 1
done
t0=$(now_ms)
api GET /v1/orgs/acme/credentials/never/token "$TOK"
ms=$(($(now_ms) - t0))
left=$((next - $(date +%s)))
expect_problem "broker: in backoff without a token: 503" 503 unavailable
expect_true "broker: ... answered at once (${ms} ms), no 5 s wait" -- test "$ms" -lt 1500
ra=$(api_header Retry-After)
expect_true "broker: ... Retry-After ($ra s) is the time to the next attempt ($left s)" -- \
    bash -c "[ $ra -ge 1 ] && [ $((left - ra)) -le 2 ] && [ $((ra - left)) -le 2 ]"

# --- filters (CLI) ------------------------------------------------------------------
run ov cred list --region us-west-2 --json
expect_json "cred list --region us-west-2 (another spelling of us_west_2)" \
    '(map(.name) | sort) == ["flaky", "never"]'
run ov cred list --region usw2.pure.cloud --json
expect_json "cred list --region usw2.pure.cloud: the same" '(map(.name) | sort) == ["flaky", "never"]'
run ov cred list --client-id good --json
expect_json "cred list --client-id good" 'map(.name) == ["good"]'
run ov cred list --status active,failing,invalid_client --json
expect_json "cred list --status active,failing,invalid_client: all four" 'length == 4'
run ov cred list --provider servicenow --json
expect_json "cred list --provider servicenow: none" 'length == 0'
expect_fail 1 "cred list --status bogus: exit 1 naming the value" "status.*bogus" -- \
    ov cred list --status bogus
expect_fail 1 "cred list --health great: exit 1" "health" -- ov cred list --health great
expect_fail 1 "cred list --provider nope: exit 1" "provider" -- ov cred list --provider nope
expect_fail 1 "cred list --scope x (not a filter): exit 1" "filters by" -- \
    ov cred list --scope x
run ov org list --name corp --json
expect_json "org list --name corp (any case, a substring)" 'map(.slug) == ["acme"]'
expect_fail 1 "org list --external-id x (not a filter): exit 1" "filters by" -- \
    ov org list --external-id x

# --- filters (API) ----------------------------------------------------------------
api GET '/v1/credentials?region=us-west-2' "$RDR"
expect_body "api: ?region=us-west-2" '(.credentials | map(.name) | sort) == ["flaky", "never"]'
api GET '/v1/credentials?client_id=flaky' "$RDR"
expect_body "api: ?client_id=flaky" '.credentials | map(.name) == ["flaky"]'
api GET '/v1/credentials?status=active,failing,invalid_client' "$RDR"
expect_body "api: ?status=a,b" '.credentials | length == 4'
for q in 'status=bogus' 'health=great' 'provider=nope' 'limit=0' 'limit=5001' \
    'limit=abc' 'bogus=1' 'cursor=!!!' 'cursor=Zm9v'; do
	api GET "/v1/credentials?$q" "$RDR"
	expect_problem "api: ?$q: 400" 400 bad-request
done
api GET '/v1/credentials?bogus=1' "$RDR"
expect_body "api: ... naming the parameter" '.detail | test("bogus")'
api GET '/v1/orgs/acme/credentials?status=bogus' "$RDR"
expect_problem "api: an org's list checks its filters too" 400 bad-request
api GET '/v1/orgs?name=beta' "$RDR"
expect_body "api: /v1/orgs?name=beta" '.orgs | map(.slug) == ["beta"]'
api GET '/v1/orgs?slug=beta' "$RDR"
expect_problem "api: /v1/orgs?slug=: 400" 400 bad-request

# --- pagination ---------------------------------------------------------------------
api GET '/v1/credentials?limit=3' "$RDR"
expect_body "page: limit=3: three, and a next_cursor" \
    '(.credentials | length) == 3 and (.next_cursor | type) == "string"'
cur=$(jq -r .next_cursor "$API_BODY")
first=$(jq -c '[.credentials[] | .org + "/" + .name]' "$API_BODY")
api GET "/v1/credentials?limit=3&cursor=$cur" "$RDR"
expect_body "page: the next page: the fourth, next_cursor null" \
    '(.credentials | length) == 1 and .next_cursor == null'
all=$(jq -c --argjson f "$first" '$f + [.credentials[] | .org + "/" + .name]' "$API_BODY")
expect_eq "page: the two pages are every credential once, in order" \
    '["acme/good","acme/never","beta/badsecret","beta/flaky"]' "$all"
api GET '/v1/orgs?limit=1' "$RDR"
expect_body "page: /v1/orgs?limit=1" '.orgs | map(.slug) == ["acme"]'
cur=$(jq -r .next_cursor "$API_BODY")
api GET "/v1/orgs?limit=1&cursor=$cur" "$RDR"
expect_body "page: /v1/orgs, next page" '.orgs | map(.slug) == ["beta"]'
api GET /v1/credentials "$RDR"
expect_body "page: no limit: 500 a page, here all and next_cursor null" \
    '(.credentials | length) == 4 and .next_cursor == null'
run ov cred list --json
expect_json "cli: cred list --json is still a bare array of every row" 'type == "array" and length == 4'
# The longest names make the longest cursor (63 + 1 + 63 bytes).
LONG_ORG=zz$(printf 'o%.0s' $(seq 61))
LONG_NAME=$(printf 'n%.0s' $(seq 63))
expect_ok "page: an org and a credential of 63-character names" -- \
    ov org add "$LONG_ORG"
put "$LONG_ORG" "$LONG_NAME" good
put "$LONG_ORG" "$(printf 'p%.0s' $(seq 63))" good
api GET '/v1/credentials?limit=4' "$RDR"
expect_body "page: a page ending before them has a cursor" '(.next_cursor | type) == "string"'
api GET "/v1/credentials?limit=1&cursor=$(jq -r .next_cursor "$API_BODY")" "$RDR"
expect_body "page: a page ending at the longest names has the longest cursor" \
    '(.credentials | length) == 1 and (.credentials[0].name | length) == 63 and (.next_cursor | length) > 160'
api GET "/v1/credentials?limit=1&cursor=$(jq -r .next_cursor "$API_BODY")" "$RDR"
expect_body "page: ... which leads on to the last" \
    '(.credentials | length) == 1 and (.credentials[0].name | startswith("ppp")) and .next_cursor == null'
serve_stop "$SERVE_PID"
expect_clean_log "serve log: no crash or sanitizer report" "$(serve_log main)"

#!/usr/bin/env bash
# t_api_roles.sh — who may do what in the admin REST API: a table of
# (key, method, path, expected status) rows for the four roles, each
# for all orgs and limited to org "a", plus what a limited key sees in
# the lists (orgs, credentials, audit events, drift, revocations,
# metrics).  Two orgs, a and b, with credentials against the fake.
. "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
. "$(dirname "${BASH_SOURCE[0]}")/fake.sh"
. "$(dirname "${BASH_SOURCE[0]}")/api.sh"

SECRET=cs-roles-$RANDOM$RANDOM
S=$TMP/secret
secret_file "$S" "$SECRET"

fake_start
setup_vault

# cred ORG NAME FAKE-FIELDS [cred put options]: fake client ORG-NAME and
# the credential ORG/NAME, refreshed once (by the CLI, before serve runs).
cred() {
	local org=$1 name=$2 extra=$3
	shift 3
	fake_put "$org-$name" "$(jq -cn --arg s "$SECRET" --argjson e "{$extra}" \
	    '{client_secret: $s} + $e')" || return 1
	run ov cred put "$org" "$name" --provider oauth2 --token-url "$FAKE_URL/token" \
	    --client-id "$org-$name" --secret-file "$S" --scope "a b" "$@"
	[ "$RC" -eq 0 ] || { fail "setup: cred put $org/$name"; context; return 1; }
	run ov cred refresh "$org" "$name"
}

for o in a b; do
	expect_ok "setup: org $o" -- ov org add "$o"
	cred "$o" c ''
	expect_eq "setup: $o/c has a token" 0 "$RC"
	cred "$o" drift '"scope":"a b admin"'
	secret_file "$TMP/rt-$o" "rt-seed-$o"
	cred "$o" rev "\"refresh_token\":\"rt-seed-$o\",\"behaviour\":\"invalid_grant\"" \
	    --grant refresh_token --refresh-token-file "$TMP/rt-$o"
	expect_eq "setup: $o/rev is revoked (exit 5)" 5 "$RC"
done
# Victims of the DELETE rows that succeed, one per key that may.
for v in del-op del-ad del-opa del-ada; do
	cred a "$v" ''
done
expect_ok "setup: empty org 'gone' (deleted by the admin row)" -- ov org add gone
expect_ok "setup: empty org 'gone2'" -- ov org add gone2

declare -A K
for role in reader operator admin token; do
	K[$role]=$(api_key "$role" "$role")
	K[$role-a]=$(api_key "$role-a" "$role" a)
done
for v in v-admin v-reader; do
	api_key "$v" reader >/dev/null
done
expect_true "setup: eight keys" -- test "${#K[@]}" -eq 8

serve_start main || exit 1

# ------------------------------------------------------------------------
# One row per line:  KEY  METHOD  PATH  STATUS  [BODY]
# Keys: reader operator admin token, and the same limited to org a
# (reader-a ...).  A limited key's orgs are checked before its role:
# anything under another org is 404 (it does not exist for the key),
# whatever the role; in its own orgs a role that may not do it gets 403.
C=/v1/orgs/a/credentials/c
CB=/v1/orgs/b/credentials/c
ROWS=$(cat <<'EOF'
# --- health needs no key
reader     GET    /v1/health                     200
token-a    GET    /v1/health                     200
# --- reader: every GET but the token
reader     GET    /metrics                       200
reader     GET    /v1/orgs                       200
reader     GET    /v1/orgs/a                     200
reader     GET    /v1/orgs/b                     200
reader     GET    /v1/credentials                200
reader     GET    /v1/orgs/b/credentials         200
reader     GET    $C                             200
reader     GET    $CB                            200
reader     GET    /v1/audit/events               200
reader     GET    /v1/audit/drift                200
reader     GET    /v1/audit/revocations          200
reader     GET    $C/token                       403
reader     PUT    $C                             403  {"scope":"a b"}
reader     DELETE $C                             403
reader     POST   $C/refresh                     403
reader     POST   /v1/orgs                       403  {"slug":"n-reader"}
reader     PATCH  /v1/orgs/a                     403  {"name":"A"}
reader     DELETE /v1/orgs/gone                  403
reader     GET    /v1/apikeys                    403
reader     POST   /v1/apikeys                    403  {"name":"k-reader","role":"reader"}
reader     DELETE /v1/apikeys/v-reader           403
# --- operator: reader + credentials (PUT, DELETE, refresh)
operator   GET    /metrics                       200
operator   GET    /v1/orgs/b                     200
operator   GET    $CB                            200
operator   GET    /v1/audit/events               200
operator   PUT    $C                             200  {"scope":"a b"}
operator   PUT    /v1/orgs/b/credentials/new-op  201  {"provider":"oauth2","token_url":"$FAKE/token","client_id":"x","client_secret":"y"}
operator   DELETE /v1/orgs/b/credentials/new-op  204
operator   DELETE /v1/orgs/a/credentials/del-op  204
operator   POST   $CB/refresh                    200
operator   GET    $C/token                       403
operator   POST   /v1/orgs                       403  {"slug":"n-operator"}
operator   PATCH  /v1/orgs/a                     403  {"name":"A"}
operator   DELETE /v1/orgs/gone                  403
operator   GET    /v1/apikeys                    403
operator   POST   /v1/apikeys                    403  {"name":"k-operator","role":"reader"}
operator   DELETE /v1/apikeys/v-reader           403
# --- admin: everything but the token
admin      GET    /metrics                       200
admin      GET    /v1/orgs                       200
admin      GET    $CB                            200
admin      GET    /v1/audit/revocations          200
admin      PUT    $CB                            200  {"scope":"a b"}
admin      DELETE /v1/orgs/a/credentials/del-ad  204
admin      POST   $C/refresh                     200
admin      POST   /v1/orgs                       201  {"slug":"n-admin"}
admin      PATCH  /v1/orgs/b                     200  {"name":"B"}
admin      DELETE /v1/orgs/gone                  204
admin      GET    /v1/apikeys                    200
admin      POST   /v1/apikeys                    201  {"name":"k-admin","role":"reader"}
admin      DELETE /v1/apikeys/v-admin            204
admin      GET    $C/token                       403
admin      GET    $CB/token                      403
# --- token: only GET …/token
token      GET    $C/token                       200
token      GET    $CB/token                      200
token      GET    /metrics                       403
token      GET    /v1/orgs                       403
token      GET    /v1/orgs/a                     403
token      GET    /v1/credentials                403
token      GET    $C                             403
token      GET    /v1/audit/events               403
token      GET    /v1/audit/drift                403
token      GET    /v1/audit/revocations          403
token      PUT    $C                             403  {"scope":"a b"}
token      DELETE $C                             403
token      POST   $C/refresh                     403
token      POST   /v1/orgs                       403  {"slug":"n-token"}
token      PATCH  /v1/orgs/a                     403  {"name":"A"}
token      GET    /v1/apikeys                    403
token      POST   /v1/apikeys                    403  {"name":"k-token","role":"reader"}
# --- reader limited to a: org b does not exist for it
reader-a   GET    /metrics                       200
reader-a   GET    /v1/orgs                       200
reader-a   GET    /v1/orgs/a                     200
reader-a   GET    /v1/orgs/a/credentials         200
reader-a   GET    $C                             200
reader-a   GET    /v1/orgs/b                     404
reader-a   GET    /v1/orgs/b/credentials         404
reader-a   GET    $CB                            404
reader-a   GET    /v1/orgs/b/credentials/nosuch  404
reader-a   GET    /v1/orgs/nosuch                404
reader-a   GET    /v1/orgs/%62                   404
reader-a   GET    /v1/orgs/%62/credentials/c     404
reader     GET    /v1/orgs/%62                   200
reader-a   GET    /v1/credentials?org=b          200
reader-a   GET    /v1/audit/events?org=b         200
reader-a   GET    $C/token                       403
reader-a   PUT    $CB                            404  {"scope":"a b"}
reader-a   GET    /v1/apikeys                    403
# --- operator limited to a
operator-a GET    $C                             200
operator-a PUT    $C                             200  {"scope":"a b"}
operator-a DELETE /v1/orgs/a/credentials/del-opa 204
operator-a POST   $C/refresh                     200
operator-a GET    $CB                            404
operator-a PUT    $CB                            404  {"scope":"x"}
operator-a PUT    /v1/orgs/b/credentials/new     404  {"provider":"oauth2","token_url":"$FAKE/token","client_id":"x","client_secret":"y"}
operator-a DELETE $CB                            404
operator-a POST   $CB/refresh                    404
operator-a POST   /v1/orgs                       403  {"slug":"n-opa"}
operator-a GET    $C/token                       403
# --- admin limited to a: its org only, and no API keys
admin-a    GET    /v1/orgs/a                     200
admin-a    PATCH  /v1/orgs/a                     200  {"name":"A"}
admin-a    PUT    $C                             200  {"scope":"a b"}
admin-a    DELETE /v1/orgs/a/credentials/del-ada 204
admin-a    POST   $C/refresh                     200
admin-a    DELETE /v1/orgs/a                     409
admin-a    POST   /v1/orgs                       409  {"slug":"a"}
admin-a    POST   /v1/orgs                       403  {"slug":"n-ada"}
admin-a    GET    /v1/orgs/b                     404
admin-a    PATCH  /v1/orgs/b                     404  {"name":"B2"}
admin-a    DELETE /v1/orgs/b                     404
admin-a    DELETE /v1/orgs/gone2                 404
admin-a    DELETE /v1/orgs/b?force=true          404
admin-a    PUT    $CB                            404  {"scope":"x"}
admin-a    POST   $CB/refresh                    404
admin-a    GET    $C/token                       403
admin-a    GET    /v1/apikeys                    403
admin-a    POST   /v1/apikeys                    403  {"name":"k-ada","role":"reader","orgs":"a"}
admin-a    DELETE /v1/apikeys/v-reader           403
# --- token limited to a
token-a    GET    $C/token                       200
token-a    GET    $CB/token                      404
token-a    GET    /v1/orgs/b/credentials/nosuch/token 404
token-a    GET    /v1/orgs/a                     403
token-a    GET    /metrics                       403
token-a    POST   $C/refresh                     403
EOF
)

problem_of() {
	case $1 in
	401) echo unauthorized ;;
	403) echo forbidden ;;
	404) echo not-found ;;
	409) echo conflict ;;
	esac
}

nrows=0
while read -r key method path status body; do
	case $key in '' | '#'*) continue ;; esac
	path=${path//\$CB/$CB}
	path=${path//\$C/$C}
	body=${body//\$FAKE/$FAKE_URL}
	nrows=$((nrows + 1))
	name="$key $method $path: $status"
	if [ -z "${K[$key]+x}" ]; then
		fail "$name" "no key '$key' in the table's set"
		continue
	fi
	api "$method" "$path" "${K[$key]}" "$body"
	if [ -n "$(problem_of "$status")" ]; then
		expect_problem "$name" "$status" "$(problem_of "$status")"
	else
		expect_status "$name" "$status"
	fi
done <<<"$ROWS"
expect_true "the table ran (over 100 rows)" -- test "$nrows" -gt 100

# --- what a key limited to org a sees in lists ------------------------------------
for key in reader-a operator-a admin-a; do
	api GET /v1/orgs "${K[$key]}"
	expect_body_with "$key: GET /v1/orgs lists org a only" '.orgs | (map(.slug) == ["a"])'
	api GET /v1/credentials "${K[$key]}"
	expect_body_with "$key: GET /v1/credentials lists org a's only" \
	    '.credentials | (length >= 3 and all(.[]; .org == "a"))'
	api GET '/v1/credentials?org=b' "${K[$key]}"
	expect_body_with "$key: GET /v1/credentials?org=b is empty" '.credentials | (. == [])'
	api GET '/v1/audit/events?limit=1000' "${K[$key]}"
	expect_body_with "$key: audit events are org a's only" \
	    '(.events | length) >= 5 and all(.events[]; .org == "a")'
	api GET '/v1/audit/events?org=b' "${K[$key]}"
	expect_body_with "$key: audit events ?org=b: none" '.events == []'
	api GET '/v1/audit/events?kind=apikey.created' "${K[$key]}"
	expect_body_with "$key: no event of no org (API keys)" '.events == []'
	api GET /v1/audit/drift "${K[$key]}"
	expect_body_with "$key: drift lists a/drift only" 'map(.org + "/" + .credential) == ["a/drift"]'
	api GET /v1/audit/revocations "${K[$key]}"
	expect_body_with "$key: revocations list a/rev only" \
	    'length >= 1 and all(.[]; .org == "a" and .credential == "rev")'
done
# The same lists for a key of all orgs hold both.
api GET /v1/orgs "${K[reader]}"
expect_body_with "reader: GET /v1/orgs lists a, b and the admin's org" \
    '.orgs | ((map(.slug) | sort) == ["a", "b", "gone2", "n-admin"])'
api GET /v1/audit/drift "${K[reader]}"
expect_body_with "reader: drift lists a/drift and b/drift" \
    '(map(.org + "/" + .credential) | sort) == ["a/drift", "b/drift"]'
api GET /v1/audit/revocations "${K[reader]}"
# (b/new-op, PUT by the operator with a secret the fake does not know, is
# refreshed at once and refused: it is in the ledger too.)
expect_body_with "reader: revocations name a/rev and b/rev" \
    '(map(.org + "/" + .credential) | unique) as $u | ($u | index("a/rev")) != null and ($u | index("b/rev")) != null'
api GET '/v1/audit/events?limit=1000' "${K[reader]}"
expect_body_with "reader: audit events of a, b and no org" \
    '(.events | map(.org) | unique) as $o | ($o | index("a")) and ($o | index("b")) and ($o | index(""))'
# Metrics gauges count the key's orgs only.
credsum() {
	api GET /metrics "${K[$1]}"
	grep '^orgvault_credentials{status=' "$API_BODY" | awk '{ s += $2 } END { print s + 0 }'
}
api GET '/v1/credentials?org=a' "${K[reader]}"
na=$(api_jq '.credentials | length')
api GET /v1/credentials "${K[reader]}"
nall=$(api_jq '.credentials | length')
expect_eq "metrics for reader-a: orgvault_credentials counts org a's ($na)" "$na" "$(credsum reader-a)"
expect_eq "metrics for reader: orgvault_credentials counts all ($nall)" "$nall" "$(credsum reader)"
api GET /metrics "${K[reader-a]}"
expect_true "metrics for reader-a: one credential in drift (a/drift)" -- \
    grep -qx 'orgvault_credentials_in_drift 1' "$API_BODY"

# The writes that were allowed did happen, the refused ones did not.
run ov org list --json
expect_json "orgs after the table: n-admin made, gone deleted, n-* of others not" \
    '(map(.slug) | sort) == ["a", "b", "gone2", "n-admin"]'
expect_json "org b renamed by the admin, org a by admin-a" \
    '(map(select(.slug == "b")) | .[0].name == "B") and (map(select(.slug == "a")) | .[0].name == "A")'
run ov cred list --json
expect_json "the victims of allowed DELETEs are gone, b/c is still there" \
    '(map(.org + "/" + .name) | sort) == ["a/c", "a/drift", "a/rev", "b/c", "b/drift", "b/rev"]'
run ov apikey list --json
expect_json "k-admin made, v-admin revoked, v-reader and nothing else untouched" \
    '(map(select(.revoked | not) | .name) | sort) ==
     (["admin", "admin-a", "k-admin", "operator", "operator-a", "reader", "reader-a", "token", "token-a", "v-reader"])'

serve_stop "$SERVE_PID" 20
expect_eq "serve exits 0" 0 "$SERVE_RC"
expect_clean_log "serve log: no crash or sanitizer report" "$(serve_log main)"

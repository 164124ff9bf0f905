#!/usr/bin/env bash
# t_cred.sh — cred put/list/show/rm: provider profiles, regions, token
# URLs, grants, partial updates, filters, and how secrets are taken.
. "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

setup_vault
expect_ok "setup: org acme" -- ov org add acme
expect_ok "setup: org beta" -- ov org add beta
S=$TMP/secret
RT=$TMP/refresh
secret_file "$S" "client-secret-value-1"
secret_file "$RT" "refresh-token-value-1"

GEN_URL=https://login.usw2.pure.cloud/oauth/token

# --- genesys regions -------------------------------------------------------
i=0
for r in us_west_2 us-west-2 usw2.pure.cloud US-WEST-2 US_WEST_2 USW2.PURE.CLOUD; do
	i=$((i + 1))
	expect_ok "genesys --region $r accepted" -- ov cred put acme gen$i \
	    --provider genesys --region "$r" --client-id "gen-$i" --secret-file "$S" --json
	expect_json "--region $r stored as us_west_2 with its token URL" \
	    '.region == "us_west_2" and .token_url == $u' --arg u "$GEN_URL"
done
expect_json "genesys defaults to client_secret_basic, client_credentials" \
    '.auth == "client_secret_basic" and .grant == "client_credentials"'
expect_ok "genesys --region mypurecloud.ie" -- ov cred put acme gen-eu --provider genesys \
    --region mypurecloud.ie --client-id g --secret-file "$S" --json
expect_json "mypurecloud.ie is eu_west_1" \
    '.region == "eu_west_1" and .token_url == "https://login.mypurecloud.ie/oauth/token"'
expect_ok "genesys --region us_east_1" -- ov cred put acme gen-use1 --provider genesys \
    --region us_east_1 --client-id g --secret-file "$S" --json
expect_json "us_east_1 is mypurecloud.com" '.token_url == "https://login.mypurecloud.com/oauth/token"'

expect_fail 1 "unknown genesys region: exit 1" "us_east_1" -- ov cred put acme bad \
    --provider genesys --region mars_north_1 --client-id x --secret-file "$S"
expect_stderr_contains "unknown region message lists us_west_2" "us_west_2"
expect_stderr_contains "unknown region message lists eu_central_1" "eu_central_1"
expect_fail 1 "genesys without region or URL: exit 1" "region" -- ov cred put acme bad \
    --provider genesys --client-id x --secret-file "$S"
expect_fail 1 "--region on a servicenow credential: exit 1" "region" -- ov cred put acme bad \
    --provider servicenow --region us_west_2 --client-id x --secret-file "$S"
expect_fail 1 "unknown provider: exit 1" "provider" -- ov cred put acme bad \
    --provider okta --token-url https://x.example/t --client-id x --secret-file "$S"

# --- servicenow ---------------------------------------------------------------
expect_ok "servicenow --instance acme" -- ov cred put acme sn --provider servicenow \
    --instance acme --client-id sn-client --secret-file "$S" --json
expect_json "servicenow token URL" '.token_url == "https://acme.service-now.com/oauth_token.do"'
expect_json "servicenow auth is client_secret_post" '.auth == "client_secret_post"'
expect_json "servicenow region holds the instance" '.region == "acme" and .provider == "servicenow"'
expect_fail 1 "servicenow bad instance name: exit 1" "instance" -- ov cred put acme sn2 \
    --provider servicenow --instance "evil.com/x" --client-id x --secret-file "$S"
expect_fail 1 "--instance on a genesys credential: exit 1" "instance" -- ov cred put acme sn2 \
    --provider genesys --instance acme --client-id x --secret-file "$S"

# --- oauth2 and token URLs ------------------------------------------------------
expect_fail 1 "oauth2 without --token-url: exit 1" "token-url" -- ov cred put acme o2 \
    --provider oauth2 --client-id x --secret-file "$S"
expect_fail 1 "http:// token URL off loopback: exit 1" "https" -- ov cred put acme o2 \
    --provider oauth2 --token-url http://auth.example.com/token --client-id x --secret-file "$S"
expect_fail 1 "http:// to a host named 127.0.0.1.<domain> is not loopback: exit 1" "https" -- \
    ov cred put acme spoof1 --provider oauth2 --token-url http://127.0.0.1.nip.example/token \
    --client-id x --secret-file "$S"
expect_fail 1 "http:// to a host named 127.<domain> is not loopback: exit 1" "https" -- \
    ov cred put acme spoof2 --provider oauth2 --token-url http://127.attacker.example/token \
    --client-id x --secret-file "$S"
expect_fail 1 "ftp:// token URL: exit 1" "https" -- ov cred put acme o2 \
    --provider oauth2 --token-url ftp://auth.example.com/token --client-id x --secret-file "$S"
expect_fail 1 "token URL with user info: exit 1" "user" -- ov cred put acme o2 \
    --provider oauth2 --token-url https://u:p@auth.example.com/token --client-id x --secret-file "$S"
expect_fail 1 "relative token URL: exit 1" "URL" -- ov cred put acme o2 \
    --provider oauth2 --token-url /token --client-id x --secret-file "$S"
expect_ok "no credential was created by refused puts" -- ov cred list acme --json
expect_json "o2/bad/sn2 absent" 'map(.name) | (index("o2") == null and index("bad") == null and index("sn2") == null)'

expect_ok "http://127.0.0.1:PORT allowed" -- ov cred put acme o2 --provider oauth2 \
    --token-url http://127.0.0.1:18443/oauth/token --client-id o2-client --secret-file "$S" --json
expect_json "loopback URL stored as given" '.token_url == "http://127.0.0.1:18443/oauth/token"'
expect_json "oauth2 defaults to client_secret_basic" '.auth == "client_secret_basic"'
# Loopback only because it is allowed (lib.sh allows 127.0.0.0/8; a name
# is judged by every address it resolves to, and localhost may be ::1 too).
expect_ok "http://localhost:PORT allowed with ::1 allowed too" -- \
    env ORGVAULT_ENDPOINT_ALLOW=127.0.0.0/8,::1 "$ORGVAULT" --data-dir "$DIR" \
    cred put acme o2-local --provider oauth2 \
    --token-url http://localhost:8080/token --client-id x --secret-file "$S"
expect_ok "https token URL allowed" -- ov cred put acme o2-tls --provider oauth2 \
    --token-url https://auth.example.com/oauth2/token --client-id x --secret-file "$S" --auth post --json
expect_json "--auth post stored as client_secret_post" '.auth == "client_secret_post"'
expect_fail 1 "--auth digest refused" "auth" -- ov cred put acme o2-tls --auth digest

expect_ok "--token-url overrides the genesys region URL" -- ov cred put acme gen-local \
    --provider genesys --region us_west_2 --token-url http://127.0.0.1:9999/oauth/token \
    --client-id g --secret-file "$S" --json
expect_json "region kept, token URL overridden" \
    '.region == "us_west_2" and .token_url == "http://127.0.0.1:9999/oauth/token"'

# --- grants -------------------------------------------------------------------
expect_fail 1 "refresh_token grant without a refresh token: exit 1" "refresh" -- \
    ov cred put acme code --provider genesys --region us_east_1 --client-id c \
    --secret-file "$S" --grant refresh_token
expect_fail 2 "it was not created" "no credential" -- ov cred show acme code
expect_ok "refresh_token grant with a refresh token" -- ov cred put acme code \
    --provider genesys --region us_east_1 --client-id c --secret-file "$S" \
    --grant refresh_token --refresh-token-file "$RT" --json
expect_json "grant and has_refresh_token" '.grant == "refresh_token" and .has_refresh_token == true'
expect_fail 1 "unknown grant refused" "grant" -- ov cred put acme code2 --provider genesys \
    --region us_east_1 --client-id c --secret-file "$S" --grant password
expect_fail 1 "a new credential needs --client-id" "client-id" -- ov cred put acme nocid \
    --provider genesys --region us_east_1 --secret-file "$S"
expect_fail 1 "a new credential needs a secret" "secret" -- ov cred put acme nosecret \
    --provider genesys --region us_east_1 --client-id c
expect_fail 1 "a new credential needs --provider" "provider" -- ov cred put acme noprov \
    --region us_east_1 --client-id c --secret-file "$S"
expect_fail 3 "changing the provider of a credential is a conflict" "remove it" -- \
    ov cred put acme sn --provider genesys --region us_east_1

# --- secrets are never arguments ---------------------------------------------------
expect_fail 1 "--secret VALUE is not an option (exit 1)" "" -- ov cred put acme argv \
    --provider genesys --region us_east_1 --client-id c --secret TOPSECRET-ARGV-VALUE
expect_stderr_lacks "--secret VALUE is not echoed to stderr" "TOPSECRET-ARGV-VALUE"
expect_fail 1 "--refresh-token VALUE is not an option (exit 1)" "" -- ov cred put acme argv \
    --provider genesys --region us_east_1 --client-id c --secret-file "$S" \
    --grant refresh_token --refresh-token TOPSECRET-ARGV-RT
expect_stderr_lacks "--refresh-token VALUE is not echoed to stderr" "TOPSECRET-ARGV-RT"
expect_fail 2 "argv credential was not created" "no credential" -- ov cred show acme argv

# --- partial update -----------------------------------------------------------------
expect_ok "setup: upd credential" -- ov cred put acme upd --provider genesys --region eu_west_1 \
    --client-id upd-client --secret-file "$S" --scope "users:read conversations" --json
cp "$OUT" "$TMP/upd.before"
ct_before=$(db_sql "select hex(s.ciphertext) from secret_versions s join credentials c on c.id = s.credential_id where c.name = 'upd' and s.kind = 'client_secret' and s.stage = 'current'")
sleep 1	# so that updated_at can move
expect_ok "update only --scope" -- ov cred put acme upd --scope "users:read analytics" --json
expect_json "scope changed" '.expected_scope == "users:read analytics"'
expect_json "other fields kept" \
    '.region == $b.region and .token_url == $b.token_url and .client_id == $b.client_id and .auth == $b.auth and .grant == $b.grant and .created_at == $b.created_at and .provider == $b.provider' \
    --argjson b "$(cat "$TMP/upd.before")"
expect_json "updated_at moved" '.updated_at != $b.updated_at' --argjson b "$(cat "$TMP/upd.before")"
ct_after=$(db_sql "select hex(s.ciphertext) from secret_versions s join credentials c on c.id = s.credential_id where c.name = 'upd' and s.kind = 'client_secret' and s.stage = 'current'")
expect_true "client secret envelope present before the update" -- test -n "$ct_before"
expect_eq "client secret kept (same envelope) after a scope-only update" "$ct_before" "$ct_after"
expect_eq "no new secret version written" 1 \
    "$(db_sql "select count(*) from secret_versions s join credentials c on c.id = s.credential_id join orgs o on o.id = c.org_id where o.slug = 'acme' and c.name = 'upd'")"
expect_ok "audit events for upd" -- ov audit events --credential upd --json
expect_json "credential.updated event lists expected_scope in detail.changed" \
    '.[0].kind == "credential.updated" and .[0].detail.changed == ["expected_scope"]'
expect_json "scope-only update replaced no secret" '.[0].detail.secrets_replaced == []'
expect_json "event names org and credential" '.[0].org == "acme" and .[0].credential == "upd"'

expect_ok "new secret on update" -- ov cred put acme upd --secret-file "$RT"
expect_ok "audit events for upd after secret change" -- ov audit events --credential upd --json
expect_json "secret change recorded as secrets_replaced, not changed" \
    '.[0].detail.secrets_replaced == ["client_secret"] and .[0].detail.changed == []'
expect_eq "old secret kept as previous" "previous current" \
    "$(db_sql "select group_concat(stage, ' ') from (select s.stage from secret_versions s join credentials c on c.id = s.credential_id where c.name = 'upd' order by s.version) x")"
expect_fail 1 "bad --refresh-at refused" "refresh-at" -- ov cred put acme upd --refresh-at 1.5
expect_ok "--refresh-at 18h accepted" -- ov cred put acme upd --refresh-at 18h --json
expect_json "refresh_at shown as an age" '.refresh_at == "64800s"'

# --- list filters ---------------------------------------------------------------------
expect_ok "setup: beta genesys" -- ov cred put beta g --provider genesys --region us_east_1 \
    --client-id bg --secret-file "$S"
expect_ok "setup: beta servicenow" -- ov cred put beta s --provider servicenow --instance beta \
    --client-id bs --secret-file "$S"
db_sql "update credentials set status = 'revoked' where name = 's'"
expect_ok "cred list --json (all)" -- ov cred list --json
n_all=$(jq length "$OUT")
expect_json "all orgs listed" 'map(.org) | unique == ["acme", "beta"]'
expect_ok "cred list ORG" -- ov cred list beta --json
expect_json "ORG filter" 'map(.name) == ["g", "s"] and all(.[]; .org == "beta")'
expect_ok "cred list --provider servicenow" -- ov cred list --provider servicenow --json
expect_json "provider filter" 'length >= 2 and all(.[]; .provider == "servicenow")'
expect_ok "cred list --status revoked" -- ov cred list --status revoked --json
expect_json "status filter" 'map(.org + "/" + .name) == ["beta/s"]'
expect_ok "cred list --status active" -- ov cred list --status active --json
expect_json "active excludes the revoked one" \
    'length == ($n - 1) and all(.[]; .status == "active")' --argjson n "$n_all"
expect_ok "cred list ORG --provider genesys" -- ov cred list beta --provider genesys --json
expect_json "combined filters" 'map(.name) == ["g"]'
expect_fail 2 "cred list of unknown org: exit 2" "no org" -- ov cred list nosuch
expect_ok "a new secret re-activates a revoked credential" -- ov cred put beta s --secret-file "$S" --json
expect_json "status back to active" '.status == "active"'

# --- show -----------------------------------------------------------------------
expect_ok "cred show --json" -- ov cred show acme sn --json
for f in org name provider region token_url client_id grant auth expected_scope status created_at updated_at; do
	expect_json "cred show has $f" 'has($f) and (.[$f] | type == "string")' --arg f "$f"
done
expect_json "cred show values" '.org == "acme" and .name == "sn" and .client_id == "sn-client" and .status == "active"'
expect_json "cred show times are RFC 3339" \
    '(.created_at | test("^[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9]{2}:[0-9]{2}:[0-9]{2}Z$")) and (.updated_at | test("^[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9]{2}:[0-9]{2}:[0-9]{2}Z$"))'
expect_json "cred show holds no secret field" \
    '(keys | map(select(IN("client_secret", "secret", "refresh_token", "access_token", "token", "password")))) == []'
expect_json "cred show holds no secret value" \
    '[.. | strings | select(contains("client-secret-value") or contains("refresh-token-value"))] == []'
expect_json "cred show says whether secrets exist, as booleans" \
    '(.has_refresh_token | type) == "boolean" and (.has_pending_secret | type) == "boolean"'
expect_ok "cred show (text)" -- ov cred show acme sn
for f in org name provider region token_url client_id grant auth expected_scope status created_at updated_at; do
	if grep -aqE "^${f}[[:space:]]" "$OUT"; then
		pass "text cred show has $f"
	else
		fail "text cred show has $f"
		context
	fi
done
expect_stdout_lacks "cred show prints no secret" "client-secret-value-1"

# --- not found -------------------------------------------------------------------
expect_fail 2 "show unknown credential: exit 2" "no credential" -- ov cred show acme nosuch
expect_fail 2 "rm unknown credential: exit 2" "no credential" -- ov cred rm acme nosuch
expect_fail 2 "show credential of unknown org: exit 2" "" -- ov cred show nosuch sn
expect_fail 2 "put into unknown org: exit 2" "no org" -- ov cred put nosuch c \
    --provider genesys --region us_east_1 --client-id c --secret-file "$S"
expect_fail 1 "invalid credential name: exit 1" "credential name" -- ov cred put acme Bad_Name \
    --provider genesys --region us_east_1 --client-id c --secret-file "$S"

# --- rm ---------------------------------------------------------------------------
expect_ok "cred rm" -- ov cred rm acme sn
expect_fail 2 "removed credential is gone" "no credential" -- ov cred show acme sn
expect_fail 2 "cred rm twice: exit 2" "no credential" -- ov cred rm acme sn
expect_ok "audit has credential.deleted" -- ov audit events --kind credential.deleted --json
expect_json "credential.deleted names it" 'map(.org + "/" + .credential) == ["acme/sn"]'

# --- secret files ---------------------------------------------------------------------
expect_fail 2 "secret file missing: exit 2" "" -- ov cred put acme f1 --provider genesys \
    --region us_east_1 --client-id c --secret-file "$TMP/does-not-exist"
: >"$TMP/empty"
expect_fail 1 "empty secret file: exit 1" "empty" -- ov cred put acme f1 --provider genesys \
    --region us_east_1 --client-id c --secret-file "$TMP/empty"
printf '\n' >"$TMP/nl"
expect_fail 1 "secret file holding only a newline: exit 1" "empty" -- ov cred put acme f1 \
    --provider genesys --region us_east_1 --client-id c --secret-file "$TMP/nl"
head -c 1048576 /dev/zero | tr '\0' 'A' >"$TMP/big"
expect_fail 1 "1 MiB secret: exit 1" "16384|longer" -- ov cred put acme f1 --provider genesys \
    --region us_east_1 --client-id c --secret-file "$TMP/big"
head -c 16385 /dev/zero | tr '\0' 'B' >"$TMP/over"
expect_fail 1 "16385-byte secret: exit 1" "16384|longer" -- ov cred put acme f1 --provider genesys \
    --region us_east_1 --client-id c --secret-file "$TMP/over"
head -c 16384 /dev/zero | tr '\0' 'C' >"$TMP/max"
expect_ok "16384-byte secret accepted" -- ov cred put acme f-max --provider genesys \
    --region us_east_1 --client-id c --secret-file "$TMP/max"
printf 'first-half\nsecond-half\n' >"$TMP/twolines"
expect_fail 1 "secret with an embedded newline: exit 1" "one line" -- ov cred put acme f1 \
    --provider genesys --region us_east_1 --client-id c --secret-file "$TMP/twolines"
printf 'nul\0inside\n' >"$TMP/nul"
expect_fail 1 "secret with a NUL byte: exit 1" "NUL|one line" -- ov cred put acme f1 \
    --provider genesys --region us_east_1 --client-id c --secret-file "$TMP/nul"
printf 'crlf-secret\r\n' >"$TMP/crlf"
expect_ok "secret ending in CRLF accepted" -- ov cred put acme f-crlf --provider genesys \
    --region us_east_1 --client-id c --secret-file "$TMP/crlf"
expect_fail 1 "two '-' secrets in one command: exit 1" "stdin" -- ov cred put acme f1 \
    --provider genesys --region us_east_1 --client-id c --secret-file - \
    --grant refresh_token --refresh-token-file - <"$S"
expect_ok "secret from stdin" -- ov cred put acme f-stdin --provider genesys --region us_east_1 \
    --client-id c --secret-file - <"$S"
expect_fail 1 "empty stdin secret: exit 1" "empty" -- ov cred put acme f1 --provider genesys \
    --region us_east_1 --client-id c --secret-file - </dev/null
expect_fail 2 "f1 was never created" "no credential" -- ov cred show acme f1

expect_ok "check passes at the end" -- ov check --json
expect_json "check reports ok" '.ok == true and (.failures | length) == 0'

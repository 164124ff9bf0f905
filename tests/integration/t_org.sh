#!/usr/bin/env bash
# t_org.sh — org add/list/show/rm: JSON fields, conflicts, slug rules,
# not found, removal with and without credentials.
. "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

RFC3339='^[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9]{2}:[0-9]{2}:[0-9]{2}Z$'

setup_vault
secret_file "$TMP/s" "org-test-secret"

# --- add ----------------------------------------------------------------------
expect_ok "org add --json" -- \
    ov org add acme --name "Acme Corp" --external-id 6f1c2d3e-0000-4000-8000-000000000001 --json
expect_json "add --json: slug" '.slug == "acme"'
expect_json "add --json: name" '.name == "Acme Corp"'
expect_json "add --json: external_id" '.external_id == "6f1c2d3e-0000-4000-8000-000000000001"'
expect_json "add --json: credentials is 0" '.credentials == 0'
expect_json "add --json: enabled" '.enabled == true'
expect_json "add --json: created_at is RFC 3339 UTC" '.created_at | test($re)' --arg re "$RFC3339"
expect_json "add --json: updated_at is RFC 3339 UTC" '.updated_at | test($re)' --arg re "$RFC3339"

expect_ok "org add without --name" -- ov org add beta
expect_stdout_contains "org add prints what it added" "beta"
expect_ok "org add with a UTF-8 name" -- ov org add gamma-2 --name "Gämma Ørg"

# --- list / show ------------------------------------------------------------
expect_ok "org list --json" -- ov org list --json
expect_json "list: three orgs, sorted by slug" 'map(.slug) == ["acme", "beta", "gamma-2"]'
expect_json "list: name defaults to the slug" '.[] | select(.slug == "beta") | .name == "beta"'
expect_json "list: external_id defaults to empty" '.[] | select(.slug == "beta") | .external_id == ""'
expect_json "list: UTF-8 name kept" '.[] | select(.slug == "gamma-2") | .name == "Gämma Ørg"'
expect_json "list: every row has the fields" \
    'all(.[]; has("slug") and has("name") and has("external_id") and has("credentials") and has("created_at") and has("updated_at"))'
expect_json "list: times are RFC 3339" 'all(.[]; (.created_at | test($re)) and (.updated_at | test($re)))' --arg re "$RFC3339"

expect_ok "org list (text)" -- ov org list
expect_stdout_contains "text list shows the slug" "gamma-2"

expect_ok "org show --json" -- ov org show acme --json
expect_json "show: fields" \
    '.slug == "acme" and .name == "Acme Corp" and .external_id == "6f1c2d3e-0000-4000-8000-000000000001" and .credentials == 0'
expect_json "show: created_at is RFC 3339" '.created_at | test($re)' --arg re "$RFC3339"
expect_ok "org show (text)" -- ov org show acme
expect_stdout_contains "text show has the name" "Acme Corp"

# --- conflicts and validation ------------------------------------------------
expect_fail 3 "duplicate org add: exit 3" "exists" -- ov org add acme
expect_fail 3 "duplicate org add with other name: exit 3" "exists" -- ov org add acme --name Other
expect_ok "duplicate add changed nothing" -- ov org show acme --json
expect_json "name unchanged after refused duplicate" '.name == "Acme Corp"'

expect_fail 1 "slug with uppercase refused" "lowercase" -- ov org add Acme
expect_fail 1 "slug with underscore refused" "lowercase" -- ov org add acme_corp
expect_fail 1 "slug with leading '-' refused" "start or end" -- ov org add -- -acme
expect_fail 1 "slug with trailing '-' refused" "start or end" -- ov org add acme-
expect_fail 1 "64-character slug refused" "63" -- ov org add "$(printf 'a%.0s' $(seq 64))"
expect_ok "63-character slug accepted" -- ov org add "$(printf 'b%.0s' $(seq 63))"
expect_fail 1 "empty slug refused" "1 to 63|empty" -- ov org add ""
expect_fail 1 "slug with a space refused" "lowercase" -- ov org add "a b"
expect_fail 1 "slug with a slash refused" "lowercase" -- ov org add "a/b"
expect_fail 1 "slug with non-ASCII refused" "lowercase" -- ov org add "café"
expect_fail 1 "name with a control character refused" "control" -- ov org add delta --name $'bad\tname'
expect_fail 1 "name over 200 bytes refused" "longer|200" -- ov org add delta --name "$(printf 'n%.0s' $(seq 201))"
expect_fail 1 "org add without slug is a usage error" "SLUG" -- ov org add
expect_ok "no invalid org was created" -- ov org list --json
expect_json "still exactly four orgs" 'length == 4 and (map(.slug) | index("delta") == null)'

# --- not found ---------------------------------------------------------------
expect_fail 2 "show unknown org: exit 2" "no org" -- ov org show nosuch
expect_fail 2 "rm unknown org: exit 2" "no org" -- ov org rm nosuch
expect_fail 2 "rm unknown org with --force: exit 2" "no org" -- ov org rm nosuch --force

# --- rm ----------------------------------------------------------------------
expect_ok "rm an empty org" -- ov org rm beta
expect_fail 2 "removed org is gone" "no org" -- ov org show beta

expect_ok "setup: credential 1 in acme" -- ov cred put acme one --provider genesys \
    --region us_east_1 --client-id c1 --secret-file "$TMP/s"
expect_ok "setup: credential 2 in acme" -- ov cred put acme two --provider servicenow \
    --instance acme --client-id c2 --secret-file "$TMP/s"
expect_ok "org show counts credentials" -- ov org show acme --json
expect_json "credentials == 2" '.credentials == 2'

expect_fail 3 "rm of an org with credentials: exit 3" "credential" -- ov org rm acme
expect_ok "org still there after refused rm" -- ov org show acme --json
expect_json "its credentials still there too" '.credentials == 2'
expect_ok "cred list after refused rm" -- ov cred list acme --json
expect_json "both credentials listed" 'length == 2'

expect_ok "rm --force removes the org with its credentials" -- ov org rm acme --force
expect_fail 2 "forced-removed org is gone" "no org" -- ov org show acme
expect_ok "cred list of all orgs" -- ov cred list --json
expect_json "its credentials are gone" 'map(select(.org == "acme")) | length == 0'
expect_true "no secret rows left in the database" -- \
    test "$(db_sql 'select count(*) from secret_versions')" = 0
expect_true "no credential rows left in the database" -- \
    test "$(db_sql 'select count(*) from credentials')" = 0

# --- events ----------------------------------------------------------------
expect_ok "audit events --json" -- ov audit events --json --limit 1000
expect_json "org.created events recorded" '[.[] | select(.kind == "org.created")] | length == 4'
expect_json "org.deleted events recorded" '[.[] | select(.kind == "org.deleted")] | map(.org) | sort == ["acme", "beta"]'
expect_json "forced rm records how many credentials went" \
    '.[] | select(.kind == "org.deleted" and .org == "acme") | .detail.credentials_removed == 2'
expect_ok "check passes after all that" -- ov check

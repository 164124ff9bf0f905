#!/usr/bin/env bash
# t_migrate_keys.sh — a vault of schema 0004 (tests/fixtures/v4-vault,
# made by tests/fixtures/make_v4_vault.sh with the orgvault of commit
# a1708f5, when API keys named orgs by slug) migrated to 0005: slugs
# become org ids, every key whose row was not edited still verifies with
# the same orgs, a key none of whose orgs exists is revoked (with the
# reason), a row edited before the upgrade stays refused (the migration
# does not MAC it anew) and check names it, and the orgs column is gone.
. "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
sqlite_only "it upgrades a SQLite vault of schema 0004 (tests/fixtures/v4-vault); no PostgreSQL vault predates migration 0005"
. "$(dirname "${BASH_SOURCE[0]}")/fake.sh"
. "$(dirname "${BASH_SOURCE[0]}")/api.sh"

FIX=$(cd "$(dirname "${BASH_SOURCE[0]}")/../fixtures/v4-vault" && pwd)
mkdir -p "$DIR"
cp "$FIX/orgvault.db" "$FIX/master.key" "$DIR/"
chmod 700 "$DIR"
chmod 600 "$DIR"/*
for k in admin dash ghost half edited gone; do
	eval "K_$k=\$(cat \"\$FIX/$k.txt\")"
done
expect_true "setup: the fixture's keys are there" -- \
    test ${#K_admin} = 63 -a ${#K_dash} = 63 -a ${#K_ghost} = 63 -a ${#K_half} = 63 \
    -a ${#K_edited} = 63 -a ${#K_gone} = 63

# An edit an attacker with write access to the database made before the
# upgrade: the reader key made admin.  Its 0004 MAC no longer holds.
dbq "UPDATE api_keys SET role = 'admin' WHERE name = 'edited'"

expect_fail 5 "before: the old schema is refused until migrated" 'migrate' -- ov apikey list
expect_ok "migrate" -- ov migrate --json
expect_json "one migration applied (0005)" '.applied == 1'
expect_eq "the orgs column is gone, org_ids, credentials, expires_at are there" \
    "credentials expires_at org_ids" \
    "$(sqlite3 "$DB" "SELECT group_concat(name, ' ') FROM (SELECT name FROM pragma_table_info('api_keys') WHERE name IN ('orgs', 'org_ids', 'credentials', 'expires_at') ORDER BY name)")"
expect_eq "dash holds the ids of acme and beta" \
    "$(sqlite3 "$DB" "SELECT group_concat(id) FROM (SELECT id FROM orgs WHERE slug IN ('acme', 'beta') ORDER BY id)")" \
    "$(sqlite3 "$DB" "SELECT org_ids FROM api_keys WHERE name = 'dash'")"
expect_eq "the admin key stays for every org" "*" \
    "$(sqlite3 "$DB" "SELECT org_ids FROM api_keys WHERE name = 'fixture-admin'")"

expect_ok "apikey list --json" -- ov apikey list --json
expect_json "dash: acme,beta, live, all credentials, no expiry" \
    '.[] | select(.name == "dash") | .orgs == "acme,beta" and .revoked == false and .credentials == "*" and .expires_at == null'
expect_json "ghost (named orgs that never existed) is revoked" \
    '.[] | select(.name == "ghost") | .revoked == true and .orgs == ""'
expect_json "half (nothere,acme) keeps acme, live" \
    '.[] | select(.name == "half") | .orgs == "acme" and .revoked == false'
expect_json "gone stays revoked" '.[] | select(.name == "gone") | .revoked == true'
run events_json --kind apikey.revoked
expect_json "ghost's revocation says why" \
    '[.[] | select(.detail.name == "ghost") | .detail.reason | startswith("migration 0005")] == [true]'

run ov check --json
expect_eq "check: exit 4 (one row fails)" 4 "$RC"
expect_json "check names the edited row, and only it" \
    '[.failures[] | select(.table == "api_keys")] | length == 1 and .[0].column == "row_mac"'
expect_eq "the edited row's id" \
    "$(sqlite3 "$DB" "SELECT id FROM api_keys WHERE name = 'edited'")" \
    "$(jq -r '.failures[] | select(.table == "api_keys") | .row' "$OUT")"

serve_start main || exit 1
api GET /v1/apikeys "$K_admin"
expect_status "the admin key verifies after the migration" 200
api GET /v1/orgs/acme "$K_dash"
expect_status "dash sees acme" 200
api GET /v1/orgs/beta "$K_dash"
expect_status "dash sees beta" 200
api GET /v1/orgs "$K_dash"
expect_body "dash lists acme and beta" '[.orgs[].slug] == ["acme", "beta"]'
api GET /v1/orgs "$K_half"
expect_body "half lists acme alone" '[.orgs[].slug] == ["acme"]'
api GET /v1/orgs "$K_ghost"
expect_problem "ghost: 401" 401 unauthorized
api GET /v1/orgs "$K_edited"
expect_problem "the edited key (made admin in the database): 401" 401 unauthorized
api GET /v1/orgs "$K_gone"
expect_problem "gone: 401" 401 unauthorized
serve_stop "$SERVE_PID"
expect_clean_log "serve log: no crash or sanitizer report" "$(serve_log main)"

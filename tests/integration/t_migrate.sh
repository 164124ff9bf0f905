#!/usr/bin/env bash
# t_migrate.sh — the migrations runner: status, idempotent migrate, a
# changed checksum (exit 4) and a schema newer than the binary (exit 5).
. "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

setup_vault
secret_file "$TMP/s" "migrate-secret"
expect_ok "setup: org" -- ov org add acme
expect_ok "setup: credential" -- ov cred put acme cc --provider genesys --region us_east_1 \
    --client-id c --secret-file "$TMP/s"
snapshot

expect_ok "migrate status --json" -- ov migrate status --json
expect_json "status is a non-empty array" 'type == "array" and length >= 1'
expect_json "0001_init is listed as version 1, applied" \
    'any(.[]; .name == "0001_init" and .version == 1 and .state == "applied")'
expect_json "0001_init has a 64-hex checksum" \
    '.[] | select(.name == "0001_init") | .checksum | test("^[0-9a-f]{64}$")'
expect_json "every migration is applied after init" 'all(.[]; .state == "applied")'
expect_json "every applied migration has an RFC 3339 applied_at" \
    'all(.[]; .applied_at | test("^[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9]{2}:[0-9]{2}:[0-9]{2}Z$"))'
expect_json "versions ascend and names start with their number" \
    '(map(.version) == (map(.version) | sort)) and all(.[]; (.name | test("^[0-9]{4}_")) and ((.name[0:4] | tonumber) == .version))'
STATUS_JSON=$(cat "$OUT")
n_mig=$(jq length "$OUT" 2>/dev/null)
n_mig=${n_mig:-0}
sum_db=$(db_sql "select checksum from schema_migrations where name = '0001_init'")
expect_json "status checksum equals the recorded one" \
    '.[] | select(.name == "0001_init") | .checksum == $s' --arg s "$sum_db"
expect_eq "schema_migrations records every embedded migration" "$n_mig" \
    "$(db_sql 'select count(*) from schema_migrations')"

expect_ok "migrate status (text)" -- ov migrate status
expect_stdout_contains "text status names 0001_init" "0001_init"
expect_stdout_contains "text status says applied" "applied"

before=$(db_dump | sha256sum)
expect_ok "migrate on an up-to-date vault" -- ov migrate
expect_stdout_contains "migrate reports applied 0" "applied 0"
expect_eq "a no-op migrate changes no content" "$before" "$(db_dump | sha256sum)"
expect_ok "migrate --json on an up-to-date vault" -- ov migrate --json
expect_json "migrate --json: applied 0" '.applied == 0'
expect_ok "status unchanged by a no-op migrate" -- ov migrate status --json
expect_json "same status as before" '. == $s' --argjson s "$STATUS_JSON"
expect_ok "the vault still works after migrate" -- ov check

# --- a pending migration (the vault was made by an older orgvault) -----------------
if [ "$n_mig" -ge 2 ]; then
	last=$(db_sql 'select max(version) from schema_migrations')
	last_name=$(db_sql "select name from schema_migrations where version = $last")
	# Undo what the last migration recorded, not its DDL: enough to be "pending".
	db_sql "delete from schema_migrations where version = $last"
	expect_fail 5 "a pending migration: commands refuse (exit 5) naming it" "$last_name" -- \
	    ov org list
	expect_stderr_contains "a pending migration: message says to run migrate" "orgvault migrate"
	expect_ok "a pending migration: migrate status works" -- ov migrate status --json
	expect_json "a pending migration: status says pending" \
	    '.[] | select(.name == $n) | .state == "pending"' --arg n "$last_name"
	restore
elif [ "$n_mig" -eq 1 ]; then
	pass "only one migration embedded: nothing can be pending"
else
	fail "migrate status lists the embedded migrations" "got: '$n_mig'"
fi

# --- changed checksum -----------------------------------------------------------------
restore
db_sql "update schema_migrations set checksum = '$(printf '0%.0s' $(seq 64))' where name = '0001_init'"
for c in "org list" "org add other" "org show acme" "cred list" "cred show acme cc" \
    "audit events" "check" "migrate" "migrate status"; do
	# shellcheck disable=SC2086
	expect_fail 4 "changed checksum: '$c' refuses with exit 4 naming 0001_init" "0001_init" -- \
	    ov $c
done
expect_fail 4 "changed checksum: cred put refuses" "0001_init" -- ov cred put acme cc \
    --secret-file "$TMP/s"
expect_fail 4 "changed checksum: import refuses" "0001_init" -- ov import /dev/null
expect_eq "changed checksum: nothing was written" 0 \
    "$(db_sql "select count(*) from orgs where slug = 'other'")"

# --- newer schema ---------------------------------------------------------------------
restore
db_sql "INSERT INTO schema_migrations VALUES (9999, '9999_future', 'x', 0)"
for c in "org list" "org add other" "org show acme" "cred list" "cred show acme cc" \
    "audit events" "check" "migrate" "migrate status"; do
	# shellcheck disable=SC2086
	expect_fail 5 "newer schema: '$c' refuses with exit 5 naming 9999_future" "9999_future" -- \
	    ov $c
done
expect_fail 5 "newer schema: import refuses" "9999_future" -- ov import /dev/null
expect_stderr_contains "newer schema: message says to upgrade" "upgrade"
expect_eq "newer schema: migrate did not touch the record" "1" \
    "$(db_sql "select count(*) from schema_migrations where version = 9999")"
expect_eq "newer schema: nothing was written" 0 \
    "$(db_sql "select count(*) from orgs where slug = 'other'")"

restore
expect_ok "restored vault passes check" -- ov check

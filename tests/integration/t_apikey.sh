#!/usr/bin/env bash
# t_apikey.sh — apikey create/list/revoke: the key is printed once, alone,
# and nowhere else (lists, events, the database files, any other output);
# exit codes, validation, name reuse after revoke, --json; and org update.
. "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

RFC3339='^[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9]{2}:[0-9]{2}:[0-9]{2}Z$'
KEY_RE='^ov_[0-9a-f]{16}_[A-Za-z0-9_-]{43}$'

SEC=$TMP/secrets	# keys are kept here, outside CAP
mkdir -m 700 "$SEC"
KEY_OUTS=()		# the captures that legitimately hold a key

# keep NAME: saves the key printed by the last create (text or --json).
keep() {
	if jq -e . "$OUT" >/dev/null 2>&1; then
		jq -r .key "$OUT" >"$SEC/$1"
	else
		cat "$OUT" >"$SEC/$1"
	fi
	KEY_OUTS+=("$OUT")
}
secret_of() {	# the part after "ov_<key_id>_"
	cut -c21- "$SEC/$1"
}

setup_vault
expect_ok "setup: org add acme" -- ov org add acme --name "Acme" --external-id ext-1
expect_ok "setup: org add beta" -- ov org add beta --name "Beta"

# --- create (text) --------------------------------------------------------------
expect_ok "create an admin key" -- ov apikey create ci-admin --role admin
keep ci-admin
expect_eq "stdout is exactly one line" 1 "$(wc -l <"$OUT" | tr -d ' ')"
expect_true "the line is the key: $KEY_RE" -- grep -Eqx -- "$KEY_RE" "$OUT"
expect_stderr_contains "stderr says the key is shown once" "shown this once"
expect_stderr_contains "stderr names the key_id" "$(cut -c4-19 "$SEC/ci-admin")"
ADMIN_ID=$(cut -c4-19 "$SEC/ci-admin")

expect_ok "create a token key for two orgs" -- \
    ov apikey create broker --role token --orgs acme,beta
keep broker
expect_true "token key has the key format" -- grep -Eqx -- "$KEY_RE" "$OUT"
expect_false "two keys differ" -- cmp -s "$SEC/ci-admin" "$SEC/broker"

# --- create --json --------------------------------------------------------------
expect_ok "create --json" -- ov apikey create reader-1 --role reader --orgs '*' --json
keep reader-1
expect_json "--json: one object with the fields" \
    '(keys | sort) == (["created_at","credentials","expired","expires_at","key","key_id","last_used_at","name","orgs","revoked","revoked_at","role"] | sort)'
expect_json "--json: name, role, orgs" '.name == "reader-1" and .role == "reader" and .orgs == "*"'
expect_json "--json: key has the format" '.key | test($re)' --arg re "$KEY_RE"
expect_json "--json: key_id is the key's" '.key[3:19] == .key_id'
expect_json "--json: created_at is RFC 3339" '.created_at | test($re)' --arg re "$RFC3339"
expect_json "--json: not used, not revoked" '.last_used_at == null and .revoked_at == null and .revoked == false'
expect_json "--json: all credentials, no expiry" '.credentials == "*" and .expires_at == null and .expired == false'
expect_ok "operator key, default orgs" -- ov apikey create ops --role operator --json
keep ops
expect_json "--orgs defaults to *" '.orgs == "*"'

# --- refusals --------------------------------------------------------------------
expect_fail 3 "live name again: exit 3" "revoke it first" -- ov apikey create ci-admin --role reader
expect_fail 1 "create without NAME" "NAME" -- ov apikey create --role admin
expect_fail 1 "create without --role" "role" -- ov apikey create nobody
expect_fail 1 "unknown role" "role must be" -- ov apikey create nobody --role root
expect_fail 1 "bad name" "lowercase" -- ov apikey create No_Body --role reader
expect_fail 1 "empty orgs" "empty" -- ov apikey create nobody --role reader --orgs ''
expect_fail 1 "empty entry in orgs" "empty" -- ov apikey create nobody --role reader --orgs a,,b
expect_fail 1 "duplicate org in orgs" "twice" -- ov apikey create nobody --role reader --orgs a,b,a
expect_fail 1 "* mixed with slugs" "alone" -- ov apikey create nobody --role reader --orgs 'a,*'
expect_fail 1 "bad slug in orgs" "lowercase" -- ov apikey create nobody --role reader --orgs 'acme,Beta'
expect_fail 1 "an org that does not exist" "ghost, which is no org" -- ov apikey create nobody --role reader --orgs acme,ghost
expect_fail 1 "credentials for an admin key" "admin key cannot be limited" -- \
    ov apikey create nobody --role admin --orgs acme --credentials main
expect_fail 1 "empty entry in credentials" "empty" -- ov apikey create nobody --role token --credentials main,,cc
expect_fail 1 "bad name in credentials" "lowercase" -- ov apikey create nobody --role token --credentials Main
for bad in 0d 5 5w -1h 1.5d 3651d ''; do
	expect_fail 1 "--expires-in '$bad'" "duration" -- ov apikey create nobody --role token --expires-in "$bad"
done
expect_fail 1 "orgs over 1024 bytes" "1024" -- ov apikey create nobody --role reader \
    --orgs "$(for i in $(seq 300); do printf 'o%03d,' "$i"; done)z"
expect_fail 1 "two names" "too many" -- ov apikey create a b --role reader
expect_fail 1 "unknown option" "unknown option" -- ov apikey create nobody --role reader --secret x
expect_fail 1 "apikey without a subcommand" "command is needed" -- ov apikey
expect_fail 1 "unknown subcommand" "unknown command" -- ov apikey delete ci-admin
expect_fail 1 "list takes no argument" "no argument" -- ov apikey list ci-admin
expect_ok "nothing was made by the refusals" -- ov apikey list --json
expect_json "four keys" 'map(.name) == ["broker", "ci-admin", "ops", "reader-1"]'

# --- help -------------------------------------------------------------------------
for sub in "" create list revoke; do
	expect_ok "apikey $sub --help" -- ov apikey $sub --help
	expect_stdout_contains "apikey $sub --help shows the usage" "usage: orgvault apikey create"
	expect_stdout_contains "apikey $sub --help explains exit codes" "Exit 1"
done
expect_ok "orgvault --help lists apikey" -- ov --help
expect_stdout_contains "top-level usage names apikey" "apikey"

# --- list ---------------------------------------------------------------------------
expect_ok "apikey list (text)" -- ov apikey list
expect_true "header names the columns" -- \
    grep -Eq '^NAME +ROLE +ORGS +CREDENTIALS +KEY_ID +CREATED +EXPIRES +LAST_USED +REVOKED$' "$OUT"
expect_stdout_contains "text list shows the orgs" "acme,beta"
expect_stdout_contains "text list shows the key_id" "$ADMIN_ID"
expect_ok "apikey list --json" -- ov apikey list --json
expect_json "list: every row has the fields, never a key or hash" \
    'all(.[]; has("name") and has("role") and has("orgs") and has("credentials") and has("key_id") and has("created_at") and has("expires_at") and has("expired") and has("last_used_at") and has("revoked_at") and (has("key") | not) and (has("secret_hash") | not) and (has("hash") | not))'
expect_json "list: the admin key" '.[] | select(.name == "ci-admin") | .role == "admin" and .orgs == "*" and .key_id == $id' --arg id "$ADMIN_ID"
expect_json "list: the token key" '.[] | select(.name == "broker") | .role == "token" and .orgs == "acme,beta"'

# --- revoke and reuse ---------------------------------------------------------------------
expect_ok "revoke" -- ov apikey revoke ci-admin
expect_stdout_contains "revoke says what it revoked" "ci-admin"
expect_fail 2 "revoke again: exit 2" "no live API key" -- ov apikey revoke ci-admin
expect_fail 2 "revoke unknown: exit 2" "no live API key" -- ov apikey revoke nosuch
expect_fail 1 "revoke without NAME" "NAME" -- ov apikey revoke
expect_ok "revoke --json" -- ov apikey revoke ops --json
expect_json "revoke --json: the revoked key" '.name == "ops" and .revoked == true and (.revoked_at | test($re)) and (has("key") | not)' --arg re "$RFC3339"
expect_ok "list after revoke" -- ov apikey list --json
expect_json "revoked keys stay listed, with revoked_at" \
    '[.[] | select(.revoked)] | map(.name) == ["ci-admin", "ops"]'
expect_ok "the name of a revoked key can be reused" -- ov apikey create ci-admin --role reader
keep ci-admin-2
expect_true "the new key has the format" -- grep -Eqx -- "$KEY_RE" "$OUT"
expect_false "the new key is another key" -- cmp -s "$SEC/ci-admin" "$SEC/ci-admin-2"
expect_ok "list after reuse" -- ov apikey list --json
expect_json "one ci-admin, live, new key_id, new role" \
    '[.[] | select(.name == "ci-admin")] | length == 1 and .[0].revoked == false and .[0].key_id != $id and .[0].role == "reader"' --arg id "$ADMIN_ID"

# --- events ---------------------------------------------------------------------------
expect_ok "audit events --json" -- ov audit events --json --limit 1000
AUDIT=$OUT
expect_json "apikey.created events" '[.[] | select(.kind == "apikey.created")] | length == 5'
expect_json "apikey.revoked events" '[.[] | select(.kind == "apikey.revoked")] | map(.detail.name) | sort == ["ci-admin", "ops"]'
expect_json "event detail: name, role, orgs (slugs and ids), credentials, expiry, key_id only" \
    'all(.[] | select(.kind | startswith("apikey.")); (.detail | keys) == ["credentials", "expires_at", "key_id", "name", "org_ids", "orgs", "role"])'
expect_json "the first admin key's events name its key_id" \
    '[.[] | select(.detail.key_id == $id) | .kind] | sort == ["apikey.created", "apikey.revoked"]' --arg id "$ADMIN_ID"
expect_ok "audit events (text)" -- ov audit events --kind apikey.created
expect_ok "check passes (opens the hash key)" -- ov check --json
expect_json "check ok" '.ok == true'

# --- the key is nowhere else ----------------------------------------------------------------
expect_ok "sqlite3: api_keys rows" -- db_sql "select * from api_keys"
expect_ok "sqlite3: dump of the whole database" -- db_dump
expect_true "secret_hash is 32 bytes (4 rows: a reused name replaced its row)" -- \
    test "$(db_sql "select count(*) from api_keys where length(secret_hash) = 32")" = 4
expect_true "the hash key is stored sealed (an envelope, hex)" -- \
    test "$(db_sql "select count(*) from vault_meta where key = 'apikey_hash_key' and length(value) > 64")" = 1
expect_true "stdout of create held the key (control)" -- grep -aqF -- "$(secret_of broker)" "${KEY_OUTS[1]}"

others=()
for f in "$CAP"/*; do
	skip=0
	for k in "${KEY_OUTS[@]}"; do
		[ "$f" = "$k" ] && skip=1
	done
	[ "$skip" -eq 0 ] && others+=("$f")
done
for name in ci-admin broker reader-1 ops ci-admin-2; do
	s=$(secret_of "$name")
	expect_eq "control: $name's secret part has 43 characters" 43 "${#s}"
	found=$(grep -a -l -F -- "$s" "$DB" "$DB-wal" "$DB-shm" "${others[@]}" 2>/dev/null)
	expect_eq "$name's secret in no db file and no other output" "" "$found"
	found=$(grep -a -l -F -- "$(cat "$SEC/$name")" "$DIR"/* "${others[@]}" 2>/dev/null)
	expect_eq "$name's whole key in no file of the data dir or other output" "" "$found"
done
expect_true "captures were made" -- test "${#others[@]}" -ge 40

# --- org update --------------------------------------------------------------------------
expect_ok "org update --name --json" -- ov org update acme --name "Acme Corp" --json
expect_json "name changed, external_id kept" '.slug == "acme" and .name == "Acme Corp" and .external_id == "ext-1"'
expect_json "updated_at is RFC 3339" '.updated_at | test($re)' --arg re "$RFC3339"
expect_ok "org update --external-id (text)" -- ov org update acme --external-id ext-2
expect_stdout_contains "text update says what it updated" "updated org acme"
expect_ok "org show after update" -- ov org show acme --json
expect_json "both changes kept" '.name == "Acme Corp" and .external_id == "ext-2"'
expect_ok "org update --external-id '' clears it" -- ov org update acme --external-id '' --json
expect_json "external_id cleared" '.external_id == "" and .name == "Acme Corp"'
expect_fail 1 "org update with nothing to change" "--name or --external-id" -- ov org update acme
expect_fail 1 "org update without SLUG" "SLUG" -- ov org update --name X
expect_fail 2 "org update of an unknown org: exit 2" "no org" -- ov org update nosuch --name X
expect_fail 1 "org update with an empty name" "empty" -- ov org update acme --name ''
expect_fail 1 "org update with a control character" "control" -- ov org update acme --name $'a\tb'
expect_fail 1 "org update with a name over 200 bytes" "200" -- \
    ov org update acme --name "$(printf 'n%.0s' $(seq 201))"
expect_ok "org update --help" -- ov org update --help
expect_stdout_contains "org usage names update" "org update SLUG"
expect_ok "audit events of the org" -- ov audit events --org acme --kind org.updated --json
expect_json "one org.updated per change, with the changed fields" \
    'map(.detail) == [{"external_id": ""}, {"external_id": "ext-2"}, {"name": "Acme Corp"}]'
expect_ok "check passes after all that" -- ov check

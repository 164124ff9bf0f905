#!/usr/bin/env bash
# t_badinput.sh — hostile surroundings and bad input: a locked database, a
# read-only vault, missing or wrong data dirs, and atomic import.
. "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

dump_sum() { db_dump | sha256sum | cut -d' ' -f1; }

setup_vault
S=$TMP/s
secret_file "$S" "badinput-secret"
expect_ok "setup: org acme" -- ov org add acme
expect_ok "setup: credential" -- ov cred put acme cc --provider genesys --region us_east_1 \
    --client-id c --secret-file "$S"

# --- locked database ----------------------------------------------------------------
# Another session takes the write lock (sqlite3's BEGIN IMMEDIATE, or
# psql taking orgvault's advisory lock) and holds it until we tell it to
# commit; a marker file says when the lock is held.
before=$(dump_sum)
mkfifo "$TMP/lock.fifo"
db_shell <"$TMP/lock.fifo" >"$TMP/misc/lock.out" 2>&1 &
LOCKER=$!
bg_track "$LOCKER"
exec 3>"$TMP/lock.fifo"
db_lock_lines "$TMP/misc/locked" >&3
if wait_for_file "$TMP/misc/locked" 10; then
	pass "setup: another session holds the write lock"
else
	fail "setup: another session holds the write lock" "$(cat "$TMP/misc/lock.out")"
fi
t0=$(date +%s.%N)
expect_fail 5 "locked database: org add exits 5 saying locked" "locked" -- \
    timeout 60 env ORGVAULT_BUSY_TIMEOUT_MS=300 "$ORGVAULT" --data-dir "$DIR" org add x
echo "# locked org add gave up after $(elapsed_since "$t0")s (busy timeout 300 ms)"
expect_stderr_contains "locked database: message names the busy-timeout knob" "ORGVAULT_BUSY_TIMEOUT_MS"
expect_fail 5 "locked database: cred put exits 5 saying locked" "locked" -- \
    timeout 60 env ORGVAULT_BUSY_TIMEOUT_MS=300 "$ORGVAULT" --data-dir "$DIR" cred put acme cc2 \
    --provider genesys --region us_east_1 --client-id c --secret-file "$S"
expect_fail 5 "locked database: import exits 5 saying locked" "locked" -- \
    timeout 60 env ORGVAULT_BUSY_TIMEOUT_MS=300 "$ORGVAULT" --data-dir "$DIR" import /dev/null
expect_ok "locked database: reads still work (WAL)" -- \
    timeout 60 env ORGVAULT_BUSY_TIMEOUT_MS=300 "$ORGVAULT" --data-dir "$DIR" org list --json
expect_json "locked database: x not added" 'map(.slug) == ["acme"]'
db_unlock_lines >&3
exec 3>&-
wait "$LOCKER" 2>/dev/null
expect_eq "after the lock is released the vault is unchanged" "$before" "$(dump_sum)"
expect_ok "after the lock is released the same add works" -- ov org add x
expect_ok "check passes after the lock episode" -- ov check

# A lock released while orgvault waits: it gets through (default timeout).
mkfifo "$TMP/lock2.fifo"
db_shell <"$TMP/lock2.fifo" >"$TMP/misc/lock2.out" 2>&1 &
LOCKER2=$!
bg_track "$LOCKER2"
exec 4>"$TMP/lock2.fifo"
db_lock_lines "$TMP/misc/locked2" >&4
wait_for_file "$TMP/misc/locked2" 10
( sleep 0.5; db_unlock_lines >&4 ) &
bg_track $!
expect_ok "a lock released within the busy timeout is waited for" -- \
    timeout 60 env ORGVAULT_BUSY_TIMEOUT_MS=10000 "$ORGVAULT" --data-dir "$DIR" org add y
exec 4>&-
wait "$LOCKER2" 2>/dev/null

# --- read-only vault (as nobody: root ignores file modes) -----------------------------
if need_root "read-only vault tests"; then
	chmod 711 "$TMP"
	RO=$TMP/ro
	mkdir "$RO"
	chown nobody:nogroup "$RO"
	RODIR=$RO/vault
	asnobody() { setpriv --reuid=nobody --regid=nogroup --clear-groups "$@"; }
	rov() { asnobody "$ORGVAULT" --data-dir "$RODIR" "$@"; }
	expect_ok "nobody can init a vault" -- rov init
	expect_ok "nobody can add an org" -- rov org add ro-org
	expect_eq "nobody's key file is nobody's" nobody "$(stat -c %U "$RODIR/master.key" 2>&1)"
	# PostgreSQL: the role's sessions become read-only.
	ro_sum() { if on_pg; then DIR=$RODIR db_dump | sha256sum; else sha_of "$RODIR/orgvault.db"; fi; }
	if on_pg; then
		pg_psql "ALTER ROLE orgvault SET default_transaction_read_only = on" >/dev/null
	else
		chmod 0500 "$RODIR"
		chmod 0400 "$RODIR/orgvault.db"
	fi
	ro_before=$(ro_sum)
	expect_fail 5 "read-only vault: org add fails (exit 5) with one clear line" \
	    "read-only|not accessible" -- rov org add another
	expect_fail 5 "read-only vault: cred put fails (exit 5) with one clear line" \
	    "read-only|not accessible" -- asnobody "$ORGVAULT" --data-dir "$RODIR" cred put ro-org c \
	    --provider genesys --region us_east_1 --client-id c --secret-file - <"$S"
	run rov org list
	if why=$(_crashed); then
		fail "read-only vault: org list does not crash" "$why"
		context
	elif [ "$RC" -eq 0 ] || { [ "$RC" -eq 5 ] && [ "$(wc -l <"$ERR")" -eq 1 ]; }; then
		pass "read-only vault: org list works or fails with one line"
	else
		fail "read-only vault: org list works or fails with one line" "exit $RC"
		context
	fi
	expect_eq "read-only vault: database unchanged" "$ro_before" "$(ro_sum)"
	if on_pg; then
		pg_psql "ALTER ROLE orgvault RESET default_transaction_read_only" >/dev/null
	else
		expect_false "read-only vault: no WAL left behind" -- test -s "$RODIR/orgvault.db-wal"
		chmod 0700 "$RODIR"
		chmod 0600 "$RODIR/orgvault.db"
	fi
	expect_ok "writable again: org add works" -- rov org add another
	expect_ok "writable again: check passes" -- rov check
fi

# --- data dir problems ---------------------------------------------------------------
expect_fail 2 "missing data dir: exit 2" "init" -- \
    "$ORGVAULT" --data-dir "$TMP/no-such-dir" org list
expect_false "missing data dir is not created by a read" -- test -e "$TMP/no-such-dir"
mkdir -m 700 "$TMP/empty-dir"
expect_fail 2 "data dir without a vault: exit 2" "init" -- \
    "$ORGVAULT" --data-dir "$TMP/empty-dir" org list
expect_false "no database was created in it" -- test -e "$TMP/empty-dir/orgvault.db"
if on_pg; then
	expect_eq "no schema was created for it" "" \
	    "$(pg_psql "SELECT 1 FROM pg_namespace WHERE nspname = '$(pg_schema_of "$TMP/empty-dir")'")"
fi
printf 'just a file\n' >"$TMP/a-file"
expect_fail "1|2|5" "data dir path is a file: clear one-line error" "not a directory" -- \
    "$ORGVAULT" --data-dir "$TMP/a-file" org list
expect_fail "1|3|5" "init into a path that is a file: clear one-line error" "not a directory" -- \
    "$ORGVAULT" --data-dir "$TMP/a-file" init
expect_eq "the file was left alone" "just a file" "$(cat "$TMP/a-file")"
expect_fail 1 "no data dir at all (no HOME, no env): usage error" "data-dir|ORGVAULT_DATA_DIR" -- \
    env -u HOME -u XDG_DATA_HOME -u ORGVAULT_DATA_DIR "$ORGVAULT" org list
expect_ok "ORGVAULT_DATA_DIR names the vault" -- \
    env ORGVAULT_DATA_DIR="$DIR" "$ORGVAULT" org show acme

# --- import: atomic -------------------------------------------------------------------
gen() {	# gen ORG NAME CLIENT_ID
	printf '{"org":"%s","name":"%s","provider":"genesys","region":"us_east_1","client_id":"%s","client_secret":"s-%s"}\n' \
	    "$1" "$2" "$3" "$3"
}
before=$(dump_sum)
{
	gen imp-1 cc one
	gen imp-2 cc two
	printf '{"org":"imp-3","name":"cc", this is not json\n'
	gen imp-4 cc four
	gen imp-5 cc five
} >"$TMP/bad-json.jsonl"
expect_fail 1 "import: invalid JSON on line 3 of 5: exit 1" "line 3" -- ov import "$TMP/bad-json.jsonl"
expect_stderr_contains "import: message says nothing was imported" "nothing"
expect_eq "import: lines 1-2 were not kept (vault unchanged)" "$before" "$(dump_sum)"
expect_fail 2 "import: no org from line 1" "no org" -- ov org show imp-1

{
	gen imp-1 cc one
	gen imp-2 cc two
	printf '{"org":"imp-3","name":"cc","provider":"okta","token_url":"https://x.example/t","client_id":"c","client_secret":"s"}\n'
	gen imp-4 cc four
	gen imp-5 cc five
} >"$TMP/bad-provider.jsonl"
expect_fail 1 "import: unknown provider on line 3: exit 1" "line 3" -- ov import "$TMP/bad-provider.jsonl"
expect_stderr_contains "import: message names the provider problem" "provider"
expect_eq "import: unknown provider left the vault unchanged" "$before" "$(dump_sum)"

{
	gen acme upd one	# a new credential in an existing org
	printf '{"org":"acme","name":"cc","scope":"changed"}\n'	# update
	printf '{"org":"imp-3","name":"cc","provider":"genesys","region":"us_east_1","client_id":"c"}\n'	# no secret
	gen imp-4 cc four
} >"$TMP/no-secret.jsonl"
expect_fail 1 "import: missing client_secret on line 3: exit 1" "line 3" -- ov import "$TMP/no-secret.jsonl"
expect_eq "import: updates from lines 1-2 were rolled back too" "$before" "$(dump_sum)"
expect_ok "import: acme/cc unchanged" -- ov cred show acme cc --json
expect_json "import: acme/cc client id unchanged" '.client_id == "c"'

{
	gen imp-1 cc one
	printf '{"org":"imp-2","name":"cc","client_secret":"%s"}\n' "$(head -c 70000 /dev/zero | tr '\0' x)"
} >"$TMP/long-line.jsonl"
expect_fail 1 "import: a line over 65536 bytes: exit 1 naming it" "line 2" -- ov import "$TMP/long-line.jsonl"
expect_eq "import: long line left the vault unchanged" "$before" "$(dump_sum)"
printf '{"org":"imp-1","name":"cc","name":"dup","provider":"genesys","region":"us_east_1","client_id":"c","client_secret":"s"}\n' \
    >"$TMP/dup-key.jsonl"
expect_fail 1 "import: duplicate JSON keys refused" "line 1" -- ov import "$TMP/dup-key.jsonl"
printf '[1, 2, 3]\n' >"$TMP/array.jsonl"
expect_fail 1 "import: a JSON array line refused" "line 1" -- ov import "$TMP/array.jsonl"
printf '{"org":"Bad Org","name":"cc","provider":"genesys","region":"us_east_1","client_id":"c","client_secret":"s"}\n' \
    >"$TMP/bad-slug.jsonl"
expect_fail 1 "import: invalid org slug refused" "line 1" -- ov import "$TMP/bad-slug.jsonl"
expect_fail 2 "import: missing file: exit 2" "" -- ov import "$TMP/no-such-file.jsonl"
expect_fail 1 "import: stdin cannot hold passphrase and data" "stdin" -- \
    ov --passphrase-file - import - </dev/null
expect_eq "import: failures left the vault unchanged" "$before" "$(dump_sum)"

# --- import --dry-run -----------------------------------------------------------------
{
	gen imp-1 cc one
	gen imp-1 cc2 one-b
	gen imp-2 cc two
} >"$TMP/good.jsonl"
expect_ok "import --dry-run of a good file" -- ov import --dry-run "$TMP/good.jsonl" --json
expect_json "dry run reports what it would do, one JSON object per line" \
    'length == 3 and all(type == "object")' --slurp
expect_json "dry run: lines 1-3, each a credential to create with its secret" \
    'map(.line) == [1, 2, 3] and all(.action == "created" and .secrets_replaced == ["client_secret"])' --slurp
expect_eq "import --dry-run changed nothing" "$before" "$(dump_sum)"
expect_fail 2 "import --dry-run created no org" "no org" -- ov org show imp-1
expect_fail 1 "import --dry-run still validates (bad line 3)" "line 3" -- \
    ov import --dry-run "$TMP/bad-json.jsonl"
expect_ok "import (for real) of the same file" -- ov import "$TMP/good.jsonl" --json
expect_json "real import reports the same counts" \
    '.dry_run == false and .orgs_created == 2 and .credentials_created == 3'
expect_ok "imported credentials are listed" -- ov cred list imp-1 --json
expect_json "imp-1 has cc and cc2" 'map(.name) == ["cc", "cc2"]'
expect_ok "import again: updates, no new credentials" -- ov import "$TMP/good.jsonl" --json
expect_json "re-import: every credential unchanged (same secrets: no new version)" \
    '.credentials_created == 0 and .credentials_updated == 0 and .credentials_unchanged == 3 and .orgs_created == 0'

# --- other bad arguments --------------------------------------------------------------
expect_fail 1 "audit --limit 0 refused" "limit" -- ov audit events --limit 0
expect_fail 1 "audit --limit 10001 refused" "limit" -- ov audit events --limit 10001
expect_fail 1 "audit --limit abc refused" "limit" -- ov audit events --limit abc
expect_fail 1 "check with an argument refused" "unexpected" -- ov check extra
expect_fail 1 "migrate with an unknown argument refused" "unexpected" -- ov migrate sideways
expect_fail 1 "init with an argument refused" "argument" -- ov init extra
expect_ok "check passes at the end" -- ov check

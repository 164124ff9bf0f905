#!/usr/bin/env bash
# t_canary.sh — plant unique canary secrets through every input path
# (file, stdin, import file, import stdin, updates, error paths) and prove
# they appear nowhere they must not: the database and its WAL/SHM, every
# stdout/stderr of every command, the events table, `audit events`.
. "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

rnd() { head -c 8 /dev/urandom | od -An -tx1 | tr -d ' \n'; }
RUNID=$(rnd)
canary() {	# canary NAME → a fresh canary string
	printf 'CANARY-%s-%s-%s' "$1" "$RUNID" "$(rnd)"
}

CS_FILE=$(canary cs-file)
CS_STDIN=$(canary cs-stdin)
RT_FILE=$(canary rt-file)
RT_STDIN=$(canary rt-stdin)
CS_UPD1=$(canary cs-upd1)
CS_UPD2=$(canary cs-upd2)
CS_IMP=$(canary cs-import)
RT_IMP=$(canary rt-import)
CS_IMPSTDIN=$(canary cs-import-stdin)
RT_IMPSTDIN=$(canary rt-import-stdin)
CS_DRY=$(canary cs-dry-run)
CS_BADLINE=$(canary cs-bad-line)
CS_BADJSON=$(canary cs-bad-json)
CS_TWOLINE=$(canary cs-two-lines)
CS_OVERSIZE=$(canary cs-oversize)
CS_PP=$(canary cs-pp-vault)
PASSPHRASE=$(canary passphrase)
# (canary runs in a subshell: the list is built here, not inside it)
CANARIES=("$CS_FILE" "$CS_STDIN" "$RT_FILE" "$RT_STDIN" "$CS_UPD1" "$CS_UPD2"
    "$CS_IMP" "$RT_IMP" "$CS_IMPSTDIN" "$RT_IMPSTDIN" "$CS_DRY" "$CS_BADLINE"
    "$CS_BADJSON" "$CS_TWOLINE" "$CS_OVERSIZE" "$CS_PP" "$PASSPHRASE")

SEC=$TMP/secrets	# everything holding plaintext lives here, outside CAP
mkdir -m 700 "$SEC"
secret_file "$SEC/cs" "$CS_FILE"
secret_file "$SEC/rt" "$RT_FILE"
secret_file "$SEC/cs-stdin" "$CS_STDIN"
secret_file "$SEC/rt-stdin" "$RT_STDIN"
secret_file "$SEC/upd1" "$CS_UPD1"
secret_file "$SEC/upd2" "$CS_UPD2"
secret_file "$SEC/pp" "$PASSPHRASE"
secret_file "$SEC/cs-pp" "$CS_PP"
printf 'first-%s\nsecond\n' "$CS_TWOLINE" >"$SEC/twolines"
{ printf '%s' "$CS_OVERSIZE"; head -c 20000 /dev/zero | tr '\0' 'x'; printf '\n'; } >"$SEC/oversize"

cat >"$SEC/import.jsonl" <<EOF
{"org":"imp-a","org_name":"Import A","name":"cc","provider":"genesys","region":"eu_central_1","client_id":"imp-a-cc","client_secret":"$CS_IMP"}
{"org":"imp-a","name":"code","provider":"oauth2","token_url":"https://auth.example.com/token","client_id":"imp-a-code","client_secret":"$CS_IMP-2","grant":"refresh_token","refresh_token":"$RT_IMP"}
EOF
cat >"$SEC/import-stdin.jsonl" <<EOF
{"org":"imp-b","name":"code","provider":"servicenow","instance":"impb","client_id":"imp-b","client_secret":"$CS_IMPSTDIN","grant":"refresh_token","refresh_token":"$RT_IMPSTDIN"}
EOF
cat >"$SEC/dry.jsonl" <<EOF
{"org":"imp-c","name":"cc","provider":"genesys","region":"us_east_1","client_id":"dry","client_secret":"$CS_DRY"}
EOF
cat >"$SEC/badline.jsonl" <<EOF
{"org":"imp-d","name":"cc","provider":"genesys","region":"us_east_1","client_id":"ok","client_secret":"$CS_BADLINE-ok"}
{"org":"imp-d","name":"bad","provider":"nosuchprovider","client_id":"bad","client_secret":"$CS_BADLINE"}
EOF
cat >"$SEC/badjson.jsonl" <<EOF
{"org":"imp-e","name":"cc","provider":"genesys","client_secret":"$CS_BADJSON" "oops"}
EOF

# --- key-file vault: plant the canaries ------------------------------------------
setup_vault
expect_ok "setup: org acme" -- ov org add acme --name "Acme"
db_log_statements
if on_pg; then
	pass "setup: PostgreSQL logs every statement with its parameters"
else
expect_ok "setup: checkpointed, quiet database" -- sqlite3 "$DB" 'PRAGMA wal_checkpoint(TRUNCATE)'

# Keep one idle connection open meanwhile, so that the WAL (and SHM) are
# not checkpointed and deleted when orgvault closes: they get scanned too.
mkfifo "$TMP/holder.fifo"
sqlite3 "$DB" <"$TMP/holder.fifo" >"$TMP/misc/holder.out" 2>&1 &
HOLDER=$!
bg_track "$HOLDER"
exec 3>"$TMP/holder.fifo"
printf 'select count(*) from orgs;\n.shell touch %s\n' "$TMP/misc/held" >&3
if wait_for_file "$TMP/misc/held" 10; then
	pass "setup: idle sqlite3 connection holds the WAL open"
else
	fail "setup: idle sqlite3 connection holds the WAL open" "$(cat "$TMP/misc/holder.out")"
fi
fi

expect_ok "client secret from a file" -- ov cred put acme cc --provider genesys \
    --region us_west_2 --client-id acme-cc --secret-file "$SEC/cs" --json
expect_ok "client secret from stdin" -- ov cred put acme cc2 --provider servicenow \
    --instance acme --client-id acme-cc2 --secret-file - <"$SEC/cs-stdin"
expect_ok "refresh token from a file, secret from stdin" -- ov -v -v cred put acme code \
    --provider oauth2 --token-url https://auth.example.com/token --client-id acme-code \
    --grant refresh_token --refresh-token-file "$SEC/rt" --secret-file - <"$SEC/cs-stdin"
expect_ok "refresh token from stdin" -- ov -v -v cred put acme code2 --provider genesys \
    --region us_east_1 --client-id acme-code2 --grant refresh_token \
    --secret-file "$SEC/cs" --refresh-token-file - <"$SEC/rt-stdin"
expect_ok "secret rotated once (old becomes previous)" -- ov -v cred put acme cc --secret-file "$SEC/upd1"
expect_ok "secret rotated twice (oldest deleted)" -- ov -v cred put acme cc --secret-file - <"$SEC/upd2"
expect_ok "import from a file" -- ov -v -v import "$SEC/import.jsonl" --json
expect_json "import created 2 credentials" '.credentials_created == 2'
expect_ok "import from stdin" -- ov -v -v import - <"$SEC/import-stdin.jsonl"
expect_ok "import --dry-run" -- ov -v -v import --dry-run "$SEC/dry.jsonl"

# Error paths must not echo what they refuse.
expect_fail 1 "import with a bad line fails" "line 2" -- ov -v -v import "$SEC/badline.jsonl"
expect_fail 1 "import of invalid JSON fails" "line 1" -- ov -v -v import - <"$SEC/badjson.jsonl"
expect_fail 1 "two-line secret refused" "one line" -- ov -v -v cred put acme bad \
    --provider genesys --region us_east_1 --client-id x --secret-file "$SEC/twolines"
expect_fail 1 "oversize secret refused" "longer" -- ov -v -v cred put acme bad \
    --provider genesys --region us_east_1 --client-id x --secret-file - <"$SEC/oversize"
expect_fail "1|2|5" "secret file given where a directory is" "" -- ov cred put acme bad \
    --provider genesys --region us_east_1 --client-id x --secret-file "$SEC"

# Everything that reads the vault back.
expect_ok "cred list --json" -- ov -v -v cred list --json
expect_json "the credentials are there" 'length == 7'
expect_ok "cred show (text)" -- ov -v -v cred show acme code
expect_ok "cred show --json" -- ov cred show acme cc --json
expect_ok "org list" -- ov org list --json
expect_ok "audit events --json" -- ov -v -v audit events --json --limit 10000
AUDIT_JSON=$OUT
expect_json "audit events saw the puts" '[.[] | select(.kind == "credential.created")] | length == 7'
expect_ok "audit events (text)" -- ov audit events --limit 10000
expect_ok "check --json opens every envelope" -- ov -v -v check --json
expect_json "check ok" '.ok == true and .checked >= 9'
expect_ok "sqlite3: dump of the events table" -- db_sql "select * from events"
EVENTS_DUMP=$OUT
expect_ok "sqlite3: dump of the whole database" -- db_dump

# --- scan -------------------------------------------------------------------------
# hits FILE CANARY → number of lines holding CANARY (binary-safe)
hits() {
	grep -a -c -F -- "$2" "$1" 2>/dev/null || true
}

# Positive controls: the scan finds a canary where one really is.
n=$(hits "$SEC/cs" "$CS_FILE")
expect_true "control: grep finds the canary in its secret file" -- test "${n:-0}" -ge 1
n=$(hits "$SEC/import.jsonl" "$RT_IMP")
expect_true "control: grep finds the canary in the import file" -- test "${n:-0}" -ge 1
if on_pg; then
	: # at the end: what a control stores stays in the WAL
else
cp "$DB" "$TMP/misc/control.db"
sqlite3 "$TMP/misc/control.db" "insert into vault_meta values ('control', '$CS_FILE')" 2>/dev/null
n=$(hits "$TMP/misc/control.db" "$CS_FILE")
expect_true "control: grep -a finds a canary stored in a SQLite file" -- test "${n:-0}" -ge 1
rm -f "$TMP/misc/control.db"
fi
printf 'noise %s noise\n' "$CS_FILE" >"$TMP/misc/control.out"
n=$(hits "$TMP/misc/control.out" "$CS_FILE")
expect_true "control: grep finds a canary inside a captured output" -- test "${n:-0}" -ge 1
rm -f "$TMP/misc/control.out"

# found_in FILE...: "COUNT FILE:CANARY" for every canary found in a file
# (one grep over all the files; the pattern list lives with the secrets).
printf '%s\n' "${CANARIES[@]}" >"$SEC/canaries.list"
found_in() {
	local f files=()
	for f in "$@"; do
		[ -e "$f" ] && files+=("$f")
	done
	[ ${#files[@]} -eq 0 ] && return 0
	grep -a -o -H -F -f "$SEC/canaries.list" -- "${files[@]}" 2>/dev/null | sort | uniq -c
}

scan() {	# scan LABEL FILE...: no canary in any of the files
	local label=$1 found
	shift
	found=$(found_in "$@")
	if [ -z "$found" ]; then
		pass "no canary in $label"
	else
		fail "no canary in $label" "$(printf '%s\n' "$found" | head -n 10)"
	fi
}

# The scan itself finds every canary where it was planted.
expect_eq "control: 17 distinct canaries" 17 \
    "$(printf '%s\n' "${CANARIES[@]}" | grep -c '^CANARY-.*-.*-' | tr -d ' ')"
expect_eq "control: they are distinct" 17 "$(printf '%s\n' "${CANARIES[@]}" | sort -u | wc -l | tr -d ' ')"
planted=$(found_in "$SEC"/*)
missing=()
for c in "${CANARIES[@]}"; do
	printf '%s\n' "$planted" | grep -qF -- ":$c" || missing+=("$c")
done
if [ "${#missing[@]}" -eq 0 ]; then
	pass "control: the scan finds every canary in the files it was planted in"
else
	fail "control: the scan finds every canary in the files it was planted in" \
	    "not found: ${missing[*]}"
fi

if on_pg; then
	mapfile -t DBF < <(db_files)
	expect_true "the server log holds the statements (log_statement = all)" -- \
	    grep -q "statement: " "$PG_LOG"
	scan "PostgreSQL's files and log (before a checkpoint: WAL)" "${DBF[@]}"
	pg_psql "CHECKPOINT" >/dev/null
	expect_ok "vault still fine after the checkpoint" -- ov check
	scan "PostgreSQL's files and log (after a checkpoint: heap)" "${DBF[@]}"
else
expect_true "the database exists" -- test -s "$DB"
expect_true "the WAL exists while a connection is open" -- test -s "$DB-wal"
expect_true "the SHM exists while a connection is open" -- test -s "$DB-shm"
scan "orgvault.db (connection still open)" "$DB"
scan "orgvault.db-wal" "$DB-wal"
scan "orgvault.db-shm" "$DB-shm"

# Close the holder: the last close checkpoints the WAL into the db.
printf '.quit\n' >&3
exec 3>&-
wait "$HOLDER" 2>/dev/null
expect_ok "vault still fine after the holder left" -- ov check
scan "orgvault.db (after checkpoint)" "$DB" "$DB-wal" "$DB-shm"
fi
scan "every file in the data dir" "$DIR"/*
scan "sqlite3 'select * from events'" "$EVENTS_DUMP"
scan "audit events --json" "$AUDIT_JSON"
scan "every stdout and stderr captured" "$CAP"/*
expect_true "captures were made (scan had material)" -- test "$(ls "$CAP" | wc -l)" -ge 40

# --- passphrase vault ----------------------------------------------------------------
PDIR=$TMP/pvault
pov() { "$ORGVAULT" --data-dir "$PDIR" "$@"; }
expect_ok "passphrase vault init (canary passphrase)" -- \
    pov init --passphrase-file "$SEC/pp" --kdf-cost interactive
expect_ok "passphrase vault: org add" -- pov --passphrase-file - org add pp-org <"$SEC/pp"
expect_ok "passphrase vault: cred put" -- pov -v -v --passphrase-file "$SEC/pp" cred put pp-org cc \
    --provider genesys --region us_east_1 --client-id ppcc --secret-file "$SEC/cs-pp"
expect_ok "passphrase vault: check" -- pov --passphrase-file "$SEC/pp" check
expect_fail 4 "passphrase vault: wrong passphrase" "wrong passphrase" -- \
    pov --passphrase-file "$SEC/cs-pp" org list
expect_ok "passphrase vault: audit events" -- pov --passphrase-file "$SEC/pp" audit events --json
expect_ok "passphrase vault: database dump" -- db_dump "$PDIR"
n=$(hits "$SEC/pp" "$PASSPHRASE")
expect_true "control: grep finds the passphrase in its file" -- test "${n:-0}" -ge 1
scan "the passphrase vault's files" "$PDIR"/* "$PDIR/orgvault.db-wal" "$PDIR/orgvault.db-shm"
scan "every stdout and stderr captured (with the passphrase vault)" "$CAP"/*

# PostgreSQL's control, last (what it stores stays in the WAL): a canary
# stored in a table of another schema is found in the cluster's files.
if on_pg; then
	mapfile -t DBF < <(db_files)
	scan "PostgreSQL's files and log (with the passphrase vault)" "${DBF[@]}"
	pg_psql "CREATE SCHEMA control; CREATE TABLE control.t (v TEXT);
	    INSERT INTO control.t VALUES ('$CS_FILE'); CHECKPOINT" >/dev/null
	n=0
	while read -r f; do
		n=$((n + $(hits "$f" "$CS_FILE")))
	done < <(find "$PG_DIR/data" -type f)
	expect_true "control: grep -a finds a canary stored by PostgreSQL" -- test "${n:-0}" -ge 1
fi

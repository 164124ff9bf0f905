#!/usr/bin/env bash
# t_tamper.sh — edits made behind orgvault's back (sqlite3, dd) are caught:
# flipped envelope bytes, envelopes moved between rows / credentials / orgs
# / kinds, a tampered keyring, an edited, shortened, lengthened or reordered
# audit chain, corrupted pages, and a file that is no database at all.
. "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

setup_vault
S=$TMP/s
R=$TMP/r
secret_file "$S" "tamper-client-secret"
secret_file "$R" "tamper-refresh-token"
expect_ok "setup: org a" -- ov org add a
expect_ok "setup: org b" -- ov org add b
expect_ok "setup: a/c1 with secret and refresh token" -- ov cred put a c1 --provider genesys \
    --region us_east_1 --client-id c1 --secret-file "$S" --grant refresh_token --refresh-token-file "$R"
expect_ok "setup: a/c2" -- ov cred put a c2 --provider servicenow --instance acme \
    --client-id c2 --secret-file "$S"
expect_ok "setup: b/c3" -- ov cred put b c3 --provider oauth2 \
    --token-url http://127.0.0.1:8080/token --client-id c3 --secret-file "$S"
expect_ok "setup: a/c2 secret rotated (versions 1 previous, 2 current)" -- \
    ov cred put a c2 --secret-file "$R"
expect_ok "setup: clean vault passes check" -- ov check --json
expect_json "setup: check ok" '.ok == true and .failures == []'
on_pg || sqlite3 "$DB" 'PRAGMA wal_checkpoint(TRUNCATE)' >/dev/null
snapshot

# SQL on the vault (db_sql); a failing statement is a failed assertion.
q() {
	local out rc
	out=$(db_sql "$@" 2>&1)
	rc=$?
	if [ "$rc" -ne 0 ]; then
		fail "database setup statement succeeds" "$*" "$out"
		return "$rc"
	fi
	[ -n "$out" ] && printf '%s\n' "$out"
	return 0
}
# Row id of a secret: sid ORG CRED KIND [STAGE]
sid() {
	q "select s.id from secret_versions s join credentials c on c.id = s.credential_id
	   join orgs o on o.id = c.org_id where o.slug = '$1' and c.name = '$2'
	   and s.kind = '$3' and s.stage = '${4:-current}'"
}
hexct() { q "select hex(ciphertext) from secret_versions where id = $1"; }
setct() { q "update secret_versions set ciphertext = $(db_blob "$2") where id = $1"; }
# Flips the high bit of byte N of a hex string.
flip_byte() {
	local h=$1 p=$(($2 * 2)) d n
	d=${h:p:1}
	n=$(printf '%X' $((0x$d ^ 0x8)))
	printf '%s' "${h:0:p}$n${h:p+1}"
}

# check_fails NAME TABLE ROW COLUMN: `check` exits 4 naming table/row/column.
check_fails() {
	local name=$1 table=$2 row=$3 col=$4
	expect_exit 4 "$name: check exits 4" -- ov check
	expect_stdout_contains "$name: check names $table row $row column $col" \
	    "FAIL $table row $row column $col"
}

C1=$(sid a c1 client_secret)
C1RT=$(sid a c1 refresh_token)
C2=$(sid a c2 client_secret)
C2PREV=$(sid a c2 client_secret previous)
C3=$(sid b c3 client_secret)
expect_true "setup: secret row ids found" -- test -n "$C1" -a -n "$C1RT" -a -n "$C2" -a -n "$C2PREV" -a -n "$C3"
LEN=$(( $(hexct "$C1" | wc -c) / 2 ))

# --- flipped bytes -------------------------------------------------------------------
for spec in "0:header format byte" "4:header key-version byte" "5:first nonce byte" \
    "20:nonce byte" "29:first ciphertext byte" "$((LEN - 17)):last ciphertext byte" \
    "$((LEN - 16)):first tag byte" "$((LEN - 1)):last tag byte"; do
	pos=${spec%%:*}
	what=${spec#*:}
	restore
	setct "$C1" "$(flip_byte "$(hexct "$C1")" "$pos")"
	check_fails "flipped $what (byte $pos)" secret_versions "$C1" ciphertext
done

restore
setct "$C1" "$(flip_byte "$(hexct "$C1")" 30)"
expect_exit 4 "flipped byte: check --json exits 4" -- ov check --json
expect_json "check --json names only that row" \
    '.ok == false and ([.failures[] | select(.table == "secret_versions")] | map(.row) | unique) == [$r]' \
    --argjson r "$C1"
expect_json "check --json names column ciphertext" \
    'any(.failures[]; .table == "secret_versions" and .row == $r and .column == "ciphertext")' \
    --argjson r "$C1"

restore
h=$(hexct "$C1")
setct "$C1" "${h:0:$((${#h} - 2))}"
check_fails "truncated envelope" secret_versions "$C1" ciphertext
restore
setct "$C1" "${h}00"
check_fails "envelope with a byte appended" secret_versions "$C1" ciphertext
restore
setct "$C1" "01"
check_fails "envelope cut to one byte" secret_versions "$C1" ciphertext

# --- envelopes moved ---------------------------------------------------------------
restore
setct "$C2" "$(hexct "$C1")"
check_fails "envelope copied onto another credential of the same org" secret_versions "$C2" ciphertext
expect_stdout_lacks "the source row still opens" "FAIL secret_versions row $C1 "

restore
setct "$C3" "$(hexct "$C1")"
check_fails "envelope copied onto a credential of another org" secret_versions "$C3" ciphertext

restore
setct "$C2" "$(hexct "$C2PREV")"
check_fails "previous version's envelope copied onto the current version" secret_versions "$C2" ciphertext

restore
q "update secret_versions set credential_id = (select id from credentials where name = 'c3') where id = $C1RT"
check_fails "refresh-token row re-pointed at another org's credential" secret_versions "$C1RT" ciphertext

restore
a=$(hexct "$C1")
b=$(hexct "$C1RT")
setct "$C1" "$b"
setct "$C1RT" "$a"
check_fails "client_secret/refresh_token swapped (client_secret row)" secret_versions "$C1" ciphertext
expect_stdout_contains "client_secret/refresh_token swapped: refresh_token row named too" \
    "FAIL secret_versions row $C1RT column ciphertext"

restore
q "update secret_versions set kind = 'refresh_token', stage = 'previous' where id = $C2"
check_fails "secret relabelled as another kind" secret_versions "$C2" ciphertext

# --- keyring ------------------------------------------------------------------------
restore
q "update keyring set wrapped_key = $(db_blob "$(flip_byte "$(q 'select hex(wrapped_key) from keyring where version = 1')" 40)") where version = 1"
expect_exit 4 "tampered keyring: check exits 4" -- ov check
expect_stdout_contains "tampered keyring: check reports keyring" "FAIL keyring row 1 column wrapped_key"
secret_file "$TMP/s-new" "a-new-secret-$RANDOM"
expect_exit 4 "tampered keyring: a write needing the data key fails with exit 4" -- \
    ov cred put a c1 --provider genesys --region us_east_1 --client-id c1 \
    --grant refresh_token --secret-file "$TMP/s-new" --refresh-token-file "$R"
expect_stderr_contains "tampered keyring: the write's error names the keyring" "keyring"

restore
# Flip the first byte (a fixed '00' left it unchanged one run in 256).
q "update vault_meta set value = (case when substr(value, 1, 2) = '00' then 'ff' else '00' end) || substr(value, 3) where key = 'key_check'"
expect_fail 4 "tampered key_check: commands refuse (exit 4)" "" -- ov org list

# --- audit chain ---------------------------------------------------------------------
restore
NEV=$(q "select max(id) from events")
expect_true "setup: at least 6 events" -- test "$NEV" -ge 6

q "update events set detail = '{\"name\":\"evil\"}' where id = 2"
check_fails "event detail edited" events 2 hash
restore
q "update events set actor = 'cli:mallory' where id = 3"
check_fails "event actor edited" events 3 hash
restore
q "update events set kind = 'org.renamed' where id = $NEV"
check_fails "newest event's kind edited" events "$NEV" hash
restore
q "update events set time_ms = time_ms + 1 where id = 4"
check_fails "event time edited by 1 ms" events 4 hash
restore
q "delete from events where id = 3"
expect_exit 4 "event deleted: check exits 4" -- ov check
expect_stdout_contains "event deleted: check names events" "FAIL events row"
# Truncating the tail: nothing after the newest event vouches for it, so
# the vault must anchor the chain's head somewhere (DESIGN.md: "deletion
# or edits are detectable").
restore
q "delete from events where id = $NEV"
expect_exit 4 "newest event deleted: check exits 4" -- ov check
expect_stdout_contains "newest event deleted: check names events" "FAIL events"
restore
q "insert into events (id, time_ms, actor, org, credential, kind, detail, hash)
   select id + 1, time_ms + 1, 'cli:root', 'a', '', 'org.created', '{}', hash
   from events where id = (select max(id) from events)"
check_fails "fake event appended" events "$((NEV + 1))" hash
restore
q "update events set id = -1 where id = 2; update events set id = 2 where id = 3;
   update events set id = 3 where id = -1"
expect_exit 4 "two events' ids swapped: check exits 4" -- ov check
expect_stdout_contains "two events' ids swapped: check names events" "FAIL events row 2"
restore
q "update events set hash = (select hash from events where id = 1) where id = 2"
check_fails "event hash replaced" events 2 hash

restore
expect_exit 0 "restored copy passes check again" -- ov check

# --- page-level corruption ---------------------------------------------------------
# one_line_or_ok NAME -- CMD: exit 0, or 4/5 with one "orgvault: " line; no crash
one_line_or_ok() {
	local name=$1 why
	shift
	[ "${1:-}" = -- ] && shift
	run "$@"
	if why=$(_crashed); then
		fail "$name" "$why"
		context
	elif [ "$RC" -eq 0 ]; then
		pass "$name"
	elif [ "$RC" -ne 4 ] && [ "$RC" -ne 5 ]; then
		fail "$name" "expected exit 0, 4 or 5, got $RC"
		context
	elif [ "$(wc -l <"$ERR")" -ne 1 ] || ! grep -aq '^orgvault: ' "$ERR"; then
		fail "$name" "expected one 'orgvault: ' line on stderr"
		context
	else
		pass "$name"
	fi
}

if on_pg; then
	# SQLite's pages and file header have no PostgreSQL counterpart
	# (its pages belong to the server); what a client meets instead is
	# a server that is gone, and a schema that holds no vault.
	restore
	pg_as "$PG_BIN/pg_ctl" -D "$PG_DIR/data" -m fast -w stop >/dev/null
	for c in "org list" "org add zz" "check" "migrate status"; do
		# shellcheck disable=SC2086
		expect_fail 5 "server stopped: '$c' exits 5 with one line" "unreachable" -- ov $c
	done
	expect_stderr_contains "server stopped: the message names the database" "postgresql://"
	pg_as "$PG_BIN/pg_ctl" -D "$PG_DIR/data" -l "$PG_LOG" -w -t 30 -o "-p $PG_PORT" \
	    start >/dev/null
	expect_ok "server back: org list works" -- ov org list
	q "DROP TABLE schema_migrations" >/dev/null
	expect_fail "2|4" "schema without schema_migrations: no vault, one line" "vault" -- ov org list
	expect_fail "2|4" "... and migrate does not fill it" "" -- ov migrate
else
PAGE=$(q 'PRAGMA page_size')
ORGS_ROOT=$(q "select rootpage from sqlite_schema where name = 'orgs'")
EVENTS_ROOT=$(q "select rootpage from sqlite_schema where name = 'events'")
pattern_page() { head -c "$PAGE" /dev/zero | tr '\0' '\245'; }

restore
q 'PRAGMA wal_checkpoint(TRUNCATE)' >/dev/null
pattern_page | dd of="$DB" bs="$PAGE" seek=$((ORGS_ROOT - 1)) conv=notrunc status=none
expect_fail "4|5" "orgs page overwritten: org list fails with one line" "corrupt" -- ov org list
expect_fail "4|5" "orgs page overwritten: org show fails with one line" "corrupt" -- ov org show a
expect_fail "4|5" "orgs page overwritten: org add fails with one line" "corrupt" -- ov org add zz
expect_exit "4|5" "orgs page overwritten: check exits 4 or 5" -- ov check

restore
q 'PRAGMA wal_checkpoint(TRUNCATE)' >/dev/null
head -c "$PAGE" /dev/urandom | dd of="$DB" bs="$PAGE" seek=$((EVENTS_ROOT - 1)) conv=notrunc status=none
expect_fail "4|5" "events page overwritten: audit events fails with one line" "" -- ov audit events
expect_fail "4|5" "events page overwritten: a write (which appends an event) fails" "" -- \
    ov org add zz
expect_exit "4|5" "events page overwritten: check exits 4 or 5" -- ov check

restore
q 'PRAGMA wal_checkpoint(TRUNCATE)' >/dev/null
NPAGES=$(( $(size_of "$DB") / PAGE ))
head -c $((PAGE * 3)) /dev/urandom | dd of="$DB" bs="$PAGE" seek=$((NPAGES / 2 - 1)) conv=notrunc status=none
expect_exit "4|5" "middle pages overwritten (dd): check exits 4 or 5" -- ov check
for c in "org list" "org show a" "cred list" "cred show a c1" "audit events" "org add zz" \
    "cred put a c9 --provider genesys --region us_east_1 --client-id x --secret-file $S" \
    "migrate status" "migrate"; do
	# shellcheck disable=SC2086
	one_line_or_ok "middle pages overwritten: '${c%% --*}' exits 0/4/5 cleanly" -- ov $c
done

restore
q 'PRAGMA wal_checkpoint(TRUNCATE)' >/dev/null
head -c 100 "$DB" >"$TMP/misc/hdr"
head -c 16 /dev/zero | dd of="$DB" bs=1 seek=0 conv=notrunc status=none
expect_fail 4 "database header magic zeroed: exit 4, says corrupted" "corrupt" -- ov org list

# --- not a database -----------------------------------------------------------------
restore
rm -f "$DB-wal" "$DB-shm"
head -c $((PAGE * 8)) /dev/urandom >"$DB"
chmod 600 "$DB"
expect_fail 4 "random bytes as the database: exit 4, says corrupted" "corrupt" -- ov org list
expect_fail 4 "random bytes as the database: check exits 4" "corrupt" -- ov check
expect_fail 4 "random bytes as the database: writes exit 4" "corrupt" -- ov org add zz
expect_fail 4 "random bytes as the database: migrate status exits 4" "corrupt" -- ov migrate status
printf 'this is not a database, just some text\n' >"$DB"
expect_fail 4 "a text file as the database: exit 4, says corrupted" "corrupt" -- ov org list

# A truncated (0-byte) database is no vault either: it must not be taken
# for a new database with "pending migrations" that `migrate` then fills
# with an empty, keyless schema.
restore
rm -f "$DB-wal" "$DB-shm"
: >"$DB"
expect_fail 4 "a 0-byte database: exit 4 (not 'pending migrations')" "corrupt|empty|not an orgvault" -- \
    ov org list
expect_exit "4|5" "a 0-byte database: migrate refuses it" -- ov migrate
expect_fail "4|5" "a 0-byte database: still refused after migrate" "" -- ov org list

fi

restore
expect_exit 0 "the restored copy is whole" -- ov check

#!/usr/bin/env bash
# t_init.sh — `orgvault init`: files and modes, refusing to overwrite,
# passphrase vaults (file, env, global option, stdin, wrong, too short),
# and every --help.
. "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

# --- key-file vault -----------------------------------------------------
expect_ok "init creates a key-file vault" -- ov init
expect_stdout_contains "init says what it made" "key file"
expect_true "data dir is a directory" -- test -d "$DIR"
expect_eq "data dir mode is 0700" 700 "$(mode_of "$DIR" 2>&1)"
expect_true "master.key exists" -- test -f "$KEY"
expect_eq "master.key mode is 0600" 600 "$(mode_of "$KEY" 2>&1)"
expect_eq "master.key holds 32 bytes" 32 "$(size_of "$KEY" 2>&1)"
if on_pg; then
	expect_false "no orgvault.db: the data is in PostgreSQL" -- test -e "$DB"
	expect_eq "the vault's schema holds its tables" 1 \
	    "$(db_sql "select count(*) from schema_migrations where version = 5")"
else
	expect_true "orgvault.db exists" -- test -f "$DB"
	expect_eq "orgvault.db mode is 0600" 600 "$(mode_of "$DB" 2>&1)"
fi
expect_eq "master.key owned by the caller" "$(id -u)" "$(stat -c %u "$KEY" 2>&1)"

key_sum=$(sha_of "$KEY")
db_sum_of() { if on_pg; then db_dump | sha256sum; else sha_of "$DB"; fi; }
db_sum=$(db_sum_of)
expect_fail 3 "second init refuses (exit 3)" "already|exist|refus" -- ov init
expect_eq "second init leaves master.key unchanged" "$key_sum" "$(sha_of "$KEY")"
expect_eq "second init leaves orgvault.db unchanged" "$db_sum" "$(db_sum_of)"
expect_ok "vault still opens after refused init" -- ov org list

# A refused init also when only the key file is there.
mv "$DB" "$TMP/misc/db.aside"
expect_fail 3 "init refuses when master.key alone exists" "already|exist|refus" -- ov init
expect_eq "refused init leaves lone master.key unchanged" "$key_sum" "$(sha_of "$KEY")"
mv "$TMP/misc/db.aside" "$DB"

# --- passphrase vault -----------------------------------------------------
PDIR=$TMP/pvault
PP=$TMP/pp
BADPP=$TMP/badpp
secret_file "$PP" "correct horse battery staple"
secret_file "$BADPP" "incorrect horse battery staple"
pov() { "$ORGVAULT" --data-dir "$PDIR" "$@"; }

expect_ok "init --passphrase-file --kdf-cost interactive" -- \
    pov init --passphrase-file "$PP" --kdf-cost interactive
expect_stdout_contains "passphrase init says Argon2id" "Argon2id"
expect_false "passphrase vault has no master.key" -- test -e "$PDIR/master.key"
on_pg || expect_true "passphrase vault has orgvault.db" -- test -f "$PDIR/orgvault.db"
expect_eq "passphrase data dir mode is 0700" 700 "$(mode_of "$PDIR" 2>&1)"
on_pg || expect_eq "passphrase orgvault.db mode is 0600" 600 "$(mode_of "$PDIR/orgvault.db" 2>&1)"

expect_fail 1 "passphrase vault without passphrase: exit 1 naming --passphrase-file" \
    "passphrase-file" -- pov org list
expect_fail 1 "passphrase vault without passphrase: writes refused too" \
    "passphrase-file" -- pov org add nope
expect_ok "ORGVAULT_PASSPHRASE_FILE opens it" -- \
    env ORGVAULT_PASSPHRASE_FILE="$PP" "$ORGVAULT" --data-dir "$PDIR" org add viaenv
expect_ok "global --passphrase-file before the subcommand opens it" -- \
    pov --passphrase-file "$PP" org list --json
expect_json "the org added with the env passphrase is listed" \
    'map(.slug) == ["viaenv"]'
expect_ok "passphrase from stdin (-) opens it" -- \
    pov --passphrase-file - org show viaenv <"$PP"
expect_fail 4 "wrong passphrase: exit 4" "wrong passphrase" -- \
    pov --passphrase-file "$BADPP" org list
expect_fail 4 "wrong passphrase from stdin: exit 4" "wrong passphrase" -- \
    pov --passphrase-file - org list <"$BADPP"
expect_fail 4 "wrong passphrase in ORGVAULT_PASSPHRASE_FILE: exit 4" "wrong passphrase" -- \
    env ORGVAULT_PASSPHRASE_FILE="$BADPP" "$ORGVAULT" --data-dir "$PDIR" org list
expect_ok "check passes on the passphrase vault" -- pov --passphrase-file "$PP" check

# A passphrase given to a key-file vault is a usage mistake, not a key.
expect_fail 1 "passphrase given to a key-file vault is refused" "key file|passphrase" -- \
    ov --passphrase-file "$PP" org list

# --- short passphrase -----------------------------------------------------
SHORT=$TMP/short
secret_file "$SHORT" "1234567"
expect_fail 1 "7-byte passphrase refused at init" "at least 8|8 bytes|too short" -- \
    "$ORGVAULT" --data-dir "$TMP/shortvault" init --passphrase-file "$SHORT" --kdf-cost interactive
expect_false "refused init leaves no database" -- test -e "$TMP/shortvault/orgvault.db"
expect_false "refused init leaves no key file" -- test -e "$TMP/shortvault/master.key"
secret_file "$SHORT" "12345678"
expect_ok "8-byte passphrase accepted at init" -- \
    "$ORGVAULT" --data-dir "$TMP/shortvault" init --passphrase-file "$SHORT" --kdf-cost interactive

printf 'stdin passphrase 1\n' >"$TMP/stdinpp"
expect_ok "init with passphrase from stdin" -- \
    "$ORGVAULT" --data-dir "$TMP/stdinvault" init --passphrase-file - --kdf-cost interactive <"$TMP/stdinpp"
expect_ok "stdin-initialised vault opens with the same passphrase" -- \
    "$ORGVAULT" --data-dir "$TMP/stdinvault" --passphrase-file "$TMP/stdinpp" org list

expect_fail 1 "unknown --kdf-cost refused" "kdf-cost" -- \
    "$ORGVAULT" --data-dir "$TMP/kdfvault" init --passphrase-file "$PP" --kdf-cost extreme
expect_false "unknown --kdf-cost creates nothing" -- test -e "$TMP/kdfvault/orgvault.db"

# --- help -------------------------------------------------------------------
expect_ok "orgvault --help exits 0" -- "$ORGVAULT" --help
expect_stdout_contains "orgvault --help prints usage:" "usage:"
for c in init migrate org cred import check audit; do
	expect_ok "orgvault $c --help exits 0" -- "$ORGVAULT" --data-dir "$TMP/nohelp" $c --help
	expect_stdout_contains "orgvault $c --help prints usage:" "usage:"
done
expect_ok "orgvault audit events --help exits 0" -- "$ORGVAULT" audit events --help
expect_stdout_contains "orgvault audit events --help prints usage:" "usage:"
expect_false "--help creates no data dir" -- test -e "$TMP/nohelp"

# --- error format ---------------------------------------------------------
# Errors are one line starting "orgvault: "; an unknown option too (getopt's
# own diagnostic is prefixed with the subcommand name, e.g. "list: ...").
expect_exit 1 "unknown option exits 1" -- ov org list --bogus
first=$(head -n1 "$ERR")
case $first in
"orgvault: "*) pass "unknown-option error starts with 'orgvault: '" ;;
*) fail "unknown-option error starts with 'orgvault: '" "first stderr line: '$first'"
   context ;;
esac
expect_fail 1 "unknown command exits 1" "unknown command" -- ov frobnicate
expect_fail 1 "missing command exits 1" "command" -- ov

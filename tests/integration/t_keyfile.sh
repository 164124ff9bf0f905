#!/usr/bin/env bash
# t_keyfile.sh — the master key file is refused unless it is a private,
# regular, 32-byte file of the caller holding the right key.
. "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

setup_vault
expect_ok "setup: add an org" -- ov org add acme
cp -p "$KEY" "$TMP/key.good"
good_sum=$(sha_of "$KEY")

put_back() {
	rm -f "$KEY"
	cp -p "$TMP/key.good" "$KEY"
	chown "$(id -u):$(id -g)" "$KEY"
	chmod 600 "$KEY"
}

# --- modes --------------------------------------------------------------
for m in 640 604 644 660 620 602; do
	chmod "$m" "$KEY"
	expect_fail 4 "key file mode 0$m refused (exit 4, says chmod 600)" "chmod 600" -- \
	    ov org list
done
chmod 400 "$KEY"
expect_ok "key file mode 0400 accepted" -- ov org list
put_back
expect_ok "key file mode 0600 accepted" -- ov org list

# --- owner ---------------------------------------------------------------
if need_root "key file owned by another user"; then
	chown nobody "$KEY"
	expect_fail 4 "key file owned by nobody refused (exit 4, says chown)" "chown" -- \
	    ov org list
	put_back
fi

# --- size ------------------------------------------------------------------
head -c 31 "$TMP/key.good" >"$KEY"
chmod 600 "$KEY"
expect_fail 4 "31-byte key file refused (exit 4)" "31 bytes|32" -- ov org list
put_back
{ cat "$TMP/key.good"; printf 'x'; } >"$KEY"
chmod 600 "$KEY"
expect_fail 4 "33-byte key file refused (exit 4)" "33 bytes|32" -- ov org list
put_back
: >"$KEY"
expect_fail 4 "empty key file refused (exit 4)" "0 bytes|32" -- ov org list
put_back

# --- wrong key ---------------------------------------------------------------
head -c 32 /dev/urandom >"$KEY"
chmod 600 "$KEY"
expect_fail 4 "a different random 32-byte key: exit 4, wrong master key" \
    "wrong master key" -- ov org list
expect_fail 4 "wrong key refuses writes too" "wrong master key" -- ov org add evil
put_back

# --- not a regular file ----------------------------------------------------
mv "$KEY" "$TMP/key.real"
ln -s "$TMP/key.real" "$KEY"
expect_fail 4 "symlinked key file refused (O_NOFOLLOW)" "symbolic link|symlink|link" -- \
    ov org list
rm -f "$KEY"
mv "$TMP/key.real" "$KEY"
put_back

mv "$KEY" "$TMP/key.moved"
mkdir -m 700 "$KEY"
expect_exit "2|4" "key path that is a directory is refused" -- ov org list
rmdir "$KEY"
mv "$TMP/key.moved" "$KEY"

rm -f "$KEY"
expect_fail "2|4" "missing key file refused" "master.key|key file" -- ov org list

# --- restored ---------------------------------------------------------------
put_back
expect_eq "restored key is the original" "$good_sum" "$(sha_of "$KEY")"
expect_ok "with the right key back it works again" -- ov org show acme --json
expect_json "org still there after the refusals" '.slug == "acme"'
expect_ok "no write slipped through with a bad key" -- ov org list --json
expect_json "only the one org exists" 'map(.slug) == ["acme"]'
expect_ok "check passes with the right key" -- ov check

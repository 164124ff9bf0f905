#!/usr/bin/env bash
# t_fake_smoke.sh — the fake OAuth server's own checks (tests/fake_oauth/
# smoke.sh: token endpoint wire formats, faults, the Genesys secret API),
# so a fake that drifts from the providers fails the suite, not just the
# tests built on it.
set -u
smoke=$(cd "$(dirname "$0")/../fake_oauth" && pwd)/smoke.sh
out=$(bash "$smoke" "${FAKE_OAUTH:?FAKE_OAUTH is needed}" 2>&1)
rc=$?
printf '%s\n' "$out" | sed 's/^\(not \)\{0,1\}ok - /&t_fake_smoke: /'
p=$(printf '%s\n' "$out" | grep -c '^ok - ')
f=$(printf '%s\n' "$out" | grep -c '^not ok - ')
if [ "$rc" -ne 0 ] && [ "$f" -eq 0 ]; then
	echo "not ok - t_fake_smoke: smoke.sh exited $rc"
	f=1
fi
[ -n "${OV_RESULTS_FILE:-}" ] && echo "$p $f" >"$OV_RESULTS_FILE"
[ "$f" -eq 0 ]

#!/usr/bin/env bash
# long/t_key_rotation_10k.sh — t_key_rotation.sh at the issue's size:
# 10 000 credentials, the token broker under load while serve rewraps
# them all, then kill -9 in the middle of a rewrap and resume.  Not run
# by `make test` (make test-long).
export KEYROT_N=${KEYROT_N:-10000}
. "$(dirname "${BASH_SOURCE[0]}")/../t_key_rotation.sh"

#!/usr/bin/env bash
# long/t_twoserve_long.sh — t_rot_twoserve.sh for 5 minutes instead of
# 30 s: two serve processes, one data directory, 20 rotating refresh
# tokens, no double refresh.  Not run by `make test`.
export OV_TWOSERVE_SECONDS=${OV_TWOSERVE_SECONDS:-300}
. "$(dirname "${BASH_SOURCE[0]}")/../t_rot_twoserve.sh"

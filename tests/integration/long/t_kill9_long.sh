#!/usr/bin/env bash
# long/t_kill9_long.sh — t_rot_kill9.sh with 200 kill -9 rounds instead
# of 20 (~5 minutes), to measure how often a kill lands between the
# provider's answer and the commit.  Not run by `make test`.
export OV_KILL9_ROUNDS=${OV_KILL9_ROUNDS:-200}
. "$(dirname "${BASH_SOURCE[0]}")/../t_rot_kill9.sh"

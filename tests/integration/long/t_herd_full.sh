#!/usr/bin/env bash
# long/t_herd_full.sh — t_rot_herd.sh at full size: 2000 credentials on
# one host, all due at once, `serve --host-concurrency 8 --host-rate
# 240/60`: ~9 minutes.  Not run by `make test` (make test-long).
export OV_HERD_N=${OV_HERD_N:-2000}
export OV_HERD_RATE=${OV_HERD_RATE:-240/60}
export OV_HERD_CONC=${OV_HERD_CONC:-8}
export OV_HERD_DELAY_MS=${OV_HERD_DELAY_MS:-200}
. "$(dirname "${BASH_SOURCE[0]}")/../t_rot_herd.sh"

#!/bin/bash
# bench_table.sh FILE: the figures the benches recorded (engine.sh's
# record: FIGURE, engine, value per line), one row per figure, one
# column per engine, in the order first recorded.
set -u
f=${1:?usage: bench_table.sh FILE}
[ -s "$f" ] || { echo "bench_table: no figures were recorded in $f" >&2; exit 1; }
awk -F '\t' '
	!($1 in seen) { seen[$1] = 1; order[++n] = $1 }
	!($2 in eng) { eng[$2] = 1; engines[++m] = $2 }
	{ v[$1, $2] = $3 }
	END {
		printf "%-52s", "figure"
		for (j = 1; j <= m; j++) printf " %14s", engines[j]
		printf "\n"
		for (i = 1; i <= n; i++) {
			printf "%-52s", order[i]
			for (j = 1; j <= m; j++)
				printf " %14s", ((order[i], engines[j]) in v) ? v[order[i], engines[j]] : "-"
			printf "\n"
		}
	}' "$f"

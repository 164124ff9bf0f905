# cluster.sh — a throwaway PostgreSQL cluster for the tests (sourced).
#
#   pg_cluster_start DIR   initdb in DIR (as postgres when root: initdb
#                          refuses root), a Unix socket in DIR and a free
#                          loopback port; role orgvault (no superuser, may
#                          create schemas in database orgvault); sets
#                          PG_DIR PG_PORT PG_SOCK PG_LOG PG_BIN
#   pg_cluster_stop        stops it (pg_ctl -m fast) and removes DIR
#   pg_psql SQL            runs SQL as the superuser, prints rows (-At)
#   pg_url SCHEMA          the --database URL of role orgvault on SCHEMA
#
# Debian's initdb and pg_ctl are not on PATH: PG_BIN defaults to the
# newest /usr/lib/postgresql/*/bin.
PG_BIN=${PG_BIN:-$(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -n 1)}

pg_as() {
	if [ "$(id -u)" = 0 ]; then
		runuser -u postgres -- "$@"
	else
		"$@"
	fi
}

pg_free_port() {
	python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1]); s.close()'
}

pg_cluster_start() {
	PG_DIR=$1
	[ -x "$PG_BIN/initdb" ] || { echo "pg_cluster_start: no initdb in '$PG_BIN' (apt-get install postgresql)" >&2; return 1; }
	mkdir -p "$PG_DIR" || return 1
	chmod 0755 "$PG_DIR"
	[ "$(id -u)" = 0 ] && chown postgres: "$PG_DIR"
	PG_SOCK=$PG_DIR
	PG_LOG=$PG_DIR/server.log
	pg_as "$PG_BIN/initdb" -D "$PG_DIR/data" -U postgres -A trust -E UTF8 \
	    --locale=C.UTF-8 >"$PG_DIR/initdb.log" 2>&1 || { cat "$PG_DIR/initdb.log" >&2; return 1; }
	cat >>"$PG_DIR/data/postgresql.conf" <<CONF
listen_addresses = '127.0.0.1'
unix_socket_directories = '$PG_SOCK'
fsync = off
full_page_writes = off
max_connections = 200
shared_buffers = 64MB
log_min_messages = warning
log_line_prefix = '%m [%p] %q%u@%d '
CONF
	# Unix socket: trust; TCP: a password (scram), for passfile tests.
	cat >"$PG_DIR/data/pg_hba.conf" <<HBA
local all all trust
host all all 127.0.0.1/32 scram-sha-256
HBA
	local try
	for try in 1 2 3 4 5; do
		PG_PORT=$(pg_free_port)
		if pg_as "$PG_BIN/pg_ctl" -D "$PG_DIR/data" -l "$PG_LOG" -w -t 30 \
		    -o "-p $PG_PORT" start >/dev/null 2>&1; then
			break
		fi
		PG_PORT=
	done
	[ -n "$PG_PORT" ] || { cat "$PG_LOG" >&2; return 1; }
	PG_DB=postgres pg_psql "CREATE ROLE orgvault LOGIN" >/dev/null &&
	    PG_DB=postgres pg_psql "CREATE DATABASE orgvault" >/dev/null &&
	    PG_DB=postgres pg_psql "GRANT CREATE ON DATABASE orgvault TO orgvault" >/dev/null || return 1
	export PG_DIR PG_PORT PG_SOCK PG_LOG PG_BIN
}

pg_cluster_stop() {
	[ -n "${PG_DIR:-}" ] || return 0
	pg_as "$PG_BIN/pg_ctl" -D "$PG_DIR/data" -m fast -w stop >/dev/null 2>&1
	rm -rf "$PG_DIR"
	PG_DIR=
}

pg_psql() {
	pg_as psql -X -q -At -v ON_ERROR_STOP=1 -h "$PG_SOCK" -p "$PG_PORT" -U postgres -d "${PG_DB:-orgvault}" -c "$1"
}

pg_url() {
	echo "postgresql:///orgvault?host=$PG_SOCK&port=$PG_PORT&user=orgvault&schema=$1"
}

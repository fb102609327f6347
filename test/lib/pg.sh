# test/lib/pg.sh: a throwaway PostgreSQL cluster for integration tests.
# Source it, then:
#
#	pg_available || skip		PostgreSQL server binaries present?
#	pg_start			initdb + start + role/database; exports
#					XPUSHD_TEST_DB_URI, XPUSHD_TEST_DB_BASE,
#					PGHOST, PGPORT, PGUSER, PGDATABASE
#	pg_stop_server / pg_start_server	outage on the same data directory
#	pg_stop				stop (by PID) and remove everything
#	pg_tap_run PROGRAM...		all of the above around a TAP program
#
# Everything lives in one private directory under $TMPDIR with its own
# socket directory and a free port on 127.0.0.1.  PostgreSQL refuses to run
# as root, so as root the server runs as the postgres user (runuser).
# Nothing here relies on variables surviving between shells: the PID comes
# from the data directory, so a child shell (a C test calling
# pg_stop_server) and the parent can both manage the server.

pg_bindir() {
	if [ -n "${PG_BINDIR:-}" ] && [ -x "$PG_BINDIR/initdb" ]; then
		echo "$PG_BINDIR"
		return 0
	fi
	for _d in $(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -t/ -k4 -rn); do
		if [ -x "$_d/initdb" ] && [ -x "$_d/pg_ctl" ]; then
			echo "$_d"
			return 0
		fi
	done
	if command -v initdb >/dev/null 2>&1 && command -v pg_ctl >/dev/null 2>&1; then
		dirname "$(command -v initdb)"
		return 0
	fi
	return 1
}

pg_available() {
	PG_BINDIR=$(pg_bindir) || return 1
	if [ "$(id -u)" = 0 ]; then
		id postgres >/dev/null 2>&1 || return 1
		command -v runuser >/dev/null 2>&1 || return 1
	fi
	export PG_BINDIR
	return 0
}

# Runs a server-side command as the user the server runs as.
pg_as() {
	if [ "$(id -u)" = 0 ]; then
		(cd "$PG_TMP" && runuser -u postgres -- "$@")
	else
		(cd "$PG_TMP" && "$@")
	fi
}

pg_psql() {	# as the superuser: pg_psql [psql args]
	"$PG_BINDIR/psql" -X -q -v ON_ERROR_STOP=1 -h "$PG_SOCK" -p "$PG_PORT" \
	    -U postgres -d postgres "$@"
}

pg_pid() {
	[ -n "${PG_DATA:-}" ] && [ -f "$PG_DATA/postmaster.pid" ] || return 1
	head -n 1 "$PG_DATA/postmaster.pid"
}

# A port nobody listens on now.  Two tests may still pick the same one;
# pg_start tries again with another when the server cannot bind.
pg_pick_port() {
	if [ -x /usr/bin/python3 ] && /usr/bin/python3 -c 'import socket
s = socket.socket()
s.bind(("127.0.0.1", 0))
print(s.getsockname()[1])' 2>/dev/null; then
		return 0
	fi
	echo $(( ($$ * 7919 + $(date +%N | sed 's/^0*//;s/^$/0/')) % 30000 + 20000 ))
}

pg_start_server() {
	pg_as "$PG_BINDIR/pg_ctl" -D "$PG_DATA" -l "$PG_TMP/postgres.log" \
	    -w -t 60 -s -o "-p $PG_PORT -k $PG_SOCK -c listen_addresses=127.0.0.1 -c fsync=off -c synchronous_commit=off -c full_page_writes=off -c max_connections=50" \
	    start >/dev/null 2>&1 || return 1
	PG_PID=$(pg_pid) || return 1
	export PG_PID
}

pg_stop_server() {
	_pid=$(pg_pid) || return 0
	kill -INT "$_pid" 2>/dev/null || return 0
	_n=0
	while kill -0 "$_pid" 2>/dev/null; do
		_n=$((_n + 1))
		if [ "$_n" -gt 300 ]; then
			kill -KILL "$_pid" 2>/dev/null
			break
		fi
		sleep 0.1
	done
	# A killed postmaster leaves its pid file behind.
	rm -f "$PG_DATA/postmaster.pid"
	PG_PID=
	return 0
}

pg_start() {
	pg_available || { echo "pg_start: no PostgreSQL server binaries" >&2; return 1; }
	PG_TMP=$(mktemp -d "${TMPDIR:-/tmp}/xpushd-pg.XXXXXX") || return 1
	PG_DATA=$PG_TMP/data
	PG_SOCK=$PG_TMP/sock
	mkdir "$PG_SOCK"
	export PG_TMP PG_DATA PG_SOCK
	if [ "$(id -u)" = 0 ]; then
		chown -R postgres: "$PG_TMP"
	fi
	if ! pg_as "$PG_BINDIR/initdb" -D "$PG_DATA" -U postgres -A trust \
	    -E UTF8 --locale=C --no-sync >"$PG_TMP/initdb.log" 2>&1; then
		cat "$PG_TMP/initdb.log" >&2
		return 1
	fi
	_try=0
	while :; do
		PG_PORT=$(pg_pick_port) || return 1
		export PG_PORT
		pg_start_server && break
		_try=$((_try + 1))
		if [ "$_try" -ge 5 ]; then
			echo "pg_start: the server does not start:" >&2
			tail -n 20 "$PG_TMP/postgres.log" >&2
			return 1
		fi
	done
	pg_psql -c "CREATE ROLE xpushd LOGIN CREATEDB" \
	    -c "CREATE DATABASE xpushd OWNER xpushd" || return 1
	XPUSHD_TEST_DB_BASE="postgresql://xpushd@127.0.0.1:$PG_PORT"
	XPUSHD_TEST_DB_URI="$XPUSHD_TEST_DB_BASE/xpushd"
	PGHOST=$PG_SOCK
	PGUSER=xpushd
	PGDATABASE=xpushd
	PGPORT=$PG_PORT
	XPUSHD_PG_SH=${XPUSHD_PG_SH:-${top_srcdir:-.}/test/lib/pg.sh}
	export XPUSHD_TEST_DB_BASE XPUSHD_TEST_DB_URI PGHOST PGUSER PGDATABASE \
	    PGPORT XPUSHD_PG_SH
}

pg_stop() {
	[ -n "${PG_TMP:-}" ] || return 0
	pg_stop_server
	case "$PG_TMP" in
	*/xpushd-pg.*) rm -rf "$PG_TMP" ;;
	esac
	PG_TMP=
	return 0
}

# pg_tap_run PROGRAM [ARGS]: a TAP test around one program that needs a
# database.  Skips without PostgreSQL unless XPUSHD_REQUIRE_ALL=1.
pg_tap_run() {
	if ! pg_available; then
		if [ "${XPUSHD_REQUIRE_ALL:-0}" = 1 ]; then
			echo "Bail out! no PostgreSQL and XPUSHD_REQUIRE_ALL=1"
			exit 1
		fi
		echo "1..0 # SKIP no PostgreSQL"
		exit 0
	fi
	trap 'pg_stop' EXIT
	trap 'exit 1' INT TERM HUP
	if ! pg_start 2>"${TMPDIR:-/tmp}/pg_start.$$"; then
		sed 's/^/# /' "${TMPDIR:-/tmp}/pg_start.$$"
		rm -f "${TMPDIR:-/tmp}/pg_start.$$"
		echo "Bail out! cannot start PostgreSQL"
		exit 1
	fi
	rm -f "${TMPDIR:-/tmp}/pg_start.$$"
	"$@"
	_rc=$?
	if [ "$_rc" -ne 0 ]; then
		echo "# $1 exited with $_rc; server log:"
		tail -n 30 "$PG_TMP/postgres.log" 2>/dev/null | sed 's/^/#   /'
	fi
	return "$_rc"
}

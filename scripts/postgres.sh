#!/usr/bin/env bash
# postgres.sh: a private, throwaway PostgreSQL server for the ledger tests.
#
#   scripts/postgres.sh start          start a server, print export AIRLOCK_TEST_POSTGRES=<url>
#   scripts/postgres.sh stop           stop the server `start` started and delete its files
#   scripts/postgres.sh status         exit 0 running (prints the URL again), 3 stopped
#   scripts/postgres.sh run CMD ARGS   start a server of its own, run CMD with
#                                      AIRLOCK_TEST_POSTGRES exported, stop it, delete
#                                      its files, and exit with CMD's status
#
# Typical use: scripts/postgres.sh run go test -count=1 ./ledger/
#
# The server runs Debian's binaries (/usr/lib/postgresql/*/bin, package
# postgresql) as the user postgres when this script runs as root (postgres
# refuses to run as root), else as the calling user. Its files live in a new
# directory /tmp/airlock-pg.XXXXXX (mode 0700); it listens on 127.0.0.1 only,
# on a free port from 55432 up, with its Unix socket inside that directory,
# and takes passwords only (scram-sha-256). The superuser postgres and the
# role airlock get random passwords made here; airlock, not a superuser, owns
# the database airlock_test, and the URL is
#   postgres://airlock:<password>@127.0.0.1:<port>/airlock_test?sslmode=disable
#
# `start` prints that as a shell command on stdout (messages go to stderr),
# so `eval "$(scripts/postgres.sh start)"` exports it, and records the
# server in $AIRLOCK_PG_STATE (default /tmp/airlock-postgres-<uid>.state) for
# `status` and `stop`. `run` uses a server of its own, so runs never share
# one, and removes it whatever CMD's exit status, also when interrupted
# (Ctrl-C, SIGTERM: CMD gets SIGTERM first).
#
# Environment: AIRLOCK_PG_STATE (see above), AIRLOCK_PG_PORT (first port to
# try, default 55432), AIRLOCK_PG_BINDIR (the directory of initdb and
# pg_ctl, default the newest /usr/lib/postgresql/*/bin),
# AIRLOCK_PG_START_TIMEOUT (seconds, default 30).
set -euo pipefail

STATEFILE=${AIRLOCK_PG_STATE:-/tmp/airlock-postgres-$(id -u).state}
FIRST_PORT=${AIRLOCK_PG_PORT:-55432}
START_TIMEOUT=${AIRLOCK_PG_START_TIMEOUT:-30}
DB=airlock_test
ROLE=airlock

say() { printf 'postgres.sh: %s\n' "$*" >&2; }
die() {
	printf 'postgres.sh: error: %s\n' "$*" >&2
	exit 1
}

now_ms() { date +%s%3N; }
elapsed() { # elapsed START_MS -> "0.35 s"
	local d=$(($(now_ms) - $1))
	printf '%d.%02d s' $((d / 1000)) $((d % 1000 / 10))
}

# bindir: the directory that holds initdb and pg_ctl.
bindir() {
	local d
	if [ -n "${AIRLOCK_PG_BINDIR:-}" ]; then
		if [ ! -x "$AIRLOCK_PG_BINDIR/initdb" ] || [ ! -x "$AIRLOCK_PG_BINDIR/pg_ctl" ]; then
			die "no initdb and pg_ctl in AIRLOCK_PG_BINDIR=$AIRLOCK_PG_BINDIR"
		fi
		printf '%s\n' "$AIRLOCK_PG_BINDIR"
		return 0
	fi
	# The newest version first.
	for d in $(printf '%s\n' /usr/lib/postgresql/*/bin | sort -t/ -k5,5nr); do
		if [ -x "$d/initdb" ] && [ -x "$d/pg_ctl" ] && [ -x "$d/psql" ] && [ -x "$d/pg_isready" ]; then
			printf '%s\n' "$d"
			return 0
		fi
	done
	if command -v initdb >/dev/null && command -v pg_ctl >/dev/null && command -v psql >/dev/null && command -v pg_isready >/dev/null; then
		dirname "$(command -v initdb)"
		return 0
	fi
	die "PostgreSQL server binaries (initdb, pg_ctl) not found; install them with: apt-get install -y postgresql"
}

# as_pg CMD ARGS: run CMD as the server's user, in the server's directory
# (postgres may not read the caller's directory).
as_pg() {
	# 9>&-: the server must not inherit the lock.
	if [ "$(id -u)" = 0 ]; then
		(cd "$DIR" && runuser -u postgres -- "$@" 9>&-)
	else
		(cd "$DIR" && "$@" 9>&-)
	fi
}

# port_in_use PORT: something listens on TCP PORT (IPv4 or IPv6).
port_in_use() {
	local hex
	hex=$(printf ':%04X' "$1")
	awk -v p="$hex" '$4 == "0A" && substr($2, length($2) - 4) == p { f = 1 } END { exit !f }' \
		/proc/net/tcp /proc/net/tcp6 2>/dev/null
}

# random_password: 24 characters that need no escaping in a URL or in SQL.
random_password() {
	local p
	p=$(head -c 48 /dev/urandom | base64 | tr -dc 'A-Za-z0-9' | head -c 24)
	[ ${#p} -eq 24 ] || die "cannot make a random password"
	printf '%s\n' "$p"
}

# server_up: the server in $DIR answers on its port.
server_up() {
	"$BIN/pg_isready" -q -h 127.0.0.1 -p "$PORT" -d postgres -t 2 >/dev/null 2>&1
}

# create_server: initdb in a new $DIR, then start the server on a free
# port; sets DIR, PORT and DSN.
create_server() {
	local t0 su_pw pw port i
	t0=$(now_ms)
	BIN=$(bindir)
	if [ "$(id -u)" = 0 ]; then
		id postgres >/dev/null 2>&1 || die "no user postgres to run the server as (it is made by: apt-get install -y postgresql)"
		command -v runuser >/dev/null || die "runuser not found (package util-linux)"
	fi
	DIR=$(mktemp -d /tmp/airlock-pg.XXXXXX)
	chmod 700 "$DIR"
	[ "$(id -u)" = 0 ] && chown postgres: "$DIR"
	su_pw=$(random_password)
	pw=$(random_password)
	printf '%s\n' "$su_pw" >"$DIR/pwfile"
	chmod 600 "$DIR/pwfile"
	[ "$(id -u)" = 0 ] && chown postgres: "$DIR/pwfile"
	if ! as_pg "$BIN/initdb" -D "$DIR/data" -U postgres --pwfile="$DIR/pwfile" \
		--auth=scram-sha-256 --encoding=UTF8 --locale=C >"$DIR/initdb.log" 2>&1; then
		tail -n 20 "$DIR/initdb.log" >&2 || true
		rm -rf "$DIR"
		die "initdb failed"
	fi
	rm -f "$DIR/pwfile"
	as_pg mkdir -m 700 "$DIR/sock"

	# A free port: the first of FIRST_PORT.. that nothing listens on and
	# that the server can bind (another starter may win the race for it).
	port=$FIRST_PORT
	for ((i = 0; i < 20; i++, port++)); do
		port_in_use "$port" && continue
		cat >>"$DIR/data/postgresql.conf" <<EOF

# postgres.sh: a private server for the tests.
listen_addresses = '127.0.0.1'
port = $port
unix_socket_directories = '$DIR/sock'
unix_socket_permissions = 0700
password_encryption = 'scram-sha-256'
EOF
		if as_pg "$BIN/pg_ctl" -D "$DIR/data" -l "$DIR/server.log" -w -t "$START_TIMEOUT" start >"$DIR/pg_ctl.log" 2>&1; then
			PORT=$port
			break
		fi
		if grep -q 'could not bind\|Address already in use' "$DIR/server.log" 2>/dev/null; then
			say "port $port was taken meanwhile; trying the next"
			continue
		fi
		tail -n 20 "$DIR/server.log" >&2 2>/dev/null || tail -n 20 "$DIR/pg_ctl.log" >&2 || true
		remove_server
		die "the server did not start (log above)"
	done
	if [ -z "${PORT:-}" ]; then
		remove_server
		die "no free port in $FIRST_PORT..$((FIRST_PORT + 19))"
	fi

	# Bounded wait until it takes connections (pg_ctl -w mostly did).
	for ((i = 0; i < START_TIMEOUT * 10; i++)); do
		server_up && break
		sleep 0.1
	done
	if ! server_up; then
		tail -n 20 "$DIR/server.log" >&2 || true
		stop_server
		remove_server
		die "the server does not accept connections after ${START_TIMEOUT} s"
	fi

	# The role and database of the tests; the superuser password stays here.
	if ! PGPASSWORD=$su_pw "$BIN/psql" -X -q -v ON_ERROR_STOP=1 -h 127.0.0.1 -p "$PORT" -U postgres -d postgres \
		>"$DIR/setup.log" 2>&1 <<EOF; then
CREATE ROLE $ROLE LOGIN PASSWORD '$pw';
CREATE DATABASE $DB OWNER $ROLE ENCODING 'UTF8';
EOF
		tail -n 20 "$DIR/setup.log" >&2 || true
		stop_server
		remove_server
		die "cannot create the role and database"
	fi
	DSN="postgres://$ROLE:$pw@127.0.0.1:$PORT/$DB?sslmode=disable"
	say "PostgreSQL $("$BIN/pg_ctl" --version | awk '{ print $3 }') started in $(elapsed "$t0") on 127.0.0.1:$PORT (files in $DIR)"
}

stop_server() {
	[ -d "${DIR:-}/data" ] || return 0
	as_pg "$BIN/pg_ctl" -D "$DIR/data" -m fast -w -t 30 stop >/dev/null 2>&1 ||
		as_pg "$BIN/pg_ctl" -D "$DIR/data" -m immediate -w -t 30 stop >/dev/null 2>&1 || true
}

remove_server() {
	case "${DIR:-}" in
	/tmp/airlock-pg.*) rm -rf "$DIR" ;;
	esac
}

# save_state: record DIR, PORT, BIN and DSN for status and stop, in a file
# of our own (mode 0600: the URL holds the password), replaced atomically.
save_state() {
	local tmp
	tmp=$(mktemp "$STATEFILE.XXXXXX")
	printf '%s\n' "$DIR" "$PORT" "$BIN" "$DSN" >"$tmp"
	mv -f "$tmp" "$STATEFILE"
}

# load_state: DIR, PORT, BIN and DSN of the server `start` recorded.
load_state() {
	[ -f "$STATEFILE" ] && [ -O "$STATEFILE" ] || return 1
	{ read -r DIR && read -r PORT && read -r BIN && read -r DSN; } <"$STATEFILE" || return 1
	case "$DIR" in
	/tmp/airlock-pg.*) [ -d "$DIR" ] ;;
	*) return 1 ;;
	esac
}

print_env() { printf 'export AIRLOCK_TEST_POSTGRES=%q\n' "$DSN"; }

# lock: serialise start and stop between concurrent invocations.
lock() {
	command -v flock >/dev/null || return 0
	exec 9>"$STATEFILE.lock"
	flock -w 60 9 || die "another postgres.sh has held $STATEFILE.lock for 60 s"
}

cmd_start() {
	if load_state && server_up; then
		say "already running on 127.0.0.1:$PORT (files in $DIR)"
		print_env
		return 0
	fi
	if load_state; then
		say "removing a stopped server's files ($DIR)"
		stop_server
		remove_server
	fi
	rm -f "$STATEFILE"
	create_server
	save_state
	print_env
}

cmd_stop() {
	if ! load_state; then
		rm -f "$STATEFILE"
		say "not running (nothing to stop)"
		return 0
	fi
	stop_server
	remove_server
	rm -f "$STATEFILE"
	say "stopped the server on 127.0.0.1:$PORT and removed $DIR"
}

cmd_status() {
	if load_state && server_up; then
		say "running on 127.0.0.1:$PORT (files in $DIR)"
		print_env
		return 0
	fi
	say "stopped"
	return 3
}

run_done() {
	local rc=$?
	trap - EXIT INT TERM HUP
	stop_server
	remove_server
	[ -z "${DIR:-}" ] || say "stopped the server and removed $DIR"
	exit "$rc"
}

# run_signal CODE: on a signal during `run`, stop CMD, then exit (run_done
# removes the server).
run_signal() {
	if [ -n "${CHILD:-}" ]; then
		kill -TERM "$CHILD" 2>/dev/null || true
		wait "$CHILD" 2>/dev/null || true
	fi
	exit "$1"
}

cmd_run() {
	[ $# -gt 0 ] || die "usage: $0 run CMD [ARGS...]"
	local rc=0
	DIR=''
	CHILD=''
	trap run_done EXIT
	trap 'run_signal 130' INT
	trap 'run_signal 143' TERM
	trap 'run_signal 129' HUP
	create_server
	# In the background, so that a signal to this script is handled at
	# once rather than when CMD ends; <&0 keeps CMD's standard input.
	AIRLOCK_TEST_POSTGRES=$DSN "$@" <&0 &
	CHILD=$!
	wait "$CHILD" || rc=$?
	CHILD=''
	exit "$rc"
}

case "${1:-}" in
start)
	lock
	cmd_start
	;;
stop)
	lock
	cmd_stop
	;;
status) cmd_status ;;
run)
	shift
	cmd_run "$@"
	;;
*)
	echo "usage: $0 start|stop|status|run CMD [ARGS...]" >&2
	exit 2
	;;
esac

#!/usr/bin/env bash
# pcsc-stack.sh: a private pcscd with the vpcd virtual reader driver, for the
# hardware-key tests (the Go card emulator in internal/testrig/cardemu plugs into it).
#
#   scripts/pcsc-stack.sh start          install packages if missing, start pcscd, wait for the readers
#   scripts/pcsc-stack.sh stop [--force] stop the pcscd this script started
#   scripts/pcsc-stack.sh status         exit 0 running, 1 a pcscd we did not start, 3 stopped
#   scripts/pcsc-stack.sh run CMD ARGS   start, run CMD with PCSC_VPCD=1 etc. exported, stop
#
# pcscd is one per machine (/run/pcscd/pcscd.comm), so concurrent users share
# it: `run` registers its pid in $PCSC_STATE/users, and neither `stop` nor the
# end of another `run` stops pcscd while a registered `run` is alive (the
# last one stops it instead; `stop --force` does not wait).
#
# `start` prints shell assignments on stdout (messages go to stderr), so
#   eval "$(scripts/pcsc-stack.sh start)"
# sets (without exporting) PCSC_VPCD=1, PCSC_VPCD_ADDR=127.0.0.1:35963, ...;
# `run` exports them to CMD. Typical use: scripts/pcsc-stack.sh run go test ./...
#
# vpcd makes two readers: "Virtual PCD 00 00" (TCP port 35963) and
# "Virtual PCD 00 01" (35964); it listens on 0.0.0.0. A virtual card is a
# TCP client of that port (see internal/testrig/cardemu).
#
# Environment: PCSC_STATE (state dir, default $PWD/.pcsc-state: config, pid
# file, pcscd.log, apt.log), PCSC_START_TIMEOUT (seconds, default 10),
# PCSC_DEBUG=1 (pcscd -d -a: log every APDU to pcscd.log).
set -euo pipefail

STATE=${PCSC_STATE:-$PWD/.pcsc-state}
PIDFILE=$STATE/pcscd.pid
LOG=$STATE/pcscd.log
CONF=$STATE/conf
SOCK=/run/pcscd/pcscd.comm
SYS_PIDFILE=/run/pcscd/pcscd.pid
PORT=35963 # fixed by the reader config below: 0x8C7B
PORT_HEX=8C7B
READER0="Virtual PCD 00 00"
READER1="Virtual PCD 00 01"
PKGS=(pcscd libpcsclite-dev vsmartcard-vpcd pkg-config pcsc-tools opensc)
START_TIMEOUT=${PCSC_START_TIMEOUT:-10}
USERS=$STATE/users # pids of live `run` invocations
OWNER=$STATE/owner # "start": the next plain `stop` stops pcscd; "run": the last `run` does

say() { printf 'pcsc-stack: %s\n' "$*" >&2; }
die() {
	printf 'pcsc-stack: error: %s\n' "$*" >&2
	exit 1
}

now_ms() { date +%s%3N; }
elapsed() { # elapsed START_MS -> "0.35 s"
	local d=$(($(now_ms) - $1))
	printf '%d.%02d s' $((d / 1000)) $((d % 1000 / 10))
}

# alive PID: the process exists and is not a zombie (a container's PID 1
# may never reap a killed pcscd).
alive() {
	local st
	[[ "${1:-}" =~ ^[0-9]+$ ]] || return 1
	st=$(awk '{ sub(/^.*\) /, ""); print $1 }' "/proc/$1/stat" 2>/dev/null) || return 1
	[ -n "$st" ] && [ "$st" != Z ] && [ "$st" != X ]
}

# read_pid FILE: the digits in FILE (pcscd's own pid file ends in a NUL).
read_pid() { { tr -dc '0-9' <"$1"; } 2>/dev/null || true; }

# is_pcscd PID: PID is alive and is a pcscd process.
is_pcscd() {
	alive "${1:-}" && [ "$(cat "/proc/$1/comm" 2>/dev/null)" = pcscd ]
}

# our_pid: prints the pid of the pcscd this script started (same state dir), or fails.
our_pid() {
	local pid
	[ -f "$PIDFILE" ] || return 1
	pid=$(read_pid "$PIDFILE")
	[ -n "$pid" ] || return 1
	is_pcscd "$pid" || return 1
	tr '\0' ' ' <"/proc/$pid/cmdline" 2>/dev/null | grep -qF -- "-c $CONF " || return 1
	printf '%s\n' "$pid"
}

# other_pcscds: pids of pcscd processes that are not ours, in our mount
# namespace (a pcscd in another one, e.g. under unshare -m, has its own
# /run/pcscd; the port check still catches one in our network namespace).
other_pcscds() {
	local mine d pid mnt
	mine=$(our_pid || true)
	mnt=$(readlink /proc/self/ns/mnt 2>/dev/null || true)
	for d in /proc/[0-9]*; do
		pid=${d#/proc/}
		[ "$pid" = "$mine" ] && continue
		is_pcscd "$pid" || continue
		[ -z "$mnt" ] || [ "$(readlink "/proc/$pid/ns/mnt" 2>/dev/null || true)" = "$mnt" ] || continue
		printf '%s ' "$pid"
	done
	return 0
}

# sock_bound: some process (in this network namespace) has the pcscd socket bound.
sock_bound() { awk -v p="$SOCK" '$NF == p { f = 1 } END { exit !f }' /proc/net/unix 2>/dev/null; }

# port_listening: something listens on the vpcd port.
port_listening() {
	awk -v p=":$PORT_HEX" '$4 == "0A" && substr($2, length($2) - 4) == p { f = 1 } END { exit !f }' \
		/proc/net/tcp /proc/net/tcp6 2>/dev/null
}

# readers: the reader list, one per line, with card state (bounded).
readers() {
	if command -v opensc-tool >/dev/null; then
		timeout 5 opensc-tool -l 2>/dev/null || true
	elif command -v pcsc_scan >/dev/null; then
		timeout 5 pcsc_scan -r 2>/dev/null || true
	fi
}

have_reader() { readers | grep -qF "$READER0"; }

print_env() {
	cat <<EOF
PCSC_VPCD=1
PCSC_VPCD_ADDR=127.0.0.1:$PORT
PCSC_VPCD_PORT=$PORT
PCSC_VPCD_READER='$READER0'
PCSC_VPCD_ADDR2=127.0.0.1:$((PORT + 1))
PCSC_VPCD_PORT2=$((PORT + 1))
PCSC_VPCD_READER2='$READER1'
PCSC_STATE='$STATE'
EOF
}

# lock / unlock: serialise start and stop between concurrent invocations.
lock() {
	mkdir -p "$STATE"
	command -v flock >/dev/null || return 0
	exec 9>"$STATE/.lock"
	flock -w 60 9 || die "another pcsc-stack.sh has held $STATE/.lock for 60 s"
}
unlock() {
	command -v flock >/dev/null || return 0
	flock -u 9 || true
	exec 9>&-
}

# live_users: pids of `run` invocations still alive (stale entries are dropped).
live_users() {
	local f pid out=""
	[ -d "$USERS" ] || return 0
	for f in "$USERS"/*; do
		[ -e "$f" ] || continue
		pid=${f##*/}
		if alive "$pid"; then out+="$pid "; else rm -f "$f"; fi
	done
	printf '%s' "${out% }"
}

ensure_packages() {
	local missing=() p
	command -v dpkg-query >/dev/null || {
		command -v pcscd >/dev/null && vpcd_driver >/dev/null && return 0
		die "pcscd and the vpcd driver are missing, and this is not a Debian system: install pcsc-lite and vsmartcard (vpcd) by hand"
	}
	for p in "${PKGS[@]}"; do
		case "$(dpkg-query -W -f='${db:Status-Abbrev}' "$p" 2>/dev/null || true)" in
		ii*) ;;
		*) missing+=("$p") ;;
		esac
	done
	[ ${#missing[@]} -eq 0 ] && return 0
	if [ "$(id -u)" != 0 ] || ! command -v apt-get >/dev/null; then
		die "missing packages: ${missing[*]}; install them with: sudo apt-get install -y --no-install-recommends ${missing[*]}"
	fi
	local t0
	t0=$(now_ms)
	say "installing ${missing[*]} (log: $STATE/apt.log)"
	if ! {
		timeout 600 apt-get update -qq &&
			DEBIAN_FRONTEND=noninteractive timeout 900 apt-get install -y -qq --no-install-recommends \
				-o DPkg::Lock::Timeout=120 "${missing[@]}"
	} >"$STATE/apt.log" 2>&1; then
		tail -n 20 "$STATE/apt.log" >&2 || true
		die "apt-get failed (full log: $STATE/apt.log)"
	fi
	say "installed in $(elapsed "$t0")"
}

vpcd_driver() {
	local f
	for f in /usr/lib/pcsc/drivers/serial/libifdvpcd.so /usr/lib/pcsc/drivers/serial/libifdvpcd.so.*; do
		[ -e "$f" ] && { printf '%s\n' "$f"; return 0; }
	done
	if command -v dpkg >/dev/null; then
		f=$(dpkg -L vsmartcard-vpcd 2>/dev/null | grep -m1 '/libifdvpcd\.so' || true)
		[ -n "$f" ] && [ -e "$f" ] && { printf '%s\n' "$f"; return 0; }
	fi
	return 1
}

# refuse_foreign: exit 1 when a pcscd (or something on its socket or on the
# vpcd port) runs that this script did not start.
refuse_foreign() {
	local others
	others=$(other_pcscds)
	others=${others% }
	if [ -n "$others" ]; then
		say "error: a pcscd this script did not start is running (pid $others):"
		ps -o pid=,args= -p "${others// /,}" 2>/dev/null | sed 's/^/pcsc-stack:   /' >&2 || true
		say "hint: stop it first ('systemctl stop pcscd.socket pcscd.service', or 'kill $others'), then run '$0 start' again"
		exit 1
	fi
	if sock_bound; then
		say "error: $SOCK is held by a process that is not pcscd (systemd socket activation?)"
		say "hint: stop it first: systemctl stop pcscd.socket pcscd.service"
		exit 1
	fi
	if port_listening; then
		say "error: TCP port $PORT (vpcd) is already in use:"
		{ ss -ltnp "sport = :$PORT" 2>/dev/null || true; } | sed 's/^/pcsc-stack:   /' >&2
		say "hint: stop the process that listens there, then run '$0 start' again"
		exit 1
	fi
}

cmd_start() {
	local t0 pid driver i
	t0=$(now_ms)
	mkdir -p "$CONF"
	if pid=$(our_pid); then
		if have_reader; then
			say "already running (pid $pid)"
			print_env
			return 0
		fi
		say "our pcscd (pid $pid) runs but lists no '$READER0'; restarting it"
		stop_pcscd
	fi
	rm -f "$PIDFILE"

	ensure_packages
	driver=$(vpcd_driver) || die "vpcd driver libifdvpcd.so not found (package vsmartcard-vpcd)"
	refuse_foreign

	# Leftovers of a killed pcscd: a socket nobody listens on, a pid file of a dead or unrelated process.
	if [ -e "$SOCK" ] && ! sock_bound; then rm -f "$SOCK"; fi
	if [ -f "$SYS_PIDFILE" ] && ! is_pcscd "$(read_pid "$SYS_PIDFILE")"; then rm -f "$SYS_PIDFILE"; fi

	# One vpcd entry only (two entries break card detection); it makes two slots.
	rm -f "$CONF"/*
	printf 'FRIENDLYNAME "Virtual PCD"\nDEVICENAME /dev/null:0x%s\nLIBPATH %s\nCHANNELID 0x%s\n' \
		"$PORT_HEX" "$driver" "$PORT_HEX" >"$CONF/vpcd"

	local args=(--foreground -c "$CONF")
	[ "${PCSC_DEBUG:-}" = 1 ] && args+=(-d -a)
	# setsid: keep pcscd out of the caller's process group (Ctrl-C in make);
	# 9>&-: it must not inherit the lock.
	setsid pcscd "${args[@]}" </dev/null >"$LOG" 2>&1 9>&- &
	pid=$!
	printf '%s\n' "$pid" >"$PIDFILE"

	# Bounded wait: socket, then the reader.
	for ((i = 0; i < START_TIMEOUT * 10; i++)); do
		if ! alive "$pid"; then
			rm -f "$PIDFILE"
			tail -n 20 "$LOG" >&2 || true
			die "pcscd exited at start (log: $LOG)"
		fi
		if [ -S "$SOCK" ] && have_reader; then
			say "pcscd started (pid $pid) in $(elapsed "$t0"); readers '$READER0' (port $PORT) and '$READER1' (port $((PORT + 1))); log $LOG"
			print_env
			return 0
		fi
		sleep 0.1
	done
	tail -n 20 "$LOG" >&2 || true
	say "error: no '$READER0' after ${START_TIMEOUT} s; stopping pcscd"
	stop_pcscd
	exit 1
}

# cmd_stop [--force]: stop pcscd unless a `run` still uses it.
cmd_stop() {
	local users
	users=$(live_users)
	if [ -n "$users" ] && [ "${1:-}" != --force ]; then
		echo run >"$OWNER"
		say "in use by '$0 run' (pid $users): the last of them stops pcscd ('stop --force' does it now)"
		return 0
	fi
	stop_pcscd
}

stop_pcscd() {
	local pid i
	rm -f "$OWNER"
	if ! pid=$(our_pid); then
		rm -f "$PIDFILE"
		say "not running (nothing to stop)"
		local others
		others=$(other_pcscds)
		others=${others% }
		[ -z "$others" ] || say "note: leaving alone a pcscd this script did not start (pid $others)"
		return 0
	fi
	kill -TERM "$pid" 2>/dev/null || true
	for ((i = 0; i < 50; i++)); do
		alive "$pid" || break
		sleep 0.1
	done
	if alive "$pid"; then
		say "pcscd (pid $pid) still running after 5 s; sending SIGKILL"
		kill -KILL "$pid" 2>/dev/null || true
		for ((i = 0; i < 50; i++)); do
			alive "$pid" || break
			sleep 0.1
		done
		if alive "$pid"; then die "pcscd (pid $pid) survived SIGKILL"; fi
	fi
	rm -f "$PIDFILE"
	if [ -e "$SOCK" ] && ! sock_bound; then rm -f "$SOCK"; fi
	if [ "$(read_pid "$SYS_PIDFILE")" = "$pid" ]; then rm -f "$SYS_PIDFILE"; fi
	say "stopped pcscd (pid $pid)"
}

cmd_status() {
	local pid others
	if pid=$(our_pid); then
		say "running: pcscd pid $pid, state $STATE"
		readers | sed 's/^/pcsc-stack:   /' >&2
		print_env
		return 0
	fi
	others=$(other_pcscds)
	others=${others% }
	if [ -n "$others" ] || sock_bound; then
		say "a pcscd this script did not start is running (pid ${others:-unknown})"
		return 1
	fi
	say "stopped"
	return 3
}

cmd_run() {
	[ $# -gt 0 ] || die "usage: $0 run CMD [ARGS...]"
	local rc=0 env
	lock
	if ! our_pid >/dev/null; then
		env=$(cmd_start) || exit 1
		echo run >"$OWNER"
	else
		env=$(cmd_start) || exit 1
	fi
	mkdir -p "$USERS"
	: >"$USERS/$$"
	trap run_done EXIT
	unlock
	eval "$env"
	export PCSC_VPCD PCSC_VPCD_ADDR PCSC_VPCD_PORT PCSC_VPCD_READER \
		PCSC_VPCD_ADDR2 PCSC_VPCD_PORT2 PCSC_VPCD_READER2 PCSC_STATE
	"$@" || rc=$?
	return "$rc"
}

# run_done: at the end of `run`, stop pcscd if this was its last user and
# no plain `start` claimed it meanwhile.
run_done() {
	local users
	lock
	rm -f "$USERS/$$"
	users=$(live_users)
	if [ -n "$users" ]; then
		say "leaving pcscd running for '$0 run' (pid $users)"
	elif [ "$(cat "$OWNER" 2>/dev/null || true)" = run ]; then
		stop_pcscd
	fi
	unlock
}

case "${1:-}" in
start)
	lock
	cmd_start
	echo start >"$OWNER"
	;;
stop)
	lock
	cmd_stop "${2:-}"
	;;
status) cmd_status ;;
run)
	shift
	cmd_run "$@"
	;;
*)
	echo "usage: $0 start|stop [--force]|status|run CMD [ARGS...]" >&2
	exit 2
	;;
esac

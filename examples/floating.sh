#!/usr/bin/env bash
# The floating license server on embedded defaults, in a temporary folder:
# the server is activated offline through the desk, three clients share two
# seats, the third is refused with a clear code, one gives its seat back
# and the third gets in. Called by `make demo`. Loopback only.
set -euo pipefail

bin=${BIN:?set BIN to the folder with airlock, airlock-vendor and airlock-server}
work=$(mktemp -d "${TMPDIR:-/tmp}/airlock-floating.XXXXXX")
server_pid=
cleanup() {
	[ -n "$server_pid" ] && kill "$server_pid" 2>/dev/null && wait "$server_pid" 2>/dev/null
	rm -rf "$work"
}
trap cleanup EXIT
cd "$work"

export AIRLOCK_PASSPHRASE=airlock-demo-passphrase
export AIRLOCK_VENDOR_HOME="$work/desk"
export AIRLOCK_SERVER_STATE="$work/server"
product=acme-cad
port=${AIRLOCK_DEMO_PORT:-0}

step() { printf '\n\033[1m== %s\033[0m\n' "$*"; }
run() { printf '$ %s\n' "$*" >&2; "$@"; }

step "1. vendor desk: keys, and a license for one floating server"
run "$bin/airlock-vendor" init
key=$(run "$bin/airlock-vendor" license create --product "$product" --licensee "ACME Corp" --max-machines 1 --expires 365d --feature render=0)
echo "$key"

step "2. inside the air gap: the server makes its request"
run "$bin/airlock-server" init --vendor-key @desk/vendor.pub
run "$bin/airlock-server" request --product "$product" --license-key "$key" -o server-request.txt

step "3. vendor desk: sign a pool license: 2 seats, 180 s leases, borrowing up to 7 days"
run "$bin/airlock-vendor" sign --pool seats=2,ttl=180,heartbeat=60,borrow-days=7,borrow-max=1,feature-seats=render:1,consumption=1000+100 server-request.txt -o pool-license.txt

step "4. inside the air gap: install it and serve (loopback)"
run "$bin/airlock-server" activate pool-license.txt
"$bin/airlock-server" serve --listen "127.0.0.1:$port" 2>server.log &
server_pid=$!
for _ in $(seq 100); do
	[ -s server/serve.json ] && break
	sleep 0.1
done
cat server.log
addr=$(sed -e 's/.*"address":"\([^"]*\)".*/\1/' server/serve.json)

step "5. three clients, two seats"
for c in 1 2 3; do
	set +e
	AIRLOCK_HOME="$work/client-$c" "$bin/airlock" floating acquire --server "$addr" --product "$product" \
		--vendor-key @desk/vendor.pub --plaintext-key --json >"acquire-$c.json"
	echo "client $c: exit $?: $(tr -s ' \n' ' ' <"acquire-$c.json")"
	set -e
done
grep -q '"result": "no_seat_available"' acquire-3.json

step "6. client 1 verifies its seat as a license, offline, then gives it back"
run env AIRLOCK_HOME="$work/client-1" "$bin/airlock" verify --product "$product" --vendor-key @desk/vendor.pub --json
run env AIRLOCK_HOME="$work/client-1" "$bin/airlock" floating release --server "$addr" --product "$product" --vendor-key @desk/vendor.pub

step "7. the third client gets in"
run env AIRLOCK_HOME="$work/client-3" "$bin/airlock" floating acquire --server "$addr" --product "$product" --vendor-key @desk/vendor.pub --json

step "8. the server's view"
run "$bin/airlock-server" status
run "$bin/airlock-server" leases

printf '\n\033[1mfloating demo complete: two seats shared by three clients\033[0m\n'

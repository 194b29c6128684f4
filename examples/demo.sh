#!/usr/bin/env bash
# The whole airlock round trip on embedded defaults, in a temporary folder:
# desk set-up, license, request, signing, activation, verification, and the
# refusal of one machine too many. Called by `make demo`.
set -euo pipefail

bin=${BIN:?set BIN to the folder with airlock and airlock-vendor}
work=$(mktemp -d "${TMPDIR:-/tmp}/airlock-demo.XXXXXX")
trap 'rm -rf "$work"' EXIT
cd "$work"

# Embedded defaults: a demo passphrase (real desks use a prompt or a file).
export AIRLOCK_PASSPHRASE=airlock-demo-passphrase
export AIRLOCK_VENDOR_HOME="$work/desk"
export AIRLOCK_HOME="$work/machine-1"
product=acme-cad

step() { printf '\n\033[1m== %s\033[0m\n' "$*"; }
run() { printf '$ %s\n' "$*" >&2; "$@"; }

step "1. vendor desk: make the signing and sealing keys (encrypted at rest) and the ledger"
run "$bin/airlock-vendor" init

# The product pins the vendor key at build time (examples/embed).
if [ -n "${SRC:-}" ]; then
	step "1b. ISV: build the example product with the vendor key pinned"
	run env -C "$SRC" CGO_ENABLED=0 "${GO:-go}" build -ldflags "-X main.vendorKey=$("$bin/airlock-vendor" pubkey)" -o "$bin/embed" ./examples/embed
fi

step "2. vendor desk: create a license for one machine, valid one year"
key=$(run "$bin/airlock-vendor" license create --product "$product" --licensee "ACME Corp" \
	--max-machines 1 --expires 365d --feature export=1 --feature seats=25)
echo "$key"

step "3. offline machine: make a signed, fingerprinted request"
run "$bin/airlock" fingerprint --product "$product" --vendor-key @desk/vendor.pub --explain
run "$bin/airlock" request --product "$product" --license-key "$key" --vendor-key @desk/vendor.pub -o request.txt
cat request.txt

step "4. vendor desk: check the request, record the seat, sign the license"
run "$bin/airlock-vendor" sign request.txt -o license.txt
cat license.txt
run "$bin/airlock-vendor" inspect license.txt

step "5. offline machine: install the license"
run "$bin/airlock" activate license.txt --vendor-key @desk/vendor.pub

step "6. offline machine: verify at every start"
run "$bin/airlock" verify --product "$product" --vendor-key @desk/vendor.pub --json
if [ -x "$bin/embed" ]; then
	run "$bin/embed"
fi

step "7. a second machine asks for the same one-seat license: refused"
export AIRLOCK_HOME="$work/machine-2"
run "$bin/airlock" request --product "$product" --license-key "$key" --vendor-key @desk/vendor.pub -o request-2.txt
set +e
"$bin/airlock-vendor" sign request-2.txt -o license-2.txt
code=$?
set -e
echo "exit code $code; license-2.txt exists: $([ -e license-2.txt ] && echo yes || echo no)"
[ "$code" = 23 ] && [ ! -e license-2.txt ]

step "8. the ledger"
run "$bin/airlock-vendor" license show "$key"

printf '\n\033[1mdemo complete: VALID on machine 1, TOO_MANY_MACHINES for machine 2\033[0m\n'

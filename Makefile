# airlock: `make demo` runs the whole round trip, `make test` runs every
# check CI runs, `make bench` prints the brief's figures.
SHELL := /bin/bash
GO ?= go
BIN := $(CURDIR)/bin
STATICCHECK_VERSION := v0.8.2
FUZZTIME ?= 5s

# package:target pairs run by `make fuzz` (every parser).
FUZZ_TARGETS := \
	./internal/armor:FuzzDecode \
	./internal/armor:FuzzCollector \
	./crypto:FuzzParseSigned \
	./crypto:FuzzParseKeyFile \
	./request:FuzzVerify \
	./request:FuzzParseText \
	./request:FuzzParseNodeRequest \
	./response:FuzzParse \
	./receipt:FuzzVerify \
	./licensekey:FuzzParse \
	./fingerprint:FuzzParsePolicy \
	./fingerprint:FuzzUnmarshalBinary \
	./fingerprint:FuzzLinuxFiles \
	./fingerprint:FuzzSMBIOSSystemUUID \
	./qr:FuzzDecodeImage \
	./dongle:FuzzParseTLV \
	./dongle:FuzzParseResponse \
	./internal/testrig/cardemu:FuzzTransmit \
	./floating:FuzzParseLease \
	./floating:FuzzParseProof \
	./floating:FuzzDecodeJSON \
	./floating:FuzzParsePool \
	./serverconsole:FuzzForms \
	./floating:FuzzProductRequest \
	./usage:FuzzVerify \
	./internal/attest:FuzzVerify

.PHONY: all demo test test-deps unit lint fuzz crossbuild bench build deps clean

all: build

deps:
	@command -v $(GO) >/dev/null || { echo "Go is required: https://go.dev/dl/ (or apt-get install -y golang)"; exit 1; }
	$(GO) mod download

# airlock links PC/SC (cgo) when the headers are there, else builds without
# hardware-key support (it says so when asked for a hardware key).
# --version prints the module version and VCS revision from the build
# information; VERSION (default: git describe) overrides it at link time.
VERSION ?= $(shell git describe --tags --always --dirty 2>/dev/null)
LDFLAGS := $(if $(VERSION),-X github.com/airlock-offline/airlock/internal/cli.Version=$(VERSION))

build: deps
	@if pkg-config --exists libpcsclite 2>/dev/null; then cgo=1; else cgo=0; echo "building without PC/SC support (apt-get install libpcsclite-dev pkg-config to add it)"; fi; \
		CGO_ENABLED=$$cgo $(GO) build -ldflags '$(LDFLAGS)' -o $(BIN)/ ./cmd/airlock ./cmd/airlock-vendor ./cmd/airlock-server

demo: build
	@BIN=$(BIN) GO=$(GO) SRC=$(CURDIR) bash examples/demo.sh
	@BIN=$(BIN) bash examples/floating.sh

# Debian packages the tests use: independent QR decoders to cross-check
# ours, ImageMagick to make phone photos of codes the way the bug report
# did, the PC/SC stack (pcscd with the vpcd virtual reader) that the
# hardware-key tests plug their virtual cards into, the tools people set up
# real tokens with (ykman, yubico-piv-tool, OpenSC, gpg with scdaemon),
# which must read and provision the virtual cards, and wine64 to run the
# Windows binaries, and Chromium, which the consoles' tests drive headless.
TEST_APT := zbarimg:zbar-tools ZXingReader:zxing-cpp-tools convert-im6.q16:imagemagick pcscd:pcscd pkg-config:pkg-config \
	/usr/include/PCSC/winscard.h:libpcsclite-dev /usr/lib/pcsc/drivers/serial/libifdvpcd.so:vsmartcard-vpcd \
	'/usr/lib/postgresql/*/bin/initdb':postgresql \
	ykman:yubikey-manager yubico-piv-tool:yubico-piv-tool pkcs15-tool:opensc openpgp-tool:opensc \
	gpg:gnupg /usr/lib/gnupg/scdaemon:scdaemon /usr/lib/wine/wine64:wine64 \
	/usr/bin/chromium:chromium

# Packages whose tests use the PC/SC stack; they run one at a time, with it.
PCSC_PKGS := ./dongle ./internal/testrig/cardemu ./internal/e2e

test-deps:
	@missing=""; for p in $(TEST_APT); do t=$${p%%:*}; \
		if [ "$${t#/}" != "$$t" ]; then compgen -G "$$t" >/dev/null; else command -v "$$t" >/dev/null; fi || missing="$$missing $${p##*:}"; done; \
	if [ -n "$$missing" ]; then \
		if [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null; then \
			echo "installing$$missing"; \
			apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends $$missing >/dev/null; \
		else echo "make test needs:$$missing (sudo apt-get install -y$$missing)"; exit 1; fi; \
	fi

test: deps test-deps lint unit fuzz crossbuild
	@echo "make test: all checks passed"

# The ledger and end-to-end tests also run against a private PostgreSQL
# server (scripts/postgres.sh run), so they cover both ledger backends.
# The packages' own tests run under the race detector (it needs cgo: the
# C compiler the PC/SC build uses), except qr, whose image decoding is
# single-threaded arithmetic that the detector slows tenfold; the
# end-to-end tests run the binaries, so they run without it.
unit:
	bash scripts/postgres.sh run $(GO) test -race -count=1 $$($(GO) list ./... | grep -v -e /dongle -e /internal/testrig/cardemu -e /internal/e2e -e /qr$$)
	$(GO) test -count=1 ./qr/...
	PCSC_STACK_SCRIPT=$(CURDIR)/scripts/pcsc-stack.sh bash scripts/postgres.sh run bash scripts/pcsc-stack.sh run $(GO) test -count=1 -p 1 $(PCSC_PKGS); \
		rc=$$?; bash scripts/pcsc-stack.sh stop >/dev/null 2>&1 || true; exit $$rc

lint:
	@out=$$(gofmt -l $$(git ls-files '*.go' 2>/dev/null || find . -name '*.go')); \
		if [ -n "$$out" ]; then echo "gofmt would change: $$out"; exit 1; fi
	$(GO) vet ./...
	@command -v staticcheck >/dev/null || $(GO) install honnef.co/go/tools/cmd/staticcheck@$(STATICCHECK_VERSION)
	PATH="$$PATH:$$($(GO) env GOPATH)/bin" staticcheck ./...

# Go's fuzzer sometimes ends a timed run with "context deadline exceeded"
# and no failing input (an engine race at the deadline, not a finding): such
# a run is retried, twice at most. A real finding writes its failing input
# under testdata/fuzz and fails at once.
fuzz:
	@log=$$(mktemp); for t in $(FUZZ_TARGETS); do \
		pkg=$${t%%:*}; fn=$${t##*:}; \
		for try in 1 2 3; do \
			echo "fuzz $$pkg $$fn ($(FUZZTIME))"; \
			if $(GO) test -run '^$$' -fuzz "^$$fn\$$" -fuzztime $(FUZZTIME) $$pkg >$$log 2>&1; then break; fi; \
			if [ $$try -lt 3 ] && grep -q 'context deadline exceeded' $$log && ! grep -q 'Failing input' $$log; then \
				echo "  (fuzzer deadline race, no failing input: running again)"; continue; fi; \
			cat $$log; rm -f $$log; exit 1; \
		done; \
	done; rm -f $$log

# Everything but the dongle builds without cgo, for every platform.
crossbuild:
	@for os in linux darwin windows; do for arch in amd64 arm64; do \
		echo "build $$os/$$arch"; \
		CGO_ENABLED=0 GOOS=$$os GOARCH=$$arch $(GO) build ./... || exit 1; \
	done; done

bench: deps test-deps
	$(GO) run ./internal/benchreport
	@echo "floating server: 1,000 concurrent clients over TLS on loopback with 10,000 leases held (SQLite)"
	AIRLOCK_FLOATING_BENCH=1 $(GO) test -count=1 -v -run '^TestLoad1000$$' ./floating | grep -v -e '^=== RUN' -e '^    load_test'
	@echo "floating server, several nodes: one grant on PostgreSQL by one of two nodes (a seat row locked in one transaction) beside a single node, each against one durable one-row commit + one ed25519 signature measured before every grant"
	AIRLOCK_FLOATING_BENCH=1 bash scripts/postgres.sh run $(GO) test -count=1 -v -run '^TestNodesGrantBench$$' ./floating | grep -v -e '^=== RUN' -e '^postgres.sh'
	@echo "floating server, several nodes: two real nodes on one PostgreSQL, 1,000 clients, SIGKILL of a node in each of 4 rounds (time for every client to move, beside the heartbeat)"
	AIRLOCK_TEST_NODES_SOAK=4 bash scripts/postgres.sh run $(GO) test -count=1 -v -run '^TestNodesFailover$$' ./internal/e2e | grep -e 'round' -e '^--- ' -e '^ok' -e FAIL
	@echo "floating server alone (no TLS, no clients): one heartbeat = verify the proof, commit durably (grouped), sign the lease"
	$(GO) test -run '^$$' -bench ServerRenew -benchtime 20000x ./floating
	$(GO) test -run '^$$' -bench . -benchtime 200x ./response ./fingerprint
	@echo "windows fingerprint under wine64 (beside the Linux figure above): runs the Windows binaries, or says why wine cannot"
	$(GO) test -count=1 -v -run '^TestWindowsUnderWine$$' ./internal/e2e | grep -E -e 'wine|fingerprint|^(--- |ok|FAIL)' || true
	@echo "ledger: one durable Record, and a batch of 1000, on SQLite and on a private PostgreSQL server (loopback);"
	@echo "        the check of every open for writing (integrity_check + seat counters) beside quick_check alone, at 10,000 and 100,000 activations (BenchmarkOpenCheck)"
	bash scripts/postgres.sh run $(GO) test -run '^$$' -bench . -benchtime 2s ./ledger
	@echo "hardware key: one challenge-response through pcscd and a virtual card (BenchmarkProve) beside the signature check alone (BenchmarkVerifyProof); one desk signature by the card (BenchmarkCardSign)"
	bash scripts/pcsc-stack.sh run $(GO) test -run '^$$' -bench 'Prove|VerifyProof|CardSign' -benchtime 20x ./dongle; \
		rc=$$?; bash scripts/pcsc-stack.sh stop >/dev/null 2>&1 || true; exit $$rc
	@echo "floating server with a pool bound to a hardware key (pcscd + virtual card, server alone): a grant while the key's proof holds beside a grant from a pool bound to no key (x-plain-grant); a grant that must have the key prove itself first beside one raw challenge-response plus that grant (x-prove+plain-grant)"
	bash scripts/pcsc-stack.sh run $(GO) test -run '^$$' -bench 'HardwareKeyGrant' -benchtime 200x ./floating; \
		rc=$$?; bash scripts/pcsc-stack.sh stop >/dev/null 2>&1 || true; exit $$rc

clean:
	rm -rf $(BIN)

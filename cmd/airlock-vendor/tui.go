package main

const usage = `airlock-vendor: the vendor's desk for airlock offline activation

Usage:
    airlock-vendor [--dir DIR] COMMAND [OPTIONS]

Commands:
    init                    make the vendor signing key (Ed25519) and sealing
                            key (X25519), encrypted at rest, and an empty ledger
    pubkey                  print the public key string to pin in the product
    license create          add a license to the ledger; prints its license key
    license list            list the licenses in the ledger
    license show KEY        show one license and its activations
    product set             a product's settings: --auto-create-licenses lets
                            a request with a license key the ledger does not
                            know create its license (self-service, evaluation)
    product list            list the products' settings
    product show NAME       show one product's settings
    sign [REQUEST|-]        check a request and sign its license
    receipt import [FILE|-] import a deactivation receipt: frees its seat
                            (--qr-image FILE, --interactive as for sign)
    report import [FILE|-] [--refresh DUR [--product P] [-o FILE]]
                            import a floating server's usage report: checks
                            its signature (the key of a pool license in the
                            ledger) and its place in the server's chain, and
                            stores it; a report that skips a number
                            (report_sequence_gap), was imported before
                            (report_repeated) or shows a cloned server
                            (report_cloned) is stored, flagged, and exits 1.
                            --refresh 90d answers it with a pool refresh:
                            the pool license signed again now, its lease
                            running 90 days, which restarts the days before
                            the next report is due (--force: also for a
                            flagged report)
    report list [--json]    the usage reports in the ledger, flags included
    report show HASH [--json]
                            one report as the server wrote it
    audit verify [--head H | --checkpoint FILE]
                            check the hash-chained audit log and the signed
                            checkpoints it keeps; prints its head; with
                            --checkpoint, proves the log extends that
                            checkpoint (no entry dropped, nothing re-hashed)
    audit checkpoint [-o FILE]
                            the newest checkpoint: the audit head signed by
                            the desk key, as every command that changes the
                            ledger signs it; keep it elsewhere
    audit list [--json]     every desk action: created, signed, renewed,
                            receipts, refusals and why
    ledger export --json|--csv [-o FILE]
                            licenses and activations (no secrets)
    ledger check [--json]   the full check: SQLite's integrity_check, the
                            audit chain, and the seats against the
                            activations (exit 62 if any fails)
    ledger backup FILE      a consistent copy of a SQLite ledger, made while
                            desks work (prints its audit head); PostgreSQL:
                            pg_dump
    inspect [FILE|-]        say what an airlock file is, who signed it and
                            whether it verifies (no secrets shown)
    serve                   the desk console in a browser: scan a request
                            off the webcam (or drop a file or photo), see the
                            ledger's answer, sign with one click, show the
                            license as QR codes; receipts too. Opens the key
                            at start (passphrase or PIN) and prints a one-time
                            sign-in link; --listen ADDR (default
                            127.0.0.1:8470, loopback only unless
                            --allow-remote), --max-request-age,
                            --attestation-roots as for sign

Global options:
    --version               print the version (and VCS revision) and exit
    --dir DIR               the desk's directory (default $AIRLOCK_VENDOR_HOME,
                            else the user config directory + /airlock-vendor):
                            vendor.key, vendor.pub and ledger.db
    --db PATH|URL           the ledger: a SQLite file (default DIR/ledger.db)
                            or a PostgreSQL ledger shared by several desks,
                            postgres://USER@HOST/DB (password from PGPASSWORD
                            or ~/.pgpass); default $AIRLOCK_VENDOR_DB, else
                            what init --db recorded in DIR/ledger.url
    --passphrase-file FILE  read the key passphrase from FILE; otherwise
                            $AIRLOCK_PASSPHRASE_FILE, $AIRLOCK_PASSPHRASE, or a prompt
    --pin-file FILE         the hardware key's PIN (desk signing key, or the
                            customer's key for --secret-from-key); otherwise
                            $AIRLOCK_PIN or a prompt
    --crash-if-no-hardware-key
                            refuse to start (exit 19) unless a plugged-in
                            hardware key holds the desk's signing key

init options:
    --plaintext             store the private key unencrypted (not recommended)
    --hardware-key[=READER] keep the signing key on a hardware key: the Ed25519
                            signature key of an OpenPGP card or PIV slot 9C;
                            it never leaves the card, which signs every
                            license (PIN asked once per run)
    --hardware-key-applet openpgp|piv
                            which applet of a token that has both

license create options:
    --product NAME          product name (required)
    --licensee NAME         who the license is for (required)
    --max-machines N        seats (default 1)
    --max-reactivations N   how many activations may take a seat freed by a
                            deactivation receipt (default: no limit)
    --expires WHEN          RFC 3339 date/time, YYYY-MM-DD, or a duration
                            from now such as 365d or 720h (default: never)
    --lease DURATION        lease period; the license must be renewed by then
    --feature NAME[=N]      a feature, with a count (repeatable)
    --confidential K=V      a field sealed to the activated installation (repeatable)
    --match POLICY          fingerprint match policy: exact, all, most,
                            atleast:N (default most), or hardware-key: the
                            license is bound to the hardware key alone and
                            goes wherever the key goes (the key holds the
                            seat; requests must enrol an OpenPGP or PIV key)
    --secret-mode MODE      licensee secret: disabled (default), predefined
                            (set now with --secret-file), or client (the
                            first activation's secret binds the license)
    --secret-file FILE      the predefined licensee secret (never stored:
                            the ledger keeps a keyed hash)
    --secret-from-key       derive the predefined secret from the customer's
                            hardware key plugged in here (Ed25519 cards): the
                            secret then travels with the key ($AIRLOCK_PIN)
    --refuse-env LIST       refuse requests from these kinds of machine:
                            vm, container, wsl, cloud, shared-machine-id,
                            no-machine-id (comma-separated)
    --hardware-key-env LIST require a hardware key on these kinds of machine
    --refuse-generic-keys   refuse hardware keys that cannot prove themselves
                            (cards known only by their UID)
    --json                  print the license as JSON

product set options (they replace all of the product's settings):
    --product NAME          product name (required)
    --auto-create-licenses  a request for this product with a license key the
                            ledger does not know creates its license from the
                            policy below, with no licensee (the license then
                            names its key); without it, licenses of the
                            product are created with license create only
    --validity DURATION     auto-created licenses expire this long after their
                            creation, such as 30d (default: never)
    --max-machines N, --max-reactivations N, --lease DURATION,
    --feature NAME[=N], --confidential K=V, --match POLICY,
    --refuse-env LIST, --hardware-key-env LIST, --refuse-generic-keys
                            the policy of auto-created licenses, as for
                            license create
    --secret-mode MODE      disabled (default) or client; predefined cannot
                            be combined with auto-created licenses, as its
                            secret must be set at the desk before the first
                            activation (usage error)
    --json                  print the product's settings as JSON

sign options:
    -o, --output FILE       write the license to FILE (default: stdout; "-" too)
    --qr-image FILE         read the request from a photo or screenshot of its
                            QR code(s) (PNG or JPEG); repeat for more images,
                            one image may show every part
    -i, --interactive       wait for a USB barcode scanner (or pasted text):
                            ends by itself when whole; 0 and Enter start over
    --qr FILE.png           also write the license as a QR code (several
                            FILE-1of2.png… when it needs more than one)
    --qr-terminal           also show the QR code(s) in the terminal, each
                            small enough for the screen (80x24: version 6),
                            one at a time, Enter for the next
    --qr-level M|Q          QR error correction: M (screens, default) or Q (print)
    --qr-max-version N      largest QR version per code (default 15 for a
                            request, 20 for a license); smaller codes read
                            more easily and split into up to 6 parts
    --max-request-age D     refuse requests older than D (default 7d)
    --attestation-roots PEM|yubico
                            the token makers' attestation roots ("yubico":
                            Yubico's published roots and intermediates, built
                            in): every hardware key, whatever type it claims,
                            must then bring an attestation that chains to one
                            and certifies the enrolled key and serial; keys
                            that cannot be attested are refused
    --attestation FILE      the hardware key's attestation that came beside the
                            request (airlock request --attestation-file)
    --batch DIR             sign every request (*.txt) in DIR, writing
                            NAME.license.txt beside each; failures are listed
                            per file and do not stop the others
    --pool SPEC             sign a floating server's request as a pool
                            license: seats=N[,ttl=180][,heartbeat=60]
                            [,borrow-days=D][,borrow-max=M]
                            [,feature-seats=NAME:N]… [,consumption=MAX[+OVER]]
                            [,feature-consumption=NAME:MAX[+OVER]]…
                            [,report-every=DAYS[,report-grace=DAYS]]
                            (the server takes one machine of the license;
                            report-every: no new seats once a usage report
                            has not been answered for that long plus grace)
    --json                  print the outcome as JSON on stdout (needs -o
                            FILE or --batch): result (SIGNED,
                            LICENSE_NOT_WRITTEN or the refusal's code),
                            exit_code, seat_recorded, activation_id

list, show, pubkey, inspect (license and product):
    --json                  machine-readable output

Examples:
    airlock-vendor init
    airlock-vendor pubkey
    airlock-vendor license create --product acme-cad --licensee "ACME Corp" \
        --max-machines 3 --expires 365d --feature export=1 --feature seats=25
    airlock-vendor product set --product acme-eval --auto-create-licenses \
        --validity 30d --max-machines 1     # clients send --license-key new
    airlock-vendor sign request.txt -o license.txt
    airlock-vendor sign --qr-image request-photo.jpg -o license.txt --qr license.png
    airlock-vendor inspect license.txt

Only init creates a ledger: every other command refuses a ledger that is
missing, empty, not an airlock ledger or from a newer airlock. Commands
that only read (license list and show, product list and show, audit,
ledger export, check and backup) open the ledger read-only and work on
read-only storage. Commands that write check the ledger first, and refuse
a damaged one (see "Damage and restore" in docs/ledger.md).

Exit codes:
    0   success
    1   error (bad input file, ledger, key file, I/O)
    2   usage error
    3   LICENSE_NOT_WRITTEN: the seat is recorded but the license file could
        not be written; the same command again writes the same license
        without taking another seat
    10+ the request (or receipt) was refused; the code names why (same
        numbers as airlock verify): 11 SIGNATURE_INVALID,
        12 UNKNOWN_VENDOR_KEY, 13 FINGERPRINT_MISMATCH, 14 PRODUCT_MISMATCH,
        16 EXPIRED, 19 HARDWARE_KEY_NOT_ACCESSIBLE, 20 HARDWARE_KEY_MISMATCH,
        21 HARDWARE_KEY_PROOF_FAILED, 22 LICENSEE_SECRET_MISMATCH,
        23 TOO_MANY_MACHINES, 24 LICENSE_UNKNOWN (no such license key, and
        its product does not auto-create licenses), 25 LICENSE_SUSPENDED,
        26 REQUEST_STALE, 27 MALFORMED, 28 INSTALLATION_MISMATCH,
        30 ENVIRONMENT_REFUSED. No license file is written when a request
        is refused.
    40-49 the desk's hardware key: 40 PC/SC not built in, 41 pcscd not
        running, 42 no reader, 43 no card, 44 card removed, 45 reader held by
        another program, 46 timeout, 47 wrong PIN, 48 PIN blocked or too few
        tries left, 49 card without an Ed25519 signing key
    50  no plugged-in card holds the desk's signing key
    51  the card's signature does not verify (nothing is released)
    60  no ledger there: the file is missing or empty (only init makes one)
    61  not an airlock ledger, or one from a newer airlock
    62  the ledger is damaged (integrity check, or its -wal file lost):
        nothing was written; see ledger check
    63  a write on read-only storage
    64  disk full
`

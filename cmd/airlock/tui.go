package main

const usage = `airlock: offline activation and license verification for this machine

Usage:
    airlock [--state DIR] COMMAND [OPTIONS]

Commands:
    fingerprint             print this machine's hashed hardware ID
    request                 make a signed activation request for the vendor
    activate [LICENSE|-]    install the license the vendor sent back
    verify                  check the installed license (every start)
    deactivate              remove the license and write a signed receipt that
                            gives the seat back at the vendor's desk
    status                  show the installation and its licenses
    dongle list             smart card readers, cards, type and serial
    dongle probe [READER]   what airlock can do with this card
    inspect [FILE|-]        say what an airlock file is, who signed it and
                            whether it verifies (no secrets shown)
    floating SUBCOMMAND     seats from a floating license server: acquire,
                            renew, release, borrow, return, consume, status
                            (airlock floating --help)

Global options:
    --version               print the version (and VCS revision) and exit
    --state DIR             the state directory (default $AIRLOCK_HOME, else
                            $XDG_STATE_HOME/airlock or ~/.local/state/airlock)
    --vendor-key KEY        the vendor's public key (AV1…), or @FILE holding it;
                            repeatable during a key rotation; default
                            $AIRLOCK_VENDOR_KEY
    --passphrase-file FILE  passphrase of the installation key; otherwise
                            $AIRLOCK_PASSPHRASE_FILE, $AIRLOCK_PASSPHRASE, or a prompt
    --licensee-secret-from-key
                            derive the licensee secret from the hardware key
                            plugged in (Ed25519 cards), so it travels with it
    --pin-file FILE         the hardware key's PIN; otherwise $AIRLOCK_PIN or a
                            prompt (never logged; airlock stops before a
                            wrong PIN could block the card)
    --licensee-secret-file FILE
                            the licensee secret, for licenses that need one
                            (request, activate, verify); or $AIRLOCK_LICENSEE_SECRET
    --provisional-grace DURATION
                            the product's opt-in to phone codes: the longest
                            provisional activation (e.g. 72h); default
                            $AIRLOCK_PROVISIONAL_GRACE; without it phone codes
                            are refused. A phone code is an honour system:
                            whoever can read this machine's state can compute
                            one; each installation gets one period, ever

request options:
    --product NAME          the product to activate (required)
    --license-key KEY|new   the license key from the vendor (required); new
                            makes a fresh key, for products whose vendor's
                            desk creates licenses on request (self-service,
                            evaluation): airlock says which key it made
    -o, --output FILE       where to write the request (default: stdout)
    --hardware-key[=READER] bind the license to the hardware key (OpenPGP card,
                            PIV token, or a generic card: identity only);
                            verify then needs it plugged in, every time
    --attestation-file FILE with --hardware-key: write a PIV key's attestation
                            (about 1.5 KB) to FILE instead of into the
                            request, for fewer, smaller QR codes; take FILE
                            to the desk (sign --attestation FILE)
    --attest                with --hardware-key: have an OpenPGP YubiKey (5.2+)
                            attest its key, for a desk that requires attested
                            keys (asks for the PIN; PIV keys are attested
                            without it)
    --phone                 also carry a phone-code seed, sealed to the vendor:
                            if nothing but a phone call can cross the gap,
                            the vendor reads out a code for activate --code
    --renew                 ask to extend the installed license's lease (no
                            new seat; the machine must still match)
    --plaintext-key         on first use, store the installation key
                            unencrypted (software that runs unattended)
    --qr FILE.png           also write the request as a QR code (several
                            FILE-1of2.png… when it needs more than one)
    --qr-terminal           also show the QR code(s) in the terminal, each
                            small enough for the screen (80x24: version 6),
                            one at a time, Enter for the next
    --qr-level M|Q          QR error correction: M (screens, default) or Q (print)
    --qr-max-version N      largest QR version per code (default 15 for a
                            request, 20 for a license); smaller codes read
                            more easily and split into up to 6 parts

deactivate options:
    --product NAME          the product to deactivate (required)
    -o, --output FILE       where to write the receipt (default: stdout);
                            --qr, --qr-terminal as for request. Run it again
                            to write the same receipt again.

activate options:
    --qr-image FILE         read the license from a photo or screenshot of its
                            QR code(s) (PNG or JPEG); repeat for more images,
                            one image may show every part
    --code NNNN-NNNN        the phone code the vendor read out (with --product
                            and --provisional-grace): a provisional activation
                            until the signed license is installed, once per
                            installation; 5 wrong codes void it
    -i, --interactive       wait for a USB barcode scanner (or pasted text):
                            says which parts are in and which are missing,
                            ends by itself when whole; 0 and Enter start over

activate, verify, status options:
    --product NAME          the product (activate: default the license's own)
    --json                  machine-readable output (verify, status)

fingerprint options:
    --product NAME          hash for this product (with --vendor-key), as the
                            vendor will see it
    --explain               list each component, its source, whether it was
                            readable and its digest (shown locally only)
    --json                  machine-readable output

Examples:
    airlock request --product acme-cad --license-key 7Q2KX-M4ZT9-0WDBE-HN3RA-J \
        --vendor-key @vendor.pub -o request.txt --qr request.png --qr-terminal
    airlock request --product acme-eval --license-key new -o request.txt
    airlock activate license.txt --vendor-key @vendor.pub
    airlock activate --qr-image photo.jpg --vendor-key @vendor.pub
    airlock activate -i --vendor-key @vendor.pub        # scan with a USB scanner
    airlock verify --product acme-cad --vendor-key @vendor.pub --json

Exit codes (verify prints the code; --json carries it as "result"):
    0  VALID (or PROVISIONAL      16 EXPIRED
       with --provisional-grace)
    1  error                      17 LEASE_EXPIRED
    2  usage error                18 CLOCK_TAMPERED
    10 NOT_ACTIVATED              19 HARDWARE_KEY_NOT_ACCESSIBLE
    11 SIGNATURE_INVALID          20 HARDWARE_KEY_MISMATCH
    12 UNKNOWN_VENDOR_KEY         21 HARDWARE_KEY_PROOF_FAILED
    13 FINGERPRINT_MISMATCH       22 LICENSEE_SECRET_MISMATCH
    14 PRODUCT_MISMATCH           27 MALFORMED
    15 NOT_YET_VALID              28 INSTALLATION_MISMATCH
                                  29 REQUEST_MISMATCH
    hardware-key failures (request --hardware-key, dongle list/probe):
    40 PC/SC not built in, 41 pcscd not running, 42 no reader, 43 no card,
    44 card removed, 45 reader held by another program, 46 card timeout,
    47 wrong PIN, 48 PIN blocked or too few tries left, 49 unsupported card
`

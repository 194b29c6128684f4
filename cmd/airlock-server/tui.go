package main

const usage = `Usage:
    airlock-server serve [--listen ADDR] [--auth MODE] [--crash-if-no-hardware-key]
    airlock-server request --product P --license-key K [--hardware-key[=READER]] [--vendor-key AV1…] [-o FILE] [--qr FILE.png] [--qr-terminal]
    airlock-server request --product P --license-key K --nodes KEY,KEY [--hardware-key[=READER]] [-o FILE]
    airlock-server cosign FILE [-o FILE]
    airlock-server activate [FILE | -]
    airlock-server request --renew --product P [-o FILE]
    airlock-server deactivate --product P [-o FILE]
    airlock-server status [--json]
    airlock-server leases [--json]
    airlock-server release LEASE_ID
    airlock-server user add NAME --role admin|user [--password-file FILE]
    airlock-server report [-o FILE] [--pseudonymise] [--qr FILE.png] [--qr-terminal]
    airlock-server report show [--json] [FILE | -]
    airlock-server init [--vendor-key AV1…]

airlock-server is the floating license server inside the air gap. It is
activated offline like any machine: it writes a request, the vendor's desk
signs a pool license (seats, lease TTL, borrowing, feature pools,
consumption caps), and the server hands those seats to the machines around
it as leases signed by its own key, which clients verify from the vendor's
key alone.

Commands:
    serve       Run the server (HTTPS, JSON API under /api/v1). With no
                flags it makes its state folder if needed, listens on
                127.0.0.1:8743, and says what to do next.
    request     Write an activation request for a pool license. With
                --nodes (the other nodes' server keys, AI1… or @FILE), one
                request for a pool served by several nodes that share one
                PostgreSQL database (--db); every node co-signs it.
    cosign      Co-sign a request of several nodes as this node (in place,
                or to -o FILE); the desk signs it once every node has.
    activate    Install the pool license the desk signed (a running server
                serves it at once).
    deactivate  Remove a pool license and write the signed receipt that
                frees the server's seat at the desk.
    status      Show the server key, its pool licenses and the seats in use.
    leases      List the seats held.
    release     Give a held seat back now (the admin's force-release).
    user add    Add or replace a user (authentication mode users).
    report      Write the next usage report for the vendor: per pool license
                the peak and average seats, borrowed seats, denials,
                consumption and overage, the machines that held seats,
                hardware-key events and clock jumps since the last report;
                signed by the server key, numbered and chained to the last
                report. --pseudonymise replaces host names and
                installation ids by keyed hashes (the key stays in the
                server's database: a machine keeps its pseudonym from report
                to report). The vendor answers with a pool refresh to
                install with activate (a pool license may require one every
                P days: past that and its grace, no new seats are granted,
                report_overdue).
    report show Show a report as the vendor will read it, before it leaves.
    init        Make the state folder: installation key, database, admin token.

Options:
    --state DIR         The state folder (default $AIRLOCK_SERVER_STATE, or
                        /var/lib/airlock-server as root, else
                        ~/.local/state/airlock-server).
    --vendor-key KEY    The vendor's public key (AV1…, or @FILE); kept in the state.
    --db URL            Keep the seats in PostgreSQL (postgres://…, or
                        $AIRLOCK_SERVER_DB) instead of server.db in the
                        state; given once (init or the first serve), kept.
                        One server per database, except the nodes of a pool
                        license that names several (request --nodes).
    --listen ADDR       Where serve listens (default 127.0.0.1:8743; use
                        0.0.0.0:8743 to serve the network).
    --auth MODE         none (default: clients prove their installation key),
                        license-key (they also send the pool's license key),
                        or users (they also log in). Kept in the database:
                        without --auth, serve uses the mode last set (here,
                        on the console or with the API), else none.
    --allow-clients F   Only the installations whose public keys (AI1…, one
                        per line; airlock status shows a machine's) are in
                        F may take seats; others get client_not_allowed.
    --hardware-key[=READER]
                        request: bind the pool license to the hardware key
                        plugged in (OpenPGP card, PIV token), alone: its
                        serial becomes the server's hardware ID, and every
                        action on the pool checks the key (the desk's
                        license needs --match hardware-key).
    --pin-file FILE     The hardware key's PIN (else $AIRLOCK_PIN; serve
                        never prompts).
    --hardware-key-proof-interval D
                        serve: how old the key's proof may be before an
                        action has it prove itself again (default 30s; also
                        after every insertion or removal).
    --crash-if-no-hardware-key
                        serve: exit 19 the moment the hardware key is found
                        missing or invalid, for a supervisor to fail over.
    --tls-cert F, --tls-key F
                        An organisation's own certificate instead of the one
                        made from the server key (clients then need --ca).
    --json              Machine-readable output.

Examples:
    $ airlock-server init --vendor-key AV1…
    $ airlock-server request --product acme-cad --license-key K -o server-request.txt
    (carry it to the vendor; they run airlock-vendor sign --pool seats=25 …)
    $ airlock-server activate license.txt
    $ airlock-server serve --listen 0.0.0.0:8743
    $ airlock floating acquire --server srv:8743 --product acme-cad

Exit status: 0 ok, 1 error, 2 usage; other codes are airlock result codes
(serve --crash-if-no-hardware-key: 19, HARDWARE_KEY_NOT_ACCESSIBLE).
`

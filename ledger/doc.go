// Package ledger is the vendor desk's record of licenses and of the
// activations (seats) taken on them, kept in one SQLite file or, for several
// support desks sharing one ledger, in a PostgreSQL database.
//
// The ledger does no cryptography and never prints. It stores what the desk
// tool hands it: license policy when a license is created, per-product
// settings for licenses created on request, and for every license the desk
// releases, the activation that answers a request. Callers
// test its errors with [errors.Is]: [ErrNotFound], [ErrExists],
// [ErrTooManyMachines], [ErrSuspended], [ErrActivationExists], [ErrInvalid],
// [ErrSchemaTooNew], [ErrNotLedger], [ErrCorrupt], the storage errors
// [ErrMissing], [ErrEmpty], [ErrDamaged] ([*IntegrityError]),
// [ErrWALMissing], [ErrReadOnly] and [ErrDiskFull], and for PostgreSQL
// [ErrUnreachable] and [ErrAccessDenied]. Error messages never
// contain license keys, confidential fields or other caller data, nor a
// PostgreSQL URL or its password.
//
// # Backends
//
// [Open] takes a file path for SQLite, or a URL that starts with
// postgres:// or postgresql:// for PostgreSQL (11 or later, UTF8 database
// encoding), e.g.
//
//	postgres://desk@db.example/airlock?sslmode=verify-full&search_path=ledger
//
// The URL takes the parameters of libpq that pgx (github.com/jackc/pgx)
// understands, and the PG* environment variables and the password file
// fill in what it leaves out; a connection attempt without connect_timeout
// gives up after ten seconds. The ledger lives in the first schema of the
// search_path that exists: Open creates its tables in an empty schema, and
// needs the CREATE privilege on it only then. Other roles than the tables'
// owner need SELECT, INSERT and UPDATE on them (UPDATE on airlock_ledger
// for the write lock below). Several ledgers can share a database, each in
// a schema of its own. Print a URL with [RedactDSN].
//
// Upgrading a ledger to a newer schema version creates tables too: open it
// with the new version first as the tables' owner, then grant other roles
// the same privileges on the new tables (version 2: products; version 3:
// usage_reports).
//
// Both backends have the same methods, errors and guarantees; [Ledger.Backend]
// says which one a Ledger uses. The only difference: PostgreSQL cannot store
// text that is not UTF-8 or that holds a NUL byte, so [Ledger.Audit] refuses
// such text there with [ErrInvalid] (every other text the ledger stores is
// checked on both backends).
//
// # Opening, integrity and backups
//
// [Open] creates a ledger where there is none; [OpenWith] without
// Options.Create refuses a missing or empty target instead ([ErrMissing],
// [ErrEmpty]), so that a typo or an unmounted volume never becomes a new,
// empty ledger. Options.ReadOnly opens for reading only: nothing is
// written, not even an upgrade, so a copy on read-only media opens, and
// every write fails with [ErrReadOnly]. Opening a SQLite ledger for
// writing first runs PRAGMA integrity_check (every index against its
// table: a damaged index of active seats would let an installation take a
// second seat) and checks the seat counters; a damaged ledger fails with
// an [*IntegrityError]. A -wal file lost while it held committed
// transactions is found from the -shm file ([ErrWALMissing]).
// [Ledger.Check] runs every check and reports what it found;
// [Ledger.Backup] writes a consistent copy of a SQLite ledger with VACUUM
// INTO. Storage failures say what they are ([ErrReadOnly], [ErrDiskFull]),
// never SQLite's numbers.
//
// # Durability
//
// [Ledger.Record] commits the activation before it returns, and the desk
// must not release a license before Record has returned without error. A
// SQLite database runs in WAL mode with synchronous=FULL, so a committed
// activation has been fsynced and survives a crash or a power cut. On
// PostgreSQL every write transaction sets synchronous_commit on, whatever
// the server's configuration, so its commit returns only once the server
// has flushed it to its write-ahead log (and to synchronous standbys, if
// any are configured); that survives a crash of the server as long as its
// fsync setting is on, the default. [Ledger.RecordBatch] records many
// activations with one commit and one flush, for batch signing; on
// PostgreSQL each activation still costs a few round trips to the server.
//
// # Seats
//
// A seat is an active (not released) activation. An installation is
// identified by the pair of its Ed25519 public key and its machine
// fingerprint: a request from an installation that already holds a seat on
// the license reuses that seat (the stored row is refreshed, its ID kept),
// while a request from any other installation takes a new seat, and is
// refused with [ErrTooManyMachines] when none is free. A unique index on
// (license key, install key, fingerprint) over active rows keeps that true
// whatever the caller does. Each license row carries its count of active
// seats, kept by triggers on every change to activations, so that taking a
// seat costs the same on a license with ten thousand seats as on one with one.
//
// # Products and auto-created licenses
//
// A product's settings ([Product], [Ledger.SetProduct]) may let a request
// with a license key the ledger does not know create its license, for
// self-service and evaluation products (NetLicensing's "Auto-create
// Licensee"): [Ledger.AutoCreateLicense] inserts a license built from the
// product's template, with no licensee and, if the product has a validity,
// an expiry that long after its creation, in one write transaction that
// also appends "license.auto-created" to the audit log. Two desks that
// auto-create the same key at once are serialized by the write lock: one
// creates the license, the other gets [ErrExists] and reads it. From then
// on it is an ordinary license. A template's licensee secret may be
// disabled or "client", never "predefined": a predefined secret must be
// recorded before the license's first activation, which a license created
// by that activation cannot have ([ErrInvalid]). Templates are stored
// without a secret hash.
//
// # Concurrency
//
// A [Ledger] is safe for concurrent use, and several processes, or desks on
// several machines for PostgreSQL, may open the same ledger. Every write
// transaction first takes the ledger's write lock, which serializes all
// its writers, so two desks racing for the last seat are serialized and
// exactly one of them gets it, and the audit log stays one unbroken chain.
// Readers do not take the lock and are never blocked by it. Within one
// process, writes first queue on an in-process lock, for as long as their
// context allows, so they do not poll the database's lock against each
// other. A writer that finds the lock held by another process waits up to
// ten seconds before it fails.
//
// On SQLite the write lock is SQLite's own: every write runs in a BEGIN
// IMMEDIATE transaction, and the wait is SQLite's busy_timeout.
//
// On PostgreSQL every write transaction runs at isolation level READ
// COMMITTED and begins with LOCK TABLE airlock_ledger IN EXCLUSIVE MODE, a
// lock only the ledger's writers take, with lock_timeout set to ten seconds.
// Each later statement of the transaction sees every write committed
// before the lock was granted, so the seat count it reads is current until
// it commits. The lock is on the ledger's own table, so ledgers in other
// schemas do not wait for each other. [Open] checks the schema under a
// transaction-scoped advisory lock on it, so that two processes opening an
// empty schema at once do not both create the tables.
//
// # Storage format
//
// A SQLite file is an ordinary SQLite 3 database, application_id 0x41524C4B
// ("ARLK"), whose schema version is PRAGMA user_version ([SchemaVersion],
// now 3: version 1 had no table products, version 2 no table
// usage_reports). [Open] creates a missing file
// with mode 0600 (SQLite gives the -wal and -shm files the same mode) at
// the newest version, upgrades older schemas in one write transaction,
// and refuses a newer schema with [ErrSchemaTooNew] and a SQLite file that
// is not a ledger with [ErrNotLedger]. A program of an older version
// refuses an upgraded ledger ([ErrSchemaTooNew]): upgrade every desk that
// shares it.
//
// A PostgreSQL ledger is a schema with the same tables, columns and
// constraints (BIGINT integers, SMALLINT 0/1 flags, BYTEA blobs, keys and
// IDs in the "C" collation so that they sort as in SQLite), plpgsql trigger
// functions in place of SQLite's triggers, and a table airlock_ledger whose
// one row holds the application_id 0x41524C4B and the schema version.
// [Open] upgrades an older schema version under the advisory lock above and
// the ledger's write lock, and refuses a schema that holds other tables but
// no airlock_ledger with [ErrNotLedger], and a newer schema version with
// [ErrSchemaTooNew].
//
// On both, times are stored as Unix nanoseconds in UTC (NULL where a time
// is absent), durations as nanoseconds, and maps and a product's template
// as JSON text, so times must lie between the years 1678 and 2262.
//
// The package builds without cgo: it uses the pure-Go drivers
// modernc.org/sqlite and github.com/jackc/pgx/v5, through database/sql.
package ledger
